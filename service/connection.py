"""One WebSocket connection running PROTOCOL.md, independent of the web framework.

The handler in ``service/ws.py`` passes the transport's receive/send/close; everything else
(opening sequence, events, rate limit, bounded outgoing queue, slow-reader close) is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from .config import Settings
from .core import Opened, Planwise, error_frame
from .errors import ProtocolError
from .hub import OrderKey, frame, replying

log = logging.getLogger(__name__)

CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Connection:
    """A subscriber with a bounded outgoing queue; overflowing it marks a slow reader."""

    def __init__(self, max_queue: int) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(max_queue)
        self.last_update: OrderKey | None = None
        self.overflowed = asyncio.Event()

    def offer(self, data: bytes) -> None:
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.overflowed.set()


class Closed(Exception):
    """Close the socket with ``code`` after sending what is queued."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


Receive = Callable[[], Awaitable[str | bytes | None]]
Send = Callable[[bytes | str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


class WsSession:
    """Runs one connection: reader (never blocks on work), processor, writer."""

    def __init__(
        self, planwise: Planwise, settings: Settings, token: str | None, address: str | None = None
    ) -> None:
        self.planwise = planwise
        self.settings = settings
        self.default_token = token
        self.address = address  # the client's, for the limit of new sessions per address
        self.conn = Connection(settings.outgoing_queue)
        self.bucket = TokenBucket(settings.rate_per_second, settings.rate_burst)
        self.inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue(settings.rate_burst)
        self.session_id: str | None = None
        self.strikes = 0
        self.closed = False  # set by release(): never subscribe again after it

    async def run(self, receive: Receive, send: Send, close: Close) -> None:
        tasks = [
            asyncio.create_task(self._read(receive)),
            asyncio.create_task(self._process()),
            asyncio.create_task(self._write(send)),
            asyncio.create_task(self._watch_overflow()),
        ]
        code, reason = 1000, ""
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = None if task.cancelled() else task.exception()
                if isinstance(exc, Closed):
                    code, reason = exc.code, exc.reason
                elif exc is not None:
                    raise exc
        finally:
            # Before any await: the framework cancels this handler when the peer goes away, and a
            # second cancellation (a failed send, then the disconnect) would skip whatever comes
            # after an await here. Unsubscribing late leaked the connection and its queue forever.
            self.release()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if code != 1000:
            if code != CLOSE_TRY_AGAIN:  # a slow reader's queue is full: don't wait on it
                await self._flush(send)
            with contextlib.suppress(Exception):
                await close(code, reason)

    def release(self) -> None:
        """Leave the hub for good (synchronous, so safe first thing in any ``finally``; idempotent)."""
        self.closed = True
        if self.session_id is not None:
            self.planwise.hub.unsubscribe(self.session_id, self.conn)

    async def _flush(self, send: Send) -> None:
        with contextlib.suppress(Exception):
            while not self.conn.queue.empty():
                await asyncio.wait_for(send(self.conn.queue.get_nowait()), 1.0)

    async def _watch_overflow(self) -> None:
        await self.conn.overflowed.wait()
        raise Closed(CLOSE_TRY_AGAIN, "outgoing queue full")

    async def _write(self, send: Send) -> None:
        while True:
            # No local name for the frame: an idle connection must not keep its last reply alive.
            await send(await self.conn.queue.get())

    async def _read(self, receive: Receive) -> None:
        """Take frames off the transport at once: size and rate are checked here, work is queued."""
        while True:
            received = await receive()
            # None: a frame the framework could not name (Quart turns an empty binary frame into
            # None under servers that send both keys): a binary frame, answered as one.
            data = b"" if received is None else received
            if len(data) > self.settings.max_frame_bytes:
                raise Closed(CLOSE_TOO_BIG, "frame too large")
            if not self.bucket.take() or self.inbox.full():
                self.strikes += 1
                if self.strikes > self.settings.rate_strikes:
                    self.conn.offer(error_frame(ProtocolError("rate_limited", "Too many messages; closing")))
                    raise Closed(CLOSE_POLICY, "rate limit")
                self.conn.offer(error_frame(ProtocolError("rate_limited", "Too many messages; slow down")))
                continue
            self.strikes = 0
            self.inbox.put_nowait(data)

    async def _process(self) -> None:
        try:
            first = await asyncio.wait_for(self.inbox.get(), self.settings.hello_timeout)
        except TimeoutError:
            first = None
        message = self._parse(first) if first is not None else None
        if not (isinstance(message, dict) and message.get("event") == "hello"):
            await self._open(self.default_token, None, None)
        if first is not None:
            await self._handle(first, message)
        while True:
            data = await self.inbox.get()
            if data is not None:
                await self._handle(data, self._parse(data))

    @staticmethod
    def _parse(data: str | bytes) -> Any:
        if isinstance(data, bytes):
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return None

    async def _open(self, token: object, auth_token: object, reply_to: Any) -> None:
        planwise = self.planwise
        try:
            opened: Opened = await planwise.open(token, auth_token, self.address)
        except ProtocolError as exc:
            self.conn.offer(error_frame(exc, reply_to))
            if exc.code == "unauthorized":
                raise Closed(CLOSE_POLICY, "unauthorized") from exc
            return
        if opened.token_error is not None:
            self.conn.offer(error_frame(opened.token_error, reply_to))
        if self.session_id is not None:
            planwise.hub.unsubscribe(self.session_id, self.conn)
        state = opened.state
        self.session_id = state.id
        self.conn.last_update = None
        session = planwise.session_payload(state, opened.resumed)
        self.conn.offer(
            frame("session", {**session, "replyTo": reply_to} if reply_to is not None else session)
        )
        self.conn.offer(frame("questionnaire", planwise.questionnaire()))
        if self.closed:  # released while opening (a cancellation swallowed somewhere below)
            return
        planwise.hub.subscribe(state.id, self.conn)
        update = await planwise.current_update(state)
        planwise.hub.send_update_to(self.conn, update)

    async def _handle(self, data: str | bytes, message: Any) -> None:
        reply_to: Any = None
        if isinstance(message, dict):
            ident = message.get("id")
            # Echo the client's id exactly (a string or an integer), bounded in size.
            if (isinstance(ident, str) and len(ident) <= 200) or (
                isinstance(ident, int) and not isinstance(ident, bool) and abs(ident) < 2**53
            ):
                reply_to = ident
        try:
            await self._dispatch(data, message, reply_to)
        except Closed:
            raise
        except ProtocolError as exc:
            self.conn.offer(error_frame(exc, reply_to))
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("internal error [%s] handling a WebSocket message", ref)
            error = ProtocolError("internal", f"Something went wrong on our side (reference {ref})")
            self.conn.offer(error_frame(error, reply_to))

    async def _dispatch(self, data: str | bytes, message: Any, reply_to: Any) -> None:
        if isinstance(data, bytes):
            raise ProtocolError("invalid_message", "Binary frames are not accepted; send JSON text")
        if not isinstance(message, dict):
            raise ProtocolError("invalid_message", "A frame must be a JSON object")
        event = message.get("event")
        if not isinstance(event, str):
            raise ProtocolError("invalid_message", "A frame needs an 'event' string")
        payload = message.get("data", {})
        if not isinstance(payload, dict):
            raise ProtocolError("invalid_message", "'data' must be an object")
        if event == "hello":
            await self._open(payload.get("token"), payload.get("authToken"), reply_to)
            return
        if event == "ping":
            self.conn.offer(frame("pong", {"replyTo": reply_to} if reply_to is not None else {}))
            return
        if event not in ("userResponse", "reset", "selectPlan", "explainPlan"):
            raise ProtocolError("unknown_event", f"Unknown event '{event[:40]}'")
        state = await self._state()
        if event == "userResponse":
            with replying(self.conn, reply_to):  # the update reaches this connection with replyTo
                await self.planwise.respond(state, payload)
        elif event == "reset":
            with replying(self.conn, reply_to):
                await self.planwise.reset(state)
        elif event == "explainPlan":
            explained = await self.planwise.explain(state, payload)
            self.conn.offer(
                frame(
                    "planExplanation",
                    {**explained, "replyTo": reply_to} if reply_to is not None else explained,
                )
            )
        else:
            saved, _ = await self.planwise.select(state, payload)
            self.conn.offer(
                frame("selectionSaved", {**saved, "replyTo": reply_to} if reply_to is not None else saved)
            )

    async def _state(self) -> Any:
        if self.session_id is None:
            await self._open(self.default_token, None, None)
        assert self.session_id is not None
        state = await self.planwise.store.get(self.session_id)
        if state is None:
            raise ProtocolError("not_found", "This session no longer exists")
        return state
