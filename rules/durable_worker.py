"""The durable-rules worker process: ``python -m rules.durable_worker``.

Reads length-prefixed (4-byte big-endian) orjson frames from stdin and writes one reply frame per
request to stdout, in request order. Requests:

- ``{"id", "op": "load", "version", "bundle"}``: parse and register a validated bundle;
- ``{"id", "op": "unload", "version"}``;
- ``{"id", "op": "evaluate", "version", "answers"}``: an :class:`~rules.evaluation.Evaluation`;
- ``{"id", "op": "stats"}``: RSS, loaded versions, live sessions.

Replies: ``{"id", "ok": true, "result": ...}`` or ``{"id", "ok": false, "error": {"type",
"message", ...}}``. The main thread is the only owner of the C engine. After a C-level failure
the reply carries ``"fatal": true`` and the process exits: its engine may be corrupt.
"""

from __future__ import annotations

import os
import struct
import sys
from typing import Any, BinaryIO

import orjson

from .durable_compiler import DurableLimit
from .durable_engine import DurableRulesEngine, EngineCorrupted
from .model import parse_catalogue

_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame's payload, or None at end of input."""
    header = _read_exact(stream, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is too large")
    payload = _read_exact(stream, size)
    if payload is None:
        raise EOFError("input ended inside a frame")
    return payload


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            if remaining == size:
                return None
            raise EOFError("input ended inside a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def encode_frame(message: dict[str, Any]) -> bytes:
    payload = orjson.dumps(message)
    return _HEADER.pack(len(payload)) + payload


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Worker:
    """Dispatches requests to one :class:`DurableRulesEngine`."""

    def __init__(self, engine: DurableRulesEngine | None = None) -> None:
        self.engine = engine or DurableRulesEngine()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """The reply to one request (never raises)."""
        request_id = request.get("id")
        try:
            result = self._dispatch(request)
        except EngineCorrupted as exc:
            return _error(request_id, exc, fatal=True)
        except DurableLimit as exc:
            reply = _error(request_id, exc)
            reply["error"]["problems"] = [p.to_json() for p in exc.problems]
            return reply
        except Exception as exc:  # every failure is reported to the client, never crashes the loop
            return _error(request_id, exc)
        return {"id": request_id, "ok": True, "result": result}

    def _dispatch(self, request: dict[str, Any]) -> Any:
        op = request.get("op")
        if op == "evaluate":
            return self.engine.evaluate(int(request["version"]), dict(request["answers"])).to_json()
        if op == "load":
            version = int(request["version"])
            compiled = self.engine.load(version, parse_catalogue(request["bundle"]))
            return {
                "version": version,
                "chunks": len(compiled.chunks),
                "durableRules": compiled.durable_rules,
                "peaks": [c.peak for c in compiled.chunks],
            }
        if op == "unload":
            self.engine.unload(int(request["version"]))
            return {"version": int(request["version"])}
        if op == "stats":
            return {
                "pid": os.getpid(),
                "rss": rss_bytes(),
                "versions": self.engine.versions(),
                "liveSessions": self.engine.live_sessions(),
            }
        raise ValueError(f"unknown op {op!r}")


def _error(request_id: Any, exc: BaseException, *, fatal: bool = False) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "id": request_id,
        "ok": False,
        "error": {"type": type(exc).__name__, "message": str(exc)},
    }
    if fatal:
        reply["fatal"] = True
    return reply


def serve(stdin: BinaryIO, stdout: BinaryIO, worker: Worker | None = None) -> int:
    """Answer frames from ``stdin`` until it ends; return the exit status."""
    worker = worker or Worker()
    while True:
        payload = read_frame(stdin)
        if payload is None:
            return 0
        try:
            request = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            reply = _error(None, exc)
        else:
            reply = (
                worker.handle(request)
                if isinstance(request, dict)
                else _error(None, TypeError("not an object"))
            )
        stdout.write(encode_frame(reply))
        stdout.flush()
        if reply.get("fatal"):
            return 3


def main() -> None:
    """Entry point: frames on the real stdout; anything else printed goes to stderr."""
    # The protocol owns fd 1: stray prints (Python or C) would corrupt it, so fd 1 becomes
    # stderr and the frames go to a private duplicate of the original stdout.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with os.fdopen(out_fd, "wb") as out:
        status = serve(sys.stdin.buffer, out)
    # Skip interpreter teardown: durable's C state needs no cleanup and exiting fast matters
    # when the client replaces a worker.
    os._exit(status)


if __name__ == "__main__":
    main()
