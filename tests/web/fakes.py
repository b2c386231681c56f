"""A trainer with the engine's interface and no NumPy: fast, deterministic, observable.

It emits ``config``, then per epoch ``update`` (when changes were requested),
``metrics`` (every ``report_every`` epochs) and ``boundary`` (every
``boundary_every``), and ``done``, like ``server.engine.Trainer``.  Its "loss" is
``1 / (1 + epoch * learning_rate)``.
"""

from __future__ import annotations

import threading
import time

from server.engine.config import RunConfig


class FakeTrainer:
    def __init__(self, config: RunConfig, *, fail_at_epoch: int | None = None,
                 nan_at_epoch: int | None = None, slow_epochs: dict[int, float] | None = None):
        self.config = config
        self.slow_epochs = slow_epochs or {}
        self.epochs_completed = 0
        self.fail_at_epoch = fail_at_epoch
        self.nan_at_epoch = nan_at_epoch
        self._lock = threading.Lock()
        self._pending: list[dict] = []
        self._stop = False
        self.closed = False
        # When each epoch's computation ended: before the run's epoch gate let it through.
        self.computed_at: dict[int, float] = {}

    def request_update(self, changes: dict) -> None:
        with self._lock:
            self._pending.append(changes)

    def request_stop(self) -> None:
        with self._lock:
            self._stop = True

    def events(self):
        try:
            yield from self._events()
        finally:
            self.closed = True

    def _events(self):
        training = self.config.training
        yield {"event": "config", "data": {"config": self.config.model_dump(mode="json"), "n_train": 360,
                                           "n_dev": 120, "n_test": 120, "n_features": 2, "n_classes": 2}}
        for epoch in range(training.epochs):
            with self._lock:
                pending, self._pending = self._pending, []
                stop = self._stop
            for changes in pending:
                self._apply(changes)
                yield {"event": "update", "data": {"epoch": epoch, "changes": changes}}
            if stop:
                yield self._done("stopped")
                return
            if epoch == self.fail_at_epoch:
                raise RuntimeError("the fake engine failed on purpose")
            time.sleep(self.slow_epochs.get(epoch + 1, 0.0))  # "training" that takes a while
            self.epochs_completed = epoch + 1
            self.computed_at[self.epochs_completed] = time.monotonic()
            learning_rate = self.config.optimizer.learning_rate
            loss = 1.0 / (1.0 + self.epochs_completed * learning_rate)
            if self.epochs_completed == self.nan_at_epoch:
                loss = float("nan")
            if self.epochs_completed % self.config.training.report_every == 0:
                yield {"event": "metrics", "data": {
                    "epoch": self.epochs_completed, "iteration": self.epochs_completed * 6,
                    "learning_rate": learning_rate, "train_loss": loss, "dev_loss": loss,
                    "train_accuracy": 1 - loss / 2, "dev_accuracy": 1 - loss / 2, "layers": []}}
            every = training.boundary_every
            if every and self.epochs_completed % every == 0:
                yield {"event": "boundary", "data": {"epoch": self.epochs_completed,
                                                     "x": [0, 1], "y": [0, 1], "z": [[0.1, 0.9], [0.4, 0.6]]}}
        yield self._done("completed")

    def _apply(self, changes: dict) -> None:
        data = self.config.model_dump()
        for section, values in changes.items():
            if section == "model":
                for layer, layer_changes in zip(data["model"]["hidden"], values["hidden"], strict=False):
                    layer.update(layer_changes or {})
            else:
                data[section].update(values)
        self.config = RunConfig.model_validate(data)

    def _done(self, reason: str) -> dict:
        return {"event": "done", "data": {
            "reason": reason, "epoch": self.epochs_completed, "best_epoch": None,
            "train_accuracy": 0.9, "dev_accuracy": 0.85, "test_accuracy": 0.85}}


def recording(trainer_factory=FakeTrainer):
    """A trainer factory that keeps the trainers it makes, and that list."""
    trainers = []

    def factory(run_config):
        trainers.append(trainer_factory(run_config))
        return trainers[-1]

    return factory, trainers
