"""The SSE wire format, strict JSON, the bounded log and the stream generator, on exact values."""

from __future__ import annotations

import pytest

from server.runs.events import EventLog, LoggedEvent, to_json
from server.web.sse import event_stream, format_comment, format_sse


def test_format_sse_writes_event_id_and_data_lines():
    assert format_sse({"epoch": 3}, event="metrics", id=7) == 'event: metrics\nid: 7\ndata: {"epoch":3}\n\n'


def test_format_sse_keeps_id_zero():
    assert format_sse("x", id=0) == "id: 0\ndata: x\n\n"


def test_format_sse_splits_multi_line_data_on_every_kind_of_line_break():
    assert format_sse("one\ntwo\r\nthree\rfour") == "data: one\ndata: two\ndata: three\ndata: four\n\n"


def test_format_sse_sends_empty_data_as_one_empty_line():
    assert format_sse("", event="ping") == "event: ping\ndata: \n\n"


def test_format_sse_retry_alone():
    assert format_sse(retry=2000) == "retry: 2000\n\n"


@pytest.mark.parametrize("kwargs", [
    {"data": "x", "event": "a\nb"},
    {"data": "x", "id": "1\r2"},
    {"data": "x", "id": "1\0"},
    {"retry": -1},
    {"retry": 1.5},
    {},
])
def test_format_sse_refuses_what_would_break_the_stream(kwargs):
    with pytest.raises(ValueError):
        format_sse(**kwargs)


def test_format_comment():
    assert format_comment("heartbeat") == ": heartbeat\n\n"
    assert format_comment() == ":\n\n"
    assert format_comment("a\nb") == ": a\n: b\n\n"


def test_to_json_is_compact_and_never_emits_nan():
    assert to_json({"a": [1, 2.5], "b": None}) == '{"a":[1,2.5],"b":null}'
    assert to_json({"loss": float("nan"), "grad": [float("inf"), -float("inf"), 1.0]}) == \
        '{"loss":null,"grad":[null,null,1.0]}'


def test_to_json_accepts_numpy_values():
    numpy = pytest.importorskip("numpy")
    assert to_json({"z": numpy.array([[0.5, numpy.nan]]), "n": numpy.int64(3), "x": numpy.float32(0.25)}) == \
        '{"z":[[0.5,null]],"n":3,"x":0.25}'


def filled_log(n, max_events=100, max_bytes=10**6):
    log = EventLog(max_events, max_bytes)
    for index in range(n):
        log.append("config" if index == 0 else "metrics", {"i": index})
    return log


def test_log_ids_start_at_one_and_since_replays_later_events():
    log = filled_log(5)
    assert [event.id for event in log.since(0)] == [1, 2, 3, 4, 5]
    assert [event.id for event in log.since(3)] == [4, 5]
    assert log.since(5) == []
    assert log.since(99) == []


def test_log_bounded_by_count_keeps_the_first_and_reports_the_gap():
    log = filled_log(10, max_events=4)
    assert len(log) == 4 and log.dropped == 6
    assert [(event.event, event.id) for event in log.since(0)] == [
        ("config", 1), ("gap", 7), ("metrics", 8), ("metrics", 9), ("metrics", 10)]
    assert log.since(0)[1].data == '{"first":2,"last":7,"count":6}'
    assert [(event.event, event.id) for event in log.since(4)] == [
        ("gap", 7), ("metrics", 8), ("metrics", 9), ("metrics", 10)]
    assert log.since(4)[0].data == '{"first":5,"last":7,"count":3}'
    assert [event.id for event in log.since(7)] == [8, 9, 10]


def test_log_bounded_by_bytes_always_keeps_the_latest():
    log = EventLog(100, max_bytes=30)
    log.append("config", {"i": 0})
    for index in range(1, 6):
        log.append("metrics", {"payload": "x" * 40, "i": index})
    assert [event.id for event in log.since(1)] == [5, 6]
    assert log.since(1)[0].event == "gap"


def test_log_needs_room_for_first_and_latest():
    with pytest.raises(ValueError):
        EventLog(1, 1000)


class FakeSource:
    """``fetch`` for ``event_stream``: scripted batches, then the source disappears."""

    def __init__(self, batches):
        self.batches = list(batches)
        self.calls = []

    def __call__(self, last_id, timeout):
        self.calls.append((last_id, timeout))
        if not self.batches:
            raise LookupError("gone")
        return self.batches.pop(0)


def test_event_stream_sends_retry_first_then_events_heartbeats_and_ends_after_done():
    source = FakeSource([
        [LoggedEvent(4, "metrics", '{"epoch":1}')],
        [],
        [LoggedEvent(5, "metrics", '{"epoch":2}'), LoggedEvent(6, "done", '{"reason":"completed"}')],
        [LoggedEvent(7, "metrics", "{}")],
    ])
    chunks = list(event_stream(source, 3, heartbeat_seconds=0.5, retry_ms=1500))
    assert chunks == [
        "retry: 1500\n\n",
        'event: metrics\nid: 4\ndata: {"epoch":1}\n\n',
        ": heartbeat\n\n",
        'event: metrics\nid: 5\ndata: {"epoch":2}\n\nevent: done\nid: 6\ndata: {"reason":"completed"}\n\n',
    ]
    assert source.calls == [(3, 0.5), (4, 0.5), (4, 0.5)]


def test_event_stream_ends_when_the_source_is_gone():
    assert list(event_stream(FakeSource([]), 0)) == ["retry: 2000\n\n"]
