"""A throwaway PostgreSQL server (15 here) for tests: initdb + pg_ctl in a temporary directory.

Debian's ``postgresql`` package (scripts/system-deps.sh installs it). The server listens only on
127.0.0.1 on a free port, runs as an unprivileged user when the tests run as root (PostgreSQL
refuses to run as root), every wait is bounded, and ``stop()`` always shuts it down.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _pg_bin() -> Path:
    """Debian's server binaries (15 on bookworm; the newest installed major version wins)."""
    if os.environ.get("PLANWISE_TEST_PG_BIN"):
        return Path(os.environ["PLANWISE_TEST_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
HOST = "127.0.0.1"
START_TIMEOUT = 30


def available() -> bool:
    return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PgServer:
    """One cluster in ``root``; the superuser ``planwise`` authenticates with trust on loopback."""

    root: Path
    port: int = 0
    user: str = "planwise"
    run_as: str | None = None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{self.user}@{HOST}:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        return ["runuser", "-u", self.run_as, "--", *args]

    def _run(self, *args: str, timeout: float = START_TIMEOUT) -> None:
        done = subprocess.run(self._cmd(*args), capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed:\n{done.stdout.decode()}\n{done.stderr.decode()}")

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.run_as = self.run_as or "postgres"
            owner = pwd.getpwnam(self.run_as)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            self.user,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        for attempt in range(3):
            self.port = _free_port()
            options = (
                f"-c listen_addresses={HOST} -c port={self.port} -c unix_socket_directories='' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run(
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.root / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(START_TIMEOUT),
                    "start",
                )
                return
            except RuntimeError:
                if attempt == 2 or "in use" not in self.log_tail():
                    raise

    def stop(self) -> None:
        """Fast shutdown (bounded), then make sure nothing is left running; never raises."""
        if not (self.datadir / "postmaster.pid").exists():
            return
        with contextlib.suppress(Exception):
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "-t", "10", "stop")
        pidfile = self.datadir / "postmaster.pid"
        if pidfile.exists():
            with contextlib.suppress(Exception):
                os.kill(int(pidfile.read_text().split()[0]), 9)

    def create_database(self) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        name = "t_" + secrets.token_hex(6)
        self._run(
            str(PG_BIN / "psql"), "-h", HOST, "-p", str(self.port), "-U", self.user, "-d", "postgres",
            "-qc", f"CREATE DATABASE {name}",
        )  # fmt: skip
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
