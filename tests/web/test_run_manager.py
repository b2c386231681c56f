"""The in-process run manager with a fake trainer: lifecycle, pacing, control, limits, reaping."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from functools import partial

import pytest

from server.engine.config import ConfigError, parse_config
from server.limits import RuntimeLimits
from server.runs import CapacityExceeded, InProcessRunManager, RunConflict, UnknownRun, to_json
from server.runs.events import EventLog
from server.runs.run import CATCH_UP_SECONDS, CATCH_UP_SPEED, Run
from tests.waiting import PATIENCE_SECONDS, wait_until
from tests.web.fakes import FakeTrainer, recording
from tests.web.sse_client import strict_json


@pytest.fixture
def make_manager():
    managers = []

    def factory(trainer_factory=FakeTrainer, **limits):
        manager = InProcessRunManager(trainer_factory, replace(RuntimeLimits(), **limits))
        managers.append(manager)
        return manager

    yield factory
    for manager in managers:
        manager.shutdown(timeout=5.0)


def config(epochs=5, epochs_per_second=None, **training):
    return parse_config({"training": {"epochs": epochs, "epochs_per_second": epochs_per_second, **training}})


def collect(manager, run_id, until=lambda event: event.terminal, last_id=0, timeout=PATIENCE_SECONDS,
            arrivals=None):
    """Events from ``last_id`` on until ``until(event)`` (inclusive); fails after ``timeout`` s.

    ``arrivals``, when given, receives the time each event was received.
    """
    deadline = time.monotonic() + timeout
    events = []
    while time.monotonic() < deadline:
        for event in manager.events_since(run_id, last_id, 0.2):
            events.append(event)
            if arrivals is not None:
                arrivals.append(time.monotonic())
            last_id = event.id
            if until(event):
                return events
    raise AssertionError(f"condition not met in {timeout} s; got {[e.event for e in events]}")


def metrics_epoch(event):
    return strict_json(event.data)["epoch"] if event.event == "metrics" else None


def test_a_run_logs_config_first_done_last_with_consecutive_ids(make_manager):
    manager = make_manager()
    run = manager.start(config(epochs=5, boundary_every=2), "client")
    events = collect(manager, run["id"])
    assert [e.event for e in events] == (["config"] + ["metrics"] * 2 + ["boundary"] + ["metrics"] * 2
                                         + ["boundary", "metrics", "done"])
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert manager.status(run["id"])["status"] == "done"
    assert manager.status(run["id"])["latest"]["done"]["reason"] == "completed"


def metrics_arrivals(manager, run_id):
    arrivals = []
    events = collect(manager, run_id, arrivals=arrivals)
    return {metrics_epoch(event): at for event, at in zip(events, arrivals, strict=True)
            if event.event == "metrics"}


def test_pacing_never_lets_epochs_through_early(make_manager):
    factory, trainers = recording()
    manager = make_manager(factory)
    times = metrics_arrivals(manager, manager.start(config(epochs=11, epochs_per_second=25), "client")["id"])
    # From before the gate let epoch 1 through to after epoch 11 arrived: at least ten intervals of
    # 40 ms (unpaced: about 0), however late either was seen.
    assert times[11] - trainers[0].computed_at[1] >= 10 / 25


class ManualClock:
    """Stands in for the run's clock and its condition: a wait moves the clock on by exactly its timeout."""

    def __init__(self):
        self.now = 1000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wait(self, timeout: float) -> None:
        self.waits.append(timeout)
        self.now += timeout

    def notify_all(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exception) -> None:
        pass


@pytest.fixture
def gated_run(monkeypatch):
    """A run (not started) whose epoch gate keeps time on a ManualClock, and that clock."""
    clock = ManualClock()
    monkeypatch.setattr("server.runs.run.time", clock)

    def build(epochs_per_second):
        run = Run("run", config(epochs_per_second=epochs_per_second), "client", FakeTrainer,
                  EventLog(100, 10**6))
        run._cond = clock
        return run

    return build, clock


def test_the_epoch_gate_keeps_exactly_the_pace_asked_for(gated_run):
    build, clock = gated_run
    run = build(epochs_per_second=25)
    start = clock.now
    for _ in range(11):
        run._wait_for_turn(1)
    assert clock.waits == pytest.approx([1 / 25] * 10)  # the first epoch goes at once
    assert clock.now - start == pytest.approx(10 / 25)
    run._wait_for_turn(5)  # five epochs between reports: five intervals
    assert clock.waits[-1] == pytest.approx(5 / 25)


def test_the_epoch_gate_starts_a_new_schedule_after_a_slow_epoch_instead_of_a_burst(gated_run):
    build, clock = gated_run
    run = build(epochs_per_second=20)
    run._wait_for_turn(1)
    run._wait_for_turn(1)
    clock.now += CATCH_UP_SECONDS + 0.3  # the next epoch takes longer than the catch-up window
    run._wait_for_turn(1)
    assert clock.waits == pytest.approx([0.05])  # it goes at once, being late
    run._wait_for_turn(1)
    run._wait_for_turn(1)
    assert clock.waits == pytest.approx([0.05] * 3)  # then one interval each, not five at once


def test_the_epoch_gate_catches_up_a_little_lateness_so_the_pace_holds(gated_run):
    build, clock = gated_run
    run = build(epochs_per_second=60)
    run._wait_for_turn(1)
    start = clock.now
    run._wait_for_turn(1)
    clock.now += 3 / 60  # a busy core: the next epoch comes three intervals late (50 ms)
    for _ in range(9):
        run._wait_for_turn(1)
    # Ten epochs after the first: on a 60/s schedule, still, as if nothing had been late.
    assert clock.now - start == pytest.approx(10 / 60)
    # One interval before the late epoch; it goes at once; the next four make up its two
    # intervals at twice the pace, half an interval each; then one interval an epoch.
    assert clock.waits == pytest.approx([1 / 60] + [1 / 120] * 4 + [1 / 60] * 4)


@pytest.mark.parametrize("stall, epochs", [(0.4, 20), (1.5, 40)])
def test_the_epoch_gate_makes_up_a_stall_of_a_busy_machine_at_twice_the_pace(gated_run, stall, epochs):
    build, clock = gated_run
    run = build(epochs_per_second=10)
    run._wait_for_turn(1)
    start = clock.now
    clock.now += stall  # the run's thread got no core for a while (a hundred runs starting)
    for _ in range(epochs):
        run._wait_for_turn(1)
    # Some epochs later it is on its schedule, as if it had never stalled: none of it was lost.
    assert clock.now - start == pytest.approx(epochs / 10)
    # It caught up half an interval an epoch, never two epochs at once.
    assert min(clock.waits) == pytest.approx(1 / 10 / CATCH_UP_SPEED)
    assert clock.waits[-1] == pytest.approx(1 / 10)


def test_the_epoch_gate_uses_a_new_pace_from_the_next_epoch(gated_run):
    build, clock = gated_run
    run = build(epochs_per_second=2)
    run._wait_for_turn(1)
    run._wait_for_turn(1)
    run.control("update", {"training": {"epochs_per_second": 200}})
    run._wait_for_turn(1)
    assert clock.waits == pytest.approx([0.5, 0.005])


def test_a_slow_epoch_is_not_followed_by_a_catch_up_burst(make_manager):
    factory, trainers = recording(partial(FakeTrainer, slow_epochs={4: 0.3}))
    manager = make_manager(factory)
    times = metrics_arrivals(manager, manager.start(config(epochs=8, epochs_per_second=20), "client")["id"])
    computed = trainers[0].computed_at
    assert computed[4] - computed[3] >= 0.3  # the slow epoch
    # A burst would release epochs 5 to 7 at once after epoch 4; they make up the lost time at
    # twice the pace at most: three half intervals (0.075 s) from the moment epoch 4 was ready.
    assert times[7] - computed[4] >= 3 / 20 / CATCH_UP_SPEED, times


def events_during(manager, run_id, last_id, seconds):
    """Every event after ``last_id`` published in the next ``seconds``."""
    deadline = time.monotonic() + seconds
    events = []
    while (left := deadline - time.monotonic()) > 0:
        batch = manager.events_since(run_id, last_id, left)
        events.extend(batch)
        last_id = batch[-1].id if batch else last_id
    return events


def test_pause_holds_the_next_epoch_step_releases_one_resume_continues(make_manager):
    manager = make_manager()
    run_id = manager.start(config(epochs=1000, epochs_per_second=100), "client")["id"]
    before = collect(manager, run_id, until=lambda e: (metrics_epoch(e) or 0) >= 2)
    paused = manager.control(run_id, "pause")
    assert paused["status"] == "paused"
    # Only the epoch already past the gate may still be published (unpaused: 50 epochs).
    during_pause = events_during(manager, run_id, before[-1].id, 0.5)
    paused_epoch = max(filter(None, map(metrics_epoch, before + during_pause)))
    assert paused_epoch <= paused["latest"]["epoch"] + 1
    last_id = (before + during_pause)[-1].id

    manager.control(run_id, "step")
    stepped = collect(manager, run_id, until=lambda e: e.event == "metrics", last_id=last_id)
    assert metrics_epoch(stepped[-1]) == paused_epoch + 1
    after_step = events_during(manager, run_id, stepped[-1].id, 0.3)
    assert [e for e in after_step if e.event == "metrics"] == []

    assert manager.control(run_id, "resume")["status"] == "running"
    resumed = collect(manager, run_id, until=lambda e: (metrics_epoch(e) or 0) >= paused_epoch + 4,
                      last_id=(stepped + after_step)[-1].id)
    assert [metrics_epoch(e) for e in resumed if e.event == "metrics"] == list(
        range(paused_epoch + 2, paused_epoch + 5))


def test_many_runs_with_several_readers_each_deliver_every_event_in_order(make_manager):
    manager = make_manager(max_runs_per_client=24)
    run_ids = [manager.start(config(epochs=25, epochs_per_second=250, boundary_every=5), "class")["id"]
               for _ in range(24)]
    streams: dict[tuple[str, int], list[int]] = {}

    def read(run_id, reader):
        streams[run_id, reader] = [event.id for event in collect(manager, run_id)]

    readers = [threading.Thread(target=read, args=(run_id, reader))
               for run_id in run_ids for reader in (0, 1)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(30.0)
    assert len(streams) == 48
    for ids in streams.values():
        assert ids == list(range(1, len(ids) + 1)) and len(ids) == 1 + 25 + 5 + 1
    assert manager.load()["runs"] == 0


def test_retry_after_estimates_when_the_soonest_run_ends(make_manager):
    manager = make_manager(max_concurrent_runs=2)
    manager.start(config(epochs=50, epochs_per_second=1), "alice")  # 50 s left, one epoch a second
    paused = manager.start(config(epochs=1000, epochs_per_second=10), "bob")["id"]
    manager.control(paused, "pause")  # cannot end by itself
    with pytest.raises(CapacityExceeded) as raised:
        manager.start(config(), "carol")
    assert 40 <= raised.value.retry_after <= 50


def test_step_is_a_conflict_unless_paused(make_manager):
    manager = make_manager()
    run_id = manager.start(config(epochs=1000, epochs_per_second=50), "client")["id"]
    with pytest.raises(RunConflict, match="pause it first"):
        manager.control(run_id, "step")


def test_update_changes_the_learning_rate_from_the_echoed_epoch_on(make_manager):
    manager = make_manager()
    run_id = manager.start(config(epochs=1000, epochs_per_second=100), "client")["id"]
    before = collect(manager, run_id, until=lambda e: e.event == "metrics")
    status = manager.control(run_id, "update", {"optimizer": {"learning_rate": 0.5}})
    assert status["status"] == "running"
    after = collect(manager, run_id, until=lambda e: (metrics_epoch(e) or 0) >= metrics_epoch(before[-1]) + 3,
                    last_id=before[-1].id)
    names = [e.event for e in after]
    update = strict_json(after[names.index("update")].data)
    assert update["changes"] == {"optimizer": {"learning_rate": 0.5}}
    rates = [(metrics_epoch(e), strict_json(e.data)["learning_rate"]) for e in after if e.event == "metrics"]
    assert all(rate == (0.5 if epoch > update["epoch"] else 0.01) for epoch, rate in rates), rates
    assert manager.status(run_id)["config"]["optimizer"]["learning_rate"] == 0.5


def test_updating_epochs_per_second_changes_the_pace_at_once(make_manager):
    manager = make_manager()
    # At 0.01 epochs a second the second epoch is 100 s away: far longer than collect waits.
    run_id = manager.start(config(epochs=40, epochs_per_second=0.01), "client")["id"]
    first = collect(manager, run_id, until=lambda e: e.event == "metrics")
    status = manager.control(run_id, "update", {"training": {"epochs_per_second": 1000}})
    assert status["epochs_per_second"] == 1000
    events = collect(manager, run_id, last_id=first[-1].id)  # the gate waiting at the old pace let go
    assert [metrics_epoch(e) for e in events if e.event == "metrics"] == list(range(2, 41))


def test_invalid_update_names_the_field_under_config(make_manager):
    manager = make_manager()
    run_id = manager.start(config(epochs=1000, epochs_per_second=50), "client")["id"]
    with pytest.raises(ConfigError) as raised:
        manager.control(run_id, "update", {"optimizer": {"learning_rate": -1}})
    assert [d["loc"] for d in raised.value.details] == ["config.optimizer.learning_rate"]


def test_stop_ends_with_reason_stopped_and_later_controls_conflict(make_manager):
    manager = make_manager()
    run_id = manager.start(config(epochs=1000, epochs_per_second=50), "client")["id"]
    collect(manager, run_id, until=lambda e: e.event == "metrics")
    manager.control(run_id, "stop")
    done = collect(manager, run_id)[-1]
    assert done.event == "done" and strict_json(done.data)["reason"] == "stopped"
    assert manager.status(run_id)["status"] == "stopped"
    for action in ("pause", "resume", "stop"):
        with pytest.raises(RunConflict, match="already ended"):
            manager.control(run_id, action)
    with pytest.raises(RunConflict):
        manager.control(run_id, "update", {"optimizer": {"learning_rate": 0.1}})


def test_stopping_a_paused_run_ends_it(make_manager):
    manager = make_manager()
    run_id = manager.start(config(epochs=1000, epochs_per_second=50), "client")["id"]
    collect(manager, run_id, until=lambda e: e.event == "metrics")
    manager.control(run_id, "pause")
    manager.control(run_id, "stop")
    assert strict_json(collect(manager, run_id)[-1].data)["reason"] == "stopped"


def test_a_failing_engine_ends_the_run_with_an_error_event(make_manager):
    manager = make_manager(partial(FakeTrainer, fail_at_epoch=2))
    run_id = manager.start(config(epochs=10), "client")["id"]
    last = collect(manager, run_id)[-1]
    assert last.event == "error"
    assert "failed on purpose" in strict_json(last.data)["message"]
    assert manager.status(run_id)["status"] == "error"


def test_non_finite_numbers_are_sent_as_null(make_manager):
    manager = make_manager(partial(FakeTrainer, nan_at_epoch=2))
    run_id = manager.start(config(epochs=3), "client")["id"]
    metrics = [strict_json(e.data) for e in collect(manager, run_id) if e.event == "metrics"]
    assert metrics[1]["train_loss"] is None and metrics[0]["train_loss"] == pytest.approx(1 / 1.01)


def test_capacity_in_total_and_per_client(make_manager):
    manager = make_manager(max_concurrent_runs=3, max_runs_per_client=2)
    slow = config(epochs=1000, epochs_per_second=10)
    manager.start(slow, "alice")
    manager.start(slow, "alice")
    with pytest.raises(CapacityExceeded, match="at most 2 per client") as raised:
        manager.start(slow, "alice")
    assert 1 <= raised.value.retry_after <= 60
    manager.start(slow, "bob")
    with pytest.raises(CapacityExceeded, match="maximum of 3 runs"):
        manager.start(slow, "carol")
    assert manager.load() == {"runs": 3, "capacity": 3}


def test_finished_runs_free_their_slot(make_manager):
    manager = make_manager(max_concurrent_runs=1)
    run_id = manager.start(config(epochs=2), "alice")["id"]
    collect(manager, run_id)
    manager.start(config(epochs=2), "alice")


def test_an_unwatched_run_is_stopped_and_says_why(make_manager):
    manager = make_manager(idle_timeout_seconds=0.2)
    run_id = manager.start(config(epochs=1000, epochs_per_second=20), "client")["id"]
    wait_until(lambda: manager.load()["runs"] == 0, "the unwatched run stopped")
    status = manager.status(run_id)
    assert status["status"] == "stopped"
    assert "nobody watched" in status["latest"]["done"]["message"]


def test_a_watched_run_is_not_reaped_as_idle(make_manager):
    manager = make_manager(idle_timeout_seconds=0.5)
    run_id = manager.start(config(epochs=1000, epochs_per_second=50), "client")["id"]
    collect(manager, run_id, until=lambda e: (metrics_epoch(e) or 0) >= 60)
    assert manager.status(run_id)["status"] == "running"


def test_the_wall_clock_limit_stops_even_a_watched_run(make_manager):
    manager = make_manager(max_run_seconds=0.3)
    run_id = manager.start(config(epochs=1000, epochs_per_second=50), "client")["id"]
    done = strict_json(collect(manager, run_id)[-1].data)
    assert done["reason"] == "stopped" and "time limit of 0.3 s" in done["message"]


class EncodingTrainer(FakeTrainer):
    """Yields events already encoded, as a trainer in a host process does."""

    def events(self):
        for event in super().events():
            yield {"event": event["event"], "data_json": to_json(event["data"])}


def test_pre_encoded_events_are_published_as_they_are_and_still_end_runs(make_manager):
    manager = make_manager(EncodingTrainer, max_run_seconds=0.3)
    run_id = manager.start(config(epochs=1000, epochs_per_second=50), "client")["id"]
    events = collect(manager, run_id)
    assert strict_json(events[1].data)["epoch"] == 1
    assert "time limit" in strict_json(events[-1].data)["message"]
    assert manager.status(run_id)["status"] == "stopped"


def test_finished_runs_are_dropped_after_their_retention(make_manager):
    manager = make_manager(finished_retention_seconds=0.2)
    run_id = manager.start(config(epochs=2), "client")["id"]
    collect(manager, run_id)

    def dropped():
        try:
            manager.status(run_id)
        except UnknownRun:
            return True
        return False

    wait_until(dropped, "the finished run dropped")


def test_only_the_newest_finished_runs_are_retained(make_manager):
    manager = make_manager()
    manager.max_retained_runs = 2
    run_ids = []
    for _ in range(4):
        run_ids.append(manager.start(config(epochs=1), "client")["id"])
        collect(manager, run_ids[-1])
    manager.reap()
    with pytest.raises(UnknownRun):
        manager.status(run_ids[0])
    with pytest.raises(UnknownRun):
        manager.status(run_ids[1])
    assert manager.status(run_ids[3])["status"] == "done"


def test_the_log_is_bounded_but_keeps_config_and_done(make_manager):
    manager = make_manager(max_events_per_run=5)
    run_id = manager.start(config(epochs=20, boundary_every=0), "client")["id"]
    collect(manager, run_id)
    replay = manager.events_since(run_id, 0, 0.1)
    assert [e.event for e in replay] == ["config", "gap", "metrics", "metrics", "metrics", "done"]
    gap = strict_json(replay[1].data)
    assert gap == {"first": 2, "last": replay[2].id - 1, "count": replay[2].id - 2}
    assert replay[1].id == gap["last"]


def test_a_finished_run_with_nothing_more_to_send_says_so(make_manager):
    manager = make_manager()
    run_id = manager.start(config(epochs=2), "client")["id"]
    last = collect(manager, run_id)[-1]
    with pytest.raises(LookupError):
        manager.events_since(run_id, last.id, 0.1)
    assert manager.events_since(run_id, last.id - 1, 0.1) == [last]


def test_unknown_run_ids_raise(make_manager):
    manager = make_manager()
    for call in (lambda: manager.status("nope"), lambda: manager.control("nope", "pause"),
                 lambda: manager.events_since("nope", 0, 0.1)):
        with pytest.raises(UnknownRun):
            call()


def test_run_ids_are_long_and_distinct(make_manager):
    manager = make_manager()
    ids = {manager.start(config(epochs=1), f"client-{index}")["id"] for index in range(5)}
    assert len(ids) == 5 and all(len(run_id) >= 20 for run_id in ids)


def test_shutdown_stops_every_run(make_manager):
    manager = make_manager()
    run_ids = [manager.start(config(epochs=1000, epochs_per_second=20), "client")["id"] for _ in range(3)]
    manager.shutdown(timeout=5.0)
    for run_id in run_ids:
        assert manager.status(run_id)["status"] == "stopped"
    with pytest.raises(CapacityExceeded):
        manager.start(config(), "client")


def test_progress_is_the_cheap_part_of_status(make_manager):
    manager = make_manager()
    run_id = manager.start(config(epochs=3), "client")["id"]
    assert manager.progress(run_id)[0] == "running"
    collect(manager, run_id)
    status = manager.status(run_id)
    assert manager.progress(run_id) == ("done", status["last_event_id"])
    with pytest.raises(UnknownRun):
        manager.progress("nope")


def test_prestarted_threads_train_runs_without_new_threads(make_manager):
    manager = make_manager(max_concurrent_runs=4)
    manager.prestart_threads()
    before = set(threading.enumerate())
    run_ids = [manager.start(config(epochs=2), f"client-{index}")["id"] for index in range(4)]
    for run_id in run_ids:
        assert collect(manager, run_id)[-1].event == "done"
    assert set(threading.enumerate()) <= before
    assert all(manager.status(run_id)["status"] == "done" for run_id in run_ids)


def test_status_is_json_ready(make_manager):
    manager = make_manager()
    run_id = manager.start(config(epochs=3), "client")["id"]
    collect(manager, run_id)
    status = manager.status(run_id)
    assert strict_json(json.dumps(status, allow_nan=False)) == status
    assert set(status) >= {"id", "status", "config", "latest", "last_event_id"}
    assert status["latest"]["epoch"] == 3 and status["latest"]["metrics"]["epoch"] == 3
