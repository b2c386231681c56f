"""Many runs trained by one thread, taking fair turns.

Threads of one interpreter that each train a run pay for it twice: every
wake-up of a paced run is a round of the interpreter lock among all of them,
and measured on this project's default network 50 paced runs in 50 threads
cost twice the CPU per epoch that the same runs cost taking turns in one
thread.  So where one process trains many runs (a training host, a Redis
worker) one thread does it:

- ``FairTurns`` decides whose turn is next: a run asked to stop, else the one
  whose turns have taken the least time, so a run that trains a little and
  then waits (a paced run) goes ahead of one that trains without pause, and
  busy runs share the time equally.  A run that starts waiting again is given
  at most ``wake_credit`` of time ahead of the least served one: a run paused
  for an hour does not get the thread to itself for the next hour.  And a run
  back from waiting goes no later than the least served: paced runs started
  earlier have trained longer than those started since, and with the total
  time alone they would always go last, so on a busy machine the oldest runs
  fell behind their pace while the youngest kept theirs.  A paced run behind
  its schedule, whose gate opens without a wait, counts as back from waiting
  too: served after the runs on schedule, it stayed behind while they kept
  their pace, and on an overloaded worker a few runs lost a fifth to a third
  of their pace instead of every run a little.
- ``RunScheduler`` drives ``Run.execution`` generators: each turn trains one
  slice of a run (``server.engine.cost``) or publishes its next event, and an
  epoch gate that is not open yet parks the run until its pacing interval has
  passed, or until a control wakes it (``Run.on_wake``).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from server.engine.cost import DEFAULT_SLICE_WORK

if TYPE_CHECKING:
    from collections.abc import Iterator

    from server.runs.run import Run

logger = logging.getLogger(__name__)


class FairTurns:
    """Keys waiting for a turn, and the time each one's turns have taken."""

    def __init__(self, wake_credit: float = 0.05):
        self._wake_credit = wake_credit
        self._used: dict[Hashable, float] = {}
        self._least_used = 0.0  # never decreases: the least time used among the waiting
        self._waiting: list[Hashable] = []  # in the order they asked
        self._urgent: set[Hashable] = set()

    @property
    def busy(self) -> bool:
        """Some key waits for its turn."""
        return bool(self._waiting)

    @property
    def next_in_turn(self) -> Hashable | None:
        if not self._waiting:
            return None
        if self._urgent:
            urgent = [key for key in self._waiting if key in self._urgent]
            if urgent:
                return urgent[0]
        return min(self._waiting, key=self._used.__getitem__)  # ``want`` gave every waiting key a time

    def want(self, key: Hashable, waited: bool = False) -> None:
        """``key`` waits for a turn (again); ``waited``: it is back from waiting (a paced run's timer,
        a pause), and goes no later than the least served among those waiting."""
        if key not in self._waiting:
            used = max(self._used.get(key, 0.0), self._least_used - self._wake_credit)
            self._used[key] = min(used, self._least_used) if waited else used
            self._waiting.append(key)

    def hurry(self, key: Hashable) -> None:
        """Give ``key`` its turns before every other's (a run asked to stop)."""
        self._urgent.add(key)

    def take(self) -> Hashable | None:
        """The key whose turn it is, no longer waiting; None when none waits."""
        key = self.next_in_turn
        if key is None:
            return None
        used = self._used
        least_now = used[key] if key not in self._urgent else min(map(used.__getitem__, self._waiting))
        self._least_used = max(self._least_used, least_now)
        self._waiting.remove(key)
        return key

    def charge(self, key: Hashable, seconds: float) -> None:
        """Count ``seconds`` of time to the turns of ``key``."""
        self._used[key] = self._used.get(key, 0.0) + seconds

    def forget(self, key: Hashable) -> None:
        self._used.pop(key, None)
        self._urgent.discard(key)
        if key in self._waiting:
            self._waiting.remove(key)


_READY, _TURN, _TIMED, _PARKED = "ready", "turn", "timed", "parked"
_ENDED = object()


@dataclass(eq=False)
class _Entry:
    run: Run
    steps: Iterator[int]
    on_end: Callable[[], None]
    state: str = _READY
    gate: int = 0  # epochs waiting at the gate, 0 when none
    woken: bool = False  # a wake came during the run's turn: look at its gate again
    timer: int = 0  # the number of its timer in the heap; older ones there are stale
    epoch_due: bool = False  # a paced run's gate let its next epoch through in this turn


class RunScheduler:
    """One thread that trains every run given to ``start``, by turns, until ``close``.

    A turn is charged the time it took on ``clock``: this thread's CPU time
    by default, not the wall's.  A worker shares its cores with web
    instances and Redis, and at ``--nice 19`` it is the one put aside: a
    turn during which the host ran another process for 40 ms was charged
    40 ms, and that run then went last until every other had used 40 ms
    more: with fifty runs on a worker, up to two seconds without a turn while
    the others kept their pace.  The CPU clock's two readings cost about
    0.7 us more a turn than the wall's, some 0.2% of a busy worker.
    """

    def __init__(self, name: str, slice_work: float = DEFAULT_SLICE_WORK,
                 clock: Callable[[], float] = time.thread_time, wake_credit: float = 0.05):
        self._slice_work = slice_work
        self._clock = clock
        self._lock = threading.Condition()
        self._turns = FairTurns(wake_credit)
        self._entries: dict[str, _Entry] = {}
        self._timers: list[tuple[float, int, str]] = []
        self._timer_numbers = itertools.count(1)
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @property
    def runs(self) -> int:
        """Runs started and not ended."""
        with self._lock:
            return len(self._entries)

    def start(self, run: Run, on_end: Callable[[], None] = lambda: None) -> None:
        """Train ``run`` here; ``on_end()`` is called in this scheduler's thread once it has ended."""
        entry = _Entry(run, run.execution(self._slice_work), on_end)
        run.on_wake = partial(self._wake, run.id)
        with self._lock:
            if self._closed:
                raise RuntimeError("this scheduler is closed")
            self._entries[run.id] = entry
            self._turns.want(run.id)
            self._lock.notify()

    def close(self, timeout: float = 5.0) -> None:
        """End the thread once no run is left; runs still here are abandoned (their generators closed)."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout)

    # --- the scheduler's thread ----------------------------------------------------

    def _wake(self, run_id: str) -> None:
        """A control, a stop or a lost trainer may have opened the run's gate: look again at once."""
        with self._lock:
            entry = self._entries.get(run_id)
            if entry is None:
                return
            if entry.run.stop_requested:
                self._turns.hurry(run_id)
            if entry.state == _TURN:
                entry.woken = True
            elif entry.state in (_TIMED, _PARKED):
                entry.state = _READY
                self._turns.want(run_id, waited=True)
                self._lock.notify()

    def _serve(self) -> None:
        while (entry := self._next_entry()) is not None:
            began = self._clock()
            try:
                outcome = self._turn(entry)
            except Exception:  # a fault of the scheduler's own, not the run's (those end the run)
                logger.exception("run %s: its turn failed", entry.run.id)
                outcome = _ENDED
            self._after_turn(entry, outcome, self._clock() - began)
        with self._lock:
            left = list(self._entries.values())
            self._entries.clear()
        for entry in left:
            entry.steps.close()

    def _next_entry(self) -> _Entry | None:
        with self._lock:
            while True:
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    _, number, run_id = heapq.heappop(self._timers)
                    entry = self._entries.get(run_id)
                    if entry is not None and entry.state == _TIMED and entry.timer == number:
                        entry.state = _READY
                        self._turns.want(run_id, waited=True)
                run_id = self._turns.take()
                if run_id is not None:
                    entry = self._entries[run_id]
                    entry.state, entry.woken = _TURN, False
                    return entry
                if self._closed:
                    return None
                self._lock.wait(self._timers[0][0] - now if self._timers else None)

    @staticmethod
    def _turn(entry: _Entry):
        """One slice or one event of the run, or a look at its gate: None when it is ready for another
        turn, ``_ENDED``, or when to look at its gate again (``math.inf``: when woken)."""
        if not entry.gate:
            try:
                entry.gate = next(entry.steps)
            except StopIteration:
                return _ENDED
            if not entry.gate:
                return None
        due = entry.run.pass_gate(entry.gate)
        if due is None:
            entry.gate = 0
            entry.epoch_due = entry.run.paced
        return due

    def _after_turn(self, entry: _Entry, outcome, used: float) -> None:
        run_id = entry.run.id
        with self._lock:
            self._turns.charge(run_id, used)
            if outcome is _ENDED:
                del self._entries[run_id]
                self._turns.forget(run_id)
            elif outcome is None or entry.woken:
                entry.state = _READY
                # A paced run behind its schedule passes its gate without waiting for a timer, and is
                # as much back from waiting as one that waited: else the runs on schedule always went
                # first, and the ones behind stayed behind while the rest kept their pace.
                self._turns.want(run_id, waited=entry.epoch_due)
                entry.epoch_due = False
            elif outcome == math.inf:
                entry.state = _PARKED
            else:
                entry.state, entry.timer = _TIMED, next(self._timer_numbers)
                heapq.heappush(self._timers, (outcome, entry.timer, run_id))
        if outcome is _ENDED:
            entry.run.on_wake = None
            try:
                entry.on_end()
            except Exception:
                logger.exception("run %s: what follows its end failed", run_id)
