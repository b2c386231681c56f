"""Functions shared by the search tests."""

from __future__ import annotations

import json
import time

RATE = {"distribution": "log_uniform", "low": 1e-4, "high": 1.0}


def logged_events(search) -> list[tuple[int, str, dict]]:
    """The search's whole log as ``(id, name, data)``."""
    return [(e.id, e.event, json.loads(e.data)) for e in search.events_after(0, 0)]


def done_event(search) -> dict:
    event_id, name, data = logged_events(search)[-1]
    assert name == "done"
    return data


def wait_for_running(search, count: int, timeout: float = 20.0) -> None:
    """Wait until ``count`` trials have been announced as running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last_id, _, _ = logged_events(search)[-1]
        running = [d for _, name, d in logged_events(search) if name == "trial" and d["status"] == "running"]
        if len(running) >= count:
            return
        search.events_after(last_id, 0.05)
    raise AssertionError(f"fewer than {count} trials started")


def seconds_to_stop(search, timeout: float = 10.0) -> float:
    """Stop the search and wait for it to end; the seconds that took."""
    started = time.monotonic()
    search.stop()
    search.join(timeout)
    assert search.finished
    return time.monotonic() - started
