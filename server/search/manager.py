"""The search manager: searches in the background, their event logs, stop and zoom.

Each search has a driver thread and an executor (a warm one, left by a
finished search, when there is one).  The driver keeps at
most ``workers`` trials in flight, so a trial is announced (``trial`` event,
status ``running``) when it really starts and a stopped search has no queue
to drain.  Every event is appended to the search's log with an increasing id
(from 1), which is what the SSE stream replays after ``Last-Event-ID``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from typing import Any

from server.limits import RuntimeLimits
from server.runs.events import EventLog, LoggedEvent
from server.search import space as spaces
from server.search.definition import TIE_BREAK, SearchDefinition, parse_search
from server.search.executor import TrialExecutor, WarmExecutors
from server.search.limits import SearchLimits
from server.search.worker import RESULT_METRICS

#: Trial statuses; every one but ``running`` is final.
FINAL_STATUSES = ("completed", "diverged", "failed", "stopped")
#: Seconds between the driver's checks of its deadline while trials run.
POLL_SECONDS = 0.25
#: Seconds a client at capacity is told to wait before asking again.
RETRY_AFTER_SECONDS = 10
#: Bytes of event JSON one search may log; a 200-trial search logs well under 1 MiB.
MAX_LOG_BYTES = 32 * 1024 * 1024

ExecutorFactory = Callable[[int], TrialExecutor]


class SearchCapacityError(RuntimeError):
    """As many searches are running as the service (or this client) may run."""

    def __init__(self, message: str):
        super().__init__(message)
        self.retry_after = RETRY_AFTER_SECONDS


class NoFinishedTrialError(RuntimeError):
    """Zoom needs at least one trial with a finite objective."""


class Search:
    """One search: its definition, trials, best trial and event log."""

    def __init__(self, search_id: str, definition: SearchDefinition, workers: int,
                 executors: WarmExecutors, limits: SearchLimits, max_trial_seconds: float,
                 parent: dict | None = None, client: str = ""):
        self.id = search_id
        self.client = client
        self.definition = definition
        self.workers = workers
        self.parent = parent
        self.status = "running"
        self.reason: str | None = None
        self.finished_at: float | None = None
        self._executors = executors
        self._limits = limits
        self._max_trial_seconds = max_trial_seconds
        self._started = time.monotonic()
        # search + (start, finish, best) per trial + done: nothing is ever evicted.
        self._log = EventLog(max_events=3 * len(definition.plan) + 2, max_bytes=MAX_LOG_BYTES)
        self._condition = threading.Condition()
        self._trials: dict[int, dict] = {}
        self._best: dict | None = None
        self._best_key: tuple[float, float] | None = None
        self._stop = threading.Event()
        self._executor: TrialExecutor | None = None
        self._thread = threading.Thread(target=self._drive, name=f"search-{search_id[:8]}", daemon=True)

    # --- reading -------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status == "done"

    @property
    def last_event_id(self) -> int:
        with self._condition:
            return self._log.last_id

    def events_after(self, last_id: int, timeout: float) -> list[LoggedEvent]:
        """Events with ids above ``last_id``, waiting up to ``timeout`` s for one.

        Ids start at 1, so ``last_id`` 0 replays everything; an empty list means
        nothing happened in time, or the log is complete (``finished``).
        """
        with self._condition:
            self._condition.wait_for(lambda: self._log.last_id > last_id or self.finished, timeout)
            return self._log.since(last_id)

    def snapshot(self) -> dict[str, Any]:
        """The state for ``GET /api/searches/<id>``."""
        with self._condition:
            return {
                "id": self.id,
                "status": self.status,
                "reason": self.reason,
                "parent": self.parent,
                "definition": self.definition.to_json(),
                "workers": self.workers,
                "planned_trials": len(self.definition.plan),
                "trials": [dict(self._trials[index]) for index in sorted(self._trials)],
                "best": self._best,
                "elapsed_s": round((self.finished_at or time.monotonic()) - self._started, 3),
            }

    def ranked_trials(self) -> list[dict]:
        """Trials that compete, best first: by the objective, then its tie-break.

        Among trials equal on both, the one the ``best`` event named (the
        first to finish with those values) comes first, then trial order.
        """
        rank_key = self.definition.rank_key
        with self._condition:
            scored = [t for t in self._trials.values() if rank_key(t) is not None]
            best_index = self._best["index"] if self._best else None
        return sorted(scored, key=lambda t: (rank_key(t), t["index"] != best_index, t["index"]))

    # --- control -------------------------------------------------------------

    def start(self) -> None:
        self._emit("search", self._search_event())
        self._thread.start()

    def stop(self) -> None:
        """Cancel pending trials and ask running ones to stop; returns at once."""
        with self._condition:
            if self.finished:
                return
            if self.status == "running":
                self.status = "stopping"
            self._stop.set()
            # Under the lock: the driver hands the executor back (and it may
            # go to another search) only after clearing ``_executor``.
            if self._executor is not None:
                self._executor.cancel()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # --- the driver thread ---------------------------------------------------

    def _drive(self) -> None:
        reason, message = "completed", None
        try:
            reason, message = self._run_trials()
        except Exception as error:  # the search, not just a trial, failed: report it in 'done'
            reason, message = "failed", f"{type(error).__name__}: {error}"
        finally:
            self._finish(reason, message)

    def _run_trials(self) -> tuple[str, str | None]:
        executor = self._executors.acquire(self.workers)
        with self._condition:
            self._executor = executor
        if self._stop.is_set():  # stopped while the executor was starting
            executor.cancel()
        queue = deque(enumerate(self.definition.plan))
        running: dict[Future, int] = {}
        deadline = self._started + self._limits.max_search_seconds
        reason, message, kill_at = "completed", None, None
        try:
            while queue or running:
                self._submit_while_room(executor, queue, running)
                if not running:
                    break
                done, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                finished = [(running.pop(future), _outcome(future)) for future in done]
                # Feed the idle workers before the bookkeeping of what finished.
                self._submit_while_room(executor, queue, running)
                for index, outcome in finished:
                    self._trial_finished(index, outcome)
                now = time.monotonic()
                if now > deadline and not self._stop.is_set():
                    reason = "time_limit"
                    message = f"the search ran past its {self._limits.max_search_seconds:g} s limit"
                    self.stop()
                if self._stop.is_set() and running:
                    kill_at = kill_at or now + self._limits.stop_grace_seconds
                    if now > kill_at:
                        self._terminate(executor, running)
                        executor = None
        finally:
            with self._condition:
                # From here on the executor may serve another search: a late
                # stop of this one must not reach it.
                self._executor = None
            if executor is not None:
                self._executors.release(executor)
        if self._stop.is_set() and reason == "completed":
            reason = "stopped"
        return reason, message

    def _submit_while_room(self, executor: TrialExecutor, queue: deque, running: dict[Future, int]) -> None:
        """Start queued trials until ``workers`` run (none once the search is stopped)."""
        while queue and len(running) < self.workers and not self._stop.is_set():
            index, params = queue[0]
            try:
                future = executor.submit(self._task(params))
            except RuntimeError:  # cancelled by a stop that raced this submit
                return
            queue.popleft()
            running[future] = index
            self._trial_started(index, params)

    def _terminate(self, executor: TrialExecutor, running: dict[Future, int]) -> None:
        """End trials that ignored the stop flag for the grace period, with their workers."""
        executor.shutdown(wait=False, kill=True)
        grace = self._limits.stop_grace_seconds
        for index in running.values():
            self._trial_finished(index, {
                "status": "stopped",
                "message": f"terminated: still running {grace:g} s after the search was stopped"})
        running.clear()

    def _task(self, params: dict) -> dict:
        return {"config": self.definition.trial_config(params), "max_seconds": self._max_trial_seconds}

    def _trial_started(self, index: int, params: dict) -> None:
        record = {"index": index, "config": params, "status": "running",
                  "run_config": self.definition.trial_config(params)}
        with self._condition:
            self._trials[index] = record
        self._emit("trial", {key: value for key, value in record.items()})

    def _trial_finished(self, index: int, outcome: dict) -> None:
        objective = self.definition.objective
        with self._condition:
            record = self._trials[index]
            record.update(outcome)
            record.setdefault("epochs_run", 0)
            for name in RESULT_METRICS:
                record.setdefault(name, None)
            event = {key: value for key, value in record.items() if key != "run_config"}
            key = self.definition.rank_key(record)
            improved = key is not None and self.definition.better(key, self._best_key)
            if improved:
                self._best_key = key
                self._best = {**record, "objective": objective, "value": record[objective],
                              "tie_break": TIE_BREAK[objective]}
        self._emit("trial", event)
        if improved:
            self._emit("best", self._best)

    def _finish(self, reason: str, message: str | None) -> None:
        with self._condition:
            counts = Counter(t["status"] for t in self._trials.values())
            planned = len(self.definition.plan)
            done = {"reason": reason, "planned_trials": planned, "trials_run": len(self._trials),
                    "cancelled": planned - len(self._trials), "counts": dict(counts),
                    "best": self._best, "elapsed_s": round(time.monotonic() - self._started, 3)}
            if message:
                done["message"] = message
        self._emit("done", done, final=True)

    def _search_event(self) -> dict:
        event = {"id": self.id, "definition": self.definition.to_json(), "workers": self.workers,
                 "planned_trials": len(self.definition.plan), "parent": self.parent}
        if self.definition.strategy == "grid":
            event["grid"] = {
                "points_per_axis": spaces.grid_points_per_axis(self.definition.trials, self.definition.space),
                "values": spaces.grid_values(self.definition.trials, self.definition.space)}
        return event

    def _emit(self, name: str, data: dict, final: bool = False) -> None:
        with self._condition:
            self._log.append(name, data)
            if final:
                self.status = "done"
                self.reason = data["reason"]
                self.finished_at = time.monotonic()
            self._condition.notify_all()


def _outcome(future: Future) -> dict:
    try:
        return future.result()
    except CancelledError:
        return {"status": "stopped", "message": "cancelled before it started"}
    except Exception as error:  # the worker process died, not the trial's own error
        return {"status": "failed", "message": f"the trial's process failed: {type(error).__name__}: {error}"}


class SearchManager:
    """All searches of this process: creation within limits, lookup, zoom, retention."""

    def __init__(self, runtime_limits: RuntimeLimits, search_limits: SearchLimits,
                 executor_factory: ExecutorFactory):
        self.runtime_limits = runtime_limits
        self.search_limits = search_limits
        self._executors = WarmExecutors(executor_factory, runtime_limits.max_concurrent_searches)
        self._searches: dict[str, Search] = {}
        self._lock = threading.Lock()

    def parse(self, raw: Any) -> SearchDefinition:
        """Validate a definition against this service's limits (raises ``ConfigError``)."""
        return parse_search(raw, max_trials=self.runtime_limits.max_search_trials,
                            max_workers=self.search_limits.max_workers)

    def create(self, raw: Any, parent: dict | None = None, client: str = "") -> Search:
        """Validate and start a search for ``client``; raises ``ConfigError`` or ``SearchCapacityError``."""
        definition = self.parse(raw)
        workers = min(definition.workers or self.search_limits.max_workers, len(definition.plan))
        with self._lock:
            self._forget_expired()
            active = [s for s in self._searches.values() if not s.finished]
            limit = self.runtime_limits.max_concurrent_searches
            if len(active) >= limit:
                raise SearchCapacityError(
                    f"the service runs at most {limit} searches at once; try again later")
            per_client = self.search_limits.max_searches_per_client
            if sum(s.client == client for s in active) >= per_client:
                plural = "es" if per_client > 1 else ""
                raise SearchCapacityError(
                    f"you already run {per_client} search{plural}; stop it or let it finish first")
            search = Search(secrets.token_urlsafe(16), definition, workers, self._executors,
                            self.search_limits, self.runtime_limits.max_run_seconds, parent, client)
            self._searches[search.id] = search
        search.start()
        return search

    def get(self, search_id: str) -> Search | None:
        with self._lock:
            return self._searches.get(search_id)

    def prewarm(self) -> None:
        """Start the default number of workers in the background, ready for the next search."""
        self._executors.prewarm(self.search_limits.max_workers)

    def zoom(self, search: Search, top_k: int, client: str = "") -> Search:
        """A new search for ``client`` around the ``top_k`` best trials of ``search`` (coarse to fine)."""
        ranked = search.ranked_trials()
        if not ranked:
            raise NoFinishedTrialError("no trial has finished with a value of the objective yet")
        best = [trial["config"] for trial in ranked[:top_k]]
        narrowed = spaces.zoom(search.definition.space, best)
        raw = {**search.definition.to_json(),
               "space": {path: dist.to_json() for path, dist in narrowed.items()}}
        parent = {"id": search.id, "top_k": top_k, "trials": [trial["index"] for trial in ranked[:top_k]]}
        return self.create(raw, parent=parent, client=client)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every search and wait for their drivers (for tests and process exit)."""
        with self._lock:
            searches = list(self._searches.values())
        for search in searches:
            search.stop()
        for search in searches:
            search.join(timeout)
        self._executors.shutdown()

    def _forget_expired(self) -> None:
        cutoff = time.monotonic() - self.runtime_limits.finished_retention_seconds
        for search_id in [i for i, s in self._searches.items()
                          if s.finished_at is not None and s.finished_at < cutoff]:
            del self._searches[search_id]
