"""Event streams over HTTP (test client, fake trainer): order, replay, reconnects, control, hygiene."""

from __future__ import annotations

import time

import pytest

from tests.waiting import wait_until
from tests.web.api_client import control, epoch_of, start
from tests.web.sse_client import StreamReader, strict_json

pytestmark = pytest.mark.both_backends


def start_training(client, **training):
    return start(client, {"training": training})


def open_stream(client, run, headers=None, query=""):
    return StreamReader(client.get(run["events_url"] + query, headers=headers or {}))


def test_a_stream_has_the_right_headers_and_sends_retry_first(client):
    run = start_training(client, epochs=3)
    response = client.get(run["events_url"])
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert "Content-Length" not in response.headers
    first = next(iter(response.response))
    assert first == b"retry: 500\n\n"
    response.close()


def test_a_whole_run_streams_config_first_done_last_with_increasing_ids_and_strict_json(client):
    run = start_training(client, epochs=12, boundary_every=4)
    reader = open_stream(client, run)
    messages = reader.events()
    reader.close()
    names = [message.event for message in messages]
    assert names[0] == "config" and names[-1] == "done"
    assert names.count("metrics") == 12 and names.count("boundary") == 3
    ids = [message.id for message in messages]
    assert ids == list(range(1, len(ids) + 1))
    for message in messages:
        assert isinstance(message.data, dict)  # strict parsing: no NaN, no Infinity
    assert [epoch_of(message) for message in messages if message.event == "metrics"] == list(range(1, 13))


def test_reconnecting_with_last_event_id_yields_exactly_the_missing_events(client):
    run = start_training(client, epochs=30, epochs_per_second=100)
    first = open_stream(client, run)
    seen = first.events(until=lambda message: (epoch_of(message) or 0) >= 5)
    first.close()
    second = open_stream(client, run, headers={"Last-Event-ID": str(seen[-1].id)})
    rest = second.events()
    second.close()
    whole = open_stream(client, run)
    everything = whole.events()
    whole.close()
    assert [(m.id, m.event, m.data_lines) for m in seen + rest] == \
        [(m.id, m.event, m.data_lines) for m in everything]
    assert rest[0].id == seen[-1].id + 1 and rest[-1].event == "done"


def test_since_parameter_replays_later_events_and_the_header_wins(client):
    run = start_training(client, epochs=6)
    open_stream(client, run).events()  # to the end: a resume id may only name an event already sent
    reader = open_stream(client, run, query="?since=3")
    assert [message.id for message in reader.events()][0] == 4
    reader.close()
    reader = open_stream(client, run, headers={"Last-Event-ID": "5"}, query="?since=1")
    assert [message.id for message in reader.events()][0] == 6
    reader.close()


@pytest.mark.parametrize(("headers", "query", "loc"), [
    ({"Last-Event-ID": "abc"}, "", "Last-Event-ID"),
    ({}, "?since=-2", "since"),
    ({}, "?since=1.5", "since"),
])
def test_bad_resume_ids_get_400(client, headers, query, loc):
    run = start_training(client, epochs=2)
    response = client.get(run["events_url"] + query, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["details"][0]["loc"] == loc


def test_a_finished_and_fully_delivered_stream_gets_204_so_eventsource_stops(client):
    run = start_training(client, epochs=2)
    reader = open_stream(client, run)
    done = reader.events()[-1]
    reader.close()
    assert done.event == "done"
    response = client.get(run["events_url"], headers={"Last-Event-ID": str(done.id)})
    assert response.status_code == 204
    assert response.get_data() == b""


def test_several_clients_watch_the_same_run(client):
    run = start_training(client, epochs=20, epochs_per_second=200)
    readers = [open_stream(client, run) for _ in range(3)]
    streams = []
    for reader in readers:
        streams.append([(m.id, m.event) for m in reader.events()])
        reader.close()
    assert streams[0] == streams[1] == streams[2]
    assert streams[0][-1][1] == "done"


def test_open_streams_per_run_are_limited_and_released_on_close(make_app):
    client = make_app(SSE_STREAMS_PER_RUN=2).test_client()
    run = start_training(client, epochs=1000, epochs_per_second=20)
    first, second = client.get(run["events_url"]), client.get(run["events_url"])
    third = client.get(run["events_url"])
    assert third.status_code == 429 and third.headers["Retry-After"]
    first.close()
    fourth = client.get(run["events_url"])
    assert fourth.status_code == 200
    second.close()
    fourth.close()


def test_a_quiet_stream_sends_heartbeat_comments(client):
    run = start_training(client, epochs=1000, epochs_per_second=100)
    reader = open_stream(client, run)
    reader.events(until=lambda message: message.event == "metrics")
    control(client, run, "pause")
    assert reader.next_comment() == "heartbeat"
    reader.close()


def test_pause_stops_metrics_resume_continues_stop_ends_with_stopped(client):
    run = start_training(client, epochs=1000, epochs_per_second=100)
    reader = open_stream(client, run)
    reader.events(until=lambda message: (epoch_of(message) or 0) >= 2)
    paused = control(client, run, "pause")
    assert paused["status"] == "paused"
    # Only the epoch already past the gate may still arrive (unpaused: 50 epochs).
    reader.messages_during(0.5)
    held_epoch = max(filter(None, map(epoch_of, reader.messages)))
    assert held_epoch <= paused["latest"]["epoch"] + 1

    control(client, run, "step")
    stepped = reader.events(until=lambda message: message.event == "metrics")
    assert epoch_of(stepped[-1]) == held_epoch + 1

    assert control(client, run, "resume")["status"] == "running"
    resumed = reader.events(until=lambda message: (epoch_of(message) or 0) >= held_epoch + 4)
    assert [epoch_of(m) for m in resumed if m.event == "metrics"] == \
        list(range(held_epoch + 2, held_epoch + 5))

    control(client, run, "stop")
    done = reader.events()[-1]
    reader.close()
    assert done.event == "done" and done.data["reason"] == "stopped"
    assert client.get(f"/api/runs/{run['id']}").get_json()["status"] == "stopped"


def test_update_is_echoed_and_changes_the_learning_rate_from_its_epoch_on(client):
    run = start_training(client, epochs=1000, epochs_per_second=100)
    reader = open_stream(client, run)
    reader.events(until=lambda message: message.event == "metrics")
    control(client, run, "update", config={"optimizer": {"learning_rate": 0.3}})
    update = reader.events(until=lambda message: message.event == "update")[-1]
    assert update.data["changes"] == {"optimizer": {"learning_rate": 0.3}}
    after = reader.events(until=lambda message: (epoch_of(message) or 0) >= update.data["epoch"] + 2)
    assert [m.data["learning_rate"] for m in after if m.event == "metrics"] == [0.3, 0.3]
    before = [m.data for m in reader.messages
              if m.event == "metrics" and m.data["epoch"] <= update.data["epoch"]]
    assert before and all(metrics["learning_rate"] == 0.01 for metrics in before)
    control(client, run, "stop")
    reader.close()


def test_a_client_that_fell_behind_the_bounded_log_is_told_about_the_gap(make_app):
    client = make_app(LIMITS={"max_events_per_run": 6}).test_client()
    run = start_training(client, epochs=20, boundary_every=0)
    reader = open_stream(client, run)
    reader.events()  # to the end
    reader.close()
    late = open_stream(client, run, query="?since=0")
    messages = late.events()
    late.close()
    assert [m.event for m in messages] == ["config", "gap"] + ["metrics"] * 4 + ["done"]
    gap = messages[1]
    assert gap.data == {"first": 2, "last": gap.id, "count": gap.id - 1}
    assert messages[2].id == gap.id + 1


def test_an_abandoned_run_is_reaped(make_app):
    client = make_app(LIMITS={"idle_timeout_seconds": 0.2}).test_client()
    run = start_training(client, epochs=1000, epochs_per_second=20)
    wait_until(lambda: not client.get("/healthz").get_json()["runs"], "the idle run reaped")
    status = client.get(f"/api/runs/{run['id']}").get_json()
    assert status["status"] == "stopped"
    assert status["latest"]["done"]["message"].startswith("stopped: nobody watched")


def test_a_run_whose_status_a_client_polls_is_not_reaped(make_app):
    client = make_app(LIMITS={"idle_timeout_seconds": 1.0}).test_client()
    run = start_training(client, epochs=10_000, epochs_per_second=20)
    polls_until = time.monotonic() + 3.0  # three idle timeouts
    while time.monotonic() < polls_until:
        assert client.get(run["status_url"]).get_json()["status"] == "running"
        time.sleep(0.05)
    control(client, run, "stop")


def test_an_expired_run_is_gone(make_app):
    client = make_app(LIMITS={"finished_retention_seconds": 0.1}).test_client()
    run = start_training(client, epochs=1)
    wait_until(lambda: client.get(f"/api/runs/{run['id']}").status_code != 200, "the finished run dropped")
    assert client.get(run["events_url"]).status_code == 404


def test_data_is_strict_json_even_when_the_engine_produces_nan(make_app):
    from functools import partial

    from tests.web.fakes import FakeTrainer

    client = make_app(TRAINER_FACTORY=partial(FakeTrainer, nan_at_epoch=2)).test_client()
    run = start_training(client, epochs=3)
    reader = open_stream(client, run)
    metrics = [m.data for m in reader.events() if m.event == "metrics"]
    reader.close()
    assert metrics[1]["train_loss"] is None
    assert all("NaN" not in line for m in reader.messages for line in m.data_lines)
    assert strict_json('{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError):
        strict_json('{"a": NaN}')
