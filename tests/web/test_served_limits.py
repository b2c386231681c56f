"""The served app under slow, idle and half-sent connections (gunicorn.conf.py for real).

The server here has a read timeout of 1 s (``TUNING_READ_TIMEOUT``): every
assertion is about what the server does (closes, answers), counted; the
socket timeouts are only how long a failing test waits.
"""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from tests.web.serving import free_port, get, gunicorn

HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: test\r\n"  # a request line and one header, never finished
PATIENCE = 30


@pytest.fixture(scope="module")
def server_port():
    port = free_port()
    with gunicorn(port, env={"TUNING_READ_TIMEOUT": "1"}):
        yield port


def connect(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a socket timeout fails the test)."""
    return b"".join(iter(lambda: connection.recv(65536), b""))


def test_a_half_sent_request_is_closed_after_the_read_timeout(server_port):
    with connect(server_port) as connection:
        connection.sendall(HALF_SENT)
        assert read_until_closed(connection) == b""


def test_an_idle_connection_is_closed_after_the_read_timeout(server_port):
    with connect(server_port) as connection:
        assert read_until_closed(connection) == b""


def test_a_body_that_stops_arriving_gets_a_408_and_the_connection_ends(server_port):
    with connect(server_port) as connection:
        connection.sendall(b"POST /api/runs HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 100\r\n\r\n{\"seed\": ")
        raw = read_until_closed(connection)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == b"408"
    assert json.loads(body) == {"error": "the request body did not arrive within 1 s", "details": [
        {"loc": "body", "msg": "send the whole body within 1 s of the request's headers"}]}


def test_half_sent_requests_beyond_any_thread_count_leave_health_probes_answered(server_port):
    held = [connect(server_port) for _ in range(300)]  # more than gthread's 256 threads
    try:
        for connection in held:
            connection.sendall(HALF_SENT)
        assert [get(server_port, "/healthz")[0] for _ in range(5)] == [200] * 5
    finally:
        for connection in held:
            connection.close()


def test_a_connection_kept_alive_after_a_long_stream_serves_its_next_request(server_port):
    """The body's deadline ends with its request: a stream outlasting it leaves the connection usable."""
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=PATIENCE)
    body = json.dumps({"data": {"n_samples": 100}, "training": {"epochs": 15, "epochs_per_second": 10,
                                                                 "boundary_every": 0}})
    connection.request("POST", "/api/runs", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 201
    run = json.loads(response.read())
    connection.request("GET", run["events_url"])
    stream = connection.getresponse()
    assert stream.status == 200
    text = stream.read()  # to the end of the run, 1.5 s at its pace
    assert b"event: done" in text
    connection.request("GET", run["status_url"])
    status = connection.getresponse()
    assert status.status == 200 and json.loads(status.read())["status"] == "done"
    connection.close()
