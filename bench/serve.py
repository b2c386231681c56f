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

``--redis`` measures the Redis backend instead (two web instances, two
workers, one redis-server): see ``bench/redis_serve.py``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
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


def request(port: int, method: str, path: str, body: dict | None = None, timeout: float = 10.0):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
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

    @property
    def metrics_per_second(self) -> float | None:
        times = self.metrics_times
        if len(times) < 3:
            return None
        return (len(times) - 1) / (times[-1] - times[0])


def watch_run(port: int, config: dict, start_gate: threading.Barrier, delay: float, result: StreamResult,
              max_seconds: float, stream_port: int | None = None) -> None:
    """One learner: start a run after ``delay`` s, then read its stream (from ``stream_port``) to ``done``."""
    try:
        start_gate.wait()
        time.sleep(delay)
        began = time.monotonic()
        status, body = request(port, "POST", "/api/runs", config)
        result.post_s = time.monotonic() - began
        if status != 201:
            result.error = f"POST /api/runs: {status} {body[:200]!r}"
            return
        events_url = json.loads(body)["events_url"]
        connection = http.client.HTTPConnection("127.0.0.1", stream_port or port, timeout=30)
        connection.request("GET", events_url, headers={"Accept": "text/event-stream"})
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
        if not result.done:
            result.error = "the stream ended before done"
    except Exception as error:  # a bench reports failures, it does not stop at the first
        result.error = f"{type(error).__name__}: {error}"


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
    """``runs`` learners starting together (``ramp_seconds`` 0) or evenly spread over ``ramp_seconds``."""
    gate = threading.Barrier(runs)
    results = [StreamResult() for _ in range(runs)]
    threads = [threading.Thread(target=watch_run, daemon=True, args=(
                   port, config, gate, ramp_seconds * index / runs, result, max_seconds))
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


def terminate(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout`` s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=32, help="concurrent runs per wave")
    parser.add_argument("--epochs-per-second", type=float, default=12.0, help="pacing of each run")
    parser.add_argument("--epochs", type=int, default=200, help="epochs per run (the default config's)")
    parser.add_argument("--waves", type=int, default=2, help="waves of concurrent runs, one after the other")
    parser.add_argument("--run-processes", type=int, default=None,
                        help="training host processes (TUNING_RUN_PROCESSES; 0: runs train in threads)")
    parser.add_argument("--ramp-seconds", type=float, default=0.0,
                        help="spread the starts of a wave over this many seconds (0: all at once)")
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

        summary = redis_serve.main(args)
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            redis_serve.report(summary)
        return summary

    port = free_port()
    env = {**os.environ, "TUNING_BIND": f"127.0.0.1:{port}",
           "TUNING_MAX_CONCURRENT_RUNS": str(max(args.runs, 48)),
           "TUNING_MAX_RUNS_PER_CLIENT": str(args.runs)}
    if args.run_processes is not None:
        env["TUNING_RUN_PROCESSES"] = str(args.run_processes)
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
    server_log = tempfile.TemporaryFile()
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(port, server, server_log)
        workers = children(server.pid)
        if len(workers) != 1:
            raise SystemExit(f"expected one worker process, found {workers}")
        worker = workers[0]
        hosts = children(worker)  # the training host processes, started before the worker serves
        pids = [server.pid, worker, *hosts]
        config = {"training": {"epochs": args.epochs, "epochs_per_second": args.epochs_per_second}}
        max_seconds = args.epochs / args.epochs_per_second * 3 + 30
        summary = {"command": "gunicorn -c gunicorn.conf.py 'server:create_app()'", "runs": args.runs,
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
    finally:
        terminate(server)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        report(summary)
    return summary


def report(summary: dict) -> None:
    print(f"{summary['command']}  ({summary['cpus']} CPUs; the bench's clients share them)")
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


if __name__ == "__main__":
    main()
