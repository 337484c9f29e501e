"""Shared fixtures for the rules tests: the CATALOGUE.md example bundle with a few plans."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = json.loads((Path(__file__).parent.parent / "fixtures" / "example.json").read_text())


@pytest.fixture
def example_bundle() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE)
