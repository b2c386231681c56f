"""A worker's event log on the real Redis: what its writer sends together, and what readers then find."""

from __future__ import annotations

import threading

from server.runs.redis_log import LogLimits, RedisEventLog, read_events
from server.runs.redis_writer import EventWriter
from tests.waiting import wait_until

LIMITS = LogLimits(max_events=100, max_bytes=1_000_000, retention_seconds=60, max_retained_runs=10)


def test_the_first_events_of_runs_begun_together_go_out_in_one_pipeline(backend):
    writer = EventWriter(backend.store, "test")
    sent = []  # the scripts of each pipeline the writer sends
    pipeline = writer._pipeline

    def recording(scripts):
        sent.append(len(scripts))
        return pipeline(scripts)

    writer._pipeline = recording
    busy, go_on = threading.Event(), threading.Event()
    writer.call(lambda: (busy.set(), go_on.wait(10)))  # the writer busy while ten runs begin
    try:
        assert busy.wait(10)
        for n in range(10):
            log = RedisEventLog(backend.store, f"run-{n}", LIMITS, writer)
            log.stage(status="running")
            log.append("config", {"n": n})
        go_on.set()
        wait_until(lambda: sum(sent) >= 10, what="the ten first events sent")
        assert sent == [10]
    finally:
        go_on.set()
        writer.close()
    for n in range(10):  # each kept in its stream and apart, for a reader after it was trimmed
        events, status = read_events(backend.store, f"run-{n}", 0)
        assert status == "running"
        assert [(event.id, event.event, event.data) for event in events] == [(1, "config", f'{{"n":{n}}}')]
        assert backend.store.client.hmget(backend.store.keys.run(f"run-{n}"), ["first", "first_event"]) == [
            f'{{"n":{n}}}', "config"]
