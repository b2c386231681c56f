"""Server-side limits, in one place.

The config schema (``server.engine.config``) takes its bounds from here, so the
JSON Schema served at ``/api/schema`` and the 400 errors agree with what the run
manager enforces.  Runtime limits (concurrency, wall clock, retention) are read
by the run manager; a deployment can override them through the Flask config
(``create_app({"LIMITS": {...}})``) or ``TUNING_*`` environment variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from server.settings import settings_from_env


@dataclass(frozen=True)
class ConfigLimits:
    """Bounds on a single run's configuration (part of the schema)."""

    max_hidden_layers: int = 16
    max_units: int = 512
    min_samples: int = 20
    max_samples: int = 5000
    max_epochs: int = 10000
    max_batch_size: int = 5000
    max_patience: int = 10000
    max_epochs_per_second: float = 1000.0
    #: One epoch's work (``server.engine.cost.epoch_work``): what one run may
    #: ask of a training host per epoch (about 0.6 s of one core here) ...
    max_multiply_adds_per_epoch: int = 2_000_000_000
    #: ... and the largest piece of it a host cannot interrupt to let other
    #: runs have their turn (``uncut_work``: a step, or an evaluation; ~60 ms).
    max_uncut_multiply_adds: int = 200_000_000


@dataclass(frozen=True)
class RuntimeLimits:
    """Bounds on what the service as a whole takes on."""

    max_concurrent_runs: int = 48
    max_runs_per_client: int = 8
    #: All clients (browser tokens) of one network address together: a class behind one NAT.
    max_runs_per_address: int = 32
    max_run_seconds: float = 1800.0
    max_events_per_run: int = 20000
    idle_timeout_seconds: float = 600.0
    finished_retention_seconds: float = 600.0
    max_body_bytes: int = 64 * 1024
    max_concurrent_searches: int = 2
    max_search_trials: int = 200


CONFIG_LIMITS = ConfigLimits()


def runtime_limits_from_env(environ: Mapping[str, str] | None = None, **overrides) -> RuntimeLimits:
    """Runtime limits with ``TUNING_<FIELD>`` environment variables, then ``overrides``, applied."""
    return settings_from_env(RuntimeLimits, "TUNING_", environ, **overrides)
