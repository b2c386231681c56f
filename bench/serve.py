"""Serve many paced runs at once and measure what learners would feel.

Starts the real server with the README's command (gunicorn with
``gunicorn.conf.py``) on a free loopback port, then, in each of ``--waves``
waves, starts ``--runs`` runs of the default config paced at
``--epochs-per-second``, each watched by its own SSE client thread (stdlib
``http.client`` only).  Reports:

- time to first event (POST sent -> first SSE event received), p50 and p95;
- metrics events per second per stream (slowest stream and median);
- server CPU (master + worker, from /proc) in cores, over the busy period;
- worker RSS before the first wave, after each wave, and the growth per
  finished run (finished runs are kept for late reconnects, so this is what
  retention costs).

Targets on a 2-core machine: 32 concurrent runs, >= 10 metrics events/s per
stream, first-event p95 < 250 ms, bounded memory per finished run.  The
client threads run on the same machine and take some CPU of their own.

    python bench/serve.py [--runs 32] [--epochs-per-second 12] [--waves 2] [--ramp-seconds 0]

Two adversarial modes measure what one client can do to everyone else:

- ``--mode adversarial``: ``--idle`` (1,000) connections that send nothing and
  ``--half-sent`` (300) that send a request line and one header, held open by
  a process of their own (each one the server closes is replaced at once),
  while ``/healthz`` is probed every 50 ms, ``--paced`` (8) runs stream at
  their pace and ``--labs`` (16) optimizer-lab streams play their races.
  Targets: ``/healthz`` p95 under 100 ms, paced streams at full pace.
- ``--mode heavy``: ``--heavy`` (2) of the heaviest runs the service admits
  (16 hidden layers at batch size 1, as wide as the work bound allows) beside
  ``--paced`` runs; a default gradient check and a stop of each heavy run are
  timed.  Targets: paced runs at 90% of their pace or more, the gradient
  check within 1 s, a stop within 0.5 s.

``--worker-class gthread`` serves with gunicorn's threaded worker instead of
gunicorn.conf.py's, for comparison.  Every report gives the load average
before and after: on a shared machine, read the figures beside it.

``--mode fairness`` measures what one client's heaviest runs do to everyone
else: ``--heavy`` of the heaviest runs the work bounds admit
(``HEAVIEST_RUNS``, one near each bound of server/engine/cost.py) train
while ``--paced`` runs stream at ``--epochs-per-second``, a default gradient
check is posted every ``--gradcheck-every`` seconds, and at the end each
heavy run is stopped.  Targets: the paced runs keep >= 90% of their pace,
each check answers within 1 s, each stop takes effect within 0.5 s.

    python bench/serve.py --mode fairness --paced 3 --epochs-per-second 10 --seconds 20

``--redis`` measures the Redis backend instead (two web instances, two
workers, one redis-server): see ``bench/redis_serve.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
#: The header a browser's page sends its client token in (server/web/clients.py).
CLIENT_HEADER = "X-Tuning-Client"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES / 2**20


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def request(port: int, method: str, path: str, body: dict | None = None, timeout: float = 10.0,
            headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {**({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class StreamResult:
    post_s: float | None = None
    first_event_s: float | None = None
    metrics_times: list[float] = field(default_factory=list)
    events: int = 0
    done: bool = False
    error: str | None = None
    #: False: a stream still going when the bench stops reading is no error (a fixed window is measured).
    must_finish: bool = True

    @property
    def metrics_per_second(self) -> float | None:
        times = self.metrics_times
        if len(times) < 3:
            return None
        return (len(times) - 1) / (times[-1] - times[0])


def watch_run(port: int, config: dict, start_gate: threading.Barrier, delay: float, result: StreamResult,
              max_seconds: float, client: str | None = None, stream_port: int | None = None) -> None:
    """One learner: start a run after ``delay`` s, then read its stream (from ``stream_port``) to ``done``."""
    try:
        start_gate.wait()
        time.sleep(delay)
        began = time.monotonic()
        identity = {CLIENT_HEADER: client} if client else {}
        status, body = request(port, "POST", "/api/runs", config, headers=identity)
        result.post_s = time.monotonic() - began
        if status != 201:
            result.error = f"POST /api/runs: {status} {body[:200]!r}"
            return
        events_url = json.loads(body)["events_url"]
        connection = http.client.HTTPConnection("127.0.0.1", stream_port or port, timeout=30)
        connection.request("GET", events_url, headers={"Accept": "text/event-stream", **identity})
        response = connection.getresponse()
        buffer = b""
        deadline = began + max_seconds
        while not result.done and time.monotonic() < deadline:
            chunk = response.read1(65536)
            if not chunk:
                break
            buffer += chunk
            *blocks, buffer = buffer.split(b"\n\n")
            now = time.monotonic()
            for block in blocks:
                if not block.startswith(b"event: "):
                    continue  # retry field, heartbeat comment
                name = block[7:block.index(b"\n")]
                result.events += 1
                if result.first_event_s is None:
                    result.first_event_s = now - began
                if name == b"metrics":
                    result.metrics_times.append(now)
                elif name in (b"done", b"error"):
                    result.done = True
        connection.close()
        if not result.done and result.must_finish:
            result.error = "the stream ended before done"
    except Exception as error:  # a bench reports failures, it does not stop at the first
        result.error = f"{type(error).__name__}: {error}"


def reference_epoch_ms(epochs: int = 100) -> float:
    """CPU ms per epoch of one default run trained alone in a child process: this machine's speed now.

    Cloud machines change speed with their neighbours' load; the figures of a
    bench are comparable with another's only beside this one.
    """
    code = ("import time; from server.engine import Trainer; from server.engine.config import RunConfig; "
            "from server.runs.events import event_data_json; "
            f"config = RunConfig.model_validate({{'training': {{'epochs': {epochs}}}}}); "
            "[event_data_json(e['event'], e['data']) for e in Trainer(config).events()]; "
            "began = time.thread_time(); "
            "[event_data_json(e['event'], e['data']) for e in Trainer(config).events()]; "
            f"print((time.thread_time() - began) * 1000 / {epochs})")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=True, timeout=120)
    return round(float(output.stdout.strip()), 3)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(fraction * (len(ordered) - 1))), len(ordered) - 1)]


def run_all(threads: list[threading.Thread], timeout: float) -> float:
    """Start the learners' threads together and wait for them; the wall time it took."""
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return time.monotonic() - started


def run_wave(port: int, pids: list[int], runs: int, config: dict, max_seconds: float,
             ramp_seconds: float) -> dict:
    """``runs`` learners (each its own client token) starting together (``ramp_seconds`` 0) or evenly
    spread over ``ramp_seconds``."""
    gate = threading.Barrier(runs)
    results = [StreamResult() for _ in range(runs)]
    threads = [threading.Thread(target=watch_run, daemon=True, args=(
                   port, config, gate, ramp_seconds * index / runs, result, max_seconds,
                   f"wave-{index:04d}-bench-learner"))
               for index, result in enumerate(results)]
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    worker_cpu_before = cpu_seconds(pids[1])
    wall = run_all(threads, max_seconds + 30)
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    worker_cpu = cpu_seconds(pids[1]) - worker_cpu_before
    firsts = [r.first_event_s for r in results if r.first_event_s is not None]
    posts = [r.post_s for r in results if r.post_s is not None]
    rates = [r.metrics_per_second for r in results if r.metrics_per_second is not None]
    return {
        "runs": runs, "completed": sum(r.done for r in results),
        "errors": sorted({r.error for r in results if r.error}),
        "first_event_p50_ms": round(percentile(firsts, 0.5) * 1000, 1) if firsts else None,
        "first_event_p95_ms": round(percentile(firsts, 0.95) * 1000, 1) if firsts else None,
        "post_p95_ms": round(percentile(posts, 0.95) * 1000, 1) if posts else None,
        "metrics_per_s_min": round(min(rates), 2) if rates else None,
        "metrics_per_s_median": round(statistics.median(rates), 2) if rates else None,
        "events_per_stream": round(statistics.mean(r.events for r in results), 1),
        "wall_s": round(wall, 2), "server_cpu_cores": round(cpu / wall, 2),
        "worker_cpu_cores": round(worker_cpu / wall, 2),
    }


def wait_healthy(port: int, server: subprocess.Popen, server_log, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            server_log.seek(0)
            raise SystemExit(f"the server exited with {server.returncode}:\n"
                             + server_log.read()[-2000:].decode(errors="replace"))
        try:
            if request(port, "GET", "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not become healthy in {seconds:g} s")


@contextlib.contextmanager
def served(env_overrides: dict[str, str], worker_class: str | None = None):
    """The README's gunicorn command on a free port, once healthy: ``(port, [master, worker, *hosts])``."""
    port = free_port()
    env = {**os.environ, "TUNING_BIND": f"127.0.0.1:{port}", **env_overrides}
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
    if worker_class is not None:  # command-line options override gunicorn.conf.py's
        command[3:3] = ["-k", worker_class]
    server_log = tempfile.TemporaryFile()
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(port, server, server_log)
        workers = children(server.pid)
        if len(workers) != 1:
            raise SystemExit(f"expected one worker process, found {workers}")
        yield port, [server.pid, workers[0], *children(workers[0])]
    finally:
        terminate(server)


def terminate(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout`` s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="starts",
                        help="starts: waves of simultaneous runs; adversarial: idle and half-sent "
                             "connections beside probes, paced runs and lab streams; heavy: the "
                             "heaviest runs allowed beside paced ones; fairness: the heaviest runs "
                             "near each work bound beside paced runs, repeated gradient checks, stops")
    parser.add_argument("--runs", type=int, default=32, help="concurrent runs per wave (starts)")
    parser.add_argument("--epochs-per-second", type=float, default=12.0, help="pacing of each run")
    parser.add_argument("--epochs", type=int, default=200, help="epochs per run (the default config's)")
    parser.add_argument("--waves", type=int, default=2, help="waves of concurrent runs, one after the other")
    parser.add_argument("--run-processes", type=int, default=None,
                        help="training host processes (TUNING_RUN_PROCESSES; 0: runs train in threads)")
    parser.add_argument("--ramp-seconds", type=float, default=0.0,
                        help="spread the starts of a wave over this many seconds (0: all at once)")
    parser.add_argument("--worker-class", default=None,
                        help="gunicorn worker class instead of gunicorn.conf.py's (to compare)")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections held open (adversarial)")
    parser.add_argument("--half-sent", type=int, default=300,
                        help="connections that send a request line and a header, then nothing (adversarial)")
    parser.add_argument("--paced", type=int, default=8, help="paced runs streamed beside (adversarial/heavy)")
    parser.add_argument("--labs", type=int, default=16, help="optimizer-lab streams beside (adversarial)")
    parser.add_argument("--heavy", type=int, default=2, help="heaviest runs allowed (heavy)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to measure (adversarial/heavy)")
    parser.add_argument("--gradcheck-every", type=float, default=2.0,
                        help="seconds between default gradient checks (fairness)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON only")
    parser.add_argument("--redis", action="store_true",
                        help="the Redis backend: two web instances and two workers (bench/redis_serve.py)")
    parser.add_argument("--paced-runs", type=int, default=100, help="--redis: runs of the paced wave")
    parser.add_argument("--paced-epochs", type=int, default=100, help="--redis: epochs per paced run")
    parser.add_argument("--paced-epochs-per-second", type=float, default=10.0, help="--redis: their pace")
    parser.add_argument("--paced-ramp-seconds", type=float, default=2.0,
                        help="--redis: spread the paced wave's starts over this many seconds")
    args = parser.parse_args(argv)
    if args.redis:
        import redis_serve

        measure, report_summary = redis_serve.main, redis_serve.report
    else:
        measure, report_summary = MODES[args.mode]
    load_before = os.getloadavg()[0]
    summary = measure(args)
    summary["load_average"] = (load_before, os.getloadavg()[0])
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        report_summary(summary)
    return summary


def measure_starts(args) -> dict:
    env = {"TUNING_MAX_CONCURRENT_RUNS": str(max(args.runs, 48)),
           "TUNING_MAX_RUNS_PER_CLIENT": str(args.runs), "TUNING_MAX_RUNS_PER_ADDRESS": str(args.runs)}
    if args.run_processes is not None:
        env["TUNING_RUN_PROCESSES"] = str(args.run_processes)
    with served(env, args.worker_class) as (port, pids):
        worker, hosts = pids[1], pids[2:]
        config = {"training": {"epochs": args.epochs, "epochs_per_second": args.epochs_per_second}}
        max_seconds = args.epochs / args.epochs_per_second * 3 + 30
        summary = {"command": "gunicorn -c gunicorn.conf.py 'server:create_app()'", "runs": args.runs,
                   "worker_class": args.worker_class or "gunicorn.conf.py's",
                   "ramp_seconds": args.ramp_seconds,
                   "epochs_per_second": args.epochs_per_second, "epochs": args.epochs,
                   "cpus": os.cpu_count(), "worker_threads_idle": len(os.listdir(f"/proc/{worker}/task")),
                   "host_processes": len(hosts),
                   "rss_mib_start": round(rss_mib(worker), 1),
                   "hosts_rss_mib_start": round(sum(rss_mib(pid) for pid in hosts), 1), "waves": []}
        for _ in range(args.waves):
            wave = run_wave(port, pids, args.runs, config, max_seconds, args.ramp_seconds)
            wave["rss_mib_after"] = round(rss_mib(worker), 1)
            wave["hosts_rss_mib_after"] = round(sum(rss_mib(pid) for pid in hosts), 1)
            summary["waves"].append(wave)
        finished = args.runs * args.waves
        summary["rss_mib_per_finished_run"] = round(
            (summary["waves"][-1]["rss_mib_after"] - summary["rss_mib_start"]) / finished, 3)
        if len(summary["waves"]) > 1:
            summary["rss_mib_per_run_after_first_wave"] = round(
                (summary["waves"][-1]["rss_mib_after"] - summary["waves"][0]["rss_mib_after"])
                / (args.runs * (args.waves - 1)), 3)
    return summary


def machine(summary: dict) -> str:
    before, after = summary["load_average"]
    return f"{summary['cpus']} CPUs, load average {before:.1f} to {after:.1f}"


def report_starts(summary: dict) -> None:
    print(f"{summary['command']}, worker {summary['worker_class']}  ({machine(summary)}; "
          "the bench's clients share them)")
    print(f"{summary['runs']} concurrent runs x {summary['epochs']} epochs at "
          f"{summary['epochs_per_second']:g} epochs/s, {len(summary['waves'])} waves, starts "
          + (f"spread over {summary['ramp_seconds']:g} s" if summary["ramp_seconds"] else "all at once"))
    for index, wave in enumerate(summary["waves"], 1):
        print(f"wave {index}: completed {wave['completed']}/{wave['runs']}, "
              f"first event p50 {wave['first_event_p50_ms']} ms p95 {wave['first_event_p95_ms']} ms "
              f"(POST alone p95 {wave['post_p95_ms']} ms), "
              f"metrics/s per stream min {wave['metrics_per_s_min']} median {wave['metrics_per_s_median']}, "
              f"server CPU {wave['server_cpu_cores']} cores (web worker {wave['worker_cpu_cores']}) "
              f"over {wave['wall_s']} s, "
              f"RSS after: worker {wave['rss_mib_after']} MiB, hosts {wave['hosts_rss_mib_after']} MiB")
        for error in wave["errors"]:
            print(f"  error: {error}")
    print(f"{summary['host_processes']} child processes of the worker (training hosts and "
          f"multiprocessing's resource tracker), {summary['hosts_rss_mib_start']} MiB at start")
    print(f"worker RSS at start {summary['rss_mib_start']} MiB; per finished run "
          f"{summary['rss_mib_per_finished_run']} MiB"
          + (f" ({summary['rss_mib_per_run_after_first_wave']} MiB after the first wave)"
             if "rss_mib_per_run_after_first_wave" in summary else ""))


# --- adversarial connections beside real use ---------------------------------

HALF_SENT_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n"  # no blank line: never complete


class HeldConnections:
    """``idle`` connections that send nothing and ``half_sent`` that send a request head's start.

    Held by a process of their own (so their upkeep does not slow the bench's
    probes and streams): a connection the server closes is counted, with its
    age, and replaced, so the server faces the full count throughout.  After
    the ``with`` block, ``summary`` has the counts.
    """

    def __init__(self, port: int, idle: int, half_sent: int):
        self.kinds = {"idle": idle, "half_sent": half_sent}
        self.port = port
        self.summary: dict = {}
        self._pipe, child_end = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("fork").Process(
            target=self._hold, args=(child_end,), name="held-connections", daemon=True)

    def __enter__(self):
        self._process.start()
        self._pipe.recv()  # every connection opened
        return self

    def __exit__(self, *exc_info):
        self._pipe.send("stop")
        self.summary = self._pipe.recv()
        self._process.join(10)

    def _hold(self, pipe) -> None:
        selector = selectors.DefaultSelector()
        closed = {kind: 0 for kind in self.kinds}
        ages: list[float] = []
        failed = [0]

        def open_one(kind: str) -> None:
            connection = socket.socket()
            try:
                connection.settimeout(5)
                connection.connect(("127.0.0.1", self.port))
                if kind == "half_sent":
                    connection.sendall(HALF_SENT_REQUEST)
                connection.setblocking(False)
            except OSError:
                failed[0] += 1
                connection.close()
                return
            selector.register(connection, selectors.EVENT_READ, (kind, time.monotonic()))

        for kind, count in self.kinds.items():
            for _ in range(count):
                open_one(kind)
        pipe.send("ready")
        while not pipe.poll():
            for key, _ in selector.select(0.2):
                kind, opened = key.data
                try:
                    key.fileobj.recv(65536)  # an answer (a 408, say) or the end: either way it is over
                except OSError:
                    pass
                selector.unregister(key.fileobj)
                key.fileobj.close()
                closed[kind] += 1
                ages.append(time.monotonic() - opened)
                open_one(kind)
        pipe.send({"closed_by_server": closed, "failed_connects": failed[0],
                   "held_open_at_end": len(selector.get_map()),
                   "age_at_close_s_median": round(statistics.median(ages), 2) if ages else None})


def probe_health(port: int, seconds: float, interval: float = 0.05) -> dict:
    """GET /healthz on a new connection every ``interval`` s for ``seconds``: latency and failures."""
    latencies, failures = [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.monotonic()
        try:
            status, _ = request(port, "GET", "/healthz", timeout=15)
            if status != 200:
                failures.append(f"status {status}")
        except OSError as error:
            failures.append(type(error).__name__)
        latencies.append(time.monotonic() - began)
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
    return {"probes": len(latencies), "failed": len(failures), "failures": sorted(set(failures)),
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1)}


def watch_lab(port: int, deadline: float, frames: list[float], errors: list[str], client: str) -> None:
    """Optimizer-lab races, one after another until ``deadline``; the arrival time of every frame."""
    path = "/api/labs/optimizers/events?surface=saddle&steps_per_second=60"
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", path, headers={CLIENT_HEADER: client})
            response = connection.getresponse()
            if response.status != 200:
                errors.append(f"lab stream: {response.status} {response.read()[:200]!r}")
                return
            buffer = b""
            while time.monotonic() < deadline:
                chunk = response.read1(65536)
                if not chunk:
                    break
                buffer += chunk
                *blocks, buffer = buffer.split(b"\n\n")
                frames.extend(time.monotonic() for block in blocks if block.startswith(b"event: steps"))
            connection.close()
        except OSError as error:
            errors.append(f"lab stream: {type(error).__name__}: {error}")
            return


def stream_pace(results: list[StreamResult], target: float) -> dict:
    rates = [r.metrics_per_second for r in results if r.metrics_per_second is not None]
    return {"streams": len(results), "target_per_s": target,
            "errors": sorted({r.error for r in results if r.error}),
            "per_s_min": round(min(rates), 2) if rates else None,
            "per_s_median": round(statistics.median(rates), 2) if rates else None,
            "share_of_pace_min": round(min(rates) / target, 3) if rates else None}


def paced_learners(port: int, count: int, epochs_per_second: float, seconds: float,
                   prefix: str) -> tuple[list[threading.Thread], list[StreamResult]]:
    """``count`` learners (each its own client token) that each start a paced run and stream it."""
    config = {"training": {"epochs": int(seconds * epochs_per_second), "epochs_per_second": epochs_per_second,
                           "boundary_every": 0}}
    gate = threading.Barrier(count)
    results = [StreamResult(must_finish=False) for _ in range(count)]
    threads = [threading.Thread(target=watch_run, daemon=True, args=(
                   port, config, gate, 0.0, result, seconds, f"{prefix}-{index:04d}-bench-learner"))
               for index, result in enumerate(results)]
    for thread in threads:
        thread.start()
    return threads, results


def measure_adversarial(args) -> dict:
    """Idle and half-sent connections held open while probes, paced runs and lab streams go on."""
    with served({"TUNING_RUN_PROCESSES": str(args.run_processes)} if args.run_processes is not None else {},
                args.worker_class) as (port, pids):
        summary = {"worker_class": args.worker_class or "gunicorn.conf.py's", "idle": args.idle,
                   "half_sent": args.half_sent, "paced": args.paced, "labs": args.labs,
                   "seconds": args.seconds, "cpus": os.cpu_count()}
        summary["quiet_healthz"] = probe_health(port, 3.0)
        with HeldConnections(port, args.idle, args.half_sent) as held:
            time.sleep(1.0)  # every connection accepted or queued before measuring
            deadline = time.monotonic() + args.seconds
            threads, results = paced_learners(port, args.paced, args.epochs_per_second, args.seconds, "paced")
            lab_frames: list[list[float]] = [[] for _ in range(args.labs)]
            lab_errors: list[str] = []
            threads += [threading.Thread(target=watch_lab, daemon=True, args=(
                            port, deadline, frames, lab_errors, f"lab-{index:04d}-bench-lab"))
                        for index, frames in enumerate(lab_frames)]
            for thread in threads[args.paced:]:
                thread.start()
            worker_cpu = cpu_seconds(pids[1])
            summary["healthz"] = probe_health(port, args.seconds)
            summary["worker_cpu_cores"] = round((cpu_seconds(pids[1]) - worker_cpu) / args.seconds, 2)
            for thread in threads:
                thread.join(args.seconds + 60)
        summary.update(held.summary)
        summary["paced_runs"] = stream_pace(results, args.epochs_per_second)
        lab_rates = [(len(f) - 1) / (f[-1] - f[0]) for f in lab_frames if len(f) > 2]
        summary["lab_streams"] = {"streams": args.labs, "target_frames_per_s": 10,
                                  "errors": sorted(set(lab_errors)),
                                  "frames_per_s_min": round(min(lab_rates), 2) if lab_rates else None,
                                  "frames_per_s_median": round(statistics.median(lab_rates), 2)
                                  if lab_rates else None}
        summary["worker_rss_mib"] = round(rss_mib(pids[1]), 1)
    return summary


def print_pace(pace: dict) -> None:
    """One line for the paced streams measured beside an adversarial or heavy load."""
    print(f"  {pace['streams']} paced runs at {pace['target_per_s']:g}/s: metrics/s min {pace['per_s_min']} "
          f"median {pace['per_s_median']} (slowest {pace['share_of_pace_min']} of pace) {pace['errors']}")


def report_adversarial(summary: dict) -> None:
    print(f"adversarial: worker {summary['worker_class']}, {summary['idle']} idle + {summary['half_sent']} "
          f"half-sent connections held for {summary['seconds']:g} s ({machine(summary)})")
    for name in ("quiet_healthz", "healthz"):
        probe = summary[name]
        print(f"  {name}: {probe['probes']} probes, p50 {probe['p50_ms']} ms, p95 {probe['p95_ms']} ms, "
              f"max {probe['max_ms']} ms, failed {probe['failed']} {probe['failures']}")
    print(f"  worker CPU {summary['worker_cpu_cores']} cores; "
          f"closed by the server: {summary['closed_by_server']} "
          f"(median age {summary['age_at_close_s_median']} s), still open at the end "
          f"{summary['held_open_at_end']}, failed connects {summary['failed_connects']}")
    pace = summary["paced_runs"]
    print_pace(pace)
    lab = summary["lab_streams"]
    print(f"  {lab['streams']} lab streams at 10 frames/s: min {lab['frames_per_s_min']} "
          f"median {lab['frames_per_s_median']} {lab['errors']}")
    print(f"  worker RSS {summary['worker_rss_mib']} MiB")


# --- the heaviest runs allowed beside paced ones -------------------------------

#: The largest network and data the schema admits, trained one example per step.
HEAVIEST_CONFIG = {"data": {"n_samples": 5000},
                   "model": {"hidden": [{"units": 512, "activation": "relu"}] * 16},
                   "training": {"epochs": 10000, "batch_size": 1, "boundary_every": 0}}


# Both bounds' messages: "about X multiply-adds, and ... at most Y" and "about X multiply-adds; at most Y".
WORK_BOUND = re.compile(r"about ([0-9.e+]+) multiply-adds[;,].*?at most ([0-9.e+]+)")


def start_heaviest(port: int, client: str) -> tuple[str | None, str]:
    """Start the heaviest run admitted at batch size 1 on 5,000 samples: as deep, then as wide, as allowed.

    The schema's own maximum (16 x 512 units, 5,000 samples) is far over the
    work bounds; each 400 names the work asked and allowed, and the layers
    are narrowed by the square root of their ratio until the config is
    admitted, or, when even one unit a layer is refused, one layer is dropped.
    """
    config = json.loads(json.dumps(HEAVIEST_CONFIG))
    widest = config["model"]["hidden"][0]["units"]
    layers, units = len(config["model"]["hidden"]), widest
    while layers >= 1:
        config["model"]["hidden"] = [{"units": units, "activation": "relu"}] * layers
        status, body = request(port, "POST", "/api/runs", config, headers={CLIENT_HEADER: client})
        if status == 201:
            return json.loads(body)["id"], f"{layers} x {units} units, 5000 samples, batch 1"
        bound = WORK_BOUND.search(body.decode(errors="replace"))
        if status != 400 or bound is None:
            return None, f"{status} {body[:200]!r}"
        asked, allowed = float(bound.group(1)), float(bound.group(2))
        units = min(units - 1, int(units * (allowed / asked) ** 0.5))
        if units < 1:
            layers, units = layers - 1, widest
    return None, "no network admitted"


def timed(action) -> float:
    began = time.monotonic()
    action()
    return time.monotonic() - began


def measure_heavy(args) -> dict:
    """Paced runs, a gradient check and a stop while the heaviest runs allowed train."""
    env = {"TUNING_RUN_PROCESSES": str(args.run_processes)} if args.run_processes is not None else {}
    with served(env, args.worker_class) as (port, _):
        heavy = [start_heaviest(port, f"heavy-{index:04d}-bench-heavy") for index in range(args.heavy)]
        summary = {"worker_class": args.worker_class or "gunicorn.conf.py's", "cpus": os.cpu_count(),
                   "heavy": [shape for _, shape in heavy], "seconds": args.seconds}
        time.sleep(2.0)  # the heavy runs into their first epoch
        threads, results = paced_learners(port, args.paced, args.epochs_per_second, args.seconds, "beside")
        time.sleep(args.seconds / 2)
        gradcheck = []
        summary["gradcheck_s"] = round(timed(lambda: gradcheck.append(
            request(port, "POST", "/api/gradcheck", {}, timeout=120)[0])), 3)
        summary["gradcheck_status"] = gradcheck[0]
        for thread in threads:
            thread.join(args.seconds + 60)
        summary["paced_runs"] = stream_pace(results, args.epochs_per_second)
        stops = [run_id for run_id, _ in heavy if run_id is not None]
        summary["stop_s"] = [round(timed(lambda run_id=run_id: stop_and_wait(port, run_id)), 3)
                             for run_id in stops]
    return summary


def stop_and_wait(port: int, run_id: str, seconds: float = 120.0) -> None:
    request(port, "POST", f"/api/runs/{run_id}/control", {"action": "stop"}, timeout=seconds)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, body = request(port, "GET", f"/api/runs/{run_id}")
        if status != 200 or json.loads(body)["status"] not in ("running", "paused", "stopping", "pending"):
            return
        time.sleep(0.02)


def report_heavy(summary: dict) -> None:
    print(f"heavy: {summary['heavy']} beside paced runs, worker {summary['worker_class']} "
          f"({machine(summary)})")
    pace = summary["paced_runs"]
    print_pace(pace)
    print(f"  POST /api/gradcheck {{}}: {summary['gradcheck_status']} in {summary['gradcheck_s']} s; "
          f"stop to ended: {summary['stop_s']} s")


# --- fairness: the heaviest runs near each work bound, paced runs, gradient checks, stops ------

#: The heaviest runs the work bounds admit, one near each: thousands of small steps an
#: epoch (near the per-epoch bound), and full-batch steps of a wide network (each step
#: near the bound on a piece a training process cannot interrupt).  They train until stopped.
HEAVIEST_RUNS = {
    "2 x 45 units, 5,000 samples, batch 1": {
        "data": {"n_samples": 5000}, "model": {"hidden": [{"units": 45}] * 2},
        "training": {"epochs": 10000, "batch_size": 1, "boundary_every": 0}},
    "3 x 512 units, 20 samples, full batch": {
        "data": {"n_samples": 20}, "model": {"hidden": [{"units": 512}] * 3},
        "training": {"epochs": 10000, "boundary_every": 0}},
}


def measure_fairness(args) -> dict:
    """Paced runs and default gradient checks while ``HEAVIEST_RUNS`` train, then their stops."""
    env = {"TUNING_RUN_PROCESSES": str(args.run_processes)} if args.run_processes is not None else {}
    summary = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count(), "heavy": [],
               "paced": args.paced, "epochs_per_second": args.epochs_per_second, "seconds": args.seconds}
    with served(env, args.worker_class) as (port, _):
        heavy = []
        for index in range(args.heavy):
            name, config = list(HEAVIEST_RUNS.items())[index % len(HEAVIEST_RUNS)]
            status, body = request(port, "POST", "/api/runs", config,
                                   headers={CLIENT_HEADER: f"fair-{index:04d}-bench-heavy"})
            if status != 201:
                raise SystemExit(f"the heavy run {name} was refused: {status} {body[:300]!r}")
            heavy.append(json.loads(body)["id"])
            summary["heavy"].append(name)
        time.sleep(2.0)  # the heavy runs well into their first epochs
        threads, results = paced_learners(port, args.paced, args.epochs_per_second, args.seconds, "fair")
        checks = []
        while any(thread.is_alive() for thread in threads):
            began = time.monotonic()
            status, _ = request(port, "POST", "/api/gradcheck", {}, timeout=120)
            checks.append((status, time.monotonic() - began))
            time.sleep(max(args.gradcheck_every - (time.monotonic() - began), 0.0))
        summary["paced_runs"] = stream_pace(results, args.epochs_per_second)
        durations = [seconds for _, seconds in checks]
        summary["gradchecks"] = {"count": len(checks), "statuses": sorted({status for status, _ in checks}),
                                 "median_s": round(statistics.median(durations), 3) if durations else None,
                                 "max_s": round(max(durations), 3) if durations else None}
        summary["stop_s"] = [round(timed(lambda run_id=run_id: stop_and_wait(port, run_id)), 3)
                             for run_id in heavy]
    summary["load_average_after"] = os.getloadavg()
    return summary


def report_fairness(summary: dict) -> None:
    print(f"fairness: {summary['heavy']} training ({summary['cpus']} CPUs, load average "
          f"{summary['load_average_before'][0]:.2f} before, {summary['load_average_after'][0]:.2f} after)")
    pace = summary["paced_runs"]
    print_pace(pace)
    checks = summary["gradchecks"]
    print(f"  {checks['count']} default gradient checks {checks['statuses']}: median {checks['median_s']} s, "
          f"max {checks['max_s']} s")
    print(f"  stop to ended: {summary['stop_s']} s")


MODES = {"starts": (measure_starts, report_starts), "adversarial": (measure_adversarial, report_adversarial),
         "heavy": (measure_heavy, report_heavy), "fairness": (measure_fairness, report_fairness)}


if __name__ == "__main__":
    main()
