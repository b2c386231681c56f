"""Waiting threads: a run is handed to a thread without waiting for one to start."""

from __future__ import annotations

import threading
import time

from server.runs.threads import WaitingThreads


def test_tasks_run_and_finished_threads_are_reused():
    threads = WaitingThreads("test")
    names = []
    for _ in range(3):
        done = threading.Event()
        threads.submit(lambda done=done: (names.append(threading.current_thread().name), done.set()))
        assert done.wait(5)
    assert len(set(names)) == 1  # one thread did all three, one after the other
    assert_eventually(lambda: threads.waiting == 1)


def test_busy_threads_are_not_handed_more_work():
    threads = WaitingThreads("test")
    gate = threading.Event()
    started = threading.Semaphore(0)

    def hold():
        started.release()
        gate.wait(5)

    for _ in range(4):
        threads.submit(hold)
    for _ in range(4):
        assert started.acquire(timeout=5)  # four tasks run at once: four threads
    assert threads.waiting == 0
    gate.set()
    assert_eventually(lambda: threads.waiting == 4)


def test_prestarted_threads_wait_and_take_tasks_without_new_threads():
    threads = WaitingThreads("prestarted")
    threads.prestart(3)
    threads.prestart(2)  # already enough
    assert_eventually(lambda: threads.waiting == 3)
    before = {thread.name for thread in threading.enumerate() if thread.name.startswith("prestarted-")}
    done = threading.Event()
    threads.submit(done.set)
    assert done.wait(5)
    after = {thread.name for thread in threading.enumerate() if thread.name.startswith("prestarted-")}
    assert before == after and len(after) == 3


def test_a_failing_task_is_logged_and_its_thread_waits_for_more(caplog):
    threads = WaitingThreads("test")

    def fail():
        raise RuntimeError("boom")

    threads.submit(fail)
    assert_eventually(lambda: threads.waiting == 1)
    assert "boom" in caplog.text
    done = threading.Event()
    threads.submit(done.set)
    assert done.wait(5)


def assert_eventually(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_idle_threads_end_but_prestarted_ones_stay():
    threads = WaitingThreads("idle", idle_seconds=0.05)
    gate = threading.Event()
    for _ in range(3):
        threads.submit(lambda: gate.wait(5))
    assert threads.alive == 3
    gate.set()
    assert_eventually(lambda: threads.alive == 0)
    threads.prestart(2)
    time.sleep(0.3)
    assert threads.alive == threads.waiting == 2
    done = threading.Event()
    threads.submit(done.set)
    assert done.wait(5)
