"""The real socket.io-client (Node, from npm) against a real ``planwise serve``: tests/js/socketio*.mjs."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ROOT, ServerProcess
from tests.service.server_helpers import service_server


def _node() -> str:
    node = shutil.which("node")
    missing = "node is not installed" if node is None else None
    if node is not None and not (ROOT / "node_modules" / "socket.io-client").is_dir():
        missing = "socket.io-client is not installed (make test runs npm ci)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    assert node is not None
    return node


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = service_server(tmp_path_factory.mktemp("socketio"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_socket_io_client_suite(server: ServerProcess) -> None:
    """tests/js/socketio.test.mjs: both transports, acks, errors, resume, rooms, limits, Origin."""
    node = _node()
    env = {**os.environ, "PLANWISE_SIO_URL": server.url, "NO_PROXY": "127.0.0.1"}
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "tests/js/socketio.test.mjs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-15000:]}\n{result.stderr[-5000:]}"
    assert "# skipped 0" in result.stdout and "# fail 0" in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socket_io_client_resumes_across_a_server_restart(tmp_path: Path, transport: str) -> None:
    node = _node()
    server = service_server(tmp_path)
    server.start()
    try:
        proc = subprocess.Popen(
            [node, "tests/js/socketio_restart.mjs", server.url, transport],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()  # bounded by the script's own timeouts
            assert line == "ready", f"{line}\n{proc.stderr.read() if proc.stderr else ''}"
            # A polling client keeps a request open: uvicorn waits for it up to PLANWISE_SHUTDOWN_TIMEOUT.
            assert server.terminate(timeout=30) in (
                0,
                -15,
            )  # uvicorn re-raises SIGTERM after a clean shutdown
            time.sleep(0.3)  # the client sees the server gone and starts reconnecting
            server.start()
            out, err = proc.communicate(timeout=90)
            assert proc.returncode == 0, f"{out}\n{err}\n{server.log_tail()}"
            assert "resumed" in out
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    finally:
        server.stop()
