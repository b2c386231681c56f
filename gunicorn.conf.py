"""gunicorn settings for serving the playground (``gunicorn -c gunicorn.conf.py 'server:create_app()'``).

One worker process: runs live in that process's memory (their threads, event
logs and controls), so a second worker would neither see the first one's runs
nor share its capacity count.  Scaling out needs a run manager whose runs and
logs live outside the worker (see docs/api.md).  The training itself happens
in host processes that the worker starts, one per core
(server/runs/processes.py), so the worker only moves bytes and JSON.

The worker is gevent's by default (``TUNING_WORKER_CLASS``): every connection
is a greenlet, so a thousand idle or half-sent connections and hundreds of
event streams cost memory, not threads, and none of them can keep
``/healthz`` or a new run waiting.  gevent patches ``threading``, ``socket``,
``queue``, ``time.sleep`` and ``subprocess`` as the worker starts, before it
imports the app: the run manager's threads, locks and queues become
greenlets and cooperative primitives, and the connections to the training
processes yield while they wait (server/child.py).  Work that needs a core
must therefore stay out of the worker: with ``TUNING_RUN_PROCESSES=0`` runs
train in the worker, and gthread is the default then (under gevent, every
epoch would stall every connection).

Time limits: a request's head must arrive within ``read_timeout`` seconds
(gevent's keepalive timeout covers the head of every request, the first
included), and its body within as long again (``pre_request`` below, a 408),
so a slow or half-sent request never holds its connection for long.
"""

import gc
import threading
from concurrent.futures import wait

from server.settings import one_blas_thread, serving_settings

# One BLAS thread per run.  gunicorn reads this file in the master before the
# worker imports NumPy, so OpenBLAS starts with these values.
one_blas_thread()

# TUNING_BIND, TUNING_WORKER_CLASS, TUNING_WORKER_CONNECTIONS, TUNING_READ_TIMEOUT,
# TUNING_THREADS, TUNING_CONTROL_SOCKET
serving = serving_settings()
bind = serving.bind
# gunicorn 25+ (earlier versions ignore both names).
control_socket_disable = serving.control_socket is None
if serving.control_socket is not None:
    control_socket = serving.control_socket
workers = 1
worker_class = serving.worker_class or ("gthread" if serving.run_processes == 0 else "gevent")
worker_connections = serving.worker_connections
threads = serving.threads
# Idle connections are ready for more from the kernel's queue than the default 2048.
backlog = 4096
# The app (and its runs) must be created in the worker, never shared by fork.
preload_app = False
# A worker restart would end every run: never recycle the worker by request count.
max_requests = 0
# Both worker classes report to the master from a loop of their own, whatever
# the requests do, so this only catches a hung worker; no request timeout
# cuts a stream short.
timeout = 120
graceful_timeout = 10
keepalive = serving.read_timeout


def post_worker_init(worker):
    """Start the training host processes, threads and Redis connections now, not on the first requests.

    A thread start waits for the new thread to run, and a new connection for a
    connect and a handshake; under a burst of new runs those waits queue up
    behind each other in the accepting loop and in the requests, so every
    thread and connection a burst needs is ready before the worker serves.
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
    if hasattr(runs, "open_connections"):  # the Redis backend's
        runs.open_connections()
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


def pre_request(worker, req):
    """The body gets ``read_timeout`` seconds from here (the head had as long already)."""
    from server.web.deadlines import limit_body_reading

    limit_body_reading(req.unreader, serving.read_timeout)


def post_request(worker, req, environ, resp):
    """An answered request's connection waits for the next one without the body's deadline."""
    from server.web.deadlines import end_body_reading

    end_body_reading(req.unreader)
