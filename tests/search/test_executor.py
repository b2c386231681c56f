"""Searches on real worker processes (spawned: about a second each, so few and small)."""

from functools import partial

import pytest

from server.limits import RuntimeLimits
from server.search import worker
from server.search.executor import ProcessPoolTrialExecutor
from server.search.limits import SearchLimits
from server.search.manager import SearchManager
from tests.search import trials
from tests.search.support import RATE, done_event, stop_and_wait, stopped_by_their_own_check, wait_for_running


@pytest.fixture
def process_manager():
    managers = []

    def build(trial_function, **search_limits):
        managers.append(SearchManager(RuntimeLimits(), SearchLimits(**search_limits),
                                      partial(ProcessPoolTrialExecutor, trial_function=trial_function,
                                              preload=())))
        return managers[-1]

    yield build
    for manager in managers:
        manager.shutdown()


def test_workers_pin_blas_to_one_thread_before_numpy_loads():
    executor = ProcessPoolTrialExecutor(1, worker.worker_info)
    try:
        info = executor.submit({}).result(timeout=30)
    finally:
        executor.shutdown()
    assert info["numpy_preloaded"] is False
    assert info["numpy_loaded"] is True  # the engine was preloaded, after the pinning
    assert set(info["blas_threads"].values()) == {"1"}


def test_a_failing_trial_in_a_process_leaves_the_others_running(process_manager):
    search = process_manager(trials.fails_when_hot).create(
        {"space": {"optimizer.learning_rate": RATE}, "trials": 6, "workers": 2, "seed": 1})
    search.join(30)
    statuses = {t["index"]: t["status"] for t in search.snapshot()["trials"]}
    assert sorted(statuses) == list(range(6))
    assert set(statuses.values()) == {"failed", "completed"}
    assert done_event(search)["reason"] == "completed"


def test_a_worker_that_dies_fails_its_trial_only(process_manager):
    search = process_manager(trials.exits_when_hot).create(
        {"space": {"optimizer.learning_rate": RATE}, "trials": 6, "workers": 1, "seed": 1})
    search.join(60)
    records = search.snapshot()["trials"]
    died = [t for t in records if t["config"]["optimizer.learning_rate"] > 0.1]
    assert died and all(t["status"] == "failed" for t in died)
    assert all(t["message"].startswith("the trial's process failed: BrokenProcessPool") for t in died)
    assert all(t["status"] == "completed" for t in records if t not in died)
    assert len(records) == 6


def test_stop_reaches_trials_running_in_other_processes(process_manager):
    search = process_manager(trials.until_stopped).create(
        {"space": {"optimizer.learning_rate": RATE}, "trials": 5, "workers": 2})
    wait_for_running(search, 2)
    stop_and_wait(search)
    assert stopped_by_their_own_check(search)
    done = done_event(search)
    assert done["reason"] == "stopped"
    assert done["counts"] == {"stopped": 2} and done["cancelled"] == 3


def test_trials_that_ignore_the_stop_flag_are_terminated(process_manager):
    search = process_manager(trials.ignores_stop, stop_grace_seconds=0.5).create(
        {"space": {"optimizer.learning_rate": RATE}, "trials": 2, "workers": 1})
    wait_for_running(search, 1)
    stop_and_wait(search)  # the trial sleeps 30 s: only terminating its worker ends it sooner
    (trial,) = search.snapshot()["trials"]
    assert trial["status"] == "stopped"
    assert trial["message"] == "terminated: still running 0.5 s after the search was stopped"


def test_the_next_search_reuses_the_warm_worker_processes(process_manager):
    searches = process_manager(worker.worker_info)
    pids = []
    for _ in range(2):
        search = searches.create({"space": {"optimizer.learning_rate": RATE}, "trials": 1, "workers": 1})
        search.join(30)
        (trial,) = search.snapshot()["trials"]
        pids.append(trial["pid"])
    assert pids[0] == pids[1]


def test_a_real_search_trains_in_worker_processes():
    manager = SearchManager(RuntimeLimits(), SearchLimits(), ProcessPoolTrialExecutor)
    try:
        base = {"data": {"dataset": "moons", "n_samples": 200}, "training": {"epochs": 10}}
        search = manager.create({"base": base, "space": {"optimizer.learning_rate": RATE},
                                 "trials": 4, "workers": 2})
        search.join(60)
    finally:
        manager.shutdown()
    snapshot = search.snapshot()
    assert snapshot["reason"] == "completed"
    assert {t["epochs_run"] for t in snapshot["trials"] if t["status"] == "completed"} == {10}
    assert snapshot["best"]["dev_accuracy"] == max(
        t["dev_accuracy"] for t in snapshot["trials"] if t["status"] == "completed")
