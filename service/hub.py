"""Fan-out of events to every connection of a session, in update order. No web framework here."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
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
    """Session id -> connections; keeps each session's newest update for late joiners and long polls.

    The newest update of a session is kept while the session is watched here (a connection or a
    waiting long poll) and for ``keep_seconds`` after it was last published or watched, so that a
    long poll that starts just after an update was produced still gets it; then it is dropped (a
    later poll re-evaluates the stored answers, ``Planwise.catch_up``). ``remember`` caps the
    sessions kept whatever their age (the least recently touched go first).
    """

    def __init__(self, remember: int = 10_000, keep_seconds: float = 60.0) -> None:
        self._subs: dict[str, set[Subscriber]] = {}
        self._latest: dict[str, Update] = {}
        # Sessions with something kept here (their newest update, a subclass's per-session state),
        # least recently touched first, with the monotonic time of that touch.
        self._touched: OrderedDict[str, float] = OrderedDict()
        self._remember = remember
        self._keep_seconds = keep_seconds
        self._expiry: asyncio.TimerHandle | None = None
        self._changed: dict[str, asyncio.Condition] = {}
        self._waiting: dict[str, int] = {}
        # Told each session the hub forgets (nobody watched it for keep_seconds): the session
        # store drops its cached copy then too (the composition root wires it; None: nobody).
        self.on_forget: Callable[[str], None] | None = None

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
        self._touch(session_id)
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
        """Nobody watches the session here any more: its kept state ages from now."""
        if session_id not in self._subs and session_id not in self._waiting:
            self._changed.pop(session_id, None)
            if session_id in self._touched:
                self._touch(session_id)

    # -- what is kept per session, and for how long ----------------------------------------------

    def kept_sessions(self) -> list[str]:
        """Sessions this hub keeps anything of (their newest update, pushes)."""
        return list(self._touched)

    def _touch(self, session_id: str) -> None:
        """Something of the session was kept, published or watched now: it ages from now."""
        self._touched[session_id] = time.monotonic()
        self._touched.move_to_end(session_id)
        while len(self._touched) > self._remember:
            oldest = next(iter(self._touched))
            del self._touched[oldest]
            self._drop(oldest)
        self._arm()

    def _drop(self, session_id: str) -> None:
        """Forget what is kept of the session (a subclass drops its own state too)."""
        self._latest.pop(session_id, None)
        if self.on_forget is not None and not self.is_live(session_id):
            self.on_forget(session_id)

    def _arm(self) -> None:
        """One timer, due when the least recently touched session's time is up."""
        if self._expiry is not None or not self._touched:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the next touch in one arms it
            return
        due = next(iter(self._touched.values())) + self._keep_seconds
        self._expiry = loop.call_later(max(0.0, due - time.monotonic()), self._expire)

    def _expire(self) -> None:
        """Drop what is kept of sessions nobody watches here that were not touched for keep_seconds."""
        self._expiry = None
        now = time.monotonic()
        while self._touched:
            session_id, touched = next(iter(self._touched.items()))
            if touched + self._keep_seconds > now:
                break
            if self.is_live(session_id):  # watched: kept, and it ages once nobody watches it
                self._touched[session_id] = now
                self._touched.move_to_end(session_id)
            else:
                del self._touched[session_id]
                self._drop(session_id)
        self._arm()

    def close(self) -> None:
        """Stop the expiry timer (the app is stopping)."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None


async def _notify(condition: asyncio.Condition) -> None:
    async with condition:
        condition.notify_all()
