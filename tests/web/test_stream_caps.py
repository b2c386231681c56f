"""Every kind of event stream (runs, searches, labs) shares one slot table: capped per client and in all.

Also the optimizer lab's stream on the run streams' helpers: the configured
``retry``, resuming, 400 for a bad id, 204 when everything was delivered, and
its pacing on an injected clock.
"""

from __future__ import annotations

from functools import partial

import pytest

from server.lessons.labs import OptimizerLabSettings
from server.search.executor import ThreadTrialExecutor
from server.web.errors import ApiError
from server.web.lessons import PacedRace
from server.web.sse import StreamSlots
from tests.search import trials
from tests.web.api_client import start
from tests.web.sse_client import StreamReader

LAB = "/api/labs/optimizers/events?surface=saddle&steps=20&steps_per_second=2000"
SLOW_LAB = "/api/labs/optimizers/events?surface=saddle&steps=500&steps_per_second=10"
FRAMED_LAB = "/api/labs/optimizers/events?surface=saddle&steps=20&steps_per_second=100"
SEARCH = {"space": {"optimizer.learning_rate": {"distribution": "log_uniform", "low": 1e-4, "high": 1.0}},
          "trials": 2, "workers": 1}
SLOW_RUN = {"training": {"epochs": 1000, "epochs_per_second": 20}}


@pytest.fixture
def make_client(make_app):
    """``make_client(**config)``: a test client whose searches run ``until_stopped`` on threads."""
    apps = []

    def factory(**config):
        executor = partial(ThreadTrialExecutor, trial_function=trials.until_stopped)
        app = make_app(SEARCH_EXECUTOR=executor, **config)
        apps.append(app)
        return app.test_client()

    yield factory
    for app in apps:
        app.extensions["search_manager"].shutdown()


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def assert_refused(response, message_start: str) -> None:
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert body["error"].startswith(message_start), body
    assert body["details"] == []


def test_one_client_cannot_open_more_lab_streams_than_its_cap(make_client):
    client = make_client(SSE_STREAMS_PER_CLIENT=3)
    streams = [client.get(SLOW_LAB) for _ in range(3)]
    assert [stream.status_code for stream in streams] == [200, 200, 200]
    assert_refused(client.get(SLOW_LAB), "you already have 3 open event streams")
    other = client.get(SLOW_LAB, **from_address("10.0.0.2"))
    assert other.status_code == 200
    streams[0].close()
    again = client.get(SLOW_LAB)
    assert again.status_code == 200
    for stream in [*streams[1:], other, again]:
        stream.close()


def test_the_per_client_cap_counts_runs_searches_and_labs_together(make_client):
    client = make_client(SSE_STREAMS_PER_CLIENT=2)
    run = start(client, SLOW_RUN)
    created = client.post("/api/searches", json=SEARCH)
    assert created.status_code == 201, created.get_json()
    search = created.get_json()
    run_stream = client.get(run["events_url"])
    lab_stream = client.get(SLOW_LAB)
    assert (run_stream.status_code, lab_stream.status_code) == (200, 200)
    assert_refused(client.get(search["events_url"]), "you already have 2 open event streams")
    assert_refused(client.get(run["events_url"]), "you already have 2 open event streams")
    lab_stream.close()
    search_stream = client.get(search["events_url"])
    assert search_stream.status_code == 200
    for stream in (run_stream, search_stream):
        stream.close()
    client.post(search["control_url"], json={"action": "stop"})


def test_the_app_caps_its_open_streams_in_total_whoever_opens_them(make_client):
    client = make_client(SSE_STREAMS_TOTAL=3)
    run = start(client, SLOW_RUN)
    streams = [client.get(run["events_url"], **from_address("10.0.0.1")),
               client.get(SLOW_LAB, **from_address("10.0.0.2")),
               client.get(SLOW_LAB, **from_address("10.0.0.3"))]
    assert [stream.status_code for stream in streams] == [200, 200, 200]
    assert_refused(client.get(SLOW_LAB, **from_address("10.0.0.4")),
                   "the service has its maximum of 3 open event streams")
    assert_refused(client.get(run["events_url"], **from_address("10.0.0.5")),
                   "the service has its maximum of 3 open event streams")
    streams[1].close()
    assert client.get(SLOW_LAB, **from_address("10.0.0.4")).status_code == 200


def test_a_stream_that_ran_to_its_end_gives_its_slot_back_unclosed(make_client):
    client = make_client(SSE_STREAMS_PER_CLIENT=1)
    for _ in range(3):
        response = client.get(LAB)
        assert response.status_code == 200
        assert "event: done" in response.get_data(as_text=True)  # read to the end, never closed
    assert client.application.extensions["stream_slots"].open == 0


def test_a_released_slot_is_released_once():
    slots = StreamSlots(per_source=2, per_client=2, total=3)
    release = slots.take("a", "run", "r1")
    release()
    release()  # the stream ended, then the server closed the response
    slots.take("a", "run", "r1")
    slots.take("a", "run", "r1")
    assert slots.open == 2
    with pytest.raises(ApiError) as refused:
        slots.take("b", "run", "r1")
    assert refused.value.status == 429 and refused.value.message == "this run already has 2 open streams"


def test_the_lab_stream_sends_the_configured_retry_first(client):
    response = client.get(LAB)
    assert response.status_code == 200
    assert next(iter(response.response)) == b"retry: 500\n\n"  # SSE_RETRY_MS of the test app
    response.close()


@pytest.mark.parametrize(("headers", "query", "loc"), [
    ({"Last-Event-ID": "abc"}, "", "Last-Event-ID"),
    ({"Last-Event-ID": "-1"}, "", "Last-Event-ID"),
    ({}, "&since=x", "since"),
])
def test_a_bad_lab_resume_id_is_a_400_like_the_run_streams(client, headers, query, loc):
    response = client.get(LAB + query, headers=headers)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid event id"
    assert [detail["loc"] for detail in body["details"]] == [loc]


def test_the_lab_stream_resumes_after_since_or_the_header(client):
    everything = StreamReader(client.get(FRAMED_LAB)).events()
    assert [m.id for m in everything] == list(range(5)) and everything[-1].event == "done"
    by_query = StreamReader(client.get(FRAMED_LAB + "&since=2")).events()
    by_header = StreamReader(client.get(FRAMED_LAB + "&since=1", headers={"Last-Event-ID": "3"})).events()
    assert [m.id for m in by_query] == [m.id for m in everything[3:]]
    assert [m.data_lines for m in by_header] == [m.data_lines for m in everything[4:]]


def test_a_fully_delivered_lab_stream_gets_204_so_eventsource_stops(client):
    last = StreamReader(client.get(LAB)).events()[-1]
    response = client.get(LAB, headers={"Last-Event-ID": str(last.id)})
    assert response.status_code == 204
    assert response.get_data() == b""


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


def test_the_race_hands_out_one_steps_batch_per_frame_and_heartbeats_between():
    clock = FakeClock()
    # 20 steps a second in frames of a tenth of a second: 2 steps a batch, 0.1 s apart.
    race = PacedRace(OptimizerLabSettings(surface="saddle", steps=5, steps_per_second=20),
                     clock=clock, sleep=clock.sleep)
    assert [event.event for event in race.events] == ["surface", "steps", "steps", "steps", "done"]
    assert [event.id for event in race.fetch(-1, 1.0)] == [0]
    assert clock.sleeps == []
    assert race.fetch(0, 0.04) == []  # the next frame is 0.1 s away: the stream sends a heartbeat
    assert [event.id for event in race.fetch(0, 1.0)] == [1]
    assert [event.id for event in race.fetch(1, 1.0)] == [2]
    assert [event.id for event in race.fetch(2, 1.0)] == [3, 4]  # done follows the last batch at once
    assert clock.sleeps == [0.04, 0.06, 0.1, 0.1]
    with pytest.raises(LookupError):
        race.fetch(4, 1.0)


def test_a_resumed_race_is_paced_from_its_own_start():
    clock = FakeClock()
    race = PacedRace(OptimizerLabSettings(surface="saddle", steps=5, steps_per_second=20),
                     clock=clock, sleep=clock.sleep)
    assert [event.id for event in race.fetch(2, 1.0)] == [3, 4]
    assert clock.sleeps == [0.1]
