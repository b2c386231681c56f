"""Per-client limits keyed on the page's client token, within a looser ceiling per network address."""

from __future__ import annotations

import pytest

from server import create_app
from server.runs.run import ACTIVE_STATUSES
from server.web.clients import CLIENT_HEADER, AddressCeiling, Client
from tests.waiting import wait_until
from tests.web.api_client import control, start

SLOW_RUN = {"training": {"epochs": 1000, "epochs_per_second": 20}}
SLOW_LAB = "/api/labs/optimizers/events?surface=saddle&steps=500&steps_per_second=10"


def token(name: str) -> str:
    return f"{name:-<24}"  # 24 characters of the allowed alphabet


def as_client(name: str, address: str = "10.0.0.1") -> dict:
    return {"headers": {CLIENT_HEADER: token(name)}, "environ_base": {"REMOTE_ADDR": address}}


def refused(response, status: int, message_start: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"].startswith(message_start), body
    return body


def test_two_browsers_behind_one_address_each_get_their_own_runs(make_app):
    client = make_app(LIMITS={"max_runs_per_client": 2}).test_client()
    for _ in range(2):
        start(client, SLOW_RUN, **as_client("alice"))
    refused(client.post("/api/runs", json=SLOW_RUN, **as_client("alice")), 429,
            "you already have 2 runs going")
    start(client, SLOW_RUN, **as_client("bob"))


def test_all_tokens_of_one_address_share_its_ceiling(make_app):
    client = make_app(LIMITS={"max_runs_per_client": 2, "max_runs_per_address": 3}).test_client()
    first = start(client, SLOW_RUN, **as_client("alice"))
    start(client, SLOW_RUN, **as_client("alice"))
    start(client, SLOW_RUN, **as_client("bob"))
    response = client.post("/api/runs", json=SLOW_RUN, **as_client("carol"))
    refused(response, 429, "your network address already has 3 runs going")
    assert response.headers["Retry-After"] == "30"
    start(client, SLOW_RUN, **as_client("carol", address="10.0.0.2"))  # another network
    control(client, first, "stop")
    wait_until(lambda: client.get(f"/api/runs/{first['id']}").get_json()["status"] not in ACTIVE_STATUSES,
               "the stopped run ending")
    start(client, SLOW_RUN, **as_client("carol"))  # the stopped run left room


def test_requests_without_a_token_are_their_address(make_app):
    client = make_app(LIMITS={"max_runs_per_client": 1}).test_client()
    start(client, SLOW_RUN, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    refused(client.post("/api/runs", json=SLOW_RUN, environ_base={"REMOTE_ADDR": "10.0.0.1"}), 429,
            "you already have 1 runs going")
    start(client, SLOW_RUN, **as_client("alice"))


def test_a_token_at_another_address_is_another_client(make_app):
    client = make_app(LIMITS={"max_runs_per_client": 1}).test_client()
    start(client, SLOW_RUN, **as_client("alice", address="10.0.0.1"))
    start(client, SLOW_RUN, **as_client("alice", address="10.0.0.2"))


@pytest.mark.parametrize("bad", ["short", "x" * 65, "has space in it 12345", "tok\u00e9n-with-accent-1234",
                                 "semi;colon;token;12345"])
def test_a_malformed_token_is_a_400_naming_the_header(client, bad):
    response = client.post("/api/runs", json={}, headers={CLIENT_HEADER: bad})
    body = refused(response, 400, "invalid client token")
    assert body["details"] == [{"loc": CLIENT_HEADER, "msg": (
        "must be 16 to 64 letters, digits, '-' or '_' (the page makes one and keeps it)")}]


def test_a_malformed_token_in_the_query_is_a_400_naming_the_parameter(client):
    run = start(client, SLOW_RUN)
    body = refused(client.get(f"{run['events_url']}?client=bad"), 400, "invalid client token")
    assert body["details"][0]["loc"] == "client"


def test_streams_take_the_token_from_the_query_and_count_per_token_and_per_address(make_app):
    client = make_app(SSE_STREAMS_PER_CLIENT=2, SSE_STREAMS_PER_ADDRESS=3).test_client()
    alice, bob, carol = (f"{SLOW_LAB}&client={token(name)}" for name in ("alice", "bob", "carol"))
    streams = [client.get(alice), client.get(alice)]
    assert [stream.status_code for stream in streams] == [200, 200]
    refused(client.get(alice), 429, "you already have 2 open event streams")
    streams.append(client.get(bob))
    assert streams[-1].status_code == 200
    refused(client.get(carol), 429, "your network address already has 3 open event streams")
    other_network = client.get(carol, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_network.status_code == 200
    streams[0].close()
    again = client.get(carol)
    assert again.status_code == 200
    for stream in [*streams[1:], other_network, again]:
        stream.close()


def test_a_run_stream_with_the_token_counts_for_that_token(make_app):
    app = make_app(SSE_STREAMS_PER_CLIENT=1)
    client = app.test_client()
    run = start(client, SLOW_RUN, **as_client("alice", address="127.0.0.1"))
    stream = client.get(f"{run['events_url']}?client={token('alice')}")
    assert stream.status_code == 200
    refused(client.get(run["events_url"], headers={CLIENT_HEADER: token("alice")}), 429,
            "you already have 1 open event streams")
    other = client.get(run["events_url"])  # the address alone is another client
    assert other.status_code == 200
    stream.close()
    other.close()


def test_the_event_log_budget_is_charged_to_the_token(make_app):
    app = make_app()
    client = app.test_client()
    run = start(client, {"training": {"epochs": 3}}, **as_client("alice", address="127.0.0.1"))
    control(client, run, "stop")
    budget = app.extensions["run_manager"].log_budget
    assert budget.used_by(f"{token('alice')}@127.0.0.1") > 0
    assert budget.used_by("127.0.0.1") == 0


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_clients(make_app, monkeypatch):
    monkeypatch.setenv("TUNING_TRUSTED_PROXY_COUNT", "1")
    client = make_app(LIMITS={"max_runs_per_address": 1}).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.254"}
    start(client, SLOW_RUN, headers={"X-Forwarded-For": "198.51.100.7"}, environ_base=proxy)
    refused(client.post("/api/runs", json=SLOW_RUN, headers={"X-Forwarded-For": "198.51.100.7"},
                        environ_base=proxy), 429, "your network address already has 1 runs going")
    # A forged hop in front of the proxy's own entry changes nothing: only the last hop is trusted.
    refused(client.post("/api/runs", json=SLOW_RUN, headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.7"},
                        environ_base=proxy), 429, "your network address already has 1 runs going")
    start(client, SLOW_RUN, headers={"X-Forwarded-For": "198.51.100.8"}, environ_base=proxy)


def test_without_trusted_proxies_the_forwarded_header_is_ignored(make_app):
    client = make_app(LIMITS={"max_runs_per_address": 1}).test_client()
    start(client, SLOW_RUN, headers={"X-Forwarded-For": "198.51.100.7"})
    refused(client.post("/api/runs", json=SLOW_RUN, headers={"X-Forwarded-For": "198.51.100.8"}), 429,
            "your network address already has 1 runs going")


class CountingRuns:
    """A run manager whose runs never end, counting what the ceiling asks."""

    def __init__(self):
        self.started = 0
        self.asked = 0

    def start(self, config, client):
        self.started += 1
        return {"id": f"run-{self.started}"}

    def progress(self, run_id):
        self.asked += 1
        return "running", 0


def test_the_ceiling_asks_about_runs_only_at_the_ceiling_and_forgets_runs_past_their_time_limit():
    now = [0.0]
    ceiling = AddressCeiling(max_runs=2, max_run_seconds=100, clock=lambda: now[0])
    runs = CountingRuns()
    here = Client("a@10.0.0.1", "10.0.0.1")
    ceiling.start(runs, None, here)
    ceiling.start(runs, None, here)
    assert runs.asked == 0
    with pytest.raises(Exception, match="already has 2 runs going"):
        ceiling.start(runs, None, here)
    assert runs.asked == 2
    now[0] = 101.0  # longer than a run may last: both have ended
    ceiling.start(runs, None, Client("b@10.0.0.2", "10.0.0.2"))
    assert ceiling.active("10.0.0.1") == 0 and runs.asked == 2
    ceiling.start(runs, None, here)
    assert ceiling.active("10.0.0.1") == 1


def test_the_defaults_let_a_class_behind_one_address_run_four_times_one_client():
    app = create_app({"TESTING": True, "RUN_PROCESSES": 0})
    try:
        limits = app.config["RUNTIME_LIMITS"]
        assert limits.max_runs_per_address == 4 * limits.max_runs_per_client
        assert app.config["SSE_STREAMS_PER_ADDRESS"] == 4 * app.config["SSE_STREAMS_PER_CLIENT"]
    finally:
        app.extensions["run_manager"].shutdown()
