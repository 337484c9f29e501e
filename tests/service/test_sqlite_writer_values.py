"""The raw SQLite writer writes every value exactly as SQLAlchemy would (service/sqlite_writer.py):
its faster datetime text is checked against SQLAlchemy's own processor."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from service.group_writer import WRITES
from service.sqlite_writer import compile_for_sqlite

DIALECT = SQLiteDialect_pysqlite(paramstyle="named")
SQLALCHEMY = DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)


def _processor(kind: str, name: str) -> Any:
    return dict(compile_for_sqlite(WRITES)[kind][1])[name]


@given(st.datetimes() | st.datetimes(timezones=st.just(UTC)) | st.dates())
def test_datetimes_are_written_as_sqlalchemy_writes_them(value: datetime | date) -> None:
    for kind, name in (("update_answers", "b_now"), ("insert_event", "at")):
        assert _processor(kind, name)(value) == SQLALCHEMY(value)


def test_the_text_the_orm_reads_back() -> None:
    assert _processor("insert_event", "at")(datetime(2026, 12, 6, 7, 0)) == "2026-12-06 07:00:00.000000"
    assert _processor("insert_event", "at")(None) is None
