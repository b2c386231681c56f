"""The run manager: starts runs, serves their events, applies controls, enforces limits.

``RunManager`` is the interface the HTTP routes use; ``InProcessRunManager``
keeps runs as threads of this process.  A multi-process backend (runs in worker
processes, logs in shared storage) can implement the same five methods without
touching the routes: every value crossing the interface is plain data.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from functools import partial
from typing import Protocol

from server.engine.config import RunConfig, parse_update
from server.limits import RuntimeLimits
from server.runs.events import EventLog, LogBudget, LoggedEvent
from server.runs.models import ModelStore
from server.runs.run import ACTIONS, Run, RunConflict, TrainerFactory
from server.runs.threads import WaitingThreads
from server.settings import (
    DEFAULT_MAX_CLIENT_LOG_BYTES,
    DEFAULT_MAX_LOG_BYTES,
    DEFAULT_MAX_RETAINED_RUNS,
    DEFAULT_MAX_TOTAL_LOG_BYTES,
)


class UnknownRun(KeyError):
    """No run has this id (never had, or it was dropped after its retention time)."""


class CapacityExceeded(Exception):
    """The service, or this client, runs as many runs as it may; try again after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class RunsUnavailable(Exception):
    """The run backend cannot take or serve runs now (HTTP 503): its store is down, or no worker is alive."""

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


def service_full_message(limits: RuntimeLimits) -> str:
    return f"the service is running its maximum of {limits.max_concurrent_runs} runs"


def client_full_message(count: int, limits: RuntimeLimits) -> str:
    return (f"you already have {count} runs going; stop one or wait for one to end "
            f"(at most {limits.max_runs_per_client} per client)")


def address_full_message(count: int, max_runs: int) -> str:
    return (f"your network address already has {count} runs going, the most one address may have "
            f"(at most {max_runs}); stop one or wait for one to end")


def idle_stop_message(limits: RuntimeLimits) -> str:
    return f"stopped: nobody watched or controlled the run for {limits.idle_timeout_seconds:g} s"


def time_limit_stop_message(limits: RuntimeLimits) -> str:
    return f"stopped: the run reached the time limit of {limits.max_run_seconds:g} s"


class RunManager(Protocol):
    def start(self, config: RunConfig, client: str) -> dict:
        """Start a run of a validated config for ``client``; its ``status``. Raises ``CapacityExceeded``."""

    def events_since(self, run_id: str, last_id: int, timeout: float) -> list[LoggedEvent]:
        """The run's events with ids above ``last_id``, waiting up to ``timeout`` s for the next one."""

    def control(self, run_id: str, action: str, payload: dict | None = None) -> dict:
        """Apply an action (``ACTIONS``); ``payload`` is the raw partial config of ``update``.

        Returns the run's status; raises ``UnknownRun``, ``RunConflict`` or ``ConfigError``.
        """

    def status(self, run_id: str) -> dict:
        """The run's state: ``{"id", "status", "config", "latest", "epochs_per_second",
        "stop_requested", "last_event_id"}``."""

    def progress(self, run_id: str) -> tuple[str, int]:
        """``(status, last_event_id)`` of the run: the cheap part of ``status``."""

    def load(self) -> dict:
        """``{"runs": active runs, "capacity": most active runs allowed}``."""


class InProcessRunManager:
    """Runs as daemon threads of this process, with a reaper thread enforcing the time limits."""

    def __init__(self, trainer_factory: TrainerFactory, limits: RuntimeLimits | None = None, *,
                 max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
                 max_retained_runs: int = DEFAULT_MAX_RETAINED_RUNS,
                 max_total_log_bytes: int = DEFAULT_MAX_TOTAL_LOG_BYTES,
                 max_client_log_bytes: int = DEFAULT_MAX_CLIENT_LOG_BYTES,
                 reap_interval: float | None = None):
        self.limits = limits or RuntimeLimits()
        self._trainer_factory = trainer_factory
        self.max_log_bytes = max_log_bytes
        self.log_budget = LogBudget(max_total_log_bytes, max_client_log_bytes)
        self.max_retained_runs = max_retained_runs
        self._runs: dict[str, Run] = {}
        self.models = ModelStore()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        shortest = min(self.limits.idle_timeout_seconds, self.limits.finished_retention_seconds,
                       self.limits.max_run_seconds)
        self.reap_interval = reap_interval if reap_interval is not None else min(max(shortest / 4, 0.01), 5.0)
        self._reaper = threading.Thread(target=self._reap_forever, name="run-reaper", daemon=True)
        self._reaper.start()
        self._threads = WaitingThreads("run")

    def prestart_threads(self) -> None:
        """Start a thread for every run allowed at once now, so starting a run never waits for one."""
        self._threads.prestart(self.limits.max_concurrent_runs)

    # --- the RunManager interface ---------------------------------------------

    def start(self, config: RunConfig, client: str) -> dict:
        with self._lock:
            if self._closed.is_set():
                raise CapacityExceeded("the service is shutting down", retry_after=30)
            active = [run for run in self._runs.values() if not run.finished]
            if len(active) >= self.limits.max_concurrent_runs:
                raise CapacityExceeded(service_full_message(self.limits), _retry_after(active))
            own = [run for run in active if run.client == client]
            if len(own) >= self.limits.max_runs_per_client:
                raise CapacityExceeded(client_full_message(len(own), self.limits), _retry_after(own))
            self._drop_excess_finished()
            run_id = secrets.token_urlsafe(16)
            log = EventLog(self.limits.max_events_per_run, self.max_log_bytes,
                           on_resize=partial(self.log_budget.charge, client))
            run = Run(run_id, config, client, self._trainer_factory, log,
                      after_publish=partial(self._fit_logs, client),
                      on_done=partial(self.models.keep_from, run_id))
            self._runs[run_id] = run
        run.start(self._threads)
        return run.snapshot()

    def events_since(self, run_id: str, last_id: int, timeout: float) -> list[LoggedEvent]:
        return self._get(run_id).events_since(last_id, timeout)

    def control(self, run_id: str, action: str, payload: dict | None = None) -> dict:
        run = self._get(run_id)
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        if action == "update":
            if run.finished:
                raise RunConflict(f"the run has already ended ({run.status}); cannot update it")
            changes = parse_update(payload, run.current_config())
            run.control(action, changes)
        else:
            run.control(action)
        return run.snapshot()

    def status(self, run_id: str) -> dict:
        run = self._get(run_id)
        run.touch()
        return run.snapshot()

    def progress(self, run_id: str) -> tuple[str, int]:
        run = self._get(run_id)
        run.touch()
        return run.progress()

    def model(self, run_id: str) -> dict | None:
        """The finished run's trained network (``server.engine.export.network_state``), or None."""
        self._get(run_id)
        return self.models.get(run_id)

    def load(self) -> dict:
        with self._lock:
            active = sum(not run.finished for run in self._runs.values())
        return {"runs": active, "capacity": self.limits.max_concurrent_runs}

    # --- lifecycle -------------------------------------------------------------

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every run and the reaper; wait up to ``timeout`` s in all for the threads."""
        self._closed.set()
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.stop("shutdown", "stopped: the service is shutting down")
        deadline = time.monotonic() + timeout
        for run in runs:
            run.join(max(deadline - time.monotonic(), 0.0))
        self._reaper.join(max(deadline - time.monotonic(), 0.0))

    def reap(self) -> None:
        """One pass of the reaper: stop idle and overlong runs, drop finished ones past retention."""
        now = time.monotonic()
        limits = self.limits
        with self._lock:
            runs = list(self._runs.items())
        for run_id, run in runs:
            if run.finished:
                if now - run.finished_at > limits.finished_retention_seconds:
                    with self._lock:
                        self._forget(run_id)
            elif now - run.started_at > limits.max_run_seconds:
                run.stop("time_limit", time_limit_stop_message(limits))
            elif now - run.last_activity > limits.idle_timeout_seconds:
                run.stop("idle", idle_stop_message(limits))
        with self._lock:
            self._drop_excess_finished()

    def _reap_forever(self) -> None:
        while not self._closed.wait(self.reap_interval):
            self.reap()

    def _drop_excess_finished(self) -> None:
        """Keep at most ``max_retained_runs`` finished runs, dropping the longest finished first."""
        finished = sorted((run for run in self._runs.values() if run.finished),
                          key=lambda run: run.finished_at)
        for run in finished[:max(len(finished) - self.max_retained_runs, 0)]:
            self._forget(run.id)

    def _forget(self, run_id: str) -> None:
        """Drop a finished run (the manager's lock held) and its log's share of the budget."""
        run = self._runs.pop(run_id, None)
        self.models.forget(run_id)
        if run is not None:
            self.log_budget.charge(run.client, -run.log.memory_bytes)

    def _fit_logs(self, client: str) -> None:
        """After ``client``'s run logged an event: trim logs until the budget holds again.

        Over the client's share, its own logs are trimmed; over the total,
        anyone's.  Finished runs' logs go first, the longest finished first (a
        late reader then gets ``config``, a ``gap`` and ``done``), then the
        oldest events of live runs, the oldest run first.  A thirty-second of
        the budget more than the excess is freed, so that trimming is rare
        rather than a cost of every event.
        """
        budget = self.log_budget
        for scope, allowed in ((client, budget.per_client), (None, budget.total)):
            excess = budget.excess(scope)
            if excess <= 0:
                continue
            with self._lock:
                runs = [run for run in self._runs.values() if scope is None or run.client == scope]
            excess += allowed // 32
            for run in sorted(runs, key=_trim_order):
                excess -= run.trim_log(excess)
                if excess <= 0:
                    break

    def _get(self, run_id: str) -> Run:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise UnknownRun(run_id)
        return run


def _trim_order(run: Run) -> tuple[bool, float]:
    """Finished runs first, by when they finished; then live runs, by when they started."""
    finished_at = run.finished_at
    return (finished_at is None, run.started_at if finished_at is None else finished_at)


def _retry_after(runs: list[Run]) -> int:
    """Whole seconds until the first of ``runs`` should end, between 1 and 60 (30 if none can tell)."""
    estimates = [left for left in (run.seconds_left() for run in runs) if left is not None]
    if not estimates:
        return 30
    return min(max(math.ceil(min(estimates)), 1), 60)
