"""The Socket.IO endpoint ``/socket.io/`` (PROTOCOL.md, "Socket.IO"): the same sessions and operations.

python-socketio's AsyncServer is mounted in front of the Quart app (``app.asgi_app``), so one
``planwise serve`` process serves ``/ws``, ``/api`` and ``/socket.io/`` on one port, over both
Engine.IO transports (websocket and HTTP long-polling). This module is only a transport, like
``service/connection.py``: every event calls the same ``core.Planwise`` operation as ``/ws``
(validation, ordering, commit before reply), each connection is a hub subscriber (the session's
room: updates of any origin, other processes' included, reach it in order), and the limits are
those of ``/ws``: the frame size as ``max_http_buffer_size``, the token bucket per connection, a
bounded outgoing queue (a slow reader is dropped and reconnects), the exact Origin allowlist.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import engineio
import socketio
from quart import Quart

from .config import Settings
from .connection import TokenBucket
from .cookies import session_cookie_name
from .core import Opened, Planwise
from .errors import ProtocolError
from .hub import OrderKey, frame
from .origins import origin_allowed
from .runtime import NotServing, get_runtime
from .socketio_fields import client_address, session_cookie, user_label, user_response
from .socketio_packets import Json, Packed, Packer, event_packet
from .socketio_socket import use_lean_sockets

log = logging.getLogger(__name__)

PATH = "socket.io"
_KEY = "planwise.socketio"
# Socket.IO's own events, never forwarded to the core.
_RESERVED = frozenset({"connect", "disconnect", "connect_error"})


class SioConnection:
    """One Socket.IO connection: a hub subscriber writing straight into its Engine.IO queue.

    The hub offers frames synchronously; they are queued in order on the Engine.IO socket (what
    ``emit`` does, without a task per message). More than ``outgoing_queue`` packets waiting there
    marks a slow reader: the transport is dropped and the client reconnects and resumes.
    """

    def __init__(self, server: SocketIOServer, sid: str, eio_sid: str, settings: Settings) -> None:
        self.server = server
        self.sid = sid
        self.eio_sid = eio_sid
        self.settings = settings
        self.last_update: OrderKey | None = None
        self.session_id: str | None = None
        self.user_sub: str | None = None
        self.bucket = TokenBucket(settings.rate_per_second, settings.rate_burst)
        self.strikes = 0
        self.pending = 0  # admitted events not answered yet
        self.closing = False  # flooded: closed once every admitted event is answered
        self.lock = asyncio.Lock()  # events run one at a time, in arrival order
        self.ready: asyncio.Future[None] | None = None
        self.closed = False

    def offer(self, encoded: bytes) -> None:
        if self.closed:
            return
        socket = self.server.sio.eio.sockets.get(self.eio_sid)
        if socket is None or socket.closed:
            return
        if socket.queue.qsize() >= self.settings.outgoing_queue:
            log.info("Socket.IO %s: outgoing queue full, dropping the slow reader", self.sid)
            self.drop(abort=True)
            return
        socket.queue.put_nowait(
            engineio.packet.Packet(engineio.packet.MESSAGE, data=event_packet(encoded, self.packed))
        )

    def packed(self) -> Packed | None:
        """The session's newest update, encoded once for every connection (see ``Packed``)."""
        if self.session_id is None:
            return None
        try:
            update = self.server.planwise().hub.latest(self.session_id)
        except NotServing:
            return None
        return None if update is None else self.server.packed(update.payload)

    def drop(self, abort: bool) -> None:
        """Close from the server: ``abort`` drops the transport (the client reconnects)."""
        if self.closed:
            return
        self.closed = True
        self.server.forget(self)
        if abort:
            socket = self.server.sio.eio.sockets.get(self.eio_sid)
            if socket is not None:
                self.server.spawn(socket.close(wait=False, abort=True))
        else:  # a policy close: Socket.IO's DISCONNECT, after which clients do not reconnect
            self.server.spawn(self.server.sio.disconnect(self.sid))

    def settle(self) -> None:
        """A flooder is closed after the events admitted before the flood are answered (their acks)."""
        if self.closing and not self.pending:
            self.drop(abort=False)

    def admit(self) -> bool:
        """The token bucket of ``/ws``: False when this event must be refused as ``rate_limited``."""
        if self.bucket.take() and self.pending < self.settings.rate_burst:
            self.strikes = 0
            return True
        self.strikes += 1
        return False


Handler = Callable[[SioConnection, Any], Awaitable[dict[str, Any]]]


class SocketIOServer:
    """The python-socketio server and its handlers; connections by Socket.IO sid."""

    def __init__(self, app: Quart, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        allowed = settings.allowed_origins

        def origin_ok(origin: str | None, environ: dict[str, Any]) -> bool:
            # The same check as /ws: the scheme as the trusted-proxy middleware set it.
            scope = environ.get("asgi.scope") or {}
            return origin_allowed(
                origin,
                environ.get("HTTP_HOST"),
                allowed,
                scheme=str(scope.get("scheme") or environ.get("wsgi.url_scheme") or "http"),
                trust_host=settings.origin_trust_host,
            )

        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=origin_ok,
            cors_credentials=True,
            max_http_buffer_size=settings.max_frame_bytes,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            json=Json,
            logger=False,
            engineio_logger=False,
            http_compression=False,  # like /ws without permessage-deflate: cheaper than the bytes saved
            transports=["polling", "websocket"],
        )
        use_lean_sockets(self.sio.eio)  # no Task per packet on the websocket transport
        self.conns: dict[str, SioConnection] = {}
        self._packer = Packer()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._handlers: dict[str, Handler] = {
            "userResponse": self._user_response,
            "reset": self._reset,
            "selectPlan": self._select,
            "explainPlan": self._explain,
        }
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("*", self._event)

    # -- plumbing ---------------------------------------------------------------------------

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def packed(self, payload: dict[str, Any]) -> Packed:
        return self._packer.packed(payload)

    def forget(self, conn: SioConnection) -> None:
        """Unsubscribe at once (no ``await`` before it: a cancelled close must not leak)."""
        self.conns.pop(conn.sid, None)
        if conn.session_id is not None:
            try:
                self.planwise().hub.unsubscribe(conn.session_id, conn)
            except NotServing:  # shutting down: the hub is gone with it
                pass
        if conn.ready is not None and not conn.ready.done():
            conn.ready.cancel()

    def planwise(self) -> Planwise:
        planwise: Planwise = get_runtime(self.app).planwise
        return planwise

    # -- connect and disconnect ---------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Open or resume the session (the rules of ``hello``); a bad JWT refuses the connection."""
        try:
            planwise = self.planwise()
        except NotServing:
            raise socketio.exceptions.ConnectionRefusedError(
                "unavailable", {"code": "unavailable", "message": "The service is starting; try again"}
            ) from None
        fields = auth if isinstance(auth, dict) else {}
        query = parse_qs(environ.get("QUERY_STRING", ""))

        def given(name: str) -> str | None:
            value = fields.get(name)
            if value is None and query.get(name):
                value = query[name][0]
            return value if isinstance(value, str) and value else None

        token = given("token") or session_cookie(
            environ.get("HTTP_COOKIE"), session_cookie_name(self.settings)
        )
        try:
            opened = await planwise.open(token, given("authToken"), client_address(environ))
        except ProtocolError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.payload()) from None
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        conn = SioConnection(self, sid, eio_sid, self.settings)
        label = user_label(fields.get("userId", (query.get("userId") or [None])[0]))
        conn.user_sub = opened.state.user_sub
        self.conns[sid] = conn
        await self.sio.enter_room(sid, "session:" + opened.state.id)
        if conn.user_sub is not None:
            await self.sio.enter_room(sid, "user:" + conn.user_sub)
        # The opening sequence runs once the CONNECT packet is queued, so the client sees
        # connect, session, questionnaire, recommendationUpdates, in that order; events wait for it.
        conn.ready = asyncio.ensure_future(self._opening(conn, opened, label))

    async def _opening(self, conn: SioConnection, opened: Opened, label: str | None) -> None:
        try:
            if label is not None and label != opened.state.label:
                async with opened.state.lock:  # kept on the session: resumes and other processes see it
                    await self.planwise().store.save_label(opened.state, label)
            await self._open_sequence(conn, opened)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("internal error [%s] opening a Socket.IO connection", ref)
            error = ProtocolError("internal", f"Something went wrong on our side (reference {ref})")
            conn.offer(frame("error", error.payload()))

    async def _open_sequence(self, conn: SioConnection, opened: Opened) -> None:
        planwise = self.planwise()
        if opened.token_error is not None:
            conn.offer(frame("error", opened.token_error.payload()))
        state = opened.state
        conn.offer(frame("session", planwise.session_payload(state, opened.resumed)))
        conn.offer(frame("questionnaire", planwise.questionnaire()))
        if conn.closed:
            return
        conn.session_id = state.id
        planwise.hub.subscribe(state.id, conn)
        try:
            update = await planwise.current_update(state)
        except ProtocolError as exc:
            conn.offer(frame("error", exc.payload()))
            return
        planwise.hub.send_update_to(conn, update)

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.conns.get(sid)
        if conn is not None:
            conn.closed = True
            self.forget(conn)

    # -- events -----------------------------------------------------------------------------

    async def _event(self, event: str, sid: str, *args: Any) -> Any:
        """Every client event: rate limit, then the operation, in arrival order; the ack is the reply."""
        conn = self.conns.get(sid)
        if conn is None or conn.closing:  # dropped, or closing a flood: no ack, as after a disconnect
            return self.sio.not_handled
        if event in _RESERVED:
            return None
        data = args[0] if args else {}
        if not conn.admit():
            closing = conn.strikes > self.settings.rate_strikes
            error = ProtocolError(
                "rate_limited", "Too many messages; " + ("closing" if closing else "slow down")
            )
            conn.offer(frame("error", error.payload()))
            conn.closing = closing  # (once closing, events are not handled at all: above)
            conn.settle()
            return {"error": error.payload()}
        conn.pending += 1
        try:
            if conn.ready is not None:
                await asyncio.shield(conn.ready)
            async with conn.lock:
                handler = self._handlers.get(event)
                if handler is None:
                    raise ProtocolError("unknown_event", f"Unknown event '{event[:40]}'")
                return await handler(conn, data)
        except ProtocolError as exc:
            return self._error(conn, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("internal error [%s] handling a Socket.IO event", ref)
            return self._error(
                conn, ProtocolError("internal", f"Something went wrong on our side (reference {ref})")
            )
        finally:
            conn.pending -= 1
            conn.settle()

    @staticmethod
    def _error(conn: SioConnection, exc: ProtocolError) -> dict[str, Any]:
        payload = exc.payload()
        conn.offer(frame("error", payload))
        return {"error": payload}

    async def _state(self, conn: SioConnection) -> Any:
        if conn.session_id is None:
            raise ProtocolError("unavailable", "The session could not be opened; reconnect")
        state = await self.planwise().store.get(conn.session_id)
        if state is None:
            raise ProtocolError("not_found", "This session no longer exists")
        return state

    async def _user_response(self, conn: SioConnection, data: Any) -> dict[str, Any]:
        state = await self._state(conn)
        return (await self.planwise().respond(state, user_response(data))).payload

    async def _reset(self, conn: SioConnection, data: Any) -> dict[str, Any]:
        return (await self.planwise().reset(await self._state(conn))).payload

    async def _select(self, conn: SioConnection, data: Any) -> dict[str, Any]:
        saved, _ = await self.planwise().select(await self._state(conn), data)
        conn.offer(frame("selectionSaved", saved))
        return saved

    async def _explain(self, conn: SioConnection, data: Any) -> dict[str, Any]:
        explanation = await self.planwise().explain(await self._state(conn), data)
        conn.offer(frame("planExplanation", explanation))
        return explanation

    async def close(self) -> None:
        """Drop every connection (shutdown) and wait for the tasks this module started."""
        for conn in list(self.conns.values()):
            conn.drop(abort=True)
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def init_socketio(app: Quart, settings: Settings) -> SocketIOServer:
    """Mount ``/socket.io/`` in front of the app (same process, same port); lifespan stays Quart's."""
    server = SocketIOServer(app, settings)
    app.asgi_app = socketio.ASGIApp(  # type: ignore[method-assign]
        server.sio, other_asgi_app=app.asgi_app, socketio_path=PATH
    )
    app.extensions[_KEY] = server

    @app.after_serving
    async def _close() -> None:
        await server.close()

    return server
