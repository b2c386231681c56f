"""A host's turns, counted: runs interleave by slices, a stop goes first, problems are answered in turn.

``SliceScheduler`` is what a training host runs; here it runs in the test's
own process with real trainers, so every turn is visible and counted.  Its
clock is a counter: every turn costs one, however long it took.
"""

import itertools
import json

from server.engine import Trainer
from server.engine.cost import network_size
from server.runs.processes import SliceScheduler

HEAVY, LIGHT = 1, 2
# 400 training examples in mini-batches of 10: forty steps, and (one step a slice) forty slices an epoch.
FORTY_STEPS = {"seed": 4, "data": {"dataset": "circles", "n_samples": 500,
                                   "split": {"train": 0.8, "dev": 0.1, "test": 0.1}},
               "model": {"hidden": [{"units": 6}]}, "training": {"epochs": 3, "batch_size": 10}}
QUICK = {"seed": 1, "data": {"n_samples": 60},
         "training": {"epochs": 5, "batch_size": 60, "boundary_every": 0}}


def one_step(config: dict) -> int:
    network = Trainer(config).network
    return network_size(network.sizes, network.batch_norm).step_work(10)


def event_of(reply):
    kind, _key, encoded, epochs_completed, _config, slices, _final = reply
    assert kind == "event"
    return encoded["event"], json.loads(encoded["data_json"]), epochs_completed, slices


def counted(wake_credit: float = 0.05) -> SliceScheduler:
    return SliceScheduler(Trainer, clock=itertools.count().__next__, wake_credit=wake_credit)


def next_reply(scheduler, key, turns=None):
    """Ask for ``key``'s next event and take turns until some reply comes (another run's counts too)."""
    scheduler.want(key)
    while (reply := scheduler.run_slice()) is None:
        if turns is not None:
            turns.append(key)
    return reply


def heavy_in_its_first_epoch(scheduler) -> None:
    """Start the heavy run and take its opening events, so that its next event needs forty slices."""
    scheduler.start(HEAVY, FORTY_STEPS, one_step(FORTY_STEPS))
    names = [event_of(next_reply(scheduler, HEAVY))[0] for _ in range(3)]
    assert names == ["config", "metrics", "boundary"]


def test_a_light_run_finishes_while_a_heavy_one_is_inside_one_epoch():
    scheduler = counted()
    heavy_in_its_first_epoch(scheduler)
    scheduler.want(HEAVY)  # the heavy run now waits for the end of its epoch 1: forty slices
    scheduler.start(LIGHT, QUICK, 1e12)  # a whole epoch in one slice
    heavy_turns, light_names = 0, []
    while not light_names or light_names[-1] != "done":
        scheduler.want(LIGHT)
        turns = {HEAVY: 0, LIGHT: 0}
        while True:
            front = scheduler.next_in_turn
            turns[front] += 1
            reply = scheduler.run_slice()
            if reply is not None:
                assert reply[1] == LIGHT, "the heavy run cannot reach its event in so few turns"
                break
        light_names.append(event_of(reply)[0])
        # The heavy run had at most one turn for each of the light run's.
        assert turns[HEAVY] <= turns[LIGHT]
        heavy_turns += turns[HEAVY]
    assert "metrics" in light_names and heavy_turns < 40


def test_runs_alternate_slice_by_slice():
    scheduler = counted()
    scheduler.start(HEAVY, FORTY_STEPS, one_step(FORTY_STEPS))
    scheduler.start(LIGHT, FORTY_STEPS, one_step(FORTY_STEPS))
    for key in (HEAVY, LIGHT):
        for _ in range(3):
            next_reply(scheduler, key)  # config, metrics and boundary of epoch 0
    scheduler.want(HEAVY)
    scheduler.want(LIGHT)
    order = []
    while len(order) < 10:
        front = scheduler.next_in_turn
        assert scheduler.run_slice() is None
        order.append(front)
    settled = order[2:]  # once their times are level (the credit may give one a turn ahead)
    assert set(settled[0::2]) | set(settled[1::2]) == {HEAVY, LIGHT}
    assert len(set(settled[0::2])) == len(set(settled[1::2])) == 1  # turn about


def test_a_run_that_waited_goes_ahead_of_one_that_trained_but_only_by_its_credit():
    scheduler = counted(wake_credit=2)
    heavy_in_its_first_epoch(scheduler)
    scheduler.start(LIGHT, FORTY_STEPS, one_step(FORTY_STEPS))
    for _ in range(3):
        next_reply(scheduler, LIGHT)  # opening events: the light run has had three turns
    scheduler.want(HEAVY)
    for _ in range(20):  # twenty turns of the heavy run alone
        assert scheduler.run_slice() is None
    scheduler.want(LIGHT)
    order = []
    for _ in range(9):
        order.append(scheduler.next_in_turn)
        assert scheduler.run_slice() is None
    # Two turns of credit behind the heavy run's least, so three turns first, then turn about.
    assert order == [LIGHT] * 3 + [HEAVY, LIGHT] * 3


def test_between_two_metrics_a_run_gives_up_its_turn_once_a_step_but_the_last():
    scheduler = counted()
    heavy_in_its_first_epoch(scheduler)
    reports = []
    while len(reports) < 2:
        name, data, epochs, slices = event_of(next_reply(scheduler, HEAVY))
        if name == "metrics":
            reports.append((data["epoch"], slices))
    assert reports == [(1, 39), (2, 78)]


def test_a_stop_goes_to_the_front_and_is_honoured_before_the_next_slice():
    scheduler = counted()
    heavy_in_its_first_epoch(scheduler)
    scheduler.start(LIGHT, FORTY_STEPS, one_step(FORTY_STEPS))
    for _ in range(3):
        next_reply(scheduler, LIGHT)
    scheduler.want(LIGHT)
    scheduler.want(HEAVY)
    heavy_turns = 0
    for _ in range(6):
        heavy_turns += scheduler.next_in_turn == HEAVY
        assert scheduler.run_slice() is None
    if scheduler.next_in_turn == HEAVY:
        heavy_turns += 1
        assert scheduler.run_slice() is None
    assert scheduler.next_in_turn == LIGHT and heavy_turns >= 3
    scheduler.stop(HEAVY)
    assert scheduler.next_in_turn == HEAVY
    name, _, epochs, slices = event_of(scheduler.run_slice())  # and it trains no more
    assert (name, epochs, slices) == ("boundary", 0, heavy_turns)
    names = [event_of(next_reply(scheduler, HEAVY))[0] for _ in range(2)]
    assert names == ["diagnosis", "done"]


def test_a_config_that_does_not_build_and_a_bad_update_are_answered_at_the_runs_turn():
    scheduler = counted()
    scheduler.start(HEAVY, {"colour": "red"}, 1e6)
    scheduler.want(HEAVY)
    kind, key, message = scheduler.run_slice()
    assert (kind, key) == ("error", HEAVY) and "colour" in message
    scheduler.start(LIGHT, QUICK, 1e6)
    scheduler.update(LIGHT, {"optimizer": {"learning_rate": -1}})
    scheduler.want(LIGHT)
    kind, key, message = scheduler.run_slice()
    assert (kind, key) == ("error", LIGHT) and "learning_rate" in message


def test_a_closed_run_leaves_the_turns():
    scheduler = counted()
    heavy_in_its_first_epoch(scheduler)
    scheduler.want(HEAVY)
    scheduler.close(HEAVY)
    assert not scheduler.busy and scheduler.run_slice() is None
