"""Fan-out of events to every connection of a session, in update order. No web framework here."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import orjson

from .update import STAGES, OrderKey, Update

__all__ = ["STAGES", "Hub", "OrderKey", "Subscriber", "frame", "replying"]


def frame(event: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps({"event": event, "data": data})


class Subscriber(Protocol):
    """A live connection: takes encoded frames without blocking."""

    last_update: OrderKey | None

    def offer(self, frame: bytes) -> None: ...


# The connection whose message is being handled, and the id its reply carries: set by a transport
# around a call into the core, read when the update that call produces is published. Per task,
# so other tasks' publishes (other tabs, enrichment, a catalogue publish) never see it.
_REPLY: ContextVar[tuple[Subscriber, Any] | None] = ContextVar("planwise_reply", default=None)


@contextmanager
def replying(sub: Subscriber, reply_to: Any) -> Iterator[None]:
    """Within this block, the update published for ``sub``'s session reaches ``sub`` with ``replyTo``."""
    token = _REPLY.set((sub, reply_to))
    try:
        yield
    finally:
        _REPLY.reset(token)


class Hub:
    """Session id -> connections; keeps each session's newest update for late joiners and long polls."""

    def __init__(self, remember: int = 10_000) -> None:
        self._subs: dict[str, set[Subscriber]] = {}
        # Newest update per recently active session (LRU), so a long poll that starts after an
        # enriched update was produced still gets it.
        self._latest: OrderedDict[str, Update] = OrderedDict()
        self._remember = remember
        self._changed: dict[str, asyncio.Condition] = {}
        self._waiting: dict[str, int] = {}

    def subscribe(self, session_id: str, sub: Subscriber) -> None:
        self._subs.setdefault(session_id, set()).add(sub)

    def unsubscribe(self, session_id: str, sub: Subscriber) -> None:
        subs = self._subs.get(session_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[session_id]
                self._forget(session_id)

    def live_sessions(self) -> list[str]:
        """Sessions with an open connection or a waiting long poll."""
        return list(set(self._subs) | {s for s, n in self._waiting.items() if n})

    def is_live(self, session_id: str) -> bool:
        """Whether the session has an open connection or a waiting long poll in this process."""
        return session_id in self._subs or bool(self._waiting.get(session_id))

    def latest(self, session_id: str) -> Update | None:
        return self._latest.get(session_id)

    def newer_than_latest(self, session_id: str, update: Update) -> bool:
        current = self._latest.get(session_id)
        return current is None or update.key > current.key

    def publish_update(self, session_id: str, update: Update) -> bool:
        """Send an update to every connection of the session unless it is older than the newest.

        The connection whose message caused it (see :func:`replying`) gets the copy carrying
        ``replyTo``. Returns False when the update was stale and dropped.
        """
        key = update.key
        current = self._latest.get(session_id)
        if current is not None and key < current.key:
            return False
        origin, reply_to = _REPLY.get() or (None, None)
        self._latest[session_id] = update
        self._latest.move_to_end(session_id)
        if len(self._latest) > self._remember:
            self._latest.popitem(last=False)
        plain: bytes | None = None
        for sub in list(self._subs.get(session_id, ())):
            if sub.last_update is not None and key <= sub.last_update:
                continue  # this connection already has this update or a newer one
            sub.last_update = key
            if sub is origin and reply_to is not None:
                sub.offer(frame("recommendationUpdates", {**update.payload, "replyTo": reply_to}))
            else:
                if plain is None:
                    plain = frame("recommendationUpdates", update.payload)
                sub.offer(plain)
        if origin is not None and origin not in self._subs.get(session_id, ()):
            self.send_update_to(origin, update, reply_to)
        condition = self._changed.get(session_id)
        if condition is not None:
            asyncio.ensure_future(_notify(condition))
        return True

    @staticmethod
    def send_update_to(sub: Subscriber, update: Update, reply_to: Any = None) -> None:
        """Send an update to one connection (its opening sequence), keeping its order."""
        key = update.key
        if sub.last_update is not None and key <= sub.last_update:
            return
        sub.last_update = key
        payload = update.payload
        sub.offer(
            frame(
                "recommendationUpdates", {**payload, "replyTo": reply_to} if reply_to is not None else payload
            )
        )

    def broadcast(self, session_id: str, event: str, data: dict[str, Any]) -> None:
        encoded = frame(event, data)
        for sub in list(self._subs.get(session_id, ())):
            sub.offer(encoded)

    @contextmanager
    def watching(self, session_id: str) -> Iterator[None]:
        """Within this block the session counts as live here (changes heard from elsewhere are pushed)."""
        self._waiting[session_id] = self._waiting.get(session_id, 0) + 1
        try:
            yield
        finally:
            self._waiting[session_id] -= 1
            if not self._waiting[session_id]:
                del self._waiting[session_id]
                self._forget(session_id)

    async def wait_for(self, session_id: str, after: OrderKey, wait: float) -> Update | None:
        """The newest update later than ``after``, waiting up to ``wait`` seconds for one."""
        condition = self._changed.setdefault(session_id, asyncio.Condition())

        def ready() -> bool:
            current = self._latest.get(session_id)
            return current is not None and current.key > after

        with self.watching(session_id):
            try:
                async with condition:
                    await asyncio.wait_for(condition.wait_for(ready), wait)
            except TimeoutError:
                return None
        return self._latest.get(session_id)

    def _forget(self, session_id: str) -> None:
        if session_id not in self._subs and session_id not in self._waiting:
            self._changed.pop(session_id, None)


async def _notify(condition: asyncio.Condition) -> None:
    async with condition:
        condition.notify_all()
