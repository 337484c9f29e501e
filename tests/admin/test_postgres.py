"""A representative subset of the admin tests, again on PostgreSQL (a throwaway server).

The whole admin suite passed on PostgreSQL when this was written; this subset keeps the run short
while covering what differs between databases: the migrations (the audit log's append-only
trigger), JSON columns (drafts, versions, audit before/after), publish and the live switch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.admin.conftest import settings_for
from tests.admin.test_auth import test_sign_in_and_out_are_audited as test_sign_in_and_out_are_audited
from tests.admin.test_checks import (
    test_audit_log_cannot_be_changed as test_audit_log_cannot_be_changed,
)
from tests.admin.test_checks import (
    test_audit_log_lists_filters_and_shows_before_after as test_audit_log_filters,
)
from tests.admin.test_checks import test_impact_preview_counts_changed_top_plans as test_impact_preview
from tests.admin.test_drafts import (
    test_changing_a_price_starts_a_draft_and_leaves_live_alone as test_changing_a_price,
)
from tests.admin.test_publish import (
    test_publish_pushes_an_update_to_connected_people as test_publish_pushes_an_update_to_connected_people,
)
from tests.admin.test_publish import test_rollback_publishes_a_copy as test_rollback_publishes_a_copy
from tests.admin.test_smoke import test_home_and_pages as test_home_and_pages

__all__ = [
    "test_audit_log_cannot_be_changed",
    "test_audit_log_filters",
    "test_changing_a_price",
    "test_home_and_pages",
    "test_impact_preview",
    "test_publish_pushes_an_update_to_connected_people",
    "test_rollback_publishes_a_copy",
    "test_sign_in_and_out_are_audited",
]


@pytest.fixture
def settings(tmp_path: Path, pg_url: str) -> dict[str, Any]:
    return settings_for(tmp_path, database_url=pg_url)
