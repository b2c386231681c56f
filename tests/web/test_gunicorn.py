"""The README's serving command for real: gunicorn, a training host process, SSE over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.web.sse_client import parse_block

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server_port():
    port = free_port()
    env = {**os.environ, "TUNING_BIND": f"127.0.0.1:{port}", "TUNING_RUN_PROCESSES": "1"}
    with tempfile.TemporaryFile() as log:
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not become healthy"
                try:
                    if get(port, "/healthz")[0] == 200:
                        break
                except OSError:
                    pass  # not listening yet
                time.sleep(0.1)
            yield port
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


def get(port: int, path: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_gunicorn_serves_a_run_and_its_stream(server_port):
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=30)
    body = json.dumps({"data": {"n_samples": 100}, "training": {"epochs": 5, "boundary_every": 0}})
    connection.request("POST", "/api/runs", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 201
    run = json.loads(response.read())

    connection.request("GET", run["events_url"])
    stream = connection.getresponse()
    assert stream.status == 200
    assert stream.getheader("Content-Type").startswith("text/event-stream")
    assert stream.getheader("Cache-Control") == "no-cache"
    assert stream.getheader("X-Accel-Buffering") == "no"
    assert stream.getheader("Transfer-Encoding") == "chunked"
    text = b""
    while not text.endswith(b"\n\n") or b"event: done" not in text:
        chunk = stream.read1(65536)
        assert chunk, "the stream ended before done"
        text += chunk
    connection.close()
    blocks = [parse_block(block)[0] for block in text.decode().split("\n\n") if block]
    assert blocks[0].retry == 2000 and not blocks[0].data_lines
    names = [block.event for block in blocks[1:]]
    assert names[0] == "config" and names[-1] == "done"
    assert names.count("metrics") == 6  # epoch 0 and five trained epochs
    assert [block.id for block in blocks[1:]] == list(range(1, len(names) + 1))

    status, body = get(server_port, run["status_url"])
    assert status == 200 and json.loads(body)["status"] == "done"


def open_stream(port: int, events_url: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", events_url)
    return connection, connection.getresponse()


def test_a_client_that_vanishes_frees_its_stream_slot(server_port):
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=10)
    body = json.dumps({"data": {"n_samples": 100}, "training": {"epochs": 2000, "epochs_per_second": 50}})
    connection.request("POST", "/api/runs", body=body, headers={"Content-Type": "application/json"})
    run = json.loads(connection.getresponse().read())
    streams = [open_stream(server_port, run["events_url"]) for _ in range(4)]
    assert [response.status for _, response in streams] == [200] * 4
    refused_connection, refused = open_stream(server_port, run["events_url"])
    assert refused.status == 429
    refused_connection.close()

    vanished, _ = streams.pop()
    vanished.sock.shutdown(socket.SHUT_RDWR)  # gone without a goodbye
    vanished.close()
    deadline = time.monotonic() + 10
    while True:  # the server notices at its next write, within an epoch or two
        retry_connection, retry = open_stream(server_port, run["events_url"])
        retry_connection.close()
        if retry.status == 200:
            break
        assert retry.status == 429 and time.monotonic() < deadline, "the slot was never freed"
        time.sleep(0.1)

    connection.request("POST", f"/api/runs/{run['id']}/control", body=json.dumps({"action": "stop"}),
                       headers={"Content-Type": "application/json"})
    assert connection.getresponse().status == 200
    for stream_connection, _ in streams:
        stream_connection.close()
    connection.close()
