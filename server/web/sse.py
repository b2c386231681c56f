"""Server-Sent Events: the wire format and a streaming response that follows a log.

``format_sse`` and ``format_comment`` are pure functions (tested on exact
strings).  ``event_stream`` turns a ``fetch(last_id, timeout)`` function into
the chunks of a live stream: a ``retry:`` field first, then every event after
``last_id``, a heartbeat comment whenever nothing happened for
``heartbeat_seconds``, and the end right after a terminal event (``done`` or
``error``).  ``sse_response`` wraps chunks in a response with the headers a
stream needs; ``requested_last_id`` reads where a client resumes;
``StreamSlots`` caps the streams open per source, per client and in all, and
``stream_response`` puts the three together.  The run, search and lab streams
all use them.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from flask import Response, current_app, request

from server.runs.events import to_json
from server.web.clients import Client
from server.web.errors import ApiError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# ASCII digits only: int() also takes " 5 ", "+5", "1_000" and other scripts' digits.
_EVENT_ID = re.compile(r"[0-9]{1,18}")
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
        if "\n" in text or "\r" in text:
            lines.extend(f"data: {line}" for line in _LINE_BREAK.split(text))
        else:  # JSON text is one line: a boundary event's 13 KB need not go through the pattern
            lines.append(f"data: {text}")
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

    ``on_close`` runs when the chunks run out and again when the server closes
    the response (so make it idempotent): the first covers a stream that ended
    by itself, the second one that was never started or was cut short.
    """
    if on_close is not None:
        chunks = _then(chunks, on_close)
    response = Response(chunks, mimetype="text/event-stream", headers=STREAM_HEADERS)
    if on_close is not None:
        response.call_on_close(on_close)
    return response


def _then(chunks: Iterable[str], action: Callable[[], None]) -> Iterator[str]:
    try:
        yield from chunks
    finally:
        action()


def stream_response(fetch: Callable[[int, float], Sequence[StreamEvent]], last_id: int, *,
                    client: Client, kind: str, source_id: str | None = None) -> Response:
    """The SSE response of ``event_stream(fetch, last_id)`` in one of ``client``'s stream slots.

    ``kind`` (``run``, ``search``, ``lab``) names the source in the 429 that a
    full slot table answers; ``source_id`` is the run or search whose own
    per-source cap applies (labs have none).
    """
    slots: StreamSlots = current_app.extensions["stream_slots"]
    release = slots.take(client.key, kind, source_id, client.address)
    config = current_app.config
    chunks = event_stream(fetch, last_id, heartbeat_seconds=config["SSE_HEARTBEAT_SECONDS"],
                          retry_ms=config["SSE_RETRY_MS"])
    return sse_response(chunks, on_close=release)


def requested_last_id(latest: int, default: int = 0) -> int:
    """The id to resume after: ``Last-Event-ID`` (an EventSource reconnecting), else ``?since=``.

    Neither given (or empty): ``default`` (0 for logs whose ids start at 1).
    A value other than ASCII digits, or an id after ``latest`` (the newest
    event so far: no client can have seen a later one), is a 400 naming the
    header or parameter.
    """
    for loc, raw in (("Last-Event-ID", request.headers.get("Last-Event-ID")),
                     ("since", request.args.get("since"))):
        if not raw:
            continue
        if not _EVENT_ID.fullmatch(raw):
            raise ApiError(400, "invalid event id",
                           [{"loc": loc, "msg": f"must be a non-negative integer, got {raw[:40]!r}"}])
        value = int(raw)
        if value > latest:
            raise ApiError(400, "invalid event id", [{"loc": loc, "msg": (
                f"{value} is after the latest event, {latest}: only ids already sent can be resumed after")}])
        return value
    return default


STREAM_RETRY_AFTER_SECONDS = 5


class StreamSlots:
    """Open event streams: capped per source, per client, per address and in all.

    ``per_source`` bounds the streams of one run or search, ``per_client`` those
    of one client (``server.web.clients``: a browser's token, or an address)
    across every kind of stream, ``per_address`` those of all clients of one
    network address, ``total`` the streams of the whole app, so that neither
    one run nor one client nor one network can take the connections and the
    memory that other requests (``/healthz``, POSTs, other clients) need.
    """

    def __init__(self, per_source: int, per_client: int, total: int, per_address: int | None = None):
        self.per_source = per_source
        self.per_client = per_client
        self.total = total
        self.per_address = total if per_address is None else per_address
        self._by_source: Counter[str] = Counter()
        self._by_client: Counter[str] = Counter()
        self._by_address: Counter[str] = Counter()
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        with self._lock:
            return self._open

    def take(self, client: str, kind: str, source_id: str | None = None,
             address: str | None = None) -> Callable[[], None]:
        """Take a slot; the function that gives it back (once, however often it is called).

        ``address`` defaults to ``client`` (a client known by its address alone).
        Raises a 429 ``ApiError`` with ``Retry-After`` when any of the caps is reached.
        """
        address = client if address is None else address
        with self._lock:
            refusal = self._refusal(client, kind, source_id, address)
            if refusal is not None:
                raise self._refused(refusal)
            self._open += 1
            self._by_client[client] += 1
            self._by_address[address] += 1
            if source_id is not None:
                self._by_source[source_id] += 1

        def release() -> None:
            with self._lock:
                self._open -= 1
                _decrement(self._by_client, client)
                _decrement(self._by_address, address)
                if source_id is not None:
                    _decrement(self._by_source, source_id)

        return _once(release)

    def _refusal(self, client: str, kind: str, source_id: str | None, address: str) -> str | None:
        if source_id is not None and self._by_source[source_id] >= self.per_source:
            return self.refusal("source", kind)
        if self._by_client[client] >= self.per_client:
            return self.refusal("client", kind)
        if self._by_address[address] >= self.per_address:
            return self.refusal("address", kind)
        if self._open >= self.total:
            return self.refusal("total", kind)
        return None

    @staticmethod
    def _refused(message: str) -> ApiError:
        return ApiError(429, message, headers={"Retry-After": str(STREAM_RETRY_AFTER_SECONDS)})

    def refusal(self, scope: str, kind: str) -> str:
        """The 429's message when ``scope`` (source, client, address, total) is at its cap."""
        return {
            "source": f"this {kind} already has {self.per_source} open streams",
            "client": (f"you already have {self.per_client} open event streams, the most one client "
                       "may have; close one or try again shortly"),
            "address": (f"your network address already has {self.per_address} open event streams, the most "
                        "one address may have; close one or try again shortly"),
            "total": f"the service has its maximum of {self.total} open event streams; try again shortly",
        }[scope]


class SharedStreamSlots(StreamSlots):
    """The caps of ``StreamSlots`` per source, client and address counted for every instance together.

    ``leases`` (the Redis backend's ``server.runs.redis_slots.StreamLeases``)
    holds those counts, so that their 429 means the same on every instance.
    ``total`` stays a cap of this process: it protects its connections and
    threads, whatever the other instances serve.
    """

    def __init__(self, leases, per_source: int, per_client: int, total: int, per_address: int | None = None):
        super().__init__(per_source, per_client, total, per_address)
        self.leases = leases

    def take(self, client: str, kind: str, source_id: str | None = None,
             address: str | None = None) -> Callable[[], None]:
        from server.runs.redis_slots import ScopeFull

        address = client if address is None else address
        scopes = [("source", f"source:{source_id}", self.per_source)] if source_id is not None else []
        scopes += [("client", f"client:{client}", self.per_client),
                   ("address", f"address:{address}", self.per_address)]
        try:
            give_back = self.leases.take([(name, limit) for _, name, limit in scopes])
        except ScopeFull as full:
            raise self._full(scopes[full.index][0], kind) from None
        with self._lock:
            room = self._open < self.total
            if room:
                self._open += 1
        if not room:
            give_back()
            raise self._full("total", kind)

        def release() -> None:
            with self._lock:
                self._open -= 1
            give_back()

        return _once(release)

    def _full(self, scope: str, kind: str) -> ApiError:
        return self._refused(self.refusal(scope, kind))


def _once(action: Callable[[], None]) -> Callable[[], None]:
    """``action``, done the first time the returned function is called and never again."""
    done = threading.Event()
    lock = threading.Lock()

    def at_most_once() -> None:
        with lock:
            if done.is_set():
                return
            done.set()
        action()

    return at_most_once


def _decrement(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]
