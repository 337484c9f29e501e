"""A bare Quart WebSocket echo app: the floor that bench/ws_load.py compares the real service with.

Served by uvicorn with the same tuning as ``planwise serve`` (service/server.py): listen backlog
2048, the same frame limit, ping interval and timeout, no permessage-deflate, no access log, and
the same log level, so the only difference from the real service is the work done per message.
uvicorn's ``auto`` WebSocket implementation is websockets-sansio, the one the service subclasses
(service/uvicorn_ws.py only adds an abort for closes that never finish); ``--ws`` picks another.

    .venv/bin/python bench/echo_server.py --port 8001
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from quart import Quart, websocket

# Run as a script from anywhere: make ``service`` importable for its default settings.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.config import Settings  # noqa: E402


def create_app() -> Quart:
    """One route, ``/ws``: every text frame is sent straight back."""
    app = Quart(__name__)

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        while True:
            await websocket.send(await websocket.receive())

    @app.get("/healthz")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--ws", default="auto", help="uvicorn WebSocket implementation (as the service: auto)"
    )
    args = parser.parse_args(argv)
    defaults = Settings()  # the protocol defaults, without reading a secret or a database
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        workers=1,
        ws=args.ws,
        backlog=2048,
        ws_max_size=defaults.max_frame_bytes,
        ws_ping_interval=defaults.ping_interval,
        ws_ping_timeout=defaults.ping_timeout,
        ws_per_message_deflate=False,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
