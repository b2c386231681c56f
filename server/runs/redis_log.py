"""A run's event log as a Redis stream: written by its worker, read by any web instance.

Entry ``N-0`` of ``run:<id>:events`` is SSE id N, so ``Last-Event-ID`` and
``?since=`` mean the same on every instance.  Each entry has two fields:
``e`` (the event name) and ``d`` (its data, strict JSON text).

The writer (``RedisEventLog``, in the worker) bounds the stream exactly as the
embedded ``EventLog`` bounds its deque: at most ``max_events`` events and
``max_bytes`` bytes of JSON, the oldest dropped first (``XADD ... MINID``), the
first event (``config``) kept apart in the run's hash so that a late reader can
still draw, and the latest one always kept.  ``read_events`` puts a ``gap``
event where a reader asks for dropped ones, as ``EventLog.since`` does.

Readers wait with ``StreamFollower``: one thread per web instance blocks in a
single ``XREAD`` over every run its clients are waiting on, keeps the newest
entries of each, and wakes the waiting request threads.  No client holds a
Redis connection of its own.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import redis

from server.runs.events import GAP_EVENT, TERMINAL_EVENTS, LoggedEvent, to_json
from server.runs.redis_store import UNAVAILABLE, Store, client_of_its_own, status_after
from server.runs.redis_writer import EventWriter
from server.runs.run import LATEST_KINDS

logger = logging.getLogger(__name__)

#: Entries one read returns at most; a long replay is sent in several batches.
READ_COUNT = 2000
#: After a read that returned entries, the follower waits this long before the next:
#: with 50 streams followed and a thousand events a second, reading at once after
#: each reply spent most of a web instance's CPU packing the same 100 arguments.
#: A stream's events reach their readers at most this much later.
READ_COALESCE_SECONDS = 0.02


@dataclass(frozen=True)
class LogLimits:
    """What the worker keeps of a run, decided by the web instance that accepted it."""

    max_events: int
    max_bytes: int
    retention_seconds: float
    max_retained_runs: int


class RedisEventLog:
    """The ``EventLog`` interface the run needs (``append``, ``last_id``), over a stream.

    Not thread-safe: only the run's thread appends, under the run's lock.
    An append is queued on the worker's ``EventWriter`` and returns at once,
    with the id the event will have; ``finished`` turns true once the last
    event is stored, and ``failure`` holds what Redis answered when an event
    could not be (the next append raises it).  ``stage`` adds fields to the
    run's hash with the next append (its epoch, its config after an update),
    so an event and the state it implies are one command.  After
    ``follow_controls(cursor)`` each append also reads the run's controls
    after id ``cursor()``, in the same command: ``take_controls``.
    """

    def __init__(self, store: Store, run_id: str, limits: LogLimits, writer: EventWriter):
        if limits.max_events < 2:
            raise ValueError(f"max_events must be at least 2 (the first and the latest), "
                             f"got {limits.max_events}")
        self._store = store
        self._run_id = run_id
        self._writer = writer
        self.limits = limits
        self.last_id = 0
        self.finished = False
        self.failure: Exception | None = None
        self._kept: deque[tuple[int, int]] = deque()  # (id, bytes) of the events after the first
        self._bytes = 0
        self._staged: dict[str, str] = {}
        self._controls_after: Callable[[], int] | None = None
        self._controls: list[LoggedEvent] = []
        self._controls_lock = threading.Lock()  # the writer's thread sets them, the run's takes them

    def follow_controls(self, cursor: Callable[[], int]) -> None:
        self._controls_after = cursor

    def take_controls(self) -> list[LoggedEvent]:
        """The controls read with the latest append stored (once)."""
        with self._controls_lock:
            controls, self._controls = self._controls, []
        return controls

    def stage(self, **fields) -> None:
        self._staged.update({name: str(value) for name, value in fields.items()})

    def append(self, event: str, data) -> LoggedEvent:
        if self.failure is not None:
            raise self.failure
        text = data if isinstance(data, str) else to_json(data)
        event_id = self.last_id + 1
        fields = {"last_id": str(event_id), **self._staged}
        if event_id == 1:
            fields["first_event"] = event
        terminal = event in TERMINAL_EVENTS
        minid = self._trim(event_id, len(text))
        cursor = None if self._controls_after is None else f"{self._controls_after() + 1}-0"
        if terminal:
            self._writer.call(partial(self._append_last, event_id, event, text, fields, minid, cursor))
        else:
            self._append_in_script(event_id, event, text, fields, minid, cursor)
        self._staged.clear()
        self.last_id = event_id
        return LoggedEvent(event_id, event, text)

    def _append_in_script(self, event_id: int, event: str, text: str, fields: dict[str, str],
                          minid: str | None, cursor: str | None) -> None:
        """Every event but the last: one script call, batched with other runs' by the writer.

        The first is kept apart in the run's hash too (``first``), for readers
        that come after it was trimmed: in the script, so that the first events
        of a burst of new runs go out in one pipeline, not one transaction each.
        """
        keys = self._store.keys
        pairs = [item for pair in fields.items() for item in pair]
        run_keys = [keys.events(self._run_id), keys.run(self._run_id), keys.control(self._run_id)]
        args = [str(event_id), event, text, minid or "", cursor or "", " ".join(_kept_as(event_id, event)),
                *pairs]
        answer = self._read_controls if cursor is not None else _ignore
        self._writer.script(run_keys, args, answer, self._fail)

    def _read_controls(self, entries) -> None:
        """The script's reply: ``XRANGE``'s entries as Lua returns them, fields and values in one list."""
        self._keep_controls([entry_event(entry_id, dict(zip(flat[::2], flat[1::2], strict=True)))
                             for entry_id, flat in entries])

    def _keep_controls(self, controls: list[LoggedEvent]) -> None:
        with self._controls_lock:
            self._controls = controls

    def _fail(self, error: Exception) -> None:
        if self.failure is None:
            logger.warning("run %s: an event could not be stored: %s", self._run_id, error)
            self.failure = error

    def _append_last(self, event_id: int, event: str, text: str, fields: dict[str, str],
                     minid: str | None, cursor: str | None) -> None:
        """The last event, which ends the run, in a transaction with the run's end."""
        if self.failure is not None:  # an event before it is missing: the run fails instead
            return
        store, limits = self._store, self.limits
        keys = store.keys
        fields.update(dict.fromkeys(_kept_as(event_id, event), text))
        pipe = store.client.pipeline(transaction=True)
        pipe.xadd(keys.events(self._run_id), {"e": event, "d": text}, id=f"{event_id}-0",
                  minid=minid, approximate=False)
        pipe.hset(keys.run(self._run_id), mapping=fields)
        finish = store.finish_args(self._run_id, status_after(event, text), limits.retention_seconds,
                                   limits.max_retained_runs)
        store.queue_script(pipe, store.finish_script, store.finish_keys(self._run_id), finish)
        if cursor is not None:
            pipe.xrange(keys.control(self._run_id), min=cursor)
        try:
            replies = pipe.execute()
        except redis.RedisError as error:
            self._fail(error)
            return
        if cursor is not None:
            self._keep_controls([entry_event(*entry) for entry in replies[-1]])
        self.finished = True

    def _trim(self, event_id: int, size: int) -> str | None:
        """The stream's new ``MINID`` when the oldest events must go, else None."""
        self._bytes += size
        if event_id == 1:
            return None
        self._kept.append((event_id, size))
        trimmed = False
        while len(self._kept) > 1 and (len(self._kept) + 1 > self.limits.max_events
                                       or self._bytes > self.limits.max_bytes):
            self._bytes -= self._kept.popleft()[1]
            trimmed = True
        return f"{self._kept[0][0]}-0" if trimmed else None


def _kept_as(event_id: int, event: str) -> list[str]:
    """The fields of the run's hash that keep the event's text too: its kind's latest, the first."""
    return ([f"latest:{event}"] if event in LATEST_KINDS else []) + (["first"] if event_id == 1 else [])


def _ignore(reply) -> None:
    pass


def entry_event(entry_id: str, fields: dict) -> LoggedEvent:
    return LoggedEvent(int(entry_id.split("-", 1)[0]), fields["e"], fields["d"])


def read_events(store: Store, run_id: str, last_id: int) -> tuple[list[LoggedEvent], str | None]:
    """The run's events after ``last_id`` (a ``gap`` for dropped ones) and its status.

    The status is None when the run does not exist (never did, or expired).
    """
    keys = store.keys
    pipe = store.client.pipeline(transaction=False)
    pipe.hmget(keys.run(run_id), ["status", "first", "first_event"])
    first_missing = max(last_id + 1, 2)
    pipe.xrange(keys.events(run_id), min=f"{first_missing}-0", count=READ_COUNT)
    (status, first, first_event), entries = pipe.execute()
    if status is None:
        return [], None
    events = [LoggedEvent(1, first_event, first)] if last_id < 1 and first is not None else []
    rest = [entry_event(entry_id, fields) for entry_id, fields in entries]
    if rest and rest[0].id > first_missing:
        last_missing = rest[0].id - 1
        gap = {"first": first_missing, "last": last_missing, "count": last_missing - first_missing + 1}
        events.append(LoggedEvent(last_missing, GAP_EVENT, to_json(gap)))
    return events + rest, status


@dataclass
class _Watch:
    """One followed stream: the newest id seen, the newest entries, who waits on it.

    ``changed`` shares the multiplexer's lock; each stream has its own, so new
    entries wake only the threads waiting on that stream.
    """

    cursor: int
    changed: threading.Condition
    recent: deque = field(default_factory=lambda: deque(maxlen=256))
    waiters: int = 0
    last_wanted: float = field(default_factory=time.monotonic)
    #: Its terminal event has come: nothing follows it, so reads no longer name it (it is kept a while for
    #: readers that come late).
    ended: bool = False


class StreamMultiplexer:
    """One thread blocking in one ``XREAD`` over many streams; subclasses decide what an entry does.

    ``watch(key, cursor)`` adds a stream (entries after id ``cursor``); a
    per-instance ``wake`` stream interrupts the blocked read so that a new
    stream is included at once.  Redis being unreachable pauses the loop, it
    does not end it.
    """

    def __init__(self, store: Store, name: str, block_ms: int = 5000,
                 coalesce_seconds: float = READ_COALESCE_SECONDS):
        self._store = store
        self._block_ms = block_ms
        self._coalesce_seconds = coalesce_seconds
        self._lock = threading.Lock()
        self._watched: dict[str, _Watch] = {}
        self._wake_key = store.keys.wake(secrets.token_urlsafe(8))
        self._wake_cursor = "0-0"
        # A wake is on its way and the loop has not read its streams anew since it was sent: a
        # stream watched meanwhile is in the next read anyway, so a burst of new streams costs one
        # wake (a command, and one more read of every stream) instead of one each.
        self._wake_sent = False
        self._closed = False
        # A client of its own: the blocked read holds its connection for up to block_ms.
        self._reader = client_of_its_own(store.client, socket_timeout=block_ms / 1000 + 10)
        self._thread = threading.Thread(target=self._read_forever, name=name, daemon=True)
        self._thread.start()

    def watch(self, key: str, cursor: int, *, wake: bool = True) -> None:
        """Follow ``key`` after id ``cursor``: at once, or (``wake=False``) from the next ``wake``."""
        with self._lock:
            if key in self._watched:
                return
            self._watched[key] = _Watch(cursor, threading.Condition(self._lock))
        if wake:
            self.wake()

    def unwatch(self, key: str) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def wake(self, *, always: bool = False) -> None:
        """Interrupt the blocked read so that the next one names every stream watched by now."""
        with self._lock:
            if self._wake_sent and not always:
                return
            self._wake_sent = True
        try:
            pipe = self._store.client.pipeline(transaction=False)
            pipe.xadd(self._wake_key, {"w": "1"}, maxlen=1, approximate=False)
            pipe.expire(self._wake_key, 3600)
            pipe.execute()
        except UNAVAILABLE:
            with self._lock:
                self._wake_sent = False
            # the loop is waiting for Redis too; it rereads every stream when it is back

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for watch in self._watched.values():
                watch.changed.notify_all()
        self.wake(always=True)
        self._thread.join(self._block_ms / 1000 + 1)
        try:
            self._store.client.delete(self._wake_key)
        except UNAVAILABLE:
            pass

    def deliver(self, key: str, watch: _Watch, events: list[LoggedEvent]) -> None:
        """Called with the lock held for the new entries of a watched stream."""

    def _read_forever(self) -> None:
        while not self._closed:
            with self._lock:
                streams = {key: f"{watch.cursor}-0"
                           for key, watch in self._watched.items() if not watch.ended}
                self._wake_sent = False
            streams[self._wake_key] = self._wake_cursor
            try:
                reply = self._reader.xread(streams, block=self._block_ms, count=READ_COUNT)
            except UNAVAILABLE:
                logger.warning("Redis is unreachable; streams wait for it")
                time.sleep(0.5)
                continue
            self._take(reply)
            woken_only = all(key == self._wake_key for key, _ in reply or ())  # a new stream: read it now
            if reply and self._coalesce_seconds and not woken_only:
                # Busy: let entries gather before the next read, whose every call names every
                # stream followed (its cost grows with them, not with the entries it returns).
                time.sleep(self._coalesce_seconds)

    def _take(self, reply) -> None:
        with self._lock:
            for key, entries in reply or ():
                if key == self._wake_key:
                    self._wake_cursor = entries[-1][0]
                    continue
                watch = self._watched.get(key)
                if watch is None:
                    continue
                events = [event for event in (entry_event(*entry) for entry in entries)
                          if event.id > watch.cursor]
                if events:
                    watch.cursor = events[-1].id
                    watch.ended = events[-1].terminal
                    watch.recent.extend(events)
                    self.deliver(key, watch, events)
                    watch.changed.notify_all()
            self._forget_unwanted()

    def _forget_unwanted(self) -> None:
        """Stop following streams nobody waited on for a while."""


class StreamFollower(StreamMultiplexer):
    """Wakes request threads waiting for a run's next events (the web instance's side)."""

    KEEP_SECONDS = 30.0

    def __init__(self, store: Store, block_ms: int = 5000):
        self._swept_at = time.monotonic()
        super().__init__(store, "redis-stream-follower", block_ms)

    def wait(self, key: str, last_id: int, timeout: float) -> list[LoggedEvent] | None:
        """The events after ``last_id`` once the stream has one, [] after ``timeout``.

        None means "there are newer events, but read them yourself" (they were
        not all kept here).  The caller has just read the stream up to
        ``last_id``, so following it from there loses nothing.
        """
        with self._lock:
            watch = self._watched.get(key)
            new = watch is None
            if new:
                watch = self._watched[key] = _Watch(last_id, threading.Condition(self._lock))
        if new:
            self.wake()
        with self._lock:
            return self._wait_on(watch, last_id, timeout)

    def wait_followed(self, key: str, last_id: int, timeout: float) -> list[LoggedEvent] | None:
        """``wait``, without reading the stream first, when it is already followed up to ``last_id``.

        A streaming client asks again right after each batch, so its stream is
        followed and the follower has seen everything up to ``last_id``: any
        newer entry will come through the follower.  None when the stream is
        not followed, or the follower has seen more (a replay: read the stream,
        which puts a ``gap`` where entries were dropped, then ``wait``).
        """
        with self._lock:
            watch = self._watched.get(key)
            if watch is None or watch.cursor != last_id:
                return None
            return self._wait_on(watch, last_id, timeout)

    def _wait_on(self, watch: _Watch, last_id: int, timeout: float) -> list[LoggedEvent] | None:
        """Called with the lock held."""
        watch.waiters += 1
        try:
            watch.changed.wait_for(lambda: watch.cursor > last_id or watch.ended or self._closed, timeout)
        finally:
            watch.waiters -= 1
        watch.last_wanted = time.monotonic()
        return [] if watch.cursor <= last_id else _after(watch.recent, last_id)

    def _forget_unwanted(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < 1.0:
            return
        self._swept_at = now
        cutoff = now - self.KEEP_SECONDS
        for key in [key for key, watch in self._watched.items()
                    if not watch.waiters and watch.last_wanted < cutoff]:
            del self._watched[key]


def _after(recent: deque, last_id: int) -> list[LoggedEvent] | None:
    """The kept events after ``last_id`` if they follow it without a hole, else None."""
    events = []
    for event in reversed(recent):  # a follower wants the newest few: walk from the newest end
        if event.id <= last_id:
            break
        events.append(event)
    events.reverse()
    return events if events and events[0].id == last_id + 1 else None
