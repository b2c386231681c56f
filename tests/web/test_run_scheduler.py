"""``RunScheduler``: many runs in one thread, with the events, gates and controls of runs in threads."""

from __future__ import annotations

import json
import threading
from functools import partial

import pytest

from server.engine import Trainer
from server.engine.config import parse_config
from server.runs.events import EventLog
from server.runs.run import Run
from server.runs.turns import FairTurns, RunScheduler
from tests.waiting import PATIENCE_SECONDS, wait_until
from tests.web.fakes import FakeTrainer, recording


def config(epochs=5, epochs_per_second=None, **training):
    return parse_config({"training": {"epochs": epochs, "epochs_per_second": epochs_per_second, **training}})


def new_run(run_id, run_config, trainer_factory=FakeTrainer):
    return Run(run_id, run_config, "client", trainer_factory, EventLog(10_000, 10**8))


class CountingClock:
    """A clock for the scheduler that counts its readings: two per turn."""

    def __init__(self):
        self.readings = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.readings += 1
            return float(self.readings)

    @property
    def turns(self) -> int:
        return self.readings // 2


@pytest.fixture
def scheduler():
    schedulers = []

    def make(**options):
        schedulers.append(RunScheduler("test-runs", **options))
        return schedulers[-1]

    yield make
    for each in schedulers:
        each.close()


def ended_runs(runs, timeout=PATIENCE_SECONDS):
    for run in runs:
        assert run.join(timeout), f"run {run.id} did not end"


def events_of(run):
    return [(event.event, event.data) for event in run.log.since(0)]


def test_runs_taking_turns_publish_exactly_the_events_of_runs_in_threads_of_their_own(scheduler):
    run_config = parse_config({"model": {"hidden": [{"units": 6}, {"units": 4}]},
                               "training": {"epochs": 12, "batch_size": 32, "boundary_every": 3}})
    alone = [new_run(f"alone-{n}", run_config, Trainer) for n in range(3)]
    for run in alone:
        run._execute()
    shared = scheduler(slice_work=2_000)  # several slices in every epoch
    together = [new_run(f"together-{n}", run_config, Trainer) for n in range(3)]
    for run in together:
        shared.start(run)
    ended_runs(together)

    def timeless(events):  # metrics and done say how long the run has taken
        return [(name, {key: value for key, value in json.loads(data).items() if key != "elapsed_s"})
                for name, data in events]

    assert all(timeless(events_of(run)) == timeless(events_of(alone[0])) for run in alone + together)
    assert [run.status for run in together] == ["done"] * 3
    assert shared.runs == 0


def test_runs_started_together_each_show_their_first_event_before_any_trains(scheduler):
    order = []
    release = threading.Event()

    def recording(name):
        def factory(run_config):
            if name == "blocker":  # holds the thread until every other run has been started
                release.wait(PATIENCE_SECONDS)
            trainer = FakeTrainer(run_config)
            pulled = trainer.events

            def events():
                for event in pulled():
                    order.append((name, event["event"], trainer.epochs_completed))
                    yield event
            trainer.events = events
            return trainer
        return factory

    shared = scheduler()
    shared.start(new_run("blocker", config(epochs=2), recording("blocker")))
    runs = [new_run(f"run-{n}", config(epochs=2), recording(f"run-{n}")) for n in range(4)]
    for run in runs:
        shared.start(run)
    release.set()
    ended_runs(runs)
    started = [(index, event, epochs) for index, (name, event, epochs) in enumerate(order)
               if name != "blocker"]
    first_trained = min(index for index, _, epochs in started if epochs)
    configs = [index for index, event, _ in started if event == "config"]
    assert len(configs) == 4 and max(configs) < first_trained, order


def test_a_run_ends_with_on_end_called_once_in_the_schedulers_thread(scheduler):
    ended = []
    shared = scheduler()
    run = new_run("one", config(epochs=3))
    shared.start(run, lambda: ended.append(threading.current_thread().name))
    ended_runs([run])
    wait_until(lambda: ended, "on_end")
    assert ended == ["test-runs"]


def test_a_turn_off_the_core_is_not_charged_to_its_run(scheduler):
    """A worker shares its cores with the web tier: a turn during which the host ran another
    process (here, a turn asleep) took time on the wall but none on the core.  Charged by the wall,
    that run then waited until every other had used as much: with fifty runs, seconds."""
    stalled_factory, stalled_trainers = recording(partial(FakeTrainer, slow_epochs={1: 0.3}))
    steady_factory, steady_trainers = recording()
    shared = scheduler()
    stalled = new_run("stalled", config(epochs=3), stalled_factory)
    steady = new_run("steady", config(epochs=300), steady_factory)
    shared.start(stalled)
    shared.start(steady)
    ended_runs([stalled, steady])
    # The stalled run's next epochs come among the steady run's, not after all 300 of them.
    assert stalled_trainers[0].computed_at[3] < steady_trainers[0].computed_at[300]


@pytest.mark.parametrize("epochs_per_second, waited", [(10, True), (None, False)])
def test_a_paced_run_through_its_gate_without_waiting_is_served_as_one_back_from_waiting(
        scheduler, epochs_per_second, waited):
    """A paced run behind its schedule (here, after a slow epoch) passes its gates without a timer.
    It goes no later than the least served, as a run back from its timer does: else the runs on
    schedule always went first, and on a busy worker the ones behind stayed behind.  A run trained
    as fast as it can is not helped so: it has an epoch due all the time."""
    shared = scheduler()
    record = []
    want = shared._turns.want
    shared._turns.want = lambda key, waited=False: (record.append(("want", waited)), want(key, waited))[1]
    run = new_run("run", config(epochs=4, epochs_per_second=epochs_per_second),
                  partial(FakeTrainer, slow_epochs={2: 0.3}))
    pass_gate = run.pass_gate
    run.pass_gate = lambda epochs: (due := pass_gate(epochs), record.append(("gate", due)))[0]
    shared.start(run)
    ended_runs([run])
    after_open_gates = [record[n + 1] for n, entry in enumerate(record[:-1]) if entry == ("gate", None)]
    assert len(after_open_gates) >= 2  # its first gate, and the one after its slow epoch
    assert after_open_gates == [("want", waited)] * len(after_open_gates)


def test_a_paced_run_waits_for_its_timer_instead_of_taking_turns(scheduler):
    clock = CountingClock()
    shared = scheduler(clock=clock)
    run = new_run("paced", config(epochs=6, epochs_per_second=20))
    shared.start(run)
    ended_runs([run])
    events = len(run.log.since(0))
    # A turn per event and a look at each of the five gates that made it wait, then one that let it
    # through: a scheduler that asked the gate again and again would have taken thousands.
    assert clock.turns <= events + 2 * 5 + 1


def test_a_paused_run_takes_no_turns_until_a_control_wakes_it(scheduler):
    clock = CountingClock()
    shared = scheduler(clock=clock)
    run = new_run("paused", config(epochs=50))
    run.control("pause")
    shared.start(run)
    wait_until(lambda: run.log.last_id >= 1, "the config event")  # then it waits at epoch 1's gate
    turns = clock.turns
    stuck_at = run.log.last_id
    other = new_run("other", config(epochs=20))
    shared.start(other)  # the thread keeps working for others while the paused run is parked
    ended_runs([other])
    assert run.log.last_id == stuck_at
    busy = clock.turns
    assert busy - turns <= len(other.log.since(0)) + 3  # the other's turns, and at most a look at the gate
    run.control("step")
    wait_until(lambda: run.log.last_id > stuck_at, "a step")
    run.control("resume")
    ended_runs([run])
    assert run.status == "done"


def test_a_stop_wakes_a_run_that_waits_long_for_its_timer(scheduler):
    shared = scheduler()
    run = new_run("slow", config(epochs=5, epochs_per_second=0.01))  # 100 s per epoch
    shared.start(run)
    wait_until(lambda: run.log.last_id >= 2, "the first epoch")
    run.stop("requested")
    assert run.join(PATIENCE_SECONDS / 2)  # long before the next epoch was due
    assert run.status == "stopped"


def test_a_run_asked_to_stop_takes_its_turns_first():
    turns = FairTurns()
    for key in ("a", "b", "c"):
        turns.want(key)
    turns.charge("a", 1.0)
    turns.charge("c", 5.0)
    turns.hurry("c")
    assert [turns.take(), turns.take(), turns.take(), turns.take()] == ["c", "b", "a", None]


@pytest.mark.parametrize("waited", [False, True])  # asked again after its turn, or back from waiting
def test_a_run_waiting_again_after_a_long_pause_gets_only_a_little_credit(waited):
    turns = FairTurns(wake_credit=0.5)
    turns.want("busy")
    turns.want("idle")
    assert turns.take() == "busy"  # the first to ask, at equal time used
    assert turns.take() == "idle"  # then idle stops waiting (paused) while busy trains on
    for _ in range(10):
        turns.want("busy")
        assert turns.take() == "busy"
        turns.charge("busy", 1.0)
    turns.want("busy")
    turns.want("idle", waited=waited)  # back: 0.5 s ahead of the least used (9 s at busy's last turn)
    order = []
    for _ in range(6):
        key = turns.take()
        order.append(key)
        turns.charge(key, 0.4)
        turns.want(key)
    assert order == ["idle"] * 4 + ["busy", "idle"]  # 8.5 s + 4 x 0.4 s passes busy's 10 s


def test_a_run_back_from_waiting_goes_no_later_than_the_least_served():
    turns = FairTurns(wake_credit=0.05)
    for key in ("old", "young", "busy"):
        turns.want(key)
    for key, seconds in (("old", 0.030), ("young", 0.002), ("busy", 0.010)):  # old has trained longest
        assert turns.take() == key
        turns.charge(key, seconds)
    turns.want("young")
    turns.want("busy")
    assert turns.take() == "young"  # the least served
    turns.charge("young", 0.001)
    turns.want("young")
    turns.want("old", waited=True)  # back from its timer, due now
    # Behind both by its total time, it would go last at every turn of a busy thread and fall behind
    # its pace; back from waiting it goes as the least served one (0.002 s) would.
    assert [turns.take(), turns.take(), turns.take()] == ["old", "young", "busy"]


def test_a_closed_scheduler_refuses_runs_and_its_thread_ends():
    shared = RunScheduler("closing")
    shared.close()
    with pytest.raises(RuntimeError):
        shared.start(new_run("late", config()))
    assert not any(thread.name == "closing" for thread in threading.enumerate())
