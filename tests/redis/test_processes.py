"""Real processes: a worker killed mid-run, a web instance killed under a reader, one just started."""

from __future__ import annotations

import pytest

from server.runs.redis_manager import CONNECTIONS_OPENED_AT_START
from tests.redis.processes import HttpStream, kill, redis_environment, started, web_instance, worker_command
from tests.waiting import wait_until
from tests.web.api_client import control, start
from tests.web.serving import post_json
from tests.web.sse_client import StreamReader

pytestmark = pytest.mark.slow

#: A small real network, paced so that it is still running when its worker is killed.
PACED = {"data": {"n_samples": 100}, "training": {"epochs": 2000, "epochs_per_second": 20,
                                                   "boundary_every": 0}}


def owner(backend, run):
    return backend.store.client.hget(backend.store.keys.run(run["id"]), "worker")


def test_a_killed_worker_leaves_no_run_hanging(backend):
    client = backend.app().test_client()
    env = redis_environment(backend.url, backend.prefix)
    with started(worker_command(), env) as worker:
        wait_until(lambda: client.get("/healthz").status_code == 200, "the worker alive")
        running, paused = start(client, PACED), start(client, PACED)
        control(client, paused, "pause")
        reader = StreamReader(client.get(running["events_url"]))
        reader.events(until=lambda message: message.event == "metrics")
        wait_until(lambda: owner(backend, paused), "the paused run taken by the worker")
        kill(worker)
    for run in (running, paused):
        events = StreamReader(client.get(run["events_url"])).events()
        assert events[-1].event == "error"
        assert "cannot resume" in events[-1].data["message"]
        assert client.get(f"/api/runs/{run['id']}").get_json()["status"] == "error"
    rest = reader.events()
    assert rest[-1].event == "error"  # the reader that was watching when it died is told too
    assert [m.id for m in reader.messages if m.data_lines] == list(range(1, rest[-1].id + 1))
    reader.close()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["workers"] == 0
    assert client.application.extensions["run_manager"].load()["runs"] == 0  # capacity released


def test_a_reader_whose_instance_dies_gets_exactly_the_missing_events_from_the_other(backend):
    env = redis_environment(backend.url, backend.prefix)
    config = {"data": {"n_samples": 100}, "training": {"epochs": 40, "epochs_per_second": 20}}
    with started(worker_command(), env), web_instance(env) as (first, first_process), \
            web_instance(env) as (second, _):
        status, run = post_json(first, "/api/runs", config)
        assert status == 201
        stream = HttpStream(first, run["events_url"])
        before = stream.messages(until=lambda message: message.id >= 12)
        kill(first_process)
        assert stream.next_message() is None  # the connection died with its instance
        stream.close()
        last_seen = before[-1].id
        resumed = HttpStream(second, run["events_url"], {"Last-Event-ID": str(last_seen)})
        after = resumed.messages()
        resumed.close()
        assert after[-1].event == "done"
        assert [m.id for m in before + after] == list(range(1, after[-1].id + 1))
        replay = HttpStream(second, run["events_url"] + "?since=0")
        everything = replay.messages()
        replay.close()
        seen = before + after
        assert [(m.id, m.event, m.data) for m in everything] == [(m.id, m.event, m.data) for m in seen]


def test_a_served_instance_is_connected_to_redis_before_its_first_request(backend):
    redis = backend.store.client
    redis.ping()
    before = len(redis.client_list())
    env = redis_environment(backend.url, backend.prefix)
    with started(worker_command(), env), web_instance(env):  # healthy: it has served /healthz, no more
        assert len(redis.client_list()) - before >= CONNECTIONS_OPENED_AT_START
