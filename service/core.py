"""The protocol operations behind both the WebSocket and the HTTP API (one code path for both)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from rules.answers import validate_answers

from . import metrics
from .config import Settings
from .db.engine import is_postgresql
from .enrich import Enrichment
from .errors import ProtocolError
from .events import Event, Events
from .hub import Hub, frame
from .live import LiveCatalogue, LoadedVersion
from .ratelimit import WindowLimit, per_window
from .recommend import Recommender
from .schemas import ExplainPlan, OneAnswer, SelectPlan, parse, user_response_model
from .store import Conflict, SessionState, SessionStore
from .tokens import Tokens
from .update import Update

log = logging.getLogger(__name__)

# Attempts at committing one message when other processes keep winning the same session's revision.
MAX_CONFLICT_RETRIES = 20
# Live sessions re-evaluated after a publish between two yields to the event loop.
PUBLISH_BATCH = 20


@dataclass
class Opened:
    """The outcome of opening a session for a connection or an HTTP client."""

    state: SessionState
    resumed: bool
    token_error: ProtocolError | None = None


class Planwise:
    """Sessions, answers, selections and live updates, independent of the transport."""

    def __init__(
        self,
        settings: Settings,
        store: SessionStore,
        live: LiveCatalogue,
        recommender: Recommender,
        hub: Hub,
        enrichment: Enrichment,
    ) -> None:
        self.settings = settings
        self.store = store
        self.live = live
        self.recommender = recommender
        self.hub = hub
        self.enrichment = enrichment
        self.tokens = Tokens(settings)
        rate = settings.new_sessions_per_minute
        self.new_sessions = WindowLimit(per_window(rate, 60)) if rate else None
        self._user_response = user_response_model(settings.max_answers)
        self._refreshing: set[asyncio.Task[None]] = set()
        self.events = Events(  # Insights (events.py)
            store.engine,
            settings.event_retention_days,
            rollup_in_child=settings.event_rollup == "process",
            rollup_interval=settings.event_rollup_interval,
        )
        # Other processes may write these sessions (several hosts on PostgreSQL, or workers polling
        # one SQLite file): a read first checks the stored revision (read-your-writes on every host).
        mode = settings.session_sync
        self.shared = mode in ("notify", "poll") or (mode == "auto" and is_postgresql(settings.database_url))
        live.listeners.append(self._on_publish)

    # -- sessions ---------------------------------------------------------------------------

    async def open(
        self, token: object = None, auth_token: object = None, address: str | None = None
    ) -> Opened:
        """Resume by session token, else by host-site user, else start a new session.

        A bad JWT raises ``unauthorized``; a bad session token starts a new session and is
        reported in ``token_error`` (the caller sends it as an ``invalid_token`` error).
        ``address`` (the client's, as the transport knows it) counts against the limit of new
        sessions per address (``PLANWISE_NEW_SESSIONS_PER_MINUTE``, every transport together).
        """
        self.live.require()
        user_sub = self.tokens.user_sub(auth_token) if auth_token is not None else None
        token_error: ProtocolError | None = None
        if token is not None:
            try:
                state = await self.state_for_token(token)
            except ProtocolError as exc:
                token_error = exc
            else:
                if user_sub is None or state.user_sub in (None, user_sub):
                    return await self._resumed(state)
                token_error = ProtocolError("forbidden", "This session belongs to another user")
        if user_sub is not None and token_error is None:
            latest = await self.store.latest_for_user(user_sub, self.shared)
            if latest is not None:
                return await self._resumed(latest)
        if (
            address
            and self.new_sessions is not None
            and not _loopback(address)
            and not self.new_sessions.hit(address)
        ):
            raise ProtocolError(
                "rate_limited", "Too many new sessions from your address; try again in a minute"
            )
        state = await self.store.create(user_sub, await self._opened_event("start", {}, 0))
        return Opened(state, False, token_error)

    async def _resumed(self, state: SessionState) -> Opened:
        self.store.record(state, await self._opened_event("resume", state.answers, state.revision))
        return Opened(state, True)

    async def _opened_event(self, kind: str, answers: dict[str, Any], revision: int) -> Event | None:
        """A ``start``/``resume`` event with the questions visible then (the evaluation is cached)."""
        if not self.events.enabled:
            return None
        loaded = self.live.require()
        try:
            visible: Collection[str] = (await self.recommender.evaluate(loaded, answers)).evaluation.visible
        except ProtocolError:  # the engine is restarting: the session opens all the same
            visible = ()
        return self.events.opened(kind, loaded, revision, visible)

    async def state_for_token(self, token: object) -> SessionState:
        state = await self.store.get(self.tokens.session_id(token), self.shared)
        if state is None:
            raise ProtocolError("invalid_token", "The session this token names no longer exists")
        return state

    def session_payload(self, state: SessionState, resumed: bool) -> dict[str, Any]:
        loaded = self.live.require()
        return {
            "sessionId": state.id,
            "token": self.tokens.issue(state.id),
            "resumed": resumed,
            "version": loaded.version,
            "revision": state.revision,
        }

    def questionnaire(self) -> dict[str, Any]:
        return self.live.require().questionnaire

    async def current_update(self, state: SessionState) -> Update:
        """The session's current update (what a (re)connecting client is shown first)."""
        loaded = self.live.require()
        update = await self.recommender.update(loaded, state.answers, state.revision)
        if self.hub.newer_than_latest(state.id, update):
            self._publish(state, update)
        latest = self.hub.latest(state.id)
        return latest if latest is not None else update

    async def catch_up(self, state: SessionState) -> Update:
        """Read-your-writes: ``state`` as stored now, and the newest update reflecting it.

        A long poll calls it inside ``hub.watching`` so that a change heard after this check is
        pushed to it, and one committed before it is read here: nothing falls in between.
        """
        if self.shared and not await self.store.catch_up(state):
            raise ProtocolError("not_found", "This session no longer exists")
        latest = self.hub.latest(state.id)
        if latest is not None and latest.key[:2] == (state.revision, self.live.require().version):
            return latest
        return await self.current_update(state)

    def _publish(self, state: SessionState, update: Update) -> None:
        """The one way an update goes out: to the session's connections, then to enrichment."""
        self.hub.publish_update(state.id, update)
        self.enrichment.submit(state.id, update)

    # -- answers ----------------------------------------------------------------------------

    def parse_answers(self, data: object) -> dict[str, Any]:
        """Both userResponse shapes (``schemas.user_response_model``): the answers, not yet checked."""
        message = parse(self._user_response, data, "userResponse data").root
        if isinstance(message, OneAnswer):
            return {message.questionId: message.value}
        answers: dict[str, Any] = message.answers
        return answers

    async def respond(self, state: SessionState, data: object) -> Update:
        """Apply a userResponse (all or nothing), commit it, and publish the new update.

        A transport marks the connection that asked with ``hub.replying`` (it gets ``replyTo``).
        """
        answers = self.parse_answers(data)
        loaded = self.live.require()
        clean, problems = validate_answers(loaded.catalogue, answers)
        if problems:
            details = [{"questionId": q, "message": m} for q, m in problems]
            message = problems[0][1] if len(problems) == 1 else f"{len(problems)} answers are not valid"
            raise ProtocolError("invalid_answer", message, details)

        def merge(current: dict[str, Any]) -> dict[str, Any]:
            merged = dict(current)
            for qid, value in clean.items():
                if value is None:
                    merged.pop(qid, None)
                else:
                    merged[qid] = value
            return merged

        started = time.perf_counter()
        async with state.lock:
            update = await self._commit_and_publish(state, merge, checked=clean.keys())
        metrics.ANSWERS.inc()
        metrics.UPDATE_SECONDS.observe(time.perf_counter() - started)
        return update

    async def reset(self, state: SessionState) -> Update:
        async with state.lock:
            return await self._commit_and_publish(state, lambda _: {})

    async def _commit_and_publish(
        self,
        state: SessionState,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        checked: Collection[str] = (),
    ) -> Update:
        loaded = self.live.require()
        for _ in range(MAX_CONFLICT_RETRIES):
            # Evaluated before the commit, so that its event commits with the answers (events.py).
            before, answers = state.answers, change(state.answers)
            update = await self.recommender.update(loaded, answers, state.revision + 1, checked)
            event = self.events.answered(loaded, before, answers, checked, update)
            try:
                await self.store.save_answers(state, answers, state.revision + 1, event)
                break
            except Conflict:
                # Another process committed this session first: apply the message again on top of
                # the latest answers (it is still all or nothing, and applied exactly once).
                if not await self.store.reload(state):
                    raise ProtocolError("not_found", "This session no longer exists") from None
        else:
            raise ProtocolError("unavailable", "This session is changing too fast; try again")
        self._publish(state, update)
        return update

    # -- changes made by other processes ------------------------------------------------------

    def session_changed(self, session_id: str, revision: int | None, selection_id: str | None = None) -> None:
        """Another process changed a session (``revision`` None: unknown, e.g. after a lost channel).

        If this process holds the session in memory and its copy is older, reload it from the
        database and push the new update to this process's connections of that session.
        """
        state = self.store.cached(session_id)
        if state is None:
            return  # not in memory here: the next read comes from the database
        if revision is not None and not state.lock.locked() and _is_current(state, revision, selection_id):
            return
        task = asyncio.create_task(self._refresh(state, revision, selection_id))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    def resync(self) -> None:
        """The change channel was interrupted: every session in memory may be stale."""
        for session_id in self.store.cached_ids():
            self.session_changed(session_id, None)

    async def _refresh(self, state: SessionState, revision: int | None, selection_id: str | None) -> None:
        try:
            async with state.lock:
                if revision is not None and _is_current(state, revision, selection_id):
                    return  # our own write, or one we already reloaded
                before = state.revision
                if not await self.store.reload(state) or state.revision == before:
                    return
                loaded = self.live.current
                if loaded is None or not self.hub.is_live(state.id):
                    return
                self._publish(state, await self.recommender.update(loaded, state.answers, state.revision))
        except ProtocolError as exc:
            log.warning("could not re-evaluate session %s changed elsewhere: %s", state.id, exc.message)
        except Exception:
            log.exception("could not refresh session %s after a change elsewhere", state.id)

    async def stop(self) -> None:
        await self.events.stop()
        for task in list(self._refreshing):
            task.cancel()
        await asyncio.gather(*self._refreshing, return_exceptions=True)

    # -- selection --------------------------------------------------------------------------

    async def select(self, state: SessionState, data: object) -> tuple[dict[str, Any], bool]:
        """Persist a plan choice; returns (selectionSaved payload, True if a repeated key)."""
        request = parse(SelectPlan, data, "selectPlan data")
        plan_id, key = request.planId, request.idempotencyKey
        loaded = self.live.require()
        async with state.lock:
            if key is not None:
                previous = await self.store.find_selection(state, key)
                if previous is not None:
                    if previous["planId"] != plan_id:
                        raise ProtocolError(
                            "idempotency_conflict", "This idempotency key was already used for another plan"
                        )
                    return _saved(previous), True
            plan = loaded.catalogue.plan_by_id.get(plan_id)
            if plan is None or not plan.active:
                raise ProtocolError("unknown_plan", f"There is no plan '{plan_id}' to choose")
            rank = await self._rank_of(loaded, state, plan_id)
            event = self.events.selected(loaded.version, state.revision, plan_id, rank)
            selection = await self.store.save_selection(state, plan_id, loaded.version, rank, key, event)
        return _saved(selection), False

    async def explain(self, state: SessionState, data: object) -> dict[str, Any]:
        """``planExplanation`` (v1.1): why one plan is where it is for the current answers and version."""
        plan_id = parse(ExplainPlan, data, "explainPlan data").planId
        loaded = self.live.require()
        found = await self.recommender.evaluate(loaded, state.answers)
        result = loaded.matcher.explain(found.evaluation, state.answers, plan_id, found.usable)
        if result is None:
            raise ProtocolError("unknown_plan", f"There is no plan '{plan_id}'")
        return {"planId": plan_id, "revision": state.revision, "version": loaded.version, **result}

    async def _rank_of(self, loaded: LoadedVersion, state: SessionState, plan_id: str) -> int | None:
        found = await self.recommender.evaluate(loaded, state.answers)
        return next((p["rank"] for p in found.part["plans"] if p["id"] == plan_id), None)

    # -- publish ----------------------------------------------------------------------------

    async def _on_publish(self, old: LoadedVersion | None, new: LoadedVersion) -> None:
        """Push the new version's result (and questionnaire if it changed) to every live session.

        "Changed" is anything but the version number: questions, the attribute schema, display, estimate.
        """
        metrics.PUBLISHES.inc()
        questions_changed = old is None or _without_version(old.questionnaire) != _without_version(
            new.questionnaire
        )
        for count, session_id in enumerate(self.hub.live_sessions(), start=1):
            if count % PUBLISH_BATCH == 0:
                await asyncio.sleep(0)  # in batches: other connections' messages go in between
            state = await self.store.get(session_id)
            if state is None:
                continue
            try:
                async with state.lock:
                    if questions_changed:
                        self.hub.broadcast(session_id, "questionnaire", new.questionnaire)
                    self._publish(state, await self.recommender.update(new, state.answers, state.revision))
            except ProtocolError as exc:
                log.warning("could not re-evaluate session %s after publish: %s", session_id, exc.message)


def _loopback(address: str) -> bool:
    """This host itself (tests, benchmarks, a local proxy not listed in PLANWISE_TRUSTED_PROXIES)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _without_version(questionnaire: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in questionnaire.items() if k != "version"}


def _is_current(state: SessionState, revision: int, selection_id: str | None) -> bool:
    """Whether ``state`` already reflects a change announced as (revision, selection)."""
    if state.revision != revision:
        return state.revision > revision
    return (state.selection or {}).get("selectionId") == selection_id


def _saved(selection: dict[str, Any]) -> dict[str, Any]:
    return {k: selection[k] for k in ("selectionId", "planId", "revision", "version")}


def error_frame(error: ProtocolError, reply_to: Any = None) -> bytes:
    return frame("error", error.payload(reply_to))
