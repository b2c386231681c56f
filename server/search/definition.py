"""The search definition: a base run config, a space, a strategy, a budget.

``parse_search`` validates a JSON-like definition the way ``parse_config``
validates a run config: it raises ``ConfigError`` whose ``details`` name each
bad field by a dotted path (``space.optimizer.learning_rate.low``).  Parameter
paths are checked against the run-config schema, each distribution against
the field's type and bounds, and every planned trial config with
``parse_config`` before anything runs.
"""

from __future__ import annotations

import copy
import math
import types
import typing
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.engine.config import ConfigError, RunConfig, parse_config, validation_details
from server.search import space as spaces

MAX_PARAMETERS = 12
Strategy = Literal["random", "grid"]
Objective = Literal["dev_accuracy", "dev_loss"]
#: Whether a larger value of each objective is better.
MAXIMIZE = {"dev_accuracy": True, "dev_loss": False}
#: What breaks a tie in each objective.  Accuracy on m dev examples moves in
#: steps of 1/m, so trials that all classify the easy points tie; the dev loss
#: still tells them apart (and equal losses are told apart by accuracy).
TIE_BREAK = {"dev_accuracy": "dev_loss", "dev_loss": "dev_accuracy"}


class _Envelope(BaseModel):
    """Everything but ``base`` and the per-parameter distributions, which are checked separately."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base: dict[str, Any] = Field(default_factory=dict, description="A run config; partial is fine.")
    space: dict[str, dict[str, Any]] = Field(
        min_length=1, max_length=MAX_PARAMETERS,
        description="Per parameter path (e.g. optimizer.learning_rate) a distribution.")
    strategy: Strategy = Field("random", description="Sample at random, or enumerate a grid.")
    trials: int = Field(12, ge=1, description="How many configs to train (the grid may use fewer).")
    objective: Objective = Field("dev_accuracy", description="What 'best' means; dev_loss is minimized.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seeds the sampler (trials keep the base seed).")
    workers: int | None = Field(None, ge=1, description="Trials run at once; null means one per core.")


@dataclass(frozen=True)
class SearchDefinition:
    """A validated search; ``space`` maps each parameter path to its distribution."""

    base: RunConfig
    space: dict[str, spaces.Distribution]
    strategy: Strategy = "random"
    trials: int = 12
    objective: Objective = "dev_accuracy"
    seed: int = 0
    workers: int | None = None
    plan: list[dict[str, Any]] = field(default_factory=list, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The normalized definition: a full base config and every distribution spelled out."""
        return {
            "base": self.base.model_dump(mode="json"),
            "space": {path: dist.to_json() for path, dist in self.space.items()},
            "strategy": self.strategy,
            "trials": self.trials,
            "objective": self.objective,
            "seed": self.seed,
            "workers": self.workers,
        }

    def trial_config(self, params: dict[str, Any]) -> dict[str, Any]:
        """The base config (as a dict) with ``params`` written at their paths."""
        return apply_params(self.base.model_dump(mode="json"), params)

    def rank_key(self, record: dict[str, Any]) -> tuple[float, float] | None:
        """A finished trial's place in the ranking (smaller is better), or None if it cannot compete.

        Only a completed trial with a finite objective competes.  The key is
        the objective, then its tie-break (``TIE_BREAK``), each signed so that
        smaller is better; a missing or non-finite tie-break ranks last among
        its ties.
        """
        value = _finite(record.get(self.objective))
        if record.get("status") != "completed" or value is None:
            return None
        tie_break = TIE_BREAK[self.objective]
        second = _finite(record.get(tie_break))
        return (-value if MAXIMIZE[self.objective] else value,
                math.inf if second is None else -second if MAXIMIZE[tie_break] else second)

    def better(self, key: tuple[float, float], than: tuple[float, float] | None) -> bool:
        """Whether a trial ranked ``key`` strictly beats one ranked ``than`` (None: nothing yet)."""
        return than is None or key < than


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def apply_params(config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``config`` with each dotted path in ``params`` set (list indices allowed)."""
    result = copy.deepcopy(config)
    for path, value in params.items():
        node: Any = result
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return result


def _field_kind(path: str, base: RunConfig) -> tuple[str, tuple[str, ...]]:
    """Walk the run-config schema along ``path``; return (kind, allowed distributions).

    Raises ``ValueError`` with a message for the user when the path is not a
    single hyperparameter of the schema.
    """
    model: type[BaseModel] = RunConfig
    instance: Any = base
    parts = path.split(".")
    index = 0
    while index < len(parts):
        part = parts[index]
        info = model.model_fields.get(part)
        if info is None:
            known = ", ".join(model.model_fields)
            where = ".".join(parts[:index]) or "the config"
            raise ValueError(f"'{part}' is not a field of {where} (known: {known})")
        annotation = _strip_optional(info.annotation)
        instance = getattr(instance, part)
        index += 1
        if typing.get_origin(annotation) is list:
            if index >= len(parts) or not parts[index].isdigit():
                raise ValueError(f"'{'.'.join(parts[:index])}' is a list: name a position, "
                                 f"e.g. {'.'.join(parts[:index])}.0.units")
            position = int(parts[index])
            if position >= len(instance):
                raise ValueError(f"position {position} is past the end of {'.'.join(parts[:index])} "
                                 f"(the base config has {len(instance)})")
            instance = instance[position]
            annotation = typing.get_args(annotation)[0]
            index += 1
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if index == len(parts):
                raise ValueError(f"'{path}' is a section, not a single hyperparameter")
            model = annotation
            continue
        if index != len(parts):
            raise ValueError(f"'{'.'.join(parts[:index])}' has no field '{parts[index]}'")
        if annotation is bool or typing.get_origin(annotation) is Literal:
            return "discrete", spaces.FOR_DISCRETE
        if annotation is int:
            return "int", spaces.FOR_INT
        return "float", spaces.FOR_FLOAT
    raise ValueError("the path is empty")


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _parse_distribution(path: str, raw: dict[str, Any], base: RunConfig
                        ) -> tuple[spaces.Distribution | None, list[dict[str, str]]]:
    loc = f"space.{path}"
    try:
        _kind, allowed = _field_kind(path, base)
    except ValueError as error:
        return None, [{"loc": loc, "msg": str(error)}]
    name = raw.get("distribution")
    if name not in spaces.DISTRIBUTIONS:
        return None, [{"loc": f"{loc}.distribution",
                       "msg": f"must be one of {', '.join(spaces.DISTRIBUTIONS)}; got {name!r}"}]
    if name not in allowed:
        return None, [{"loc": f"{loc}.distribution",
                       "msg": f"'{name}' does not suit this field; use one of {', '.join(allowed)}"}]
    try:
        dist = spaces.DISTRIBUTIONS[name].model_validate(raw)
    except ValidationError as error:
        return None, validation_details(error, loc)
    return dist, _bound_problems(path, dist, base)


def _bound_problems(path: str, dist: spaces.Distribution, base: RunConfig) -> list[dict[str, str]]:
    """Check the extremes of ``dist`` against the schema by building those configs."""
    base_json = base.model_dump(mode="json")
    if isinstance(dist, spaces.Choice):
        extremes = [(f"values.{i}", value) for i, value in enumerate(dist.values)]
    else:
        extremes = [("low", dist.low), ("high", dist.high)]
    problems = []
    for name, value in extremes:
        try:
            parse_config(apply_params(base_json, {path: value}))
        except ConfigError as error:
            msg = "; ".join(d["msg"] for d in error.details)
            problems.append({"loc": f"space.{path}.{name}", "msg": msg})
    return problems


def parse_search(raw: Any, *, max_trials: int, max_workers: int) -> SearchDefinition:
    """Validate a search definition and plan its trials.

    ``max_trials`` and ``max_workers`` come from the service's limits.
    Raises ``ConfigError`` naming each bad field.
    """
    if isinstance(raw, SearchDefinition):
        return raw
    if not isinstance(raw, dict):
        raise ConfigError([{"loc": "", "msg": "the search must be a JSON object"}])
    try:
        envelope = _Envelope.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(validation_details(error)) from None
    problems: list[dict[str, str]] = []
    if envelope.trials > max_trials:
        problems.append({"loc": "trials", "msg": f"at most {max_trials} trials per search"})
    if envelope.workers is not None and envelope.workers > max_workers:
        problems.append({"loc": "workers", "msg": f"at most {max_workers} workers on this server"})
    dataset = envelope.base.get("data", {}).get("dataset") if isinstance(envelope.base, dict) else None
    if isinstance(dataset, str) and dataset.startswith("upload:"):  # uploads stay in the web process
        raise ConfigError([*problems, {"loc": "base.data.dataset",
                                       "msg": "a search trains on the built-in data sets only"}])
    try:
        base = parse_config(envelope.base)
    except ConfigError as error:
        problems.extend({"loc": f"base.{d['loc']}".rstrip("."), "msg": d["msg"]} for d in error.details)
        raise ConfigError(problems) from None
    distributions: dict[str, spaces.Distribution] = {}
    for path, raw_dist in envelope.space.items():
        dist, dist_problems = _parse_distribution(path, raw_dist, base)
        problems.extend(dist_problems)
        if dist is not None and not dist_problems:
            distributions[path] = dist
    if problems:
        raise ConfigError(problems)
    definition = SearchDefinition(
        base=base, space=distributions, strategy=envelope.strategy, trials=envelope.trials,
        objective=envelope.objective, seed=envelope.seed, workers=envelope.workers)
    plan = plan_trials(definition)
    _check_plan(definition, plan)
    return replace(definition, plan=plan)


def plan_trials(definition: SearchDefinition) -> list[dict[str, Any]]:
    """The sampled parameters of every trial, in order: ``[{path: value}, ...]``."""
    if definition.strategy == "grid":
        return spaces.grid(definition.trials, definition.space)
    rng = np.random.default_rng(definition.seed)
    return spaces.sample(definition.trials, definition.space, rng)


def _check_plan(definition: SearchDefinition, plan: list[dict[str, Any]]) -> None:
    for index, params in enumerate(plan):
        try:
            parse_config(definition.trial_config(params))
        except ConfigError as error:
            raise ConfigError([{"loc": "space", "msg": f"trial {index} ({params}) is not a valid config: "
                                + "; ".join(f"{d['loc']}: {d['msg']}" for d in error.details)}]) from None
