"""Debian's nginx started with deploy/nginx.conf, as shipped, in front of real Planwise servers.

Only what must differ on a test machine is substituted: the listening ports, the upstream servers,
the certificate (a throwaway self-signed one for 127.0.0.1) and the file paths (pid, logs,
temporary files, under a private directory). Every substitution must match the shipped file, so a
change there that the test no longer covers fails here loudly instead of being skipped.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..servers import HOST, ROOT, free_port

CONF = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def available() -> bool:
    return Path(NGINX).exists()


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (cryptography comes with pyjwt[crypto])."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "planwise-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _sub(text: str, pattern: str, replacement: str, count: int = 1) -> str:
    new, found = re.subn(pattern, lambda _: replacement, text, flags=re.MULTILINE)
    if found != count:
        raise AssertionError(f"deploy/nginx.conf: expected {count} match(es) of {pattern!r}, found {found}")
    return new


def render(conf: str, root: Path, upstreams: list[str], http_port: int, https_port: int) -> str:
    """deploy/nginx.conf with this machine's ports, upstreams, certificate and paths."""
    servers = "".join(f"        server {u} max_fails=1 fail_timeout=5s;\n" for u in upstreams)
    conf = _sub(conf, r"^(        server planwise-\d+:8000 max_fails=1 fail_timeout=5s;\n)+", servers, 2)
    conf = _sub(conf, r"^user www-data;$", "user root;" if os.geteuid() == 0 else "")
    conf = _sub(conf, r"^pid /run/nginx\.pid;$", f"pid {root / 'nginx.pid'};")
    conf = _sub(conf, r"^error_log /var/log/nginx/error\.log warn;$", f"error_log {root / 'error.log'} warn;")
    conf = _sub(
        conf,
        r"^    access_log /var/log/nginx/planwise\.access\.log planwise;$",
        f"    access_log {root / 'access.log'} planwise;\n"
        + "".join(
            f"    {kind}_temp_path {root / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
    )
    conf = _sub(conf, r"^        listen 80;$", f"        listen {HOST}:{http_port};")
    conf = _sub(conf, r"^        listen 443 ssl;$", f"        listen {HOST}:{https_port} ssl;")
    conf = _sub(conf, r"/etc/nginx/tls/", f"{root}/", 2)
    return conf


@dataclass
class Nginx:
    """One nginx master (and its workers) in the foreground of its own process group."""

    root: Path
    upstreams: list[str]
    port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    #: A change to the rendered configuration (a test of what the shipped file prevents).
    edit: Callable[[str], str] | None = None

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"wss://{HOST}:{self.port}/ws"

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.root / "fullchain.pem"))

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        make_certificate(self.root)
        conf = self.root / "nginx.conf"
        text = render(CONF.read_text(), self.root, self.upstreams, self.http_port, self.port)
        conf.write_text(self.edit(text) if self.edit is not None else text)
        base = [NGINX, "-e", str(self.root / "error.log"), "-p", str(self.root), "-c", str(conf)]
        checked = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30, check=False)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx -t refused the configuration:\n{checked.stderr}")
        with (self.root / "stderr.log").open("ab") as stderr:
            self.proc = subprocess.Popen(
                [*base, "-g", "daemon off;"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen within 15 s:\n{self.log_tail()}")

    def upstreams_of(self, path_prefix: str) -> list[str]:
        """The upstream address of each logged request whose path starts with ``path_prefix``, in order."""
        found = []
        for line in self.access_log.read_text(errors="replace").splitlines():
            match = re.search(r'"[A-Z]+ (\S+) [^"]*" .* upstream=(\S+)', line)
            if match and match.group(1).startswith(path_prefix):
                found.append(match.group(2).split(",")[-1].strip())
        return found

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("error.log", "stderr.log"):
            with contextlib.suppress(OSError):
                text += (self.root / name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Fast shutdown (SIGTERM to the master), bounded; never raises."""
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None
