"""Real processes on the test Redis: ``python -m server.worker``, gunicorn web instances, SSE over HTTP."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import tempfile

from tests.web.serving import GUNICORN_CONF, ROOT, free_port, wait_until_healthy
from tests.web.sse_client import Message, parse_block


def redis_environment(url: str, prefix: str, **extra: str) -> dict:
    """The environment of a web instance or worker on this Redis, noticing a dead worker within seconds."""
    return {**os.environ, "TUNING_REDIS_URL": url, "TUNING_REDIS_PREFIX": prefix,
            "TUNING_WORKER_HEARTBEAT_SECONDS": "0.2", "TUNING_WORKER_LOST_AFTER_SECONDS": "1.5", **extra}


@contextlib.contextmanager
def started(command: list[str], env: dict):
    """A process in its own session (so a kill reaches its children); killed after if still alive."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        process.log = log
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


def worker_command(concurrency: int = 4) -> list[str]:
    return [sys.executable, "-m", "server.worker", "--concurrency", str(concurrency)]


@contextlib.contextmanager
def web_instance(env: dict):
    """A gunicorn web instance (the project's gunicorn.conf.py) on a free port, once healthy.

    Yields ``(port, process)``.
    """
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "server:create_app()"]
    with started(command, {**env, "TUNING_BIND": f"127.0.0.1:{port}"}) as process:
        wait_until_healthy(port, process)
        yield port, process


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (nothing gets to clean up)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


class HttpStream:
    """An SSE stream read over a real connection, message by message."""

    def __init__(self, port: int, path: str, headers: dict | None = None):
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._connection.request("GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        self.response = self._connection.getresponse()
        assert self.response.status == 200, self.response.status
        self._buffer = ""

    def next_message(self) -> Message | None:
        """The next message with an event (None at the end of the stream, or if the server died)."""
        while True:
            while "\n\n" in self._buffer:
                block, self._buffer = self._buffer.split("\n\n", 1)
                message, _ = parse_block(block)
                if message is not None and message.data_lines:
                    return message
            try:
                chunk = self.response.read1(65536)
            except (OSError, http.client.HTTPException):
                return None
            if not chunk:
                return None
            self._buffer += chunk.decode()

    def messages(self, until=lambda message: False) -> list[Message]:
        read = []
        while (message := self.next_message()) is not None:
            read.append(message)
            if until(message):
                break
        return read

    def close(self) -> None:
        self._connection.close()
