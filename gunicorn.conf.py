"""gunicorn settings for serving the playground (``gunicorn -c gunicorn.conf.py 'server:create_app()'``).

One worker process: runs live in that process's memory (their threads, event
logs and controls), so a second worker would neither see the first one's runs
nor share its capacity count.  Scaling out needs a run manager whose runs and
logs live outside the worker (see docs/api.md).  Threads carry the long-lived
SSE streams: every open stream holds one.  The training itself happens in host
processes that the worker starts, one per core (server/runs/processes.py).
"""

import gc
import threading
from concurrent.futures import wait

from server.settings import one_blas_thread, serving_settings

# One BLAS thread per run.  gunicorn reads this file in the master before the
# worker imports NumPy, so OpenBLAS starts with these values.
one_blas_thread()

serving = serving_settings()  # TUNING_BIND, TUNING_THREADS, TUNING_CONTROL_SOCKET
bind = serving.bind
# gunicorn 25+ (earlier versions ignore both names).
control_socket_disable = serving.control_socket is None
if serving.control_socket is not None:
    control_socket = serving.control_socket
workers = 1
worker_class = "gthread"
threads = serving.threads
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
    """Start the training host processes and the threads now rather than on the first requests.

    A thread start waits for the new thread to run; under a burst of new runs
    those waits queue up behind each other in the accepting loop and in the
    requests, so every thread a burst needs is started before the worker serves.
    """
    from server.web.errors import answer_server_errors_as_json

    answer_server_errors_as_json()  # gunicorn's own 400/414/431 answers in the API's JSON shape
    extensions = getattr(worker.wsgi, "extensions", {})
    pool = extensions.get("trainer_pool")
    if pool is not None and not pool.start():
        worker.log.warning("training host processes did not start; runs will fail until they do")
    runs = extensions.get("run_manager")
    if hasattr(runs, "prestart_threads"):
        runs.prestart_threads()
    request_threads = getattr(worker, "tpool", None)  # the gthread worker's executor
    if request_threads is not None:
        # A POST and a stream per run: while every task waits on the gate,
        # each submit starts one more thread.
        count = min(threads, 2 * worker.wsgi.config["RUNTIME_LIMITS"].max_concurrent_runs)
        gate = threading.Event()
        futures = [request_threads.submit(gate.wait) for _ in range(count)]
        gate.set()
        wait(futures)
    # Everything loaded so far (Flask, NumPy, pydantic, the app) lives as long
    # as the worker: leave it out of the cyclic collector's full passes, which
    # otherwise walk it all and pause every thread for tens of milliseconds.
    gc.freeze()
