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
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from .background import Background
from .config import service_token_digests
from .db.engine import asyncpg_dsn, is_postgresql, origin_of
from .db.models import EnrichmentPush
from .errors import ProtocolError
from .push_hub import CHANNEL, PushingHub, PushStore
from .schemas import parse
from .sync import PgNotifyFeed

log = logging.getLogger(__name__)

#: Plan fields of the protocol (PROTOCOL.md): a push may not set them (nor any catalogue plan field).
PROTOCOL_PLAN_FIELDS = frozenset(
    {"id", "name", "provider", "description", "rank", "score", "attributes", "reasons", "estimate", "active"}
)

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
        self._digests = service_token_digests(entries)  # ConfigError for a bad entry

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
        self._polling = Background("planwise-push-poll")

    async def start(self) -> None:
        self._polling.start(self._run())

    async def stop(self) -> None:
        await self._polling.stop()

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
