"""Functions shared by the search tests."""

from __future__ import annotations

import json

from tests.waiting import wait_until

RATE = {"distribution": "log_uniform", "low": 1e-4, "high": 1.0}


def logged_events(search) -> list[tuple[int, str, dict]]:
    """The search's whole log as ``(id, name, data)``."""
    return [(e.id, e.event, json.loads(e.data)) for e in search.events_after(0, 0)]


def done_event(search) -> dict:
    event_id, name, data = logged_events(search)[-1]
    assert name == "done"
    return data


# The stand-in trials run 30 s unless a stop ends them: a stop that reached them ends
# the search well within this, one that did not fails the wait.
STOP_PATIENCE_SECONDS = 20.0


def wait_for_running(search, count: int) -> None:
    """Wait until ``count`` trials have been announced as running."""

    def running() -> int:
        return sum(name == "trial" and data["status"] == "running" for _, name, data in logged_events(search))

    wait_until(lambda: running() >= count, f"{count} trials running")


def stop_and_wait(search) -> None:
    """Stop the search and wait until it has ended."""
    search.stop()
    search.join(STOP_PATIENCE_SECONDS)
    assert search.finished, f"the search still ran {STOP_PATIENCE_SECONDS:g} s after the stop"


def stopped_by_their_own_check(search) -> bool:
    """Every trial that was running when the search stopped saw the stop flag and returned
    (rather than being terminated after the grace period)."""
    stopped = [t for t in search.snapshot()["trials"] if t["status"] == "stopped"]
    return bool(stopped) and all(t.get("message") is None for t in stopped)
