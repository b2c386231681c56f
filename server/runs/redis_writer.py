"""Writes the events of a worker's runs to Redis from one thread of its own, many per round trip.

A worker's runs take turns in one thread (``server.runs.turns``).  Were that
thread to wait for Redis's answer to every event, a hundred paced runs would
spend most of its time waiting, on a busy machine most of all: each command
wakes redis-server, and the sender waits for a core to read the answer.  So a
run's log only queues its commands here, and the writer's thread sends
whatever has queued meanwhile in one pipeline, in order: each run's events
reach Redis in the order it published them, a little later, never lost.

Every event but a run's last is one script call (``APPEND_LUA``), batched;
a transaction (the last, which ends the run) or any other work queued with
``call`` runs in its place in the order, once everything before it is sent.
When Redis refuses a command, or cannot be reached, the log it came from
records the error (``RedisEventLog.failure``) and its run fails at its next
event, as it would have failed at once had it written the event itself.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from server.runs.redis_store import APPEND_LUA, Store, client_of_its_own

logger = logging.getLogger(__name__)

#: ``CLIENT LIST`` names the writer's connection this and the worker's id.
WRITER_CONNECTION_NAME = "tuning-writer-"
#: Commands a pipeline carries at most; more wait for the next one.
BATCH_LIMIT = 500
#: After a batch the writer lets the next one gather this long: waking it for every event of a
#: hundred runs cost more than the writing did, and an event reaches Redis at most this much later.
WRITE_COALESCE_SECONDS = 0.005
#: Commands queued at most; a run that publishes beyond it waits (Redis is slower than the runs).
QUEUE_LIMIT = 20_000


@dataclass
class _Script:
    keys: list[str]
    args: list[str]
    answer: Callable[[Any], None]  # the script's reply, in the writer's thread
    fail: Callable[[Exception], None]


@dataclass
class _Call:
    work: Callable[[], None]


class EventWriter:
    """One thread and one connection that carry the commands of every run of a worker."""

    def __init__(self, store: Store, name: str):
        self._store = store
        # A pool of its own, used by this thread only: it holds one connection.
        self._client = client_of_its_own(store.client, client_name=f"{WRITER_CONNECTION_NAME}{name}")
        with contextlib.suppress(redis.RedisError):  # else loaded at the first batch that needs it
            self._client.script_load(APPEND_LUA)
        self._queue: deque[_Script | _Call] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._write_forever, name="redis-writer", daemon=True)
        self._thread.start()

    def script(self, keys: list[str], args: list[str], answer: Callable[[Any], None],
               fail: Callable[[Exception], None]) -> None:
        """Queue ``APPEND_LUA`` with ``keys`` and ``args``; ``answer(reply)`` or ``fail(error)`` follows."""
        self._put(_Script(keys, args, answer, fail))

    def call(self, work: Callable[[], None]) -> None:
        """Queue ``work()``: it runs in the writer's thread once everything queued before is sent."""
        self._put(_Call(work))

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then end the thread and close the connection."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout)
        self._client.close()
        self._client.connection_pool.disconnect()

    def _put(self, item: _Script | _Call) -> None:
        with self._changed:
            if len(self._queue) >= QUEUE_LIMIT:
                self._changed.wait_for(lambda: len(self._queue) < QUEUE_LIMIT or self._closed)
            self._queue.append(item)
            if len(self._queue) == 1:  # the writer waits only for an empty queue
                self._changed.notify_all()

    def _write_forever(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    return
                was_full = len(self._queue) >= QUEUE_LIMIT
                batch = []
                while self._queue and len(batch) < BATCH_LIMIT:
                    batch.append(self._queue.popleft())
                if was_full:
                    self._changed.notify_all()
            self._write(batch)
            if not self._closed:
                time.sleep(WRITE_COALESCE_SECONDS)

    def _write(self, batch: list[_Script | _Call]) -> None:
        scripts: list[_Script] = []
        for item in batch:
            if isinstance(item, _Script):
                scripts.append(item)
                continue
            self._send(scripts)
            scripts = []
            try:
                item.work()
            except Exception:  # one caller's fault must not stop the others' events
                logger.exception("queued Redis work failed")
        self._send(scripts)

    def _send(self, scripts: list[_Script]) -> None:
        if not scripts:
            return
        try:
            replies = self._pipeline(scripts)
            unknown = [n for n, reply in enumerate(replies)
                       if isinstance(reply, redis.exceptions.NoScriptError)]
            if unknown:  # Redis restarted, or its scripts were flushed: those commands did nothing
                self._client.script_load(APPEND_LUA)
                for n, reply in zip(unknown, self._pipeline([scripts[n] for n in unknown]), strict=True):
                    replies[n] = reply
        except redis.RedisError as error:
            replies = [error] * len(scripts)
        for item, reply in zip(scripts, replies, strict=True):
            if isinstance(reply, Exception):
                item.fail(reply)
            else:
                item.answer(reply)

    def _pipeline(self, scripts: list[_Script]) -> list:
        pipe = self._client.pipeline(transaction=False)
        sha = self._store.append_script.sha
        for item in scripts:
            pipe.evalsha(sha, len(item.keys), *item.keys, *item.args)
        return pipe.execute(raise_on_error=False)
