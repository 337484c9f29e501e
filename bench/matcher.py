"""Plan matching at scale: ``Matcher.match`` after a reference evaluation, on a generated catalogue.

    .venv/bin/python bench/matcher.py                      # 1000 rules x 5000 plans, 60 answer sets
    .venv/bin/python bench/matcher.py --rules 200 --plans 500

The matcher is warmed first (as the service does when it loads a version), then each of ``--sets``
seeded answer sets is evaluated by the reference engine and matched once, timed; so is the part that
sums the fired score effects (``Matcher._scores``). Prints the medians and the maxima after the first
match (which does first-time work), then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from catalogues import answer_sets, generate  # noqa: E402

from rules.engine import ReferenceEngine  # noqa: E402
from rules.matcher import Matcher  # noqa: E402
from rules.validator import load_catalogue  # noqa: E402


async def run(rules: int, plans: int, sets: int, seed: int) -> dict[str, Any]:
    catalogue = load_catalogue(generate(rules, plans, seed=seed))
    matcher = Matcher(catalogue)
    matcher.warm()
    engine = ReferenceEngine()
    await engine.load(1, catalogue)
    scoring: list[float] = []
    name = "_scores" if hasattr(matcher, "_scores") else "_scores_and_losers"  # (before 2026-12-06)
    timed = getattr(matcher, name)

    def scores(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return timed(*args)
        finally:
            scoring.append(time.perf_counter() - started)

    setattr(matcher, name, scores)
    matching, fired = [], []
    for answers in answer_sets(catalogue, sets, seed=seed):
        evaluation = await engine.evaluate(1, answers)
        fired.append(len(evaluation.fired))
        started = time.perf_counter()
        matcher.match(evaluation, answers)
        matching.append(time.perf_counter() - started)
    return {
        "bench": "matcher",
        "rules": rules,
        "plans": len(catalogue.active_plans),
        "sets": sets,
        "fired_rules_p50": statistics.median(fired),
        "match_p50_ms": round(statistics.median(matching) * 1e3, 2),
        "match_first_ms": round(matching[0] * 1e3, 2),  # first-time work (numpy's too)
        "match_max_ms": round(max(matching[1:]) * 1e3, 2),  # after the first
        "scores_p50_ms": round(statistics.median(scoring) * 1e3, 2),
        "scores_max_ms": round(max(scoring[1:]) * 1e3, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--plans", type=int, default=5000)
    parser.add_argument("--sets", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    found = asyncio.run(run(args.rules, args.plans, args.sets, args.seed))
    print(
        f"{found['rules']} rules x {found['plans']} plans, {found['sets']} answer sets "
        f"({found['fired_rules_p50']:.0f} rules fired, median): match p50 {found['match_p50_ms']} ms, "
        f"max {found['match_max_ms']} ms after the first ({found['match_first_ms']} ms); summing the "
        f"scores p50 {found['scores_p50_ms']} ms, max {found['scores_max_ms']} ms"
    )
    print(json.dumps(found))


if __name__ == "__main__":
    main()
