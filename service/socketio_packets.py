"""Hub frames as Socket.IO packets (PROTOCOL.md, "Socket.IO"), encoded once per update.

The hub offers every connection the same bytes, ``{"event":"<name>","data":<object>}`` as orjson
writes them. A Socket.IO EVENT packet on the default namespace is ``2["<name>",<data>]``, except
``recommendationUpdates``, which carries two arguments: the plans, then the whole update, so a
handler written for the original design gets the plans list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

_HEAD = b'{"event":"'
_DATA = b'","data":'


class Json:
    """orjson for python-socketio's packets (it encodes ~10x faster than the json module)."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    @staticmethod
    def loads(data: str | bytes, **_: Any) -> Any:
        return orjson.loads(data)


class Packed:
    """An update's plans encoded once, and the proof that a frame carries them.

    orjson's output is deterministic and keeps the payload's key order, so a frame's data that
    starts with ``head`` (the payload's fields up to and including ``"plans":<plans>``, as orjson
    writes them) has exactly those plans at its top level, whatever follows (``excluded``, the
    hub's ``replyTo``). Checking that is a byte comparison instead of parsing the frame to take the
    plans out of it (that parse was the largest cost of this endpoint per answer, docs/socketio.md).
    """

    __slots__ = ("head", "plans", "source")

    def __init__(self, source: dict[str, Any]) -> None:
        self.source = source  # the update's payload, kept so that identity means this payload
        before: dict[str, Any] = {}
        for name, value in source.items():
            if name == "plans":
                break
            before[name] = value
        opening = orjson.dumps(before)[:-1] + (b',"plans":' if before else b'"plans":')
        plans = orjson.dumps(source["plans"])
        self.plans = plans.decode()
        self.head = opening + plans

    def frames(self, data: bytes) -> bool:
        """Whether ``data`` (a frame's data object) has these plans."""
        return data.startswith(self.head)


class Packer:
    """The last update encoded: one publish reaches every connection of its session in a row."""

    def __init__(self) -> None:
        self._last: Packed | None = None

    def packed(self, payload: dict[str, Any]) -> Packed:
        if self._last is None or self._last.source is not payload:
            self._last = Packed(payload)
        return self._last


def event_packet(encoded: bytes, known: Callable[[], Packed | None] | None = None) -> str:
    """A hub frame as the text of a Socket.IO EVENT packet.

    For ``recommendationUpdates``, ``known`` gives the session's newest update already encoded;
    when the frame is that update its plans are not parsed out of the frame again.
    """
    split = encoded.find(_DATA, len(_HEAD)) if encoded.startswith(_HEAD) else -1
    if split < 0:  # not a frame of ours: encode it the slow way
        message = orjson.loads(encoded)
        event, data = message["event"], orjson.dumps(message["data"])
    else:
        event, data = encoded[len(_HEAD) : split].decode(), encoded[split + len(_DATA) : -1]
    if event == "recommendationUpdates":
        packed = known() if known is not None else None
        if packed is not None and packed.frames(data):
            plans = packed.plans
        else:
            plans = orjson.dumps(orjson.loads(data)["plans"]).decode()
        return f'2["recommendationUpdates",{plans},{data.decode()}]'
    return f'2["{event}",{data.decode()}]'
