"""``python -m server.worker [--concurrency N]``: a training worker for the Redis backend.

Run any number of them, on any machine that reaches the Redis of
``TUNING_REDIS_URL`` (or ``--redis-url``); each trains up to ``--concurrency``
runs and search trials at once in its threads, which share one core, so start
about one worker per core.  SIGTERM or SIGINT stops it cleanly: its runs end
with ``done`` reason ``stopped`` and it signs off.  See docs/deployment.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from server.settings import one_blas_thread, serving_settings


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    from server.runs.redis_store import worker_settings

    defaults = worker_settings()
    parser = argparse.ArgumentParser(prog="python -m server.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default=serving_settings().redis_url,
                        help="Redis to take work from (default: TUNING_REDIS_URL)")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency,
                        help=f"runs and trials trained at once (default {defaults.concurrency}, "
                             "TUNING_WORKER_CONCURRENCY)")
    parser.add_argument("--nice", type=int, default=0,
                        help="raise the CPU niceness by this much (19 beside web instances on one machine)")
    arguments = parser.parse_args(argv)
    if not arguments.redis_url:
        parser.error("no Redis to take work from: set TUNING_REDIS_URL or pass --redis-url")
    if arguments.concurrency < 1:
        parser.error(f"--concurrency must be at least 1, got {arguments.concurrency}")
    return arguments


def main(argv: list[str] | None = None) -> int:
    one_blas_thread(force=True)  # before NumPy loads: runs get their parallelism from running side by side
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from dataclasses import replace

    from server.runs.redis_store import Keys, Store, connect, worker_settings
    from server.runs.redis_worker import Worker

    if arguments.nice and hasattr(os, "nice"):
        os.nice(arguments.nice)
    _warm_up()

    store = Store(connect(arguments.redis_url), Keys(serving_settings().redis_prefix))
    worker = Worker(store, replace(worker_settings(), concurrency=arguments.concurrency))
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    worker.start()
    logging.getLogger(__name__).info("worker %s takes up to %d runs from %s", worker.id,
                                     arguments.concurrency, arguments.redis_url)
    stop.wait()
    worker.shutdown()
    return 0


def _warm_up() -> None:
    """Train a tiny run once, so the first real run does not pay for loading NumPy and first calls."""
    from server.engine import Trainer
    from server.engine.config import RunConfig

    tiny = RunConfig.model_validate({"data": {"n_samples": 40}, "training": {"epochs": 2}})
    for _ in Trainer(tiny).events():
        pass


if __name__ == "__main__":
    sys.exit(main())
