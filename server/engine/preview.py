"""What a config will make, before it trains: the data's shape and split sizes, the network's size.

``preview(config)`` answers ``POST /api/preview``, so the page shows input and
class counts, split sizes and parameter counts that the engine worked out,
never constants of its own.
"""

from __future__ import annotations

import numpy as np

from server.engine.config import RunConfig, parse_config
from server.engine.data import Dataset, data_shape, prepare_data
from server.engine.model import parameter_count
from server.engine.neurons import input_maps

__all__ = ["bayes_error", "count_parameters", "preview"]


def count_parameters(config: RunConfig) -> int:
    """Weights, biases and batch-norm gamma/beta of the config's network (what a gradient check perturbs)."""
    n_features, n_classes = data_shape(config.data.dataset, config.data.features)
    return parameter_count(n_features, config.model.hidden, n_classes)


def bayes_error(config: RunConfig, dataset: Dataset) -> float:
    """The config's Bayes error estimate, else the training data's own floor.

    Position noise makes the 2-D classes overlap, so the floor is usually
    above label_noise alone: judging bias against label_noise would call a
    network that is already as good as possible "high bias".
    """
    if config.data.bayes_error is not None:
        return float(config.data.bayes_error)
    return dataset.bayes_error("train")


def preview(config: dict | RunConfig) -> dict:
    """``{"data": {"n_features", "n_classes", "sizes", "bayes_error", "is_2d"}, "parameters",
    "points", "input_maps"}`` for a config (``points`` and ``input_maps`` as the ``config`` event
    sends them, None for digits).

    Makes the very data a run of this config would train on (the same seed), so
    the points and sizes are exact.  Raises ``ConfigError`` for a bad config.
    """
    run_config = parse_config(config)
    dataset = prepare_data(run_config, np.random.default_rng(run_config.seed))
    summary = dataset.summary()
    return {
        "data": {
            "n_features": summary["n_features"], "n_classes": summary["n_classes"],
            "sizes": {"train": summary["n_train"], "dev": summary["n_dev"], "test": summary["n_test"],
                      "train_dev": summary["n_train_dev"]},
            "bayes_error": bayes_error(run_config, dataset),
            "is_2d": dataset.is_2d,
        },
        "parameters": count_parameters(run_config),
        "points": dataset.points(),
        "input_maps": input_maps(dataset),
    }
