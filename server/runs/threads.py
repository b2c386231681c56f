"""Threads kept waiting for work, so a request can hand a run to one at once.

``threading.Thread.start`` blocks until the new thread runs.  In a busy web
process that is a full round of the interpreter lock for the request that
starts a run, and when many runs start together those rounds line up behind
each other.  ``WaitingThreads`` keeps the threads of finished runs (and any
started ahead of time with ``prestart``) blocked on a queue instead: handing
them a task is a queue put, with no wait.  A thread that waited
``idle_seconds`` for a task ends, unless it is one of the prestarted ones.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class WaitingThreads:
    """Daemon threads that run submitted tasks, kept for reuse while tasks keep coming."""

    def __init__(self, name: str, idle_seconds: float = 60.0):
        self._name = name
        self._idle_seconds = idle_seconds
        self._keep = 0
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._total = 0
        self._numbers = itertools.count(1)

    @property
    def alive(self) -> int:
        """Threads started and not ended."""
        with self._lock:
            return self._total

    @property
    def waiting(self) -> int:
        """Threads waiting for a task right now."""
        with self._lock:
            return self._waiting

    def prestart(self, count: int) -> None:
        """Start threads until at least ``count`` exist, and keep that many however idle.

        Call it off the request path, e.g. as the server boots.
        """
        with self._lock:
            self._keep = max(self._keep, count)
        while True:
            with self._lock:
                if self._total >= count:
                    return
                self._total += 1
                self._waiting += 1
            self._start_thread()

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` in a waiting thread, or in a new one when none is waiting."""
        with self._lock:
            start_one = self._waiting == 0
            if start_one:
                self._total += 1
            else:
                self._waiting -= 1
        self._tasks.put(task)
        if start_one:
            self._start_thread()

    def _start_thread(self) -> None:
        threading.Thread(target=self._serve, name=f"{self._name}-{next(self._numbers)}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                task = self._tasks.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    # ``waiting`` counts the threads no queued task is promised
                    # to, so one of those may end.
                    if self._waiting <= self._keep:
                        continue
                    self._waiting -= 1
                    self._total -= 1
                return
            try:
                task()
            except Exception:  # the thread stays, for the next task
                logger.exception("a task in %s failed", threading.current_thread().name)
            finally:
                with self._lock:
                    self._waiting += 1
