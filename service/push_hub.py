"""The hub with pushes merged in (service/push.py): every update of a (revision, version) that has
pushes carries their fields, and each enriched update of one (revision, version) after the first
has a higher ``step``, so connections that already have the enriched update get the pushed one too.
What a process knows of a session's pushes is read from the ``enrichment_pushes`` table the first
time it publishes for that session (in the background), or heard from another process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from .db.engine import is_postgresql, origin_of
from .db.models import EnrichmentPush, PlanSession
from .errors import ProtocolError
from .hub import STAGES, Hub, OrderKey
from .update import Update

log = logging.getLogger(__name__)

CHANNEL = "planwise_pushes"
MAX_USER_SESSIONS = 100  # sessions of one user a push reaches (the most recently active)


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

    def __init__(self, remember: int = 10_000, keep_seconds: float = 60.0) -> None:
        super().__init__(remember, keep_seconds)
        self.store: PushStore | None = None  # attached when the database is up
        # Kept and dropped with the session's newest update (Hub._touch, Hub._drop).
        self._pushed: dict[str, Pushed] = {}
        # The newest key a long poll said it has seen when this hub knew less (its update of the
        # session was dropped, or another process counted further): later steps count on from it.
        self._seen: dict[str, OrderKey] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def publish_update(self, session_id: str, update: Update) -> bool:
        pushed = self._pushed.get(session_id)
        if pushed is None:
            self.load_soon(session_id, update.revision, update.version)
        elif pushed is not _LOADING:
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
        return update.stepped(plans, self._next_step(session_id, update, merged=True))

    def _after_latest(self, session_id: str, update: Update) -> Update:
        step = self._next_step(session_id, update, merged=False)
        return update if step == 0 else update.stepped(update.payload["plans"], step)

    def _next_step(self, session_id: str, update: Update, merged: bool) -> int:
        """0 for the first enriched update of a (revision, version), then one more than the newest;
        with pushes ``merged``, also more than the step a long poll has seen (:meth:`wait_for`)."""
        latest = self.latest(session_id)
        step = 0
        if latest is not None and (latest.revision, latest.version) == (update.revision, update.version):
            step = latest.step + 1 if latest.stage != "rules" else 0
        seen = self._seen.get(session_id)
        if (
            merged
            and seen is not None
            and seen[:2] == (update.revision, update.version)
            and seen[2] > STAGES["enriched"]
        ):
            step = max(step, seen[2] - STAGES["enriched"] + 1)
        return step

    async def wait_for(self, session_id: str, after: OrderKey, wait: float) -> Update | None:
        """As :meth:`Hub.wait_for`; a client that has seen a later step than this hub knows of (its
        update was dropped after PLANWISE_UPDATE_CACHE_SECONDS) is not sent a later push with a
        step it already has."""
        latest = self.latest(session_id)
        if latest is None or after > latest.key:
            seen = self._seen.get(session_id)
            if seen is None or after > seen:
                self._seen[session_id] = after
                self._touch(session_id)
        return await super().wait_for(session_id, after, wait)

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
        self._touch(session_id)

    def _drop(self, session_id: str) -> None:
        super()._drop(session_id)
        self._pushed.pop(session_id, None)
        self._seen.pop(session_id, None)

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
        self.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
