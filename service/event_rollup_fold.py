"""Folding session events into Insights rollup rows (service/event_rollup.py keeps the table filled).

:class:`Fold` is what one session did on one UTC day in one catalogue version, with ids as the
events have them (numbers of the version's bundle, or text: service/event_names.py);
:class:`Packed` the same in numbers, as a row stores it: ``selected`` (the plan chosen last),
``zero_answers`` (JSON ``[[answers, changes], ...]``) and ``sets``, one little-endian uint32 array
(:func:`pack`): answer changes, of them leaving no plan, the last answer's and the last
selection's event ids, then the last answer's question ids, each selection's rank (0: not shown),
the questions shown and answered, the rules fired and the plans in the first three, as numbers of
``event_rollup_items`` (:class:`Items`: one number per id text, the same for every version).
A fold merges into a row already there in numbers (:meth:`Packed.merge`); a report folds the events
the rollup does not hold the same way (service/event_stats.py).
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import accumulate
from typing import Any

import orjson
from sqlalchemy import Text, cast, select

from .db.models import EventRollupItem
from .db.models import SessionEvent as E
from .event_names import EventNames, named

#: The columns of ``session_events`` a fold reads (``data`` as text: parsed with orjson).
EVENT_COLUMNS = (E.id, E.session_id, E.at, E.kind, E.version, E.matched, E.plan_id, E.rank)


def event_query() -> Any:
    return select(*EVENT_COLUMNS, cast(E.data, Text).label("data"))


#: The sections of a row's ``sets``: a header of one uint32 count per section, then the numbers.
SECTIONS = ("last_answered", "ranks", "visible", "answered", "fired", "top3")
#: ``sets`` starts with these words: answer changes, of them leaving no plan, the last answer's and
#: the last selection's event ids (0: none; low and high 32 bits), then one count per section.
HEAD = 6 + len(SECTIONS)


def pack(
    answers: int, zeros: int, answer_id: int, select_id: int, sections: Sequence[Sequence[int]]
) -> bytes:
    """``sets``: :data:`HEAD` words, then the numbers of ``sections`` (:data:`SECTIONS` order)."""
    found = array("I", [answers, zeros, answer_id & 0xFFFFFFFF, answer_id >> 32, select_id & 0xFFFFFFFF])
    found.append(select_id >> 32)
    found.extend(len(numbers) for numbers in sections)
    for numbers in sections:
        found.extend(numbers)
    if sys.byteorder == "big":  # pragma: no cover - little-endian on disk everywhere
        found.byteswap()
    return found.tobytes()


def unpack(blob: bytes) -> tuple[list[int], list[list[int]]]:
    """(answers, zeros, answer id, select id), and the sections' numbers."""
    found = array("I")
    found.frombytes(blob)
    if sys.byteorder == "big":  # pragma: no cover
        found.byteswap()
    head, numbers = found[:HEAD].tolist(), found[HEAD:].tolist()
    ends = list(accumulate(head[6:]))
    sections = [numbers[end - n : end] for n, end in zip(head[6:], ends, strict=True)]
    return [head[0], head[1], head[2] | head[3] << 32, head[4] | head[5] << 32], sections


assert array("I").itemsize == 4, "uint32 numbers"


class Items:
    """Numbers for the question, rule and plan ids (one namespace: a set's column says its kind)."""

    def __init__(self, rows: Iterable[tuple[int, str]] = ()) -> None:
        self.names: dict[int, str] = dict(rows)
        self.ids: dict[str, int] = {name: number for number, name in self.names.items()}
        self.added: list[tuple[int, str]] = []  # numbered here, not yet stored
        self.next = max(self.names, default=-1) + 1

    @classmethod
    async def load(cls, conn: Any) -> Items:
        return cls(
            (int(n), str(name))
            for n, name in await conn.execute(select(EventRollupItem.id, EventRollupItem.name))
        )

    def number(self, name: str) -> int:
        found = self.ids.get(name)
        if found is None:
            found = self.ids[name] = self.next
            self.names[found] = name
            self.added.append((found, name))
            self.next += 1
        return found

    def encode(self, names: Collection[str]) -> list[int]:
        """The numbers of ``names``, each once, in order."""
        distinct = names if isinstance(names, set) else set(names)
        if not self.ids.keys() >= distinct:  # any new ones
            for name in distinct:
                self.number(name)
        return sorted(map(self.ids.__getitem__, distinct))

    def decode(self, numbers: Iterable[int]) -> list[str]:
        return [self.names[n] for n in numbers]


@dataclass(slots=True)
class Fold:
    """What one session did on one day in one version (one rollup row, with ids as the events
    have them: the version's numbers, or text)."""

    answers: int = 0
    zeros: int = 0
    answer_id: int | None = None
    last_answered: list[int | str] = field(default_factory=list)
    select_id: int | None = None
    selected: str | None = None
    ranks: list[int] = field(default_factory=list)  # 0: not shown
    visible: set[int | str] = field(default_factory=set)
    answered: set[int | str] = field(default_factory=set)
    fired: set[int | str] = field(default_factory=set)
    top3: set[int | str] = field(default_factory=set)
    zero_answers: Counter[str] = field(default_factory=Counter)  # answers as JSON text -> changes

    def add(
        self, id: int, kind: str, matched: int | None, plan_id: str | None, rank: int | None, data: Any
    ) -> None:
        """Fold in one event (``data`` parsed)."""
        if kind == "select":
            self.ranks.append(rank or 0)
            if self.select_id is None or id > self.select_id:
                self.select_id, self.selected = id, plan_id
            return
        self.visible.update(data.get("visible") or ())
        if kind != "answer":
            return
        self.answers += 1
        answered = data.get("answered") or []
        self.answered.update(answered)
        self.fired.update(data.get("fired") or ())
        self.top3.update((data.get("shown") or [])[:3])
        if self.answer_id is None or id > self.answer_id:
            self.answer_id, self.last_answered = id, list(answered)
        if matched == 0:
            self.zeros += 1
            answers = data.get("answers")
            self.zero_answers[orjson.dumps(answers).decode() if answers is not None else "{}"] += 1

    def packed(self, items: Items, names: EventNames | None) -> Packed:
        """In ``items``' numbers (new ids numbered there); ``names``: the version's (None: gone)."""
        questions, rules, plans = (
            (names.questions, names.rules, names.plans) if names is not None else (None, None, None)
        )
        sections = [
            items.encode(named(self.last_answered, questions)),
            self.ranks,
            items.encode(named(self.visible, questions)),
            items.encode(named(self.answered, questions)),
            items.encode(named(self.fired, rules)),
            items.encode(named(self.top3, plans)),
        ]
        zero_answers = orjson.dumps(sorted(self.zero_answers.items())).decode() if self.zero_answers else None
        head = [self.answers, self.zeros, self.answer_id or 0, self.select_id or 0]
        return Packed(head, sections, self.selected, zero_answers)

    def row(
        self, items: Items, names: EventNames | None, day: date, version: int, session_id: str
    ) -> dict[str, Any]:
        """The ``event_rollup`` row (new ids numbered in ``items``)."""
        return self.packed(items, names).row(day, version, session_id)


@dataclass(slots=True)
class Packed:
    """A row's content in numbers, as stored: what a fold merges into a row already there."""

    head: list[int]  # answer changes, of them leaving no plan, last answer and selection event ids (0: none)
    sections: list[list[int]]  # SECTIONS order
    selected: str | None
    zero_answers: str | None  # JSON [[answers, n], ...]

    @classmethod
    def read(cls, row: Any) -> Packed:
        head, sections = unpack(row.sets)
        return cls(head, sections, row.selected, row.zero_answers)

    def merge(self, new: Packed) -> None:
        (answers, zeros, answer_id, select_id), (more, more_zeros, new_answer, new_select) = (
            self.head,
            new.head,
        )
        last = new.sections[0] if new_answer > answer_id else self.sections[0]
        if new_select > select_id:
            self.selected = new.selected
        self.head = [
            answers + more,
            zeros + more_zeros,
            max(answer_id, new_answer),
            max(select_id, new_select),
        ]
        sets = [
            sorted(set(old).union(added))
            for old, added in zip(self.sections[2:], new.sections[2:], strict=True)
        ]
        self.sections = [last, self.sections[1] + new.sections[1], *sets]
        if new.zero_answers and self.zero_answers:
            combos = Counter(dict(orjson.loads(self.zero_answers)))
            combos.update(dict(orjson.loads(new.zero_answers)))
            self.zero_answers = orjson.dumps(sorted(combos.items())).decode()
        elif new.zero_answers:
            self.zero_answers = new.zero_answers

    def row(self, day: date, version: int, session_id: str) -> dict[str, Any]:
        answers, zeros, answer_id, select_id = self.head
        return {
            "day": day,
            "version": version,
            "session_id": session_id,
            "selected": self.selected,
            "sets": pack(answers, zeros, answer_id, select_id, self.sections),
            "zero_answers": self.zero_answers,
        }


Key = tuple[date, int, str]  # (day, version, session id)


def row_key(at: datetime, version: int, session_id: str) -> Key:
    """The rollup row an event is folded into: its UTC day, catalogue version and session."""
    return (at.date(), version, session_id)


def fold_events(rows: Iterable[Any], since: datetime | None = None) -> dict[Key, Fold]:
    """Fold ``event_query()`` rows; events before ``since`` (purged by now) are left out."""
    folds: dict[Key, Fold] = {}
    for id, session_id, at, kind, version, matched, plan_id, rank, data in rows:
        if since is not None and at < since:
            continue
        key = row_key(at, version, session_id)
        found = folds.get(key)
        if found is None:
            found = folds[key] = Fold()
        found.add(id, kind, matched, plan_id, rank, orjson.loads(data) if data else {})
    return folds
