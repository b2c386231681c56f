"""The app script most Flask users write, with no ``if __name__ == "__main__":`` guard.

Training hosts and search workers are ``python -m`` children, so they never
import the script again: it starts once, and its runs, gradient checks and
searches work.  The script puts the checkout on its own ``sys.path``; the
children import ``server`` from there too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.web.serving import ROOT, free_port, get, post_json, wait_until_healthy

SMALL = {"data": {"dataset": "moons", "n_samples": 80}, "training": {"epochs": 4, "boundary_every": 0}}


@pytest.fixture(scope="module")
def script_port(tmp_path_factory):
    folder = tmp_path_factory.mktemp("script")
    port = free_port()
    script = folder / "app.py"
    script.write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from server import create_app
        create_app().run(port={port})
        """))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(TUNING_RUN_PROCESSES="1", TUNING_SEARCH_MAX_WORKERS="1")
    log = folder / "output.txt"
    with open(log, "wb") as output:  # its own process group, as a terminal would start it
        process = subprocess.Popen([sys.executable, str(script)], cwd=folder, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_healthy(port, process)
        yield port, log
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the script and its children alike
        try:
            process.wait(30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = log.read_text()
    assert "Traceback" not in output, output


def test_a_run_trains_to_done(script_port):
    port, _ = script_port
    status, run = post_json(port, "/api/runs", SMALL)
    assert status == 201
    status, stream = get(port, run["events_url"], timeout=60)  # the stream ends with the run
    assert status == 200
    assert b"event: done" in stream and b"event: error" not in stream
    status, body = get(port, run["status_url"])
    assert status == 200 and json.loads(body)["status"] == "done"


def test_a_gradient_check_runs(script_port):
    port, _ = script_port
    status, result = post_json(port, "/api/gradcheck", {"config": SMALL, "inject_bug": True})
    assert status == 200
    assert result["verdict"] == "wrong"


def test_a_small_search_completes(script_port):
    port, _ = script_port
    status, search = post_json(port, "/api/searches", {
        "base": SMALL, "space": {"optimizer.learning_rate": {"distribution": "log_uniform",
                                                             "low": 0.001, "high": 0.1}},
        "trials": 2, "workers": 1, "seed": 3})
    assert status == 201
    status, stream = get(port, search["events_url"], timeout=120)  # the stream ends with the search
    assert status == 200
    status, body = get(port, search["status_url"])
    snapshot = json.loads(body)
    assert status == 200 and snapshot["reason"] == "completed"
    assert [trial["status"] for trial in snapshot["trials"]] == ["completed", "completed"]
    assert {trial["epochs_run"] for trial in snapshot["trials"]} == {4}


def test_the_script_ran_once(script_port):
    """Last: a child that imported the script would have started a second server."""
    port, log = script_port
    assert get(port, "/healthz")[0] == 200
    output = log.read_text()
    assert output.count("Running on http://") == 1, output
    assert "Traceback" not in output, output
