"""Session events for Insights: rows built on the hot path, written in the answers' group commit.

The core builds a row at each point below and hands it to the store with the write it describes,
so it is committed in the same transaction (no extra database round trip; an answers write that
loses to another process takes its event with it). A resume writes nothing else: its event is
queued without waiting and joins the next group commit.

- ``start`` / ``resume`` (a session is opened): ``data.visible``, the questions visible then.
- ``answer`` (an accepted answer change, a reset too): ``matched`` (plans that fit); ``data``:
  ``answered`` and ``cleared`` (the questions changed), ``visible``, ``fired`` (rules, in
  firing order), ``shown`` (plans, in rank order) and, when no plan fits, ``answers``: the
  non-text answers the rules read (by question id).
- ``select`` (a plan is chosen): ``plan_id``, ``rank`` (None: it was not shown).

The lists name questions, rules and plans by number, their place in the version's bundle
(service/event_names.py: ``named_data`` reads them back as ids).

Every row has the session id, ``at`` (UTC), the catalogue ``version`` and the session's ``revision``.
No personal data beyond the session id; text answers are never stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .background import Background, every
from .db.models import SessionEvent, utcnow
from .event_names import numbered
from .event_rollup import INTERVAL as ROLLUP_INTERVAL
from .event_rollup import EventRollup, retention_start
from .live import LoadedVersion
from .rollup_process import RollupProcess
from .update import Update

log = logging.getLogger(__name__)

Event = dict[str, Any]

#: How often each process deletes events older than the retention period, and how many rows one
#: statement deletes at most (short transactions: the group writer never waits long for the lock).
PURGE_INTERVAL = 3600.0
PURGE_CHUNK = 5000


def _row(kind: str, version: int, revision: int, data: dict[str, Any], **columns: Any) -> Event:
    return {
        "session_id": "",  # filled in by the store (a new session's id is made there)
        "at": utcnow(),
        "kind": kind,
        "version": version,
        "revision": revision,
        "matched": columns.get("matched"),
        "plan_id": columns.get("plan_id"),
        "rank": columns.get("rank"),
        "data": data,
    }


class Events:
    """Builds event rows (or none, when ``PLANWISE_EVENT_RETENTION_DAYS`` is 0) and purges old ones."""

    def __init__(
        self,
        engine: AsyncEngine,
        retention_days: int,
        rollup_in_child: bool = False,
        rollup_interval: float = ROLLUP_INTERVAL,
    ) -> None:
        self.engine = engine
        self.retention_days = retention_days
        self.enabled = retention_days > 0
        self._purging = Background("planwise-event-purge")
        # Insights' rollup (service/event_rollup.py), its background catch-ups in a child process
        # (service/rollup_process.py) or on this event loop.
        url = engine.url.render_as_string(hide_password=False)
        child = RollupProcess(url, retention_days) if rollup_in_child else None
        self.rollup = EventRollup(engine, retention_days, background=child, interval=rollup_interval)

    def opened(
        self, kind: str, loaded: LoadedVersion, revision: int, visible: Collection[str]
    ) -> Event | None:
        """``start`` or ``resume``, with the questions visible at that moment."""
        if not self.enabled:
            return None
        return _row(
            kind, loaded.version, revision, {"visible": numbered(visible, loaded.names.question_numbers)}
        )

    def answered(
        self,
        loaded: LoadedVersion,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        checked: Collection[str],
        update: Update,
    ) -> Event | None:
        """An accepted answer change: ``checked`` are the message's question ids (none for a reset)."""
        if not self.enabled:
            return None
        payload = update.payload
        matched = int(payload["matchedPlans"])
        names = loaded.names
        questions = names.question_numbers
        data: dict[str, Any] = {
            "answered": numbered((q for q in checked if q in after), questions),
            "cleared": numbered((q for q in before if q not in after), questions),
            "visible": numbered(update.evaluation.visible, questions),
            "fired": numbered(update.evaluation.fired, names.rule_numbers),
            "shown": numbered((p["id"] for p in payload["plans"]), names.plan_numbers),
        }
        if matched == 0:
            data["answers"] = rule_answers(loaded, update.usable)
        return _row("answer", update.version, update.revision, data, matched=matched)

    def selected(self, version: int, revision: int, plan_id: str, rank: int | None) -> Event | None:
        if not self.enabled:
            return None
        return _row("select", version, revision, {}, plan_id=plan_id, rank=rank)

    # -- retention ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.enabled:
            self._purging.start(every(PURGE_INTERVAL, self.purge, "purge old session events"))
        self.rollup.start()  # with recording off too: the events recorded before are still folded

    async def stop(self) -> None:
        await self._purging.stop()
        await self.rollup.stop()

    async def purge(self) -> int:
        """Delete the events of UTC days older than the retention period (in short chunks) and their
        rollup rows; returns how many events."""
        cutoff = retention_start(self.retention_days)
        oldest = select(SessionEvent.id).where(SessionEvent.at < cutoff).limit(PURGE_CHUNK)
        total = 0
        while True:
            async with self.engine.begin() as conn:
                ids = (await conn.execute(oldest)).scalars().all()
                if ids:
                    await conn.execute(delete(SessionEvent).where(SessionEvent.id.in_(ids)))
            total += len(ids)
            if len(ids) < PURGE_CHUNK:
                break
            await asyncio.sleep(0)
        await self.rollup.purge(cutoff)
        if total:
            log.info("purged %d session events older than %d days", total, self.retention_days)
        return total


def rule_answers(loaded: LoadedVersion, usable: Mapping[str, Any]) -> dict[str, Any]:
    """The answers the rules read (``Matcher.inputs``), without text answers (never stored).

    Sorted by question id, so that one combination is always the same JSON text (grouped in SQL).
    """
    questions = loaded.catalogue.question_by_id
    inputs = loaded.matcher.inputs
    return {
        q: usable[q] for q in sorted(usable) if q in inputs and q in questions and questions[q].type != "text"
    }
