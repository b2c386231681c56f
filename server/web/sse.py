"""Server-Sent Events: the wire format and a streaming response that follows a log.

``format_sse`` and ``format_comment`` are pure functions (tested on exact
strings).  ``event_stream`` turns a ``fetch(last_id, timeout)`` function into
the chunks of a live stream: a ``retry:`` field first, then every event after
``last_id``, a heartbeat comment whenever nothing happened for
``heartbeat_seconds``, and the end right after a terminal event (``done`` or
``error``).  ``sse_response`` wraps chunks in a response with the headers a
stream needs; ``requested_last_id`` reads where a client resumes;
``StreamSlots`` caps the streams open per source.  The run and search APIs
both use them.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from flask import Response, request

from server.runs.events import to_json
from server.web.errors import ApiError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx buffers responses unless told otherwise; a buffered stream is a dead one.
    "X-Accel-Buffering": "no",
}


def format_sse(data: Any = None, event: str | None = None, id: int | str | None = None,
               retry: int | None = None) -> str:
    """One SSE message, ending with its blank line.

    ``data`` that is not a string is sent as strict JSON (see ``to_json``); a
    multi-line string becomes one ``data:`` line per line.  Zero is a valid
    ``id``.  Field order: ``event``, ``id``, ``retry``, ``data``.

    >>> format_sse({"a": 1}, event="metrics", id=0)
    'event: metrics\\nid: 0\\ndata: {"a":1}\\n\\n'
    """
    lines = []
    if event is not None:
        _check_single_line("event", event)
        lines.append(f"event: {event}")
    if id is not None:
        _check_single_line("id", str(id))
        if "\0" in str(id):
            raise ValueError("an SSE id cannot contain NUL")
        lines.append(f"id: {id}")
    if retry is not None:
        if not isinstance(retry, int) or isinstance(retry, bool) or retry < 0:
            raise ValueError(f"retry must be a non-negative integer of milliseconds, got {retry!r}")
        lines.append(f"retry: {retry}")
    if data is not None:
        text = data if isinstance(data, str) else to_json(data)
        lines.extend(f"data: {line}" for line in _LINE_BREAK.split(text))
    if not lines:
        raise ValueError("an SSE message needs at least one of data, event, id or retry")
    return "\n".join(lines) + "\n\n"


def format_comment(text: str = "") -> str:
    """A comment (ignored by ``EventSource``; keeps idle connections alive): ``": text\\n\\n"``."""
    return "".join(f": {line}\n" if line else ":\n" for line in _LINE_BREAK.split(text)) + "\n"


def _check_single_line(field: str, value: str) -> None:
    if _LINE_BREAK.search(value):
        raise ValueError(f"an SSE {field} cannot contain a line break: {value!r}")


class StreamEvent(Protocol):
    """An event as ``event_stream`` needs it (``server.runs.events.LoggedEvent`` is one)."""

    id: int
    event: str
    data: str
    terminal: bool


def event_stream(fetch: Callable[[int, float], Sequence[StreamEvent]], last_id: int = 0, *,
                 heartbeat_seconds: float = 15.0, retry_ms: int = 2000) -> Iterator[str]:
    """The chunks of a stream that replays everything after ``last_id``, then follows live.

    ``fetch(last_id, timeout)`` returns the events after ``last_id``, waiting up
    to ``timeout`` seconds for one; it raises ``LookupError`` when the source is
    gone or has ended with nothing more to send, which ends the stream.  The
    first chunk (the ``retry:`` field) is yielded at once, so the headers go
    out before anything else happens.
    """
    yield format_sse(retry=retry_ms)
    while True:
        try:
            batch = fetch(last_id, heartbeat_seconds)
        except LookupError:
            return
        if not batch:
            yield format_comment("heartbeat")
            continue
        yield "".join(format_sse(item.data, event=item.event, id=item.id) for item in batch)
        last_id = batch[-1].id
        if batch[-1].terminal:
            return


def sse_response(chunks: Iterable[str], on_close: Callable[[], None] | None = None) -> Response:
    """A ``text/event-stream`` response that streams ``chunks`` unbuffered.

    ``on_close`` runs when the server closes the response, whether or not the
    stream was ever started (a generator's ``finally`` would not run then).
    """
    response = Response(chunks, mimetype="text/event-stream", headers=STREAM_HEADERS)
    if on_close is not None:
        response.call_on_close(on_close)
    return response


def requested_last_id() -> int:
    """The id to resume after: ``Last-Event-ID`` (an EventSource reconnecting) over ``?since=``, else 0.

    A value that is not a non-negative integer is a 400 naming the header or parameter.
    """
    for loc, raw in (("Last-Event-ID", request.headers.get("Last-Event-ID")),
                     ("since", request.args.get("since"))):
        if raw is None or raw.strip() == "":
            continue
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value < 0:
            raise ApiError(400, "invalid event id",
                           [{"loc": loc, "msg": f"must be a non-negative integer, got {raw[:40]!r}"}])
        return value
    return 0


class StreamSlots:
    """Open streams per source (a run, a search): none may hold more than ``per_source`` threads."""

    def __init__(self, per_source: int):
        self.per_source = per_source
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def per_run(self) -> int:
        return self.per_source

    def acquire(self, source_id: str) -> bool:
        """Take a slot; False when the source already has ``per_source`` open streams."""
        with self._lock:
            if self._open[source_id] >= self.per_source:
                return False
            self._open[source_id] += 1
            return True

    def release(self, source_id: str) -> None:
        with self._lock:
            self._open[source_id] -= 1
            if self._open[source_id] <= 0:
                del self._open[source_id]
