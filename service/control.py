"""What the staff admin may ask of the running service: a small typed interface, no internals.

The admin never reaches into the live catalogue, the recommender or the sessions table; it calls
these. Publishing itself is a database write (:func:`service.catalogues.publish`) made in the
admin's own transaction, with its audit rows; :meth:`ServiceControl.switch_live` then makes this
process serve it at once (other processes notice within ``publish_poll_interval``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rules.estimate import EstimateCalculator
from rules.evaluation import Evaluation
from rules.matcher import Matcher
from rules.model import Catalogue

from .db.models import PlanSession
from .live import LiveCatalogue, LoadedVersion
from .recommend import Recommender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveVersion:
    """The version this process serves, with what it compiled for it once."""

    version: int
    catalogue: Catalogue
    matcher: Matcher
    estimate: EstimateCalculator | None

    @classmethod
    def of(cls, loaded: LoadedVersion) -> LiveVersion:
        return cls(loaded.version, loaded.catalogue, loaded.matcher, loaded.estimate)


class ServiceControl:
    """The running service, as the admin sees it."""

    def __init__(self, live: LiveCatalogue, recommender: Recommender) -> None:
        self._live = live
        self._recommender = recommender

    def live_version(self) -> LiveVersion | None:
        """The version being served, or None before the first publish."""
        loaded = self._live.current
        return LiveVersion.of(loaded) if loaded is not None else None

    async def evaluate_live(self, version: LiveVersion, answers: dict[str, Any]) -> Evaluation:
        """Evaluate (valid, visible-agnostic) answers with the service's own engine and version."""
        return await self._recommender.engine.evaluate(version.version, answers)

    async def switch_live(self) -> None:
        """Serve the newest published version now; a failure is logged (the watcher retries)."""
        try:
            await self._live.refresh()
        except Exception:  # the publish itself is committed; the watcher will load it
            log.exception("live refresh after publish failed")


async def recent_answers(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    """The stored answers of the most recently active sessions (for the admin's impact preview)."""
    query = select(PlanSession.answers).order_by(PlanSession.updated_at.desc()).limit(limit)
    return [a for a in (await session.execute(query)).scalars() if isinstance(a, dict) and a]
