"""Learning-rate decay: the learning rate of each epoch from the initial rate a0.

With ``t`` the 0-based epoch index (the epoch about to be trained):

- ``constant``:      a0
- ``inverse_time``:  a0 / (1 + decay_rate * floor(t / time_interval))
- ``exponential``:   a0 * base**t
- ``inverse_sqrt``:  a0 * k / sqrt(t + 1)
- ``step``:          a0 * factor**floor(t / every)

When the learning rate is changed while a run trains, the trainer passes the
new value as ``initial_rate`` from then on, and the epoch keeps counting from
the start of the run: the decay continues where it was, scaled to the new rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from server.engine.config import SCHEDULES as SCHEDULE_NAMES

__all__ = ["learning_rate_at", "learning_rates", "SCHEDULE_NAMES"]


def _fields(schedule_config: Any) -> dict[str, Any]:
    """The schedule's settings from the pydantic ``Schedule`` model or a plain dict."""
    if isinstance(schedule_config, dict):
        return schedule_config
    return schedule_config.model_dump()


def learning_rate_at(schedule_config: Any, initial_rate: float, epoch: int) -> float:
    """The learning rate for 0-based ``epoch`` under ``RunConfig.schedule`` (model or dict)."""
    return float(learning_rates(schedule_config, initial_rate, np.array([epoch]))[0])


def learning_rates(schedule_config: Any, initial_rate: float, epochs: Any) -> np.ndarray:
    """The learning rates for an array of 0-based epochs (shape kept), e.g. to plot a schedule.

    ``epochs`` may be an int n (meaning epochs 0..n-1) or an array of epoch indices.
    Raises ``ValueError`` for an unknown schedule name or a negative epoch.
    """
    fields = _fields(schedule_config)
    t = np.arange(epochs) if np.ndim(epochs) == 0 else np.asarray(epochs)
    if t.size and t.min() < 0:
        raise ValueError(f"epochs are counted from 0, got {int(t.min())}")
    t = t.astype(np.float64)
    name = fields.get("name", "constant")
    a0 = float(initial_rate)
    if name == "constant":
        return np.full(t.shape, a0)
    if name == "inverse_time":
        return a0 / (1.0 + fields["decay_rate"] * np.floor(t / fields["time_interval"]))
    if name == "exponential":
        return a0 * np.power(float(fields["base"]), t)
    if name == "inverse_sqrt":
        return a0 * fields["k"] / np.sqrt(t + 1.0)
    if name == "step":
        return a0 * np.power(float(fields["factor"]), np.floor(t / fields["every"]))
    known = ", ".join(SCHEDULE_NAMES)
    raise ValueError(f"unknown schedule {name!r} (known: {known})")

