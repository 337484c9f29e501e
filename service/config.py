"""Service configuration: ``PLANWISE_*`` environment variables (documented in docs/configuration.md)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass
class Settings:
    """Every setting with its default; environment variable = ``PLANWISE_`` + upper-case name."""

    database_url: str = ""
    secret_key: str = ""
    allowed_origins: tuple[str, ...] = ()
    jwt_secret: str = ""
    jwt_public_key: str = ""
    jwt_audience: str = ""
    jwt_issuer: str = ""
    rules_engine: str = "durable"
    engine_timeout: float = 2.0
    session_max_age: int = 30 * 24 * 3600
    max_frame_bytes: int = 64 * 1024
    max_answers: int = 200
    rate_per_second: float = 20.0
    rate_burst: int = 40
    rate_strikes: int = 20
    outgoing_queue: int = 64
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    hello_timeout: float = 2.0
    long_poll_max: float = 30.0
    enrichers: tuple[str, ...] = ()
    enrich_workers: int = 2
    enrich_queue: int = 1000
    enrich_timeout: float = 2.0
    publish_poll_interval: float = 0.5
    session_sync: str = "auto"
    session_poll_interval: float = 0.5
    evaluation_cache: int = 4096
    gc_freeze: bool = False
    staff_session_hours: float = 8.0
    staff_cookie_secure: bool = False
    impact_sessions: int = 1000
    demo_bundle: str = str(DATA_DIR / "demo-mobile.json")
    load_demo: bool = False
    auto_migrate: bool = True

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Read ``PLANWISE_*`` variables, apply ``overrides`` (tests), fill generated defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get("PLANWISE_" + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, raw, getattr(cls(), f.name))
        settings = cls(**values)
        for key, value in (overrides or {}).items():
            if not hasattr(settings, key):
                raise ConfigError(f"unknown setting {key!r}")
            setattr(settings, key, value)
        settings.finish()
        return settings

    def finish(self) -> None:
        """Derive defaults that depend on other settings and check the values."""
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{DATA_DIR / 'planwise.db'}"
        if not self.secret_key:
            self.secret_key = persistent_secret(_sqlite_dir(self.database_url) / "secret_key")
        if self.rules_engine not in ("durable", "reference"):
            raise ConfigError("PLANWISE_RULES_ENGINE must be 'durable' or 'reference'")
        if self.session_sync not in ("auto", "notify", "poll", "off"):
            raise ConfigError("PLANWISE_SESSION_SYNC must be 'auto', 'notify', 'poll' or 'off'")
        if self.session_sync == "notify" and not self.database_url.startswith("postgresql"):
            raise ConfigError("PLANWISE_SESSION_SYNC=notify needs PostgreSQL (use 'poll' on SQLite)")
        if len(self.secret_key) < 32:
            raise ConfigError("PLANWISE_SECRET_KEY must be at least 32 characters")


def _convert(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"PLANWISE_{name.upper()}: {raw!r} is not a valid value") from exc
    return raw


def _sqlite_dir(url: str) -> Path:
    """Where generated files live: beside the SQLite database, else in data/."""
    marker = ":///"
    if url.startswith("sqlite") and marker in url:
        path = url.split(marker, 1)[1]
        if path and path != ":memory:":
            return Path(path).parent
    return DATA_DIR


def persistent_secret(path: Path) -> str:
    """A random secret generated on first run and kept in ``path`` (mode 0600)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret
