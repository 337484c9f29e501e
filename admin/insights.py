"""Insights: the period's event figures (service/event_stats.py) laid over a catalogue version's items.

A report lists every question (in questionnaire order), rule and plan of the version, zeros
included; ids seen in the events that the version does not have (a period spanning several
versions) follow at the end. The export (JSON and CSV) and the page show the same numbers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from service.catalogues import get_version, list_versions, live_version
from service.event_stats import Period, Stats, stats

DEFAULT_DAYS = 30
RANK_BUCKETS = ("1", "2", "3", "4–10", "11+", "not shown")


class BadFilter(ValueError):
    """A filter value that cannot be read (the message says which)."""


@dataclass(frozen=True)
class Filter:
    """Dates inclusive (UTC days), an optional version and a version to compare with."""

    start: date
    end: date
    version: int | None = None
    compare: int | None = None

    @classmethod
    def read(cls, args: Any, today: date | None = None) -> Filter:
        today = today or datetime.now(UTC).date()
        end = _day(args.get("to"), "to") or today
        start = _day(args.get("from"), "from") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise BadFilter("'from' is after 'to'")
        return cls(
            start, end, _number(args.get("version"), "version"), _number(args.get("compare"), "compare")
        )

    def period(self, version: int | None) -> Period:
        start = datetime.combine(self.start, datetime.min.time())
        end = datetime.combine(self.end + timedelta(days=1), datetime.min.time())
        return Period(start, end, version)

    def args(self, **changes: Any) -> dict[str, str]:
        values = {"from": self.start.isoformat(), "to": self.end.isoformat(), "version": self.version}
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v is not None}


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadFilter(f"'{name}' must be a date as YYYY-MM-DD") from None


def _number(text: str | None, name: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise BadFilter(f"'{name}' must be a version number")
    return int(text)


@dataclass
class Item:
    id: str
    label: str
    known: bool = True  # False: seen in the events, not in this version


@dataclass
class Report:
    """One version's (or all versions') figures for the period."""

    version: int | None
    stats: Stats
    questions: list[Item] = field(default_factory=list)
    rules: list[Item] = field(default_factory=list)
    plans: list[Item] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Version {self.version}" if self.version is not None else "All versions"

    @property
    def zero_share(self) -> float:
        s = self.stats
        return s.zero_changes / s.answer_changes if s.answer_changes else 0.0

    def funnel(self) -> list[tuple[Item, int, int, int]]:
        s = self.stats
        return [
            (q, s.shown.get(q.id, 0), s.answered.get(q.id, 0), s.last_answered.get(q.id, 0))
            for q in self.questions
        ]

    def rule_rows(self) -> list[tuple[Item, int]]:
        return [(r, self.stats.fired.get(r.id, 0)) for r in self.rules]

    def never_fired(self) -> list[Item]:
        return [r for r, n in self.rule_rows() if n == 0 and r.known]

    def plan_rows(self) -> list[tuple[Item, int, int, float | None]]:
        s = self.stats
        rows = []
        for p in self.plans:
            top3, chosen = s.top3.get(p.id, 0), s.selected.get(p.id, 0)
            rows.append((p, top3, chosen, chosen / top3 if top3 else None))
        return rows

    def rank_rows(self) -> list[tuple[str, int]]:
        buckets = dict.fromkeys(RANK_BUCKETS, 0)
        for rank, n in self.stats.by_rank.items():
            buckets[_bucket(rank)] += n
        return list(buckets.items())

    def zero_rows(self) -> list[tuple[dict[str, Any], int, str]]:
        """The most frequent answer combinations that left no plan, with a simulator query string."""
        return [(answers, n, simulator_query(answers)) for answers, n in self.stats.zero_answers]

    def export(self) -> dict[str, Any]:
        """``GET /admin/insights/export.json`` (issue 13's shape, nothing more)."""
        s = self.stats
        return {
            "sessions": s.sessions,
            "answerChanges": s.answer_changes,
            "zeroResultChanges": s.zero_changes,
            "questions": [
                {"id": q.id, "shown": shown, "answered": answered, "lastAnswered": last}
                for q, shown, answered, last in self.funnel()
            ],
            "rules": [{"id": r.id, "fired": n} for r, n in self.rule_rows()],
            "plans": [
                {"id": p.id, "top3": top3, "selected": chosen} for p, top3, chosen, _ in self.plan_rows()
            ],
        }


def _bucket(rank: int | None) -> str:
    if rank is None:
        return "not shown"
    if rank <= 3:
        return str(rank)
    return "4–10" if rank <= 10 else "11+"


def simulator_query(answers: dict[str, Any]) -> str:
    """The simulator's form fields (``q_<id>``, admin/simulate.py) for these answers."""
    pairs: list[tuple[str, str]] = []
    for qid, value in answers.items():
        name = "q_" + qid
        if isinstance(value, list):
            pairs.extend((name, str(v)) for v in value)
            pairs.append((name + "__set", "1"))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return urlencode(pairs)


def _items(bundle: dict[str, Any], section: str, label: str) -> list[Item]:
    return [Item(str(x["id"]), str(x.get(label) or x["id"])) for x in bundle.get(section) or [] if "id" in x]


def _with_seen(items: list[Item], *seen: dict[str, int]) -> list[Item]:
    known = {i.id for i in items}
    extra = sorted({k for counts in seen for k in counts} - known)
    return items + [Item(k, k, known=False) for k in extra]


async def report(session: AsyncSession, flt: Filter, version: int | None) -> Report:
    """The figures of ``version`` (None: every version, items of the live one) in the filter's period."""
    found = await stats(session, flt.period(version))
    number = version if version is not None else await live_version(session)
    row = await get_version(session, number) if number is not None else None
    bundle: dict[str, Any] = row.bundle if row is not None else {}
    s = found
    return Report(
        version,
        found,
        _with_seen(_items(bundle, "questions", "text"), s.shown, s.answered, s.last_answered),
        _with_seen(_items(bundle, "rules", "name"), s.fired),
        _with_seen(_items(bundle, "plans", "name"), s.top3, s.selected),
    )


async def versions(session: AsyncSession) -> list[tuple[int, str]]:
    """(number, a label) of the published versions, newest first, for the filter's choices."""
    return [
        (v.id, f"{v.id} · {v.created_at:%Y-%m-%d} · {v.message[:40]}") for v in await list_versions(session)
    ]


def to_csv(rep: Report) -> str:
    """The export as CSV: one section per table, each with a title row, separated by a blank row."""
    data = rep.export()
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["summary"])
    w.writerow(["sessions", "answerChanges", "zeroResultChanges"])
    w.writerow([data["sessions"], data["answerChanges"], data["zeroResultChanges"]])
    for section, columns in (
        ("questions", ("id", "shown", "answered", "lastAnswered")),
        ("rules", ("id", "fired")),
        ("plans", ("id", "top3", "selected")),
    ):
        w.writerow([])
        w.writerow([section])
        w.writerow(columns)
        for entry in data[section]:
            w.writerow([entry[c] for c in columns])
    return out.getvalue()
