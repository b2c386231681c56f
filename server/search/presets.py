"""Ready-made searches, served at ``GET /api/searches/presets``.

The pair ``one-that-matters-grid`` / ``one-that-matters-random`` is the
course's argument for random search: nine trials over the learning rate
(which matters a great deal) and Adam's epsilon (which hardly matters).  The
3 x 3 grid spends its nine trials on only three learning rates; random search
tries nine different ones for the same cost.
"""

from __future__ import annotations

import copy

#: A small, quick problem: each trial trains in well under a second on 240
#: examples, and is judged on 1,000 dev examples.  On 80, most learning rates
#: that work at all tie at the same accuracy (one example apart at most); on
#: 1,000, one standard error of an accuracy near 96% is 0.6 points, and the
#: dev loss (the tie-break) separates what accuracy still cannot.
QUICK_BASE = {
    "seed": 0,
    "data": {"dataset": "moons", "n_samples": 1600, "noise": 0.2,
             "split": {"train": 0.15, "dev": 0.625, "test": 0.225}},
    "model": {"hidden": [{"units": 16, "activation": "relu"}]},
    "optimizer": {"name": "adam"},
    "training": {"epochs": 40, "batch_size": 32},
}

_ONE_THAT_MATTERS_SPACE = {
    "optimizer.learning_rate": {"distribution": "log_uniform", "low": 1e-4, "high": 1.0},
    "optimizer.epsilon": {"distribution": "log_uniform", "low": 1e-8, "high": 1e-4},
}


def _one_that_matters(strategy: str, title: str, how: str) -> dict:
    return {
        "id": f"one-that-matters-{strategy}",
        "title": title,
        "description": ("Nine trials over two hyperparameters, of which only the learning rate matters. "
                        f"{how} Compare the distinct learning rates each strategy tried."),
        "definition": {"base": QUICK_BASE, "space": _ONE_THAT_MATTERS_SPACE, "strategy": strategy,
                       "trials": 9, "objective": "dev_accuracy", "seed": 0},
    }


PRESETS = [
    _one_that_matters("grid", "Grid: 9 trials, 3 learning rates",
                      "A 3 x 3 grid repeats each of its three learning rates three times, "
                      "varying only epsilon, which barely changes the result."),
    _one_that_matters("random", "Random: 9 trials, 9 learning rates",
                      "Random search draws a fresh learning rate for every trial, so it explores "
                      "nine values of the one that matters."),
]


def presets() -> list[dict]:
    """A copy of every preset (callers may change what they get)."""
    return copy.deepcopy(PRESETS)
