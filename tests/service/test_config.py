"""Settings: every PLANWISE_* variable typed in one place, bad values refused naming the variable."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from service.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-key-" + "x" * 32


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No PLANWISE_* variable from the outside; a database and a secret in tmp_path."""
    for name in list(os.environ):
        if name.startswith("PLANWISE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PLANWISE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'planwise.db'}")
    monkeypatch.setenv("PLANWISE_SECRET_KEY", SECRET)
    return monkeypatch


def test_environment_values_are_typed(env: pytest.MonkeyPatch) -> None:
    env.setenv("PLANWISE_GC_FREEZE", "yes")
    env.setenv("PLANWISE_LOAD_DEMO", "0")
    env.setenv("PLANWISE_ALLOWED_ORIGINS", "https://a.example, https://b.example,")
    env.setenv("PLANWISE_RATE_BURST", "5000")
    env.setenv("PLANWISE_CLOSE_TIMEOUT", "0.5")
    settings = Settings.from_env()
    assert settings.gc_freeze is True and settings.load_demo is False
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.rate_burst == 5000 and settings.close_timeout == 0.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLANWISE_GC_FREEZE", "maybe"),
        ("PLANWISE_RATE_BURST", "lots"),
        ("PLANWISE_RATE_BURST", "0"),
        ("PLANWISE_MAX_ANSWERS", "2.5"),
        ("PLANWISE_ENGINE_TIMEOUT", "nan"),
        ("PLANWISE_CLOSE_TIMEOUT", "-1"),
        ("PLANWISE_RULES_ENGINE", "drools"),
        ("PLANWISE_SESSION_SYNC", "sometimes"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^{name}="):
        Settings.from_env()


def test_short_secret_key_is_refused_without_showing_it(env: pytest.MonkeyPatch) -> None:
    env.setenv("PLANWISE_SECRET_KEY", "too-short-secret")
    with pytest.raises(ConfigError, match="PLANWISE_SECRET_KEY must be at least 32 characters") as info:
        Settings.from_env()
    assert "too-short-secret" not in str(info.value)


def test_overrides_win_are_validated_and_unknown_ones_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("PLANWISE_MAX_ANSWERS", "50")
    settings = Settings.from_env({"max_answers": 10, "allowed_origins": ["https://a.example"]})
    assert settings.max_answers == 10 and settings.allowed_origins == ("https://a.example",)
    with pytest.raises(ConfigError, match="unknown setting 'max_answer'"):
        Settings.from_env({"max_answer": 10})
    with pytest.raises(ConfigError, match="^PLANWISE_MAX_ANSWERS="):
        Settings.from_env({"max_answers": "many"})


def test_docs_list_every_setting_with_its_default() -> None:
    """docs/configuration.md has one row per setting, and the default it shows is the real one."""
    doc = (ROOT / "docs" / "configuration.md").read_text()
    rows = dict(re.findall(r"^\| `PLANWISE_([A-Z_]+)` \| ([^|]+) \|", doc, re.MULTILINE))
    assert set(rows) == {name.upper() for name in Settings.model_fields}
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = rows[name.upper()].strip()
        if isinstance(default, bool):
            expected = "`true`" if default else "`false`"
            assert shown == expected or (name == "gc_freeze" and shown.startswith("`true` under")), name
        elif isinstance(default, (int, float)):
            assert shown.strip("`") and float(shown.strip("`")) == default, name
        elif default in ("", ()):
            assert shown.startswith(("(none)", "generated", "`sqlite")), name
