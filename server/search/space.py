"""Distributions of a search space: how each hyperparameter is sampled.

A space is plain data: ``{"optimizer.learning_rate": {"distribution":
"log_uniform", "low": 1e-4, "high": 1}, ...}``.  Each distribution has a
*scale* on which it is uniform (the learning rate's is log(alpha), a beta's is
log(1 - beta)); sampling, grid points and zooming all work on that scale, which
is what the course means by "sampling at the right scale".

Every sampler takes an injected ``numpy.random.Generator``; nothing here
touches a global random state.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_CHOICES = 32
Scalar = bool | int | float | str | None


class Distribution(BaseModel):
    """How one hyperparameter is drawn: plain, immutable data with the sampling rules attached."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    def to_json(self) -> dict[str, Any]:
        """Plain data, the distribution's name first."""
        data = self.model_dump(mode="json")
        return {"distribution": data.pop("distribution"), **data}

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn from this distribution."""
        raise NotImplementedError

    def grid(self, points: int) -> list[Any]:
        """``points`` values evenly spread on this distribution's scale (fewer if they repeat)."""
        raise NotImplementedError

    def narrowed(self, values: list[Any], margin: float) -> Distribution:
        """A distribution of the same kind around ``values``, never wider than this one."""
        raise NotImplementedError


class _Interval(Distribution):
    """A continuous or integer range, uniform on ``to_scale``."""

    low: float
    high: float

    def to_scale(self, value: float) -> float:
        return value

    def from_scale(self, position: float) -> float:
        return position

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g}); "
                             "use a 'choice' for a single value")
        return self

    def _bounds_on_scale(self) -> tuple[float, float]:
        # log(1 - beta) decreases as beta grows: order the ends on the scale.
        ends = self.to_scale(self.low), self.to_scale(self.high)
        return min(ends), max(ends)

    def sample(self, rng: np.random.Generator) -> float:
        lo, hi = self._bounds_on_scale()
        return self._clip(self.from_scale(float(rng.uniform(lo, hi))))

    def sample_many(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws in a row from ``rng``, shape (size,)."""
        return np.array([self.sample(rng) for _ in range(size)])

    def grid(self, points: int) -> list[float]:
        lo, hi = self._bounds_on_scale()
        if points == 1:
            positions = [(lo + hi) / 2]
        else:
            positions = np.linspace(lo, hi, points).tolist()
        values: list[float] = []
        for position in positions:
            value = self._clip(self.from_scale(position))
            if value not in values:
                values.append(value)
        return sorted(values)

    def narrowed(self, values: list[float], margin: float) -> _Interval:
        """The range spanned by ``values`` on this scale, padded by ``margin`` of the old width.

        The result is clipped to the current range, so a zoom never widens.
        """
        lo, hi = self._bounds_on_scale()
        positions = [self.to_scale(v) for v in values]
        pad = margin * (hi - lo)
        new_lo = max(lo, min(positions) - pad)
        new_hi = min(hi, max(positions) + pad)
        low, high = sorted((self._clip(self.from_scale(new_lo)), self._clip(self.from_scale(new_hi))))
        return self._rebuilt(low, high)

    def _rebuilt(self, low: float, high: float) -> _Interval:
        return type(self)(distribution=self.distribution, low=low, high=high)

    def _clip(self, value: float) -> float:
        # Round trips through exp/log can land a hair outside [low, high].
        return min(max(value, self.low), self.high)


class Uniform(_Interval):
    """Uniform on [low, high]: for parameters whose effect is linear (keep_prob, noise)."""

    distribution: Literal["uniform"]


class _Log10Scale:
    """The scale of a positive quantity whose order of magnitude is what matters."""

    def to_scale(self, value: float) -> float:
        return math.log10(value)

    def from_scale(self, position: float) -> float:
        return 10.0 ** position


class LogUniform(_Log10Scale, _Interval):
    """log(value) uniform on [log low, log high]: learning rates, lambdas, epsilons."""

    distribution: Literal["log_uniform"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)


class OneMinusLogUniform(_Interval):
    """log(1 - value) uniform: betas, where 0.9 -> 0.99 matters as much as 0.99 -> 0.999."""

    distribution: Literal["one_minus_log_uniform"]
    low: float = Field(ge=0, lt=1)
    high: float = Field(ge=0, lt=1)

    def to_scale(self, value: float) -> float:
        return math.log10(1.0 - value)

    def from_scale(self, position: float) -> float:
        return 1.0 - 10.0 ** position


class _IntInterval(_Interval):
    low: int
    high: int

    def sample(self, rng: np.random.Generator) -> int:
        # Uniform on the scale over [low, high + 1), floored: every integer
        # gets the share of the scale that rounds down to it.
        lo, hi = self.to_scale(self.low), self.to_scale(self.high + 1)
        return self._clip(math.floor(self.from_scale(float(rng.uniform(lo, hi)))))

    def _clip(self, value: float) -> int:
        return int(min(max(round(value), self.low), self.high))

    def _rebuilt(self, low: float, high: float) -> _IntInterval:
        # Rounding can collapse a narrow range to one integer; keep a neighbour.
        if low >= high:
            low, high = (low, low + 1) if low < self.high else (high - 1, high)
        return super()._rebuilt(low, high)


class IntUniform(_IntInterval):
    """An integer uniform on low..high inclusive: epochs, patience."""

    distribution: Literal["int_uniform"]


class IntLogUniform(_Log10Scale, _IntInterval):
    """An integer, uniform on a log scale: hidden units, batch sizes."""

    distribution: Literal["int_log_uniform"]
    low: int = Field(ge=1)
    high: int = Field(ge=1)


class Choice(Distribution):
    """One of ``values``, each equally likely: optimizers, activations, booleans."""

    distribution: Literal["choice"]
    values: list[Any] = Field(min_length=1, max_length=MAX_CHOICES)

    @field_validator("values")
    @classmethod
    def _plain_distinct_values(cls, values: list[Any]) -> list[Scalar]:
        # One clear message rather than one per member of a Union of types.
        for position, value in enumerate(values):
            plain = value is None or isinstance(value, (bool, int, str)) or (
                isinstance(value, float) and math.isfinite(value))
            if not plain:
                raise ValueError(f"value {position} ({value!r}) must be a string, a finite number, "
                                 "true, false or null")
        if len({repr(v) for v in values}) != len(values):
            raise ValueError("values must be distinct")
        return values

    def sample(self, rng: np.random.Generator) -> Scalar:
        return self.values[int(rng.integers(len(self.values)))]

    def grid(self, points: int) -> list[Scalar]:
        return list(self.values)

    def narrowed(self, values: list[Scalar], margin: float) -> Choice:
        kept = [v for v in self.values if v in values]
        return Choice(distribution="choice", values=kept or list(self.values))


DISTRIBUTIONS: dict[str, type[Distribution]] = {
    "uniform": Uniform,
    "log_uniform": LogUniform,
    "one_minus_log_uniform": OneMinusLogUniform,
    "int_uniform": IntUniform,
    "int_log_uniform": IntLogUniform,
    "choice": Choice,
}
#: Distributions that suit each kind of config field.
FOR_FLOAT = ("uniform", "log_uniform", "one_minus_log_uniform", "choice")
FOR_INT = ("int_uniform", "int_log_uniform", "choice")
FOR_DISCRETE = ("choice",)


def grid_points_per_axis(trials: int, space: dict[str, Distribution]) -> int:
    """Points on each numeric axis so the whole grid fits in ``trials``.

    A ``choice`` axis contributes all of its values; the remaining budget
    ``trials / (product of choice sizes)`` is shared evenly by the d numeric
    axes: ``floor(budget ** (1/d))`` points each, at least one.
    """
    combos = math.prod(len(d.values) for d in space.values() if isinstance(d, Choice))
    numeric = sum(1 for d in space.values() if not isinstance(d, Choice))
    if numeric == 0:
        return 1
    budget = max(1.0, trials / combos)
    points = int(math.floor(budget ** (1.0 / numeric) + 1e-9))
    return max(1, points)


def grid_values(trials: int, space: dict[str, Distribution]) -> dict[str, list[Any]]:
    """Per path, the values the grid takes on that axis."""
    points = grid_points_per_axis(trials, space)
    return {path: dist.grid(points) for path, dist in space.items()}


def grid(trials: int, space: dict[str, Distribution]) -> list[dict[str, Any]]:
    """The product of the per-axis values, first path varying slowest, at most ``trials`` points."""
    axes = grid_values(trials, space)
    points: list[dict[str, Any]] = [{}]
    for path, values in axes.items():
        points = [{**point, path: value} for point in points for value in values]
    return points[:trials]


def sample(trials: int, space: dict[str, Distribution], rng: np.random.Generator) -> list[dict[str, Any]]:
    """``trials`` independent draws, each a ``{path: value}`` dict (ParameterSampler style)."""
    return [{path: dist.sample(rng) for path, dist in space.items()} for _ in range(trials)]


def zoom(space: dict[str, Distribution], best: list[dict[str, Any]], margin: float = 0.1
         ) -> dict[str, Distribution]:
    """A narrower space around ``best`` (the top trials' parameter dicts).

    Each range shrinks to what the best trials span on its own scale (log for
    log_uniform, log(1 - beta) for one_minus_log_uniform), padded on each side
    by ``margin`` times the old width and clipped to the old range; a choice
    keeps the values the best trials used.
    """
    if not best:
        raise ValueError("zoom needs at least one trial")
    return {path: dist.narrowed([trial[path] for trial in best], margin) for path, dist in space.items()}
