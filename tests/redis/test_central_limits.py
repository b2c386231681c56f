"""The per-address run ceiling and the stream caps are one count for every instance on one Redis."""

from __future__ import annotations

import pytest

from tests.web.api_client import control, start
from tests.web.sse_client import StreamReader

SLOW = {"training": {"epochs": 1000, "epochs_per_second": 50}}
CLASSROOM = "10.0.0.9"


def as_client(token: str, address: str = CLASSROOM) -> dict:
    """A request from the page whose client token is ``token`` at ``address``."""
    return {"headers": {"X-Tuning-Client": token * 16}, "environ_base": {"REMOTE_ADDR": address}}


@pytest.fixture
def two_instances(backend):
    """Two web instances on one Redis (and one worker), with small ceilings."""
    backend.worker()
    config = {"LIMITS": {"max_runs_per_address": 2, "max_runs_per_client": 5},
              "SSE_STREAMS_PER_CLIENT": 1, "SSE_STREAMS_PER_RUN": 2}
    return backend.app(**config).test_client(), backend.app(**config).test_client()


def test_an_addresss_ceiling_counts_its_runs_on_every_instance(two_instances):
    first, second = two_instances
    one = start(first, SLOW, **as_client("a"))
    start(second, SLOW, **as_client("b"))
    refused = first.post("/api/runs", json=SLOW, **as_client("c"))
    assert refused.status_code == 429
    assert refused.get_json()["error"] == ("your network address already has 2 runs going, the most one "
                                           "address may have (at most 2); stop one or wait for one to end")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert second.post("/api/runs", json=SLOW, **as_client("c")).status_code == 429
    start(second, SLOW, **as_client("c", address="10.0.0.10"))  # another network
    control(second, one, "stop")
    reader = StreamReader(first.get(one["events_url"], **as_client("a")))
    assert reader.events()[-1].data["reason"] == "stopped"
    reader.close()
    start(first, SLOW, **as_client("c"))  # the stopped run's place


def test_a_clients_open_streams_are_one_count_on_every_instance(two_instances):
    first, second = two_instances
    run = start(first, SLOW, **as_client("a"))
    open_on_first = StreamReader(first.get(run["events_url"], **as_client("a")))
    refused = second.get(run["events_url"], **as_client("a"))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
    assert refused.get_json()["error"].startswith("you already have 1 open event streams")
    open_on_first.close()
    again = StreamReader(second.get(run["events_url"], **as_client("a")))
    again.close()


def test_a_runs_stream_cap_counts_streams_on_every_instance(two_instances):
    first, second = two_instances
    run = start(first, SLOW, **as_client("a"))
    readers = [StreamReader(first.get(run["events_url"], **as_client("a"))),
               StreamReader(second.get(run["events_url"], **as_client("b")))]
    refused = first.get(run["events_url"], **as_client("c"))
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "this run already has 2 open streams"
    for reader in readers:
        reader.close()
    assert first.application.extensions["stream_slots"].open == 0


def test_the_total_cap_protects_each_instance_and_is_not_shared(backend):
    backend.worker()
    caps = {"SSE_STREAMS_TOTAL": 1, "SSE_STREAMS_PER_CLIENT": 1}
    first, second = (backend.app(**caps).test_client() for _ in range(2))
    run = start(first, SLOW, **as_client("a"))
    readers = [StreamReader(client.get(run["events_url"], **as_client(token)))
               for client, token in ((first, "a"), (second, "b"))]  # one on each instance
    refused = first.get(run["events_url"], **as_client("c"))
    assert refused.status_code == 429
    assert refused.get_json()["error"].startswith("the service has its maximum of 1 open event streams")
    assert first.application.extensions["stream_slots"].open == 1
    readers[1].close()
    # The refused stream gave its client's slot back: that client may open one elsewhere.
    readers.append(StreamReader(second.get(run["events_url"], **as_client("c"))))
    for reader in readers:
        reader.close()


def test_a_slot_lives_while_its_instance_renews_it_and_expires_after_the_instance_dies(two_instances):
    first, second = two_instances
    run = start(first, SLOW, **as_client("a"))
    held = first.get(run["events_url"], **as_client("a"))  # its instance dies with it open
    holder, other = (client.application.extensions["stream_slots"].leases for client in (first, second))
    lease, now = holder.lease_seconds, holder.clock()
    holder.clock = lambda: now + lease * 2 / 3
    holder.renew()
    other.clock = lambda: now + lease + 1  # past the first lease, not the renewed one
    assert second.get(run["events_url"], **as_client("a")).status_code == 429
    holder.close()  # the instance is gone: nothing renews its slot any more
    other.clock = lambda: now + lease * 5 / 3 + 1
    reader = StreamReader(second.get(run["events_url"], **as_client("a")))
    reader.close()
    held.close()
