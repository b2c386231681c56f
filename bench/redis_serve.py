"""``python bench/serve.py --redis``: the Redis backend with two web instances and two workers.

Starts a ``redis-server`` on a free loopback port (no persistence,
``maxmemory-policy noeviction``), two ``python -m server.worker`` processes
and two gunicorn web instances (the project's gunicorn.conf.py, each on its
own port), then:

1. a burst: ``--runs`` runs started at the same instant, each POSTed to one
   instance and streamed from the other (as a load balancer may do): first
   event p50/p95 (POST sent -> first SSE event), metrics events/s per stream;
2. ``--paced-runs`` runs paced at ``--paced-epochs-per-second``, started over
   ``--paced-ramp-seconds``: whether every stream keeps the pace, and the
   CPU each tier spends per run-epoch (web instances, workers, redis-server);
3. Redis memory per run: ``used_memory`` growth over the paced wave's runs,
   all finished and retained with their event logs, divided by their number.

Reports the load average before and after, since the machine may be shared,
and the CPU ms per epoch of one default run trained alone, before and after
(``serve.reference_epoch_ms``): a cloud machine's speed changes with its
neighbours, and every figure above moves with it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time

import serve

WEB_INSTANCES = 2
WORKERS = 2


def redis_memory(port: int) -> int:
    """Bytes the Redis at ``port`` holds (``INFO memory``'s ``used_memory``)."""
    import redis

    return int(redis.Redis(port=port).info("memory")["used_memory"])


@contextlib.contextmanager
def process(command: list[str], env: dict):
    log = tempfile.TemporaryFile()
    child = subprocess.Popen(command, cwd=serve.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        serve.terminate(child, 30.0)
        log.close()


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found = [pid]
    for child in serve.children(pid):
        found.extend(tree(child))
    return found


def cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += serve.cpu_seconds(pid)
    return total


def wave(ports: list[int], runs: int, config: dict, ramp_seconds: float,
         groups: dict[str, list[int]]) -> dict:
    """``runs`` learners, each its own client token: run i is POSTed to instance i and streamed
    from instance i + 1."""
    gate = threading.Barrier(runs)
    results = [serve.StreamResult() for _ in range(runs)]
    max_seconds = config["training"]["epochs"] / config["training"]["epochs_per_second"] * 3 + 30
    threads = [threading.Thread(target=serve.watch_run, daemon=True, kwargs={
        "port": ports[index % len(ports)], "stream_port": ports[(index + 1) % len(ports)], "config": config,
        "start_gate": gate, "delay": ramp_seconds * index / runs, "result": result,
        "max_seconds": max_seconds, "client": f"wave-{index:04d}-bench-learner"})
        for index, result in enumerate(results)]
    before = {name: cpu(pids) for name, pids in groups.items()}
    clients_before = time.process_time()  # this process: the learners' threads, on the same cores
    wall = serve.run_all(threads, max_seconds + 30)
    spent = {name: cpu(pids) - before[name] for name, pids in groups.items()}
    spent["bench clients"] = time.process_time() - clients_before
    firsts = [r.first_event_s for r in results if r.first_event_s is not None]
    posts = [r.post_s for r in results if r.post_s is not None]
    rates = [r.metrics_per_second for r in results if r.metrics_per_second is not None]
    run_epochs = runs * config["training"]["epochs"]
    return {
        "runs": runs, "completed": sum(r.done for r in results),
        "errors": sorted({r.error for r in results if r.error}),
        "first_event_p50_ms": round(serve.percentile(firsts, 0.5) * 1000, 1) if firsts else None,
        "first_event_p95_ms": round(serve.percentile(firsts, 0.95) * 1000, 1) if firsts else None,
        # How much of the wait for a first event is the start's answer (web) rather than the worker's.
        "post_p95_ms": round(serve.percentile(posts, 0.95) * 1000, 1) if posts else None,
        "metrics_per_s_min": round(min(rates), 2) if rates else None,
        "metrics_per_s_median": round(serve.percentile(rates, 0.5), 2) if rates else None,
        "wall_s": round(wall, 2),
        "cpu_cores": {name: round(seconds / wall, 2) for name, seconds in spent.items()},
        "cpu_ms_per_run_epoch": {name: round(seconds * 1000 / run_epochs, 3)
                                 for name, seconds in spent.items()},
    }


def main(args) -> dict:
    redis_port = serve.free_port()
    ports = [serve.free_port() for _ in range(WEB_INSTANCES)]
    url = f"redis://127.0.0.1:{redis_port}/0"
    runs_at_once = max(args.runs, args.paced_runs)
    env = {**os.environ, "TUNING_REDIS_URL": url, "TUNING_MAX_CONCURRENT_RUNS": str(max(runs_at_once, 48)),
           "TUNING_MAX_RUNS_PER_CLIENT": str(runs_at_once), "TUNING_MAX_RUNS_PER_ADDRESS": str(runs_at_once)}
    # Each worker takes its share and no more: one that took more than its share would hold
    # more runs than its one core (the interpreter lock) trains at pace.
    worker = [sys.executable, "-m", "server.worker", "--nice", "19",
              "--concurrency", str(-(-runs_at_once // WORKERS))]
    web = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
    load_before = os.getloadavg()
    reference_before = serve.reference_epoch_ms()
    with contextlib.ExitStack() as stack:
        redis_server = stack.enter_context(process(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no",
             "--maxmemory-policy", "noeviction"], env))
        workers = [stack.enter_context(process(worker, env)) for _ in range(WORKERS)]
        webs = [stack.enter_context(process(web, {**env, "TUNING_BIND": f"127.0.0.1:{port}"}))
                for port in ports]
        for port, child in zip(ports, webs, strict=True):
            serve.wait_healthy(port, child, tempfile.TemporaryFile(), seconds=60)
        groups = {"web": [pid for child in webs for pid in tree(child.pid)],
                  "workers": [pid for child in workers for pid in tree(child.pid)],
                  "redis": [redis_server.pid]}
        burst_config = {"training": {"epochs": args.epochs, "epochs_per_second": args.epochs_per_second}}
        burst = wave(ports, args.runs, burst_config, 0.0, groups)
        memory_before = redis_memory(redis_port)
        paced_config = {"training": {"epochs": args.paced_epochs,
                                     "epochs_per_second": args.paced_epochs_per_second}}
        paced = wave(ports, args.paced_runs, paced_config, args.paced_ramp_seconds, groups)
        memory_after = redis_memory(redis_port)
    summary = {"load_average_before": [round(value, 2) for value in load_before],
               "reference_epoch_ms": [reference_before, serve.reference_epoch_ms()],
               "load_average_after": [round(value, 2) for value in os.getloadavg()],
               "cpus": os.cpu_count(), "web_instances": WEB_INSTANCES, "workers": WORKERS,
               "burst": {**burst, "epochs": args.epochs, "epochs_per_second": args.epochs_per_second},
               "paced": {**paced, "epochs": args.paced_epochs,
                         "epochs_per_second": args.paced_epochs_per_second},
               "redis_kib_per_finished_run": round((memory_after - memory_before) / args.paced_runs / 1024,
                                                   1)}
    return summary


def report(summary: dict) -> None:
    print(f"Redis backend: {summary['web_instances']} web instances, {summary['workers']} workers, "
          f"{summary['cpus']} CPUs; load average before {summary['load_average_before']}, "
          f"after {summary['load_average_after']}; one default run alone, before and after: "
          f"{summary['reference_epoch_ms']} CPU ms per epoch")
    for name in ("burst", "paced"):
        result = summary[name]
        print(f"{name}: {result['runs']} runs x {result['epochs']} epochs "
              f"at {result['epochs_per_second']:g}/s: "
              f"completed {result['completed']}, first event p50 {result['first_event_p50_ms']} ms "
              f"p95 {result['first_event_p95_ms']} ms (start answered: p95 {result['post_p95_ms']} ms), "
              f"metrics/s per stream min {result['metrics_per_s_min']} "
              f"median {result['metrics_per_s_median']}, over {result['wall_s']} s")
        print(f"  CPU cores {result['cpu_cores']}; CPU ms per run-epoch {result['cpu_ms_per_run_epoch']}")
        for error in result["errors"]:
            print(f"  error: {error}")
    print(f"Redis memory per finished run (its log retained): {summary['redis_kib_per_finished_run']} KiB")
