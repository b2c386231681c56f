"""Flask adapters: the app factory and one blueprint per concern.

``create_app(test_config)`` reads these config keys (defaults in ``DEFAULTS``):

- ``LIMITS``: a dict of ``server.limits.RuntimeLimits`` fields overriding the
  limits (which already include ``TUNING_*`` environment overrides).  The
  resulting ``RuntimeLimits`` is in ``app.config["RUNTIME_LIMITS"]``.
- ``MAX_CONTENT_LENGTH``: request bodies above it get 413; defaults to
  ``RuntimeLimits.max_body_bytes``.
- ``FRAME_ANCESTORS_EMBED`` (``*``) and ``FRAME_ANCESTORS`` (``'self'``): the CSP
  ``frame-ancestors`` sources for paths under ``EMBED_PATH_PREFIXES``
  (``/embed`` and the ``/labs`` pages, which course pages embed too) and for
  every other page.
- ``TRUSTED_PROXY_COUNT`` (``TUNING_TRUSTED_PROXY_COUNT``, else 0): how many
  reverse proxies in front of the app set ``X-Forwarded-For``/``-Proto``; the
  client address used for the per-address limits comes from them.  Leave 0
  when clients connect directly: the header is otherwise forgeable.
- Per-client limits are keyed on the page's client token within its address
  (``server.web.clients``); ``LIMITS["max_runs_per_address"]`` (32) and
  ``SSE_STREAMS_PER_ADDRESS`` (128) bound all clients of one address together.
- ``SSE_HEARTBEAT_SECONDS`` (15), ``SSE_RETRY_MS`` (2000); open streams per run or
  search ``SSE_STREAMS_PER_RUN`` (4), per client ``SSE_STREAMS_PER_CLIENT`` (32),
  per address ``SSE_STREAMS_PER_ADDRESS`` (128) and in all ``SSE_STREAMS_TOTAL``
  (192, which also fits gunicorn's gthread worker and its 256 threads); each
  defaults to its ``TUNING_*`` variable (``TUNING_SSE_STREAMS_PER_ADDRESS``...),
  as do the two heartbeat settings below (``FROM_ENVIRONMENT``).
- ``GRADCHECK_MAX_PARAMETERS`` (None: the engine bounds a check's work by
  itself, a few seconds for the largest network) and ``GRADCHECK_CONCURRENCY``
  (2 checks at once; more get 429).
- ``MAX_LOG_BYTES_TOTAL`` (256 MiB) and ``MAX_LOG_BYTES_PER_CLIENT`` (64 MiB): the
  memory all runs' event logs, and one client's, may take (docs/api.md).
- ``MAX_LOG_BYTES_PER_RUN`` (16 MiB of event JSON per run), ``MAX_RETAINED_RUNS``
  (200 finished runs kept for late reconnects).
- ``RUN_PROCESSES``: how many host processes train the runs
  (``server.runs.processes``), so runs use every core despite the interpreter
  lock; 0 trains each run in its own thread of this process.  Default: the
  ``TUNING_RUN_PROCESSES`` environment variable, else one per available core,
  but 0 when ``TESTING`` (test suites create many short-lived apps; each would
  otherwise start its own processes).  ``HOST_HEARTBEAT_SECONDS`` and
  ``HOST_HEARTBEAT_TIMEOUT_SECONDS`` (default ``TUNING_HOST_HEARTBEAT_SECONDS``,
  1, and ``TUNING_HOST_HEARTBEAT_TIMEOUT_SECONDS``, 6): how often the hosts are
  pinged, and how long one may stay silent before its runs fail and it is replaced.
- ``TRAINER_FACTORY``: ``config -> trainer``, replacing the engine's trainers
  (tests use a fake); ``RUN_MANAGER``: a ready ``RunManager`` replacing the
  in-process one.
- ``REDIS_URL`` (default ``TUNING_REDIS_URL``) and ``REDIS_PREFIX``
  (``TUNING_REDIS_PREFIX``): runs, logs, controls, uploads and capacity (the
  per-address ceiling and the stream caps included) in Redis, trained by
  ``python -m server.worker`` processes (docs/deployment.md); searches send
  their trials there too.

The run manager is ``app.extensions["run_manager"]``; the host processes, when
used, ``app.extensions["trainer_pool"]`` (started on the first run, or by
``start()``: gunicorn.conf.py starts them as the worker boots).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from flask import Flask, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from server.limits import RuntimeLimits, runtime_limits_from_env
from server.settings import (
    BLAS_THREAD_VARIABLES,
    DEFAULT_MAX_CLIENT_LOG_BYTES,
    DEFAULT_MAX_LOG_BYTES,
    DEFAULT_MAX_RETAINED_RUNS,
    DEFAULT_MAX_TOTAL_LOG_BYTES,
    one_blas_thread,
    serving_settings,
)

logger = logging.getLogger(__name__)

DEFAULTS = {
    "LIMITS": {},
    "FRAME_ANCESTORS_EMBED": "*",
    "FRAME_ANCESTORS": "'self'",
    "EMBED_PATH_PREFIXES": ("/embed", "/labs"),
    "TRUSTED_PROXY_COUNT": None,
    "SSE_HEARTBEAT_SECONDS": 15.0,
    "SSE_RETRY_MS": 2000,
    "SSE_STREAMS_PER_RUN": None,
    "SSE_STREAMS_PER_CLIENT": None,
    "SSE_STREAMS_PER_ADDRESS": None,
    "SSE_STREAMS_TOTAL": None,
    "GRADCHECK_MAX_PARAMETERS": None,
    "GRADCHECK_CONCURRENCY": 2,
    "MAX_LOG_BYTES_PER_RUN": DEFAULT_MAX_LOG_BYTES,
    "MAX_RETAINED_RUNS": DEFAULT_MAX_RETAINED_RUNS,
    "MAX_LOG_BYTES_TOTAL": DEFAULT_MAX_TOTAL_LOG_BYTES,
    "MAX_LOG_BYTES_PER_CLIENT": DEFAULT_MAX_CLIENT_LOG_BYTES,
    "RUN_PROCESSES": None,
    "HOST_HEARTBEAT_SECONDS": None,
    "HOST_HEARTBEAT_TIMEOUT_SECONDS": None,
    "TRAINER_FACTORY": None,
    "RUN_MANAGER": None,
    "REDIS_URL": None,
    "REDIS_PREFIX": None,
}

#: App settings that default to a ``TUNING_*`` variable (``server.settings.ServingSettings``).
FROM_ENVIRONMENT = ("SSE_STREAMS_PER_RUN", "SSE_STREAMS_PER_CLIENT", "SSE_STREAMS_PER_ADDRESS",
                    "SSE_STREAMS_TOTAL", "HOST_HEARTBEAT_SECONDS", "HOST_HEARTBEAT_TIMEOUT_SECONDS")

__all__ = ["BLAS_THREAD_VARIABLES", "DEFAULTS", "create_app", "page_folder", "pin_blas_threads"]

# Plotly inserts <style> elements for its modebar and hover rules; under
# style-src 'self' alone Chromium leaves them empty and the charts lose those
# styles, hence 'unsafe-inline' for styles only.  Scripts stay same-origin.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
               "base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}")
NON_PAGE_POLICY = "default-src 'none'; frame-ancestors 'none'"


def create_app(test_config: dict | None = None) -> Flask:
    pin_blas_threads()
    app = Flask(__name__, template_folder=page_folder("templates"), static_folder=page_folder("static"))
    app.config.from_mapping(DEFAULTS)
    if test_config:
        app.config.update(test_config)
    serving = serving_settings()
    for name in FROM_ENVIRONMENT:
        if app.config[name] is None:
            app.config[name] = getattr(serving, name.lower())
    limits = replace(runtime_limits_from_env(), **app.config["LIMITS"])
    app.config["RUNTIME_LIMITS"] = limits
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    proxies = int(serving_settings().trusted_proxy_count if proxies is None else proxies)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    app.extensions["run_manager"] = app.config["RUN_MANAGER"] or _run_manager(app, limits)

    from server.web import api, clients, datasets, downloads, errors, i18n, lessons, pages, searches

    errors.init_app(app)
    clients.init_app(app)
    i18n.init_app(app)
    app.after_request(_security_headers)
    for module in (api, datasets, downloads, pages, lessons, searches):
        module.init_app(app)
    return app


def page_folder(name: str) -> str:
    """``templates`` or ``static``: inside the package when installed, else at the checkout's root.

    The repository keeps both at its root; a wheel carries them as
    ``server/templates`` and ``server/static`` (see pyproject.toml).  An
    editable install or a plain checkout imports ``server`` from the
    checkout, whose root has them.  When neither exists the package's path is
    returned, and ``/healthz`` reports what is missing.
    """
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return str(candidate)
    return str(package / name)


def _run_manager(app: Flask, limits: RuntimeLimits):
    """Runs in Redis and its workers when ``REDIS_URL`` (or ``TUNING_REDIS_URL``) is set, else here."""
    url = app.config["REDIS_URL"] or serving_settings().redis_url
    if not url:
        return _in_process_manager(app, limits)
    from server.runs.redis_manager import redis_run_manager

    return redis_run_manager(app, url, limits)


def _in_process_manager(app: Flask, limits: RuntimeLimits):
    from server.runs.manager import InProcessRunManager

    trainer_factory = app.config["TRAINER_FACTORY"]
    processes = app.config["RUN_PROCESSES"]
    if processes is None:
        processes = serving_settings().run_processes
    if processes is None and app.testing:
        processes = 0
    if trainer_factory is None and processes != 0:
        from server.runs.processes import TrainerProcessPool

        # One checker process per gradient check allowed at once: a check never waits behind another.
        pool = app.extensions["trainer_pool"] = TrainerProcessPool(
            processes, checkers=app.config["GRADCHECK_CONCURRENCY"],
            heartbeat_interval=app.config["HOST_HEARTBEAT_SECONDS"],
            heartbeat_timeout=app.config["HOST_HEARTBEAT_TIMEOUT_SECONDS"])
        atexit.register(pool.shutdown, 2.0)
        trainer_factory = pool.trainer
    manager = InProcessRunManager(trainer_factory or _engine_trainer, limits,
                                  max_log_bytes=app.config["MAX_LOG_BYTES_PER_RUN"],
                                  max_retained_runs=app.config["MAX_RETAINED_RUNS"],
                                  max_total_log_bytes=app.config["MAX_LOG_BYTES_TOTAL"],
                                  max_client_log_bytes=app.config["MAX_LOG_BYTES_PER_CLIENT"])
    # Registered after the pool's, so it runs first: runs end before their hosts do.
    atexit.register(manager.shutdown, 2.0)
    return manager


def _engine_trainer(config):
    from server.engine import Trainer

    return Trainer(config)


def pin_blas_threads() -> None:
    """One BLAS thread per run: runs get their parallelism from running side by side.

    Multi-threaded BLAS on the small matrices of these networks is many times
    slower than one thread, and threads of concurrent runs would fight over
    the cores.  The environment variables only take effect if NumPy is not
    loaded yet (gunicorn.conf.py sets them before the worker imports the app);
    otherwise ``threadpoolctl`` is used when installed.
    """
    one_blas_thread()
    if "numpy" not in sys.modules:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        logger.info("NumPy was loaded before the app: BLAS threads follow %s",
                    ", ".join(f"{v}={os.environ.get(v)}" for v in BLAS_THREAD_VARIABLES))
        return
    threadpool_limits(1, user_api="blas")


def _security_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        config = current_app.config
        embeddable = request.path.startswith(tuple(config["EMBED_PATH_PREFIXES"]))
        ancestors = config["FRAME_ANCESTORS_EMBED"] if embeddable else config["FRAME_ANCESTORS"]
        headers.setdefault("Content-Security-Policy", PAGE_POLICY.format(ancestors=ancestors))
        if not embeddable and ancestors == "'self'":
            headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    else:
        headers.setdefault("Content-Security-Policy", NON_PAGE_POLICY)
    return response
