"""The "never fired" tests again on PostgreSQL: the ``fired`` arrays are expanded with
``json_array_elements_text`` there (``json_each`` on SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.admin.conftest import settings_for
from tests.admin.test_never_fired import DAYS
from tests.admin.test_never_fired import (
    test_live_rules_that_fired_in_no_answer_of_the_last_days as test_live_rules_that_fired_in_no_answer,
)
from tests.admin.test_never_fired import (
    test_versions_without_the_rule_do_not_count as test_versions_without_the_rule_do_not_count,
)

__all__ = ["test_live_rules_that_fired_in_no_answer", "test_versions_without_the_rule_do_not_count"]


@pytest.fixture
def settings(tmp_path: Path, pg_url: str) -> dict[str, Any]:
    return settings_for(tmp_path, database_url=pg_url, never_fired_days=DAYS)
