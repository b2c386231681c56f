"""Trainers hosted in worker processes, so that runs train on every core.

Python threads share one interpreter lock: runs trained in the web process's
threads together get one core for their Python work, however many cores the
machine has.  ``TrainerProcessPool`` keeps a few host processes (one per core
by default) that each hold many ``server.engine.Trainer`` objects, and hands
the run manager ``RemoteTrainer`` proxies with the same interface.

Lockstep: a proxy asks its host for one event at a time (``next``), so a host
computes only what its run thread pulls, exactly as a local generator would.
Pausing, pacing and stepping therefore work unchanged, and a paused run costs
its host nothing.  ``request_update`` and ``request_stop`` are messages that
the host applies to the trainer between two pulls (the engine applies them at
its next epoch boundary).

A host also runs one-off engine calls (``gradient_check``), which would
otherwise hold the web process's interpreter lock for seconds.

Hosts are ``python -m server.runs.processes`` processes (``server.child``):
forking a threaded server can copy a lock held by another thread, and
multiprocessing's spawn would import the caller's ``__main__`` in each host.
They inherit the BLAS thread variables set by ``create_app``, before they
import NumPy.  If a host dies, its runs end with an ``error`` event and the
pool starts a fresh host for new runs (``revive``, which ``/healthz`` calls,
also replaces it when no run asks).
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Iterator

from server.child import Child, connect_to_parent
from server.engine.config import RunConfig
from server.runs.events import to_json
from server.settings import available_cores

HOST_GONE = "the training process ended unexpectedly"

# Training is batch work and the web process is interactive: when the cores are
# busy, the hosts yield to it, so starting a run or streaming its events seldom
# waits behind an epoch.  Paced runs still train at their pace; only the spare
# time of a full machine is shared out differently.  (Linux's SCHED_IDLE class
# would starve a host for as long as the web tier is busy, and a new run's first
# event needs its host: the lowest priority measured better.)
HOST_NICENESS = 19


def yield_to_interactive_work() -> None:
    """Run this process at the lowest CPU priority."""
    if hasattr(os, "nice"):
        os.nice(HOST_NICENESS)


class HostGone(RuntimeError):
    """The host process of a trainer is no longer there."""


class _Host:
    """One host process, its pipe, and the reader thread that routes replies to trainers' inboxes."""

    def __init__(self, index: int):
        self.process = Child("server.runs.processes")
        self._connection = self.process.connection
        self._send_lock = threading.Lock()
        self._inboxes: dict[int, queue.SimpleQueue] = {}
        self._inbox_lock = threading.Lock()
        self._keys = itertools.count(1)
        self.alive = True
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read_forever, name=f"trainer-host-{index}-reader",
                                        daemon=True)
        self._reader.start()

    @property
    def load(self) -> int:
        with self._inbox_lock:
            return len(self._inboxes)

    def _new_inbox(self) -> tuple[int, queue.SimpleQueue]:
        key = next(self._keys)
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        with self._inbox_lock:
            self._inboxes[key] = inbox
        return key, inbox

    def open(self, config: RunConfig) -> tuple[int, queue.SimpleQueue]:
        key, inbox = self._new_inbox()
        self.send(("start", key, config.model_dump(mode="json")))
        return key, inbox

    def call(self, name: str, *args, **kwargs):
        """Run the host function ``name`` (see ``_host_functions``) there; its result, or RuntimeError."""
        key, inbox = self._new_inbox()
        try:
            self.send(("call", key, name, args, kwargs))
            kind, _, payload = inbox.get()
        finally:
            with self._inbox_lock:
                self._inboxes.pop(key, None)
        if kind == "error":
            raise RuntimeError(payload)
        return payload

    def release(self, key: int) -> None:
        with self._inbox_lock:
            self._inboxes.pop(key, None)
        try:
            self.send(("close", key))
        except HostGone:
            pass

    def send(self, message: tuple) -> None:
        with self._send_lock:
            if not self.alive:
                raise HostGone(HOST_GONE)
            try:
                self._connection.send(message)
            except (OSError, ValueError) as error:
                raise HostGone(HOST_GONE) from error

    def _read_forever(self) -> None:
        while True:
            try:
                message = self._connection.recv()
            except (EOFError, OSError):
                break
            if message[0] == "ready":
                self.ready.set()
                continue
            with self._inbox_lock:
                inbox = self._inboxes.get(message[1])
            if inbox is not None:
                inbox.put(message)
        self.alive = False
        self.ready.set()  # nobody should wait for a host that is gone
        with self._inbox_lock:
            for key, inbox in self._inboxes.items():
                inbox.put(("error", key, HOST_GONE))
        self.process.join(5.0)  # reap it: a replacement takes its place, this one is never stopped

    def stop(self, timeout: float) -> None:
        try:
            self.send(("exit", 0))
        except HostGone:
            pass
        self.process.stop(timeout)


class RemoteTrainer:
    """A ``server.engine.Trainer`` living in a host process, with the same interface.

    Its events carry ``data_json`` (the data already encoded as strict JSON by
    the host) instead of ``data``; the run publishes that text as it is.
    """

    def __init__(self, host: _Host, config: RunConfig):
        self.config = config
        self.epochs_completed = 0
        self._host = host
        self._key, self._inbox = host.open(config)
        self._closed = False

    def request_update(self, changes: dict) -> None:
        self._host.send(("update", self._key, changes))

    def request_stop(self) -> None:
        try:
            self._host.send(("stop", self._key))
        except HostGone:
            pass  # the run ends anyway, with an error

    def events(self) -> Iterator[dict]:
        try:
            while True:
                try:
                    self._host.send(("next", self._key))
                except HostGone as error:
                    raise RuntimeError(str(error)) from None
                kind, _, *payload = self._inbox.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise RuntimeError(payload[0])
                event, epochs_completed, config = payload
                if config is not None:
                    self.config = RunConfig.model_validate(config)
                self.epochs_completed = epochs_completed
                yield event
        finally:
            self.close()

    def close(self) -> None:
        """Drop the trainer in its host (also when ``events`` was never started); idempotent."""
        if not self._closed:
            self._closed = True
            self._host.release(self._key)


class TrainerProcessPool:
    """``processes`` host processes, started on first use (or by ``start``)."""

    def __init__(self, processes: int | None = None):
        self.processes = processes or available_cores()
        self._hosts: list[_Host | None] = [None] * self.processes
        self._lock = threading.Lock()
        self._closed = False

    def start(self, timeout: float = 60.0) -> bool:
        """Start every host now and wait until they can train (True), so no run waits for NumPy to load."""
        with self._lock:
            hosts = [self._host_at(index) for index in range(self.processes)]
        return all(host.ready.wait(timeout) and host.alive for host in hosts)

    def trainer(self, config: RunConfig) -> RemoteTrainer:
        """A trainer of ``config`` on the least loaded host (the run manager's trainer factory)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the trainer pool is shut down")
            hosts = [self._host_at(index) for index in range(self.processes)]
            host = min(hosts, key=lambda candidate: candidate.load)
        return RemoteTrainer(host, config)

    def gradient_check(self, config: dict, **options) -> dict:
        """``server.engine.gradient_check`` in the least loaded host, keeping its work off this process."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the trainer pool is shut down")
            host = min((self._host_at(index) for index in range(self.processes)), key=lambda h: h.load)
        return host.call("gradient_check", config, **options)

    def revive(self) -> list[str]:
        """Start a replacement for every started host that is gone (without waiting); what was wrong.

        A dead host is otherwise replaced only when a run asks for it, and a
        health check that reported it would keep runs away: so the check
        replaces it, and reports the host as starting until it can train.
        """
        with self._lock:
            if self._closed:
                return ["the training host processes are shut down"]
            problems = []
            for index, host in enumerate(self._hosts):
                if host is None:
                    continue  # not started yet: it starts with the first run
                if not (host.alive and host.process.is_alive()):
                    problems.append(f"training host process {index} is not running; starting a new one")
                    self._hosts[index] = _Host(index)
                elif not host.ready.is_set():
                    problems.append(f"training host process {index} is starting")
            return problems

    def _host_at(self, index: int) -> _Host:
        host = self._hosts[index]
        if host is None or not host.alive:
            host = self._hosts[index] = _Host(index)
        return host

    def open_trainers(self) -> int:
        """Trainers currently held by the hosts."""
        with self._lock:
            return sum(host.load for host in self._hosts if host is not None)

    def host_pids(self) -> list[int]:
        with self._lock:
            return [host.process.pid for host in self._hosts if host is not None and host.alive]

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            hosts = [host for host in self._hosts if host is not None]
            self._hosts = [None] * self.processes
        for host in hosts:
            host.stop(timeout)


def host_main(connection) -> None:
    """A host process: build trainers and pull their events on request, until told to exit."""
    from server.engine import Trainer

    yield_to_interactive_work()
    _warm_up(Trainer)
    connection.send(("ready", 0))
    trainers: dict[int, Trainer] = {}
    streams: dict[int, Iterator[dict]] = {}
    failures: dict[int, str] = {}
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        kind, key = message[0], message[1]
        if kind == "exit":
            return
        try:
            if kind == "start":
                trainers[key] = Trainer(message[2])
            elif kind == "next":
                connection.send(_next_reply(key, trainers, streams, failures))
            elif kind == "call":
                name, args, kwargs = message[2:]
                connection.send(("result", key, _host_functions()[name](*args, **kwargs)))
            elif kind == "update" and key in trainers:
                trainers[key].request_update(message[2])
            elif kind == "stop" and key in trainers:
                trainers[key].request_stop()
            elif kind == "close":
                trainers.pop(key, None)
                failures.pop(key, None)
                stream = streams.pop(key, None)
                if stream is not None:
                    stream.close()
        except Exception as error:
            text = str(error) or type(error).__name__
            if kind in ("next", "call"):
                connection.send(("error", key, text))
            else:  # reported to the run at its next pull
                failures.setdefault(key, text)


def _host_functions() -> dict:
    """What a host may be asked to ``call``: engine work too long for the web process's threads."""
    from server.engine import gradient_check

    return {"gradient_check": gradient_check}


def _next_reply(key: int, trainers: dict, streams: dict, failures: dict) -> tuple:
    if key in failures:
        return ("error", key, failures.pop(key))
    trainer = trainers[key]
    stream = streams.get(key)
    if stream is None:
        stream = streams[key] = trainer.events()
    try:
        event = next(stream)
    except StopIteration:
        return ("end", key)
    except Exception as error:
        return ("error", key, str(error) or type(error).__name__)
    config = trainer.config.model_dump(mode="json") if event["event"] == "update" else None
    # Encoded here, where the work runs on its own core, not under the web process's lock.
    encoded = {"event": event["event"], "data_json": to_json(event.get("data", {}))}
    return ("event", key, encoded, trainer.epochs_completed, config)


def _warm_up(trainer_class) -> None:
    """Train a tiny run once, so the first real run does not pay for first-call costs."""
    warm_up = RunConfig.model_validate({"data": {"n_samples": 40}, "training": {"epochs": 2}})
    for _ in trainer_class(warm_up).events():
        pass


if __name__ == "__main__":
    host_main(connect_to_parent())
