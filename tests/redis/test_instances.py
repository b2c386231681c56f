"""Several web instances on one Redis: the same run, the same ids, the same controls, one capacity."""

from __future__ import annotations

import json
import threading
import time

import pytest

from server.runs.redis_manager import OVERDUE_GRACE_SECONDS
from server.runs.redis_store import GROUP
from server.runs.redis_writer import WRITER_CONNECTION_NAME
from tests.redis.support import stop_heartbeat
from tests.waiting import wait_until
from tests.web.api_client import control, epoch_of, start
from tests.web.sse_client import StreamReader


def slow(epochs=1000, epochs_per_second=50, **training):
    return {"training": {"epochs": epochs, "epochs_per_second": epochs_per_second, **training}}


def read_all(client, url, headers=None):
    reader = StreamReader(client.get(url, headers=headers or {}))
    try:
        return reader.events()
    finally:
        reader.close()


@pytest.fixture
def two(backend):
    """Two web instances (apps) and one worker."""
    backend.worker()
    return backend.app().test_client(), backend.app().test_client()


def test_a_run_started_on_one_instance_streams_from_the_other_with_the_same_ids(two):
    first, second = two
    run = start(first, {"training": {"epochs": 12, "boundary_every": 4}})
    on_second = read_all(second, run["events_url"])
    on_first = read_all(first, run["events_url"])
    assert [m.event for m in on_second][0] == "config" and on_second[-1].event == "done"
    assert [m.id for m in on_second] == list(range(1, len(on_second) + 1))
    assert [(m.id, m.event, m.data) for m in on_second] == [(m.id, m.event, m.data) for m in on_first]


def test_last_event_id_replays_exactly_the_missing_events_on_the_other_instance(two):
    first, second = two
    run = start(first, {"training": {"epochs": 20}})
    everything = read_all(first, run["events_url"])
    cut = everything[7].id
    rest = read_all(second, run["events_url"], {"Last-Event-ID": str(cut)})
    assert [m.id for m in rest] == [m.id for m in everything if m.id > cut]
    since = read_all(second, run["events_url"] + f"?since={cut}")
    assert [m.id for m in since] == [m.id for m in rest]


def test_a_pause_through_either_instance_holds_on_both(two):
    first, second = two
    run = start(first, slow())
    reader = StreamReader(first.get(run["events_url"]))
    reader.events(until=lambda message: (epoch_of(message) or 0) >= 2)
    paused = control(second, run, "pause")
    assert paused["status"] == "paused"
    assert first.get(f"/api/runs/{run['id']}").get_json()["status"] == "paused"
    # Paused: at most the epoch already past the gate arrives, then only heartbeats.
    reader.next_comment()
    held = max(filter(None, map(epoch_of, reader.messages)))
    assert held <= paused["latest"]["epoch"] + 1
    assert reader.next_comment() == "heartbeat"
    assert max(filter(None, map(epoch_of, reader.messages))) == held

    control(first, run, "step")
    stepped = reader.events(until=lambda message: message.event == "metrics")
    assert epoch_of(stepped[-1]) == held + 1
    assert control(first, run, "resume")["status"] == "running"
    resumed = reader.events(until=lambda message: (epoch_of(message) or 0) >= held + 3)
    assert [epoch_of(m) for m in resumed if m.event == "metrics"] == [held + 2, held + 3]
    control(second, run, "stop")
    assert reader.events()[-1].data["reason"] == "stopped"
    reader.close()
    assert second.get(f"/api/runs/{run['id']}").get_json()["status"] == "stopped"


def test_an_update_through_one_instance_reaches_the_run_and_the_others_status(two):
    first, second = two
    run = start(first, slow())
    control(second, run, "update", config={"optimizer": {"learning_rate": 0.5}})
    reader = StreamReader(first.get(run["events_url"]))
    update = reader.events(until=lambda message: message.event == "update")[-1]
    reader.close()
    assert update.data["changes"] == {"optimizer": {"learning_rate": 0.5}}
    wait_until(lambda: first.get(f"/api/runs/{run['id']}").get_json()["config"]["optimizer"]["learning_rate"]
               == 0.5, "the new learning rate in the status")


def test_capacity_is_one_count_across_instances_and_is_released_when_runs_end(backend):
    backend.worker()
    limits = {"LIMITS": {"max_concurrent_runs": 2, "max_runs_per_client": 5}}
    first, second = backend.app(**limits).test_client(), backend.app(**limits).test_client()
    one = start(first, slow())
    start(second, slow())
    for client in (first, second):
        refused = client.post("/api/runs", json=slow())
        assert refused.status_code == 429
        assert refused.get_json()["error"] == "the service is running its maximum of 2 runs"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        health = client.get("/healthz")
        assert health.status_code == 503 and health.get_json()["runs"] == 2
    control(second, one, "stop")
    wait_until(lambda: first.get("/healthz").get_json()["runs"] == 1, "the stopped run's slot released")
    start(first, slow())


def test_the_per_client_count_is_shared_too(backend):
    backend.worker()
    limits = {"LIMITS": {"max_runs_per_client": 1}}
    first, second = backend.app(**limits).test_client(), backend.app(**limits).test_client()
    start(first, slow(), environ_base={"REMOTE_ADDR": "10.0.0.1"})
    refused = second.post("/api/runs", json=slow(), environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert refused.status_code == 429 and "at most 1 per client" in refused.get_json()["error"]
    start(second, slow(), environ_base={"REMOTE_ADDR": "10.0.0.2"})


def test_without_a_live_worker_health_and_starts_say_so(backend):
    client = backend.app().test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["reason"].startswith("no training worker is alive")
    refused = client.post("/api/runs", json={})
    assert refused.status_code == 503 and "Retry-After" in refused.headers
    assert refused.get_json()["error"] == "no training worker is running; try again shortly"


def test_when_redis_is_unreachable_health_and_routes_answer_503(backend):
    app = backend.app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["reason"].startswith("Redis is unavailable")
    response = client.get("/api/runs/some-run")
    assert response.status_code == 503
    assert response.get_json()["error"].startswith("the run store is unavailable")


def test_a_full_redis_refuses_new_runs_with_503_not_500(backend):
    backend.worker()
    client = backend.app().test_client()
    admin = backend.store.client
    limit = admin.config_get("maxmemory")["maxmemory"]
    admin.config_set("maxmemory", 1)  # below what it holds: every write is refused (noeviction)
    try:
        refused = client.post("/api/runs", json={})
    finally:
        admin.config_set("maxmemory", limit)
    assert refused.status_code == 503
    assert refused.get_json()["error"] == "the run store is full (its maxmemory); try again shortly"
    assert refused.headers["Retry-After"] == "30"
    start(client, {"training": {"epochs": 2}})


def test_controls_sent_before_a_worker_takes_the_run_still_apply(backend):
    client = backend.app().test_client()
    backend.worker(concurrency=1)
    blocker = start(client, slow())
    queued = start(client, slow())  # waits: the only worker's one slot is taken
    control(client, queued, "pause")
    control(client, blocker, "stop")
    reader = StreamReader(client.get(queued["events_url"]))
    assert reader.events(until=lambda message: message.event == "config")[-1].event == "config"
    assert reader.next_comment() == "heartbeat"  # paused from its first epoch
    assert [m.event for m in reader.messages if m.retry is None] == ["config"]
    reader.close()


def test_the_log_is_bounded_by_bytes_too_with_a_gap_for_what_was_dropped(backend):
    backend.worker()
    client = backend.app(MAX_LOG_BYTES_PER_RUN=4000).test_client()
    run = start(client, {"training": {"epochs": 60, "boundary_every": 0}})
    read_all(client, run["events_url"])
    late = read_all(client, run["events_url"] + "?since=0")
    assert [m.event for m in late[:2]] == ["config", "gap"] and late[-1].event == "done"
    kept = sum(len(json.dumps(m.data, separators=(",", ":"))) for m in late if m.event != "gap")
    assert kept <= 4000
    gap = late[1].data
    assert gap["first"] == 2 and late[2].id == gap["last"] + 1


def test_a_run_failed_before_its_first_event_streams_that_error_and_is_never_trained(backend):
    client = backend.app().test_client()
    backend.worker(concurrency=1)
    blocker = start(client, slow())
    queued = start(client, slow())
    assert backend.store.fail_run(queued["id"], "failed on purpose", 60, 10)
    events = read_all(client, queued["events_url"])
    assert [(m.id, m.event, m.data) for m in events] == [(1, "error", {"message": "failed on purpose"})]
    control(client, blocker, "stop")  # frees the worker, which must skip the failed run
    wait_until(lambda: client.get("/healthz").get_json()["runs"] == 0, "both runs ended")
    assert client.get(queued["status_url"]).get_json()["last_event_id"] == 1


def test_a_run_that_outlives_its_time_limit_with_no_live_worker_is_failed_by_the_web_side(backend):
    """Deterministic by construction: this test's key prefix has no worker at all (none can take the
    queued run), a heartbeat written by hand lets the start through, and the time limit passes on the
    manager's clock, not the machine's."""
    app = backend.app(LIMITS={"max_run_seconds": 60})
    client, manager, keys = app.test_client(), app.extensions["run_manager"], backend.store.keys
    redis = backend.store.client
    redis.zadd(keys.workers, {"gone": time.time() + 3600})  # a worker that was alive at the start ...
    run = start(client, slow())
    redis.zrem(keys.workers, "gone")  # ... and is gone before taking any work
    assert redis.xinfo_consumers(keys.jobs, GROUP) == []  # nobody ever read the jobs stream
    manager.clean()
    assert client.get(run["status_url"]).get_json()["status"] == "running"  # within its limit
    started_at = manager.clock()
    manager.clock = lambda: started_at + 60 + OVERDUE_GRACE_SECONDS + 1
    manager.clean()
    events = read_all(client, run["events_url"])
    assert [(m.id, m.event) for m in events] == [(1, "error")]
    assert events[0].data["message"] == "the run outlived its time limit without a worker to end it"
    assert client.get(run["status_url"]).get_json()["status"] == "error"
    assert manager.load()["runs"] == 0  # its capacity released


def test_a_gradient_check_is_computed_by_a_worker_not_the_web_instance(backend, monkeypatch):
    from server.runs import redis_worker

    client = backend.app().test_client()
    config = {"data": {"n_samples": 40}, "model": {"hidden": [{"units": 3}]}}
    refused = client.post("/api/gradcheck", json=config)
    assert refused.status_code == 503  # no worker to ask
    assert refused.get_json()["error"] == "no training worker is running; try again shortly"
    backend.worker()
    computed_in = []
    check = redis_worker.WORKER_CALLS["gradient_check"]

    def observed(*args, **options):
        computed_in.append(threading.current_thread().name)
        return check(*args, **options)

    monkeypatch.setitem(redis_worker.WORKER_CALLS, "gradient_check", observed)
    broken = client.post("/api/gradcheck", json={"config": config, "inject_bug": True})
    assert broken.status_code == 200 and broken.get_json()["verdict"] == "wrong"
    sound = client.post("/api/gradcheck", json=config)
    assert sound.status_code == 200 and sound.get_json()["verdict"] in ("great", "ok")
    assert len(computed_in) == 2 and all(name.startswith("worker-task") for name in computed_in)


def test_a_gradient_check_whose_worker_dies_while_checking_answers_503(backend, monkeypatch):
    from server.runs import redis_worker

    client = backend.app().test_client()
    dying = backend.worker()
    entered, release = threading.Event(), threading.Event()

    def dies_while_checking(*args, **options):
        entered.set()
        release.wait(30)  # the thread of a dead worker: nothing it does reaches anyone
        return {}

    monkeypatch.setitem(redis_worker.WORKER_CALLS, "gradient_check", dies_while_checking)
    answers = []
    asking = threading.Thread(target=lambda: answers.append(client.post("/api/gradcheck", json={})))
    asking.start()
    assert entered.wait(30)
    backend.worker()  # another worker lives on: the upkeep, not the lack of workers, ends the call
    stop_heartbeat(dying)
    asking.join(30)
    release.set()
    assert answers[0].status_code == 503
    assert answers[0].get_json()["error"] == "the training worker doing it stopped responding"
    assert "Retry-After" in answers[0].headers


def test_a_gradient_check_sent_as_the_only_worker_died_answers_503_and_is_withdrawn(backend):
    client = backend.app().test_client()
    keys, redis = backend.store.keys, backend.store.client
    # The last heartbeat of a worker killed a moment ago: alive for one more second, taking nothing.
    redis.zadd(keys.workers, {"killed": time.time() + 1})
    response = client.post("/api/gradcheck", json={})
    assert response.status_code == 503
    assert response.get_json()["error"] == "no training worker is running; try again shortly"
    assert redis.xlen(keys.jobs) == 0  # no worker started later computes it for nobody


def test_controls_sent_back_to_back_through_both_instances_all_apply_in_order(two):
    first, second = two
    run = start(first, slow())
    rates = [0.5, 0.25, 0.125, 0.0625]
    for index, rate in enumerate(rates):
        control((first, second)[index % 2], run, "update", config={"optimizer": {"learning_rate": rate}})
    reader = StreamReader(first.get(run["events_url"]))
    updates = [m for m in reader.events(until=lambda m: m.event == "update" and
                                        m.data["changes"]["optimizer"]["learning_rate"] == rates[-1])
               if m.event == "update"]
    reader.close()
    assert [m.data["changes"]["optimizer"]["learning_rate"] for m in updates] == rates


def test_a_worker_writes_every_runs_events_on_one_connection_of_its_own(backend):
    client = backend.app().test_client()
    worker = backend.worker()

    def writer_connections() -> list[str]:
        return [entry["name"] for entry in backend.store.client.client_list()
                if entry.get("name", "").startswith(WRITER_CONNECTION_NAME)]

    running = [start(client, slow()) for _ in range(6)]
    for run in running:
        wait_until(lambda run=run: client.get(run["status_url"]).get_json()["last_event_id"] >= 3,
                   what=f"run {run['id']} training")
    assert writer_connections() == [f"{WRITER_CONNECTION_NAME}{worker.id}"]  # not one a run
    for run in running:
        control(client, run, "stop")
        assert read_all(client, run["events_url"])[-1].event == "done"
    worker.shutdown()
    assert writer_connections() == []


def test_an_instance_stops_reading_a_stream_once_its_run_has_ended(backend):
    app = backend.app()
    client = app.test_client()
    backend.worker()
    follower = app.extensions["run_manager"]._follower
    named = []
    read = follower._reader.xread

    def recording(streams, **options):  # the real read, and the streams it names
        named.append(set(streams))
        return read(streams, **options)

    follower._reader.xread = recording
    ended = start(client, {"training": {"epochs": 5}})
    going = start(client, slow())
    assert read_all(client, ended["events_url"])[-1].event == "done"
    reader = StreamReader(client.get(going["events_url"]))
    try:
        before = len(named)
        reader.events(until=lambda message: message.event == "metrics" and epoch_of(message) >= 3)
        wait_until(lambda: len(named) > before + 2, what="the follower reading on")
        later = named[before + 1:]  # the first read may have begun before the done event came
        keys = backend.store.keys
        # Nothing comes after a run's done event, so reads name the running run's stream alone; before,
        # each read named every stream of the last half minute.
        assert all(keys.events(going["id"]) in streams and keys.events(ended["id"]) not in streams
                   for streams in later), later
        # A reader back for more after the end still gets its end, at once, from the log.
        assert read_all(client, ended["events_url"], {"Last-Event-ID": "1"})[-1].event == "done"
    finally:
        reader.close()
        control(client, going, "stop")


def test_streams_watched_while_the_follower_reads_cost_one_wake_and_are_all_followed(backend):
    app = backend.app()
    follower = app.extensions["run_manager"]._follower
    redis = backend.store.client
    read = follower._reader.xread
    reading, go_on = threading.Event(), threading.Event()

    def held(streams, **options):  # the loop, stopped just before its next read
        reading.set()
        go_on.wait(10)
        return read(streams, **options)

    follower._reader.xread = held
    follower.wake(always=True)  # ends the read under way, so the next one is held
    assert reading.wait(10)
    wakes_before = redis.xinfo_stream(follower._wake_key)["entries-added"]
    keys = [backend.store.keys.events(f"burst-{n}") for n in range(10)]
    for key in keys:  # a burst of new streams, as when a class starts a lesson at once
        follower.watch(key, 0)
    assert redis.xinfo_stream(follower._wake_key)["entries-added"] == wakes_before + 1
    go_on.set()
    for n, key in enumerate(keys):
        redis.xadd(key, {"e": "metrics", "d": f'{{"n":{n}}}'}, id="1-0")
    # Every stream watched during the held read is in the reads after it: none waits for a wake.
    for n, key in enumerate(keys):
        assert [event.data for event in follower.wait(key, 0, 10)] == [f'{{"n":{n}}}'], key
    for key in keys:
        follower.unwatch(key)
        redis.delete(key)


def test_an_instance_connects_before_serving_and_a_burst_then_opens_no_connection(backend):
    manager = backend.app().extensions["run_manager"]
    pool = manager.store.client.connection_pool
    manager.open_connections(8)
    assert pool._created_connections == 8
    listed = {entry["addr"] for entry in backend.store.client.client_list()}  # connected, as Redis sees it
    ours = {"{}:{}".format(*connection._sock.getsockname()) for connection in pool._available_connections}
    assert len(ours & listed) == 8
    at_once = threading.Barrier(8)
    failures = []

    def blocked_command():  # eight commands in flight at once, as in a burst of requests
        try:
            at_once.wait(10)
            manager.store.client.blpop([backend.prefix + "nothing"], timeout=0.2)
        except Exception as error:
            failures.append(error)

    threads = [threading.Thread(target=blocked_command) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert pool._created_connections == 8


def test_a_run_whose_worker_finds_its_script_gone_from_redis_still_stores_every_event(backend):
    client = backend.app().test_client()
    backend.worker()
    run = start(client, slow(epochs=30, epochs_per_second=30))
    wait_until(lambda: client.get(run["status_url"]).get_json()["last_event_id"] >= 5, what="some epochs")
    backend.store.client.script_flush()  # as after a Redis restart with the same data
    events = read_all(client, run["events_url"])
    assert [m.id for m in events] == list(range(1, len(events) + 1))
    assert [epoch_of(m) for m in events if m.event == "metrics"] == list(range(1, 31))
    assert events[-1].event == "done" and events[-1].data["reason"] == "completed"


def test_a_run_whose_events_redis_refuses_ends_with_an_error_once_they_can_be_stored_again(backend):
    worker = backend.worker(heartbeat_seconds=0.2)
    client = backend.app().test_client()
    admin = backend.store.client
    run = start(client, slow(epochs_per_second=20))
    wait_until(lambda: client.get(run["status_url"]).get_json()["last_event_id"] >= 3, what="some epochs")
    limit = admin.config_get("maxmemory")["maxmemory"]
    admin.config_set("maxmemory", 1)  # every write is refused (noeviction): the run's next events too
    try:
        wait_until(lambda: worker.busy == 0, what="the worker giving the run up")
    finally:
        admin.config_set("maxmemory", limit)
    events = read_all(client, run["events_url"])  # its end is recorded at the worker's next heartbeat
    assert events[-1].event == "error"
    assert events[-1].data["message"] == "the run failed: its events could not be stored"
    assert [m.id for m in events] == list(range(1, len(events) + 1))
    assert client.get(run["status_url"]).get_json()["status"] == "error"
