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
from collections import deque
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

    __slots__ = ("burst", "rate", "stamp", "tokens")

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
    """Runs one connection; it is also the connection's hub subscriber (``offer``, ``last_update``).

    The handler's own task reads (it never blocks on work). A processor task exists only while
    there are messages to handle (and during the opening), a writer task only while there are
    frames to send: an idle connection has no task, queue or frame of its own beyond the
    framework's (measured with ``bench/ws_idle_profile.py``). The outgoing queue is bounded by
    ``PLANWISE_OUTGOING_QUEUE``: overflowing it marks a slow reader, closed with 1013.
    """

    __slots__ = (
        "_arrival",
        "_failure",
        "_main",
        "_opening",
        "_outbox",
        "_processor",
        "_send",
        "_writer",
        "address",
        "bucket",
        "closed",
        "default_token",
        "inbox",
        "last_update",
        "planwise",
        "session_id",
        "settings",
        "strikes",
    )

    def __init__(
        self, planwise: Planwise, settings: Settings, token: str | None, address: str | None = None
    ) -> None:
        self.planwise = planwise
        self.settings = settings
        self.default_token = token
        self.address = address  # the client's, for the limit of new sessions per address
        self.bucket = TokenBucket(settings.rate_per_second, settings.rate_burst)
        self.inbox: deque[str | bytes] | None = None  # messages waiting for the processor
        self.session_id: str | None = None
        self.last_update: OrderKey | None = None  # the hub's, per subscriber
        self.strikes = 0
        self.closed = False  # set by release(): never subscribe again after it
        self._outbox: deque[bytes] | None = None  # frames waiting for the writer
        self._send: Send | None = None
        self._main: asyncio.Task[Any] | None = None
        self._processor: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._opening = True  # until the first message (or the hello timeout) has been handled
        self._arrival: asyncio.Future[None] | None = None  # wakes the opening at the first message
        self._failure: BaseException | None = None  # what stops the connection from another task

    # -- the hub's subscriber ----------------------------------------------------------------

    def offer(self, data: bytes) -> None:
        """Queue a frame without blocking; a full queue closes the connection (slow reader)."""
        if self.closed:
            return
        outbox = self._outbox
        if outbox is None:
            outbox = self._outbox = deque()
        elif len(outbox) >= self.settings.outgoing_queue:
            self._fail(Closed(CLOSE_TRY_AGAIN, "outgoing queue full"))
            return
        outbox.append(data)
        if self._writer is None and self._send is not None:
            self._writer = asyncio.get_running_loop().create_task(self._write(self._send))
            self._writer.add_done_callback(self._task_done)

    # -- running -------------------------------------------------------------------------------

    async def run(self, receive: Receive, send: Send, close: Close) -> None:
        self._send = send
        self._main = asyncio.current_task()
        assert self._main is not None
        self._start_processor()  # the opening: waits for a hello up to PLANWISE_HELLO_TIMEOUT
        code, reason = 1000, ""
        try:
            try:
                await self._read(receive)
            except Closed as exc:
                code, reason = exc.code, exc.reason
            except asyncio.CancelledError:
                failure = self._failure
                if failure is None or self._main.uncancel() > 0:
                    raise  # the framework's cancellation (the peer went away, or shutdown)
                if not isinstance(failure, Closed):
                    raise failure from None
                code, reason = failure.code, failure.reason
        finally:
            # Before any await: the framework cancels this handler when the peer goes away, and a
            # second cancellation (a failed send, then the disconnect) would skip whatever comes
            # after an await here. Unsubscribing late leaked the connection and its queue forever.
            self.release()
            tasks = [task for task in (self._processor, self._writer) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # No reference from this connection to the tasks: a cancelled task keeps its
            # CancelledError, whose traceback keeps this frame and so this connection; a cycle
            # that only a full garbage collection (rare in a big process) would free.
            del tasks
            self._main = self._processor = self._writer = None
        if code != 1000:
            if code != CLOSE_TRY_AGAIN:  # a slow reader's queue is full: don't wait on it
                await self._flush(send)
            with contextlib.suppress(Exception):
                await close(code, reason)

    def release(self) -> None:
        """Leave the hub for good (synchronous, so safe first thing in any ``finally``; idempotent)."""
        self.closed = True
        if self.session_id is not None:
            self.planwise.hub.unsubscribe(self.session_id, self)

    def _fail(self, failure: BaseException) -> None:
        """Stop the connection from another task (or a callback): the reader is cancelled."""
        if self._failure is None and not self.closed:
            self._failure = failure
            # The reader itself checks ``_failure`` after its own offers; any other task cancels it.
            if self._main is not None and asyncio.current_task() is not self._main:
                self._main.cancel()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._fail(exc)

    async def _flush(self, send: Send) -> None:
        with contextlib.suppress(Exception):
            while self._outbox:
                await asyncio.wait_for(send(self._outbox.popleft()), 1.0)

    async def _write(self, send: Send) -> None:
        """Send what is queued, then end: a writer exists only while there is something to send."""
        outbox = self._outbox
        while outbox:
            # No local name for the frame: an idle connection must not keep its last reply alive.
            await send(outbox.popleft())
        self._outbox = None
        self._writer = None

    async def _read(self, receive: Receive) -> None:
        """Take frames off the transport at once: size and rate are checked here, work is queued."""
        while True:
            # No local name for the frame or the inbox: kept across the next receive, an idle
            # connection would hold its last message (up to PLANWISE_MAX_FRAME_BYTES) for nothing.
            self._take(await receive())

    def _take(self, received: str | bytes | None) -> None:
        # None: a frame the framework could not name (Quart turns an empty binary frame into
        # None under servers that send both keys): a binary frame, answered as one.
        data = b"" if received is None else received
        if len(data) > self.settings.max_frame_bytes:
            raise Closed(CLOSE_TOO_BIG, "frame too large")
        waiting = len(self.inbox) if self.inbox is not None else 0
        if not self.bucket.take() or waiting >= self.settings.rate_burst:
            self.strikes += 1
            if self.strikes > self.settings.rate_strikes:
                self.offer(error_frame(ProtocolError("rate_limited", "Too many messages; closing")))
                raise Closed(CLOSE_POLICY, "rate limit")
            self.offer(error_frame(ProtocolError("rate_limited", "Too many messages; slow down")))
            if isinstance(self._failure, Closed):
                raise self._failure  # that error frame overflowed the outgoing queue
            return
        self.strikes = 0
        if self.inbox is None:
            self.inbox = deque()
        self.inbox.append(data)
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)
        if self._processor is None:
            self._start_processor()

    def _start_processor(self) -> None:
        self._processor = asyncio.get_running_loop().create_task(self._process())
        self._processor.add_done_callback(self._task_done)

    async def _process(self) -> None:
        """Handle queued messages in order, then end; the first run is the opening sequence."""
        if self._opening:
            if not self.inbox:
                self._arrival = asyncio.get_running_loop().create_future()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrival, self.settings.hello_timeout)
                self._arrival = None
            first = self.inbox.popleft() if self.inbox else None
            message = self._parse(first) if first is not None else None
            if not (isinstance(message, dict) and message.get("event") == "hello"):
                await self._open(self.default_token, None, None)
            if first is not None:
                await self._handle(first, message)
            self._opening = False
        inbox = self.inbox
        while inbox:
            data = inbox.popleft()
            await self._handle(data, self._parse(data))
        if inbox is self.inbox:
            self.inbox = None
        self._processor = None

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
            self.offer(error_frame(exc, reply_to))
            if exc.code == "unauthorized":
                raise Closed(CLOSE_POLICY, "unauthorized") from exc
            return
        if opened.token_error is not None:
            self.offer(error_frame(opened.token_error, reply_to))
        if self.session_id is not None:
            planwise.hub.unsubscribe(self.session_id, self)
        state = opened.state
        self.session_id = state.id
        self.last_update = None
        session = planwise.session_payload(state, opened.resumed)
        self.offer(frame("session", {**session, "replyTo": reply_to} if reply_to is not None else session))
        self.offer(frame("questionnaire", planwise.questionnaire()))
        if self.closed:  # released while opening (a cancellation swallowed somewhere below)
            return
        planwise.hub.subscribe(state.id, self)
        update = await planwise.current_update(state)
        planwise.hub.send_update_to(self, update)

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
            self.offer(error_frame(exc, reply_to))
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("internal error [%s] handling a WebSocket message", ref)
            error = ProtocolError("internal", f"Something went wrong on our side (reference {ref})")
            self.offer(error_frame(error, reply_to))

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
            self.offer(frame("pong", {"replyTo": reply_to} if reply_to is not None else {}))
            return
        if event not in ("userResponse", "reset", "selectPlan", "explainPlan"):
            raise ProtocolError("unknown_event", f"Unknown event '{event[:40]}'")
        state = await self._state()
        if event == "userResponse":
            with replying(self, reply_to):  # the update reaches this connection with replyTo
                await self.planwise.respond(state, payload)
        elif event == "reset":
            with replying(self, reply_to):
                await self.planwise.reset(state)
        elif event == "explainPlan":
            explained = await self.planwise.explain(state, payload)
            self.offer(
                frame(
                    "planExplanation",
                    {**explained, "replyTo": reply_to} if reply_to is not None else explained,
                )
            )
        else:
            saved, _ = await self.planwise.select(state, payload)
            self.offer(
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
