import pytest

from server.engine.config import ConfigError, parse_config
from server.search.definition import apply_params, parse_search

LIMITS = {"max_trials": 50, "max_workers": 2}
RATE = {"distribution": "log_uniform", "low": 1e-4, "high": 1.0}


def parse(definition: dict):
    return parse_search(definition, **LIMITS)


def details(definition) -> list[dict]:
    with pytest.raises(ConfigError) as raised:
        parse(definition)
    return raised.value.details


def test_a_minimal_definition_gets_every_default():
    definition = parse({"space": {"optimizer.learning_rate": RATE}})
    assert definition.to_json() == {
        "base": parse_config({}).model_dump(mode="json"),
        "space": {"optimizer.learning_rate": RATE},
        "strategy": "random", "trials": 12, "objective": "dev_accuracy", "seed": 0, "workers": None,
    }
    assert len(definition.plan) == 12


def test_every_planned_trial_is_a_valid_run_config():
    definition = parse({
        "base": {"model": {"hidden": [{"units": 4}, {"units": 4}]}},
        "space": {"optimizer.learning_rate": RATE,
                  "optimizer.beta2": {"distribution": "one_minus_log_uniform", "low": 0.99, "high": 0.9999},
                  "model.hidden.1.units": {"distribution": "int_log_uniform", "low": 2, "high": 128},
                  "model.hidden.0.activation": {"distribution": "choice", "values": ["relu", "tanh"]},
                  "data.normalize.scale": {"distribution": "choice", "values": [True, False]}},
        "trials": 20, "seed": 3})
    for params in definition.plan:
        config = parse_config(definition.trial_config(params))
        assert config.model.hidden[1].units == params["model.hidden.1.units"]
        assert config.model.hidden[0].units == 4
        assert 0.99 <= config.optimizer.beta2 <= 0.9999


def test_the_plan_depends_on_the_seed_only():
    first = parse({"space": {"optimizer.learning_rate": RATE}, "seed": 5}).plan
    assert parse({"space": {"optimizer.learning_rate": RATE}, "seed": 5}).plan == first
    assert parse({"space": {"optimizer.learning_rate": RATE}, "seed": 6}).plan != first


@pytest.mark.parametrize(("definition", "expected"), [
    ({"space": {"optimizer.lr": RATE}},
     [{"loc": "space.optimizer.lr",
       "msg": "'lr' is not a field of optimizer (known: name, learning_rate, beta, beta1, beta2, epsilon)"}]),
    ({"space": {"colour": RATE}},
     [{"loc": "space.colour", "msg": "'colour' is not a field of the config (known: seed, data, model, "
                                     "regularization, optimizer, schedule, training)"}]),
    ({"space": {"optimizer": RATE}},
     [{"loc": "space.optimizer", "msg": "'optimizer' is a section, not a single hyperparameter"}]),
    ({"space": {"model.hidden.units": {"distribution": "int_uniform", "low": 1, "high": 9}}},
     [{"loc": "space.model.hidden.units",
       "msg": "'model.hidden' is a list: name a position, e.g. model.hidden.0.units"}]),
    ({"space": {"model.hidden.1.units": {"distribution": "int_uniform", "low": 1, "high": 9}}},
     [{"loc": "space.model.hidden.1.units",
       "msg": "position 1 is past the end of model.hidden (the base config has 1)"}]),
    ({"space": {"optimizer.learning_rate.low": RATE}},
     [{"loc": "space.optimizer.learning_rate.low", "msg": "'optimizer.learning_rate' has no field 'low'"}]),
    ({"space": {"optimizer.learning_rate": {"distribution": "normal", "low": 0, "high": 1}}},
     [{"loc": "space.optimizer.learning_rate.distribution",
       "msg": "must be one of uniform, log_uniform, one_minus_log_uniform, int_uniform, int_log_uniform, "
              "choice; got 'normal'"}]),
    ({"space": {"training.epochs": RATE}},
     [{"loc": "space.training.epochs.distribution",
       "msg": "'log_uniform' does not suit this field; use one of int_uniform, int_log_uniform, choice"}]),
    ({"space": {"optimizer.name": {"distribution": "uniform", "low": 0, "high": 1}}},
     [{"loc": "space.optimizer.name.distribution",
       "msg": "'uniform' does not suit this field; use one of choice"}]),
    ({"space": {"optimizer.learning_rate": {"distribution": "log_uniform", "low": 0, "high": 1}}},
     [{"loc": "space.optimizer.learning_rate.low", "msg": "Input should be greater than 0"}]),
    ({"space": {"optimizer.learning_rate": {"distribution": "log_uniform", "low": 1, "high": 0.1}}},
     [{"loc": "space.optimizer.learning_rate",
       "msg": "low (1) must be below high (0.1); use a 'choice' for a single value"}]),
    ({"space": {"optimizer.learning_rate": {"distribution": "log_uniform", "low": 1e-3, "high": 100}}},
     [{"loc": "space.optimizer.learning_rate.high", "msg": "Input should be less than or equal to 10"}]),
    ({"space": {"optimizer.beta": {"distribution": "uniform", "low": 0.5, "high": 1, "step": 0.1}}},
     [{"loc": "space.optimizer.beta.step", "msg": "Extra inputs are not permitted"}]),
    ({"space": {"optimizer.name": {"distribution": "choice", "values": ["adam", "sgd"]}}},
     [{"loc": "space.optimizer.name.values.1",
       "msg": "Input should be 'gd', 'momentum', 'rmsprop' or 'adam'"}]),
    ({"space": {"optimizer.learning_rate": {"distribution": "choice", "values": [0.1, float("nan")]}}},
     [{"loc": "space.optimizer.learning_rate.values",
       "msg": "value 1 (nan) must be a string, a finite number, true, false or null"}]),
    ({"space": {"model.hidden.0.activation": {"distribution": "choice", "values": ["relu", "relu"]}}},
     [{"loc": "space.model.hidden.0.activation.values", "msg": "values must be distinct"}]),
    ({"space": {"data.split.train": {"distribution": "uniform", "low": 0.6, "high": 0.7}}},
     [{"loc": "space.data.split.train.high", "msg": "train + dev + test must sum to 1, got 1.1"}]),
    ({"space": {}},
     [{"loc": "space", "msg": "Dictionary should have at least 1 item after validation, not 0"}]),
    ({"space": {"optimizer.learning_rate": RATE}, "trials": 51, "workers": 3},
     [{"loc": "trials", "msg": "at most 50 trials per search"},
      {"loc": "workers", "msg": "at most 2 workers on this server"}]),
    ({"space": {"optimizer.learning_rate": RATE}, "base": {"optimizer": {"beta1": 1.5}}},
     [{"loc": "base.optimizer.beta1", "msg": "Input should be less than 1"}]),
    ({"space": {"optimizer.learning_rate": RATE}, "strategy": "bayesian", "budget": 3},
     [{"loc": "strategy", "msg": "Input should be 'random' or 'grid'"},
      {"loc": "budget", "msg": "Extra inputs are not permitted"}]),
    ([RATE], [{"loc": "", "msg": "the search must be a JSON object"}]),
])
def test_bad_definitions_name_the_field(definition, expected):
    assert details(definition) == expected


def test_apply_params_writes_through_lists_without_touching_the_original():
    config = {"model": {"hidden": [{"units": 8}, {"units": 8}]}, "optimizer": {"learning_rate": 0.1}}
    changed = apply_params(config, {"model.hidden.1.units": 32, "optimizer.learning_rate": 0.5})
    assert changed == {"model": {"hidden": [{"units": 8}, {"units": 32}]},
                       "optimizer": {"learning_rate": 0.5}}
    assert config["model"]["hidden"][1]["units"] == 8


@pytest.mark.parametrize("objective, records, order", [
    # Accuracy ties (as on a small dev set): the lower dev loss ranks first.
    ("dev_accuracy", [{"dev_accuracy": 0.95, "dev_loss": 0.20}, {"dev_accuracy": 0.95, "dev_loss": 0.12},
                      {"dev_accuracy": 0.96, "dev_loss": 0.30}], [2, 1, 0]),
    # Loss ties: the higher accuracy first; a missing tie-break ranks last among its ties.
    ("dev_loss", [{"dev_loss": 0.2, "dev_accuracy": None}, {"dev_loss": 0.2, "dev_accuracy": 0.9},
                  {"dev_loss": 0.1, "dev_accuracy": 0.5}], [2, 1, 0]),
])
def test_trials_rank_by_the_objective_then_its_tie_break(objective, records, order):
    definition = parse({"space": {"optimizer.learning_rate": RATE}, "objective": objective})
    keys = [definition.rank_key({"status": "completed", **record}) for record in records]
    assert sorted(range(len(records)), key=keys.__getitem__) == order
    assert definition.better(keys[order[0]], keys[order[1]])
    assert not definition.better(keys[order[1]], keys[order[0]])
    assert not definition.better(keys[0], keys[0])  # only a strict improvement is better


@pytest.mark.parametrize("record", [
    {"status": "diverged", "dev_accuracy": 0.9, "dev_loss": 0.1},
    {"status": "completed", "dev_accuracy": float("nan"), "dev_loss": 0.1},
    {"status": "completed", "dev_accuracy": None, "dev_loss": 0.1},
    {"status": "completed", "dev_accuracy": True, "dev_loss": 0.1},
])
def test_only_completed_trials_with_a_finite_objective_compete(record):
    definition = parse({"space": {"optimizer.learning_rate": RATE}})
    assert definition.rank_key(record) is None
