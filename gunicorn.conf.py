"""gunicorn settings for serving the playground (``gunicorn -c gunicorn.conf.py 'server:create_app()'``).

One worker process: runs live in that process's memory (their threads, event
logs and controls), so a second worker would neither see the first one's runs
nor share its capacity count.  Scaling out needs a run manager whose runs and
logs live outside the worker (see docs/api.md).  Threads carry the long-lived
SSE streams: every open stream holds one.  The training itself happens in host
processes that the worker starts, one per core (server/runs/processes.py).
"""

import os

# One BLAS thread per run.  gunicorn reads this file in the master before the
# worker imports NumPy, so OpenBLAS starts with these values.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

bind = os.environ.get("TUNING_BIND", "0.0.0.0:8000")
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("TUNING_THREADS", "256"))
# The app (and its runs) must be created in the worker, never shared by fork.
preload_app = False
# A worker restart would end every run: never recycle the worker by request count.
max_requests = 0
# The gthread worker reports to the master from its own loop, whatever its
# threads do, so this only catches a hung worker; no request timeout cuts a
# stream short.
timeout = 120
graceful_timeout = 10
keepalive = 5


def post_worker_init(worker):
    """Start the training host processes now rather than on the first run."""
    pool = getattr(worker.wsgi, "extensions", {}).get("trainer_pool")
    if pool is not None and not pool.start():
        worker.log.warning("training host processes did not start; runs will fail until they do")
