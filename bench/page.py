"""How smooth the playground page stays while a long run streams at full speed.

Starts the real server (gunicorn with ``gunicorn.conf.py``) on a free loopback
port, opens the page in headless Chromium (Playwright) and starts a run of
``--epochs`` epochs of the default network with pacing off ("max"), so events
arrive as fast as the engine makes them.  In the page it counts
requestAnimationFrame callbacks (frames per second) and collects main-thread
long tasks (PerformanceObserver "longtask", tasks over 50 ms).  The first
``--warmup`` seconds after the start (page and Plotly warming up) are left out
of the steady-state figures; the run is also reported as a whole.

The server runs on the same 2 cores as the browser, training unpaced.  A
learner's browser has its machine to itself, so by default the server runs at
a lower CPU priority (``--server-niceness 10``, on its scheduling group too):
the browser gets the cores first, and the server still streams every event as
fast as it trains.  ``--server-niceness 0`` makes them compete as equals, which
measures how busy the machine is as much as the page.

Targets (issue 4): at least 30 fps and no long task over 50 ms in steady state.

    python bench/page.py [--epochs 10000] [--warmup 2] [--speed max] [--repeats 1] [--server-niceness 10]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEBIAN_CHROMIUM = "/usr/lib/chromium/chromium"

# Installed before any page script: counts frames and records long tasks with timestamps.
PROBE = """
window.__bench = {frames: [], longTasks: []};
(function count(now) { window.__bench.frames.push(now); requestAnimationFrame(count); })(0);
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__bench.longTasks.push([entry.startTime, entry.duration]);
}).observe({type: "longtask", buffered: true});
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, niceness: int = 0) -> subprocess.Popen:
    """The README's server, in a session of its own at ``niceness``.

    Where Linux groups the tasks of each session for scheduling (autogroup),
    the browser, which runs in its own session, and the server share the cores
    group against group whatever their tasks' niceness; so the niceness is set
    on the server's group as well.
    """
    environment = {**os.environ, "TUNING_BIND": f"127.0.0.1:{port}", "TUNING_THREADS": "16"}
    server = subprocess.Popen(
        ["nice", "-n", str(niceness), sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
         "server:create_app()"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        Path(f"/proc/{server.pid}/autogroup").write_text(str(niceness))
    except OSError:
        pass  # no autogroup here: the tasks' niceness is all there is
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not answer /healthz within 30 s")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(stat_file: Path) -> float:
    fields = stat_file.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def renderer_cpu_seconds(profile_dir: str) -> tuple[float, float]:
    """CPU time of this browser's renderer processes and of their main threads (found by profile directory).

    A renderer's main thread (the page's JavaScript, style, layout) is the thread whose id is the process id.
    """
    process_total = main_thread_total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
            if "--type=renderer" not in command or profile_dir not in command:
                continue
            process_total += _cpu_seconds(entry / "stat")
            main_thread_total += _cpu_seconds(entry / "task" / entry.name / "stat")
        except OSError:
            continue
    return process_total, main_thread_total


def summarize(frames: list[float], long_tasks: list[list[float]], start: float, end: float) -> dict:
    window_frames = [t for t in frames if start <= t <= end]
    window_tasks = [duration for at, duration in long_tasks if start <= at <= end]
    gaps = [b - a for a, b in zip(window_frames, window_frames[1:], strict=False)]
    seconds = max((end - start) / 1000, 1e-9)
    return {
        "seconds": round(seconds, 2),
        "fps": round(len(window_frames) / seconds, 1),
        "worst_frame_gap_ms": round(max(gaps), 1) if gaps else None,
        "long_tasks": len(window_tasks),
        "longest_task_ms": round(max(window_tasks), 1) if window_tasks else 0.0,
        "median_long_task_ms": round(statistics.median(window_tasks), 1) if window_tasks else 0.0,
    }


def measure(playwright, executable, base_url: str, epochs: int, speed: str, warmup_s: float,
            timeout_s: float) -> dict:
    profile_dir = tempfile.mkdtemp(prefix="page-bench-")
    context = playwright.chromium.launch_persistent_context(
        profile_dir, executable_path=executable, headless=True, args=["--disable-gpu"],
        viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.add_init_script(PROBE)
    page.goto(f"{base_url}/#epochs={epochs}&speed={speed}&boundaryEvery=5")
    page.wait_for_selector("body[data-ready=true]")
    started_at = page.evaluate("performance.now()")
    cpu_before, main_before = renderer_cpu_seconds(profile_dir)
    page.click("[data-testid=start]")
    page.wait_for_function(
        "() => !['running', 'idle'].includes(document.querySelector('[data-testid=status]').textContent)",
        timeout=timeout_s * 1000, polling=250)
    finished_at = page.evaluate("performance.now()")
    cpu_after, main_after = renderer_cpu_seconds(profile_dir)
    run_seconds = max((finished_at - started_at) / 1000, 1e-9)
    status = page.text_content("[data-testid=status]")
    epoch = int(page.text_content("[data-testid=epoch]"))
    page.wait_for_function(
        "n => document.querySelector('[data-testid=loss-chart]').dataset.epochs === String(n)",
        arg=epoch, timeout=10_000)
    drawn_at = page.evaluate("performance.now()")
    probe = page.evaluate("window.__bench")
    redraws = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('.chart')]"
        ".filter((chart) => chart.dataset.redraws)"
        ".map((chart) => [chart.dataset.testid, chart.dataset.redraws.split(',').map(Number)]))")
    context.close()
    steady_start = started_at + warmup_s * 1000
    return {
        "status": status,
        "epochs": epoch,
        "run_seconds": round((finished_at - started_at) / 1000, 2),
        "epochs_per_second": round(epoch / max((finished_at - started_at) / 1000, 1e-9)),
        "last_point_drawn_after_done_ms": round(drawn_at - finished_at),
        # CPU the page used while the run streamed, in cores: what it costs, whatever else the machine does.
        "renderer_cpu_cores": round((cpu_after - cpu_before) / run_seconds, 2),
        "main_thread_cpu_cores": round((main_after - main_before) / run_seconds, 2),
        "redraws_per_chart": {name: {"count": count, "mean_ms": round(total / count, 1), "max_ms": longest}
                              for name, (count, total, longest) in redraws.items()},
        "steady": summarize(probe["frames"], probe["longTasks"], steady_start, finished_at),
        "whole_run": summarize(probe["frames"], probe["longTasks"], started_at, finished_at),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10_000)
    parser.add_argument("--speed", default="max", help='epochs per second, or "max" for unpaced')
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds left out of the steady state")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--server-niceness", type=int, default=10,
                        help="run the server at this CPU niceness (0: compete with the browser as an equal)")
    arguments = parser.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    server = start_server(port, arguments.server_niceness)
    try:
        with sync_playwright() as playwright:
            executable = os.environ.get("PLAYWRIGHT_CHROMIUM") or (
                DEBIAN_CHROMIUM if os.path.exists(DEBIAN_CHROMIUM) else None)
            for repeat in range(arguments.repeats):
                result = measure(playwright, executable, f"http://127.0.0.1:{port}", arguments.epochs,
                                 arguments.speed, arguments.warmup, arguments.timeout)
                steady = result["steady"]
                verdict = "meets" if steady["fps"] >= 30 and steady["longest_task_ms"] <= 50 else "misses"
                report = {"repeat": repeat + 1, "server_niceness": arguments.server_niceness, **result,
                          "target": verdict}
                print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)
    with open("/proc/loadavg") as load:
        print(f"load average while measuring: {' '.join(load.read().split()[:3])}")


if __name__ == "__main__":
    main()
