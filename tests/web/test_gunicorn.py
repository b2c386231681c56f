"""The README's serving command for real: gunicorn, a training host process, SSE over HTTP."""

from __future__ import annotations

import http.client
import json
import runpy
import shutil
import socket
import sys
import time

import pytest

from tests.web.serving import GUNICORN_CONF, ROOT, free_port, get, gunicorn
from tests.web.sse_client import parse_block


@pytest.fixture(scope="module")
def server_port():
    port = free_port()
    with gunicorn(port):
        yield port


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


def test_two_instances_on_one_machine_both_serve_without_a_shared_control_socket(tmp_path):
    # gunicorn 25+ would put both control sockets at $HOME/.gunicorn/gunicorn.ctl.
    home = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": "", "TUNING_RUN_PROCESSES": "0"}
    first_port, second_port = free_port(), free_port()
    with gunicorn(first_port, env=home):
        with gunicorn(second_port, env=home):
            assert get(first_port, "/healthz")[0] == 200
            assert get(second_port, "/healthz")[0] == 200
            assert not (tmp_path / ".gunicorn").exists()
        assert get(first_port, "/healthz")[0] == 200


def test_an_operator_can_ask_for_a_control_socket(tmp_path):
    path = tmp_path / "playground.ctl"
    with gunicorn(free_port(), env={"TUNING_CONTROL_SOCKET": str(path), "TUNING_RUN_PROCESSES": "0"}):
        assert path.is_socket()


def test_the_gunicorn_script_serves_the_checkout_it_runs_in(tmp_path):
    """gunicorn.conf.py imports ``server.settings`` in the master: that, and the app the worker
    imports, come from the working directory's checkout, whatever else is installed."""
    checkout = tmp_path / "checkout"
    for name in ("server", "templates", "static"):
        shutil.copytree(ROOT / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "gunicorn.conf.py", checkout)
    (checkout / "static" / "marker.txt").write_text("this checkout")
    # What the `gunicorn` console script does: no working directory on sys.path at start-up.
    script = [sys.executable, "-P", "-c", "import sys; from gunicorn.app.wsgiapp import run; sys.exit(run())"]
    port = free_port()
    with gunicorn(port, command=script, cwd=checkout, env={"TUNING_RUN_PROCESSES": "0"}):
        assert get(port, "/static/marker.txt") == (200, b"this checkout")


@pytest.mark.parametrize(("environ", "worker_class"), [
    ({}, "gevent"),
    ({"TUNING_RUN_PROCESSES": "0"}, "gthread"),  # runs train in the worker: no evented worker
    ({"TUNING_RUN_PROCESSES": "0", "TUNING_WORKER_CLASS": "gevent"}, "gevent"),
    ({"TUNING_WORKER_CLASS": "gthread"}, "gthread"),
])
def test_the_conf_serves_with_gevent_unless_runs_train_in_the_worker(monkeypatch, environ, worker_class):
    for name in ("TUNING_RUN_PROCESSES", "TUNING_WORKER_CLASS", "TUNING_READ_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    conf = runpy.run_path(str(GUNICORN_CONF))
    assert conf["worker_class"] == worker_class
    assert (conf["keepalive"], conf["worker_connections"]) == (5, 10000)
