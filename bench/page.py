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

Side by side with TensorFlow Playground (``--versus PATH``, PATH a checkout of
github.com/tensorflow/playground built with ``npm ci && npm run build``; its
``dist/`` is served from a local port and nothing of it is kept here): both
pages in the same Chromium, one after the other and interleaved (ours, theirs,
ours, theirs ...), on TF Playground's two standard configs, its default
(circle, 500 points, 50% train, 2-4-2-1 tanh, batch 10, SGD at 0.03) and the
same with 6 hidden layers of 8.  Ours trains the same network on the same
kind of data with neuron maps on (every boundary event carries them), paced
at 60 epochs/s and unpaced ("max").  Each run is measured over ``--window``
seconds after ``--warmup``: the epochs per second the page's own epoch
counter shows, frames per second, and main-thread long tasks.  TF Playground
requests web fonts and analytics from the internet; those requests are
blocked (it renders without them).

    python bench/page.py --versus /path/to/playground [--window 8] [--warmup 3] [--repeats 2]

Targets (issue 13), both configs: at least 60 epochs/s seen when paced at 60,
at 55+ fps with no long task over 50 ms; unpaced, at least 5x TF
Playground's epochs/s on 6x8 with the page still at 55+ fps.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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
    # A loaded machine can take a while to start the training processes; the group is
    # niced once the server is up, so that a busy machine does not starve its start.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    try:
                        Path(f"/proc/{server.pid}/autogroup").write_text(str(niceness))
                    except OSError:
                        pass  # no autogroup here: the tasks' niceness is all there is
                    return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not answer /healthz within 120 s")


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
    parser.add_argument("--versus", metavar="PATH",
                        help="a built TF Playground checkout: measure both pages side by side")
    # 20 s: in 8 s windows one Plotly relayout or a late start moved a row more than the pages differ.
    parser.add_argument("--window", type=float, default=20.0, help="--versus: seconds measured per run")
    parser.add_argument("--boundary-every", type=int, default=2,
                        help="--versus: epochs between boundary (and neuron map) events, paced")
    parser.add_argument("--boundary-every-max", type=int, default=5,
                        help="--versus: the same, unpaced")
    arguments = parser.parse_args()
    if arguments.versus:
        run_versus(arguments)
        return

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


# --- side by side with TensorFlow Playground -------------------------------------------------

# TF Playground's URL state for its two standard configs (its defaults, noise 0).
TF_STATE = ("activation=tanh&batchSize=10&dataset=circle&regDataset=reg-plane&learningRate=0.03"
            "&regularizationRate=0&noise=0&networkShape={shape}&seed=0.58297&showTestData=false"
            "&discretize=false&percTrainData=50&x=true&y=true&xTimesY=false&xSquared=false&ySquared=false"
            "&cosX=false&sinX=false&cosY=false&sinY=false&collectStats=false&problem=classification"
            "&initZero=false&hideText=false")
OURS_STATE = ("dataset=circles&samples=500&noise=0&train=0.5&dev=0.25&test=0.25&layers={layers}"
              "&init=xavier&optimizer=gd&learningRate=0.03&batchSize=10&epochs=10000"
              "&boundaryEvery={boundary_every}&speed={speed}")
VERSUS_CONFIGS = {"2-4-2-1": [4, 2], "6x8": [8] * 6}
# Counters as each page shows them ("1,234" in TF Playground's).
EPOCH_COUNTER = {
    "ours": "() => Number(document.querySelector('[data-testid=epoch]').textContent)",
    "tf": "() => Number(document.querySelector('#iter-number').textContent.replace(/[^0-9]/g, ''))",
}


def serve_directory(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    """A static file server for ``directory`` on a free loopback port, in a thread."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def block_the_internet(context, allowed_origins: tuple[str, ...]) -> None:
    """Abort every request that leaves the loopback servers (TF Playground's fonts and analytics)."""
    def route(route):
        if route.request.url.startswith(allowed_origins):
            route.continue_()
        else:
            route.abort()
    context.route("**/*", route)


def measure_window(browser, url: str, kind: str, origins: tuple[str, ...], warmup_s: float,
                   window_s: float) -> dict:
    """Open ``url``, press play, and measure ``window_s`` seconds after ``warmup_s``."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    block_the_internet(context, origins)
    page = context.new_page()
    page.add_init_script(PROBE)
    page.goto(url)
    if kind == "ours":
        page.wait_for_selector("body[data-ready=true]")
        page.click("[data-testid=start]")
    else:
        page.wait_for_selector("#play-pause-button")
        page.click("#play-pause-button")
    page.wait_for_timeout(warmup_s * 1000)
    start, first_epoch = page.evaluate(f"() => [performance.now(), ({EPOCH_COUNTER[kind]})()]")
    # The window closes early if our run ends (10,000 epochs, the longest a run may train).
    running = "() => !document.querySelector('[data-testid=status]') || "\
              "document.querySelector('[data-testid=status]').textContent === 'running'"
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline and page.evaluate(running):
        page.wait_for_timeout(250)
    end, last_epoch = page.evaluate(f"() => [performance.now(), ({EPOCH_COUNTER[kind]})()]")
    probe = page.evaluate("window.__bench")
    maps = page.locator("[data-testid=neuron-map]").count() if kind == "ours" else None
    context.close()
    steady = summarize(probe["frames"], probe["longTasks"], start, end)
    return {"epochs_per_second": round((last_epoch - first_epoch) / ((end - start) / 1000), 1),
            "neuron_maps": maps, **steady}


def versus_runs(ours_url: str, theirs_url: str, shape: list[int], arguments) -> list[tuple[str, str, str]]:
    """``(page, pace, url)``: ours paced at 60, TF Playground, ours unpaced."""
    layers = ",".join(f"{units}-tanh" for units in shape)
    ours = lambda speed, every: f"{ours_url}/#" + OURS_STATE.format(  # noqa: E731
        layers=layers, boundary_every=every, speed=speed)
    theirs = f"{theirs_url}/index.html#" + TF_STATE.format(shape=",".join(map(str, shape)))
    return [("ours", "paced 60", ours("60", arguments.boundary_every)),
            ("tf", "one epoch a frame", theirs),
            ("ours", "max", ours("max", arguments.boundary_every_max))]


def versus(playwright, executable, ours_url: str, theirs_url: str, arguments) -> list[dict]:
    """Every (config, page, pace) once per repeat, ours and theirs alternating, in one browser."""
    browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--disable-gpu"])
    origins = (ours_url, theirs_url)
    rows = []
    try:
        for repeat in range(arguments.repeats):
            for name, shape in VERSUS_CONFIGS.items():
                for kind, pace, url in versus_runs(ours_url, theirs_url, shape, arguments):
                    result = measure_window(browser, url, kind, origins, arguments.warmup, arguments.window)
                    row = {"repeat": repeat + 1, "config": name, "page": kind, "pace": pace, **result}
                    print(json.dumps(row))
                    rows.append(row)
    finally:
        browser.close()
    return rows


def versus_table(rows: list[dict]) -> str:
    """A Markdown table of the medians per (config, page, pace)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["config"], row["page"], row["pace"]), []).append(row)
    lines = ["| config | page | pace | epochs/s seen | fps | long tasks | longest task ms |",
             "|---|---|---|---|---|---|---|"]
    for (config, page, pace), group in groups.items():
        median = {key: statistics.median(row[key] for row in group)
                  for key in ("epochs_per_second", "fps", "long_tasks", "longest_task_ms")}
        shown = "ours" if page == "ours" else "TF Playground"
        lines.append(f"| {config} | {shown} | {pace} | {median['epochs_per_second']:.0f} | "
                     f"{median['fps']:.1f} | {median['long_tasks']:.0f} | {median['longest_task_ms']:.0f} |")
    return "\n".join(lines)


def run_versus(arguments) -> None:
    from playwright.sync_api import sync_playwright

    dist = Path(arguments.versus).resolve() / "dist"
    if not (dist / "index.html").exists():
        raise SystemExit(f"{dist} has no index.html: build TF Playground first (npm ci && npm run build)")
    port = free_port()
    server = start_server(port, arguments.server_niceness)
    static, theirs_url = serve_directory(dist)
    try:
        with sync_playwright() as playwright:
            executable = os.environ.get("PLAYWRIGHT_CHROMIUM") or (
                DEBIAN_CHROMIUM if os.path.exists(DEBIAN_CHROMIUM) else None)
            rows = versus(playwright, executable, f"http://127.0.0.1:{port}", theirs_url, arguments)
    finally:
        static.shutdown()
        server.terminate()
        server.wait(timeout=10)
    print(versus_table(rows))
    with open("/proc/loadavg") as load:
        print(f"load average while measuring: {' '.join(load.read().split()[:3])}")


if __name__ == "__main__":
    main()
