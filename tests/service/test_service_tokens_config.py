"""A bad ``PLANWISE_SERVICE_TOKENS`` stops ``planwise serve`` with one line naming the variable (exit 2)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.config import ConfigError, Settings, service_token_digests

from .test_config_cli import SECRET, run_planwise

TOKEN = "s3cr3t-pricing-token-value"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (f"pricing{TOKEN}", "entries are name=token or name=sha256:<64 hex digits>"),
        (f"pricing={TOKEN},={TOKEN}", "(entry 2 is not)"),
        ("pricing=", "(entry 1 is not)"),
        ("pricing=sha256:xyz", "'pricing': a sha256 digest has 64 hex digits"),
        ("pricing=sha256:" + "ab" * 31, "'pricing': a sha256 digest has 64 hex digits"),
    ],
)
def test_serve_names_the_bad_service_tokens_on_one_line(tmp_path: Path, value: str, said: str) -> None:
    result = run_planwise(
        tmp_path, "serve", "--port", "1", PLANWISE_SECRET_KEY=SECRET, PLANWISE_SERVICE_TOKENS=value
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("planwise: PLANWISE_SERVICE_TOKENS: ") and said in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stderr and "xyz" not in result.stderr, "the token is never printed"
    assert not (tmp_path / "planwise.db").exists(), "refused before touching the database"


def test_good_service_tokens_pass(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    digest = "ab" * 32
    settings = Settings.from_env(
        {
            "secret_key": SECRET,
            "database_url": db,
            "service_tokens": f" pricing = {TOKEN} , credit=sha256:{digest}",
        }
    )
    assert service_token_digests(settings.service_tokens) == [
        ("pricing", hashlib.sha256(TOKEN.encode()).digest()),
        ("credit", bytes.fromhex(digest)),
    ]
    with pytest.raises(ConfigError, match="PLANWISE_SERVICE_TOKENS"):
        Settings.from_env({"secret_key": SECRET, "database_url": db, "service_tokens": "credit=sha256:00"})
