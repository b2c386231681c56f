"""Waiting for a condition the code under test brings about, never for a length of time.

A test asserts what the code controls (states, counts, pacing), not how fast
this machine is: the timeout is only how long a *failing* test waits before
it says so.  It is generous, because a passing test returns as soon as the
condition holds, however loaded the machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

PATIENCE_SECONDS = 30.0
POLL_SECONDS = 0.01

T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str = "the condition",
               timeout: float = PATIENCE_SECONDS, interval: float = POLL_SECONDS) -> T:
    """Poll ``condition`` every ``interval`` s until it returns something true, and return that;
    fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        time.sleep(interval)
    return result
