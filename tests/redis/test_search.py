"""Search trials on the Redis workers: spread over the pool, stopped through Redis, failed with a worker."""

from __future__ import annotations

import time
from concurrent.futures import wait
from functools import partial

from server.search.redis_executor import RedisTrialExecutor
from tests.redis.processes import kill, redis_environment, started, worker_command
from tests.search import trials
from tests.waiting import wait_until

TASK = {"config": {"optimizer": {"learning_rate": 0.01}, "training": {"epochs": 3}}, "max_seconds": 60}


def tagged(name: str, task: dict, should_stop) -> dict:
    """``peaked``, saying which worker ran it, after a pause long enough for the others to take some."""
    time.sleep(0.05)
    return {**trials.peaked(task, should_stop), "worker": name}


def test_trials_spread_over_every_worker_and_resolve_their_futures(backend):
    for name in ("a", "b"):
        backend.worker(trial_function=partial(tagged, name), concurrency=2)
    executor = RedisTrialExecutor(4, store=backend.store)
    futures = [executor.submit(TASK) for _ in range(8)]
    done, _ = wait(futures, timeout=30)
    executor.shutdown()
    outcomes = [future.result() for future in futures]
    assert len(done) == 8 and all(outcome["status"] == "completed" for outcome in outcomes)
    assert {outcome["worker"] for outcome in outcomes} == {"a", "b"}
    assert outcomes[0]["dev_accuracy"] == trials.peaked(TASK, lambda: False)["dev_accuracy"]


def test_cancel_stops_running_trials_and_drops_queued_ones(backend):
    backend.worker(trial_function=trials.until_stopped, concurrency=2)
    executor = RedisTrialExecutor(2, store=backend.store)
    futures = [executor.submit(TASK) for _ in range(4)]
    wait_until(lambda: sum(future.running() for future in futures) == 2, "two trials running")
    executor.cancel()
    wait(futures, timeout=30)
    running, queued = futures[:2], futures[2:]
    assert all(future.result()["status"] == "stopped" for future in running)
    assert all(future.cancelled() for future in queued)
    assert executor.reset() and executor.submit(TASK)  # a reset executor takes trials again
    executor.shutdown(kill=True)


def test_a_search_through_the_api_runs_its_trials_on_the_workers(backend):
    backend.worker(trial_function=trials.peaked)
    client = backend.app().test_client()
    rate = {"distribution": "log_uniform", "low": 1e-4, "high": 1}
    definition = {"space": {"optimizer.learning_rate": rate}, "trials": 6, "workers": 2}
    response = client.post("/api/searches", json=definition)
    assert response.status_code == 201, response.json
    search = client.application.extensions["search_manager"].get(response.json["id"])
    search.join(30)
    status = client.get(response.json["status_url"]).json
    assert status["status"] == "done"
    assert [trial["status"] for trial in status["trials"]] == ["completed"] * 6


def test_a_trial_whose_worker_is_killed_is_failed(backend):
    env = redis_environment(backend.url, backend.prefix)
    backend.app()  # its janitor notices the dead worker
    long_trial = {"config": {"data": {"n_samples": 100}, "training": {"epochs": 10000}}, "max_seconds": 600}
    executor = RedisTrialExecutor(1, store=backend.store)
    with started(worker_command(), env) as worker:
        future = executor.submit(long_trial)
        wait_until(future.running, "the trial started in the worker")
        kill(worker)
    outcome = future.result(timeout=30)
    executor.shutdown()
    assert outcome == {"status": "failed", "message": "the trial's worker stopped responding"}
