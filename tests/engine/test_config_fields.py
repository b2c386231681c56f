"""Config fields of the second wave: the train-dev split, live fields, strict numbers, schema rules."""

import json

import pytest

from server.engine.config import (
    DIGITS_SAMPLES,
    LIVE_FIELDS,
    ConfigError,
    LiveUpdate,
    RunConfig,
    _schema_object,
    config_schema,
    live_changes,
    merge_update,
    parse_config,
    parse_update,
    split_sizes,
)


def locs(raw):
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    return [(detail["loc"], detail["msg"]) for detail in raised.value.details]


# --- the train-dev split -------------------------------------------------------------------------

def test_train_dev_defaults_to_none_and_the_three_splits_still_sum_to_one():
    assert RunConfig().data.split.train_dev == 0.0
    assert split_sizes(600, RunConfig().data.split) == (360, 120, 120, 0)
    assert locs({"data": {"split": {"train": 0.5, "dev": 0.2, "test": 0.2}}}) == [
        ("data.split", "train + dev + test must sum to 1, got 0.9")]


def test_the_four_fractions_sum_to_one():
    four = {"train": 0.5, "dev": 0.2, "test": 0.1, "train_dev": 0.2}
    split = parse_config({"data": {"split": four}}).data.split
    assert split_sizes(600, split) == (300, 120, 60, 120)
    assert locs({"data": {"split": {"train": 0.6, "dev": 0.2, "test": 0.2, "train_dev": 0.1}}}) == [
        ("data.split", "train + dev + test + train_dev must sum to 1, got 1.1")]


def test_a_train_dev_set_too_small_to_hold_an_example_names_its_field():
    split = {"train": 0.86, "dev": 0.05, "test": 0.05, "train_dev": 0.04}
    assert locs({"data": {"n_samples": 20, "split": split}}) == [
        ("data.split.train_dev", "the train_dev set would be empty with 20 samples")]
    assert split_sizes(25, parse_config({"data": {"n_samples": 25, "split": split}}).data.split) == (
        22, 1, 1, 1)


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_train_dev_must_be_a_fraction(bad):
    split = {"train": 0.6, "dev": 0.2, "test": 0.2, "train_dev": bad}
    assert locs({"data": {"split": split}})[0][0] == "data.split.train_dev"


# --- live fields ---------------------------------------------------------------------------------

def live_marks(schema):
    """Every property of the schema that carries "x-live", as {dotted path: symbol}."""
    marks = {}

    def walk(node, path):
        node = _schema_object(schema, node)
        for name, prop in node["properties"].items():
            if prop.get("x-live"):
                marks[".".join(path + [name])] = prop["x-symbol"]
            inner = dict(prop)
            inner.pop("x-live", None)
            try:
                _schema_object(schema, inner)
            except (KeyError, StopIteration):
                continue
            walk(inner, path + [name])

    walk(schema, [])
    return marks


def test_the_schema_marks_exactly_the_live_fields_with_their_symbols():
    marks = live_marks(config_schema())
    assert marks == {live.path: live.symbol for live in LIVE_FIELDS}
    assert marks["optimizer.learning_rate"] == "α" and marks["optimizer.beta1"] == "β₁"
    assert marks["model.hidden.keep_prob"] == "keep_prob" and marks["training.batch_size"] == "batch"


def update_leaves(schema):
    """{dotted path: the leaf's number schema} of the LiveUpdate model's JSON Schema."""
    leaves = {}

    def walk(node, path):
        node = _schema_object(schema, node)
        for name, prop in node["properties"].items():
            options = [option for option in prop.get("anyOf", [prop]) if option.get("type") != "null"]
            if options[0].get("type") in ("number", "integer"):
                leaves[".".join(path + [name])] = options[0]
            else:
                walk(options[0], path + [name])

    walk(schema, [])
    return leaves


def config_leaf(schema, path):
    node = schema
    for part in path.split("."):
        node = _schema_object(schema, node)["properties"][part]
    options = [option for option in node.get("anyOf", [node]) if option.get("type") != "null"]
    return options[0]


def test_live_update_takes_exactly_the_live_fields_with_the_configs_bounds():
    update_schema = LiveUpdate.model_json_schema()
    leaves = update_leaves(update_schema)
    assert set(leaves) == {live.path for live in LIVE_FIELDS}
    schema = RunConfig.model_json_schema()
    bounds = ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    for path, leaf in leaves.items():
        expected = config_leaf(schema, path)
        assert {key: leaf.get(key) for key in bounds} == {key: expected.get(key) for key in bounds}, path


@pytest.mark.parametrize("live", LIVE_FIELDS, ids=lambda live: live.path)
def test_each_live_field_refuses_what_the_config_refuses_and_names_itself(live):
    leaf = config_leaf(RunConfig.model_json_schema(), live.path)
    too_big = leaf.get("maximum", leaf.get("exclusiveMaximum", 0)) + 1
    if live.per_layer:
        update, loc = {"model": {"hidden": [{live.name: too_big}]}}, f"config.model.hidden.0.{live.name}"
    else:
        update, loc = {live.section: {live.name: too_big}}, f"config.{live.path}"
    with pytest.raises(ConfigError) as raised:
        parse_update(update, RunConfig())
    assert [detail["loc"] for detail in raised.value.details] == [loc]


def test_live_changes_lists_what_an_update_sets_in_table_order():
    changes = parse_update({"training": {"batch_size": 8}, "optimizer": {"beta": 0.5, "learning_rate": 0.1},
                            "model": {"hidden": [None, {"keep_prob": 0.5}]}})
    assert [(live.path, index, value) for live, index, value in live_changes(changes)] == [
        ("optimizer.learning_rate", None, 0.1), ("optimizer.beta", None, 0.5),
        ("model.hidden.keep_prob", 1, 0.5), ("training.batch_size", None, 8)]


def test_merge_update_changes_layers_by_position_and_nothing_else():
    base = RunConfig.model_validate({"model": {"hidden": [{"units": 4}, {"units": 3}, {}]}}).model_dump()
    merged = merge_update(base, {"model": {"hidden": [None, {"keep_prob": 0.5}]},
                                 "optimizer": {"learning_rate": 0.5}})
    assert [layer["keep_prob"] for layer in merged["model"]["hidden"]] == [1.0, 0.5, 1.0]
    assert [layer["units"] for layer in merged["model"]["hidden"]] == [4, 3, 8]
    assert merged["optimizer"] == {**base["optimizer"], "learning_rate": 0.5}
    assert base["model"]["hidden"][1]["keep_prob"] == 1.0  # the base is not modified


# --- strict numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "loc", "msg"), [
    ({"seed": True}, "seed", "Input should be an integer, not true or false"),
    ({"seed": "3"}, "seed", "Input should be an integer, not a string"),
    ({"optimizer": {"learning_rate": "0.1"}}, "optimizer.learning_rate",
     "Input should be a number, not a string"),
    ({"optimizer": {"learning_rate": True}}, "optimizer.learning_rate",
     "Input should be a number, not true or false"),
    ({"training": {"epochs": "100"}}, "training.epochs", "Input should be an integer, not a string"),
    ({"training": {"epochs_per_second": False}}, "training.epochs_per_second",
     "Input should be a number, not true or false"),
    ({"data": {"dev_noise": "nan"}}, "data.dev_noise", "Input should be a number, not a string"),
    ({"model": {"hidden": [{"units": True}]}}, "model.hidden.0.units",
     "Input should be an integer, not true or false"),
    ({"data": {"normalize": {"center": 1}}}, "data.normalize.center", "Input should be a valid boolean"),
    ({"model": {"hidden": [{"batch_norm": "true"}]}}, "model.hidden.0.batch_norm",
     "Input should be a valid boolean"),
    # what was refused before keeps its message
    ({"optimizer": {"learning_rate": "fast"}}, "optimizer.learning_rate",
     "Input should be a valid number, unable to parse string as a number"),
    ({"seed": 1.5}, "seed", "Input should be a valid integer, got a number with a fractional part"),
])
def test_booleans_and_numeric_strings_are_not_numbers(raw, loc, msg):
    assert locs(raw) == [(loc, msg)]


def test_json_numbers_are_taken_as_the_schema_says():
    config = parse_config({"seed": 2.0, "optimizer": {"learning_rate": 1},
                           "training": {"epochs_per_second": 5}})
    assert config.seed == 2 and type(config.seed) is int
    assert config.optimizer.learning_rate == 1.0 and type(config.optimizer.learning_rate) is float
    assert config.training.epochs_per_second == 5.0


@pytest.mark.parametrize(("update", "loc"), [
    ({"optimizer": {"learning_rate": True}}, "config.optimizer.learning_rate"),
    ({"training": {"batch_size": "8"}}, "config.training.batch_size"),
    ({"model": {"hidden": [{"keep_prob": True}]}}, "config.model.hidden.0.keep_prob"),
    ({"regularization": {"l2": "0.5"}}, "config.regularization.l2"),
])
def test_live_updates_are_as_strict(update, loc):
    with pytest.raises(ConfigError) as raised:
        parse_update(update, RunConfig())
    assert [detail["loc"] for detail in raised.value.details] == [loc]


# --- cross-field rules in the schema -------------------------------------------------------------

def test_the_schema_caps_digits_at_the_samples_it_has():
    data = config_schema()["$defs"]["Data"]
    assert data["if"] == {"properties": {"dataset": {"const": "digits"}}, "required": ["dataset"]}
    assert data["then"] == {"properties": {"n_samples": {"maximum": DIGITS_SAMPLES}}}
    assert data["properties"]["n_samples"]["maximum"] > DIGITS_SAMPLES  # the other data sets go further
    parse_config({"data": {"dataset": "digits", "n_samples": DIGITS_SAMPLES}})
    assert [loc for loc, _ in locs({"data": {"dataset": "digits", "n_samples": DIGITS_SAMPLES + 1}})] == [
        "data.n_samples"]


def test_the_schema_states_the_split_rules_it_cannot_express():
    schema = config_schema()["$defs"]
    split = " ".join(schema["Split"]["description"].split())
    assert "must sum to 1" in split and "plus train_dev" in split and "at least one example" in split
    assert "at least one example" in schema["Data"]["properties"]["n_samples"]["description"]


@pytest.mark.parametrize("schema", [config_schema(), LiveUpdate.model_json_schema()],
                         ids=["config", "update"])
def test_every_bound_reaches_the_schema_in_json_schema_words(schema):
    text = json.dumps(schema)
    for pydantic_word in ('"gt":', '"ge":', '"lt":', '"le":'):
        assert pydantic_word not in text
    assert config_leaf(config_schema(), "training.epochs_per_second")["maximum"] == 1000
