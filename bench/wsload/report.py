"""Results: a measured phase, the summary JSON, the table, and the targets of issue 3."""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .config import RATE_BURST, RATE_PER_SECOND

TARGETS = (
    # key, description, comparison, limit
    ("p50_n1_vs_echo_reference", "reference p50 at N=1 <= 2x echo", "<=", 2.0),
    ("throughput_n100_vs_echo_reference", "reference N=100 throughput >= 50% of echo", ">=", 0.5),
    ("p50_n1_vs_echo_durable", "durable p50 at N=1 <= 5x echo", "<=", 5.0),
    ("throughput_n100_vs_echo_durable", "durable N=100 throughput >= 15% of echo", ">=", 0.15),
    ("n1000_p99_ms", "durable N=1000 at 0.2 answers/s each: p99 <= 50 ms", "<=", 50.0),
    ("n1000_errors", "durable N=1000: 0 errors", "<=", 0),
    ("idle_kib_per_conn", "<= 30 KiB per idle connection (durable server)", "<=", 30.0),
)


@dataclass
class Phase:
    server: str
    name: str
    n: int
    latencies: list[float]
    done: int
    seconds: float
    server_cpu: float
    client_cpu: float
    other_cpu: float
    errors: dict[str, int]
    late: int = 0
    repeat_share: float | None = None
    round: str = ""
    # From the hooked server (bench/wsload/hooked.py), the window's: userResponse -> its rules update
    # (sorted, ms), garbage-collection pauses (ms), the longest event-loop stall (when the ticker ran).
    server_ms: list[float] = field(default_factory=list)
    gc_ms: list[float] = field(default_factory=list)
    stall_max_ms: float | None = None
    reply_bytes: int = 0  # bytes of the reply frames counted in the window
    load: float = 0.0  # 1-minute load average at the end of the phase

    @property
    def server_pct(self) -> dict[str, float]:
        return {f"p{p}": percentile(self.server_ms, p) for p in (50, 99)}

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        return percentile(self.latencies, p)

    @property
    def cpu_per_op(self) -> float:
        """Server CPU (process and children) per answer in the window, in microseconds."""
        return self.server_cpu / self.done * 1e6 if self.done else math.nan

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values`` (NaN when empty)."""
    if not values:
        return math.nan
    return values[max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))]


def describe(ph: Phase) -> str:
    """One line for the log."""
    per = 1e6 / ph.done if ph.done else math.nan
    repeat = f", repeated states {ph.repeat_share:.0%}" if ph.repeat_share is not None else ""
    return (
        f"[{ph.server}] {ph.name}: p50 {ph.pct(50):.2f} p95 {ph.pct(95):.2f} p99 {ph.pct(99):.2f} ms, "
        f"{ph.rate:.0f}/s, server {ph.server_cpu * per:.0f} us/answer "
        f"({ph.server_cpu / ph.seconds:.0%} core), client "
        f"{ph.client_cpu / ph.seconds:.0%} core, other {ph.other_cpu / ph.seconds:.0%}, "
        f"errors {ph.errors or 0}{repeat}{f', client late {ph.late}' if ph.late else ''}"
        + (
            f"; server time p50 {percentile(ph.server_ms, 50):.2f} p99 {percentile(ph.server_ms, 99):.2f} ms"
            if ph.server_ms
            else ""
        )
        + (f", gc pauses {len(ph.gc_ms)} (max {max(ph.gc_ms):.0f} ms)" if ph.gc_ms else "")
        + (f", loop stall max {ph.stall_max_ms:.1f} ms" if ph.stall_max_ms is not None else "")
        + (f", {ph.reply_bytes / ph.done:.0f} B/reply" if ph.done and ph.reply_bytes else "")
        + f", load {ph.load:.1f}"
    )


def find(phases: list[Phase], server: str, prefix: str, round: str | None = None) -> Phase | None:
    for ph in phases:
        if ph.server == server and ph.name.startswith(prefix) and round in (None, ph.round):
            return ph
    return None


def echo_for(phases: list[Phase], ph: Phase) -> Phase | None:
    """The echo phase with the same N in the same round (run just before ``ph``)."""
    if ph.server == "echo":
        return None
    return find(phases, "echo", f"N={ph.n} closed", ph.round)


def summary(
    phases: list[Phase], idle: dict[str, float], args: argparse.Namespace, code: str
) -> dict[str, Any]:
    """The JSON summary (the last line of the output)."""
    out: dict[str, Any] = {"bench": "ws", "quick": args.quick, "code": code}
    for engine in args.engines:
        e1, e100 = find(phases, "echo", "N=1 closed", engine), find(phases, "echo", "N=100 closed", engine)
        n1, n100 = find(phases, engine, "N=1 closed"), find(phases, engine, "N=100 closed")
        if e1 and n1:
            out[f"p50_n1_vs_echo_{engine}"] = n1.pct(50) / e1.pct(50)
            out[f"{engine}_p50_n1_ms"] = n1.pct(50)
            out[f"{engine}_p99_n1_ms"] = n1.pct(99)
            out[f"echo_p50_n1_ms_{engine}_round"] = e1.pct(50)
        think = find(phases, engine, "N=1 think")
        if think:
            out[f"{engine}_p50_n1_think20ms_ms"] = think.pct(50)
        if e100 and n100:
            out[f"throughput_n100_vs_echo_{engine}"] = n100.rate / e100.rate
            out[f"{engine}_n100_per_s"] = n100.rate
            out[f"{engine}_n100_p99_ms"] = n100.pct(99)
            out[f"echo_n100_per_s_{engine}_round"] = e100.rate
            cpu, echo_cpu = n100.cpu_per_op, e100.cpu_per_op
            out[f"{engine}_server_cpu_us_per_answer_n100"] = cpu
            out[f"{engine}_server_cpu_vs_echo_n100"] = cpu / echo_cpu
            out[f"echo_server_cpu_us_per_msg_{engine}_round"] = echo_cpu
            out[f"{engine}_server_core_n100"] = n100.server_cpu / n100.seconds
            out[f"{engine}_client_core_n100"] = n100.client_cpu / n100.seconds
            out[f"{engine}_other_core_n100"] = n100.other_cpu / n100.seconds
            out[f"{engine}_repeated_states_n100"] = n100.repeat_share
        big = find(phases, engine, f"N={args.n_big} paced")
        if big:
            prefix = "n1000" if engine == "durable" else f"n1000_{engine}"
            out[f"{prefix}_p99_ms"] = big.pct(99)
            out[f"{prefix}_errors"] = big.error_count
            out[f"{prefix}_p50_ms"] = big.pct(50)
            out[f"{prefix}_answers"] = big.done
            out[f"{prefix}_server_cpu_us_per_answer"] = big.cpu_per_op
        if engine in idle:
            out[f"idle_kib_per_conn_{engine}"] = idle[engine]
    out["idle_kib_per_conn"] = idle.get("durable", max(idle.values(), default=math.nan))
    out["idle_kib_per_conn_echo"] = idle.get("echo")
    out["n_big"] = args.n_big
    out["rate_limits"] = {"per_second": RATE_PER_SECOND, "burst": RATE_BURST}
    out["loadavg_end"] = os.getloadavg()[0]
    out["targets_met"] = {key: verdict(out.get(key), op, limit)[0] for key, _, op, limit in TARGETS}
    return out


def table(phases: list[Phase], idle: dict[str, float]) -> str:
    """One line per recorded phase, with the ratios to its echo round."""
    head = (
        f"{'server':<15}{'phase':<27}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'ans/s':>7}"
        f"{'srv us/ans':>11}{'srv core':>9}{'cli core':>9}{'other':>6}{'err':>5}{'p50/echo':>9}"
        f"{'rate/echo':>10}{'srv p50':>8}{'srv p99':>8}{'load':>6}"
    )
    lines = [head, "-" * len(head)]
    for ph in phases:
        echo = echo_for(phases, ph)
        ratio_p50 = ph.pct(50) / echo.pct(50) if echo else math.nan
        ratio_rate = ph.rate / echo.rate if echo else math.nan
        lines.append(
            f"{ph.server:<15}{ph.name:<27}{ph.pct(50):>8.2f}{ph.pct(95):>8.2f}{ph.pct(99):>8.2f}"
            f"{ph.rate:>7.0f}{ph.cpu_per_op:>11.0f}{ph.server_cpu / ph.seconds:>9.0%}"
            f"{ph.client_cpu / ph.seconds:>9.0%}{ph.other_cpu / ph.seconds:>6.0%}{ph.error_count:>5}"
            f"{_num(ratio_p50, 'x'):>9}{_num(ratio_rate, '%'):>10}"
            f"{_ms(ph.server_ms, 50):>8}{_ms(ph.server_ms, 99):>8}{ph.load:>6.1f}"
        )
    lines.append("")
    lines.append("srv p50/p99: the server's own time per answer (userResponse -> its rules update), ms")
    lines.append("idle KiB per connection: " + ", ".join(f"{k} {v:.1f}" for k, v in idle.items()))
    return "\n".join(lines)


def _ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p):.2f}" if values else "-"


def _num(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.2f}x" if unit == "x" else f"{value:.0%}"


def verdict(value: Any, op: str, limit: float) -> tuple[bool | None, str]:
    """(met?, a one-line margin) for one target."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, "not measured"
    met = value <= limit if op == "<=" else value >= limit
    if limit == 0:
        return met, f"{value} (limit 0)"
    if op == "<=":
        margin = (limit - value) / limit
        text = f"{value:.3g} vs limit {limit:g}: " + (
            f"{margin:.0%} headroom" if met else f"over by {value / limit:.2f}x ({value - limit:+.3g})"
        )
    else:
        margin = (value - limit) / limit
        text = f"{value:.3g} vs floor {limit:g}: " + (
            f"{value / limit:.2f}x the floor" if met else f"short by {-margin:.0%} ({value - limit:+.3g})"
        )
    return met, text
