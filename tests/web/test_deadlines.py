"""The body's read deadline on gunicorn's unreader: reads wait at most until it, then the body ends."""

from __future__ import annotations

import pytest

from server.web.deadlines import BodyTimeout, end_body_reading, limit_body_reading


class FakeSocket:
    def __init__(self):
        self.timeouts: list[float | None] = []

    def settimeout(self, value):
        self.timeouts.append(value)


class FakeUnreader:
    """``chunk`` returns the next piece, or raises TimeoutError when the piece is None (the client stalls)."""

    def __init__(self, pieces):
        self.sock = FakeSocket()
        self.pieces = list(pieces)

    def chunk(self, size_hint=None):
        piece = self.pieces.pop(0)
        if piece is None:
            raise TimeoutError("timed out")
        return piece


def test_each_wait_gets_what_is_left_of_the_deadline_and_then_none():
    now = [100.0]
    unreader = FakeUnreader([b"ab", b"cd"])
    limit_body_reading(unreader, 5, clock=lambda: now[0])
    assert unreader.chunk() == b"ab"
    now[0] = 103.0
    assert unreader.chunk() == b"cd"
    assert unreader.sock.timeouts == [5.0, None, 2.0, None]


def test_a_stalled_body_is_a_body_timeout_and_the_body_then_ends():
    unreader = FakeUnreader([b"ab", None, b"never read"])
    limit_body_reading(unreader, 1, clock=lambda: 0.0)
    assert unreader.chunk() == b"ab"
    with pytest.raises(BodyTimeout, match="did not arrive within 1 s"):
        unreader.chunk()
    assert unreader.chunk() == b""  # as if the client had gone: the server closes the connection
    assert unreader.pieces == [b"never read"]


def test_a_deadline_already_past_reads_nothing_more():
    now = [0.0]
    unreader = FakeUnreader([b"ab"])
    limit_body_reading(unreader, 1, clock=lambda: now[0])
    now[0] = 2.0
    with pytest.raises(BodyTimeout):
        unreader.chunk()
    assert unreader.pieces == [b"ab"]


def test_the_next_request_on_the_connection_waits_without_the_old_deadline():
    now = [0.0]
    unreader = FakeUnreader([b"first", b"second", b"third"])
    limit_body_reading(unreader, 1, clock=lambda: now[0])
    assert unreader.chunk() == b"first"
    end_body_reading(unreader)
    now[0] = 50.0  # long after the first request's deadline
    assert unreader.chunk() == b"second"
    limit_body_reading(unreader, 1, clock=lambda: now[0])  # the next request: one wrapper, a new deadline
    assert unreader.chunk() == b"third"
    assert unreader.sock.timeouts == [1.0, None, 1.0, None]
