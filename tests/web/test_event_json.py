"""Events are encoded once, as ``to_json`` would; the boundary event's grid through its fast path."""

import json

import numpy as np
import pytest

from server.engine import Trainer
from server.engine.trainer import BOUNDARY_DECIMALS
from server.runs import events
from server.runs.events import event_data_json, to_json


def boundary_events(config: dict) -> list[dict]:
    return [event["data"] for event in Trainer(config).events() if event["event"] == "boundary"]


@pytest.mark.parametrize("config", [
    {"training": {"epochs": 20}},
    {"data": {"dataset": "spiral"}, "model": {"hidden": [{"units": 4, "keep_prob": 0.5}] * 3},
     "training": {"epochs": 10, "boundary_every": 2}},
    {"model": {"init": "zeros"}, "training": {"epochs": 5}},  # a grid of one value
])
def test_a_boundary_event_is_the_text_to_json_writes(config):
    datas = boundary_events(config)
    assert datas
    for data in datas:
        assert event_data_json("boundary", data) == to_json(data)


def three_class_boundary() -> dict:
    """A boundary event of three classes: ``predicted`` and ``confidence`` in place of ``z``."""
    rng = np.random.default_rng(0)
    confidence = np.round(rng.uniform(0.34, 1.0, (40, 40)), BOUNDARY_DECIMALS)
    return {"epoch": 4, "x": [0.0, 1.0], "y": [0.0, 1.0], "classes": 3,
            "predicted": rng.integers(0, 3, (40, 40)).tolist(), "confidence": confidence.tolist()}


def test_a_three_class_boundary_event_is_the_text_to_json_writes():
    data = three_class_boundary()
    assert event_data_json("boundary", data) == to_json(data)


def two_class_boundary() -> dict:
    return boundary_events({"training": {"epochs": 1}})[0]


@pytest.mark.parametrize("make", [two_class_boundary, three_class_boundary])
def test_the_grid_takes_the_fast_path(monkeypatch, make):
    data = make()

    def refuse_the_grid(value):
        # A grid of floats (probabilities); ``predicted``'s grid of classes is ints.
        grid = isinstance(value, list) and value and isinstance(value[0], list) \
            and isinstance(value[0][0], float)
        if (isinstance(value, dict) and ("z" in value or "confidence" in value)) or grid:
            pytest.fail(f"to_json called for {value!r:.60}")
        return to_json(value)

    monkeypatch.setattr(events, "to_json", refuse_the_grid)
    assert json.loads(event_data_json("boundary", data)) == data


@pytest.mark.parametrize("grid", [
    [[0.5, 0.1234567]],  # not rounded as the engine rounds
    [[0.5, float("nan")]],  # NaN: null, as to_json writes it
    [[0.5], [0.25, 0.75]],  # ragged
    [[1.5, 0.0]],  # beyond a probability
    [[-0.0, 0.5]],  # a negative zero keeps its sign
    [],
])
def test_any_other_grid_is_written_as_to_json_writes_it(grid):
    data = {"epoch": 3, "x": [0.0, 1.0], "y": [0.0], "z": grid}
    assert event_data_json("boundary", data) == to_json(data)


def test_every_rounded_probability_is_written_as_its_shortest_repr():
    steps = 10 ** BOUNDARY_DECIMALS
    grid = np.round(np.linspace(0.0, 1.0, steps + 1), BOUNDARY_DECIMALS).reshape(1, -1).tolist()
    assert event_data_json("boundary", {"z": grid}) == to_json({"z": grid})


def test_other_events_are_written_by_to_json():
    data = {"epoch": 1, "train_loss": float("inf"), "z": [[0.5]]}
    assert event_data_json("metrics", data) == to_json(data) == '{"epoch":1,"train_loss":null,"z":[[0.5]]}'


def test_equal_numbers_of_another_type_or_sign_keep_their_own_text_from_event_to_event():
    # A cache keyed by value would answer [0,1] with the text of [0.0,1.0], or 0.0 for -0.0.
    for axis in ([0.0, 1.0], [0, 1], [-0.0, 1.0], [0.0, 1.0]):
        data = {"epoch": 1, "x": axis, "y": axis, "z": [[0.5, 0.5], [0.5, 0.5]]}
        assert event_data_json("boundary", data) == to_json(data)
