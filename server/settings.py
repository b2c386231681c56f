"""Runtime settings: what the service reads from its environment, in one place.

Every variable is ``TUNING_<FIELD>`` for a field of one of the dataclasses
that hold them (``ServingSettings`` here, ``server.limits.RuntimeLimits``,
and ``TUNING_SEARCH_<FIELD>`` for ``server.search.limits.SearchLimits``), read
by ``settings_from_env``.  This module imports neither NumPy nor Flask:
gunicorn.conf.py reads it in the master, and the child processes before they
load NumPy.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

#: Every variable a BLAS or OpenMP runtime reads for its thread count.  On the
#: small matrices of these networks a second BLAS thread makes a step many
#: times slower, and runs get their parallelism from running side by side.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                         "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

#: What the run manager keeps of each run, unless ``create_app`` is told otherwise
#: (``MAX_LOG_BYTES_PER_RUN``, ``MAX_RETAINED_RUNS``): 16 MiB of event JSON per
#: run, and 200 finished runs for late reconnects.
DEFAULT_MAX_LOG_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_RETAINED_RUNS = 200
#: ... and all event logs together (``MAX_LOG_BYTES_TOTAL``) and one client's
#: (``MAX_LOG_BYTES_PER_CLIENT``), counted as JSON text plus 200 bytes an
#: event: the default experiment takes about 0.6 MB, so some 400 and 100 of them.
DEFAULT_MAX_TOTAL_LOG_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_CLIENT_LOG_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ServingSettings:
    """How the service is served (gunicorn.conf.py) and where runs train (``create_app``)."""

    #: Loopback by default: ``TUNING_BIND=0.0.0.0:8000`` serves other machines.
    bind: str = "127.0.0.1:8000"
    #: gunicorn's worker class.  ``gevent``: one greenlet per connection, so
    #: thousands of idle, slow and streaming connections cost memory, not
    #: threads (the training runs in host processes).  ``gthread`` also works,
    #: with ``threads`` as its ceiling on connections being served at once.
    #: None: gevent, unless ``run_processes`` is 0 (runs then train in the
    #: worker, which an evented worker cannot share with its connections).
    worker_class: str | None = None
    #: Connections the gevent worker serves at once (idle, half-sent and streaming alike).
    worker_connections: int = 10000
    #: Seconds a client has to send a request's head, and again its body, and
    #: that an idle kept-alive connection stays open: a slow or half-sent
    #: request is then dropped (the body's with a 408).
    read_timeout: int = 5
    #: Reverse proxies in front of the service that append to ``X-Forwarded-For``
    #: (docs/api.md, "Behind a proxy"); 0 when clients connect directly.
    trusted_proxy_count: int = 0
    #: gthread only: threads, each serving one connection (every open stream holds one).
    threads: int = 256
    #: Training host processes (``server.runs.processes``); 0 trains each run in a
    #: thread of the web process; None: one per available core (none under ``TESTING``).
    run_processes: int | None = None
    #: How often the web process pings each training host, and how long a host
    #: may stay silent (stopped, wedged) before its runs fail and it is replaced.
    host_heartbeat_seconds: float = 1.0
    host_heartbeat_timeout_seconds: float = 6.0
    #: Open event streams (runs and searches) per run or search, per client, per
    #: network address (all its clients) and in all (each web process's own).
    sse_streams_per_run: int = 4
    sse_streams_per_client: int = 32
    sse_streams_per_address: int = 128
    sse_streams_total: int = 192
    #: gunicorn's control socket (gunicornc): off unless given a path.  gunicorn
    #: 25+ otherwise puts it at one path per user, where a second instance on
    #: the machine takes it over and the first, stopping, removes it.
    control_socket: str | None = None
    #: ``redis://host:port/db``: runs, event logs, controls and capacity live in
    #: Redis and train in ``python -m server.worker`` processes (docs/deployment.md).
    #: Unset: runs live in this process (the embedded default).
    redis_url: str | None = None
    #: Prefix of every Redis key, so that several deployments can share one server.
    redis_prefix: str = "tuning:"


def settings_from_env(cls, prefix: str = "TUNING_", environ: Mapping[str, str] | None = None,
                      **overrides):
    """``cls()`` with ``<prefix><FIELD>`` environment variables, then ``overrides``, applied.

    Values are converted to each field's annotated type; a bad value or an
    unknown override raises ``ValueError`` naming it.
    """
    environ = os.environ if environ is None else environ
    names = {item.name for item in fields(cls)}
    unknown = set(overrides) - names
    if unknown:
        # SearchLimits -> "unknown search limits: ..."
        kind = re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()
        raise ValueError(f"unknown {kind}: {', '.join(sorted(unknown))}")
    types_by_name = typing.get_type_hints(cls)
    values = {}
    for name in names:
        raw = environ.get(f"{prefix}{name.upper()}")
        if raw is not None:
            values[name] = _convert(raw, types_by_name[name], f"{prefix}{name.upper()}")
    return replace(cls(), **{**values, **overrides})


def _convert(raw: str, annotation, variable: str):
    choices = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    kind = next(choice for choice in choices if choice is not type(None))
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not a valid {kind.__name__}") from None


def serving_settings(environ: Mapping[str, str] | None = None) -> ServingSettings:
    return settings_from_env(ServingSettings, environ=environ)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def one_blas_thread(environ: typing.MutableMapping[str, str] | None = None, force: bool = False) -> None:
    """Set every ``BLAS_THREAD_VARIABLES`` to 1; unless ``force``, keep what the operator chose.

    Runtimes read them once, when NumPy is first imported: set them before.
    """
    environ = os.environ if environ is None else environ
    for variable in BLAS_THREAD_VARIABLES:
        if force:
            environ[variable] = "1"
        else:
            environ.setdefault(variable, "1")
