"""The full collection paid for by ended connections (service/collector.py), with the real ``gc``."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from service.collector import Collector


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only a collection frees it


@pytest.fixture
def tuned() -> Iterator[Collector]:
    """A collector that tuned this process's gc, automatic collections off; restored afterwards."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    collector = Collector(every=3)
    collector.tune()
    gc.disable()  # only the collector's own collection may free the cycle below
    try:
        yield collector
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()


async def test_a_cycle_left_by_ended_connections_is_freed_once_enough_have_ended(tuned: Collector) -> None:
    for _ in range(5):
        tuned.opened()
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage

    tuned.closed()
    tuned.closed()  # 2 ended, 3 open: below max(every=3, open)
    await asyncio.sleep(0)
    assert gone() is not None and tuned.collections == 0

    tuned.closed()  # 3 ended, 2 open: collect soon, on the loop
    assert gone() is not None, "not inside connection_lost"
    await asyncio.sleep(0)
    assert gone() is None and tuned.collections == 1
    assert tuned.ended == 0


async def test_with_many_open_it_waits_for_as_many_to_end(tuned: Collector) -> None:
    for _ in range(10):
        tuned.opened()
    for _ in range(4):
        tuned.closed()  # 4 ended, 6 open
    await asyncio.sleep(0)
    assert tuned.collections == 0
    tuned.opened()
    tuned.closed()
    tuned.closed()  # 6 ended, 5 open
    await asyncio.sleep(0)
    assert tuned.collections == 1


async def test_an_untuned_process_leaves_collections_to_python() -> None:
    collector = Collector(every=1)
    collector.opened()
    collector.closed()
    await asyncio.sleep(0)
    assert collector.collections == 0
