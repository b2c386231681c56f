"""Runs trained in host processes: same events as a local trainer, live control, a host that dies."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from server import create_app
from server.engine import Trainer
from server.engine.config import parse_config
from server.runs.events import to_json
from server.runs.processes import CHECKER_NICENESS, HOST_GONE, HOST_NICENESS, HostGone, TrainerProcessPool
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
    pool = TrainerProcessPool(1, slice_work=1)  # every slice is one mini-batch step
    assert pool.start(timeout=60)
    yield pool
    pool.shutdown()


def test_a_hosted_trainer_yields_what_a_local_one_does(pool):
    config = parse_config(SMALL)
    remote = pool.trainer(config)
    hosted = list(remote.events())
    assert comparable(hosted) == comparable(list(Trainer(config).events()))
    assert remote.epochs_completed == 6


def test_the_host_trains_in_slices_of_one_step_and_says_how_many(pool):
    remote = pool.trainer(parse_config(SMALL))  # 60 training examples in batches of 25: three steps
    reported = [(streamed_data(event)["epoch"], remote.slices) for event in remote.events()
                if event["event"] == "metrics"]
    assert reported == [(epoch, 2 * epoch) for epoch in range(7)]  # a turn given up after steps 1 and 2


def test_a_stop_sent_while_an_epoch_is_asked_for_ends_the_run_inside_that_epoch(pool):
    # 3,000 training examples at batch size 1: a host that finished the epoch first would report
    # epoch 1 and 3,000 steps; one that honours the stop at its next slice reports epoch 0.
    heavy = {**SMALL, "data": {"dataset": "circles", "n_samples": 5000},
             "training": {"epochs": 2, "batch_size": 1, "boundary_every": 0}}
    remote = pool.trainer(parse_config(heavy))
    events = remote.events()
    assert [next(events)["event"] for _ in range(2)] == ["config", "metrics"]
    rest = []
    puller = threading.Thread(target=lambda: rest.extend(events))
    puller.start()
    remote.request_stop()
    puller.join(60)
    done = streamed_data(rest[-1])
    assert done["reason"] == "stopped" and done["epoch"] == 0 and done["iteration"] < 3000


def test_gradient_checks_have_their_own_process_and_answer_while_training_is_frozen(pool):
    (host,) = pool.host_pids()
    (checker,) = pool.checker_pids()
    assert checker != host
    os.kill(host, signal.SIGSTOP)
    try:
        assert pool.gradient_check(SMALL)["verdict"] in ("great", "ok")
    finally:
        os.kill(host, signal.SIGCONT)


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
    for pid in pool.checker_pids():
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(own + CHECKER_NICENESS, 19)


def test_a_host_that_dies_ends_its_runs_with_an_error_and_is_replaced(pool):
    """Last in this module: it kills the shared pool's host."""
    remote = pool.trainer(parse_config({**SMALL, "training": {"epochs": 500}}))
    events = remote.events()
    assert next(events)["event"] == "config"
    os.kill(pool.host_pids()[0], signal.SIGKILL)
    with pytest.raises(HostGone, match=HOST_GONE):
        for _ in events:
            pass
    replacement = pool.trainer(parse_config(SMALL))
    assert [event["event"] for event in replacement.events()][-1] == "done"
