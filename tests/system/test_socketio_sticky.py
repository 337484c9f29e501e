"""Socket.IO long-polling through nginx in front of three servers (docs/socketio.md, "sticky").

A polling client's requests must all reach the server holding its Engine.IO session:
deploy/nginx.conf sends ``/socket.io/`` to an upstream hashed on the client address. With it, the
real socket.io-client (Node) over ``transports: ["polling"]`` connects once and gets every update,
including changes made through the HTTP API on the other servers. Without it (the same file with
``/socket.io/`` on the round-robin upstream) it never gets a session: each request lands on
another server, which does not know the ``sid`` (400), and the client keeps reconnecting.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..servers import HOST, ROOT
from .conftest import Cluster
from .nginx import Nginx

pytestmark = [pytest.mark.system, pytest.mark.slow]

SCRIPT = "tests/system/socketio_polling.mjs"


def node() -> str:
    found = shutil.which("node")
    if found is None or not (ROOT / "node_modules" / "socket.io-client").is_dir():
        pytest.fail("node and socket.io-client are needed (make test runs npm ci)")
    return found


def run_client(nginx: Nginx, *args: str, timeout: float = 90) -> dict[str, object]:
    ca = str(nginx.root / "fullchain.pem")
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": ca, "NO_PROXY": HOST}  # fetch() trusts nginx too
    result = subprocess.run(
        [node(), SCRIPT, nginx.url, ca, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}\n{nginx.log_tail()}"
    reply: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return reply


def test_polling_through_nginx_is_sticky_and_gets_updates_from_every_server(cluster: Cluster) -> None:
    seen = run_client(cluster.nginx, "sticky")
    assert seen["transport"] == "polling"
    assert (seen["connects"], seen["disconnects"]) == (1, 0), seen
    assert seen["revisions"] == [0, 1, 2, 3, 4, 5, 6, 7], seen
    assert seen["answers"] == {"budget": 27}
    polls = cluster.nginx.upstreams_of("/socket.io/")
    assert len(polls) >= 8 and len(set(polls)) == 1, polls  # every poll on one server
    writes = cluster.nginx.upstreams_of(f"/api/sessions/{seen['sessionId']}/responses")
    assert len(set(writes)) >= 2, writes  # the changes were made on other servers too


@pytest.fixture
def round_robin(cluster: Cluster, tmp_path: Path) -> Iterator[Nginx]:
    """deploy/nginx.conf with /socket.io/ on the round-robin upstream: no stickiness."""

    def unsticky(conf: str) -> str:
        sticky = "proxy_pass http://planwise_sticky;"
        assert conf.count(sticky) == 1, "deploy/nginx.conf: /socket.io/ is no longer on planwise_sticky"
        return conf.replace(sticky, "proxy_pass http://planwise;")

    nginx = Nginx(tmp_path / "nginx", cluster.nginx.upstreams, edit=unsticky)
    nginx.start()
    try:
        yield nginx
    finally:
        nginx.stop()


def test_without_stickiness_polling_never_gets_a_session(round_robin: Nginx) -> None:
    seen = run_client(round_robin, "plain", "4")
    assert (seen["connects"], seen["sessions"]) == (0, 0), seen
    errors = seen["errors"]
    assert isinstance(errors, list) and len(errors) >= 3, seen  # it tries again and again
    assert any(e in ("connect_error: xhr poll error", "connect_error: xhr post error") for e in errors), (
        errors
    )
    statuses = [line.split('" ')[1].split()[0] for line in round_robin.access_log.read_text().splitlines()]
    assert "400" in statuses, statuses  # the other servers do not know the Engine.IO session
