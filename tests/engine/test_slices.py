"""``Trainer.slices``: the events of ``events()``, with a None after each bounded slice of training."""

import pytest

from server.engine import Trainer
from server.engine.cost import network_size

# 100 training examples in mini-batches of 10: ten steps an epoch.
TEN_STEPS = {"seed": 2, "data": {"dataset": "moons", "n_samples": 200,
                                 "split": {"train": 0.5, "dev": 0.25, "test": 0.25}},
             "model": {"hidden": [{"units": 5}]},
             "training": {"epochs": 4, "batch_size": 10, "boundary_every": 2}}


def step_work(trainer: Trainer, rows: int = 10) -> int:
    return network_size(trainer.network.sizes, trainer.network.batch_norm).step_work(rows)


def without_timing(events):
    return [(event["event"], {key: value for key, value in event["data"].items() if key != "elapsed_s"})
            for event in events]


@pytest.mark.parametrize("config", [
    TEN_STEPS,
    {**TEN_STEPS, "training": {**TEN_STEPS["training"], "report_every": 3, "epochs": 7}},
    {"seed": 1, "data": {"dataset": "digits", "n_samples": 300}, "model": {"hidden": [{"units": 16}]},
     "training": {"epochs": 3, "batch_size": 7, "early_stopping": {"patience": 2}}},
])
def test_slices_carry_exactly_the_events_of_events(config):
    sliced = Trainer(config)
    items = list(sliced.slices(step_work(sliced, 3)))
    assert None in items
    events = [item for item in items if item is not None]
    assert without_timing(events) == without_timing(Trainer(config).events())


@pytest.mark.parametrize(("steps_per_slice", "turns_given_up"), [(1, 9), (3, 3), (10, 0), (25, 0)])
def test_an_epoch_gives_up_its_turn_whenever_a_slice_is_full(steps_per_slice, turns_given_up):
    trainer = Trainer(TEN_STEPS)
    between, gaps = 0, []
    for item in trainer.slices(step_work(trainer) * steps_per_slice):
        if item is None:
            between += 1
        elif item["event"] == "metrics":
            gaps.append(between)
            between = 0
    # Ten steps: full slices, each but the last followed by a None (the last by the epoch's events).
    assert gaps == [0] + [turns_given_up] * 4


def test_a_stop_is_honoured_at_the_next_slice_not_the_end_of_the_epoch():
    trainer = Trainer(TEN_STEPS)
    items = trainer.slices(step_work(trainer))  # one step a slice
    seen_in_epoch_three = 0
    for item in items:  # epoch 2 ends with a boundary and a diagnosis (boundary_every 2)
        if trainer.epochs_completed == 2 and item is None:
            seen_in_epoch_three += 1
            if seen_in_epoch_three == 3:
                trainer.request_stop()
                break
    rest = list(items)
    assert None not in rest  # no more training after the stop
    names = [event["event"] for event in rest]
    assert names == ["boundary", "diagnosis", "done"]  # of the weights the part epoch changed
    done = rest[-1]["data"]
    assert done["reason"] == "stopped" and done["epoch"] == 2
    assert done["iteration"] == 2 * 10 + 3


def test_without_slicing_a_stop_still_waits_for_the_epoch_boundary():
    trainer = Trainer(TEN_STEPS)
    events = trainer.events()
    for event in events:
        if event["event"] == "metrics" and event["data"]["epoch"] == 1:
            trainer.request_stop()
            break
    done = list(events)[-1]["data"]
    assert done["reason"] == "stopped" and done["epoch"] == 1 and done["iteration"] == 10


def test_epochs_without_events_share_one_budget():
    reported_every_third = {**TEN_STEPS, "training": {**TEN_STEPS["training"], "report_every": 3,
                                                      "boundary_every": 0, "epochs": 6}}
    trainer = Trainer(reported_every_third)
    items = list(trainer.slices(step_work(trainer) * 4))
    metrics = [index for index, item in enumerate(items) if item is not None and item["event"] == "metrics"]
    # Thirty steps between two reports, four a slice: seven full slices, then two steps and the events.
    assert [items[a + 1:b].count(None) for a, b in zip(metrics, metrics[1:], strict=False)] == [7, 7]


def test_a_slice_needs_some_work():
    with pytest.raises(ValueError, match="slice_work"):
        Trainer(TEN_STEPS).slices(0)
