"""Trials per minute of one fixed search with 1 worker and with 2.

    python bench/search.py [--trials 16] [--epochs 150] [--repeats 2]

Each measurement runs the same search (the quick preset base config, random
learning rates over [1e-3, 1e-1], seed 0) through the search manager on the
default process-pool executor.  The pool is warmed by a small search first, so
the figures exclude process start-up and the import of the engine; the first
search of a cold server pays that once (a second or two).  The target on a
2-core machine is a speed-up of at least 1.8x; other work on the machine
lowers it, so the load average is printed alongside.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.limits import RuntimeLimits  # noqa: E402
from server.search.executor import ProcessPoolTrialExecutor, available_cores  # noqa: E402
from server.search.limits import SearchLimits  # noqa: E402
from server.search.manager import SearchManager  # noqa: E402
from server.search.presets import QUICK_BASE  # noqa: E402


def definition(trials: int, epochs: int, workers: int) -> dict:
    base = copy.deepcopy(QUICK_BASE)
    base["training"]["epochs"] = epochs
    return {"base": base, "trials": trials, "workers": workers, "seed": 0,
            "space": {"optimizer.learning_rate": {"distribution": "log_uniform", "low": 1e-3, "high": 1e-1}}}


def timed_search(manager: SearchManager, raw: dict) -> float:
    started = time.perf_counter()
    search = manager.create(raw)
    search.join()
    elapsed = time.perf_counter() - started
    counts = search.snapshot()
    assert counts["reason"] == "completed", counts["reason"]
    assert all(t["status"] == "completed" for t in counts["trials"]), "every trial should complete"
    return elapsed


def trials_per_minute(workers: int, trials: int, epochs: int, repeats: int) -> float:
    limits = SearchLimits(max_workers=max(workers, available_cores()))
    manager = SearchManager(RuntimeLimits(), limits, ProcessPoolTrialExecutor)
    try:
        timed_search(manager, definition(trials=2 * workers, epochs=5, workers=workers))  # warm the pool
        best = min(timed_search(manager, definition(trials, epochs, workers)) for _ in range(repeats))
    finally:
        manager.shutdown()
    return trials / best * 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2, help="runs per worker count; the fastest counts")
    args = parser.parse_args()
    print(f"cores available: {available_cores()}, load average before: {os.getloadavg()[0]:.2f}")
    print(f"search: {args.trials} trials x {args.epochs} epochs, quick preset base config")
    rates = {}
    for workers in (1, 2):
        rates[workers] = trials_per_minute(workers, args.trials, args.epochs, args.repeats)
        print(f"{workers} worker{'s' if workers > 1 else ''}: {rates[workers]:7.1f} trials/min")
    speedup = rates[2] / rates[1]
    verdict = "meets" if speedup >= 1.8 else "misses"
    print(f"speed-up with 2 workers: {speedup:.2f}x ({verdict} the 1.8x target); "
          f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
