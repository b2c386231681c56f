"""The computations behind the three labs: optimizers, input normalization, averages.

Everything here is plain NumPy and deterministic; the web layer only validates
the settings (with the pydantic models below) and formats the results.

- Optimizer lab: four 2-D loss surfaces, each with its value and gradient, and
  the trajectories of the engine's own ``GradientDescent``, ``Momentum``,
  ``RMSprop`` and ``Adam`` started from the same point.
- Normalization lab: the cost of a two-feature linear regression over its two
  weights, with raw and with normalized inputs, and gradient descent's path on
  each.
- Averages lab: a noisy daily temperature series and its exponentially
  weighted averages, with and without bias correction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from server.engine.config import ConfigError, validation_details
from server.engine.optimizers import GradientDescent, Optimizer, make_optimizer

OPTIMIZER_NAMES = ("gd", "momentum", "rmsprop", "adam")
MAX_LAB_STEPS = 2000
# A streamed race holds a server thread while it plays: keep each one short.
MAX_RACE_SECONDS = 120.0
CONTOUR_POINTS = 81
# A trajectory that leaves this box (or stops being finite) has diverged; it is
# frozen at its last point so that no NaN or Infinity ever reaches the page.
DIVERGENCE_BOUND = 1e6

Array = np.ndarray
SurfaceId = Literal["elongated-bowl", "saddle", "plateau", "rosenbrock"]


# --- loss surfaces ---------------------------------------------------------


@dataclass(frozen=True)
class Surface:
    """A loss surface over two parameters (x, y), vectorized over arrays of any shape.

    ``value(x, y)`` returns an array of the broadcast shape of ``x`` and ``y``;
    ``gradient(x, y)`` returns ``(df/dx, df/dy)``, each of that shape.
    ``learning_rate`` and ``steps`` are the defaults under which the lesson of
    the surface shows.
    """

    id: str
    title: str
    formula: str
    value: Callable[[Array, Array], Array]
    gradient: Callable[[Array, Array], tuple[Array, Array]]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    start: tuple[float, float]
    learning_rate: float
    steps: int
    minimum: tuple[float, float]
    lesson: str

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no functions)."""
        return {
            "id": self.id, "title": self.title, "formula": self.formula,
            "x_range": list(self.x_range), "y_range": list(self.y_range),
            "start": list(self.start), "learning_rate": self.learning_rate,
            "steps": self.steps, "minimum": list(self.minimum), "lesson": self.lesson,
        }

    def grid(self, points: int = CONTOUR_POINTS) -> dict[str, Any]:
        """The surface sampled on a ``points`` x ``points`` grid: ``x`` (points,), ``y`` (points,),
        ``z`` (points, points) with ``z[i][j] = f(x[j], y[i])`` (Plotly's contour layout)."""
        xs = np.linspace(*self.x_range, points)
        ys = np.linspace(*self.y_range, points)
        z = self.value(xs[None, :], ys[:, None])
        return {"x": xs.tolist(), "y": ys.tolist(), "z": np.round(z, 6).tolist()}


# Saddle: f = x^2 + y^4/2 - 2y^3/3.  The origin is a stationary point that is no
# minimum: across x the surface curves up, along y it flattens to a zero slope and
# then falls again to the minimum at (0, 1).  Coming from y < 0, the slope fades
# like y^2, so gradient descent approaches the origin ever more slowly and never
# crosses it; a method that carries velocity rolls over.
def _saddle_value(x: Array, y: Array) -> Array:
    return x ** 2 + y ** 4 / 2 - 2 * y ** 3 / 3


def _saddle_gradient(x: Array, y: Array) -> tuple[Array, Array]:
    return 2 * x, 2 * y ** 3 - 2 * y ** 2


def _bowl_value(x: Array, y: Array) -> Array:
    return 0.05 * x ** 2 + 2 * y ** 2


def _bowl_gradient(x: Array, y: Array) -> tuple[Array, Array]:
    return 0.1 * x, 4 * y


def _plateau_value(x: Array, y: Array) -> Array:
    return 1 - np.exp(-(x ** 2 + y ** 2) / 2)


def _plateau_gradient(x: Array, y: Array) -> tuple[Array, Array]:
    well = np.exp(-(x ** 2 + y ** 2) / 2)
    return x * well, y * well


ROSENBROCK_B = 10.0


def _rosenbrock_value(x: Array, y: Array) -> Array:
    return (1 - x) ** 2 + ROSENBROCK_B * (y - x ** 2) ** 2


def _rosenbrock_gradient(x: Array, y: Array) -> tuple[Array, Array]:
    valley = y - x ** 2
    return -2 * (1 - x) - 4 * ROSENBROCK_B * x * valley, 2 * ROSENBROCK_B * valley


SURFACES: dict[str, Surface] = {surface.id: surface for surface in (
    Surface(
        id="elongated-bowl", title="Elongated bowl", formula="f(x, y) = 0.05 x² + 2 y²",
        value=_bowl_value, gradient=_bowl_gradient,
        x_range=(-10.0, 10.0), y_range=(-3.0, 3.0), start=(-8.0, 2.0),
        learning_rate=0.45, steps=150, minimum=(0.0, 0.0),
        lesson=("Steep across, shallow along. A learning rate large enough to make progress "
                "along x makes gradient descent zigzag across y; momentum averages the zigzag "
                "away, RMSprop and Adam give each direction its own step size."),
    ),
    Surface(
        id="saddle", title="Saddle point", formula="f(x, y) = x² + y⁴/2 − 2y³/3",
        value=_saddle_value, gradient=_saddle_gradient,
        x_range=(-1.5, 1.5), y_range=(-1.5, 1.8), start=(-1.0, -1.0),
        learning_rate=0.1, steps=200, minimum=(0.0, 1.0),
        lesson=("At the origin the gradient is zero, yet it is no minimum: the surface curves "
                "up across x and, along y, flattens out and then keeps falling to the minimum "
                "at (0, 1). Gradient descent slows down as the slope fades and never gets across; "
                "momentum and Adam carry their velocity over the flat spot."),
    ),
    Surface(
        id="plateau", title="Plateau", formula="f(x, y) = 1 − exp(−(x² + y²)/2)",
        value=_plateau_value, gradient=_plateau_gradient,
        x_range=(-5.0, 5.0), y_range=(-5.0, 5.0), start=(-3.5, 3.0),
        learning_rate=0.1, steps=200, minimum=(0.0, 0.0),
        lesson=("Far from the well the surface is almost flat: the gradient is about 10⁻⁴, so "
                "gradient descent (and momentum, which averages the same tiny gradient) crawls. "
                "RMSprop and Adam divide by the gradient's own size and stride across."),
    ),
    Surface(
        id="rosenbrock", title="Rosenbrock's valley", formula="f(x, y) = (1 − x)² + 10 (y − x²)²",
        value=_rosenbrock_value, gradient=_rosenbrock_gradient,
        x_range=(-2.0, 2.0), y_range=(-1.0, 3.0), start=(-1.2, 1.0),
        learning_rate=0.02, steps=300, minimum=(1.0, 1.0),
        lesson=("A curved, narrow valley: finding it is easy, following it to the minimum at "
                "(1, 1) is slow. Watch who overshoots the walls and who follows the floor."),
    ),
)}


# --- optimizer lab ---------------------------------------------------------


class _LabSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class OptimizerLabSettings(_LabSettings):
    """What the learner controls in the optimizer lab; ``None`` means the surface's default."""

    surface: SurfaceId = Field("saddle", description="Which loss surface.")
    learning_rate: float | None = Field(None, gt=0, le=10, description="alpha, shared by all four.")
    beta: float = Field(0.9, ge=0, lt=1, description="Momentum and RMSprop averaging.")
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam: first-moment averaging.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam: second-moment averaging.")
    epsilon: float = Field(1e-8, gt=0, le=1, description="RMSprop and Adam: added to the root.")
    steps: int | None = Field(None, ge=1, le=MAX_LAB_STEPS, description="Updates per optimizer.")
    x0: float | None = Field(None, description="Start x (inside the surface's x range).")
    y0: float | None = Field(None, description="Start y (inside the surface's y range).")
    steps_per_second: float = Field(
        60.0, ge=10, le=2000, description="Pacing of the streamed race (not of the computation).")

    @field_validator("x0", "y0")
    @classmethod
    def _start_inside_the_plot(cls, value: float | None, info: ValidationInfo) -> float | None:
        surface = SURFACES.get(info.data.get("surface", ""))
        if value is None or surface is None:
            return value
        low, high = surface.x_range if info.field_name == "x0" else surface.y_range
        if not low <= value <= high:
            raise ValueError(f"must be within [{low:g}, {high:g}] on {surface.id}, got {value:g}")
        return value

    @field_validator("steps_per_second")
    @classmethod
    def _race_is_short_enough(cls, value: float, info: ValidationInfo) -> float:
        surface = SURFACES.get(info.data.get("surface", ""))
        steps = info.data.get("steps") or (surface.steps if surface else 0)
        if steps / value > MAX_RACE_SECONDS:
            raise ValueError(f"{steps} steps at {value:g} a second would take {steps / value:.0f} s; "
                             f"the limit is {MAX_RACE_SECONDS:.0f} s")
        return value

    def resolved(self) -> dict[str, Any]:
        """The settings with every default filled in from the surface."""
        surface = SURFACES[self.surface]
        values = self.model_dump(exclude={"steps_per_second"})
        values["learning_rate"] = self.learning_rate or surface.learning_rate
        values["steps"] = self.steps or surface.steps
        values["x0"] = surface.start[0] if self.x0 is None else self.x0
        values["y0"] = surface.start[1] if self.y0 is None else self.y0
        return values


class NormalizationLabSettings(_LabSettings):
    """Gradient descent on the regression cost, once with raw and once with normalized inputs."""

    learning_rate_raw: float = Field(
        0.011, gt=0, le=10, description="alpha on the raw inputs (above about 0.012 it diverges).")
    learning_rate_normalized: float = Field(
        0.5, gt=0, le=10, description="alpha on the normalized inputs (below about 1.9 it converges).")
    steps: int = Field(150, ge=1, le=MAX_LAB_STEPS, description="Gradient-descent updates on each.")


class AveragesLabSettings(_LabSettings):
    """The temperature series and the betas of its averages."""

    betas: list[Annotated[float, Field(ge=0, le=0.999)]] = Field(
        default_factory=lambda: [0.5, 0.9, 0.98], min_length=1, max_length=5,
        description="Averaging factors, each in [0, 0.999].")
    days: int = Field(120, ge=10, le=730, description="Length of the series.")
    seed: int = Field(1, ge=0, le=2**32 - 1, description="Seeds the noise of the series.")


def parse_lab_settings(model: type[_LabSettings], raw: Any) -> Any:
    """Validate lab settings; raises ``ConfigError`` whose details name each bad field."""
    if not isinstance(raw, dict):
        raise ConfigError([{"loc": "", "msg": "the settings must be a JSON object"}])
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(validation_details(error)) from None


def make_lab_optimizer(name: str, settings: dict[str, Any]) -> Optimizer:
    """The engine's optimizer ``name`` with the lab's hyperparameters (the ones it uses)."""
    return make_optimizer({**settings, "name": name})


@dataclass
class Trajectory:
    """One optimizer's path: ``points`` (n, 2) of (x, y), ``losses`` (n,), n <= steps + 1.

    ``diverged_at`` is the step at which the path left the finite world (then
    the path stops there), else ``None``.
    """

    optimizer: str
    points: Array
    losses: Array
    diverged_at: int | None


def descend(surface: Surface, optimizer: Optimizer, start: tuple[float, float],
            learning_rate: float, steps: int) -> Trajectory:
    """Run ``optimizer`` on ``surface`` from ``start`` for ``steps`` updates."""
    position = np.array(start, dtype=np.float64)
    points = np.empty((steps + 1, 2))
    points[0] = position
    diverged_at = None
    taken = steps
    for step in range(1, steps + 1):
        gradient = np.array(surface.gradient(position[0], position[1]), dtype=np.float64)
        optimizer.step([position], [gradient], learning_rate)
        if not np.all(np.isfinite(position)) or np.max(np.abs(position)) > DIVERGENCE_BOUND:
            diverged_at, taken = step, step - 1
            break
        points[step] = position
    points = points[:taken + 1]
    losses = surface.value(points[:, 0], points[:, 1])
    return Trajectory(optimizer.name, points, losses, diverged_at)


def optimizer_race(settings: OptimizerLabSettings) -> dict[str, Trajectory]:
    """The four optimizers' trajectories on the chosen surface, from the same start."""
    surface = SURFACES[settings.surface]
    values = settings.resolved()
    start = (values["x0"], values["y0"])
    return {name: descend(surface, make_lab_optimizer(name, values), start,
                          values["learning_rate"], values["steps"])
            for name in OPTIMIZER_NAMES}


def trajectory_outcome(surface: Surface, trajectory: Trajectory) -> dict[str, Any]:
    """Where a path ended, in words a test and a learner can check.

    ``distance_moved`` is from the start, ``distance_to_minimum`` from the
    surface's minimum; ``reached_minimum`` means within 0.1 of it;
    ``gradient_norm`` is the slope where the path ended.
    """
    start, end = trajectory.points[0], trajectory.points[-1]
    to_minimum = float(np.hypot(*(end - np.asarray(surface.minimum))))
    gradient = surface.gradient(end[0], end[1])
    return {
        "optimizer": trajectory.optimizer,
        "steps": len(trajectory.points) - 1,
        "x": float(end[0]), "y": float(end[1]), "loss": float(trajectory.losses[-1]),
        "distance_moved": float(np.hypot(*(end - start))),
        "distance_to_minimum": to_minimum,
        "gradient_norm": float(np.hypot(*gradient)),
        "reached_minimum": to_minimum < 0.1,
        "diverged": trajectory.diverged_at is not None,
    }


def check_surface_gradient(surface: Surface, points: Array, epsilon: float = 1e-6) -> float:
    """Largest relative error between ``surface.gradient`` and centered differences.

    ``points`` is (n, 2); the relative error is |a - n| / max(1, |a| + |n|) per component.
    """
    x, y = points[:, 0], points[:, 1]
    analytic = np.stack(surface.gradient(x, y), axis=1)
    numeric = np.stack([
        (surface.value(x + epsilon, y) - surface.value(x - epsilon, y)) / (2 * epsilon),
        (surface.value(x, y + epsilon) - surface.value(x, y - epsilon)) / (2 * epsilon),
    ], axis=1)
    scale = np.maximum(1.0, np.abs(analytic) + np.abs(numeric))
    return float(np.max(np.abs(analytic - numeric) / scale))


# --- normalization lab -----------------------------------------------------

# A fixed data set: a flat's price (in 10k) from its distance to the centre in km
# (1-5) and its floor area in tens of square metres (3-20).  The inputs are not
# centered and the area's spread is four times the distance's, so with raw inputs
# the cost is a long, tilted valley (condition number about 60); normalized, it
# is nearly round.
NORMALIZATION_SEED = 7
NORMALIZATION_SAMPLES = 200
NORMALIZATION_TRUE_WEIGHTS = (-1.0, 1.5)
# Converged: within 1% of the start's distance to the optimum, in weight space.
CONVERGED_FRACTION = 0.01


def regression_data(seed: int = NORMALIZATION_SEED) -> tuple[Array, Array]:
    """``X`` (m, 2): distance and area; ``y`` (m,): price."""
    rng = np.random.default_rng(seed)
    distance = rng.uniform(1.0, 5.0, NORMALIZATION_SAMPLES)
    area = rng.uniform(3.0, 20.0, NORMALIZATION_SAMPLES)
    features = np.stack([distance, area], axis=1)
    price = features @ np.array(NORMALIZATION_TRUE_WEIGHTS) + rng.normal(0.0, 1.0, NORMALIZATION_SAMPLES)
    return features, price


def squared_error_cost(features: Array, targets: Array, weights: Array) -> Array:
    """J(w) = (1/2m) * sum((X w - y)^2) for a stack of weights.

    ``features`` (m, 2), ``targets`` (m,), ``weights`` (..., 2); returns shape (...).
    Expanded through the Gram matrix, so a whole contour grid costs O(grid), not O(grid * m).
    """
    m = len(targets)
    gram = features.T @ features / m
    cross = features.T @ targets / m
    quadratic = np.einsum("...i,ij,...j->...", weights, gram, weights)
    return 0.5 * quadratic - weights @ cross + 0.5 * float(targets @ targets) / m


def _cost_gradient(features: Array, targets: Array, weights: Array) -> Array:
    """dJ/dw (2,) at ``weights`` (2,)."""
    return features.T @ (features @ weights - targets) / len(targets)


def _normalization_panel(features: Array, targets: Array, learning_rate: float, steps: int) -> dict:
    optimum = np.linalg.lstsq(features, targets, rcond=None)[0]
    optimal_cost = float(squared_error_cost(features, targets, optimum))
    weights = np.zeros(2)
    path = [weights.copy()]
    optimizer = GradientDescent()
    for _ in range(steps):
        optimizer.step([weights], [_cost_gradient(features, targets, weights)], learning_rate)
        if not np.all(np.isfinite(weights)) or np.max(np.abs(weights)) > DIVERGENCE_BOUND:
            break
        path.append(weights.copy())
    path_array = np.array(path)
    costs = squared_error_cost(features, targets, path_array)
    distances = np.hypot(*(path_array - optimum).T)
    within = np.nonzero(distances <= CONVERGED_FRACTION * distances[0])[0]
    # The plot spans the start (0, 0), the optimum, and a margin around both, with the same
    # span on both axes: drawn at equal scales, round contours must look round.
    span = max(float(np.max(np.abs(optimum))), 1e-9) * 1.6
    axes = [np.linspace(optimum[i] - span, optimum[i] + span, CONTOUR_POINTS) for i in range(2)]
    grid = np.stack(np.meshgrid(axes[0], axes[1]), axis=-1)
    hessian = features.T @ features / len(targets)
    eigenvalues = np.linalg.eigvalsh(hessian)
    return {
        "w1": axes[0].tolist(), "w2": axes[1].tolist(),
        "cost": np.round(squared_error_cost(features, targets, grid), 8).tolist(),
        "path": path_array.tolist(), "costs": costs.tolist(),
        "optimum": optimum.tolist(), "optimal_cost": optimal_cost,
        "learning_rate": learning_rate,
        "steps_to_converge": int(within[0]) if len(within) else None,
        "diverged": len(path) < steps + 1,
        "condition_number": float(eigenvalues[-1] / eigenvalues[0]),
        "largest_stable_learning_rate": float(2.0 / eigenvalues[-1]),
    }


def normalization_lab(settings: NormalizationLabSettings) -> dict[str, Any]:
    """Both panels of the normalization lab.

    Normalizing subtracts the training mean and divides by the standard
    deviation, as the playground does.  Once the inputs are centered the
    intercept is simply the mean price, so the target is centered too and the
    two weights are the whole model in both panels.
    """
    features, price = regression_data()
    mean, std = features.mean(axis=0), features.std(axis=0)
    normalized = (features - mean) / std
    return {
        "features": ["distance (km)", "area (10 m²)"],
        "mean": mean.tolist(), "std": std.tolist(),
        "raw": _normalization_panel(features, price, settings.learning_rate_raw, settings.steps),
        "normalized": _normalization_panel(
            normalized, price - price.mean(), settings.learning_rate_normalized, settings.steps),
    }


# --- averages lab ----------------------------------------------------------


def temperature_series(days: int, seed: int) -> Array:
    """Daily temperatures (days,) in degrees Celsius: a seasonal swing plus weather noise."""
    rng = np.random.default_rng(seed)
    day = np.arange(days)
    season = 12.0 - 9.0 * np.cos(2 * np.pi * (day + 90) / 365.0)
    return season + rng.normal(0.0, 3.0, days)


def exponentially_weighted_average(values: Array, beta: float, bias_correction: bool) -> Array:
    """v_t = beta * v_{t-1} + (1 - beta) * theta_t with v_0 = 0, for ``values`` (n,) -> (n,).

    With bias correction each v_t is divided by (1 - beta^t), which removes the
    pull towards the zero start during the first ~1/(1 - beta) steps.
    """
    averages = np.empty(len(values))
    running = 0.0
    for t, value in enumerate(values, start=1):
        running = beta * running + (1 - beta) * value
        averages[t - 1] = running / (1 - beta ** t) if bias_correction else running
    return averages


def averages_lab(settings: AveragesLabSettings) -> dict[str, Any]:
    """The series and, per beta, both averages, the window 1/(1 - beta) and the warm-up bias.

    ``warmup_bias`` is the mean of (uncorrected - corrected) over the first
    window: how far the zero start drags the plain average down.
    """
    series = temperature_series(settings.days, settings.seed)
    averages = []
    for beta in settings.betas:
        plain = exponentially_weighted_average(series, beta, bias_correction=False)
        corrected = exponentially_weighted_average(series, beta, bias_correction=True)
        window = 1.0 / (1.0 - beta)
        first = max(1, min(settings.days, math.ceil(window)))
        averages.append({
            "beta": beta, "window": window,
            "uncorrected": np.round(plain, 4).tolist(),
            "corrected": np.round(corrected, 4).tolist(),
            "warmup_bias": float(np.mean(plain[:first] - corrected[:first])),
            # The weight of the value k days back is (1 - beta) * beta^k; after one window it
            # has fallen to about 1/e of the newest one's.
            "weight_after_window": float(beta ** window) if beta > 0 else 0.0,
        })
    return {"days": list(range(1, settings.days + 1)), "temperature": np.round(series, 3).tolist(),
            "averages": averages}
