"""Service configuration: every ``PLANWISE_*`` environment variable (documented in docs/configuration.md).

pydantic-settings reads and types them: a value that does not parse (``PLANWISE_GC_FREEZE=maybe``,
``PLANWISE_RATE_BURST=lots``) or is out of range is refused at start, naming the variable.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .proxies import ConfigError as ProxyConfigError
from .proxies import parse_networks

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"

ENV_PREFIX = "PLANWISE_"
MIN_SECRET_KEY_LENGTH = 32
# Never echoed in an error message.
_SECRET = frozenset({"database_url", "secret_key", "jwt_secret", "jwt_public_key", "service_tokens"})

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1)]
# Comma-separated in the environment (``a,b``), a tuple in Python.
Names = Annotated[tuple[str, ...], NoDecode]


class ConfigError(ValueError):
    """A configuration value is missing or malformed (the message names the variable)."""


class Settings(BaseSettings):
    """Every setting with its default; environment variable = ``PLANWISE_`` + upper-case name."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", case_sensitive=False)

    database_url: str = ""
    secret_key: str = ""
    allowed_origins: Names = ()
    jwt_secret: str = ""
    jwt_public_key: str = ""
    jwt_audience: str = ""
    jwt_issuer: str = ""
    jwt_leeway: Annotated[float, Field(ge=0, le=300, allow_inf_nan=False)] = 5.0
    jwt_max_lifetime: Seconds = 24 * 3600.0
    trusted_proxies: Names = ()
    origin_trust_host: bool = False
    rules_engine: Literal["durable", "reference"] = "durable"
    engine_timeout: Seconds = 2.0
    session_max_age: Count = 30 * 24 * 3600
    max_frame_bytes: Count = 64 * 1024
    max_answers: Count = 200
    rate_per_second: Seconds = 20.0
    rate_burst: Count = 40
    rate_strikes: Annotated[int, Field(ge=0)] = 20
    outgoing_queue: Count = 64
    ping_interval: Seconds = 20.0
    ping_timeout: Seconds = 20.0
    hello_timeout: Seconds = 2.0
    long_poll_max: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 30.0
    update_cache_seconds: Seconds = 60.0
    close_timeout: Seconds = 5.0
    enrichers: Names = ()
    enrich_workers: Count = 2
    enrich_queue: Count = 1000
    enrich_timeout: Seconds = 2.0
    enrich_url: str = ""
    enrich_cache_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 60.0
    enrich_cache_size: Annotated[int, Field(ge=0)] = 10_000
    enrich_breaker_failures: Count = 5
    enrich_breaker_seconds: Seconds = 30.0
    service_tokens: Names = ()
    publish_poll_interval: Seconds = 0.5
    session_sync: Literal["auto", "notify", "poll", "off"] = "auto"
    session_poll_interval: Seconds = 0.5
    evaluation_cache: Annotated[int, Field(ge=0)] = 4096
    gc_freeze: bool = False
    staff_session_hours: Seconds = 8.0
    staff_cookie_secure: bool = False
    impact_sessions: Annotated[int, Field(ge=0)] = 1000
    never_fired_days: Count = 30
    event_retention_days: Annotated[int, Field(ge=0)] = 90
    event_rollup: Literal["process", "inline"] = "process"
    event_rollup_interval: Seconds = 30.0
    session_retention_days: Annotated[int, Field(ge=0)] = 30
    new_sessions_per_minute: Annotated[int, Field(ge=0)] = 120
    demo_bundle: str = str(DATA_DIR / "demo-mobile.json")
    load_demo: bool = False
    auto_migrate: bool = True
    # Operating it (docs/deploy.md).
    shutdown_timeout: Seconds = 10.0
    metrics_allow: Names = ("127.0.0.1", "::1")
    log_format: Literal["text", "json"] = "text"

    @field_validator("allowed_origins", "enrichers", "trusted_proxies", "service_tokens", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("metrics_allow", mode="before")
    @classmethod
    def _allow_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Read ``PLANWISE_*`` variables, apply ``overrides`` (lower-case names), fill generated defaults.

        Raises ``ConfigError`` naming the variable of the first bad value (or the unknown override).
        """
        try:
            settings = cls(**dict(overrides or {}))
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None
        settings.finish()
        return settings

    def finish(self) -> None:
        """Derive defaults that depend on other settings and check the values together."""
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{DATA_DIR / 'planwise.db'}"
        if not self.secret_key:
            self.secret_key = persistent_secret(_sqlite_dir(self.database_url) / "secret_key")
        if self.session_sync == "notify" and not self.database_url.startswith("postgresql"):
            raise ConfigError("PLANWISE_SESSION_SYNC=notify needs PostgreSQL (use 'poll' on SQLite)")
        for entry in self.metrics_allow:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"PLANWISE_METRICS_ALLOW: {entry!r} is not an address or network") from None
        try:
            parse_networks(self.trusted_proxies)
        except ProxyConfigError as exc:
            raise ConfigError(f"PLANWISE_TRUSTED_PROXIES: {exc}") from None
        for origin in self.allowed_origins:
            if origin != "*" and not _is_origin(origin):
                raise ConfigError(
                    f"PLANWISE_ALLOWED_ORIGINS: {origin!r} is not an origin (scheme://host[:port], no path)"
                )
        service_token_digests(self.service_tokens)
        if len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"PLANWISE_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters "
                f"(it has {len(self.secret_key)})"
            )


def service_token_digests(entries: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """``PLANWISE_SERVICE_TOKENS`` as (service name, SHA-256 of its token) pairs.

    Entries are ``name=token`` or ``name=sha256:<64 hex digits>``. A bad entry is a ``ConfigError``
    naming the variable and the service, never the token.
    """
    digests: list[tuple[str, bytes]] = []
    for entry in entries:
        name, sep, secret = entry.partition("=")
        name, secret = name.strip(), secret.strip()  # a bearer token is read stripped too
        if not sep or not name or not secret:
            raise ConfigError(
                "PLANWISE_SERVICE_TOKENS: entries are name=token or name=sha256:<64 hex digits>, "
                f"comma-separated (entry {len(digests) + 1} is not)"
            )
        if secret.startswith("sha256:"):
            try:
                digest = bytes.fromhex(secret[len("sha256:") :])
            except ValueError:
                digest = b""
            if len(digest) != 32:
                raise ConfigError(f"PLANWISE_SERVICE_TOKENS: {name!r}: a sha256 digest has 64 hex digits")
        else:
            digest = hashlib.sha256(secret.encode()).digest()
        digests.append((name, digest))
    return digests


def _is_origin(text: str) -> bool:
    parts = urlsplit(text)
    origin = f"{parts.scheme}://{parts.netloc}"
    return parts.scheme in ("http", "https") and bool(parts.netloc) and text == origin


def _describe(exc: ValidationError) -> str:
    """One line: for each problem, the variable, the value (unless secret) and what is wrong."""
    return "; ".join(_problem(error) for error in exc.errors(include_url=False))


def _problem(error: ErrorDetails) -> str:
    name = str(error["loc"][0]) if error["loc"] else "?"
    if error["type"] == "extra_forbidden":
        return f"unknown setting {name!r}"
    variable = ENV_PREFIX + name.upper()
    if name in _SECRET:
        return f"{variable}: {error['msg']}"
    value = error.get("input")
    return f"{variable}={value if isinstance(value, str) else repr(value)}: {error['msg']}"


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
