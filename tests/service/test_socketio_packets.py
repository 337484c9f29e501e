"""Hub frames as Socket.IO packets: the plans argument, then the whole update, byte for byte."""

from __future__ import annotations

from typing import Any

import orjson

from service.hub import frame
from service.socketio_packets import Packer, event_packet

UPDATE: dict[str, Any] = {
    "revision": 3,
    "version": 2,
    "stage": "enriched",
    "answers": {"plans": ["a"], "notes": 'say "plans":[] here'},
    "questions": [{"id": "plans", "visible": True, "answered": True}],
    "plans": [{"id": "max-50", "rank": 1, "estimate": {"value": 30}, "note": "é ✓"}],
    "excluded": [{"id": "mini", "plans": []}],
    "totalPlans": 2,
    "matchedPlans": 1,
    "step": 1,
}


def decoded(packet: str) -> list[Any]:
    assert packet.startswith("2[")
    result: list[Any] = orjson.loads(packet[1:])
    return result


def test_an_update_is_two_arguments_with_or_without_reply_to() -> None:
    packer = Packer()
    for data in (UPDATE, {**UPDATE, "replyTo": "c-7"}):
        packet = event_packet(frame("recommendationUpdates", data), lambda: packer.packed(UPDATE))
        assert decoded(packet) == ["recommendationUpdates", UPDATE["plans"], data]


def test_another_update_than_the_known_one_is_parsed_not_mixed_up() -> None:
    packer = Packer()
    for other in (
        {**UPDATE, "plans": [{"id": "max-50", "rank": 1, "estimate": {"value": 31}}]},
        {**UPDATE, "step": 2},  # same plans, another update: the plans are still right
        {**UPDATE, "answers": {}},
        {key: value for key, value in UPDATE.items() if key != "revision"},
    ):
        packet = event_packet(frame("recommendationUpdates", other), lambda: packer.packed(UPDATE))
        assert decoded(packet) == ["recommendationUpdates", other["plans"], other]


def test_the_encoding_is_made_once_per_update() -> None:
    packer = Packer()
    first = packer.packed(UPDATE)
    assert packer.packed(UPDATE) is first
    assert packer.packed(dict(UPDATE)) is not first  # an equal but other payload is encoded again


def test_other_events_are_one_argument() -> None:
    saved = {"selectionId": "x", "planId": "max-50", "revision": 3, "version": 2}
    assert decoded(event_packet(frame("selectionSaved", saved))) == ["selectionSaved", saved]
    assert decoded(event_packet(orjson.dumps({"data": saved, "event": "error"}))) == ["error", saved]
