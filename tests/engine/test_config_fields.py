"""Config fields of the second wave: the train-dev split, live fields, strict numbers, schema rules."""

import pytest

from server.engine.config import ConfigError, RunConfig, parse_config, split_sizes


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
