"""What a run costs, counted in multiply-adds: the schema's bounds on a run, and the slices hosts share out.

A training host computes the runs of many learners, one piece of work at a
time.  Three numbers keep that fair (``server.limits.ConfigLimits`` holds
the first two):

- ``max_multiply_adds_per_epoch`` (2e9, about 0.6 s of one core here):
  ``epoch_work(config)``, one epoch's work, may not exceed it;
- ``max_uncut_multiply_adds`` (2e8, about 60 ms): ``uncut_work(config)``,
  the largest piece a host cannot interrupt (one step of a full mini-batch,
  one evaluation of a split or of the decision-boundary grid), may not
  exceed it either.  A config over either bound gets a 400 detail at
  ``model.hidden``, or at ``training.batch_size`` when a smaller batch
  would fit (a live update of the batch size is checked the same way);
- ``DEFAULT_SLICE_WORK`` (2e7, a few ms): a host trains a run for that much
  (whole mini-batches, at least one) before it turns to the next run.

Counting, for a network of ``W`` weights and ``P`` parameters:

- a mini-batch step of ``m`` rows: ``3 m W`` (the forward pass, and the
  backward pass's two products per layer) plus ``UPDATE_WORK_PER_PARAMETER
  * P`` for the element-wise passes over every parameter, plus
  ``STEP_OVERHEAD_WORK`` for the Python calls around a step and
  ``LAYER_OVERHEAD_WORK`` for each weight layer's calls (its forward,
  activation and backward): a step of a small network at batch size 1 is
  mostly those, and a deep one's grow with its depth;
- an evaluation of ``n`` rows: ``n W`` (forward only);
- an epoch: its steps, plus one evaluation of the train, dev and train-dev
  splits and, for 2-D data with boundary pictures, of the
  ``BOUNDARY_GRID_POINTS`` of the grid (as if every epoch were reported).

The largest lesson or search preset needs 1e8 an epoch and 7e6 uncut, a
twentieth and a thirtieth of the bounds.  The schema's largest network (16
x 512) is refused whatever the data: its parameters alone are 8e8 of
element-wise work a step.  About the largest admitted: 3 x 512 units on
20-odd examples, 2 x 256 units on 5,000 examples at batch size 64, or
2 x 45 units on 5,000 examples at batch size 1 (at most 13 hidden layers
there, however narrow).
"""

from __future__ import annotations

from dataclasses import dataclass

from server.engine.config import DATASETS_2D, ConfigError, RunConfig, split_sizes
from server.limits import CONFIG_LIMITS

#: The element-wise work per parameter and step, as multiply-adds: Adam's
#: update (about a dozen array operations) and the backward pass's writes to
#: the gradient vector.  Measured here: 30-90 ns a parameter, where the
#: products of a step run at about 0.3 ns a multiply-add.
UPDATE_WORK_PER_PARAMETER = 200
#: The Python calls around one step, as multiply-adds (about 25 µs here).
STEP_OVERHEAD_WORK = 80_000
#: The Python calls of one weight layer in a step (about 12 µs here): at batch
#: size 1 a 16-layer network of 4 units takes 240 µs a step, a 1-layer one 50.
LAYER_OVERHEAD_WORK = 40_000
#: Points of the grid a ``boundary`` event evaluates (``Dataset.grid``'s 40 x 40).
BOUNDARY_GRID_POINTS = 40 * 40
#: Multiply-adds a host spends on one run before it turns to the next: a few
#: milliseconds of training on this kind of machine.
DEFAULT_SLICE_WORK = 20_000_000


@dataclass(frozen=True)
class NetworkSize:
    """A network's weights (what products multiply), parameters (what the optimizer updates), layers."""

    weights: int
    parameters: int
    layers: int

    def step_work(self, rows: int) -> int:
        """Multiply-adds of one training step on a mini-batch of ``rows`` examples."""
        return (3 * rows * self.weights + UPDATE_WORK_PER_PARAMETER * self.parameters
                + STEP_OVERHEAD_WORK + LAYER_OVERHEAD_WORK * self.layers)

    def forward_work(self, rows: int) -> int:
        """Multiply-adds of evaluating ``rows`` examples."""
        return rows * self.weights

    def steps_per_slice(self, rows: int, slice_work: float) -> int:
        """Whole steps of ``rows`` examples in a slice of ``slice_work`` (at least one)."""
        return max(1, int(slice_work // self.step_work(rows)))


def network_size(sizes: list[int], batch_norm: list[bool]) -> NetworkSize:
    """The size of a network of layer widths ``sizes`` (inputs first, outputs last).

    ``batch_norm[l]`` says whether weight layer l normalizes (gamma and beta
    replace its bias).
    """
    weights = sum(inputs * outputs for inputs, outputs in zip(sizes[:-1], sizes[1:], strict=True))
    per_unit = sum(outputs * (2 if normalized else 1)
                   for outputs, normalized in zip(sizes[1:], batch_norm, strict=True))
    return NetworkSize(weights, weights + per_unit, len(sizes) - 1)


def config_network_size(config: RunConfig) -> NetworkSize:
    from server.engine.model import output_units

    n_features, n_classes = _data_shape(config)
    hidden = config.model.hidden
    sizes = [n_features, *(layer.units for layer in hidden), output_units(n_classes)]
    return network_size(sizes, [layer.batch_norm for layer in hidden] + [False])


def _data_shape(config: RunConfig) -> tuple[int, int]:
    # Imported here: the data module imports the config module, which calls this module.
    from server.engine.data import data_shape

    return data_shape(config.data.dataset, config.data.features)


def epoch_work(config: RunConfig) -> int:
    """Multiply-adds of one epoch of ``config`` (see the module docstring)."""
    data, training = config.data, config.training
    size = config_network_size(config)
    sizes = split_sizes(data.n_samples, data.split)
    batch = min(training.batch_size, sizes.train)
    full_batches, last_rows = divmod(sizes.train, batch)
    work = full_batches * size.step_work(batch) + (size.step_work(last_rows) if last_rows else 0)
    evaluated = sizes.train + sizes.dev + sizes.train_dev + _grid_points(config)
    return work + size.forward_work(evaluated)


def uncut_work(config: RunConfig) -> int:
    """Multiply-adds of the largest piece of a run that a host cannot interrupt: one step of a
    full mini-batch, or one evaluation of a split or of the boundary grid."""
    size = config_network_size(config)
    sizes = split_sizes(config.data.n_samples, config.data.split)
    step = size.step_work(min(config.training.batch_size, sizes.train))
    return max(step, size.forward_work(max(*sizes, _grid_points(config))))


def _grid_points(config: RunConfig) -> int:
    """The boundary grid's points when the run draws boundaries (2-D data, as ``prepare_data`` decides)."""
    from server.engine.data import is_upload

    dataset = config.data.dataset
    two_d = dataset in DATASETS_2D or (is_upload(dataset) and _data_shape(config) == (2, 2))
    return BOUNDARY_GRID_POINTS if two_d and config.training.boundary_every else 0


def work_problems(config: RunConfig, loc: str | None = None) -> list[dict[str, str]]:
    """``ConfigError`` details when ``config`` asks more of a host than ``ConfigLimits`` allows.

    Located at ``model.hidden`` (the network is the usual cause), or at
    ``training.batch_size`` when a smaller batch would make the steps fit;
    at ``loc`` when given (a live update names its own field).
    """
    per_epoch, uncut = CONFIG_LIMITS.max_multiply_adds_per_epoch, CONFIG_LIMITS.max_uncut_multiply_adds
    try:
        piece = uncut_work(config)
    except ConfigError:
        # An upload this process does not hold (a training host given only the run's own
        # arrays): the web process, which holds it, has checked the config already.
        return []
    problems = []
    if piece > uncut:
        size = config_network_size(config)
        smaller_batch = size.step_work(1) <= uncut and size.forward_work(_largest_evaluation(config)) <= uncut
        problems.append({"loc": loc or ("training.batch_size" if smaller_batch else "model.hidden"), "msg": (
            f"one piece of this run (a training step or an evaluation) would take about {piece:.2g} "
            f"multiply-adds, and a training process does at most {uncut:.2g} for one run before it "
            "turns to the others: use "
            + ("a smaller batch size" if smaller_batch
               else "fewer or narrower hidden layers, fewer samples, or boundary_every 0"))})
    work = epoch_work(config)
    if work > per_epoch:
        problems.append({"loc": loc or "model.hidden", "msg": (
            f"an epoch of this run would take about {work:.2g} multiply-adds; at most {per_epoch:.2g} "
            "are allowed: use fewer or narrower hidden layers, fewer samples or a larger batch size")})
    return problems[:1]


def _largest_evaluation(config: RunConfig) -> int:
    return max(*split_sizes(config.data.n_samples, config.data.split), _grid_points(config))
