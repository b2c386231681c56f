"""The search manager with trials on threads (fast); process pools are in test_executor.py."""

import math
from functools import partial

import pytest

from server.limits import RuntimeLimits
from server.search.executor import ThreadTrialExecutor, WarmExecutors
from server.search.limits import SearchLimits
from server.search.manager import NoFinishedTrialError, SearchCapacityError, SearchManager
from tests.search import trials
from tests.search.support import (
    RATE,
    done_event,
    logged_events,
    stop_and_wait,
    stopped_by_their_own_check,
    wait_for_running,
)
from tests.waiting import wait_until


def make_manager(trial_function=trials.peaked, **limits) -> SearchManager:
    runtime = RuntimeLimits(**{k: v for k, v in limits.items() if hasattr(RuntimeLimits, k)})
    search = SearchLimits(**{k: v for k, v in limits.items() if hasattr(SearchLimits, k)})
    return SearchManager(runtime, search, partial(ThreadTrialExecutor, trial_function=trial_function))


@pytest.fixture
def manager():
    managers = []

    def build(trial_function=trials.peaked, **limits):
        managers.append(make_manager(trial_function, **limits))
        return managers[-1]

    yield build
    for item in managers:
        item.shutdown()


def test_a_search_streams_search_trials_best_and_done(manager):
    search = manager().create({"space": {"optimizer.learning_rate": RATE}, "trials": 8, "workers": 2})
    search.join(5)
    log = logged_events(search)
    assert [event_id for event_id, _, _ in log] == list(range(1, len(log) + 1))
    names = [name for _, name, _ in log]
    assert names[0] == "search" and names[-1] == "done"
    assert names.count("trial") == 16  # started and finished
    first = log[0][2]
    assert first["planned_trials"] == 8 and first["workers"] == 2 and first["parent"] is None
    assert first["definition"]["space"] == {"optimizer.learning_rate": RATE}

    finished = [d for _, name, d in log if name == "trial" and d["status"] != "running"]
    assert sorted(d["index"] for d in finished) == list(range(8))
    assert all(set(d) >= {"index", "config", "status", "dev_accuracy", "dev_loss", "epochs_run", "elapsed_s"}
               for d in finished)
    # A best event each time the best so far improves, and only then.
    bests = [d for _, name, d in log if name == "best"]
    values = [d["value"] for d in bests]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert bests[-1]["value"] == max(d["dev_accuracy"] for d in finished)
    best = bests[-1]
    assert best["run_config"]["optimizer"]["learning_rate"] == best["config"]["optimizer.learning_rate"]

    done = log[-1][2]
    assert done["reason"] == "completed"
    assert done["counts"] == {"completed": 8} and done["cancelled"] == 0
    assert done["best"]["index"] == bests[-1]["index"]
    assert search.snapshot()["best"]["index"] == bests[-1]["index"]


def test_the_best_dev_loss_is_the_lowest(manager):
    search = manager().create({"space": {"optimizer.learning_rate": RATE}, "trials": 6,
                               "objective": "dev_loss"})
    search.join(5)
    trials_ = search.snapshot()["trials"]
    assert search.snapshot()["best"]["value"] == min(t["dev_loss"] for t in trials_)


def test_a_failing_trial_is_recorded_and_the_search_goes_on(manager):
    search = manager(trials.fails_when_hot).create(
        {"space": {"optimizer.learning_rate": RATE}, "trials": 12, "seed": 1})
    search.join(5)
    snapshot = search.snapshot()
    failed = [t for t in snapshot["trials"] if t["status"] == "failed"]
    completed = [t for t in snapshot["trials"] if t["status"] == "completed"]
    assert failed and completed and len(failed) + len(completed) == 12
    for trial in failed:
        rate = trial["config"]["optimizer.learning_rate"]
        assert rate > 0.1
        assert trial["message"] == f"FloatingPointError: overflow at learning rate {rate:.3g}"
        assert trial["dev_accuracy"] is None
    assert snapshot["status"] == "done" and snapshot["reason"] == "completed"
    assert snapshot["best"]["status"] == "completed"


def test_stop_cancels_pending_trials_and_stops_running_ones(manager):
    search = manager(trials.until_stopped).create(
        {"space": {"optimizer.learning_rate": RATE}, "trials": 6, "workers": 2})
    wait_for_running(search, 2)
    stop_and_wait(search)
    assert stopped_by_their_own_check(search)
    done = done_event(search)
    assert done["reason"] == "stopped"
    assert done["counts"] == {"stopped": 2}
    assert done["cancelled"] == 4 and done["trials_run"] == 2
    assert done["best"] is None


def test_a_search_stops_at_its_time_limit(manager):
    search = manager(trials.until_stopped, max_search_seconds=0.3).create(
        {"space": {"optimizer.learning_rate": RATE}, "trials": 4, "workers": 1})
    search.join(5)
    done = done_event(search)
    assert done["reason"] == "time_limit"
    assert done["message"] == "the search ran past its 0.3 s limit"


def test_zoom_narrows_around_the_best_trials(manager):
    searches = manager()
    search = searches.create({"space": {"optimizer.learning_rate": RATE,
                                        "optimizer.name": {"distribution": "choice",
                                                           "values": ["adam", "momentum", "gd"]}},
                              "trials": 12, "seed": 2})
    search.join(5)
    ranked = search.ranked_trials()
    zoomed = searches.zoom(search, 3)
    zoomed.join(5)
    top = [t["config"]["optimizer.learning_rate"] for t in ranked[:3]]
    rate = zoomed.definition.space["optimizer.learning_rate"]
    assert rate.low <= min(top) and max(top) <= rate.high
    assert math.log10(rate.high / rate.low) < math.log10(1.0 / 1e-4)
    top_names = {t["config"]["optimizer.name"] for t in ranked[:3]}
    assert set(zoomed.definition.space["optimizer.name"].values) == top_names
    assert zoomed.parent == {"id": search.id, "top_k": 3, "trials": [t["index"] for t in ranked[:3]]}
    assert zoomed.definition.trials == 12 and zoomed.definition.base == search.definition.base
    # Coarse to fine: the zoomed search finds at least as good a trial.
    assert zoomed.ranked_trials()[0]["dev_accuracy"] >= ranked[0]["dev_accuracy"] - 0.05


def test_zoom_needs_a_finished_trial(manager):
    searches = manager(trials.until_stopped)
    search = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 2})
    with pytest.raises(NoFinishedTrialError):
        searches.zoom(search, 3)


def test_searches_beyond_the_limit_are_refused_until_one_ends(manager):
    searches = manager(trials.until_stopped, max_concurrent_searches=1)
    first = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 2})
    with pytest.raises(SearchCapacityError) as raised:
        searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 2})
    assert raised.value.retry_after > 0
    first.stop()
    first.join(5)
    searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 2}).stop()


def test_finished_searches_are_forgotten_after_the_retention_time(manager):
    searches = manager(finished_retention_seconds=0.0)
    first = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 1})
    first.join(5)
    assert searches.get(first.id) is first
    searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 1}).join(5)
    assert searches.get(first.id) is None


def test_a_late_reader_gets_every_event_after_its_last_id(manager):
    search = manager().create({"space": {"optimizer.learning_rate": RATE}, "trials": 3})
    search.join(5)
    log = logged_events(search)
    assert [e.id for e in search.events_after(4, 0)] == [event_id for event_id, _, _ in log[4:]]
    assert search.events_after(log[-1][0], 0.01) == []


def test_a_finished_search_leaves_its_executor_warm_for_the_next():
    created = []

    def factory(workers):
        created.append(ThreadTrialExecutor(workers, trials.peaked))
        return created[-1]

    searches = SearchManager(RuntimeLimits(), SearchLimits(), factory)
    try:
        for _ in range(3):
            searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 2, "workers": 2}).join(5)
        searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 2, "workers": 1}).join(5)
    finally:
        searches.shutdown()
    assert [executor.workers for executor in created] == [2, 1]


def test_a_stopped_search_leaves_a_reusable_executor(manager):
    searches = manager(trials.until_stopped)
    first = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 3, "workers": 1})
    wait_for_running(first, 1)
    stop_and_wait(first)
    second = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 3, "workers": 1})
    wait_for_running(second, 1)  # the stop flag was cleared: the trial runs
    assert second.snapshot()["trials"][0]["status"] == "running"
    stop_and_wait(second)


def test_prewarming_starts_one_executor_that_the_next_search_uses():
    created = []

    def factory(workers):
        created.append(ThreadTrialExecutor(workers, trials.peaked))
        return created[-1]

    executors = WarmExecutors(factory, max_idle=2)
    executors.prewarm(2)
    executors.prewarm(2)  # already starting: no second one
    wait_until(lambda: executors.idle() == [2], "one idle executor of two workers")
    executors.prewarm(2)  # one is idle: nothing to do
    assert executors.acquire(2) is created[0]
    assert len(created) == 1
    executors.release(created[0])
    executors.shutdown()


def test_stopping_a_finished_search_leaves_the_next_search_alone(manager):
    searches = manager()
    first = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 2, "workers": 1})
    first.join(5)
    second = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 4, "workers": 1})
    first.stop()  # late: the executor now serves the second search
    second.join(5)
    assert done_event(second)["counts"] == {"completed": 4}
    first.stop()
    third = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 2, "workers": 1})
    third.join(5)
    assert done_event(third)["counts"] == {"completed": 2}


def test_among_ties_the_named_best_ranks_first(manager):
    searches = manager(trials.flat)
    search = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 6, "workers": 2})
    search.join(5)
    best = search.snapshot()["best"]
    assert search.ranked_trials()[0]["index"] == best["index"]
    zoomed = searches.zoom(search, 1)
    assert zoomed.parent["trials"] == [best["index"]]
    zoomed.join(5)
