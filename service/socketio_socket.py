"""A leaner Engine.IO socket for the websocket transport: no Task and no ``wait_for`` per packet.

python-engineio's ``AsyncSocket`` (written against python-engineio 4.15, pinned in pyproject.toml)
reads each websocket message through ``asyncio.wait_for(asyncio.ensure_future(ws.wait()), ...)``
and its writer task waits for each outgoing packet through ``asyncio.wait_for(queue.get(), ...)``;
on Python 3.11 each of those is a new Task and several extra turns of the event loop, per packet,
on the way of every answer (docs/socketio.md, "Performance"). ``LeanSocket`` overrides the two
methods holding those waits (``poll``, ``_websocket_handler``, otherwise as engineio wrote them):
the same deadline (``ping_interval + ping_timeout``) taken with ``asyncio.timeout`` around a direct
``await``. (So packets already received are read in one go, without a turn of the loop between
them.) Everything else is engineio's, unchanged: the OPEN packet, ping and pong
(``schedule_ping``, ``check_ping_timeout``, the server's service task), the polling transport and
the upgrade from it (probe, UPGRADE, the NOOP that ends the pending poll), the packet size limit
(``max_http_buffer_size``: a larger message ends the connection), close and its reasons, and the
one outgoing ``queue`` with its single writer, so packets keep their order and
``SioConnection.offer`` still sees a slow reader's backlog in ``queue.qsize()``.

The hook: engineio creates every socket in ``AsyncServer._handle_connect`` and then, before it
serves a single request of that socket (``handle_get_request``), calls the ``connect`` handler,
which python-socketio registers on its Engine.IO server. ``use_lean_sockets`` wraps that handler
(public ``eio.on``) to change the new socket's class first; the subclass adds no state, so the
change is safe at that point, and a socket that starts on long-polling upgrades through
``LeanSocket._websocket_handler`` as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket

__all__ = ["LeanSocket", "use_lean_sockets"]


class LeanSocket(AsyncSocket):
    """``AsyncSocket`` whose waits for packets are direct awaits under a deadline."""

    connected: bool  # engineio's (set in BaseSocket.__init__), typed for mypy

    async def poll(self) -> list[packet.Packet]:
        """Wait for packets to send to the client (engineio's ``poll`` without ``wait_for``)."""
        try:
            async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                first = await self.queue.get()
            self.queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            # As engineio's: a long poll (or the writer) that waited too long, or was cancelled,
            # reports an empty queue and its caller closes the socket.
            raise exceptions.QueueEmpty() from None
        if first is None:
            return []
        packets = [first]
        while True:
            try:
                pkt = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            self.queue.task_done()
            if pkt is None:  # the end: left for the next poll, which returns [] at once
                self.queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets

    async def _websocket_handler(self, ws: Any) -> None:
        """Engine.IO over a websocket: engineio's handler, with the reads awaited directly."""
        limit = self.server.max_http_buffer_size

        async def websocket_wait() -> Any:
            data = await ws.wait()
            if data and len(data) > limit:
                raise ValueError("packet is too large")
            return data

        if self.connected:
            # An upgrade from long-polling: the probe, then UPGRADE (as engineio does it).
            self.upgrading = True  # hold packet sends during the upgrade
            try:
                pkt = await websocket_wait()
            except OSError:
                return
            decoded = packet.Packet(encoded_packet=pkt)
            if decoded.packet_type != packet.PING or decoded.data != "probe":
                self.server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                self.upgrading = False
                return
            await ws.send(packet.Packet(packet.PONG, data="probe").encode())
            await self.queue.put(packet.Packet(packet.NOOP))  # end the pending poll
            try:
                pkt = await websocket_wait()
            except OSError:
                self.upgrading = False
                return
            decoded = packet.Packet(encoded_packet=pkt)
            if decoded.packet_type != packet.UPGRADE:
                self.upgraded = False
                self.server.logger.info(
                    "%s: Failed websocket upgrade, expected UPGRADE packet, received %s instead.",
                    self.sid,
                    pkt,
                )
                self.upgrading = False
                return
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        writer = asyncio.ensure_future(self._writer(ws))
        self.server.logger.info("%s: Upgrade to websocket successful", self.sid)
        deadline = self.server.ping_interval + self.server.ping_timeout
        while True:
            try:
                # A client that sends nothing (not even its pong) for this long is gone.
                async with asyncio.timeout(deadline):
                    data = await websocket_wait()
            except (Exception, asyncio.CancelledError):
                # Timed out, disconnected (OSError), too large (ValueError) or cancelled: as
                # engineio's handler, stop reading and close below.
                break
            if data is None:  # closed by the client
                break
            try:
                await self.receive(packet.Packet(encoded_packet=data))
            except exceptions.UnknownPacketError:
                pass
            except exceptions.SocketIsClosedError:
                self.server.logger.info("Receive error -- socket is closed")
                break
            except Exception:
                # An unexpected error is logged and the connection goes on, as in engineio.
                self.server.logger.exception("Unknown receive error")

        await self.queue.put(None)  # unlock the writer so it can exit
        await writer
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def _writer(self, ws: Any) -> None:
        """Send the queued packets in order until the end marker, a send error or a silent queue."""
        while True:
            try:
                packets = await self.poll()
            except exceptions.QueueEmpty:
                break
            if not packets:  # the end marker: the connection is closing
                break
            try:
                for pkt in packets:
                    await ws.send(pkt.encode())
            except (Exception, asyncio.CancelledError):  # the connection is gone: as engineio's writer
                break
        await ws.close()


Connect = Callable[..., Awaitable[Any]]


def use_lean_sockets(eio: engineio.AsyncServer) -> None:
    """Make every socket the Engine.IO server ``eio`` creates from now on a ``LeanSocket``.

    Call it after python-socketio registered its ``connect`` handler (its constructor does).
    """
    handler: Connect = eio.handlers["connect"]

    async def connect(eio_sid: str, environ: dict[str, Any]) -> Any:
        socket = eio.sockets.get(eio_sid)
        if type(socket) is AsyncSocket:  # exactly engineio's: anything else is left alone
            socket.__class__ = LeanSocket
        return await handler(eio_sid, environ)

    eio.on("connect", connect)
