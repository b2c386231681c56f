"""``TUNING_REDIS_URL`` chooses the backend; without it nothing loads the Redis client."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.web.serving import ROOT

PROBE = """
import sys
from server import create_app
app = create_app({"TESTING": True})
app.test_client().get("/healthz")
print(type(app.extensions["run_manager"]).__name__, "redis" in sys.modules)
app.extensions["run_manager"].shutdown()
"""


def probe(**environment) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TUNING_REDIS")}
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**env, **environment},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_unset_is_the_embedded_backend_and_never_imports_redis():
    assert probe() == ["InProcessRunManager", "False"]


def test_the_environment_variable_switches_to_redis(backend):
    chosen = probe(TUNING_REDIS_URL=backend.url, TUNING_REDIS_PREFIX=backend.prefix)
    assert chosen == ["RedisRunManager", "True"]
