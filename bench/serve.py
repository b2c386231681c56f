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

``--mode fairness`` measures instead what one client's heaviest runs do to
everyone else: two of the heaviest runs the bounds admit (``HEAVIEST_RUNS``,
one near each bound of server/engine/cost.py) train while ``--paced`` runs
stream at ``--epochs-per-second``, a default gradient check is posted every
``--gradcheck-every`` seconds, and at the end each heavy run is stopped.
Targets: the paced runs keep >= 90% of their pace, each check answers
within 1 s, each stop takes effect within 0.5 s.

    python bench/serve.py --mode fairness [--paced 3] [--epochs-per-second 10] [--seconds 20]
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
              max_seconds: float) -> None:
    """One learner: start a run after ``delay`` s, then read its stream to ``done`` (or give up)."""
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
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
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
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + 30)
    wall = time.monotonic() - started
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("starts", "fairness"), default="starts",
                        help="starts: waves of simultaneous runs; fairness: paced runs, gradient checks "
                             "and stops beside the heaviest runs allowed")
    parser.add_argument("--paced", type=int, default=3, help="paced runs beside the heavy ones (fairness)")
    parser.add_argument("--heavy", type=int, default=2,
                        help="heaviest runs allowed, from HEAVIEST_RUNS in turn (fairness; 0: a baseline)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="how long the paced runs stream (fairness)")
    parser.add_argument("--gradcheck-every", type=float, default=2.0,
                        help="seconds between default gradient checks (fairness)")
    parser.add_argument("--runs", type=int, default=32, help="concurrent runs per wave")
    parser.add_argument("--epochs-per-second", type=float, default=12.0, help="pacing of each run")
    parser.add_argument("--epochs", type=int, default=200, help="epochs per run (the default config's)")
    parser.add_argument("--waves", type=int, default=2, help="waves of concurrent runs, one after the other")
    parser.add_argument("--run-processes", type=int, default=None,
                        help="training host processes (TUNING_RUN_PROCESSES; 0: runs train in threads)")
    parser.add_argument("--ramp-seconds", type=float, default=0.0,
                        help="spread the starts of a wave over this many seconds (0: all at once)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON only")
    args = parser.parse_args(argv)
    if args.mode == "fairness":
        summary = measure_fairness(args)
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            report_fairness(summary)
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
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
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



# --- fairness: the heaviest runs allowed beside paced runs, gradient checks and stops ------------

#: The heaviest runs the bounds admit, one near each bound: thousands of small steps an
#: epoch (near the per-epoch bound), and full-batch steps of a wide network (each step
#: near the bound on a piece a host cannot interrupt).  They train until stopped.
HEAVIEST_RUNS = {
    "2 x 48 units, 5,000 samples, batch 1": {
        "data": {"n_samples": 5000}, "model": {"hidden": [{"units": 48}] * 2},
        "training": {"epochs": 10000, "batch_size": 1, "boundary_every": 0}},
    "3 x 512 units, 20 samples, full batch": {
        "data": {"n_samples": 20}, "model": {"hidden": [{"units": 512}] * 3},
        "training": {"epochs": 10000, "boundary_every": 0}},
}


def measure_fairness(args) -> dict:
    """Paced runs, default gradient checks and stops while ``HEAVIEST_RUNS`` train."""
    port = free_port()
    env = {**os.environ, "TUNING_BIND": f"127.0.0.1:{port}"}
    if args.run_processes is not None:
        env["TUNING_RUN_PROCESSES"] = str(args.run_processes)
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
    server_log = tempfile.TemporaryFile()
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    summary = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count(), "heavy": args.heavy,
               "paced": args.paced,
               "epochs_per_second": args.epochs_per_second, "seconds": args.seconds}
    try:
        wait_healthy(port, server, server_log)
        heavy = {}
        for index in range(args.heavy):
            name, config = list(HEAVIEST_RUNS.items())[index % len(HEAVIEST_RUNS)]
            status, body = request(port, "POST", "/api/runs", config)
            if status != 201:
                raise SystemExit(f"the heavy run {name} was refused: {status} {body[:300]!r}")
            heavy[f"{index}: {name}"] = json.loads(body)["id"]
        time.sleep(2.0)  # the heavy runs well into their first epochs
        summary.update(paced_beside_checks(port, args))
        summary["stop_s"] = {name: round(stop_and_time(port, run_id), 3) for name, run_id in heavy.items()}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    summary["load_average_after"] = os.getloadavg()
    return summary


def paced_beside_checks(port: int, args) -> dict:
    """Stream ``args.paced`` paced runs to their end, posting a default gradient check now and then."""
    config = {"training": {"epochs": int(args.seconds * args.epochs_per_second),
                           "epochs_per_second": args.epochs_per_second}}
    gate = threading.Barrier(args.paced)
    results = [StreamResult() for _ in range(args.paced)]
    threads = [threading.Thread(target=watch_run, daemon=True,
                                args=(port, config, gate, 0.0, result, args.seconds * 3 + 30))
               for result in results]
    for thread in threads:
        thread.start()
    checks = []
    while any(thread.is_alive() for thread in threads):
        began = time.monotonic()
        status, _ = request(port, "POST", "/api/gradcheck", {}, timeout=120)
        checks.append((status, time.monotonic() - began))
        time.sleep(max(args.gradcheck_every - (time.monotonic() - began), 0.0))
    rates = [result.metrics_per_second for result in results if result.metrics_per_second is not None]
    durations = [seconds for _, seconds in checks]
    return {
        "paced_errors": sorted({result.error for result in results if result.error}),
        "paced_metrics_per_s": [round(rate, 2) for rate in rates],
        "paced_share_of_pace_min": round(min(rates) / args.epochs_per_second, 3) if rates else None,
        "gradchecks": len(checks), "gradcheck_statuses": sorted({status for status, _ in checks}),
        "gradcheck_s_median": round(statistics.median(durations), 3) if durations else None,
        "gradcheck_s_max": round(max(durations), 3) if durations else None,
    }


def stop_and_time(port: int, run_id: str, patience: float = 120.0) -> float:
    """Seconds from posting ``stop`` until the run's status says it ended."""
    began = time.monotonic()
    request(port, "POST", f"/api/runs/{run_id}/control", {"action": "stop"})
    while time.monotonic() - began < patience:
        status, body = request(port, "GET", f"/api/runs/{run_id}")
        if status != 200 or json.loads(body)["status"] not in ("running", "paused"):
            break
        time.sleep(0.01)
    return time.monotonic() - began


def report_fairness(summary: dict) -> None:
    print(f"fairness: {summary['heavy']} of the heaviest runs training; {summary['cpus']} CPUs, load average "
          f"{summary['load_average_before'][0]:.2f} before, {summary['load_average_after'][0]:.2f} after")
    print(f"  {summary['paced']} paced runs at {summary['epochs_per_second']:g} epochs/s for "
          f"{summary['seconds']:g} s: metrics/s {summary['paced_metrics_per_s']} (slowest "
          f"{summary['paced_share_of_pace_min']} of pace) {summary['paced_errors']}")
    print(f"  {summary['gradchecks']} default gradient checks {summary['gradcheck_statuses']}: median "
          f"{summary['gradcheck_s_median']} s, max {summary['gradcheck_s_max']} s")
    print(f"  stop to ended: {summary['stop_s']}")


if __name__ == "__main__":
    main()
