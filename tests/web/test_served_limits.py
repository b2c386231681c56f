"""The served app (gunicorn.conf.py) at its limits.

gunicorn's own answers to requests it cannot parse (400, 414, 431) come in
the API's JSON error shape, one client cannot hold more than its share of
event streams, and slow, idle and half-sent connections are closed after the
read timeout without keeping anyone else waiting.  The server here has a
read timeout of 1 s (``TUNING_READ_TIMEOUT``): every assertion is about what
the server does (closes, answers), counted; the socket timeouts are only how
long a failing test waits.
"""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from server.web.errors import answer_server_errors_as_json, server_error_bytes
from tests.web.serving import free_port, get, gunicorn

HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: test\r\n"  # a request line and one header, never finished
PATIENCE = 30


@pytest.fixture(scope="module")
def server_port():
    """The project's gunicorn.conf.py serving the app, once for this module, with a 1 s read timeout."""
    port = free_port()
    with gunicorn(port, env={"TUNING_READ_TIMEOUT": "1"}):
        yield port


def parse_response(raw: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in header_lines)}
    assert int(headers["content-length"]) == len(body)
    return int(status_line.split()[1]), headers, json.loads(body)


def test_a_server_error_is_a_whole_http_response_with_a_json_body():
    message = "Error parsing headers: 'limit request headers'"
    raw = server_error_bytes(431, "Request Header Fields Too Large", message)
    status, headers, body = parse_response(raw)
    assert status == 431
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert body == {"error": "the request headers are too large",
                    "details": [{"loc": "", "msg": "Error parsing headers: 'limit request headers'"}]}


def test_a_long_message_is_cut_and_an_unknown_status_keeps_its_reason():
    status, _, body = parse_response(server_error_bytes(501, "Not Implemented", "x" * 5000))
    assert status == 501
    assert body["error"] == "not implemented" and len(body["details"][0]["msg"]) == 200


def test_gunicorns_error_writer_is_replaced(monkeypatch):
    from gunicorn import util

    monkeypatch.setattr(util, "write_error", util.write_error)  # restored after the test
    answer_server_errors_as_json()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        util.write_error(ours, 414, "URI Too Long", "limit request line")
        assert ours.fileno() == -1  # the answer ends the connection
        raw = b"".join(iter(lambda: theirs.recv(65536), b""))
    status, _, body = parse_response(raw)
    assert status == 414 and body["error"] == "the request line (method, path and query) is too long"


def raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        return b"".join(iter(lambda: connection.recv(65536), b""))


@pytest.mark.parametrize(("request_bytes", "status", "error"), [
    (b"GET /api/schema?" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     "the request line (method, path and query) is too long"),
    (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-Filler-%d: 1\r\n" % n for n in range(150)) + b"\r\n", 431,
     "the request headers are too large"),
    (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"b" * 10000 + b"\r\n\r\n", 431,
     "the request headers are too large"),
    (b"NOT A REQUEST\r\n\r\n", 400, "the request could not be parsed"),
], ids=["long-request-line", "many-headers", "long-header", "garbage"])
def test_gunicorn_answers_what_it_cannot_parse_in_json(server_port, request_bytes, status, error):
    answered, headers, body = parse_response(raw_exchange(server_port, request_bytes))
    assert answered == status
    assert headers["content-type"] == "application/json"
    assert body["error"] == error and isinstance(body["details"], list)


SLOW_LAB = "/api/labs/optimizers/events?surface=saddle&steps=500&steps_per_second=10"  # 50 s


def test_one_client_gets_its_share_of_lab_streams_and_healthz_still_answers(server_port):
    connections = []
    try:
        statuses = []
        for _ in range(40):
            connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=10)
            connection.request("GET", SLOW_LAB)
            response = connection.getresponse()
            statuses.append(response.status)
            if response.status == 429:
                assert response.getheader("Retry-After") == "5"
                refusal = json.loads(response.read())["error"]
                assert refusal.startswith("you already have 32 open event streams")
                connection.close()
            else:
                assert response.read1(64).startswith(b"retry: 2000")
                connections.append(connection)
        assert statuses == [200] * 32 + [429] * 8
        status, body = get(server_port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        for connection in connections:
            connection.close()


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
