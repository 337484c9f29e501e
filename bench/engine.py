"""Rules engine benchmark: durable-rules (worker process), the reference evaluator, zen-engine.

Run ``.venv/bin/python bench/engine.py`` (``make bench``); ``--quick`` for a smoke run,
``--sizes demo,20x50`` to choose catalogues. For each catalogue (the demo one and generated ones
of 20 rules/50 plans, 200/500, 1000/5000) and engine it measures one evaluation of 10 answers
from scratch (every answer set distinct) through the engine's real interface: p50/p99 latency,
evaluations per second with sequential awaits, version load time, RSS. zen-engine runs an
equivalent decision table built from the answer-only subset of the catalogue (see README.md).
Then 1000 durable version swaps for the worker's RSS growth. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil
import zen

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalogues import answer_only_subset, answer_sets, generate  # noqa: E402

from rules.durable_compiler import limit_problems  # noqa: E402
from rules.engine import DurableEngine, make_engine  # noqa: E402
from rules.errors import CatalogueInvalid  # noqa: E402
from rules.estimate import EstimateCalculator, calculator  # noqa: E402
from rules.evaluation import Evaluation  # noqa: E402
from rules.matcher import Matcher  # noqa: E402
from rules.model import All, AnswerTest, AnyOf, Catalogue, Condition, Derive, Not, Question  # noqa: E402
from rules.reference import ReferenceEvaluator  # noqa: E402
from rules.validator import load_catalogue  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo-mobile.json"
SIZES: dict[str, tuple[int, int] | None] = {
    "demo": None,
    "20x50": (20, 50),
    "200x500": (200, 500),
    "1000x5000": (1000, 5000),
}
ENGINES = ("durable", "reference", "zen")
# Measured evaluations per catalogue and engine (after a warm-up): full run, then --quick.
RUNS: dict[str, dict[str, int]] = {
    "demo": {"durable": 10000, "reference": 10000, "zen": 10000},
    "20x50": {"durable": 10000, "reference": 10000, "zen": 10000},
    "200x500": {"durable": 5000, "reference": 5000, "zen": 5000},
    "1000x5000": {"durable": 1500, "reference": 3000, "zen": 3000},
}
QUICK_RUNS = {"durable": 100, "reference": 200, "zen": 200}
WARMUP, QUICK_WARMUP = 50, 10
LOADS, QUICK_LOADS = 3, 1
AGREEMENT_SAMPLE = 100  # evaluations checked against the reference evaluator
MiB = 2**20


@dataclass
class Result:
    catalogue: str
    engine: str
    p50_ms: float | None = None
    p99_ms: float | None = None
    evals_per_s: float | None = None
    load_ms: float | None = None
    rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "catalogue": self.catalogue,
            "engine": self.engine,
            "p50_ms": _round(self.p50_ms),
            "p99_ms": _round(self.p99_ms),
            "evals_per_s": _round(self.evals_per_s, 1),
            "load_ms": _round(self.load_ms, 2),
            "rss_mb": _round(self.rss_mb, 1),
        }
        out.update(self.extra)
        return out


@dataclass
class Timing:
    latencies: list[float]  # seconds per evaluation
    wall: float  # seconds for the whole sequential loop
    cpu: float  # CPU seconds (this process, plus the worker's for durable)

    def fill(self, result: Result) -> None:
        result.p50_ms = statistics.median(self.latencies) * 1e3
        result.p99_ms = percentile(self.latencies, 0.99) * 1e3
        result.evals_per_s = len(self.latencies) / self.wall
        result.extra["n"] = len(self.latencies)
        result.extra["cpu_us_per_eval"] = round(self.cpu / len(self.latencies) * 1e6, 1)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


# -- timing loops ----------------------------------------------------------------------------


async def time_async(
    evaluate: Callable[[dict[str, Any]], Awaitable[Evaluation]],
    sets: list[dict[str, Any]],
    warmup: int,
    worker: psutil.Process | None = None,
) -> tuple[Timing, list[Evaluation]]:
    """Sequential awaits of ``evaluate`` over ``sets``; the first ``warmup`` are not measured."""
    for answers in sets[:warmup]:
        await evaluate(answers)
    measured = sets[warmup:]
    kept: list[Evaluation] = []
    latencies: list[float] = []
    clock = time.perf_counter
    cpu0 = time.process_time() + (_cpu(worker) if worker else 0.0)
    start = clock()
    for answers in measured:
        t0 = clock()
        evaluation = await evaluate(answers)
        latencies.append(clock() - t0)
        if len(kept) < AGREEMENT_SAMPLE:
            kept.append(evaluation)
    wall = clock() - start
    cpu = time.process_time() + (_cpu(worker) if worker else 0.0) - cpu0
    return Timing(latencies, wall, cpu), kept


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def agreement(cat: Catalogue, got: list[Evaluation], sets: list[dict[str, Any]]) -> int:
    """How many of ``got`` differ from the reference evaluator (fired compared as sets)."""
    reference = ReferenceEvaluator(cat, 0)
    bad = 0
    for evaluation, answers in zip(got, sets, strict=False):
        want = reference.evaluate(answers)
        if (evaluation.visible, set(evaluation.fired), evaluation.facts) != (
            want.visible,
            set(want.fired),
            want.facts,
        ):
            bad += 1
    return bad


# -- engines ---------------------------------------------------------------------------------


async def bench_durable(name: str, cat: Catalogue, sets: list[dict[str, Any]], cfg: Config) -> Result:
    result = Result(name, "durable", extra={"rss_kind": "worker_total"})
    problems = limit_problems(cat)
    if problems:
        result.extra["error"] = "durable limits: " + "; ".join(str(p) for p in problems)
        return result
    engine = DurableEngine(timeout=30.0, load_timeout=900.0)
    try:
        await engine.start()
        before = (await engine.stats())["rss"]
        loads = []
        for version in range(1, cfg.loads + 1):
            t0 = time.perf_counter()
            await engine.load(version, cat)
            loads.append(time.perf_counter() - t0)
            if version > 1:
                await engine.unload(version - 1)
        version = cfg.loads
        result.load_ms = statistics.median(loads) * 1e3
        result.extra["load_ms_first"] = round(loads[0] * 1e3, 2)
        assert engine.pid is not None
        worker = psutil.Process(engine.pid)
        timing, kept = await time_async(
            lambda answers: engine.evaluate(version, answers), sets, cfg.warmup, worker
        )
        timing.fill(result)
        stats = await engine.stats()
        result.rss_mb = stats["rss"] / MiB
        result.extra["rss_delta_mb"] = round((stats["rss"] - before) / MiB, 1)
        result.extra["restarts"] = stats["restarts"]
        result.extra["mismatches"] = agreement(cat, kept, sets[cfg.warmup :])
    except Exception as exc:  # reported as measured: a limit or a crash is a result too
        result.extra["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await engine.close()
    return result


async def bench_reference(name: str, cat: Catalogue, sets: list[dict[str, Any]], cfg: Config) -> Result:
    result = Result(name, "reference", extra={"rss_kind": "fresh_process_delta"})
    engine = make_engine("reference")
    await engine.start()
    loads = []
    for version in range(1, cfg.loads + 1):
        t0 = time.perf_counter()
        await engine.load(version, cat)
        loads.append(time.perf_counter() - t0)
        if version > 1:
            await engine.unload(version - 1)
    version = cfg.loads
    result.load_ms = statistics.median(loads) * 1e3
    timing, kept = await time_async(lambda answers: engine.evaluate(version, answers), sets, cfg.warmup)
    timing.fill(result)
    result.extra["mismatches"] = agreement(cat, kept, sets[cfg.warmup :])
    await engine.close()
    return result


def zen_subset(bundle: dict[str, Any]) -> tuple[Catalogue, ZenTable]:
    """The answer-only subset of ``bundle`` (minus any rule ZEN cannot express) and its table."""
    subset = answer_only_subset(bundle)
    table = ZenTable(load_catalogue(subset))
    if table.skipped:
        subset["rules"] = [r for r in subset["rules"] if r["id"] not in table.skipped]
    return load_catalogue(subset), table


def bench_zen(name: str, sub: Catalogue, table: ZenTable, sets: list[dict[str, Any]], cfg: Config) -> Result:
    """zen-engine: ``create_decision`` is the load, ``decision.evaluate`` one evaluation."""
    result = Result(
        name,
        "zen",
        extra={"rss_kind": "fresh_process_delta", "zen_subset": True, "subset_rules": len(table.rows)},
    )
    content = json.dumps(table.graph())
    loads = []
    decision: Any = None
    for _ in range(cfg.loads):
        t0 = time.perf_counter()
        decision = zen.ZenEngine().create_decision(content)
        loads.append(time.perf_counter() - t0)
    result.load_ms = statistics.median(loads) * 1e3
    aliases = table.aliases
    for answers in sets[: cfg.warmup]:
        decision.evaluate({aliases[q]: v for q, v in answers.items() if q in aliases})
    clock = time.perf_counter
    latencies: list[float] = []
    fired: list[set[str]] = []
    internal: list[str] = []
    cpu0, start = time.process_time(), clock()
    for answers in sets[cfg.warmup :]:
        t0 = clock()
        # The context is built inside the clock: it is part of zen's evaluation, as the answers
        # fact is part of durable's.
        out = decision.evaluate({aliases[q]: v for q, v in answers.items() if q in aliases})
        latencies.append(clock() - t0)
        internal.append(out["performance"])
        if len(fired) < AGREEMENT_SAMPLE:
            fired.append({row["rule"] for row in out["result"]})
    Timing(latencies, clock() - start, time.process_time() - cpu0).fill(result)
    # zen's own measure of the graph evaluation, without the binding's per-call costs.
    result.extra["zen_internal_p50_ms"] = _round(statistics.median(_duration_ms(x) for x in internal))
    reference = ReferenceEvaluator(sub, 0)
    result.extra["mismatches"] = sum(
        got != set(reference.evaluate(answers).fired)
        for got, answers in zip(fired, sets[cfg.warmup :], strict=False)
    )
    return result


def _duration_ms(text: str) -> float:
    """zen's ``performance`` text ("37.1µs", "1.5ms") in milliseconds."""
    for unit, scale in (("ns", 1e-6), ("µs", 1e-3), ("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise ValueError(f"unknown duration {text!r}")


async def bench_reference_subset(sub: Catalogue, sets: list[dict[str, Any]], cfg: Config) -> Timing:
    """The reference engine on exactly the rules zen runs (like for like)."""
    engine = make_engine("reference")
    await engine.load(1, sub)
    timing, _ = await time_async(lambda answers: engine.evaluate(1, answers), sets, cfg.warmup)
    await engine.close()
    return timing


# -- the zen decision table ------------------------------------------------------------------


class _Unsupported(ValueError):
    pass


class ZenTable:
    """A JDM graph with one decision table (hit policy "collect"): one row per rule.

    A rule's top-level conjunction of plain tests on distinct scalar questions goes into one
    input column per question (unary tests on ``$``); anything else (any, not, exists, multi
    tests) into an expression column. Every test guards against an unanswered question (null)
    the way the rule language does. Outputs: the rule id and the facts it derives.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.questions = {q.id: q for q in catalogue.questions}
        self.aliases = {q.id: f"q{i}" for i, q in enumerate(catalogue.questions)}  # ids may hold '-'
        self.columns: dict[str, str] = {}  # column id -> question id ("" for the expression column)
        self.rows: list[dict[str, str]] = []
        self.skipped: set[str] = set()
        for rule in catalogue.rules:
            if not rule.enabled:
                continue
            try:
                self.rows.append(
                    self._row(rule.id, rule.when, [e for e in rule.then if isinstance(e, Derive)])
                )
            except _Unsupported:
                self.skipped.add(rule.id)

    def _row(self, rule_id: str, when: Condition, derives: list[Derive]) -> dict[str, str]:
        row = {"_id": rule_id, "out_rule": _lit(rule_id)}
        row["out_facts"] = "[" + ", ".join(_lit(f"{d.fact}={d.value}") for d in derives) + "]"
        rest: list[str] = []
        for cond in when.items if isinstance(when, All) else (when,):
            if isinstance(cond, AnswerTest) and cond.op not in ("exists", "not_exists"):
                q = self.questions[cond.answer]
                column = f"in_{self.aliases[q.id]}"
                if q.type != "multi" and column not in row:
                    self.columns[column] = q.id
                    row[column] = f"$ != null and {_test('$', q, cond.op, cond.value)}"
                    continue
            rest.append(self._expr(cond))
        if rest:
            self.columns["in_expr"] = ""
            row["in_expr"] = " and ".join(f"({r})" for r in rest)
        return row

    def _expr(self, cond: Condition) -> str:
        if isinstance(cond, All):
            return " and ".join(f"({self._expr(c)})" for c in cond.items) or "true"
        if isinstance(cond, AnyOf):
            return " or ".join(f"({self._expr(c)})" for c in cond.items) or "false"
        if isinstance(cond, Not):
            return f"not ({self._expr(cond.item)})"
        if not isinstance(cond, AnswerTest):
            raise _Unsupported("fact tests need chaining")
        q = self.questions[cond.answer]
        ref = self.aliases[q.id]
        if cond.op == "exists":
            return f"{ref} != null"
        if cond.op == "not_exists":
            return f"{ref} == null"
        return f"{ref} != null and {_test(ref, q, cond.op, cond.value)}"

    def graph(self) -> dict[str, Any]:
        inputs = [
            {"id": column, "name": qid or "condition", "field": self.aliases[qid] if qid else ""}
            for column, qid in sorted(self.columns.items())
        ]
        outputs = [
            {"id": "out_rule", "name": "rule", "field": "rule"},
            {"id": "out_facts", "name": "facts", "field": "facts"},
        ]
        table = {"hitPolicy": "collect", "inputs": inputs, "outputs": outputs, "rules": self.rows}
        nodes = [
            {"id": "request", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {"id": "rules", "type": "decisionTableNode", "name": "Rules", "position": {"x": 300, "y": 0}},
            {"id": "response", "type": "outputNode", "name": "Response", "position": {"x": 600, "y": 0}},
        ]
        nodes[0]["content"] = nodes[2]["content"] = {"schema": ""}
        nodes[1]["content"] = table
        edges = [
            {"id": "e1", "sourceId": "request", "targetId": "rules", "type": "edge"},
            {"id": "e2", "sourceId": "rules", "targetId": "response", "type": "edge"},
        ]
        return {"nodes": nodes, "edges": edges}


def _test(ref: str, q: Question, op: str, value: Any) -> str:
    """A ZEN expression testing a present answer (``ref``) as the rule language does."""
    if q.type == "multi":
        if op == "contains":
            return f"contains({ref}, {_lit(value)})"
        items = ", ".join(_lit(v) for v in value)
        return f"{'some' if op == 'contains_any' else 'all'}([{items}], # in {ref})"
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return f"{ref} {op} {_lit(value)}"
    if op in ("in", "not_in"):
        test = f"{ref} in [{', '.join(_lit(v) for v in value)}]"
        return test if op == "in" else f"not ({test})"
    if op == "between":
        return f"{ref} >= {_lit(value[0])} and {ref} <= {_lit(value[1])}"
    raise _Unsupported(op)


def _lit(value: Any) -> str:
    """A ZEN literal (ZEN strings have no escapes: pick the quote the text does not contain)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        if '"' not in value:
            return f'"{value}"'
        if "'" not in value:
            return f"'{value}'"
    raise _Unsupported(repr(value))


# -- swaps, matcher --------------------------------------------------------------------------


async def bench_swaps(swaps: int, warmup: int) -> dict[str, Any]:
    """Load version N+1 of a 20-rule catalogue, evaluate it, unload N; worker RSS growth."""
    variants = [load_catalogue(generate(20, 50, seed)) for seed in range(8)]
    sets = answer_sets(variants[0], swaps + warmup + 1, seed=99)
    engine = DurableEngine(timeout=30.0)
    await engine.start()
    times: list[float] = []
    try:
        await engine.load(0, variants[0])
        before = 0
        for n in range(1, swaps + warmup + 1):
            if n == warmup + 1:
                before = (await engine.stats())["rss"]
            t0 = time.perf_counter()
            await engine.load(n, variants[n % len(variants)])
            await engine.evaluate(n, sets[n])
            await engine.unload(n - 1)
            times.append(time.perf_counter() - t0)
        stats = await engine.stats()
    finally:
        await engine.close()
    after = stats["rss"]
    return {
        "swaps": swaps,
        "warmup_swaps": warmup,
        "rss_before_mb": round(before / MiB, 1),
        "rss_after_mb": round(after / MiB, 1),
        "growth": round(after / before - 1, 4),
        "swap_ms_p50": round(statistics.median(times) * 1e3, 2),
        "versions_left": stats["versions"],
        "live_sessions": stats["liveSessions"],
    }


def bench_matcher(name: str, cat: Catalogue, sets: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Not an engine: the plan matcher after an evaluation, to show where the plan count matters."""
    reference, matcher = ReferenceEvaluator(cat, 0), Matcher(cat)
    evaluations = [(reference.evaluate(a), a) for a in sets[:n]]
    latencies = []
    for evaluation, answers in evaluations:
        t0 = time.perf_counter()
        matcher.match(evaluation, answers)
        latencies.append(time.perf_counter() - t0)
    return {
        "catalogue": name,
        "plans": len(cat.active_plans),
        "n": n,
        "p50_ms": round(statistics.median(latencies) * 1e3, 3),
    }


# -- the catalogue's estimate (CATALOGUE.md "Estimate and display") --------------------------

ESTIMATE_RUNS = {"demo": 2000, "20x50": 2000, "200x500": 1000, "1000x5000": 300}
COMPILES = {"demo": 50, "20x50": 50, "200x500": 20, "1000x5000": 10}
# The demo's shape (base price + overage with max/ceil + a fee spread with default/if) over the
# generated catalogues' attributes and questions.
GENERATED_FORMULA = (
    "plan.monthlyPrice + ceil(max(0, gb * usage - plan.dataGb)) * default(plan.extraGbPrice, 2)"
    " + max(0, mins - default(plan.minutes, 0)) * 0.02"
    " + default(plan.setupFee, 0) / if(default(plan.contractMonths, 0) >= 1, plan.contractMonths, 12)"
)


def with_estimate(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with an estimate: the demo's own, or one of realistic shape for generated ones."""
    if "estimate" in bundle:
        return bundle
    questions = bundle["questions"]
    numbers = [q for q in questions if q["type"] == "number"]

    def number(unit: str, fallback: int) -> str:
        """A number question with this unit, else any (the generator's units vary with the seed)."""
        return next(
            (q["id"] for q in numbers if q.get("unit") == unit), numbers[fallback % len(numbers)]["id"]
        )

    gb, mins = number("GB", 0), number("min", 1)
    choice = next(q for q in questions if q["type"] == "choice")
    weights = [0.5, 1, 1.5, 2, 3, 4]
    usage_map = {o["value"]: weights[i % len(weights)] for i, o in enumerate(choice["options"])}
    return {
        **bundle,
        "estimate": {
            "label": "Estimated monthly cost",
            "currency": "EUR",
            "decimals": 2,
            "inputs": [
                {"name": "gb", "answer": gb, "default": 10},
                {"name": "mins", "answer": mins, "default": 0},
                {"name": "usage", "answer": choice["id"], "map": usage_map, "default": 1},
            ],
            "formula": GENERATED_FORMULA,
            "explanation": "{plan.monthlyPrice} EUR a month, {gb} GB: {estimate}",
        },
    }


def bench_estimate(
    name: str, bundle: dict[str, Any], sets: list[dict[str, Any]], cfg: Config
) -> dict[str, Any]:
    """Compile time per version and the time to estimate every plan (a superset of the matched ones).

    Compile: parse + :class:`EstimateCalculator` + the first evaluation (which fills the per-plan
    caches). Estimate: inputs from the answers, the value of every active plan (``for_plans``, what
    the enriched stage calls with the matched plans) and the wire payload of the first ``limit``.
    Baseline in the same run: a plain Python sum of one attribute over the same plans.
    """
    cat = load_catalogue(with_estimate(bundle))
    ids = [p.id for p in cat.active_plans]
    visible = [q.id for q in cat.questions]
    limit = cat.ranking.limit
    compiles = 3 if cfg.quick else COMPILES[name] if name in COMPILES else 20
    compile_times = []
    calc: EstimateCalculator | None = None
    for i in range(compiles):
        t0 = time.perf_counter()
        calc = calculator(cat)
        assert calc is not None
        first = calc.inputs(sets[i % len(sets)], visible) or calc.inputs({}, visible)
        if first is not None:
            calc.for_plans(first, ids)
        compile_times.append(time.perf_counter() - t0)
    assert calc is not None
    runs = min(len(sets), 50 if cfg.quick else ESTIMATE_RUNS.get(name, 1000))
    times, base_times, valued, unknown = [], [], 0, 0
    plans = cat.active_plans
    for answers in sets[:runs]:
        t0 = time.perf_counter()
        inputs = calc.inputs(answers, visible)
        if inputs is not None:
            values = calc.for_plans(inputs, ids)
            for plan in plans[:limit]:
                value = values.get(plan.id)
                if value is not None:
                    calc.payload(plan, inputs, value)
        times.append(time.perf_counter() - t0)
        if inputs is None:
            unknown += 1
        else:
            valued += len(values)
        t0 = time.perf_counter()
        total = 0.0
        for plan in plans:
            price = plan.attributes.get("monthlyPrice")
            if price is not None:
                total += price
        base_times.append(time.perf_counter() - t0)
    p50, base50 = statistics.median(times) * 1e3, statistics.median(base_times) * 1e3
    return {
        "catalogue": name,
        "plans": len(ids),
        "compile_ms_p50": round(statistics.median(compile_times) * 1e3, 3),
        "compile_ms_p95": round(percentile(compile_times, 0.95) * 1e3, 3),
        "n": runs,
        "estimate_ms_p50": round(p50, 4),
        "estimate_ms_p95": round(percentile(times, 0.95) * 1e3, 4),
        "baseline_sum_ms_p50": round(base50, 4),
        "ratio_to_baseline": round(p50 / base50, 1) if base50 else None,
        "plans_with_value_per_run": round(valued / max(1, runs - unknown), 1),
        "unknown_inputs_runs": unknown,
    }


# -- memory of the in-process engines -------------------------------------------------------

PROBE_EVALUATIONS = 200


def rss_probe(engine: str, size: str, seed: int) -> dict[str, int]:
    """In this (fresh) process: RSS before and after loading ``engine`` and evaluating with it.

    The catalogue (and for zen its decision table JSON) is built before the first reading, so
    the difference is the engine's own memory, unclouded by what earlier measurements freed.
    """
    bundle, cat, _ = load_size(size, seed)
    sets = answer_sets(cat, PROBE_EVALUATIONS, seed=seed + 1)
    if engine == "zen":
        _, table = zen_subset(bundle)
        content, aliases = json.dumps(table.graph()), table.aliases
        before = rss()
        decision = zen.ZenEngine().create_decision(content)
        for answers in sets:
            decision.evaluate({aliases[q]: v for q, v in answers.items() if q in aliases})
    else:
        before = rss()
        reference = make_engine("reference")

        async def evaluate_all() -> None:
            await reference.load(1, cat)
            for answers in sets:
                await reference.evaluate(1, answers)

        tracemalloc.start()
        asyncio.run(evaluate_all())
        traced = tracemalloc.get_traced_memory()[0]  # Python objects still held (the engine)
        tracemalloc.stop()
        return {"before": before, "after": rss(), "traced": traced}
    return {"before": before, "after": rss()}


def measure_rss(result: Result, seed: int) -> None:
    """Run :func:`rss_probe` in a child process and record its delta (and total) on ``result``."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--rss-probe",
        f"{result.engine}:{result.catalogue}",
    ]
    try:
        done = subprocess.run(  # blocking on purpose: nothing else runs meanwhile
            [*command, "--seed", str(seed)], capture_output=True, text=True, timeout=600, check=True
        )
        probe = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        result.extra["rss_error"] = f"{type(exc).__name__}: {exc}"
        return
    result.rss_mb = (probe["after"] - probe["before"]) / MiB
    result.extra["rss_total_mb"] = round(probe["after"] / MiB, 1)
    if "traced" in probe:
        result.extra["python_alloc_mb"] = round(probe["traced"] / MiB, 2)


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Config:
    quick: bool
    sizes: list[str]
    swaps: int
    warmup: int
    loads: int
    seed: int

    def runs(self, size: str, engine: str) -> int:
        if self.quick:
            return QUICK_RUNS[engine] if size != "1000x5000" else QUICK_RUNS[engine] // 4
        return RUNS[size][engine]


def load_size(size: str, seed: int) -> tuple[dict[str, Any], Catalogue, dict[str, Any]]:
    shape = SIZES[size]
    bundle = json.loads(DEMO.read_text()) if shape is None else generate(*shape, seed=seed)
    t0 = time.perf_counter()
    try:
        cat = load_catalogue(bundle)
    except CatalogueInvalid as exc:
        raise SystemExit(f"{size}: the catalogue does not validate: {exc}") from exc
    info = {
        "catalogue": size,
        "rules": len(bundle["rules"]),
        "plans": len(bundle["plans"]),
        "questions": len(bundle["questions"]),
        "validate_ms": round((time.perf_counter() - t0) * 1e3, 1),
        "bundle_kb": round(len(orjson.dumps(bundle)) / 1024, 1),
    }
    return bundle, cat, info


async def run(cfg: Config) -> dict[str, Any]:
    results: list[Result] = []
    catalogues: list[dict[str, Any]] = []
    matcher: list[dict[str, Any]] = []
    estimates: list[dict[str, Any]] = []
    for size in cfg.sizes:
        bundle, cat, info = load_size(size, cfg.seed)
        catalogues.append(info)
        print(
            f"# {size}: {info['rules']} rules, {info['plans']} plans, {info['questions']} questions",
            flush=True,
        )
        most = max(cfg.runs(size, e) for e in ENGINES) + cfg.warmup
        sets = answer_sets(cat, most, seed=cfg.seed + 1)
        for engine in ENGINES:
            n = cfg.runs(size, engine) + cfg.warmup
            t0 = time.perf_counter()
            if engine == "durable":
                result = await bench_durable(size, cat, sets[:n], cfg)
            elif engine == "reference":
                result = await bench_reference(size, cat, sets[:n], cfg)
            else:
                sub, table = zen_subset(bundle)
                result = bench_zen(size, sub, table, sets[:n], cfg)
                result.extra["rules"] = info["rules"]
                lfl = Result(size, "reference")
                (await bench_reference_subset(sub, sets[:n], cfg)).fill(lfl)
                result.extra["reference_subset_p50_ms"] = _round(lfl.p50_ms)
                result.extra["reference_subset_p99_ms"] = _round(lfl.p99_ms)
                result.extra["reference_subset_evals_per_s"] = _round(lfl.evals_per_s, 1)
            if engine != "durable":
                measure_rss(result, cfg.seed)
            results.append(result)
            print(f"  {engine:<9} done in {time.perf_counter() - t0:.1f} s", flush=True)
        plans = len(cat.active_plans)
        if plans > 1000:  # about a second per match at 5000 plans
            samples = 3 if cfg.quick else 10
        else:
            samples = 10 if cfg.quick else (100 if plans > 100 else 500)
        matcher.append(bench_matcher(size, cat, sets, samples))
        estimates.append(bench_estimate(size, bundle, sets, cfg))
    swap: dict[str, Any] | None = None
    if cfg.swaps:
        print(f"# durable: {cfg.swaps} version swaps", flush=True)
        swap = await bench_swaps(cfg.swaps, 20 if cfg.quick else 50)
    return {
        "results": results,
        "catalogues": catalogues,
        "matcher": matcher,
        "estimate": estimates,
        "swap": swap,
    }


# -- report ----------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: list[Result]) -> None:
    head = (
        f"{'catalogue':<10} {'engine':<9} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'evals/s':>9} "
        f"{'cpu us':>8} {'load ms':>9} {'RSS MB':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        notes = []
        kind = r.extra.get("rss_kind")
        if kind == "worker_total":
            notes.append(f"RSS=worker total (+{r.extra.get('rss_delta_mb', 0)} MB for this version)")
        elif kind:
            alloc = r.extra.get("python_alloc_mb")
            held = f", Python objects held {alloc} MB" if alloc is not None else ""
            notes.append(f"RSS=delta in a fresh process (total {r.extra.get('rss_total_mb', '?')} MB{held})")
        if r.extra.get("zen_subset"):
            notes.append(
                f"answer-only subset {r.extra['subset_rules']}/{r.extra['rules']} rules; reference on the "
                f"same subset p50 {_fmt(r.extra.get('reference_subset_p50_ms'), '.4f')} ms; zen's own "
                f"timing p50 {_fmt(r.extra.get('zen_internal_p50_ms'), '.4f')} ms"
            )
        if r.extra.get("mismatches"):
            notes.append(f"{r.extra['mismatches']} RESULTS DIFFER FROM THE REFERENCE")
        if "error" in r.extra:
            notes.append(f"FAILED: {r.extra['error']}")
        print(
            f"{r.catalogue:<10} {r.engine:<9} {r.extra.get('n', 0):>5} {_fmt(r.p50_ms, '8.4f')} "
            f"{_fmt(r.p99_ms, '8.4f')} {_fmt(r.evals_per_s, '9.0f')} "
            f"{_fmt(r.extra.get('cpu_us_per_eval'), '8.1f')} {_fmt(r.load_ms, '9.2f')} "
            f"{_fmt(r.rss_mb, '7.1f')}"
        )
        for note in notes:
            print(f"{'':<21}- {note}")


def targets(results: list[Result], swap: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's targets: met or missed, with the margin."""
    by = {(r.catalogue, r.engine): r for r in results}
    out: list[dict[str, Any]] = []

    def at_most(name: str, value: float | None, limit: float, unit: str) -> None:
        if value is None:
            out.append({"target": name, "status": "not measured"})
            return
        margin = limit - value
        status = "met" if value <= limit else "missed"
        text = f"{value:.4g} {unit} vs <= {limit:g} {unit}: {abs(margin):.4g} {unit} " + (
            "to spare" if status == "met" else f"over ({value / limit - 1:+.0%})"
        )
        out.append({"target": name, "status": status, "value": value, "limit": limit, "detail": text})

    for size, limit in (("demo", 0.5), ("200x500", 2.5)):
        r = by.get((size, "durable"))
        at_most(f"durable {size} p50 <= {limit} ms", r.p50_ms if r else None, limit, "ms")
    for size in SIZES:
        ref, z = by.get((size, "reference")), by.get((size, "zen"))
        name = f"reference faster than zen at {size}"
        if z is None or z.p50_ms is None or ref is None or ref.p50_ms is None:
            out.append({"target": name, "status": "not measured"})
            continue
        same = z.extra["reference_subset_p50_ms"]
        status = "met" if same < z.p50_ms else "missed"
        detail = (
            f"p50 on the same answer-only subset: reference {same:.4f} ms vs zen {z.p50_ms:.4f} ms "
            f"({z.p50_ms / same:.1f}x); full reference (chaining, visibility) {ref.p50_ms:.4f} ms "
            f"({z.p50_ms / ref.p50_ms:.1f}x)"
        )
        out.append({"target": name, "status": status, "ratio": round(z.p50_ms / same, 2), "detail": detail})
    growth = swap["growth"] if swap else None
    at_most("swap RSS growth <= 10%", None if growth is None else growth * 100, 10.0, "%")
    return out


def machine() -> dict[str, Any]:
    """What else is running: other processes share this machine and skew the timings."""
    procs = list(psutil.process_iter(["pid", "name"]))
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(1.0)
    busy = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= 10 and p.pid != os.getpid():
            busy.append(f"{p.info['name']}({p.pid}) {pct:.0f}%")
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()], "busy": busy}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with few iterations")
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--swaps", type=int, default=None, help="durable version swaps (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rss-probe", help=argparse.SUPPRESS)  # ENGINE:SIZE, run by measure_rss
    args = parser.parse_args(argv)
    if args.rss_probe:
        engine, _, size = args.rss_probe.partition(":")
        print(json.dumps(rss_probe(engine, size, args.seed)))
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")
    cfg = Config(
        quick=args.quick,
        sizes=sizes,
        swaps=args.swaps if args.swaps is not None else (100 if args.quick else 1000),
        warmup=QUICK_WARMUP if args.quick else WARMUP,
        loads=QUICK_LOADS if args.quick else LOADS,
        seed=args.seed,
    )
    started = time.perf_counter()
    before = machine()
    busy = before["busy"] or "none"
    print(f"# machine: {before['cpus']} CPUs, load average {before['loadavg']}, busy: {busy}")
    out = asyncio.run(run(cfg))
    after = machine()
    results: list[Result] = out["results"]
    print()
    print_table(results)
    print()
    for m in out["matcher"]:
        print(f"matcher (not an engine) {m['catalogue']}: p50 {m['p50_ms']} ms for {m['plans']} active plans")
    for e in out["estimate"]:
        print(
            f"estimate {e['catalogue']}: compile p50 {e['compile_ms_p50']} ms"
            f" / p95 {e['compile_ms_p95']} ms; "
            f"all {e['plans']} active plans p50 {e['estimate_ms_p50']} ms / p95 {e['estimate_ms_p95']} ms "
            f"(baseline plain sum p50 {e['baseline_sum_ms_p50']} ms, x{e['ratio_to_baseline']})"
        )
    swap = out["swap"]
    if swap:
        print(
            f"durable swaps: {swap['swaps']} after {swap['warmup_swaps']} warm-up, worker RSS "
            f"{swap['rss_before_mb']} -> {swap['rss_after_mb']} MB (growth {swap['growth']:+.2%}), "
            f"p50 {swap['swap_ms_p50']} ms per load+evaluate+unload"
        )
    print()
    checks = targets(results, swap)
    for e in out["estimate"]:
        if e["catalogue"] == "1000x5000":
            limit = 5.0
            met = e["estimate_ms_p50"] <= limit
            checks.append(
                {
                    "target": "estimate of every plan at 1000x5000 p50 <= 5 ms",
                    "status": "met" if met else "missed",
                    "value": e["estimate_ms_p50"],
                    "limit": limit,
                    "detail": f"{e['estimate_ms_p50']:.4g} ms for {e['plans']} plans",
                }
            )
    for t in checks:
        print(f"target {t['target']}: {t['status'].upper()}" + (f" - {t['detail']}" if "detail" in t else ""))
    elapsed = time.perf_counter() - started
    print(
        f"# done in {elapsed:.0f} s; load average after {after['loadavg']}, busy: {after['busy'] or 'none'}"
    )
    summary = {
        "bench": "engine",
        "results": [r.to_json() for r in results],
        "swap_rss_growth": swap["growth"] if swap else None,
        "quick": cfg.quick,
        "swap": swap,
        "catalogues": out["catalogues"],
        "matcher": out["matcher"],
        "estimate": out["estimate"],
        "targets": checks,
        "machine": {"before": before, "after": after, "seconds": round(elapsed, 1)},
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
