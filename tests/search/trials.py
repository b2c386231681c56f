"""Trial functions for tests: quick, deterministic stand-ins for training.

Each takes ``(task, should_stop)`` like ``server.search.worker.train_trial``.
This module imports nothing heavy, so a spawned worker can load it before
its BLAS threads are pinned.
"""

from __future__ import annotations

import math
import time


def _rate(task: dict) -> float:
    return task["config"]["optimizer"]["learning_rate"]


def peaked(task: dict, should_stop) -> dict:
    """Dev accuracy peaks at a learning rate of 0.01 and falls off with log distance."""
    distance = abs(math.log10(_rate(task)) + 2)
    return {"status": "completed", "epochs_run": task["config"]["training"]["epochs"],
            "train_loss": distance / 4, "train_accuracy": 1 - distance / 8,
            "dev_loss": distance / 4, "dev_accuracy": 1 - distance / 8}


def fails_when_hot(task: dict, should_stop) -> dict:
    """Like ``peaked``, but a learning rate above 0.1 raises, as a buggy trial would."""
    if _rate(task) > 0.1:
        raise FloatingPointError(f"overflow at learning rate {_rate(task):.3g}")
    return peaked(task, should_stop)


def until_stopped(task: dict, should_stop) -> dict:
    """Runs 'epochs' of 10 ms until the search is stopped (or 30 s pass)."""
    epochs = 0
    deadline = time.monotonic() + 30
    while not should_stop() and time.monotonic() < deadline:
        time.sleep(0.01)
        epochs += 1
    return {"status": "stopped" if should_stop() else "completed", "epochs_run": epochs}


def ignores_stop(task: dict, should_stop) -> dict:
    """Never checks the stop flag: only terminating its process ends it early."""
    time.sleep(30)
    return {"status": "completed", "epochs_run": 1}


def exits_when_hot(task: dict, should_stop) -> dict:
    """Like ``peaked``, but a learning rate above 0.1 kills the worker process outright."""
    if _rate(task) > 0.1:
        import os

        os._exit(3)
    return peaked(task, should_stop)


def nan_when_hot(task: dict, should_stop) -> dict:
    """Like ``peaked``, but a learning rate above 0.1 reports NaN metrics, as a broken engine might."""
    outcome = peaked(task, should_stop)
    if _rate(task) > 0.1:
        outcome.update(dev_accuracy=math.nan, dev_loss=math.inf)
    return outcome


def flat(task: dict, should_stop) -> dict:
    """Every trial scores the same: a search of ties, finishing in an order set by the learning rate."""
    time.sleep(0.05 * _rate(task))
    return {"status": "completed", "epochs_run": 1, "dev_accuracy": 0.9, "dev_loss": 0.3}
