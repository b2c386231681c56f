"""The preview of a config: the counts the page shows come from the engine's own objects."""

import numpy as np
import pytest

from server.engine import Trainer
from server.engine.config import parse_config
from server.engine.preview import count_parameters, preview

NETWORKS = [
    {},
    {"model": {"hidden": []}},
    {"data": {"dataset": "digits", "n_samples": 200}, "model": {"hidden": []}},
    {"data": {"dataset": "digits", "n_samples": 200},
     "model": {"hidden": [{"units": 16, "batch_norm": True}, {"units": 4}]}},
    {"data": {"dataset": "spiral"},
     "model": {"hidden": [{"units": 5}, {"units": 7, "batch_norm": True}] * 2}},
]


@pytest.mark.parametrize("config", NETWORKS)
def test_the_parameter_count_is_the_size_of_the_networks_parameter_vector(config):
    trainer = Trainer(config)
    assert count_parameters(parse_config(config)) == trainer.network.parameters.size
    assert preview(config)["parameters"] == trainer.network.parameters.size


@pytest.mark.parametrize("config", NETWORKS)
def test_the_preview_describes_the_data_the_run_trains_on(config):
    trainer = Trainer(config)
    data = preview(config)["data"]
    dataset = trainer.dataset
    assert (data["n_features"], data["n_classes"], data["is_2d"]) == (
        dataset.n_features, dataset.n_classes, dataset.is_2d)
    assert data["sizes"] == {name: len(y) for name, (_, y) in dataset.splits().items()} | {"train_dev": 0}
    assert data["bayes_error"] == trainer._bayes_error
    assert np.isfinite(data["bayes_error"])
