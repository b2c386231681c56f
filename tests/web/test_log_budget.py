"""The memory of all event logs together, and of each client's, is bounded; late readers get a gap."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server.engine.config import parse_config
from server.limits import RuntimeLimits
from server.runs import InProcessRunManager
from server.runs.events import EVENT_OVERHEAD_BYTES, EventLog, LogBudget
from tests.waiting import PATIENCE_SECONDS
from tests.web.fakes import FakeTrainer

EPOCHS = 20  # a run logs config, 20 metrics and done


@pytest.fixture
def make_manager():
    managers = []

    def factory(**budget):
        limits = replace(RuntimeLimits(), max_runs_per_client=100, max_concurrent_runs=100)
        manager = InProcessRunManager(FakeTrainer, limits, **budget)
        managers.append(manager)
        return manager

    yield factory
    for manager in managers:
        manager.shutdown(timeout=5.0)


def run_to_the_end(manager, client: str, epochs: int = EPOCHS) -> str:
    config = parse_config({"training": {"epochs": epochs, "boundary_every": 0}})
    run_id = manager.start(config, client)["id"]
    # The run's thread is done with it once its last event is logged and the logs are fitted.
    assert manager._runs[run_id].join(PATIENCE_SECONDS), "the run did not end"
    return run_id


def replay(manager, run_id: str) -> list[str]:
    return [event.event for event in manager.events_since(run_id, 0, 0.0)]


def logged_bytes(manager) -> int:
    return sum(run.log.memory_bytes for run in manager._runs.values())


def test_a_log_knows_its_memory_and_reports_every_change():
    changes = []
    log = EventLog(100, 10**6, on_resize=changes.append)
    for index in range(10):
        log.append("config" if index == 0 else "metrics", {"i": index})
    assert log.memory_bytes == sum(len(f'{{"i":{i}}}') for i in range(10)) + 10 * EVENT_OVERHEAD_BYTES
    assert sum(changes) == log.memory_bytes
    assert log.trim(1) == len('{"i":1}') + EVENT_OVERHEAD_BYTES  # one event: the oldest after the first
    assert [event.id for event in log.since(0)] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert [event.event for event in log.since(0)][:2] == ["config", "gap"]
    log.trim(10**6)
    assert [(event.event, event.id) for event in log.since(0)] == [("config", 1), ("gap", 9), ("metrics", 10)]
    assert sum(changes) == log.memory_bytes == 2 * (len('{"i":0}') + EVENT_OVERHEAD_BYTES)
    assert log.trim(10**6) == 0  # the first and the latest always stay


def test_the_budget_adds_up_per_client_and_in_total():
    budget = LogBudget(total=100, per_client=60)
    budget.charge("a", 70)
    budget.charge("b", 40)
    assert (budget.excess(), budget.excess("a"), budget.excess("b")) == (10, 10, 0)
    budget.charge("a", -70)
    assert (budget.used, budget.used_by("a"), budget.excess()) == (40, 0, 0)


def test_the_oldest_finished_logs_are_trimmed_first_to_keep_the_total(make_manager):
    manager = make_manager()
    first = run_to_the_end(manager, "a")
    one_run = manager._runs[first].log.memory_bytes
    manager.log_budget.total = int(2.5 * one_run)
    second, third = run_to_the_end(manager, "b"), run_to_the_end(manager, "c")
    assert manager.log_budget.used == logged_bytes(manager) <= manager.log_budget.total
    late = replay(manager, first)
    assert late[:2] == ["config", "gap"] and late[-1] == "done"
    whole = ["config"] + ["metrics"] * EPOCHS + ["done"]
    assert replay(manager, second) == replay(manager, third) == whole


def test_a_live_run_alone_over_the_budget_loses_its_oldest_events(make_manager):
    manager = make_manager(max_total_log_bytes=30 * (EVENT_OVERHEAD_BYTES + 250))
    run_id = run_to_the_end(manager, "a", epochs=300)
    log = manager._runs[run_id].log
    assert log.memory_bytes <= manager.log_budget.total and log.dropped > 200
    late = manager.events_since(run_id, 0, 0.0)
    assert [event.event for event in late][:2] == ["config", "gap"] and late[-1].event == "done"
    gap = late[1]
    assert gap.id == late[2].id - 1 and f'"count":{gap.id - 1}' in gap.data


def test_a_client_over_its_share_trims_its_own_logs_not_older_ones_of_others(make_manager):
    manager = make_manager()
    other = run_to_the_end(manager, "b")
    one_run = manager._runs[other].log.memory_bytes
    manager.log_budget.per_client = int(1.5 * one_run)
    mine = [run_to_the_end(manager, "a") for _ in range(3)]
    assert manager.log_budget.used_by("a") <= manager.log_budget.per_client
    whole = ["config"] + ["metrics"] * EPOCHS + ["done"]
    assert replay(manager, other) == whole  # finished before every one of a's, yet untouched
    assert replay(manager, mine[0])[:2] == ["config", "gap"]
    assert replay(manager, mine[-1]) == whole


def test_a_dropped_run_gives_back_its_share(make_manager):
    manager = make_manager()
    manager.max_retained_runs = 1
    for client in ("a", "b", "c"):
        run_to_the_end(manager, client)
    manager.reap()
    assert len(manager._runs) == 1
    assert manager.log_budget.used == logged_bytes(manager)
    assert manager.log_budget.used_by("a") == manager.log_budget.used_by("b") == 0


def test_the_app_passes_its_budget_to_the_run_manager(make_app):
    app = make_app(MAX_LOG_BYTES_TOTAL=5_000_000, MAX_LOG_BYTES_PER_CLIENT=1_000_000)
    budget = app.extensions["run_manager"].log_budget
    assert (budget.total, budget.per_client) == (5_000_000, 1_000_000)
