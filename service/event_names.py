"""Session events name questions, rules and plans by number: their place in the version's bundle.

An event's id lists (``answered``, ``cleared``, ``visible``, ``fired``, ``shown``:
service/events.py) hold, for each id, its position in the version's ``questions``, ``rules`` or
``plans`` (every one, in bundle order, inactive plans and disabled rules included). A version never
changes once published, so a number means the same id for ever. An id the version does not have
(an answer kept from an older version's question) stays as text, as every id does in events
written before numbers (2026-12-06): readers take both, and only ids start with a letter.

Why: an answer's event carried ~700 bytes of ids as text, written in every answer's commit and
parsed again by every fold (docs/insights.md, "What an event costs"); as numbers it is ~150.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .db.models import CatalogueVersion

#: Versions whose names a process keeps (each is one tuple of ids per kind).
CACHED_VERSIONS = 64

Numbered = list[int | str]


def _ids(bundle: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    return tuple(str(item["id"]) for item in bundle.get(kind) or ())


@dataclass(frozen=True, slots=True)
class EventNames:
    """One version's ids by number, and numbers by id."""

    questions: tuple[str, ...]
    rules: tuple[str, ...]
    plans: tuple[str, ...]
    question_numbers: dict[str, int] = field(init=False, compare=False, repr=False)
    rule_numbers: dict[str, int] = field(init=False, compare=False, repr=False)
    plan_numbers: dict[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        for kind in ("question", "rule", "plan"):
            ids: tuple[str, ...] = getattr(self, kind + "s")
            object.__setattr__(self, kind + "_numbers", {name: n for n, name in enumerate(ids)})

    @classmethod
    def of_bundle(cls, bundle: Mapping[str, Any]) -> EventNames:
        return cls(_ids(bundle, "questions"), _ids(bundle, "rules"), _ids(bundle, "plans"))


def numbered(ids: Iterable[str], numbers: Mapping[str, int]) -> Numbered:
    """``ids`` as numbers (an id without one stays as text)."""
    get = numbers.get
    return [get(name, name) for name in ids]


def name_of(value: Any, names: Sequence[str] | None) -> str:
    """The id an event names (a number, or text as before numbers). A number the version does not
    have (or of a version that is gone: ``names`` None) reads ``#n``: counted, never dropped."""
    if type(value) is not int:
        return str(value)
    return names[value] if names is not None and 0 <= value < len(names) else f"#{value}"


def named(values: Iterable[Any], names: Sequence[str] | None) -> list[str]:
    """The ids of an event's list (:func:`name_of` each)."""
    return [name_of(value, names) for value in values]


#: The lists of an event's ``data`` and the kind of id each holds.
LISTS = {
    "answered": "questions",
    "cleared": "questions",
    "visible": "questions",
    "fired": "rules",
    "shown": "plans",
}


def named_data(data: Mapping[str, Any], names: EventNames | None) -> dict[str, Any]:
    """An event's ``data`` with every id list as ids (what tests, exports and people read)."""
    return {
        key: named(value, getattr(names, LISTS[key]) if names is not None else None)
        if key in LISTS
        else value
        for key, value in data.items()
    }


def numbered_data(data: Mapping[str, Any], names: EventNames) -> dict[str, Any]:
    """An event's ``data`` with ids, as the service writes it (the id lists as numbers)."""
    numbers = {"questions": names.question_numbers, "rules": names.rule_numbers, "plans": names.plan_numbers}
    return {
        key: numbered(value, numbers[LISTS[key]]) if key in LISTS else value for key, value in data.items()
    }


class VersionNames:
    """Each version's :class:`EventNames`, read from its bundle once (the most recent
    :data:`CACHED_VERSIONS`). Keyed by the database and the version's creation time as well as
    its number: one process may read several databases (tests, tools)."""

    def __init__(self, size: int = CACHED_VERSIONS) -> None:
        self.size = size
        self._found: OrderedDict[tuple[str, int, datetime], EventNames] = OrderedDict()

    async def load(self, conn: Any, versions: Iterable[int]) -> dict[int, EventNames]:
        """The names of ``versions`` (a version not in the database is left out)."""
        wanted = sorted(set(versions))
        if not wanted:
            return {}
        database = conn.engine.url.render_as_string(hide_password=True)
        stamps = await conn.execute(
            select(CatalogueVersion.id, CatalogueVersion.created_at).where(CatalogueVersion.id.in_(wanted))
        )
        keys = {int(version): (database, int(version), created) for version, created in stamps}
        missing = [version for version, key in keys.items() if key not in self._found]
        if missing:
            query = select(CatalogueVersion.id, CatalogueVersion.bundle).where(
                CatalogueVersion.id.in_(missing)
            )
            for version, bundle in await conn.execute(query):
                self._found[keys[int(version)]] = EventNames.of_bundle(bundle)
        found = {}
        for version, key in keys.items():
            self._found.move_to_end(key)
            found[version] = self._found[key]
        while len(self._found) > self.size:
            self._found.popitem(last=False)
        return found


#: This process's names (versions never change: sharing them is safe).
VERSION_NAMES = VersionNames()
