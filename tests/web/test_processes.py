"""Runs trained in host processes: same events as a local trainer, live control, a host that dies."""

from __future__ import annotations

import json
import os
import signal

import pytest

from server import create_app
from server.engine import Trainer
from server.engine.config import parse_config
from server.runs.events import to_json
from server.runs.processes import HOST_GONE, HOST_NICENESS, TrainerProcessPool
from tests.web.conftest import FAST_STREAMS
from tests.web.sse_client import StreamReader

SMALL = {"seed": 5, "data": {"dataset": "circles", "n_samples": 100},
         "training": {"epochs": 6, "batch_size": 25, "boundary_every": 3}}


def streamed_data(event):
    """An event's data as the stream carries it (strict JSON), whether encoded by a host or not."""
    return json.loads(event["data_json"] if "data_json" in event else to_json(event["data"]))


def comparable(events):
    """Events as streamed, without their timing fields."""
    return [(event["event"], {key: value for key, value in streamed_data(event).items()
                              if key != "elapsed_s"})
            for event in events]


@pytest.fixture(scope="module")
def pool():
    pool = TrainerProcessPool(1)
    assert pool.start(timeout=60)
    yield pool
    pool.shutdown()


def test_a_hosted_trainer_yields_what_a_local_one_does(pool):
    config = parse_config(SMALL)
    remote = pool.trainer(config)
    hosted = list(remote.events())
    assert comparable(hosted) == comparable(list(Trainer(config).events()))
    assert remote.epochs_completed == 6


def test_hosted_trainers_are_released_whether_or_not_they_ran(pool):
    unused = pool.trainer(parse_config(SMALL))
    finished = pool.trainer(parse_config(SMALL))
    assert pool.open_trainers() == 2
    list(finished.events())
    unused.close()
    unused.close()
    assert pool.open_trainers() == 0


def test_gradient_checks_run_in_a_host(pool):
    result = pool.gradient_check(SMALL, inject_bug=True)
    assert result["verdict"] == "wrong" and result["layers"]
    with pytest.raises(RuntimeError):
        pool.gradient_check({"colour": "red"})
    assert pool.open_trainers() == 0


def test_updates_and_stop_reach_the_hosted_trainer(pool):
    remote = pool.trainer(parse_config({**SMALL, "training": {"epochs": 500}}))
    events = remote.events()
    names = []
    for event in events:
        names.append(event["event"])
        if event["event"] == "metrics" and streamed_data(event)["epoch"] == 2:
            remote.request_update({"optimizer": {"learning_rate": 0.2}})
        if event["event"] == "update":
            assert remote.config.optimizer.learning_rate == 0.2
            remote.request_stop()
    assert "update" in names and event["event"] == "done"
    assert streamed_data(event)["reason"] == "stopped"


def test_the_app_streams_runs_trained_in_host_processes(pool):
    app = create_app({"TESTING": True, "TRAINER_FACTORY": pool.trainer, **FAST_STREAMS})
    try:
        client = app.test_client()
        response = client.post("/api/runs", json=SMALL)
        assert response.status_code == 201
        reader = StreamReader(client.get(response.get_json()["events_url"]))
        messages = reader.events()
        reader.close()
        assert messages[0].event == "config" and messages[-1].data["reason"] == "completed"
    finally:
        app.extensions["run_manager"].shutdown()


def test_the_gradcheck_route_uses_the_hosts_when_the_app_has_them(make_app):
    calls = []

    class RecordingPool:
        def gradient_check(self, config, **options):
            calls.append((config["seed"], options))
            return {"difference": 0.0, "verdict": "great", "layers": []}

    app = make_app()
    app.extensions["trainer_pool"] = RecordingPool()
    response = app.test_client().post("/api/gradcheck", json={"config": SMALL, "inject_bug": True})
    assert response.status_code == 200 and response.get_json()["verdict"] == "great"
    assert calls == [(5, {"epsilon": 1e-7, "inject_bug": True})]


def test_run_processes_chooses_how_runs_are_trained():
    hosted = create_app({"TESTING": True, "RUN_PROCESSES": 2})
    threaded = create_app({"TESTING": True})
    try:
        pool = hosted.extensions["trainer_pool"]
        assert pool.processes == 2 and pool.host_pids() == []  # hosts start on first use
        assert "trainer_pool" not in threaded.extensions
    finally:
        for app in (hosted, threaded):
            app.extensions["run_manager"].shutdown()
        hosted.extensions["trainer_pool"].shutdown()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="process priorities are a POSIX feature")
def test_hosts_train_at_a_lower_priority_than_the_web_process(pool):
    own = os.getpriority(os.PRIO_PROCESS, 0)
    for pid in pool.host_pids():
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(own + HOST_NICENESS, 19)


def test_a_host_that_dies_ends_its_runs_with_an_error_and_is_replaced(pool):
    """Last in this module: it kills the shared pool's host."""
    remote = pool.trainer(parse_config({**SMALL, "training": {"epochs": 500}}))
    events = remote.events()
    assert next(events)["event"] == "config"
    os.kill(pool.host_pids()[0], signal.SIGKILL)
    with pytest.raises(RuntimeError, match=HOST_GONE):
        for _ in events:
            pass
    replacement = pool.trainer(parse_config(SMALL))
    assert [event["event"] for event in replacement.events()][-1] == "done"
