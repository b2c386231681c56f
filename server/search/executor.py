"""Where trials run: the ``TrialExecutor`` interface and its local implementations.

A search hands each trial to an executor as a task dict (``{"config": {...},
"max_seconds": ...}``) and gets back a ``concurrent.futures.Future`` that
resolves to the trial's outcome dict.  A cluster backend fits the same shape:
Ray's ``ObjectRef.future()`` and Dask's futures both convert to
``concurrent.futures`` futures, ``cancel`` maps to ``ray.cancel`` or
``Client.cancel``, and the stop flag to a shared actor or ``dask.distributed.Event``.

``ProcessPoolTrialExecutor`` is the default: one process per worker, started
with ``spawn`` because forking a threaded web server can copy a lock held by
another thread.  Stopping is cooperative first (a shared
``multiprocessing.Event``, which a watcher thread in each trial turns into the
engine's stop at the next epoch) and forced after a grace period (the worker
processes are terminated).  ``WarmExecutors`` keeps the executors of finished
searches for the next ones.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from server.search import worker
from server.settings import available_cores

__all__ = ["EXECUTORS", "ProcessPoolTrialExecutor", "ThreadTrialExecutor", "TrialExecutor", "WarmExecutors",
           "available_cores"]

logger = logging.getLogger(__name__)


class TrialExecutor(ABC):
    """Runs trials, ``workers`` at a time."""

    workers: int

    @abstractmethod
    def submit(self, task: dict) -> Future:
        """Start one trial; the future resolves to its outcome dict (never raises for a trial's own error)."""

    @abstractmethod
    def cancel(self) -> None:
        """Drop trials that have not started and ask running ones to stop after their current epoch."""

    @abstractmethod
    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        """Release the workers; ``kill`` ends trials that are still running instead of waiting for them."""

    def reset(self) -> bool:
        """Make an idle executor ready for another search (clear the stop flag).

        Returns False when it cannot be reused; it must then be shut down.
        """
        return False

    def warm_up(self) -> None:
        """Start every worker now rather than at the first trial (blocks until they are up).

        Executors whose workers cost nothing to start keep this default.
        """
        return None


class _LocalExecutor(TrialExecutor):
    """Shared bookkeeping: the trial function and the futures not yet finished.

    Subclasses set ``_stop``, the stop flag their trials see (an event).
    """

    def __init__(self, workers: int, trial_function: worker.TrialFunction):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._trial_function = trial_function
        self._lock = threading.Lock()
        self._futures: set[Future] = set()
        self._closed = False

    def _track(self, future: Future) -> Future:
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return future

    def reset(self) -> bool:
        with self._lock:
            if self._closed or any(not future.done() for future in self._futures):
                return False
            self._stop.clear()
            return True

    def _cancel_pending(self) -> None:
        # Future.cancel() succeeds only for trials that have not started.
        with self._lock:
            for future in list(self._futures):
                future.cancel()


class ProcessPoolTrialExecutor(_LocalExecutor):
    """Trials in local worker processes, one BLAS thread each.

    A worker that dies (killed, out of memory) breaks a ``ProcessPoolExecutor``
    for good; the next ``submit`` then starts a fresh pool, so one lost trial
    never ends the search.
    """

    def __init__(self, workers: int, trial_function: worker.TrialFunction = worker.train_trial,
                 start_method: str = "spawn", preload: tuple[str, ...] = ("server.engine",)):
        super().__init__(workers, trial_function)
        self._context = multiprocessing.get_context(start_method)
        self._stop = self._context.Event()
        self._preload = preload
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self._context,
                                   initializer=worker.initialize, initargs=(self._stop, self._preload))

    def warm_up(self) -> None:
        # The pool starts a process per submission while none is idle, so one
        # no-op per worker, submitted together, starts them all.
        with self._lock:
            pool = self._pool
        for future in [pool.submit(os.getpid) for _ in range(self.workers)]:
            future.result()

    def submit(self, task: dict) -> Future:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("the executor was cancelled")
            try:
                future = self._pool.submit(worker.execute, self._trial_function, task)
            except BrokenProcessPool:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                future = self._pool.submit(worker.execute, self._trial_function, task)
            return self._track(future)

    def cancel(self) -> None:
        self._stop.set()
        self._cancel_pending()

    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        with self._lock:
            pool = self._pool
            self._closed = True
        if kill:
            self._stop.set()
            _terminate_workers(pool)
        pool.shutdown(wait=wait, cancel_futures=True)



def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    # Python 3.14 has ProcessPoolExecutor.terminate_workers(); before it, the
    # worker processes are only reachable through the pool's _processes map.
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


class ThreadTrialExecutor(_LocalExecutor):
    """Trials on threads of this process.

    NumPy releases the GIL only inside its kernels, so small networks gain
    little from a second thread; this executor is for tests and for hosts
    that cannot start processes.  ``kill`` cannot end a thread: it only
    stops waiting, and the trial ends at its next epoch.
    """

    def __init__(self, workers: int, trial_function: worker.TrialFunction = worker.train_trial):
        super().__init__(workers, trial_function)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="trial")

    def submit(self, task: dict) -> Future:
        if self._stop.is_set():
            raise RuntimeError("the executor was cancelled")
        with self._lock:
            return self._track(self._pool.submit(worker.execute, self._trial_function, task,
                                                 self._stop.is_set))

    def cancel(self) -> None:
        self._stop.set()
        self._cancel_pending()

    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        with self._lock:
            self._closed = True
        if kill:
            self._stop.set()
        self._pool.shutdown(wait=wait and not kill, cancel_futures=True)



EXECUTORS = {"process": ProcessPoolTrialExecutor, "thread": ThreadTrialExecutor}


class WarmExecutors:
    """Executors of finished searches, kept for the next ones.

    Starting worker processes and importing the engine in each costs a second
    or more; a search that reuses them starts its first trial at once.  At
    most ``max_idle`` executors wait (their processes stay alive, idle).
    """

    def __init__(self, factory: Callable[[int], TrialExecutor], max_idle: int):
        self._factory = factory
        self._max_idle = max_idle
        self._idle: list[TrialExecutor] = []
        self._warming = False
        self._lock = threading.Lock()

    def acquire(self, workers: int) -> TrialExecutor:
        """An idle executor with ``workers`` workers, or a new one."""
        while True:
            with self._lock:
                executor = next((e for e in self._idle if e.workers == workers), None)
                if executor is None:
                    return self._factory(workers)
                self._idle.remove(executor)
            # Reset again: an idle executor must start the search with its stop flag clear.
            if executor.reset():
                return executor
            executor.shutdown(wait=False)

    def idle(self) -> list[int]:
        """The worker counts of the executors waiting for a search."""
        with self._lock:
            return [executor.workers for executor in self._idle]

    def prewarm(self, workers: int) -> None:
        """In the background, start an executor of ``workers`` unless one is idle or starting.

        The search page calls this when it is opened, so that the processes
        are up by the time its user presses start.
        """
        with self._lock:
            if self._warming or any(executor.workers == workers for executor in self._idle):
                return
            if len(self._idle) >= self._max_idle:
                return
            self._warming = True
        threading.Thread(target=self._warm, args=(workers,), name="search-prewarm", daemon=True).start()

    def _warm(self, workers: int) -> None:
        try:
            executor = self._factory(workers)
            executor.warm_up()
        except Exception:  # a failed warm-up costs only the head start
            logger.exception("could not start search workers ahead of time")
            return
        finally:
            with self._lock:
                self._warming = False
        self.release(executor)

    def release(self, executor: TrialExecutor) -> None:
        """Keep ``executor`` for a later search if it can be reused and there is room; else shut it down."""
        with self._lock:
            if len(self._idle) < self._max_idle and executor.reset():
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)

    def shutdown(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for executor in idle:
            executor.shutdown(wait=True)
