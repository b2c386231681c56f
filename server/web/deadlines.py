"""A deadline for reading a request's body, for any gunicorn worker.

gunicorn gives a request's head a time limit (the gevent worker's
``keepalive``) but none for the body: a client that sends its headers and
then a byte a minute holds its connection forever.  ``limit_body_reading``
(gunicorn.conf.py's ``pre_request``) makes every read of the body wait at
most until one deadline, and ``end_body_reading`` (``post_request``) lifts it
before the connection waits for its next request.  ``BodyTimeout`` is what
the application sees when the deadline passes (a 408, ``server.web.errors``);
every later read on that connection finds the body at its end, so the server
closes the connection instead of waiting for the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class BodyTimeout(TimeoutError):
    """The request's body did not arrive within the read timeout."""

    def __init__(self, seconds: float):
        super().__init__(f"the request body did not arrive within {seconds:g} s")
        self.seconds = seconds


class _DeadlineReads:
    """An unreader's ``chunk`` that gives up at ``deadline`` (None: no deadline)."""

    def __init__(self, read_chunk: Callable, sock, clock: Callable[[], float]):
        self._read_chunk = read_chunk
        self._socket = sock
        self._clock = clock
        self.deadline: float | None = None
        self.seconds = 0.0
        self.expired = False

    def __call__(self, size_hint=None) -> bytes:
        if self.expired:
            return b""  # as if the client had gone: the server stops reading here
        if self.deadline is None:
            return self._read_chunk(size_hint)
        remaining = self.deadline - self._clock()
        try:
            if remaining <= 0:
                raise TimeoutError
            self._socket.settimeout(remaining)
            return self._read_chunk(size_hint)
        except TimeoutError:
            self.expired = True
            raise BodyTimeout(self.seconds) from None
        finally:
            if not self.expired:
                self._socket.settimeout(None)


def limit_body_reading(unreader, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
    """Let reads on ``unreader`` (gunicorn's ``SocketUnreader``) wait until ``seconds`` from now.

    What is already buffered is read as before; each wait on the socket gets
    what is left of the deadline as its timeout.
    """
    if getattr(unreader, "sock", None) is None:
        return
    if not isinstance(unreader.chunk, _DeadlineReads):
        unreader.chunk = _DeadlineReads(unreader.chunk, unreader.sock, clock)
    unreader.chunk.deadline = clock() + seconds
    unreader.chunk.seconds = seconds


def end_body_reading(unreader) -> None:
    """Lift the deadline of ``limit_body_reading`` (the request was answered)."""
    reads = getattr(unreader, "chunk", None)
    if isinstance(reads, _DeadlineReads):
        reads.deadline = None
