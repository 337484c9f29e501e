"""The async engine interface: the reference engine and the durable worker process (real, no mocks)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import AsyncIterator

import pytest

from rules.durable_compiler import DurableLimit
from rules.engine import DurableEngine, ReferenceEngine, make_engine
from rules.errors import EngineUnavailable, UnknownVersion
from rules.model import Catalogue
from rules.reference import ReferenceEvaluator
from rules.validator import load_catalogue
from tests.rules.test_durable_engine import (
    DEMO,
    QUESTIONS,
    a,
    catalogue,
    random_answers,
    random_bundle,
    rule,
    same_as_reference,
)

DEMO_CATALOGUE = load_catalogue(DEMO)


@pytest.fixture
async def durable() -> AsyncIterator[DurableEngine]:
    engine = DurableEngine(timeout=2.0)
    await engine.start()
    yield engine
    await engine.close()


def twenty_rules() -> Catalogue:
    return load_catalogue(random_bundle(random.Random(20), 20))


def test_make_engine_kinds() -> None:
    assert isinstance(make_engine("durable", 1.0), DurableEngine)
    assert isinstance(make_engine("reference", 1.0), ReferenceEngine)
    with pytest.raises(ValueError, match="unknown engine"):
        make_engine("drools", 1.0)


async def test_reference_engine() -> None:
    engine = make_engine("reference", 1.0)
    await engine.start()
    await engine.load(1, DEMO_CATALOGUE)
    got = await engine.evaluate(1, {"dataUsage": "heavy"})
    assert got == ReferenceEvaluator(DEMO_CATALOGUE, 1).evaluate({"dataUsage": "heavy"})
    assert (await engine.stats())["versions"] == [1]
    await engine.unload(1)
    with pytest.raises(UnknownVersion):
        await engine.evaluate(1, {})
    await engine.close()


async def test_durable_engine_matches_reference_pipelined(durable: DurableEngine) -> None:
    await durable.load(7, DEMO_CATALOGUE)
    rng = random.Random(3)
    answer_sets = [random_answers(rng, DEMO["questions"]) for _ in range(300)]
    # All requests are in flight at once: replies are matched to requests by id.
    results = await asyncio.gather(*(durable.evaluate(7, x) for x in answer_sets))
    reference = ReferenceEvaluator(DEMO_CATALOGUE, 7)
    for got, answers in zip(results, answer_sets, strict=True):
        assert got.version == 7
        same_as_reference(got, reference.evaluate(answers))
    stats = await durable.stats()
    assert stats["versions"] == [7] and stats["liveSessions"] == 0 and stats["restarts"] == 0


async def test_unknown_version_and_limits_are_errors_not_restarts(durable: DurableEngine) -> None:
    with pytest.raises(UnknownVersion):
        await durable.evaluate(1, {})
    too_deep = {"all": [{"any": [a("==", i), a("==", True, "flag")]} for i in range(16)]}
    with pytest.raises(DurableLimit) as info:
        await durable.load(1, catalogue([rule("deep", too_deep)]))
    assert [p.path for p in info.value.problems] == ["rules[0].when"]
    with pytest.raises(UnknownVersion):
        await durable.evaluate(1, {})
    pid = durable.pid
    await durable.load(2, catalogue([rule("ok", a("exists"))]))
    assert (await durable.evaluate(2, {"num": 1})).fired == ("ok",)
    assert durable.pid == pid


async def test_kill_9_mid_evaluation_fails_it_and_the_next_call_gets_a_fresh_worker(
    durable: DurableEngine,
) -> None:
    await durable.load(1, DEMO_CATALOGUE)
    answers = {"dataUsage": "heavy", "budget": 30}
    want = await durable.evaluate(1, answers)
    pid = durable.pid
    assert pid is not None
    # Stopped first, so that the evaluation is certainly in flight when the kill lands.
    os.kill(pid, signal.SIGSTOP)
    in_flight = [asyncio.create_task(durable.evaluate(1, answers)) for _ in range(3)]
    await asyncio.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    for task in in_flight:
        with pytest.raises(EngineUnavailable, match="exited"):
            await task
    again = await durable.evaluate(1, answers)  # version 1 was reloaded into the new worker
    assert again == want
    assert durable.pid not in (None, pid)
    assert (await durable.stats())["restarts"] == 1


async def test_kill_9_during_a_burst(durable: DurableEngine) -> None:
    await durable.load(1, DEMO_CATALOGUE)
    rng = random.Random(5)
    tasks = [
        asyncio.create_task(durable.evaluate(1, random_answers(rng, DEMO["questions"]))) for _ in range(3000)
    ]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    pid = durable.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert failed and all(isinstance(o, EngineUnavailable) for o in failed)
    assert len(failed) < len(outcomes)  # those answered before the kill kept their result
    assert (await durable.evaluate(1, {})).visible


async def test_hung_worker_times_out_and_is_replaced() -> None:
    engine = DurableEngine(timeout=0.5)
    try:
        await engine.load(1, DEMO_CATALOGUE)
        pid = engine.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # a hang in the C code looks like this from outside
        started = asyncio.get_running_loop().time()
        results = await asyncio.gather(*(engine.evaluate(1, {}) for _ in range(3)), return_exceptions=True)
        elapsed = asyncio.get_running_loop().time() - started
        assert all(isinstance(r, EngineUnavailable) for r in results)
        assert "did not answer within 0.5 s" in str(results[0])
        assert 0.4 < elapsed < 2.0
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed (SIGKILL works on a stopped process) and reaped
        got = await engine.evaluate(1, {"dataUsage": "light"})
        same_as_reference(got, ReferenceEvaluator(DEMO_CATALOGUE, 1).evaluate({"dataUsage": "light"}))
        assert engine.pid not in (None, pid)
    finally:
        await engine.close()


async def test_loading_the_next_version_does_not_stop_evaluations() -> None:
    """Evaluations of N queue behind the load of N+1 (1-2 s here) without being taken for a hang."""
    engine = DurableEngine(timeout=0.5)
    big = catalogue(
        [
            rule(
                f"r{i}",
                {"all": [a("==", i % 1000), a("in", ["x", "yzw"[i % 3]], "pick"), a("!=", f"n{i}", "note")]},
            )
            for i in range(2000)
        ]
    )
    old = twenty_rules()
    try:
        await engine.load(1, old)
        rng = random.Random(9)
        answer_sets = [random_answers(rng, QUESTIONS) for _ in range(40)]
        reference = ReferenceEvaluator(old, 1)
        stop = asyncio.Event()
        checked = 0

        async def keep_evaluating() -> None:
            nonlocal checked
            while not stop.is_set():
                results = await asyncio.gather(*(engine.evaluate(1, x) for x in answer_sets))
                for got, answers in zip(results, answer_sets, strict=True):
                    same_as_reference(got, reference.evaluate(answers))
                checked += len(results)

        evaluating = asyncio.create_task(keep_evaluating())
        await asyncio.sleep(0.05)
        await engine.load(2, big)  # compiled and registered while version 1 is being served
        got = await engine.evaluate(2, {"num": 5, "pick": "x", "note": "q"})
        assert set(got.fired) == {"r5", "r1005"}
        await asyncio.sleep(0.05)
        stop.set()
        await evaluating
        assert checked >= 80
        assert (await engine.stats())["versions"] == [1, 2]
        await engine.unload(1)
        with pytest.raises(UnknownVersion):
            await engine.evaluate(1, {})
        assert (await engine.evaluate(2, {})).version == 2
        assert (await engine.stats())["restarts"] == 0
    finally:
        await engine.close()


async def test_1000_version_swaps_keep_worker_memory_flat(durable: DurableEngine) -> None:
    cat = twenty_rules()
    answers = random_answers(random.Random(1), QUESTIONS)

    async def cycle(version: int) -> None:
        await durable.load(version, cat)
        await durable.evaluate(version, answers)
        await durable.unload(version)

    for version in range(1, 101):  # warm-up: allocator pools and caches settle
        await cycle(version)
    before = (await durable.stats())["rss"]
    for version in range(101, 1101):
        await cycle(version)
    stats = await durable.stats()
    after = stats["rss"]
    assert stats["versions"] == [] and stats["liveSessions"] == 0
    print(f"worker RSS before {before / 2**20:.1f} MiB, after 1000 swaps {after / 2**20:.1f} MiB")
    assert after < before * 1.10


async def test_close_stops_the_worker() -> None:
    engine = DurableEngine()
    await engine.start()
    pid = engine.pid
    assert pid is not None
    await engine.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(UnknownVersion):
        await engine.evaluate(1, {})


async def test_load_needs_the_raw_bundle(durable: DurableEngine) -> None:
    bare = Catalogue("x", (), (), (), (), DEMO_CATALOGUE.ranking)
    with pytest.raises(Exception, match="bundle"):
        await durable.load(1, bare)
