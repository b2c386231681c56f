"""Starting the README's gunicorn command for real, and plain HTTP requests to it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str, timeout: float = 10):
    """``(status, body bytes)`` of a GET."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def post_json(port: int, path: str, body: dict, timeout: float = 30):
    """``(status, decoded JSON body)`` of a JSON POST."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def wait_until_healthy(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    def healthy() -> bool:
        assert process.poll() is None, "the server exited"
        try:
            return get(port, "/healthz")[0] == 200
        except OSError:
            return False  # not listening yet

    wait_until(healthy, "the server answering /healthz with 200", timeout, interval=0.1)


@contextlib.contextmanager
def gunicorn(port: int, *, python: str = sys.executable, cwd: Path = ROOT, env: dict | None = None,
             command: list[str] | None = None):
    """gunicorn with ``cwd``'s gunicorn.conf.py on ``port``, once healthy; must stop cleanly after.

    ``command`` replaces ``python -m gunicorn`` (the options stay).
    """
    env = {**os.environ, "TUNING_BIND": f"127.0.0.1:{port}", "TUNING_RUN_PROCESSES": "1", **(env or {})}
    conf = cwd / "gunicorn.conf.py" if (cwd / "gunicorn.conf.py").exists() else GUNICORN_CONF
    command = [*(command or [python, "-m", "gunicorn"]), "-c", str(conf), "server:create_app()"]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(port, server)
            yield server
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                assert server.wait(30) == 0
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait()
                log.seek(0)
                output = log.read().decode(errors="replace")
            assert "Traceback" not in output, output
