"""The training loop, as a generator of the contract's events.

``Trainer(config).events()`` yields ``{"event": NAME, "data": {...}}`` dicts in
this order:

- ``config``: the normalized config, the data summary, the 2-D points and
  ``total_epochs``;
- ``metrics`` for epoch 0 (the untrained network: ``grad_norm`` and
  ``update_ratio`` are None there, nothing has been computed yet), and a
  ``boundary`` (2-D data, when ``boundary_every`` is not 0) and/or a
  ``confusion`` (data that are not 2-D, or of more than two classes: always)
  for epoch 0;
- per epoch: ``update`` events for live changes applied before it, then
  ``metrics`` every ``report_every`` epochs, ``boundary`` every
  ``boundary_every`` epochs, ``diagnosis`` every ``boundary_every`` epochs
  (every ``DIAGNOSIS_EVERY_REPORTS`` reports when ``boundary_every`` is 0),
  and ``confusion`` (data without a boundary, or with more than two classes)
  with the diagnosis, whatever ``boundary_every`` is;
- (the ``config`` event's ``input_maps`` and each ``boundary``'s ``neurons``
  are the diagram's pictures: see ``server.engine.neurons``);
- at the end a ``boundary``/``confusion`` and a ``diagnosis`` of the final
  weights unless the last epoch already had them, then ``done``.

Randomness: one ``np.random.Generator`` seeded with ``config.seed`` draws, in
order, the data (``prepare_data``), the initial weights, and then per epoch
the shuffling permutation and per mini-batch the augmentation and dropout
masks.  The same config therefore gives the same events, timing fields aside.

Reported numbers: ``train_loss``/``dev_loss`` are the mean cross-entropy over
the whole split in evaluation mode (no dropout, batch norm with running
averages); ``train_cost`` adds the penalties with m = the training-set size.
With a train-dev set (``data.split.train_dev`` > 0), ``metrics`` and ``done``
also carry ``train_dev_loss`` and ``train_dev_accuracy``; without one those
keys are absent.
``grad_norm`` is ||dW|| (penalties included) of the last mini-batch of the
epoch; ``update_ratio`` is ||delta W|| / ||W|| of the last step.
``iteration_costs`` are the costs (cross-entropy plus penalties with m = the
batch size, training mode: dropout and batch statistics as the step saw them)
that the forward pass of each update since the previous ``metrics`` computed
anyway, every s-th of them for the smallest power of two s that leaves at
most ``MAX_ITERATION_COSTS``; None where a cost is not finite.

Early stopping (``patience`` > 0) evaluates the dev loss after every epoch;
the run stops after ``patience`` epochs without a lower dev loss, and with
``restore_best`` the weights (and batch-norm running averages) of the best
epoch are restored before the final events, whether the run stopped early or
completed.  Without early stopping, ``best_epoch`` is the reported epoch with
the lowest dev loss and nothing is restored.

Divergence: a non-finite parameter or cost ends the run with ``done`` reason
``diverged``; the metrics of that epoch carry None for the values that are
not finite.  No event ever contains NaN or infinity.

Pacing is not done here: the engine runs as fast as it can and the caller
sleeps between events if it wants a watchable pace.

Slices: ``Trainer.slices(work)`` yields the same events with a None
wherever the run has trained for about ``work`` multiply-adds since it last
yielded, so that a host of many runs can take turns between runs inside an
epoch; a stop request then ends the run at the next None instead of the
next epoch boundary.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import NamedTuple

import numpy as np

from server.engine.config import (
    ConfigError,
    LiveField,
    RunConfig,
    live_changes,
    merge_update,
    parse_config,
    parse_update,
)
from server.engine.cost import DEFAULT_SLICE_WORK, network_size
from server.engine.data import prepare_data
from server.engine.diagnosis import Setup, diagnose, progress_from_history
from server.engine.export import data_labels, network_state
from server.engine.layers import targets_from_labels
from server.engine.model import Evaluation, Network
from server.engine.neurons import NeuronMaps, input_maps
from server.engine.optimizers import make_optimizer
from server.engine.preview import bayes_error
from server.engine.schedules import learning_rate_at

DIAGNOSIS_EVERY_REPORTS = 10
MAX_ITERATION_COSTS = 256
MAX_MISCLASSIFIED = 8
BOUNDARY_DECIMALS = 3
GRID_DECIMALS = 4


def _finite(value: float | None) -> float | None:
    """The value, or None when it is missing, NaN or infinite (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


class Evaluations(NamedTuple):
    """The network on the sets a training run watches, after one epoch (``train_dev``: None without
    a train-dev set)."""

    train: Evaluation
    dev: Evaluation
    train_dev: Evaluation | None


class IterationCosts:
    """The mini-batch costs of the updates since the last report, evenly thinned.

    Keeps every s-th cost (the first, the (s+1)-th, ...), s the smallest power
    of two that leaves at most ``limit`` of them, without ever holding more
    than ``limit``: when one more would not fit, s doubles and every other
    kept cost goes.
    """

    def __init__(self, limit: int = MAX_ITERATION_COSTS):
        self.limit = limit
        self._kept: list[float] = []
        self._stride = 1
        self._seen = 0

    def extend(self, costs: np.ndarray) -> None:
        """Add the costs of the next consecutive updates (a 1-D array)."""
        seen = self._seen + len(costs)
        while -(-seen // self._stride) > self.limit:
            self._stride *= 2
            self._kept = self._kept[::2]
        first = -self._seen % self._stride
        self._kept.extend(costs[first::self._stride].tolist())
        self._seen = seen

    def take(self) -> list[float | None]:
        """The kept costs (None for a non-finite one), and start afresh."""
        kept = [_finite(cost) for cost in self._kept]
        self._kept, self._stride, self._seen = [], 1, 0
        return kept


class EarlyStopping:
    """Patience on the dev loss, and the weights of the best epoch.

    ``observe`` every dev loss computed; ``best_epoch`` is the epoch of the
    lowest.  With ``patience`` 0 nothing ever stops or is restored, but the
    best epoch is still tracked (for the ``done`` event).
    """

    def __init__(self, patience: int, restore_best: bool):
        self.patience = patience
        self.restore_best = restore_best
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self._best_state = None

    @property
    def active(self) -> bool:
        """Whether it needs a dev loss after every epoch."""
        return self.patience > 0

    def observe(self, epoch: int, dev_loss: float, network: Network) -> None:
        if dev_loss < self.best_loss:
            self.best_loss, self.best_epoch = dev_loss, epoch
            if self.active and self.restore_best:
                self._best_state = network.state()

    def should_stop(self, epoch: int) -> bool:
        """``patience`` epochs have passed without a lower dev loss."""
        return self.active and epoch - (self.best_epoch or 0) >= self.patience

    def restore(self, network: Network) -> bool:
        """Load the best epoch's weights into ``network``; False when there are none to restore."""
        if self._best_state is None:
            return False
        network.load_state(self._best_state)
        return True


class Trainer:
    """One training run of a config; see the module docstring for the events.

    ``history`` is the list of the ``metrics`` payloads sent so far (without
    ``iteration_costs``), for judgements that need the curves, not one point.

    ``request_update`` and ``request_stop`` may be called from any thread
    while ``events()`` is being consumed in another; both take effect at the
    next epoch boundary (a stop, under ``slices``, at the next slice).
    """

    def __init__(self, config: dict | RunConfig):
        self.config: RunConfig = parse_config(config)
        config = self.config
        self._rng = np.random.default_rng(config.seed)
        self.dataset = prepare_data(config, self._rng)
        dataset = self.dataset
        self.network = Network.from_config(config.model, dataset.n_features, dataset.n_classes, self._rng)
        self.network.l2 = config.regularization.l2
        self.network.l1 = config.regularization.l1
        self.optimizer = make_optimizer(config.optimizer)
        self.epochs_completed = 0
        self.iteration = 0
        self._base_rate = config.optimizer.learning_rate
        self._schedule = config.schedule.model_dump()
        self._batch_size = config.training.batch_size
        self._targets_train = targets_from_labels(dataset.y_train, dataset.n_classes)
        self._bayes_error = bayes_error(config, dataset)
        self._lock = threading.Lock()
        self._pending: list[dict] = []
        self._stop = threading.Event()
        self._started = False
        self._slice_work: float | None = None  # set by ``slices``
        self._turn_work = 0  # multiply-adds trained since ``slices`` last yielded
        self._size = network_size(self.network.sizes, self.network.batch_norm)
        self._cut_short = False  # a stop ended an epoch part way
        self._grid = dataset.grid() if dataset.is_2d else None
        self._grid_inputs = dataset.inputs_from_plane(self._grid[2]) if dataset.is_2d else None
        self._neuron_maps = NeuronMaps(dataset, self.network) if dataset.is_2d else None
        self._labels = data_labels(config.data.dataset)  # an upload may be gone by the time of export
        self._iteration_costs = IterationCosts()
        self._early_stopping = EarlyStopping(config.training.early_stopping.patience,
                                             config.training.early_stopping.restore_best)
        training = config.training
        self._report_every = training.report_every
        self._diagnosis_every = training.boundary_every or training.report_every * DIAGNOSIS_EVERY_REPORTS
        # Pictures and their cadences: the boundary for 2-D data, a confusion matrix (small, so
        # whatever boundary_every is) for data without a boundary or with more than two classes.
        self._picture_every = {"boundary": training.boundary_every if dataset.is_2d else 0,
                               "confusion": self._diagnosis_every
                               if not dataset.is_2d or dataset.n_classes > 2 else 0}
        self._last_picture_epoch: dict[str, int] = {}
        self._last_diagnosis_epoch: int | None = None
        # The metrics payloads so far, oldest first, without their iteration
        # costs (up to 256 floats each would make a long run's history heavy).
        self.history: list[dict] = []

    # --- control from other threads ------------------------------------------

    def request_update(self, changes: dict) -> dict:
        """Queue a live change (the shape ``parse_update`` returns) for the next epoch boundary.

        Validated here, so a bad change raises ``ConfigError`` in the caller's
        thread and never reaches the run.  Returns the normalized changes.
        """
        changes = parse_update(changes, self.config)
        with self._lock:
            self._pending.append(changes)
        return changes

    def request_stop(self) -> None:
        """End the run at the next epoch boundary, or slice (``done`` reason ``stopped``)."""
        self._stop.set()

    def model_state(self) -> dict:
        """The network as it is now, with its normalization and architecture (``server.engine.export``)."""
        return network_state(self.network, self.dataset, *self._labels)

    # --- the run ------------------------------------------------------------

    def events(self) -> Iterator[dict]:
        """The run's events; a Trainer runs once."""
        if self._started:
            raise RuntimeError("this run has already been started; make a new Trainer")
        self._started = True
        return self._run()

    def slices(self, slice_work: float = DEFAULT_SLICE_WORK) -> Iterator[dict | None]:
        """The run's events, with a None wherever the run has trained for ``slice_work``
        multiply-adds (whole mini-batches, at least one; ``server.engine.cost`` counts them)
        since it last yielded anything.

        A host of many runs turns to another one at each None and at each
        event, so none holds it for much longer than a slice.  Without the
        Nones these are exactly the events of ``events()``.  A stop request
        also takes effect at a None: the epoch in progress ends there (its
        steps so far stay in the weights and in ``iteration``; ``epoch``
        counts whole epochs only), and the closing events follow.
        """
        if slice_work <= 0:
            raise ValueError(f"slice_work must be positive, got {slice_work!r}")
        if self._started:
            raise RuntimeError("this run has already been started; make a new Trainer")
        self._slice_work = slice_work
        return self._turns(self.events())

    def _turns(self, items: Iterator[dict | None]) -> Iterator[dict | None]:
        """``items``, counting the work of each turn from the last thing yielded."""
        for item in items:
            yield item
            self._turn_work = 0

    def _run(self) -> Iterator[dict | None]:
        started = time.perf_counter()
        yield from self._opening_events(started)
        reason = "completed"
        for epoch_index in range(self.config.training.epochs):
            for changes in self._take_pending():
                self._apply(changes)
                yield self._event("update", {"epoch": self.epochs_completed, "changes": changes})
            if self._stop.is_set():
                reason = "stopped"
                break
            learning_rate = learning_rate_at(self._schedule, self._base_rate, epoch_index)
            if not (yield from self._train_epoch(learning_rate)):
                reason = "stopped"
                break
            self.epochs_completed = epoch_index + 1
            ending = yield from self._epoch_events(learning_rate, started)
            if ending is not None:
                reason = ending
                break
        yield from self._closing_events(reason, started)

    def _opening_events(self, started: float) -> Iterator[dict]:
        """``config``, then the untrained network's ``metrics`` and picture."""
        dataset = self.dataset
        yield self._event("config", {
            "config": self.config.model_dump(mode="json"), "data": dataset.summary(),
            "points": dataset.points(), "input_maps": input_maps(dataset),
            "total_epochs": self.config.training.epochs})
        first_rate = learning_rate_at(self._schedule, self._base_rate, 0)
        yield self._metrics_event(0, first_rate, self._evaluate_splits(), started, with_norms=False)
        yield from self._picture_events(0)

    def _epoch_events(self, learning_rate: float, started: float) -> Generator[dict, None, str | None]:
        """The events of the epoch just trained; returns ``diverged`` or ``early_stopped`` to end
        the run, else None."""
        epoch = self.epochs_completed
        diverged = not np.isfinite(self.network.parameters).all()
        evaluations = dev_eval = None
        if epoch % self._report_every == 0 or diverged:
            evaluations = self._evaluate_splits()
            dev_eval = evaluations.dev
            diverged = diverged or not math.isfinite(evaluations.train.cost)
            yield self._metrics_event(epoch, learning_rate, evaluations, started)
        if diverged:
            return "diverged"
        if dev_eval is None and self._early_stopping.active:
            with np.errstate(all="ignore"):
                dev_eval = self.network.evaluate(self.dataset.X_dev, self.dataset.y_dev)
        if dev_eval is not None:
            self._early_stopping.observe(epoch, dev_eval.loss, self.network)
        yield from self._picture_events(epoch, lambda kind, every: epoch % every == 0)
        if epoch % self._diagnosis_every == 0:
            yield from self._diagnosis_events(epoch, evaluations)
        return "early_stopped" if self._early_stopping.should_stop(epoch) else None

    def _closing_events(self, reason: str, started: float) -> Iterator[dict]:
        """The final weights' picture and diagnosis (unless just sent or diverged), then ``done``."""
        restored = reason in ("completed", "early_stopped") and self._early_stopping.restore(self.network)
        epoch = self.epochs_completed
        if reason != "diverged":
            # Weights that changed since the epoch's own events (restored, or a part epoch) get new ones.
            changed = restored or self._cut_short
            yield from self._picture_events(
                epoch, lambda kind, every: changed or self._last_picture_epoch.get(kind) != epoch)
            if changed or self._last_diagnosis_epoch != epoch:
                yield from self._diagnosis_events(epoch, None)
        yield self._done_event(reason, self._early_stopping.best_epoch, restored, started)

    def _diagnosis_events(self, epoch: int, evaluations: Evaluations | None) -> Iterator[dict]:
        diagnosis = self._diagnosis_event(epoch, evaluations)
        if diagnosis is not None:
            yield diagnosis
        self._last_diagnosis_epoch = epoch

    def _take_pending(self) -> list[dict]:
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def _apply(self, changes: dict) -> None:
        """Apply a validated live change to the running objects and to ``self.config``."""
        merged = merge_update(self.config.model_dump(), changes)
        try:
            self.config = parse_config(merged)
        except ConfigError as error:  # parse_update already validated each field
            raise RuntimeError(f"a validated update no longer fits the config: {error}") from error
        for live, layer_index, value in live_changes(changes):
            self._set_live(live, layer_index, value)

    def _set_live(self, live: LiveField, layer_index: int | None, value) -> None:
        """One live field's new value, where the running objects keep it."""
        if live.path == "optimizer.learning_rate":
            self._base_rate = value  # the schedule's a0
        elif live.section == "optimizer":
            # A rule that does not use this hyperparameter (beta1 for momentum) only records it.
            if live.name in self.optimizer.hyperparameter_names:
                self.optimizer.set_hyperparameters(**{live.name: value})
        elif live.section == "regularization":
            setattr(self.network, live.name, value)
        elif live.path == "model.hidden.keep_prob":
            self.network.keep_probs[layer_index] = float(value)
        elif live.path == "training.batch_size":
            self._batch_size = value
        # training.epochs_per_second paces the caller, which reads it from self.config.

    def _train_epoch(self, learning_rate: float) -> Generator[None, None, bool]:
        """One pass over the reshuffled training set in mini-batches (the last one partial).

        When slicing, yields None before a step that the turn's work budget has
        no room for, and returns False when a stop request cut the epoch short
        there; True when it is complete.
        """
        rng = self._rng
        augment = self.dataset.augment if self.config.data.augment.enabled else None
        # Augmentation works on the 2-D points themselves, before their features.
        X = self.dataset.X_train if augment is None else self.dataset.augment_source
        m = X.shape[0]
        order = rng.permutation(m)
        X_epoch, targets_epoch = X[order], self._targets_train[order]
        batch = min(self._batch_size, m)
        network = self.network
        compute_gradients = network.compute_gradients
        step = self.optimizer.step
        params, grads = [network.parameters], [network.gradients]
        starts = range(0, m, batch)
        costs = np.empty(len(starts))
        sliced = self._slice_work is not None
        first = 0
        while first < len(starts):
            steps = len(starts)
            if sliced:
                if self._turn_work >= self._slice_work:
                    yield None  # the host's turn passes to another run
                    if self._stop.is_set():
                        self._cut_short = True
                        return False
                steps = self._size.steps_per_slice(batch, self._slice_work - self._turn_work)
            last = min(first + steps, len(starts))
            with np.errstate(all="ignore"):
                for index in range(first, last):
                    start = starts[index]
                    X_batch = X_epoch[start:start + batch]
                    if augment is not None:
                        X_batch = augment(X_batch, rng)
                    costs[index] = compute_gradients(X_batch, targets_epoch[start:start + batch], rng,
                                                       with_loss=True)
                    step(params, grads, learning_rate)
            if sliced:
                self._count_steps(costs[first:last])
                self._turn_work += (last - first) * self._size.step_work(batch)
            first = last
        if not sliced:
            self._count_steps(costs)
        return True

    def _count_steps(self, costs: np.ndarray) -> None:
        self.iteration += len(costs)
        self._iteration_costs.extend(costs)

    # --- payloads -------------------------------------------------------------

    @staticmethod
    def _event(name: str, data: dict) -> dict:
        return {"event": name, "data": data}

    def _evaluate_splits(self) -> Evaluations:
        dataset = self.dataset
        spans = dataset.monitored_spans
        if not dataset.has_train_dev:
            del spans["train_dev"]
        with np.errstate(all="ignore"):
            evaluations = self.network.evaluate_spans(dataset.X_monitored, dataset.y_monitored,
                                                      list(spans.values()))
        found = dict(zip(spans, evaluations, strict=True))
        return Evaluations(found["train"], found["dev"], found.get("train_dev"))

    def _metrics_event(self, epoch: int, learning_rate: float, evaluations: Evaluations, started: float,
                       with_norms: bool = True) -> dict:
        if with_norms:
            last_update = self.optimizer.last_update()
            with np.errstate(all="ignore"):
                layers = self.network.layer_norms(last_update[0] if last_update else None)
            layers = [{key: _finite(value) for key, value in layer.items()} for layer in layers]
        else:
            layers = [{"grad_norm": None, "weight_norm": _finite(norm["weight_norm"]), "update_ratio": None}
                      for norm in self.network.layer_norms(None)]
        train_eval, dev_eval = evaluations.train, evaluations.dev
        payload = {
            "epoch": epoch, "iteration": self.iteration,
            "learning_rate": _finite(learning_rate),
            "train_loss": _finite(train_eval.loss), "train_cost": _finite(train_eval.cost),
            "train_accuracy": _finite(train_eval.accuracy),
            "dev_loss": _finite(dev_eval.loss), "dev_accuracy": _finite(dev_eval.accuracy)}
        if (train_dev_eval := evaluations.train_dev) is not None:
            payload["train_dev_loss"] = _finite(train_dev_eval.loss)
            payload["train_dev_accuracy"] = _finite(train_dev_eval.accuracy)
        payload["layers"] = layers
        payload["elapsed_s"] = round(time.perf_counter() - started, 4)
        self.history.append(dict(payload))
        payload["iteration_costs"] = self._iteration_costs.take()
        return self._event("metrics", payload)

    def _picture_events(self, epoch: int,
                        due: Callable[[str, int], bool] = lambda kind, every: True) -> Iterator[dict]:
        """The pictures (``boundary``, ``confusion``) this data set gets whose ``due(kind, every)`` holds."""
        for kind, every in self._picture_every.items():
            if every and due(kind, every):
                self._last_picture_epoch[kind] = epoch
                yield self._boundary_event(epoch) if kind == "boundary" else self._confusion_event(epoch)

    def _boundary_event(self, epoch: int) -> dict:
        """Two classes: ``z``, the probability of class 1 per grid cell.  More: ``classes`` (C), and
        per cell the ``predicted`` class and its probability, ``confidence`` (rounded like ``z``)."""
        xs, ys, _ = self._grid
        n_classes = self.dataset.n_classes
        with np.errstate(all="ignore"):
            probabilities = self.network.probabilities(self._grid_inputs)
        probabilities = np.nan_to_num(probabilities, nan=1.0 / n_classes)
        payload = {"epoch": epoch, "x": np.round(xs, GRID_DECIMALS).tolist(),
                   "y": np.round(ys, GRID_DECIMALS).tolist()}
        shape = (len(ys), len(xs))
        if n_classes == 2:
            payload["z"] = np.round(probabilities.reshape(shape), BOUNDARY_DECIMALS).tolist()
        else:
            predicted = probabilities.argmax(axis=1)
            confidence = probabilities[np.arange(len(predicted)), predicted]
            payload.update(classes=n_classes, predicted=predicted.reshape(shape).tolist(),
                           confidence=np.round(confidence.reshape(shape), BOUNDARY_DECIMALS).tolist())
        payload["neurons"] = self._neuron_maps.payload()
        return self._event("boundary", payload)

    def _confusion_event(self, epoch: int) -> dict:
        dataset = self.dataset
        n_classes = dataset.n_classes
        with np.errstate(all="ignore"):
            predicted = self.network.predict(dataset.X_dev)
        truth = dataset.y_dev
        matrix = np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes)
        # Only images can be shown as the examples they are; an uploaded table sends none.
        limit = MAX_MISCLASSIFIED if dataset.image_shape else 0
        wrong = np.flatnonzero(predicted != truth)[:limit]
        pixels = dataset.pixels(dataset.X_dev[wrong])
        return self._event("confusion", {
            "epoch": epoch, "matrix": matrix.reshape(n_classes, n_classes).tolist(),
            "misclassified": [{"pixels": pixels[row].tolist(), "label": int(truth[index]),
                               "predicted": int(predicted[index])} for row, index in enumerate(wrong)]})

    def _diagnosis_event(self, epoch: int, evaluations: Evaluations | None) -> dict | None:
        """The diagnosis, or None when an accuracy is not a number (overflowing logits).

        Without evaluations this is the run's final diagnosis, of its final (or restored) weights.
        """
        final = evaluations is None
        if final:
            evaluations = self._evaluate_splits()
        train_eval, dev_eval = evaluations.train, evaluations.dev
        if not (math.isfinite(train_eval.accuracy) and math.isfinite(dev_eval.accuracy)):
            return None
        dataset, training = self.dataset, self.config.training
        # The last diagnosis of a run that early stopping ended: its decision is final.
        stopped_early = (final and training.early_stopping.patience > 0
                         and self.epochs_completed < training.epochs)
        train_dev_accuracy = None
        if evaluations.train_dev is not None:
            train_dev_accuracy = evaluations.train_dev.accuracy
            if not math.isfinite(train_dev_accuracy):
                return None
        payload = diagnose(train_eval.accuracy, dev_eval.accuracy, self._bayes_error,
                           n_train=len(dataset.y_train), n_dev=len(dataset.y_dev),
                           train_dev_accuracy=train_dev_accuracy, n_train_dev=len(dataset.y_train_dev),
                           setup=Setup.from_config(self.config, dataset.n_classes),
                           progress=progress_from_history(self.history, stopped_early))
        return self._event("diagnosis", {"epoch": epoch, **payload})

    def _done_event(self, reason: str, best_epoch: int | None, restored: bool, started: float) -> dict:
        with np.errstate(all="ignore"):
            splits = {name: self.network.evaluate(X, y) for name, (X, y) in self.dataset.splits().items()}
        payload = {"reason": reason, "epoch": self.epochs_completed, "best_epoch": best_epoch,
                   "iteration": self.iteration, "restored_best": restored}
        for name, evaluation in splits.items():
            payload[f"{name}_accuracy"] = _finite(evaluation.accuracy)
            payload[f"{name}_loss"] = _finite(evaluation.loss)
        payload["elapsed_s"] = round(time.perf_counter() - started, 4)
        return self._event("done", payload)


def train(config: dict | RunConfig) -> Iterator[dict]:
    """The contract's entry point: the events of one run of ``config``."""
    return Trainer(config).events()
