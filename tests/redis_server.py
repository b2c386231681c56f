"""A real redis-server for the Redis backend's tests: ``TUNING_TEST_REDIS_URL``, or one started here.

Tests of that backend never run against a fake and never skip: without a
server to use or start they fail, saying how to get one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

NO_SERVER = ("the Redis backend's tests need a redis-server: set TUNING_TEST_REDIS_URL=redis://host:port/db, "
             "or install one (sh scripts/install-test-tools.sh installs Debian's redis-server)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server_url() -> Iterator[str]:
    """The URL of a Redis to test against, started (and stopped after) if none is given."""
    given = os.environ.get("TUNING_TEST_REDIS_URL")
    if given:
        yield given
        return
    executable = shutil.which("redis-server")
    if executable is None and os.path.exists("/usr/sbin/redis-server"):
        executable = "/usr/sbin/redis-server"
    if executable is None:
        raise RuntimeError(NO_SERVER)
    port = _free_port()
    server = subprocess.Popen([executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port}. {NO_SERVER}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)
