"""Training and checker processes that stop or die: their runs fail with an error, slots free, 503s.

Real host processes, stopped with SIGSTOP or killed with SIGKILL, and a
heartbeat injected fast (pinged every 0.1 s, given up after 1 s of silence)
so each test takes a second or two.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from server import create_app
from server.engine.config import parse_config
from server.runs.processes import HOST_GONE, HOST_UNRESPONSIVE, HostGone, TrainerProcessPool
from tests.waiting import wait_until
from tests.web.api_client import control, start
from tests.web.conftest import FAST_STREAMS

HEARTBEAT = {"heartbeat_interval": 0.1, "heartbeat_timeout": 1.0}
ENDLESS = {"seed": 1, "data": {"n_samples": 100}, "training": {"epochs": 10000, "batch_size": 25}}
PACED = {**ENDLESS, "training": {**ENDLESS["training"], "epochs_per_second": 20}}
# A network large enough that its gradient check (along random directions) takes a while.
SLOW_CHECK = {"data": {"n_samples": 20}, "model": {"hidden": [{"units": 512}] * 3},
              "training": {"boundary_every": 0}}


@pytest.fixture(scope="module")
def shared_pool():
    pool = TrainerProcessPool(1, **HEARTBEAT)
    yield pool
    pool.shutdown()


@pytest.fixture
def pool(shared_pool):
    """The module's pool, every host up (the previous test's replacements included)."""
    assert shared_pool.start(timeout=60)
    return shared_pool


@pytest.fixture
def hosted_app():
    app = create_app({"TESTING": True, "RUN_PROCESSES": 1, "HOST_HEARTBEAT_SECONDS": 0.1,
                      "HOST_HEARTBEAT_TIMEOUT_SECONDS": 1.0, **FAST_STREAMS})
    pool = app.extensions["trainer_pool"]
    assert pool.start(timeout=60)
    yield app
    app.extensions["run_manager"].shutdown()
    pool.shutdown()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stopped_host_fails_its_trainers_is_killed_and_replaced(pool):
    remote = pool.trainer(parse_config(ENDLESS))
    events = remote.events()
    assert next(events)["event"] == "config"
    (frozen,) = pool.host_pids()
    os.kill(frozen, signal.SIGSTOP)
    with pytest.raises(HostGone, match=HOST_UNRESPONSIVE):
        for _ in events:
            pass
    wait_until(lambda: not alive(frozen), "the stopped host to be killed and reaped")
    replacement = wait_until(pool.host_pids, "a replacement host")
    assert replacement != [frozen]
    short = parse_config({**ENDLESS, "training": {"epochs": 2}})
    assert list(pool.trainer(short).events())[-1]["event"] == "done"


def test_silence_counts_from_an_unanswered_ping_so_a_watchdog_held_up_fails_nobody(pool):
    hosts = pool.host_pids() + pool.checker_pids()
    with pool._lock:  # the watchdog can neither ping nor judge: the condition under test
        time.sleep(10 * HEARTBEAT["heartbeat_timeout"])
    time.sleep(5 * HEARTBEAT["heartbeat_interval"])  # a few rounds of pings and answers after it
    assert pool.host_pids() + pool.checker_pids() == hosts and all(alive(pid) for pid in hosts)
    assert pool.revive() == []


def checking_in_a_thread(pool, config):
    outcome = {}

    def check():
        try:
            outcome["result"] = pool.gradient_check(config)
        except Exception as error:  # the test asserts what it was
            outcome["error"] = error

    thread = threading.Thread(target=check)
    thread.start()
    wait_until(lambda: pool.checks_in_progress() == 1 or outcome, "the check to be under way")
    assert not outcome, "the check ended before its process could be lost"
    return thread, outcome


@pytest.mark.parametrize(("fault", "reason"),
                         [(signal.SIGKILL, HOST_GONE), (signal.SIGSTOP, HOST_UNRESPONSIVE)])
def test_a_gradient_check_whose_process_is_lost_raises_host_gone(pool, fault, reason):
    thread, outcome = checking_in_a_thread(pool, SLOW_CHECK)
    (lost,) = pool.checker_pids()
    os.kill(lost, fault)
    thread.join(30)
    assert isinstance(outcome.get("error"), HostGone) and str(outcome["error"]) == reason
    wait_until(lambda: pool.checker_pids() not in ([], [lost]), "a replacement checker")
    assert pool.gradient_check({})["verdict"] in ("great", "ok")


def test_the_gradcheck_route_answers_503_when_its_process_is_lost(hosted_app):
    pool = hosted_app.extensions["trainer_pool"]
    for checker in pool.checker_pids():
        os.kill(checker, signal.SIGSTOP)
    response = hosted_app.test_client().post("/api/gradcheck", json={})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert HOST_UNRESPONSIVE in response.get_json()["error"]


def test_a_paused_run_on_a_killed_host_ends_with_an_error_and_frees_its_slot(hosted_app):
    client = hosted_app.test_client()
    run = start(client, PACED)
    wait_until(lambda: client.get(f"/api/runs/{run['id']}").get_json()["latest"]["epoch"] >= 1, "an epoch")
    control(client, run, "pause")
    wait_until(lambda: client.get(f"/api/runs/{run['id']}").get_json()["status"] == "paused", "the pause")
    os.kill(hosted_app.extensions["trainer_pool"].host_pids()[0], signal.SIGKILL)
    status = wait_until(lambda: (body := client.get(f"/api/runs/{run['id']}").get_json())["status"] == "error"
                        and body, "the paused run to fail")
    assert HOST_GONE in status["latest"]["error"]["message"]
    assert client.get("/healthz").get_json()["runs"] == 0


def test_a_stopped_host_fails_running_and_paused_runs_and_healthz_says_so(hosted_app):
    client = hosted_app.test_client()
    running, paused = start(client, PACED), start(client, PACED)
    for run in (running, paused):
        wait_until(lambda run=run: client.get(f"/api/runs/{run['id']}").get_json()["latest"]["epoch"] >= 1,
                   "an epoch of each run")
    control(client, paused, "pause")
    os.kill(hosted_app.extensions["trainer_pool"].host_pids()[0], signal.SIGSTOP)
    control(client, running, "stop")  # a stop cannot reach a stopped host: the run must fail instead
    health = wait_until(lambda: (reply := client.get("/healthz")).status_code == 503 and reply.get_json(),
                        "/healthz to report the host")
    assert "training host process 0" in health["reason"]
    for run in (running, paused):
        status = wait_until(lambda run=run: (body := client.get(f"/api/runs/{run['id']}").get_json())[
            "status"] == "error" and body, "each run to fail")
        assert HOST_UNRESPONSIVE in status["latest"]["error"]["message"]
    assert client.get("/healthz").get_json()["runs"] == 0
    wait_until(lambda: client.get("/healthz").status_code == 200, "the replacement host")
