"""Waiting threads: a run is handed to a thread without waiting for one to start."""

from __future__ import annotations

import queue
import threading

from server.runs.threads import WaitingThreads
from tests.waiting import PATIENCE_SECONDS, wait_until


def test_tasks_run_and_finished_threads_are_reused():
    threads = WaitingThreads("test")
    names = []
    for _ in range(3):
        done = threading.Event()
        threads.submit(lambda done=done: (names.append(threading.current_thread().name), done.set()))
        assert done.wait(PATIENCE_SECONDS)
    assert len(set(names)) == 1  # one thread did all three, one after the other
    wait_until(lambda: threads.waiting == 1, "one thread waiting")


def test_busy_threads_are_not_handed_more_work():
    threads = WaitingThreads("test")
    gate = threading.Event()
    started = threading.Semaphore(0)

    def hold():
        started.release()
        gate.wait(PATIENCE_SECONDS)

    for _ in range(4):
        threads.submit(hold)
    for _ in range(4):
        assert started.acquire(timeout=PATIENCE_SECONDS)  # four tasks run at once: four threads
    assert threads.waiting == 0
    gate.set()
    wait_until(lambda: threads.waiting == 4, "four threads waiting")


def test_prestarted_threads_wait_and_take_tasks_without_new_threads():
    threads = WaitingThreads("prestarted")
    threads.prestart(3)
    threads.prestart(2)  # already enough
    wait_until(lambda: threads.waiting == 3, "three threads waiting")
    before = {thread.name for thread in threading.enumerate() if thread.name.startswith("prestarted-")}
    done = threading.Event()
    threads.submit(done.set)
    assert done.wait(PATIENCE_SECONDS)
    after = {thread.name for thread in threading.enumerate() if thread.name.startswith("prestarted-")}
    assert before == after and len(after) == 3


def test_a_failing_task_is_logged_and_its_thread_waits_for_more(caplog):
    threads = WaitingThreads("test")

    def fail():
        raise RuntimeError("boom")

    threads.submit(fail)
    wait_until(lambda: threads.waiting == 1, "one thread waiting")
    assert "boom" in caplog.text
    done = threading.Event()
    threads.submit(done.set)
    assert done.wait(PATIENCE_SECONDS)


class CountingQueue(queue.SimpleQueue):
    """A task queue that counts the waits for a task that ran out of time (an idle thread's turn to end)."""

    def __init__(self):
        self.idle_timeouts = 0

    def get(self, block=True, timeout=None):
        try:
            return super().get(block, timeout)
        except queue.Empty:
            self.idle_timeouts += 1
            raise


def test_idle_threads_end_but_prestarted_ones_stay():
    threads = WaitingThreads("idle", idle_seconds=0.05)
    threads._tasks = tasks = CountingQueue()
    gate = threading.Event()
    for _ in range(3):
        threads.submit(lambda: gate.wait(PATIENCE_SECONDS))
    assert threads.alive == 3
    gate.set()
    wait_until(lambda: threads.alive == 0, "every idle thread ended")
    threads.prestart(2)
    ended = tasks.idle_timeouts
    wait_until(lambda: tasks.idle_timeouts >= ended + 4, "two idle timeouts of each prestarted thread")
    assert threads.alive == threads.waiting == 2
    done = threading.Event()
    threads.submit(done.set)
    assert done.wait(PATIENCE_SECONDS)
