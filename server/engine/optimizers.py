"""Update rules: gradient descent, momentum, RMSprop and Adam, as the course writes them.

Every optimizer updates a list of parameter arrays in place::

    optimizer.step(params, grads, learning_rate)

with ``params[i]`` and ``grads[i]`` of the same (any) shape.  The formulas, with
``g`` the gradient and ``lr`` the learning rate:

- ``gd``:        W -= lr * g
- ``momentum``:  v = beta * v + (1 - beta) * g;            W -= lr * v
- ``rmsprop``:   s = beta * s + (1 - beta) * g**2;         W -= lr * g / (sqrt(s) + epsilon)
- ``adam``:      m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g**2;
                 m_hat = m / (1 - beta1**t);  v_hat = v / (1 - beta2**t);
                 W -= lr * m_hat / (sqrt(v_hat) + epsilon)

where ``t`` counts the calls to ``step`` since the state was created or reset.

Speed matters more than elegance here: the trainer calls ``step`` once per
mini-batch, and on a small network the cost of a NumPy call (about a
microsecond) dwarfs the arithmetic.  So the state of all parameters lives in
one flat buffer, the gradients are gathered into it with a single
``np.concatenate`` (or used as they are when there is one parameter array, as
with a network that keeps its parameters in one flat vector), the rule runs
as a handful of in-place ufuncs on that buffer, and each parameter is then
updated through a preallocated view.  A step allocates nothing after the
first, and hyperparameters are validated when they are set, never in ``step``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "Optimizer",
    "GradientDescent",
    "Momentum",
    "RMSprop",
    "Adam",
    "make_optimizer",
    "OPTIMIZER_CLASSES",
]


def _averaging_factor(name: str, value: Any) -> float:
    """A beta of an exponentially weighted average: a real number in [0, 1)."""
    number = _real(name, value)
    if not 0.0 <= number < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


def _positive(name: str, value: Any) -> float:
    number = _real(name, value)
    if not number > 0.0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return number


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


class Optimizer:
    """Base class: the flat state buffers and the gather/scatter around ``_apply``.

    Subclasses name their hyperparameters in ``_validators`` (name -> checker)
    and their state buffers in ``_state_names``, and implement
    ``_apply(grad, learning_rate)``, which reads the (flat) gradient without
    writing to it and leaves the amount to subtract from the parameters in
    ``self._delta``.  A single parameter array (say a network's one flat
    parameter vector) needs no gathering: its gradient is used as it is.
    """

    name = ""
    _validators: dict[str, Any] = {}
    _state_names: tuple[str, ...] = ()

    def __init__(self, **hyperparameters: Any):
        self._hyperparameters: dict[str, float] = {}
        self.set_hyperparameters(**{**self._defaults(), **hyperparameters})
        self.reset_state()

    @classmethod
    def _defaults(cls) -> dict[str, float]:
        return {}

    @property
    def hyperparameter_names(self) -> tuple[str, ...]:
        """The names ``set_hyperparameters`` accepts for this rule."""
        return tuple(self._validators)

    def hyperparameters(self) -> dict[str, float]:
        """The current hyperparameters (a copy), e.g. ``{"beta": 0.9}``."""
        return dict(self._hyperparameters)

    def set_hyperparameters(self, **changes: Any) -> None:
        """Change hyperparameters between steps; the accumulated state is kept.

        Raises ``ValueError`` naming the first unknown or invalid one; on error
        nothing is changed.
        """
        validated = {}
        for key, value in changes.items():
            if key not in self._validators:
                known = ", ".join(self._validators) or "none"
                raise ValueError(f"{self.name} has no hyperparameter {key!r} (it has: {known})")
            validated[key] = self._validators[key](key, value)
        self._hyperparameters.update(validated)
        for key, value in validated.items():
            setattr(self, key, value)

    def reset_state(self) -> None:
        """Forget the accumulated averages and the step count."""
        self.steps = 0
        self._layout: tuple[tuple[int, ...], ...] | None = None
        self._count = 0
        self._grad = np.empty(0)
        self._delta = np.empty(0)
        self._buffers: dict[str, np.ndarray] = {}
        self._delta_views: list[np.ndarray] = []

    def state(self) -> dict[str, list[np.ndarray]]:
        """Copies of the per-parameter state, by name (``{"v": [...]}``), in parameter order."""
        if self._layout is None:
            return {name: [] for name in self._state_names}
        return {name: self._split(buffer) for name, buffer in self._buffers.items()}

    def last_update(self) -> list[np.ndarray]:
        """Read-only views of what the last ``step`` subtracted from each parameter.

        Lets the trainer report update/weight ratios without copying weights.
        The views are overwritten by the next step.
        """
        views = []
        for view in self._delta_views:
            readonly = view.view()
            readonly.flags.writeable = False
            views.append(readonly)
        return views

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], learning_rate: float) -> None:
        """Update every array of ``params`` in place from ``grads`` (same shapes).

        ``grads`` is not modified.  The state is created at the first call and
        keyed by position, so pass the parameters in the same order every time.
        """
        if self._layout is None:
            self._allocate(params)
        if len(params) != self._count or len(grads) != self._count:
            raise ValueError(f"expected {self._count} parameter and gradient arrays, "
                             f"got {len(params)} and {len(grads)}")
        if self._count == 1:
            grad = grads[0]
        else:
            grad = self._grad
            np.concatenate(grads, axis=None, out=grad)
        self.steps += 1
        self._apply(grad, learning_rate)
        for param, delta in zip(params, self._delta_views, strict=True):
            param -= delta

    def _allocate(self, params: list[np.ndarray]) -> None:
        if not params:
            raise ValueError("there are no parameters to optimize")
        self._layout = tuple(np.shape(param) for param in params)
        self._count = len(params)
        dtype = np.result_type(*params, np.float64)
        size = sum(int(np.prod(shape)) for shape in self._layout)
        # One array keeps its own shape, so its gradient can be used without a copy.
        buffer_shape = self._layout[0] if self._count == 1 else (size,)
        self._grad = np.empty(0 if self._count == 1 else size, dtype=dtype)
        self._delta = np.empty(buffer_shape, dtype=dtype)
        self._buffers = {name: np.zeros(buffer_shape, dtype=dtype) for name in self._state_names}
        self._delta_views = self._views(self._delta)

    def _views(self, flat: np.ndarray) -> list[np.ndarray]:
        views, offset = [], 0
        for shape in self._layout or ():
            size = int(np.prod(shape))
            views.append(flat.reshape(-1)[offset:offset + size].reshape(shape))
            offset += size
        return views

    def _split(self, flat: np.ndarray) -> list[np.ndarray]:
        return [view.copy() for view in self._views(flat)]

    def _apply(self, grad: np.ndarray, learning_rate: float) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value!r}" for key, value in self._hyperparameters.items())
        return f"{type(self).__name__}({settings})"


class GradientDescent(Optimizer):
    """Plain (mini-batch) gradient descent: W -= lr * g."""

    name = "gd"

    def _apply(self, grad: np.ndarray, learning_rate: float) -> None:
        np.multiply(grad, learning_rate, out=self._delta)


class Momentum(Optimizer):
    """Gradient descent with momentum, the averaged form: v = beta*v + (1-beta)*g; W -= lr*v."""

    name = "momentum"
    _validators = {"beta": _averaging_factor}
    _state_names = ("v",)
    beta: float

    @classmethod
    def _defaults(cls) -> dict[str, float]:
        return {"beta": 0.9}

    def _apply(self, grad: np.ndarray, learning_rate: float) -> None:
        velocity, delta = self._buffers["v"], self._delta
        np.multiply(grad, 1.0 - self.beta, out=delta)
        velocity *= self.beta
        velocity += delta
        np.multiply(velocity, learning_rate, out=delta)


class RMSprop(Optimizer):
    """RMSprop: s = beta*s + (1-beta)*g**2; W -= lr * g / (sqrt(s) + epsilon)."""

    name = "rmsprop"
    _validators = {"beta": _averaging_factor, "epsilon": _positive}
    _state_names = ("s",)
    beta: float
    epsilon: float

    @classmethod
    def _defaults(cls) -> dict[str, float]:
        return {"beta": 0.9, "epsilon": 1e-8}

    def _apply(self, grad: np.ndarray, learning_rate: float) -> None:
        square_mean, delta = self._buffers["s"], self._delta
        np.square(grad, out=delta)
        delta *= 1.0 - self.beta
        square_mean *= self.beta
        square_mean += delta
        np.sqrt(square_mean, out=delta)
        delta += self.epsilon
        np.divide(grad, delta, out=delta)
        delta *= learning_rate


class Adam(Optimizer):
    """Adam with bias correction (see the module docstring for the formulas)."""

    name = "adam"
    _validators = {"beta1": _averaging_factor, "beta2": _averaging_factor, "epsilon": _positive}
    _state_names = ("m", "v")
    beta1: float
    beta2: float
    epsilon: float

    @classmethod
    def _defaults(cls) -> dict[str, float]:
        return {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}

    def _apply(self, grad: np.ndarray, learning_rate: float) -> None:
        first, second, delta = self._buffers["m"], self._buffers["v"], self._delta
        beta1, beta2, t = self.beta1, self.beta2, self.steps
        np.multiply(grad, 1.0 - beta1, out=delta)
        first *= beta1
        first += delta
        np.square(grad, out=delta)
        delta *= 1.0 - beta2
        second *= beta2
        second += delta
        # m_hat / (sqrt(v_hat) + eps) == (sqrt(c2) / c1) * m / (sqrt(v) + eps * sqrt(c2)), with
        # c = 1 - beta**t: the bias corrections become scalars instead of passes over the arrays.
        root_c2 = math.sqrt(1.0 - beta2 ** t)
        np.sqrt(second, out=delta)
        delta += self.epsilon * root_c2
        np.divide(first, delta, out=delta)
        delta *= learning_rate * root_c2 / (1.0 - beta1 ** t)


OPTIMIZER_CLASSES: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (GradientDescent, Momentum, RMSprop, Adam)
}


def make_optimizer(optimizer_config: Any) -> Optimizer:
    """The optimizer named by ``RunConfig.optimizer`` with that config's hyperparameters.

    Accepts the pydantic ``Optimizer`` model or a dict of the same fields; fields
    that the rule does not use (``beta1`` for momentum, say) are ignored.
    """
    fields = optimizer_config if isinstance(optimizer_config, dict) else optimizer_config.model_dump()
    name = fields.get("name", "adam")
    try:
        cls = OPTIMIZER_CLASSES[name]
    except KeyError:
        known = ", ".join(OPTIMIZER_CLASSES)
        raise ValueError(f"unknown optimizer {name!r} (known: {known})") from None
    return cls(**{key: fields[key] for key in cls._validators if key in fields})
