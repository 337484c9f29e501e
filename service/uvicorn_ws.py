"""uvicorn's WebSocket protocol, plus: a peer that stops reading is dropped, not kept forever, and
an empty binary frame is delivered to the app instead of crashing Quart's receiver.

uvicorn closes a connection after a ping timeout or a server-side close with
``transport.close()``, which waits for the send buffer to drain; a peer that never reads again
never drains it, so the socket, its buffers and its handler stayed alive indefinitely (found by
``tests/service/test_real_server.py``). Here a close that has not finished after
``PLANWISE_CLOSE_TIMEOUT`` seconds (``Settings.close_timeout``) aborts the transport.
"""

from __future__ import annotations

from asyncio import BaseTransport, Protocol
from functools import partial
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .collector import COLLECTOR
from .config import Settings

DEFAULT_CLOSE_TIMEOUT: float = Settings.model_fields["close_timeout"].default


class DroppingWebSocketProtocol(WebSocketsSansIOProtocol):
    """Aborts connections whose closing handshake cannot complete in time."""

    def __init__(self, *args: Any, close_timeout: float = DEFAULT_CLOSE_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Not ``close_timeout``: uvicorn's own (10 s) waits for the peer's close frame.
        self.abort_timeout = close_timeout

    def connection_made(self, transport: BaseTransport) -> None:
        self._planwise_lost = False
        self._planwise_abort_scheduled = False
        COLLECTOR.opened()
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._planwise_lost = True
        super().connection_lost(exc)
        COLLECTOR.closed()  # a full collection once as many have ended as are open (collector.py)

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self._abort_later()

    async def send(self, message: Any) -> None:
        if message.get("type") == "websocket.close":
            # Schedule before sending: the send itself blocks while the peer does not read.
            self._abort_later()
        await super().send(message)

    def send_receive_event_to_app(self) -> None:
        """As uvicorn, but a binary message's event also carries ``"text": None`` (ASGI allows both
        keys), and a text message that is not UTF-8 closes with 1007 without a logged traceback.

        uvicorn sends ``{"bytes": b""}`` alone for an empty binary frame, and Quart reads
        ``event.get("bytes") or event["text"]``: a ``KeyError`` in its receiver, the connection
        dropped without a close frame and a traceback per frame. With the key, Quart hands the app
        ``None``, which the connection answers as a binary frame (``invalid_message``).
        """
        if self.close_sent:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.curr_msg_data_type == "text":
            try:
                event: Any = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                # A peer's mistake, not ours: close with 1007 (RFC 6455) without uvicorn's traceback.
                self.conn.send_close(1007, "text frame is not UTF-8")
                self.handle_parser_exception()
                return
        else:
            event = {"type": "websocket.receive", "bytes": data, "text": None}
        self.queue.put_nowait(event)
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def _abort_later(self) -> None:
        if not self._planwise_abort_scheduled:
            self._planwise_abort_scheduled = True
            self.loop.call_later(self.abort_timeout, self._abort)

    def _abort(self) -> None:
        if not self._planwise_lost:
            self.transport.abort()


def dropping_protocol(close_timeout: float) -> type[Protocol]:
    """The protocol for ``uvicorn.run(ws=...)`` (a partial, so that spawned workers can unpickle it)."""
    return cast(type[Protocol], partial(DroppingWebSocketProtocol, close_timeout=close_timeout))
