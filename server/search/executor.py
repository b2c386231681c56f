"""Where trials run: the ``TrialExecutor`` interface and its local implementations.

A search hands each trial to an executor as a task dict (``{"config": {...},
"max_seconds": ...}``) and gets back a ``concurrent.futures.Future`` that
resolves to the trial's outcome dict.  A cluster backend fits the same shape:
Ray's ``ObjectRef.future()`` and Dask's futures both convert to
``concurrent.futures`` futures, ``cancel`` maps to ``ray.cancel`` or
``Client.cancel``, and the stop flag to a shared actor or ``dask.distributed.Event``.

``ProcessPoolTrialExecutor`` is the default: one ``python -m
server.search.worker`` process per worker (``server.child``), because forking
a threaded web server can copy a lock held by another thread and
multiprocessing's spawn would import the caller's ``__main__`` in each worker.
Stopping is cooperative first (a stop message to every worker, which a
watcher thread in each trial turns into the engine's stop at the next epoch)
and forced after a grace period (the worker processes are terminated).
``WarmExecutors`` keeps the executors of finished searches for the next ones.
"""

from __future__ import annotations

import logging
import pickle
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from server.child import Child
from server.search import worker
from server.settings import BLAS_THREAD_VARIABLES, available_cores

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

    def cancel(self) -> None:
        self._stop.set()
        self._cancel_pending()

    def _cancel_pending(self) -> None:
        # Future.cancel() succeeds only for trials that have not started.
        with self._lock:
            for future in list(self._futures):
                future.cancel()


class _StopFlag:
    """The search's stop flag, mirrored into every worker process by a message."""

    def __init__(self, workers: Callable[[], list[_TrialWorker]]):
        self._event = threading.Event()
        self._workers = workers

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()
        for trial_worker in self._workers():
            trial_worker.tell("stop")

    def clear(self) -> None:
        self._event.clear()
        for trial_worker in self._workers():
            trial_worker.tell("resume")


class _TrialWorker:
    """One ``python -m server.search.worker`` process, running one trial at a time.

    A reader thread resolves the running trial's future with the outcome the
    worker sends, or with ``BrokenProcessPool`` when the process ends first,
    and then calls ``on_free``.
    """

    def __init__(self, preload: tuple[str, ...], on_free: Callable[[], None]):
        self.child = Child(worker.__name__, environ=dict.fromkeys(BLAS_THREAD_VARIABLES, "1"))
        self.ready = threading.Event()
        self._on_free = on_free
        self._lock = threading.Lock()
        self._future: Future | None = None
        self._alive = True
        self.tell("init", preload)
        threading.Thread(target=self._read_forever, name=f"trial-worker-{self.child.pid}",
                         daemon=True).start()

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._alive and self._future is None

    @property
    def alive(self) -> bool:
        return self._alive

    def run(self, future: Future, function: bytes, task: dict) -> None:
        with self._lock:
            assigned = self._alive and self._future is None
            if assigned:
                self._future = future
        if not assigned:
            _fail(future, "the worker process ended before the trial started")
            return
        self.tell("trial", function, task)  # if the worker is gone, its reader fails the future

    def tell(self, *message) -> None:
        try:
            self.child.connection.send(message)
        except (OSError, ValueError):
            pass  # the process is gone: the reader notices

    def _read_forever(self) -> None:
        while True:
            try:
                kind, payload = self.child.connection.recv()
            except (EOFError, OSError):
                break
            if kind == "ready":
                self.ready.set()
                continue
            with self._lock:
                future, self._future = self._future, None
            if future is not None:
                future.set_result(payload)
            self._on_free()
        with self._lock:
            self._alive = False
            future, self._future = self._future, None
        self.ready.set()
        self.child.join(5.0)
        code = self.child.process.returncode
        if future is not None:
            _fail(future, f"the worker process ended while running the trial (exit code {code})")
        self.child.connection.close()
        self._on_free()


def _fail(future: Future, message: str) -> None:
    try:
        future.set_exception(BrokenProcessPool(message))
    except InvalidStateError:  # already resolved
        pass


class ProcessPoolTrialExecutor(_LocalExecutor):
    """Trials in local worker processes, one BLAS thread each.

    Workers start as trials need them (or all at once, ``warm_up``) and stay
    for the next search.  A worker that dies (killed, out of memory) fails
    only its own trial with ``BrokenProcessPool``; the next trial starts a
    fresh worker.
    """

    def __init__(self, workers: int, trial_function: worker.TrialFunction = worker.train_trial,
                 preload: tuple[str, ...] = ("server.engine",)):
        super().__init__(workers, trial_function)
        self._function = pickle.dumps(trial_function)
        self._preload = preload
        self._workers: list[_TrialWorker] = []
        self._pending: deque[tuple[Future, dict]] = deque()
        self._stop = _StopFlag(lambda: list(self._workers))

    def warm_up(self) -> None:
        with self._lock:
            while len(self._workers) < self.workers:
                self._start_worker()
            workers = list(self._workers)
        for trial_worker in workers:
            trial_worker.ready.wait(60)

    def submit(self, task: dict) -> Future:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("the executor was cancelled")
            if self._closed:
                raise RuntimeError("the executor is shut down")
            future = self._track(Future())
            self._pending.append((future, task))
            self._dispatch()
        return future

    def _dispatch(self) -> None:
        """Hand pending trials to idle workers, starting workers up to ``workers`` (under the lock)."""
        self._workers = [trial_worker for trial_worker in self._workers if trial_worker.alive]
        while self._pending and not self._closed:
            trial_worker = next((candidate for candidate in self._workers if candidate.idle), None)
            if trial_worker is None and len(self._workers) < self.workers:
                trial_worker = self._start_worker()
            if trial_worker is None:
                return
            future, task = self._pending.popleft()
            if future.set_running_or_notify_cancel():
                trial_worker.run(future, self._function, task)

    def _start_worker(self) -> _TrialWorker:
        trial_worker = _TrialWorker(self._preload, self._worker_free)
        self._workers.append(trial_worker)
        if self._stop.is_set():  # a stop that came while it started
            trial_worker.tell("stop")
        return trial_worker

    def _worker_free(self) -> None:
        with self._lock:
            self._dispatch()

    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            pending, self._pending = self._pending, deque()
        for future, _ in pending:
            future.cancel()
        if kill:
            self._stop.set()
            for trial_worker in workers:
                trial_worker.child.terminate()
        for trial_worker in workers:
            trial_worker.tell("exit")  # after its current trial
        if wait:
            for trial_worker in workers:
                trial_worker.child.join()


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
