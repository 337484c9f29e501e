"""Pushes from other services (PROTOCOL.md, "Enrichment from other services"): ``POST /api/enrichments``.

A back-end service (holding a service token) pushes per-plan fields into a session's newest update
(or into every session of a verified user). The push is stored with the (revision, version) it
belongs to, so a client resuming that state later still sees it, and then sent as a new
``stage: "enriched"`` update to every connection of the session, whatever its transport and
whichever process holds it:

- ``PushingHub`` is the hub with pushes merged in: every update of a (revision, version) that has
  pushes carries their fields, and each enriched update of one (revision, version) after the
  first has a higher ``step`` (its order key), so connections that already have the enriched
  update get the pushed one too. What a process knows of a session's pushes is loaded from the
  database the first time it publishes for that session (in the background).
- Other processes hear of a push on PostgreSQL's ``planwise_pushes`` channel (sent in the push's
  own transaction, so at commit), or by polling the table on SQLite with several workers; they
  load it and push it to their own connections of the session.
- A push names an optional ``revision``/``version``: if either is no longer the newest, it is
  ``409 stale`` and nothing is stored or sent. Later revisions start without the pushed fields:
  a push is about the state it was computed for (pull per-answer data with the ``http`` enricher).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from .db.engine import asyncpg_dsn, is_postgresql, origin_of
from .db.models import EnrichmentPush, PlanSession
from .errors import ProtocolError
from .hub import Hub
from .schemas import parse
from .sync import PgNotifyFeed
from .update import Update

log = logging.getLogger(__name__)

CHANNEL = "planwise_pushes"
#: Plan fields of the protocol (PROTOCOL.md): a push may not set them (nor any catalogue plan field).
PROTOCOL_PLAN_FIELDS = frozenset(
    {"id", "name", "provider", "description", "rank", "score", "attributes", "reasons", "estimate", "active"}
)
MAX_USER_SESSIONS = 100  # sessions of one user a push reaches (the most recently active)

Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class EnrichmentRequest(BaseModel):
    """The body of ``POST /api/enrichments``."""

    model_config = ConfigDict(extra="forbid")

    sessionId: str | None = Field(None, min_length=1, max_length=64)
    userId: str | None = Field(None, min_length=1, max_length=200, description="a verified user (JWT sub)")
    revision: int | None = Field(None, ge=0, description="the revision the fields were computed for")
    version: int | None = Field(None, ge=1, description="the catalogue version they were computed for")
    plans: dict[Name, dict[Name, Any]] = Field(
        min_length=1, max_length=1000, description="{planId: {field: value}}"
    )
    source: str = Field(min_length=1, max_length=100, description="who computed them (logs)")

    @model_validator(mode="after")
    def _one_target(self) -> EnrichmentRequest:
        if (self.sessionId is None) == (self.userId is None):
            raise ValueError("name exactly one of sessionId and userId")
        return self


class EnrichmentAccepted(BaseModel):
    sessions: int = Field(description="sessions the fields were merged into")


# -- service tokens --------------------------------------------------------------------------


class ServiceTokens:
    """``PLANWISE_SERVICE_TOKENS``: ``name=secret`` or ``name=sha256:<hex>``, compared in constant time.

    Only SHA-256 digests are kept in memory; every configured token is compared on each check.
    """

    def __init__(self, entries: tuple[str, ...]) -> None:
        self._digests: list[tuple[str, bytes]] = []
        for entry in entries:
            name, sep, secret = entry.partition("=")
            if not sep or not name.strip() or not secret:
                raise ValueError("PLANWISE_SERVICE_TOKENS entries are name=token or name=sha256:<hex>")
            if secret.startswith("sha256:"):
                digest = bytes.fromhex(secret[len("sha256:") :])
                if len(digest) != 32:
                    raise ValueError(f"service token {name.strip()!r}: a sha256 digest has 64 hex digits")
            else:
                digest = hashlib.sha256(secret.encode()).digest()
            self._digests.append((name.strip(), digest))

    def __bool__(self) -> bool:
        return bool(self._digests)

    def verify(self, authorization: str) -> str:
        """The name of the service whose token is in ``Authorization: Bearer``, else ``unauthorized``."""
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        digest = hashlib.sha256(token.encode()).digest()
        found = ""
        for name, expected in self._digests:
            if hmac.compare_digest(digest, expected) and token:
                found = name
        if not found:
            raise ProtocolError("unauthorized", "Send a service token as 'Authorization: Bearer <token>'")
        return found


# -- what one session has been pushed ----------------------------------------------------------


@dataclass
class Pushed:
    """The merged fields of every push into one (revision, version) of a session (later ones win)."""

    revision: int
    version: int
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, plans: dict[str, dict[str, Any]]) -> None:
        for plan_id, fields in plans.items():
            self.plans[plan_id] = {**self.plans.get(plan_id, {}), **fields}


class PushStore:
    """The ``enrichment_pushes`` table."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db
        self.notify = is_postgresql(str(db.url))

    async def load(self, session_id: str, revision: int, version: int) -> Pushed:
        pushed = Pushed(revision, version)
        query = (
            select(EnrichmentPush.plans)
            .where(
                EnrichmentPush.session_id == session_id,
                EnrichmentPush.revision == revision,
                EnrichmentPush.version == version,
            )
            .order_by(EnrichmentPush.id)
        )
        async with self.db.connect() as conn:
            for (plans,) in await conn.execute(query):
                pushed.add(plans)
        return pushed

    async def sessions_of(self, user_sub: str) -> list[str]:
        query = (
            select(PlanSession.id)
            .where(PlanSession.user_sub == user_sub)
            .order_by(PlanSession.updated_at.desc())
            .limit(MAX_USER_SESSIONS)
        )
        async with self.db.connect() as conn:
            return [row[0] for row in await conn.execute(query)]

    async def record(
        self, session_ids: list[str], revision: int | None, version: int, source: str, plans: dict[str, Any]
    ) -> dict[str, int]:
        """Store the push for each session's current revision (checked in the same transaction).

        Returns {session id: revision}; ``stale`` when ``revision`` is not a session's current one.
        """
        async with self.db.begin() as conn:
            rows = await conn.execute(
                select(PlanSession.id, PlanSession.revision).where(PlanSession.id.in_(session_ids))
            )
            revisions = {sid: rev for sid, rev in rows}
            if revision is not None and any(rev != revision for rev in revisions.values()):
                raise ProtocolError("stale", f"Revision {revision} is no longer the session's newest")
            await conn.execute(
                insert(EnrichmentPush),
                [
                    {"session_id": sid, "revision": rev, "version": version, "source": source, "plans": plans}
                    for sid, rev in revisions.items()
                ],
            )
            if self.notify:  # delivered at commit, to every other process
                for sid, rev in revisions.items():
                    payload = json.dumps([sid, rev, version, origin_of(self.db)])
                    await conn.execute(
                        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
                    )
        return revisions


# -- the hub with pushes merged in ---------------------------------------------------------------

_LOADING = Pushed(-1, -1)  # marks a session whose pushes are being read from the database


class PushingHub(Hub):
    """The hub, merging each session's pushed fields into its updates of the same (revision, version)."""

    def __init__(self, remember: int = 10_000) -> None:
        super().__init__(remember)
        self.store: PushStore | None = None  # attached when the database is up
        self._pushed: OrderedDict[str, Pushed] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def publish_update(self, session_id: str, update: Update) -> bool:
        pushed = self._pushed.get(session_id)
        if pushed is None:
            self.load_soon(session_id, update.revision, update.version)
        elif pushed is not _LOADING:
            self._pushed.move_to_end(session_id)
            if pushed.plans and (pushed.revision, pushed.version) == (update.revision, update.version):
                if update.stage == "rules":  # the rules update as it is, then the pushed fields
                    sent = super().publish_update(session_id, update)
                    if sent:
                        super().publish_update(session_id, self._merged(session_id, update, pushed))
                    return sent
                update = self._merged(session_id, update, pushed)
        if update.stage != "rules" and update.step == 0:
            update = self._after_latest(session_id, update)
        return super().publish_update(session_id, update)

    def _merged(self, session_id: str, update: Update, pushed: Pushed) -> Update:
        plans = [
            {**plan, **pushed.plans[plan["id"]]} if plan["id"] in pushed.plans else plan
            for plan in update.payload["plans"]
        ]
        return update.stepped(plans, self._next_step(session_id, update))

    def _after_latest(self, session_id: str, update: Update) -> Update:
        step = self._next_step(session_id, update)
        return update if step == 0 else update.stepped(update.payload["plans"], step)

    def _next_step(self, session_id: str, update: Update) -> int:
        """0 for the first enriched update of a (revision, version), then one more than the newest."""
        latest = self.latest(session_id)
        if latest is None or (latest.revision, latest.version) != (update.revision, update.version):
            return 0
        return latest.step + 1 if latest.stage != "rules" else 0

    def pushed(self, session_id: str, pushed: Pushed) -> None:
        """A push (from this process or another) for the session: remember it, send it if it is live."""
        current = self._pushed.get(session_id)
        if (
            current is not None
            and current is not _LOADING
            and (current.revision, current.version)
            > (
                pushed.revision,
                pushed.version,
            )
        ):
            return
        self._keep(session_id, pushed)
        latest = self.latest(session_id)
        if not pushed.plans or latest is None:
            return
        if (latest.revision, latest.version) == (pushed.revision, pushed.version):
            super().publish_update(session_id, self._merged(session_id, latest, pushed))

    def forget_pushes(self) -> None:
        """The channel that tells of other processes' pushes was interrupted: read them again."""
        self._pushed.clear()
        for session_id in self.live_sessions():
            latest = self.latest(session_id)
            if latest is not None:
                self.load_soon(session_id, latest.revision, latest.version)

    def _keep(self, session_id: str, pushed: Pushed) -> None:
        self._pushed[session_id] = pushed
        self._pushed.move_to_end(session_id)
        if len(self._pushed) > self._remember:
            self._pushed.popitem(last=False)

    def load_soon(self, session_id: str, revision: int, version: int) -> None:
        if self.store is None:
            return
        self._keep(session_id, _LOADING)
        task = asyncio.get_running_loop().create_task(self._load(session_id, revision, version))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self, session_id: str, revision: int, version: int) -> None:
        assert self.store is not None
        try:
            pushed = await self.store.load(session_id, revision, version)
        except Exception:
            log.exception("could not read the pushes of session %s", session_id)
            self._pushed.pop(session_id, None)
            return
        if self._pushed.get(session_id) is _LOADING:
            self.pushed(session_id, pushed)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# -- other processes' pushes ---------------------------------------------------------------------

Heard = Callable[[str, int, int], None]


class PushNotifyFeed(PgNotifyFeed):
    """LISTEN on ``planwise_pushes`` (the same reconnecting listener as session changes)."""

    channel = CHANNEL

    def __init__(self, dsn: str, origin: str, heard: Heard, resync: Callable[[], None]) -> None:
        super().__init__(dsn, origin, lambda *_: None, resync)
        self._heard = heard

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            session_id, revision, version, origin = json.loads(payload)
        except (ValueError, TypeError):
            log.warning("ignored a malformed push notification: %.200s", payload)
            return
        if origin != self._origin:
            self._heard(session_id, int(revision), int(version))


class PushPollFeed:
    """Several workers on one SQLite file: poll for pushes newer than the last one seen."""

    def __init__(self, db: AsyncEngine, heard: Heard, interval: float) -> None:
        self._db = db
        self._heard = heard
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="planwise-push-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        from sqlalchemy import func

        async with self._db.connect() as conn:
            last = (await conn.execute(select(func.max(EnrichmentPush.id)))).scalar() or 0
        query = select(
            EnrichmentPush.id, EnrichmentPush.session_id, EnrichmentPush.revision, EnrichmentPush.version
        )
        while True:
            await asyncio.sleep(self._interval)
            try:
                async with self._db.connect() as conn:
                    rows = (
                        await conn.execute(query.where(EnrichmentPush.id > last).order_by(EnrichmentPush.id))
                    ).all()
            except Exception:
                log.exception("could not poll for pushes")
                continue
            for push_id, session_id, revision, version in rows:
                last = max(last, push_id)
                self._heard(session_id, revision, version)


# -- the operation -------------------------------------------------------------------------------


class Pushes:
    """``POST /api/enrichments``: check, store, send here; other processes hear of it."""

    def __init__(self, hub: PushingHub, store: PushStore, tokens: ServiceTokens) -> None:
        self.hub = hub
        self.store = store
        self.tokens = tokens

    def heard(self, session_id: str, revision: int, version: int) -> None:
        """Another process stored a push: read it if this process holds the session."""
        if self.hub.is_live(session_id) or self.hub.latest(session_id) is not None:
            self.hub.load_soon(session_id, revision, version)

    async def receive(self, planwise: Any, authorization: str, body: object) -> int:
        """Check and apply one push; returns the number of sessions it reached."""
        if not self.tokens:
            raise ProtocolError("unauthorized", "No service tokens are configured (PLANWISE_SERVICE_TOKENS)")
        source_name = self.tokens.verify(authorization)
        request = parse(EnrichmentRequest, body, "The body")
        loaded = planwise.live.require()
        if request.version is not None and request.version != loaded.version:
            raise ProtocolError(
                "stale", f"Version {request.version} is no longer the live version ({loaded.version})"
            )
        catalogue = loaded.catalogue
        unknown = [pid for pid in request.plans if pid not in catalogue.plan_by_id]
        if unknown:
            raise ProtocolError(
                "unknown_plan",
                f"No plan '{unknown[0]}' in version {loaded.version}",
                [{"planId": pid, "message": "not a plan of the live version"} for pid in unknown[:50]],
            )
        clashes = _clashes(request.plans, catalogue)
        if clashes:
            raise ProtocolError(
                "reserved_field",
                f"Field '{clashes[0]['field']}' is one of the protocol's or the catalogue's plan fields",
                clashes[:50],
            )
        if request.sessionId is not None:
            if await planwise.store.get(request.sessionId) is None:
                raise ProtocolError("not_found", "There is no such session")
            session_ids = [request.sessionId]
        else:
            assert request.userId is not None
            session_ids = await self.store.sessions_of(request.userId)
            if not session_ids:
                raise ProtocolError("not_found", "This user has no session")
        revisions = await self.store.record(
            session_ids, request.revision, loaded.version, request.source, request.plans
        )
        for session_id, revision in revisions.items():
            state = planwise.store.cached(session_id)
            if state is not None and state.revision > revision:
                continue  # the session has moved on since: stored for the record only
            if self.hub.latest(session_id) is None and state is not None and self.hub.is_live(session_id):
                await planwise.current_update(state)
            self.hub.pushed(session_id, await self.store.load(session_id, revision, loaded.version))
        log.info(
            "push from %s (%s): %d plans into %d sessions",
            source_name,
            request.source,
            len(request.plans),
            len(revisions),
        )
        return len(revisions)


def _clashes(plans: dict[str, dict[str, Any]], catalogue: Any) -> list[dict[str, str]]:
    out = []
    for plan_id, fields in plans.items():
        own = catalogue.plan_by_id[plan_id].raw  # every field the catalogue gives this plan
        for name in fields:
            if name in PROTOCOL_PLAN_FIELDS or name in own:
                out.append({"planId": plan_id, "field": name, "message": "a reserved plan field"})
    return out


def make_push_feed(
    mode: str, url: str, db: AsyncEngine, heard: Heard, resync: Callable[[], None], poll_interval: float
) -> PushNotifyFeed | PushPollFeed | None:
    """How this process hears other processes' pushes: like session changes (``PLANWISE_SESSION_SYNC``)."""
    if mode == "auto":
        mode = "notify" if is_postgresql(url) else "off"
    if mode == "notify":
        return PushNotifyFeed(asyncpg_dsn(url), origin_of(db), heard, resync)
    if mode == "poll":
        return PushPollFeed(db, heard, poll_interval)
    return None
