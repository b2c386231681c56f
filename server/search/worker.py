"""The trial side of a search: what runs inside each worker process.

A worker is ``python -m server.search.worker`` (``server.child``), started by
``ProcessPoolTrialExecutor`` with the BLAS thread variables set to 1; ``serve``
runs the trials its parent sends, one at a time.  Messages, parent to
worker: ``("init", preload)``, ``("trial", pickled trial function, task)``,
``("stop",)`` and ``("resume",)`` (the search's stop flag), ``("exit",)``
(after the current trial); worker to parent: ``("ready", pid)`` and
``("outcome", outcome)``.

This module must stay importable without NumPy: ``initialize`` pins BLAS to
one thread again (OpenBLAS and MKL read the variables once, when NumPy is
first imported), and only then is NumPy (through ``server.engine``) imported,
by ``initialize``'s ``preload``, or at the latest inside ``train_trial``.

A trial function takes ``(task, should_stop)`` and returns an outcome dict;
``execute`` wraps it so that an exception becomes a ``failed`` outcome
instead of breaking the search.
"""

from __future__ import annotations

import importlib
import math
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from server.settings import BLAS_THREAD_VARIABLES, one_blas_thread

#: Final metrics copied from the engine's ``done`` event into a trial outcome.
#: Test metrics are left out on purpose: choosing a model on the test set
#: would make its test estimate optimistic.
RESULT_METRICS = ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy")
#: Engine ``done`` reasons and the trial status each one becomes.
STATUS_BY_REASON = {"completed": "completed", "early_stopped": "completed",
                    "diverged": "diverged", "stopped": "stopped"}

#: Seconds between a running trial's checks of the stop flag and its deadline.
STOP_POLL_SECONDS = 0.05

TrialFunction = Callable[[dict, Callable[[], bool]], dict]

_stop_event: Any = None
_numpy_preloaded: bool | None = None


def initialize(stop_event: Any, preload: tuple[str, ...] = ()) -> None:
    """A worker's set-up: one BLAS thread, the search's stop flag, warm imports.

    ``preload`` names modules to import once BLAS is pinned (the engine), so
    that a worker's first trial is not charged for loading NumPy.
    """
    global _stop_event, _numpy_preloaded
    _numpy_preloaded = "numpy" in sys.modules
    one_blas_thread(force=True)
    _stop_event = stop_event
    for module in preload:
        importlib.import_module(module)


def serve(connection) -> None:
    """A worker process: run the trials the parent sends, one at a time, until told to exit."""
    stop = threading.Event()
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_route_messages, args=(connection, stop, inbox), name="worker-inbox",
                     daemon=True).start()
    while (message := inbox.get()) is not None:
        if message[0] == "init":
            initialize(stop, message[1])
            reply = ("ready", os.getpid())
        else:
            _, function, task = message
            reply = ("outcome", execute(_unpickled(function), task, stop.is_set))
        try:
            connection.send(reply)
        except OSError:  # the parent is gone
            return


def _unpickled(function: bytes) -> TrialFunction:
    """The trial function sent as ``function``, unpickled when called (so a failure is the trial's)."""

    def trial(task: dict, should_stop: Callable[[], bool]) -> dict:
        return pickle.loads(function)(task, should_stop)

    return trial


def _route_messages(connection, stop: threading.Event, inbox: queue.SimpleQueue) -> None:
    """Apply stop and resume at once, even while a trial runs; queue the rest for ``serve``."""
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            stop.set()  # the parent is gone: end the running trial at its next epoch
            break
        if message[0] == "stop":
            stop.set()
        elif message[0] == "resume":
            stop.clear()
        elif message[0] == "exit":
            break
        else:
            inbox.put(message)
    inbox.put(None)


def stop_requested() -> bool:
    """True once the search that owns this worker process has been stopped."""
    return _stop_event is not None and _stop_event.is_set()


def execute(trial_function: TrialFunction, task: dict,
            should_stop: Callable[[], bool] = stop_requested) -> dict:
    """Run one trial; any exception is returned as a ``failed`` outcome."""
    started = time.perf_counter()
    try:
        outcome = trial_function(task, should_stop)
    except Exception as error:  # a trial's failure is data for the search, not a crash
        outcome = {"status": "failed", "message": f"{type(error).__name__}: {error}"}
    outcome.setdefault("elapsed_s", round(time.perf_counter() - started, 3))
    return outcome


def worker_info(task: dict, should_stop: Callable[[], bool]) -> dict:
    """A trial function that reports how the worker was set up (for tests and diagnostics)."""
    return {"status": "completed", "pid": os.getpid(), "numpy_preloaded": _numpy_preloaded,
            "numpy_loaded": "numpy" in sys.modules,
            "blas_threads": {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}}


def execution_config(config: dict) -> dict:
    """The trial's config as it is trained: unpaced, no pictures, metrics only at the end.

    Nobody watches a trial's curves, so the per-epoch evaluations and
    boundary grids the playground needs would only slow the search down.
    """
    epochs = config.get("training", {}).get("epochs", 1)
    training = {**config.get("training", {}), "epochs_per_second": None,
                "boundary_every": 0, "report_every": epochs}
    return {**config, "training": training}


def train_trial(task: dict, should_stop: Callable[[], bool]) -> dict:
    """Train ``task["config"]`` with the engine; stop early when asked or past ``max_seconds``.

    A watcher thread polls ``should_stop`` and the deadline and asks the
    engine to stop, which it does at the next epoch boundary.  Returns
    ``{"status", "epochs_run", "best_epoch", <RESULT_METRICS>}`` plus
    ``"message"`` when the trial did not simply complete.
    """
    from server.engine import Trainer

    max_seconds = float(task.get("max_seconds", math.inf))
    deadline = time.monotonic() + max_seconds
    trainer = Trainer(execution_config(task["config"]))
    finished = threading.Event()
    stop_reasons: list[str] = []

    def watch() -> None:
        while not finished.wait(STOP_POLL_SECONDS):
            if should_stop():
                stop_reasons.append("the search was stopped")
            elif time.monotonic() > deadline:
                stop_reasons.append(f"the trial ran past its {max_seconds:g} s limit")
            else:
                continue
            trainer.request_stop()
            return

    threading.Thread(target=watch, name="trial-stop-watch", daemon=True).start()
    try:
        for event in trainer.events():
            if event["event"] == "error":
                return {"status": "failed", "epochs_run": trainer.epochs_completed,
                        "message": str(event["data"].get("message", "the engine reported an error"))}
            if event["event"] == "done":
                outcome = _outcome_from_done(event["data"], trainer.epochs_completed)
                if outcome["status"] == "stopped" and stop_reasons:
                    outcome["message"] = stop_reasons[0]
                return outcome
    finally:
        finished.set()
    return {"status": "failed", "epochs_run": trainer.epochs_completed,
            "message": "the engine ended without a done event"}


def _outcome_from_done(data: dict, epochs_run: int) -> dict:
    reason = data.get("reason", "completed")
    outcome = {"status": STATUS_BY_REASON.get(reason, "failed"),
               "epochs_run": data.get("epoch", epochs_run), "best_epoch": data.get("best_epoch")}
    outcome.update({name: finite_or_none(data.get(name)) for name in RESULT_METRICS})
    if reason == "early_stopped":
        outcome["message"] = "early stopping"
    elif reason == "diverged":
        outcome["message"] = "the loss diverged (NaN or overflow)"
    elif reason not in STATUS_BY_REASON:
        outcome["message"] = f"the engine finished with reason {reason!r}"
    return outcome


def finite_or_none(value: Any) -> Any:
    """``None`` for NaN and infinities (JSON has neither), the value otherwise."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    # Serve from the module under its own name, not this ``__main__`` copy:
    # trial functions pickled by reference (``worker_info``) read its globals.
    from server.child import connect_to_parent
    from server.search.worker import serve as serve_trials

    serve_trials(connect_to_parent())
