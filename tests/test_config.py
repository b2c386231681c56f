import pytest

from server.engine.config import ConfigError, RunConfig, parse_config, parse_update


def test_empty_config_is_the_default():
    assert parse_config({}) == RunConfig()


@pytest.mark.parametrize(
    ("config", "loc"),
    [
        ({"optimizer": {"beta1": 1.5}}, "optimizer.beta1"),
        ({"model": {"hidden": [{}, {}, {"keep_prob": 0}]}}, "model.hidden.2.keep_prob"),
        ({"colour": "red"}, "colour"),
        ({"data": {"split": {"train": 0.5, "dev": 0.2, "test": 0.2}}}, "data.split"),
        ({"data": {"dataset": "digits", "n_samples": 3000}}, "data.n_samples"),
        ({"data": {"n_samples": 20, "split": {"train": 0.96, "dev": 0.02, "test": 0.02}}}, "data.split.dev"),
        ({"optimizer": {"learning_rate": "fast"}}, "optimizer.learning_rate"),
        ({"optimizer": {"name": "sgd"}}, "optimizer.name"),
        ({"model": {"hidden": [{}] * 17}}, "model.hidden"),
        ({"training": {"epochs": 0}}, "training.epochs"),
    ],
)
def test_bad_configs_name_the_field(config, loc):
    with pytest.raises(ConfigError) as raised:
        parse_config(config)
    assert [d["loc"] for d in raised.value.details] == [loc]


def test_non_object_config_is_rejected():
    with pytest.raises(ConfigError):
        parse_config([1, 2])


def test_update_keeps_only_what_is_set():
    changes = parse_update({"optimizer": {"learning_rate": 0.1},
                            "model": {"hidden": [None, {"keep_prob": 0.5}]}})
    assert changes == {"optimizer": {"learning_rate": 0.1}, "model": {"hidden": [None, {"keep_prob": 0.5}]}}


@pytest.mark.parametrize(
    ("update", "loc"),
    [({"optimizer": {"name": "gd"}}, "config.optimizer.name"),
     ({}, "config"),
     ({"training": {"batch_size": 0}}, "config.training.batch_size"),
     ({"model": {"hidden": [{}, {"keep_prob": 0.5}]}}, "config.model.hidden")],
)
def test_bad_updates_name_the_field(update, loc):
    with pytest.raises(ConfigError) as raised:
        parse_update(update, RunConfig())
    assert raised.value.details[0]["loc"] == loc
