"""The simulator's reasons (admin/simulate.py ``distinct_reasons``) against the shared cases.

The customer card (static/planwise-reasons.js) is tested against the same file in
tests/js/reasons.test.mjs, so the card and the simulator show the same reasons.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from admin.simulate import distinct_reasons
from tests.admin.conftest import FIXTURES

CASES: list[dict[str, Any]] = json.loads((FIXTURES / "distinct-reasons.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_distinct_reasons(case: dict[str, Any]) -> None:
    found = [
        {"text": d.text, "rules": list(d.rules), "times": d.times} for d in distinct_reasons(case["reasons"])
    ]
    assert found == case["distinct"]
