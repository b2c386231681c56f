"""What a run costs, counted in multiply-adds: the schema's bound on a run, and the slices hosts share out.

A training host computes the runs of many learners, one piece of work at a
time.  Two numbers keep that fair:

- the bound on one run: ``epoch_work(config)``, the multiply-adds of one
  epoch, may be at most ``ConfigLimits.max_multiply_adds_per_epoch`` (a
  config asking for more gets a 400 naming ``model.hidden``, or
  ``training.batch_size`` for a live update).  Every piece of a run that
  cannot be cut smaller (one mini-batch step, one evaluation of a split,
  one decision-boundary grid) is part of an epoch, so the bound bounds
  those too;
- the slice: a host trains a run for ``DEFAULT_SLICE_WORK`` multiply-adds
  (whole mini-batches, at least one) before it turns to the next run.

Counting, for a network of ``W`` weights and ``P`` parameters:

- a mini-batch step of ``m`` rows: ``3 m W`` (the forward pass, and the
  backward pass's two products per layer) plus ``UPDATE_WORK_PER_PARAMETER
  * P`` for the optimizer's update of every parameter, plus
  ``STEP_OVERHEAD_WORK`` for the Python calls around a step, whatever the
  network: a step of a tiny network at batch size 1 is mostly those;
- an evaluation of ``n`` rows: ``n W`` (forward only);
- an epoch: its steps, plus one evaluation of the train, dev and train-dev
  splits and, for 2-D data with boundary pictures, of the
  ``BOUNDARY_GRID_POINTS`` of the grid (as if every epoch were reported).

Measured here with one BLAS thread, large products run at 3-18 billion
multiply-adds a second, so the bound (1e9) keeps any one piece under about
0.3 s and typically under 0.1 s, and the largest lesson preset needs 2e7.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.engine.config import RunConfig, split_sizes
from server.limits import CONFIG_LIMITS

#: The optimizer's element-wise work per parameter and step, as multiply-adds
#: (Adam's update is about a dozen array operations over every parameter).
UPDATE_WORK_PER_PARAMETER = 16
#: The Python calls around one step, as multiply-adds (about 40 µs here).
STEP_OVERHEAD_WORK = 40_000
#: Points of the grid a ``boundary`` event evaluates (``Dataset.grid``'s 40 x 40).
BOUNDARY_GRID_POINTS = 40 * 40
#: Multiply-adds a host spends on one run before it turns to the next: a few
#: milliseconds of training on this kind of machine.
DEFAULT_SLICE_WORK = 20_000_000


@dataclass(frozen=True)
class NetworkSize:
    """Weights (what the products multiply) and parameters (what the optimizer updates) of a network."""

    weights: int
    parameters: int

    def step_work(self, rows: int) -> int:
        """Multiply-adds of one training step on a mini-batch of ``rows`` examples."""
        return 3 * rows * self.weights + UPDATE_WORK_PER_PARAMETER * self.parameters + STEP_OVERHEAD_WORK

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
    return NetworkSize(weights, weights + per_unit)


def config_network_size(config: RunConfig) -> NetworkSize:
    # Imported here: the data module imports the config module, which calls this module.
    from server.engine.data import data_shape
    from server.engine.model import output_units

    n_features, n_classes = data_shape(config.data.dataset)
    hidden = config.model.hidden
    sizes = [n_features, *(layer.units for layer in hidden), output_units(n_classes)]
    return network_size(sizes, [layer.batch_norm for layer in hidden] + [False])


def epoch_work(config: RunConfig) -> int:
    """Multiply-adds of one epoch of ``config`` (see the module docstring)."""
    from server.engine.data import data_shape

    data, training = config.data, config.training
    size = config_network_size(config)
    sizes = split_sizes(data.n_samples, data.split)
    batch = min(training.batch_size, sizes.train)
    full_batches, last_rows = divmod(sizes.train, batch)
    work = full_batches * size.step_work(batch) + (size.step_work(last_rows) if last_rows else 0)
    evaluated = sizes.train + sizes.dev + sizes.train_dev
    two_d = data_shape(data.dataset)[0] == 2
    if two_d and training.boundary_every:
        evaluated += BOUNDARY_GRID_POINTS
    return work + size.forward_work(evaluated)


def work_problems(config: RunConfig, loc: str = "model.hidden") -> list[dict[str, str]]:
    """A ``ConfigError`` detail (at ``loc``) when an epoch of ``config`` costs more than the bound."""
    bound = CONFIG_LIMITS.max_multiply_adds_per_epoch
    work = epoch_work(config)
    if work <= bound:
        return []
    return [{"loc": loc, "msg": (
        f"an epoch of this run would take about {work:.2g} multiply-adds; at most {bound:.2g} are "
        "allowed: use fewer or narrower hidden layers, fewer samples or a larger batch size")}]
