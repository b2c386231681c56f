"""One training run: pacing, pause/step, stop, live updates.

The engine's ``Trainer`` is a generator of events that does no pacing; it only
computes when pulled.  The run pulls it and publishes each event to the run's
``EventLog``, in a thread of its own (``start``), or taking turns with other
runs in one thread (``execution``, driven by ``server.runs.turns.RunScheduler``).
Every epoch boundary is a *gate*: the first event of a new epoch
(``trainer.epochs_completed`` went up) waits there until

- the run is not paused (or a ``step`` lets exactly one epoch through), and
- the pacing interval has passed: ``epochs / epochs_per_second`` seconds after
  the previous epoch was let through (no catch-up burst after a slow epoch),

so a pause takes effect at the next epoch boundary, with every event of the
epoch already shown published.  With ``report_every > 1`` the engine yields
nothing between reports, so the gate (and a ``step``) moves from one reported
epoch to the next.  A stop request skips the gate: the engine ends at its next
epoch boundary with ``done`` reason ``stopped``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from server.engine.config import RunConfig
from server.runs.events import TERMINAL_EVENTS, EventLog, LoggedEvent, event_data_json
from server.runs.threads import WaitingThreads

logger = logging.getLogger(__name__)

#: How late a paced epoch may be and still keep its run's schedule: a busy
#: machine's stalls are made up afterwards, so a run asked for 10 epochs/s
#: shows 10 on average; a longer delay (a slow run, a pause) starts a new
#: schedule from it instead.  Two seconds covers the stalls seen on a loaded
#: two-core host (up to about a second while a hundred runs start at once);
#: making up the longest takes four seconds at CATCH_UP_SPEED.
CATCH_UP_SECONDS = 2.0
#: How much faster than its pace a run behind its schedule goes until it is back on it: the
#: lost time is made up over a while, never in a burst of epochs at once.
CATCH_UP_SPEED = 2.0

ACTIONS = ("pause", "resume", "step", "stop", "update")

# The status of a finished run follows the reason of its ``done`` event.
STATUS_BY_DONE_REASON = {"completed": "done", "early_stopped": "done",
                         "stopped": "stopped", "diverged": "diverged"}
ACTIVE_STATUSES = ("running", "paused")
# The latest event of each of these kinds is reported by ``status``.
LATEST_KINDS = ("metrics", "diagnosis", "update", "done", "error")


class Trainer(Protocol):
    """What the run needs from ``server.engine.Trainer``.

    ``events()`` yields ``{"event": name, "data": {...}}``, or
    ``{"event": name, "data_json": "..."}`` with the data already encoded.
    """

    config: RunConfig
    epochs_completed: int

    def events(self) -> Iterator[dict]: ...

    def request_update(self, changes: dict) -> None: ...

    def request_stop(self) -> None: ...


TrainerFactory = Callable[[RunConfig], Trainer]


class RunConflict(Exception):
    """A control that makes no sense in the run's current state (HTTP 409)."""


class NothingMore(LookupError):
    """The run has ended and every event after the requested id was already delivered."""


class Run:
    """A run and its thread.  Every attribute below ``_cond`` is guarded by it."""

    def __init__(self, run_id: str, config: RunConfig, client: str, trainer_factory: TrainerFactory,
                 log: EventLog, after_publish: Callable[[], None] | None = None,
                 on_done: Callable[[Trainer, dict], None] | None = None):
        self.id = run_id
        self.client = client
        self.initial_config = config
        self._trainer_factory = trainer_factory
        self._cond = threading.Condition()
        self.log = log
        self._after_publish = after_publish  # e.g. the manager fitting every log into its budget
        self._on_done = on_done  # e.g. keeping the trained network for export, before done is seen
        self.epoch = 0
        self._latest: dict[str, LoggedEvent] = {}
        self._final_status: str | None = None
        self.started_at = time.monotonic()
        self.last_activity = self.started_at
        self.finished_at: float | None = None
        self._trainer: Trainer | None = None
        self._current_config = config
        self._pending_updates: list[dict] = []
        self._paused = False
        self._steps_allowed = 0
        self._stop_cause: str | None = None
        self._stop_message: str | None = None
        self._epochs_per_second = config.training.epochs_per_second
        self._last_epoch_at: float | None = None  # when the last epoch was due on the schedule
        self._last_released_at = -math.inf  # when the last epoch went through the gate
        self._trainer_lost = False
        self._ended = threading.Event()
        #: Called after a control, a stop or a lost trainer may have opened the gate (a scheduler's hook).
        self.on_wake: Callable[[], None] | None = None

    # --- seen from request threads ------------------------------------------

    def start(self, threads: WaitingThreads) -> None:
        """Train in one of ``threads``."""
        threads.submit(self._execute)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the run's work is done (``execution`` has ended); False if ``timeout`` passed first."""
        return self._ended.wait(timeout)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def status(self) -> str:
        """``running`` or ``paused`` while active; then ``done``, ``stopped``, ``diverged`` or ``error``."""
        if self._final_status is not None:
            return self._final_status
        return "paused" if self._paused else "running"

    @property
    def stop_requested(self) -> bool:
        return self._stop_cause is not None

    @property
    def paced(self) -> bool:
        """It trains at ``epochs_per_second``, not as fast as it can."""
        return self._epochs_per_second is not None

    def touch(self) -> None:
        """Record that someone watched or controlled the run (keeps it from being reaped)."""
        self.last_activity = time.monotonic()

    def events_since(self, last_id: int, timeout: float) -> list[LoggedEvent]:
        """Events after ``last_id``; waits up to ``timeout`` seconds for one if there is none yet.

        An empty list means "nothing yet"; ``NothingMore`` that nothing will come.
        """
        with self._cond:
            self.touch()
            self._cond.wait_for(lambda: self.log.last_id > last_id or self.finished, timeout)
            self.touch()
            events = self.log.since(last_id)
            if not events and self.finished:
                raise NothingMore(self.id)
            return events

    def control(self, action: str, changes: dict | None = None) -> None:
        """Apply ``pause``, ``resume``, ``step``, ``stop`` or ``update`` (validated ``changes``)."""
        with self._cond:
            self.touch()
            if self.finished:
                raise RunConflict(f"the run has already ended ({self.status}); cannot {action} it")
            if action == "pause":
                self._paused = True
            elif action == "resume":
                self._paused = False
                self._steps_allowed = 0
                self._last_epoch_at = None
            elif action == "step":
                if not self._paused:
                    raise RunConflict("step advances a paused run by one epoch; pause it first")
                self._steps_allowed += 1
            elif action == "stop":
                self._request_stop("requested", None)
            elif action == "update":
                self._apply_update(changes or {})
            else:
                raise ValueError(f"unknown action {action!r}")
            self._cond.notify_all()
        self._wake()

    def stop(self, cause: str, message: str | None = None) -> None:
        """End the run at its next epoch boundary; ``message`` is added to its ``done`` event."""
        with self._cond:
            if not self.finished:
                self._request_stop(cause, message)
                self._cond.notify_all()
        self._wake()

    def snapshot(self) -> dict:
        """``{"id", "status", "config", "latest", ...}``: JSON-ready, a copy."""
        with self._cond:
            paced = self._epochs_per_second
            return {
                "id": self.id,
                "status": self.status,
                "config": self._current_config.model_dump(mode="json"),
                "latest": {"epoch": self.epoch,
                           **{name: json.loads(logged.data) for name, logged in self._latest.items()}},
                "epochs_per_second": paced,
                "stop_requested": self._stop_cause is not None and not self.finished,
                "last_event_id": self.log.last_id,
            }

    def progress(self) -> tuple[str, int]:
        """``(status, last_event_id)``."""
        with self._cond:
            return self.status, self.log.last_id

    def trim_log(self, at_least: int) -> int:
        """Drop the log's oldest events (see ``EventLog.trim``); the bytes freed."""
        with self._cond:
            return self.log.trim(at_least)

    def current_config(self) -> RunConfig:
        with self._cond:
            return self._current_config

    def seconds_left(self) -> float | None:
        """A guess at how long the run still needs; None when it cannot end by itself (paused)."""
        with self._cond:
            if self.finished:
                return 0.0
            if self._paused and self._stop_cause is None:
                return None
            remaining = max(self._current_config.training.epochs - self.epoch, 0)
            return remaining / self._epochs_per_second if self._epochs_per_second else 1.0

    # --- called with the lock held --------------------------------------------

    def _request_stop(self, cause: str, message: str | None) -> None:
        if self._stop_cause is None:
            self._stop_cause = cause
            self._stop_message = message
            if self._trainer is not None:
                self._trainer.request_stop()

    def _apply_update(self, changes: dict) -> None:
        if self._trainer is None:
            self._pending_updates.append(changes)
        else:
            try:
                self._trainer.request_update(changes)
            except Exception as error:  # e.g. its host process is gone; the run is ending
                raise RunConflict(f"the run cannot take updates now: {error}") from error
        pacing = changes.get("training", {}).get("epochs_per_second")
        if pacing is not None:
            self._epochs_per_second = pacing

    # --- the run's own thread -------------------------------------------------

    def _execute(self) -> None:
        for epochs in self.execution():
            if epochs:
                self._wait_for_turn(epochs)

    def execution(self, slice_work: float | None = None) -> Iterator[int]:
        """The run's work, pausing wherever it may give its thread to another run's.

        Yields the number of epochs trained since the last gate where the next
        epoch's events wait for the gate (``_wait_for_turn``, or a scheduler's
        ``pass_gate``), and 0 after each slice of ``slice_work`` multiply-adds
        of training (with ``slice_work``; the trainer's ``slices``).  Ends when
        the run has ended; every event is published on the way.
        """
        events = None
        try:
            trainer = self._trainer_factory(self.initial_config)
            with self._cond:
                self._trainer = trainer
                for changes in self._pending_updates:
                    trainer.request_update(changes)
                self._pending_updates.clear()
                if self._stop_cause is not None:
                    trainer.request_stop()
            when_lost = getattr(trainer, "when_lost", None)  # a hosted trainer's process may be lost
            if when_lost is not None:
                when_lost(self._lose_trainer)
            sliced = slice_work is not None and hasattr(trainer, "slices")
            events = trainer.slices(slice_work) if sliced else trainer.events()
            published_epoch = trainer.epochs_completed
            opening = True
            for event in events:
                if event is None:  # a slice of training, and more to come
                    yield 0
                    continue
                epoch = trainer.epochs_completed
                if epoch > published_epoch:
                    yield epoch - published_epoch
                    published_epoch = epoch
                if event["event"] == "done" and self._on_done is not None:
                    self._on_done(trainer, event)
                if self._publish(event, epoch, trainer):
                    break
                if opening:  # many runs started at once each show their first event before any trains
                    opening = False
                    yield 0
            else:
                self._publish({"event": "error", "data": {"message": "the run ended without a done event"}},
                              self.epoch, trainer)
        except Exception as error:  # a failed run reports why instead of vanishing
            logger.exception("run %s failed", self.id)
            failure = {"event": "error", "data": {"message": f"the run failed: {error}"}}
            try:
                self._publish(failure, self.epoch, None)
            except Exception as lost:  # its log is what failed (e.g. Redis is gone): the owner records it
                logger.warning("run %s: its error could not be logged either: %s", self.id, lost)
        finally:
            if events is not None and hasattr(events, "close"):
                events.close()
            release = getattr(self._trainer, "close", None)  # a hosted trainer frees its host's copy
            if release is not None:
                release()
            with self._cond:
                if self.finished_at is None:
                    self._final_status = "error"
                    self.finished_at = time.monotonic()
                self._trainer = None  # a finished run keeps only its log
                self._cond.notify_all()
            self._ended.set()

    def _lose_trainer(self) -> None:
        """The trainer's process is gone: stop waiting at the gate (even paused) and read the error."""
        with self._cond:
            self._trainer_lost = True
            self._cond.notify_all()
        self._wake()

    def _wake(self) -> None:
        if self.on_wake is not None:
            self.on_wake()

    def _wait_for_turn(self, epochs: int) -> None:
        """The epoch gate, in the run's own thread: wait until ``_gate`` lets the epoch go."""
        with self._cond:
            while (due := self._gate(epochs)) is not None:
                self._cond.wait(None if due == math.inf else due - time.monotonic())

    def pass_gate(self, epochs: int) -> float | None:
        """The epoch gate, for a scheduler of many runs: None when the epoch may go, else when to
        ask again (``time.monotonic``; ``math.inf``: after ``on_wake``)."""
        with self._cond:
            return self._gate(epochs)

    def _gate(self, epochs: int) -> float | None:
        """Called with the lock held: let the epoch go unless paused (and no step allowed) or early."""
        if self._stop_cause is not None or self._trainer_lost:
            return None
        now = time.monotonic()
        if self._paused:
            if self._steps_allowed:
                self._steps_allowed -= 1
                self._last_epoch_at = self._last_released_at = now
                return None
            return math.inf
        if self._epochs_per_second is None or self._last_epoch_at is None:
            self._last_epoch_at = self._last_released_at = now
            return None
        interval = epochs / self._epochs_per_second
        due = self._last_epoch_at + interval
        # Behind the schedule (a busy core), the epochs go CATCH_UP_SPEED times faster until it is
        # met, so the pace holds on average; far behind it, a new schedule starts from now.
        allowed = max(due, self._last_released_at + interval / CATCH_UP_SPEED)
        if now < allowed:
            return allowed
        self._last_epoch_at = due if now - due < max(interval, CATCH_UP_SECONDS) else now
        self._last_released_at = now
        return None

    def _publish(self, event: dict, epoch: int, trainer: Trainer | None) -> bool:
        """Log an engine event; True when it ends the run.

        An event carries its ``data``, or ``data_json`` when it was already
        encoded (by a host process, off this process's interpreter lock).
        """
        name = event["event"]
        text = event.get("data_json")
        data = event.get("data", {}) if text is None else None
        if name in TERMINAL_EVENTS:  # rare: decode to read the reason and add a message
            data = json.loads(text) if data is None else data
            if name == "done" and data.get("reason") == "stopped" and self._stop_message:
                data = {**data, "message": self._stop_message}
            text = None
        if text is None:
            text = event_data_json(name, data)  # outside the lock: streams and controls need not wait for it
        with self._cond:
            logged = self.log.append(name, text)
            self.epoch = epoch
            if trainer is not None:
                self._current_config = trainer.config
            if name in LATEST_KINDS:
                self._latest[name] = logged
            if logged.terminal:
                self._final_status = (STATUS_BY_DONE_REASON.get(data.get("reason"), "done")
                                      if name == "done" else "error")
                self.finished_at = time.monotonic()
            self._cond.notify_all()
        if self._after_publish is not None:
            self._after_publish()
        return logged.terminal
