"""deploy/ runs exactly what the tests run: the same ``planwise serve`` command, the same nginx
config (whose upstream names are the compose services), settings the service knows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVE = ["planwise", "serve", "--host", "0.0.0.0", "--port", "8000"]


def test_compose_runs_the_tested_commands_and_known_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert services["planwise-1"]["command"] == [*SERVE, "--demo"]
    assert services["planwise-2"]["command"] == SERVE
    assert services["nginx"]["command"] == ["nginx", "-c", "/etc/nginx/nginx.conf", "-g", "daemon off;"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    upstreams = set(re.findall(r"^\s+server (planwise-\d+):8000", (DEPLOY / "nginx.conf").read_text(), re.M))
    assert upstreams == {"planwise-1", "planwise-2"} <= set(services)
    known = {f"PLANWISE_{name.upper()}" for name in Settings.model_fields}
    for name in ("planwise-1", "planwise-2"):
        env = services[name]["environment"]
        assert set(env) <= known, set(env) - known
        assert "PLANWISE_SECRET_KEY" in env and "PLANWISE_TRUSTED_PROXIES" in env


def test_dockerfile_and_unit_run_planwise_serve() -> None:
    docker = (DEPLOY / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", docker, re.M)
    assert cmd is not None and yaml.safe_load(cmd.group(1)) == SERVE
    unit = (DEPLOY / "planwise.service").read_text()
    start = re.search(r"^ExecStart=(.*)$", unit, re.M)
    assert start is not None
    argv = shlex.split(start.group(1))
    assert Path(argv[0]).name == "planwise" and argv[1:] == SERVE[1:]
    assert "KillSignal=SIGTERM" in unit
