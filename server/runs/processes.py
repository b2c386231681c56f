"""Trainers hosted in worker processes, so that runs train on every core, fairly, and survive faults.

Python threads share one interpreter lock: runs trained in the web process's
threads together get one core for their Python work, however many cores the
machine has.  ``TrainerProcessPool`` keeps a few host processes (one per core
by default) that each hold many ``server.engine.Trainer`` objects, and hands
the run manager ``RemoteTrainer`` proxies with the same interface.

Lockstep: a proxy asks its host for one event at a time (``next``), so a host
computes only what its run thread pulls, exactly as a local generator would.
Pausing, pacing and stepping therefore work unchanged, and a paused run costs
its host nothing.  ``request_update`` and ``request_stop`` are messages that
the host applies to the trainer between two slices.

Fair turns: a host trains each run through ``Trainer.slices``, so the runs
that asked for an event take turns (``SliceScheduler``), one slice of at most
``slice_work`` multiply-adds each (``server.engine.cost``), the least served
run first: however large one run's epoch, a paced run's next event waits
for the slice in progress and little more.  A run asked to stop goes first
and ends at its next slice.

Gradient checks run in a host of their own (the *checker*), at a priority
between the web process's and the training hosts', so a check never waits
behind a run, nor a run behind a check.

Faults: the pool pings every host every ``heartbeat_interval`` seconds; a
thread of the host answers, whatever its trainers are computing.  A host that
has not been heard from for ``heartbeat_timeout`` seconds (stopped, wedged)
is killed; a host that exits is noticed when its connection closes.  Either
way every trainer on it ends with an error (the run publishes an ``error``
event and frees its slot, also when it was paused), a gradient check waiting
on it raises ``HostGone`` (the API answers 503), and a fresh host takes its
place.  ``revive`` (which ``/healthz`` calls) reports hosts that are gone,
starting, or silent for more than half the timeout.

Uploads and exports: an uploaded data set lives in the web process, so a
``start`` (and a ``call``) whose config names one carries its arrays (at most
5,000 x 64 floats), which the host makes findable while the trainer lives
(a live update validates the config again, and its work bound needs the
data's shape).  The reply with a ``done`` event carries the trainer's final network
(``model_state()``: its arrays, bounded by the config limits), so a finished
run can be exported after its host has dropped it.

Hosts are ``python -m server.runs.processes`` processes (``server.child``):
forking a threaded server can copy a lock held by another thread, and
multiprocessing's spawn would import the caller's ``__main__`` in each host.
They inherit the BLAS thread variables set by ``create_app``, before they
import NumPy.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator

from server.child import Child, connect_to_parent
from server.engine.config import RunConfig
from server.engine.cost import DEFAULT_SLICE_WORK
from server.engine.uploads import (
    GivenUpload,
    add_upload_source,
    find_upload,
    is_upload,
    remove_upload_source,
    upload_provided,
)
from server.runs.events import event_data_json
from server.runs.turns import FairTurns
from server.settings import available_cores

HOST_GONE = "the training process ended unexpectedly"
HOST_UNRESPONSIVE = "the training process stopped responding"

# Training is batch work and the web process is interactive: when the cores are
# busy, the hosts yield to it, so starting a run or streaming its events seldom
# waits behind an epoch.  Paced runs still train at their pace; only the spare
# time of a full machine is shared out differently.  (Linux's SCHED_IDLE class
# would starve a host for as long as the web tier is busy, and a new run's first
# event needs its host: the lowest priority measured better.)
HOST_NICENESS = 19
# A gradient check answers a click: ahead of training, behind the web tier.
CHECKER_NICENESS = 10

DEFAULT_HEARTBEAT_INTERVAL = 1.0
DEFAULT_HEARTBEAT_TIMEOUT = 6.0


def yield_to_interactive_work(niceness: int = HOST_NICENESS) -> None:
    """Lower this process's CPU priority by ``niceness``."""
    if hasattr(os, "nice"):
        os.nice(niceness)


class HostGone(RuntimeError):
    """The host process of a trainer or a call is no longer there (or no longer answers)."""


class _Host:
    """One host process, its connection, and the reader thread that routes replies to inboxes."""

    def __init__(self, name: str, niceness: int = HOST_NICENESS,
                 on_lost: Callable[[_Host], None] | None = None):
        self.name = name
        self._on_lost = on_lost
        self.process = Child("server.runs.processes")
        self._connection = self.process.connection
        self._send_lock = threading.Lock()
        self._inboxes: dict[int, queue.SimpleQueue] = {}
        self._watchers: dict[int, Callable[[], None]] = {}
        self._inbox_lock = threading.Lock()
        self._keys = itertools.count(1)
        self._pings = itertools.count(1)
        self.alive = True
        self.failure: str | None = None
        self.ready = threading.Event()
        self._unanswered_since: float | None = None  # the first ping since the host last spoke
        self.send(("configure", 0, {"niceness": niceness}))
        self._reader = threading.Thread(target=self._read_forever, name=f"{name}-reader", daemon=True)
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

    def open(self, config: RunConfig, slice_work: float) -> tuple[int, queue.SimpleQueue]:
        key, inbox = self._new_inbox()
        config_json = config.model_dump(mode="json")
        self.send(("start", key, config_json, slice_work, _upload_for(config_json)))
        return key, inbox

    def watch(self, key: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` (once, from another thread) if this host is lost while ``key`` is open."""
        with self._inbox_lock:
            if self.alive and key in self._inboxes:
                self._watchers[key] = callback
                return
        callback()

    def call(self, name: str, *args, **kwargs):
        """Run the host function ``name`` (see ``_host_functions``) there.

        Its result; ``HostGone`` if the host is lost first; RuntimeError if the function failed.
        """
        key, inbox = self._new_inbox()
        try:
            config = args[0] if args and isinstance(args[0], dict) else None
            self.send(("call", key, name, args, kwargs, _upload_for(config)))
            kind, _, payload = inbox.get()
        finally:
            self._forget(key)
        if kind == "lost":
            raise HostGone(payload)
        if kind == "error":
            raise RuntimeError(payload)
        return payload

    def release(self, key: int) -> None:
        self._forget(key)
        try:
            self.send(("close", key))
        except HostGone:
            pass

    def _forget(self, key: int) -> None:
        with self._inbox_lock:
            self._inboxes.pop(key, None)
            self._watchers.pop(key, None)

    def send(self, message: tuple) -> None:
        with self._send_lock:
            if not self.alive:
                raise HostGone(self.failure or HOST_GONE)
            try:
                self._connection.send(message)
            except (OSError, ValueError) as error:
                raise HostGone(HOST_GONE) from error

    def ping(self) -> None:
        if self._unanswered_since is None:
            self._unanswered_since = time.monotonic()
        try:
            self.send(("ping", next(self._pings)))
        except HostGone:
            pass  # the reader reports it

    def silent_for(self) -> float:
        """Seconds since the first ping that the host has not answered (nor said anything since)."""
        since = self._unanswered_since
        return 0.0 if since is None else time.monotonic() - since

    def fail(self, reason: str) -> None:
        """Give the host up: its trainers and calls end with ``reason``, and the process is killed."""
        with self._inbox_lock:
            self.failure = self.failure or reason
        # Killed first: a send blocked on a stopped host's full connection then fails at once.
        self.process.process.kill()  # SIGKILL ends a stopped process too
        self._lose(reason)

    def _lose(self, reason: str) -> None:
        with self._inbox_lock:
            if not self.alive:
                return
            self.alive = False
            self.failure = reason = self.failure or reason
            for key, inbox in self._inboxes.items():
                inbox.put(("lost", key, reason))
            watchers, self._watchers = list(self._watchers.values()), {}
        self.ready.set()  # nobody should wait for a host that is gone
        for callback in watchers:
            callback()
        if self._on_lost is not None:
            self._on_lost(self)

    def _read_forever(self) -> None:
        while True:
            try:
                message = self._connection.recv()
            except (EOFError, OSError):
                break
            self._unanswered_since = None  # any message shows the host is there
            if message[0] == "ready":
                self.ready.set()
                continue
            if message[0] == "pong":
                continue
            with self._inbox_lock:
                inbox = self._inboxes.get(message[1])
            if inbox is not None:
                inbox.put(message)
        self._lose(HOST_GONE)
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
    ``slices`` counts the slices of training the host has given it so far.
    """

    def __init__(self, host: _Host, config: RunConfig, slice_work: float = DEFAULT_SLICE_WORK):
        self.config = config
        self.epochs_completed = 0
        self.slices = 0
        self._host = host
        self._key, self._inbox = host.open(config, slice_work)
        self._closed = False
        self._model_state: dict | None = None

    def model_state(self) -> dict | None:
        """The final network, once the ``done`` event arrived (None before)."""
        return self._model_state

    def request_update(self, changes: dict) -> None:
        self._host.send(("update", self._key, changes))

    def request_stop(self) -> None:
        try:
            self._host.send(("stop", self._key))
        except HostGone:
            pass  # the run ends anyway, with an error

    def when_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` from another thread if the host is lost, e.g. to wake a paused run."""
        self._host.watch(self._key, callback)

    def events(self) -> Iterator[dict]:
        try:
            while True:
                self._host.send(("next", self._key))
                kind, _, *payload = self._inbox.get()
                if kind == "end":
                    return
                if kind == "lost":
                    raise HostGone(payload[0])
                if kind == "error":
                    raise RuntimeError(payload[0])
                event, epochs_completed, config, self.slices, *final = payload
                if final and final[0] is not None:
                    self._model_state = final[0]
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
    """``processes`` training hosts and ``checkers`` checker hosts, started on first use (or by ``start``).

    A host that is lost is replaced at once (the pool is its ``on_lost``).
    """

    def __init__(self, processes: int | None = None, *, checkers: int = 1,
                 slice_work: float = DEFAULT_SLICE_WORK,
                 heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
                 heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT):
        self.processes = processes or available_cores()
        self.checkers = checkers
        self.slice_work = slice_work
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self._hosts: list[_Host | None] = [None] * self.processes
        self._checkers: list[_Host | None] = [None] * checkers
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._watchdog = threading.Thread(target=self._watch_forever, name="trainer-host-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def start(self, timeout: float = 60.0) -> bool:
        """Start every host now and wait until they can work (True), so no run waits for NumPy to load."""
        with self._lock:
            hosts = [self._host_at(index) for index in range(self.processes)]
            hosts += [self._checker_at(index) for index in range(self.checkers)]
        return all(host.ready.wait(timeout) and host.alive for host in hosts)

    def trainer(self, config: RunConfig) -> RemoteTrainer:
        """A trainer of ``config`` on the least loaded host (the run manager's trainer factory)."""
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("the trainer pool is shut down")
            hosts = [self._host_at(index) for index in range(self.processes)]
            host = min(hosts, key=lambda candidate: candidate.load)
        return RemoteTrainer(host, config, self.slice_work)

    def gradient_check(self, config: dict, **options) -> dict:
        """``server.engine.gradient_check`` in the least busy checker; ``HostGone`` if it is lost."""
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("the trainer pool is shut down")
            checkers = [self._checker_at(index) for index in range(self.checkers)]
            checker = min(checkers, key=lambda candidate: candidate.load)
        return checker.call("gradient_check", config, **options)

    def revive(self) -> list[str]:
        """Start a replacement for every started host that is gone (without waiting); what is wrong.

        A dead host is otherwise replaced only when work asks for it, and a
        health check that reported it would keep that work away: so the check
        replaces it, and reports the host as starting until it can work.
        """
        with self._lock:
            if self._closed.is_set():
                return ["the training host processes are shut down"]
            problems = []
            for host in self._started_hosts():
                if not (host.alive and host.process.is_alive()):
                    problems.append(f"{host.name} is not running; starting a new one")
                    self._replace(host)
                elif not host.ready.is_set():
                    problems.append(f"{host.name} is starting")
                elif host.silent_for() > self.heartbeat_timeout / 2:
                    problems.append(f"{host.name} has not answered for {host.silent_for():.1f} s")
            return problems

    def _watch_forever(self) -> None:
        """Ping the hosts; give up and replace one that stays silent for ``heartbeat_timeout`` s.

        When this thread itself woke up late (this process was stalled, and
        with it the readers of the hosts' answers), it only pings that round.
        """
        woke = time.monotonic()
        while not self._closed.wait(self.heartbeat_interval):
            late = time.monotonic() - woke > 2 * self.heartbeat_interval
            woke = time.monotonic()
            with self._lock:
                hosts = [host for host in self._started_hosts() if host.alive and host.ready.is_set()]
            for host in hosts:
                if late or host.silent_for() <= self.heartbeat_timeout:
                    host.ping()
                else:
                    host.fail(HOST_UNRESPONSIVE)  # and ``_host_lost`` replaces it

    def _host_lost(self, host: _Host) -> None:
        with self._lock:
            if not self._closed.is_set():
                self._replace(host)

    def _started_hosts(self) -> list[_Host]:
        return [host for host in (*self._hosts, *self._checkers) if host is not None]

    def _replace(self, host: _Host) -> None:
        """Start a new host in the place of ``host`` (the lock held), unless that is done already."""
        if host in self._hosts:
            self._new_host(self._hosts.index(host))
        elif host in self._checkers:
            self._new_checker(self._checkers.index(host))

    def _new_host(self, index: int) -> _Host:
        host = self._hosts[index] = _Host(f"training host process {index}", HOST_NICENESS, self._host_lost)
        return host

    def _new_checker(self, index: int) -> _Host:
        checker = self._checkers[index] = _Host(f"gradient check process {index}", CHECKER_NICENESS,
                                                self._host_lost)
        return checker

    def _host_at(self, index: int) -> _Host:
        host = self._hosts[index]
        return host if host is not None and host.alive else self._new_host(index)

    def _checker_at(self, index: int) -> _Host:
        checker = self._checkers[index]
        return checker if checker is not None and checker.alive else self._new_checker(index)

    def open_trainers(self) -> int:
        """Trainers currently held by the training hosts."""
        with self._lock:
            return sum(host.load for host in self._hosts if host is not None)

    def checks_in_progress(self) -> int:
        """Gradient checks sent to the checkers and not answered yet."""
        with self._lock:
            return sum(checker.load for checker in self._checkers if checker is not None)

    def host_pids(self) -> list[int]:
        """The process ids of the training hosts that are up."""
        with self._lock:
            return _pids(self._hosts)

    def checker_pids(self) -> list[int]:
        """The process ids of the gradient check processes that are up."""
        with self._lock:
            return _pids(self._checkers)

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed.set()
            hosts = self._started_hosts()
            self._hosts = [None] * self.processes
            self._checkers = [None] * self.checkers
        for host in hosts:
            host.stop(timeout)


def _pids(hosts: list[_Host | None]) -> list[int]:
    return [host.process.pid for host in hosts if host is not None and host.alive]


# --- inside a host process -------------------------------------------------------------------


class SliceScheduler:
    """The trainers of one host, and whose turn it is (``FairTurns``).

    A trainer that asked for an event (``want``) waits for a turn; each turn
    (``run_slice``) gives one waiting trainer one slice of training, or its
    next event: first to a trainer asked to stop, else to the least served
    (``clock``: this process's time).  Problems (a config that does not
    build, an update that does not apply) are answered at the trainer's next
    turn.
    """

    def __init__(self, trainer_class, clock: Callable[[], float] = time.thread_time,
                 wake_credit: float = 0.05):
        self._trainer_class = trainer_class
        self._clock = clock
        self._turns = FairTurns(wake_credit)
        self._trainers: dict = {}
        self._streams: dict[int, Iterator] = {}
        self._slices: dict[int, int] = {}
        self._failures: dict[int, str] = {}
        self._uploads: dict[int, GivenUpload] = {}

    @property
    def busy(self) -> bool:
        """Some trainer is waiting for its turn."""
        return self._turns.busy

    @property
    def next_in_turn(self) -> int | None:
        """The key of the trainer whose turn is next."""
        return self._turns.next_in_turn

    def start(self, key: int, config: dict, slice_work: float, upload: tuple | None = None) -> None:
        if upload is not None:
            dataset, data = upload
            self._uploads[key] = GivenUpload(dataset.removeprefix("upload:"), data)
            add_upload_source(self._uploads[key])
        try:
            trainer = self._trainer_class(config)
        except Exception as error:
            self._failures[key] = _error_text(error)
            return
        self._trainers[key] = trainer
        self._streams[key] = trainer.slices(slice_work)
        self._slices[key] = 0

    def want(self, key: int) -> None:
        self._turns.want(key)

    def stop(self, key: int) -> None:
        if key in self._trainers:
            self._trainers[key].request_stop()
            self._turns.hurry(key)

    def update(self, key: int, changes: dict) -> None:
        if key in self._trainers:
            try:
                self._trainers[key].request_update(changes)
            except Exception as error:
                self._failures.setdefault(key, _error_text(error))

    def close(self, key: int) -> None:
        source = self._uploads.pop(key, None)
        if source is not None:
            remove_upload_source(source)
        for table in (self._trainers, self._failures, self._slices):
            table.pop(key, None)
        self._turns.forget(key)
        stream = self._streams.pop(key, None)
        if stream is not None:
            stream.close()

    def run_slice(self) -> tuple | None:
        """The front trainer's turn: its reply when it has one, None when it only trained a slice."""
        key = self._turns.take()
        if key is None:
            return None
        if key in self._failures:
            return ("error", key, self._failures.pop(key))
        stream = self._streams.get(key)
        if stream is None:
            return ("error", key, "no such trainer in this process")
        began = self._clock()
        try:
            item = next(stream)
        except StopIteration:
            return ("end", key)
        except Exception as error:
            return ("error", key, _error_text(error))
        finally:
            self._turns.charge(key, self._clock() - began)
        if item is None:
            self._slices[key] += 1
            self._turns.want(key)
            return None
        trainer = self._trainers[key]
        config = trainer.config.model_dump(mode="json") if item["event"] == "update" else None
        # Encoded here, where the work runs on its own core, not under the web process's lock.
        encoded = {"event": item["event"], "data_json": event_data_json(item["event"], item.get("data", {}))}
        final = trainer.model_state() if item["event"] == "done" else None
        return ("event", key, encoded, trainer.epochs_completed, config, self._slices[key], final)


def _error_text(error: Exception) -> str:
    return str(error) or type(error).__name__


class _Outbox:
    """The host's end of the connection, shared by its two threads."""

    def __init__(self, connection):
        self._connection = connection
        self._lock = threading.Lock()

    def send(self, message: tuple) -> None:
        with self._lock:
            self._connection.send(message)


def _receive_forever(connection, messages: queue.SimpleQueue, outbox: _Outbox) -> None:
    """Answer pings at once (whatever the trainers compute) and queue every other message."""
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            messages.put(("exit", 0))
            return
        if message[0] == "ping":
            outbox.send(("pong", message[1]))
        else:
            messages.put(message)


def host_main(connection) -> None:
    """A host process: trainers that take turns by slices, and calls, until told to exit."""
    kind, _, settings = connection.recv()
    if kind != "configure":
        raise RuntimeError(f"a host expects its settings first, not {kind!r}")
    yield_to_interactive_work(settings["niceness"])
    from server.engine import Trainer

    _warm_up(Trainer)
    outbox = _Outbox(connection)
    messages: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_receive_forever, args=(connection, messages, outbox), daemon=True).start()
    outbox.send(("ready", 0))
    scheduler = SliceScheduler(Trainer)
    while True:
        try:  # wait for a message only when no trainer waits for its turn
            message = messages.get(block=not scheduler.busy)
        except queue.Empty:
            message = None
        while message is not None:
            if not _handle(message, scheduler, outbox):
                return
            try:
                message = messages.get_nowait()
            except queue.Empty:
                message = None
        reply = scheduler.run_slice()
        if reply is not None:
            outbox.send(reply)


def _handle(message: tuple, scheduler: SliceScheduler, outbox: _Outbox) -> bool:
    """Apply one message from the parent; False when the host should exit."""
    kind, key = message[0], message[1]
    if kind == "exit":
        return False
    if kind == "start":
        scheduler.start(key, *message[2:])
    elif kind == "next":
        scheduler.want(key)
    elif kind == "stop":
        scheduler.stop(key)
    elif kind == "update":
        scheduler.update(key, message[2])
    elif kind == "close":
        scheduler.close(key)
    elif kind == "call":
        name, args, kwargs, *upload = message[2:]
        try:
            with _provided(upload[0] if upload else None):
                result = _host_functions()[name](*args, **kwargs)
            outbox.send(("result", key, result))
        except Exception as error:
            outbox.send(("error", key, _error_text(error)))
    return True


def _upload_for(config: dict | None) -> tuple | None:
    """``(dataset, UploadedData)`` when the config trains on an upload, for the host to use."""
    dataset = (config or {}).get("data", {}).get("dataset", "")
    return (dataset, find_upload(dataset)) if is_upload(dataset) else None


def _provided(upload: tuple | None):
    return upload_provided(*upload) if upload is not None else contextlib.nullcontext()


def _host_functions() -> dict:
    """What a host may be asked to ``call``: engine work too long for the web process's threads."""
    from server.engine import gradient_check

    return {"gradient_check": gradient_check}


def _warm_up(trainer_class) -> None:
    """Train a tiny run once, so the first real run does not pay for first-call costs."""
    warm_up = RunConfig.model_validate({"data": {"n_samples": 40}, "training": {"epochs": 2}})
    for _ in trainer_class(warm_up).slices():
        pass


if __name__ == "__main__":
    host_main(connect_to_parent())
