"""Limits that only searches need.

``server.limits.RuntimeLimits`` bounds how many searches run at once and how
many trials each may ask for; the bounds below are about the trial processes
themselves, so they live with the search code.  Each may be overridden by a
``TUNING_SEARCH_<FIELD>`` environment variable or by the Flask config
(``create_app({"SEARCH_LIMITS": {...}})``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from server.settings import available_cores, settings_from_env


@dataclass(frozen=True)
class SearchLimits:
    #: Trials one search runs at once.  Trials are CPU-bound with one BLAS
    #: thread each, so more processes than cores only slows every trial.
    max_workers: int = field(default_factory=available_cores)
    #: Wall clock for a whole search; past it the search stops as if asked to.
    max_search_seconds: float = 3600.0
    #: Searches one client (remote address) may run at once, so that one
    #: visitor cannot hold every search slot of a shared server.
    max_searches_per_client: int = 1
    #: How long a stopped search waits for running trials to notice the stop
    #: flag (checked after every epoch) before terminating their processes.
    stop_grace_seconds: float = 5.0


def search_limits_from_env(environ: Mapping[str, str] | None = None, **overrides) -> SearchLimits:
    """``SearchLimits`` with ``TUNING_SEARCH_<FIELD>`` variables, then ``overrides``, applied."""
    return settings_from_env(SearchLimits, "TUNING_SEARCH_", environ, **overrides)
