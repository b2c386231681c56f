"""``RedisTrialExecutor``: a search's trials trained by the Redis backend's worker pool.

Each ``submit`` queues the trial on the same ``jobs`` stream as runs, so any
worker on any machine may take it.  The worker reports on this executor's
results stream (``started``, then the ``outcome``), which one thread here
follows to resolve the futures.  ``cancel`` sets a stop flag in Redis (the
trials read it between epochs, and a queued trial that sees it is not
started), drops the queued entries it can and cancels their futures.  A
trial whose worker dies is failed by whoever notices (``redis_store.fail_lost_work``).
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
from concurrent.futures import Future

from server.runs.redis_store import UNAVAILABLE, Store
from server.search.executor import TrialExecutor

logger = logging.getLogger(__name__)

#: Seconds the results stream and stop flag outlive their last use.
RETENTION_SECONDS = 3600
BLOCK_MS = 500


class RedisTrialExecutor(TrialExecutor):
    def __init__(self, workers: int, store: Store):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.id = secrets.token_urlsafe(12)
        self._store = store
        self._results = store.keys.trial_results(self.id)
        self._generation = 0
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._futures: dict[int, tuple[Future, str]] = {}  # trial number -> (future, jobs entry)
        self._stopped = False
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read_results, name="trial-results", daemon=True)
        self._reader.start()

    @property
    def _stop_key(self) -> str:
        return self._store.keys.trial_stop(self.id, self._generation)

    def submit(self, task: dict) -> Future:
        with self._lock:
            if self._stopped or self._closed.is_set():
                raise RuntimeError("the executor was cancelled")
            number = next(self._numbers)
            future: Future = Future()
            trial = {"executor": self.id, "n": number, "stop": self._stop_key, "task": task}
            entry_id = self._store.client.xadd(self._store.keys.jobs, {"trial": json.dumps(trial)})
            self._futures[number] = (future, entry_id)
        return future

    def cancel(self) -> None:
        with self._lock:
            self._stopped = True
            queued = [(future, entry) for future, entry in self._futures.values() if not future.running()]
        try:
            self._store.client.set(self._stop_key, "1", ex=RETENTION_SECONDS)
            if queued:  # not yet taken by a worker: dropped (a taken one sees the flag and skips)
                self._store.client.xdel(self._store.keys.jobs, *[entry for _, entry in queued])
        except UNAVAILABLE:
            logger.warning("could not reach Redis to stop the search's trials")
        for future, _ in queued:
            if future.cancel():
                future.set_running_or_notify_cancel()  # what tells wait() and as_completed() it is over

    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        if kill:
            self.cancel()
        if wait:
            with self._lock:
                pending = [future for future, _ in self._futures.values()]
            for future in pending:
                try:
                    future.exception()
                except Exception:  # cancelled: nothing to wait for
                    pass
        self._closed.set()
        self._reader.join(BLOCK_MS / 1000 + 1)
        try:
            self._store.client.expire(self._results, 60)
        except UNAVAILABLE:
            pass

    def reset(self) -> bool:
        with self._lock:
            if self._closed.is_set() or any(not future.done() for future, _ in self._futures.values()):
                return False
            self._generation += 1  # a fresh stop flag: the old one stays set for trials still reading it
            self._stopped = False
            self._futures.clear()
            return True

    def _read_results(self) -> None:
        cursor = "0-0"
        while not self._closed.is_set():
            try:
                reply = self._store.client.xread({self._results: cursor}, block=BLOCK_MS, count=100)
            except UNAVAILABLE:
                self._closed.wait(0.5)
                continue
            for _, entries in reply or ():
                for entry_id, fields in entries:
                    cursor = entry_id
                    self._take(fields)

    def _take(self, fields: dict) -> None:
        with self._lock:
            held = self._futures.get(int(fields["n"]))
        if held is None:
            return
        future = held[0]
        if fields["kind"] == "started":
            if not (future.running() or future.done()):
                future.set_running_or_notify_cancel()
        elif not future.done():
            if not future.running() and not future.set_running_or_notify_cancel():
                return  # cancelled here meanwhile
            future.set_result(json.loads(fields["outcome"]))
