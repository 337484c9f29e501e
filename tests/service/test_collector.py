"""The full collection paid for by ended connections (service/collector.py), with the real ``gc``."""

from __future__ import annotations

import asyncio
import gc
import sys
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


def _cycles(share: float) -> list[weakref.ref[Node]]:
    """Cyclic garbage worth ``share`` of the process's allocated blocks (a Node and its __dict__
    are two blocks); weak references to some of it."""
    count = int(sys.getallocatedblocks() * share / 2) + 1
    refs = []
    for i in range(count):
        node = Node()
        if i % 1000 == 0:
            refs.append(weakref.ref(node))
    return refs


async def test_memory_grown_by_cyclic_garbage_is_collected(tuned: Collector) -> None:
    refs = _cycles(0.4)
    assert all(r() is not None for r in refs)  # automatic collections are off: still there
    assert tuned.check() is True
    assert all(r() is None for r in refs)
    assert tuned.grown == 1 and tuned.collections == 1
    assert tuned.check() is False  # the floor is now the collected process


async def test_memory_that_only_turns_over_runs_no_full_collection(tuned: Collector) -> None:
    floor = sys.getallocatedblocks()
    for _ in range(20):  # like sessions replacing their kept updates: much allocated, as much freed
        kept = [{"plan": i, "reasons": [i]} for i in range(floor // 40)]
        del kept
    assert tuned.check() is False and tuned.collections == 0


async def test_growth_is_checked_on_the_event_loop_until_stopped(tuned: Collector) -> None:
    tuned.check_seconds = 0.01
    tuned.tune()  # on this loop: the checks start
    refs = _cycles(0.4)
    for _ in range(50):
        await asyncio.sleep(0.01)
        if tuned.grown:
            break
    assert tuned.grown == 1 and all(r() is None for r in refs)
    tuned.stop()
    refs = _cycles(0.4)
    await asyncio.sleep(0.05)
    assert tuned.grown == 1 and all(r() is not None for r in refs)
