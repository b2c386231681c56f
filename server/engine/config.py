"""The run configuration: one schema for the engine, the HTTP API and the page.

Every field has a default, so ``{}`` is a valid config; unknown keys are
rejected.  ``parse_config`` turns a JSON-like dict into a validated
``RunConfig`` or raises ``ConfigError`` whose ``details`` name each bad field
by its dotted path (``model.hidden.2.keep_prob``).  ``parse_update`` does the
same for the partial configs accepted while a run is live.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, NamedTuple, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from server.engine.uploads import UPLOAD_PATTERN, is_upload, upload_id
from server.limits import CONFIG_LIMITS as LIMITS

DATASETS_2D = ("circles", "moons", "xor", "spiral", "gaussian")
DATASETS = DATASETS_2D + ("digits",)
DIGITS_SAMPLES = 1797
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "linear")
INITS = ("zeros", "random", "xavier", "he")
OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")
SCHEDULES = ("constant", "inverse_time", "exponential", "inverse_sqrt", "step")
# Inputs computed from a 2-D data set's (x1, x2), as TensorFlow Playground offers them.
FEATURES = ("x1", "x2", "x1_squared", "x2_squared", "x1_x2", "sin_x1", "sin_x2")
DEFAULT_FEATURES = ("x1", "x2")

Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
Init = Literal["zeros", "random", "xavier", "he"]
OptimizerName = Literal["gd", "momentum", "rmsprop", "adam"]
ScheduleName = Literal["constant", "inverse_time", "exponential", "inverse_sqrt", "step"]
Feature = Literal["x1", "x2", "x1_squared", "x2_squared", "x1_x2", "sin_x1", "sin_x2"]


def _numeric_string(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _json_number(value: Any) -> Any:
    """Refuse what lax validation would turn into a number: booleans and numeric strings.

    A string that is no number at all is left to pydantic, whose message says so.
    """
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Input should be a number, not true or false")
    if isinstance(value, str) and _numeric_string(value):
        raise PydanticCustomError("number_type", "Input should be a number, not a string")
    return value


def _json_integer(value: Any) -> Any:
    """As ``_json_number``; an integral float such as 2.0 stays an integer, as in JSON Schema."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be an integer, not true or false")
    if isinstance(value, str) and _numeric_string(value):
        raise PydanticCustomError("int_type", "Input should be an integer, not a string")
    return value


def _dataset_name(value: str) -> str:
    """A built-in data set's name, or ``upload:<id>`` for an uploaded one (whether it exists is
    checked where the data is made: ``server.engine.data.upload_problems``)."""
    if value in DATASETS:
        return value
    if is_upload(value):
        try:
            upload_id(value)
        except ValueError:
            raise PydanticCustomError("dataset", "an uploaded data set is named upload:<id>, "
                                                 "with the id POST /api/datasets returned") from None
        return value
    raise PydanticCustomError("dataset", "Input should be {expected} or upload:<id>",
                              {"expected": ", ".join(repr(name) for name in DATASETS)})


# A built-in name or an upload's: the schema keeps the built-ins as an enum the page lists.
Dataset = Annotated[str, Strict(), AfterValidator(_dataset_name), WithJsonSchema({
    "type": "string", "anyOf": [{"enum": list(DATASETS)}, {"pattern": UPLOAD_PATTERN}]})]


# The schema's "number", "integer" and "boolean", taken at their word.
Number = Annotated[float, BeforeValidator(_json_number)]
Integer = Annotated[int, BeforeValidator(_json_integer)]
# Not ``Number | None``: bounds on that union would reach the JSON Schema untranslated.
OptionalNumber = Annotated[float | None, BeforeValidator(_json_number)]
OptionalInteger = Annotated[int | None, BeforeValidator(_json_integer)]
Flag = Annotated[bool, Strict()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Split(_Strict):
    """Fractions of ``data.n_samples`` per split; the schema's description states the rules."""

    # JSON Schema cannot add up fields, so the rule is stated in words.
    model_config = ConfigDict(json_schema_extra={"description": (
        "Fractions of data.n_samples per split. They must sum to 1 (within 1e-6): train + dev + test, "
        "plus train_dev when it is above 0. A field left out takes its default, so a split that names "
        "only some fractions must still add up. dev, test and train_dev are rounded down to whole "
        "examples (train takes the rest), and each split in use must get at least one example.")})

    train: Number = Field(0.6, gt=0, lt=1, description="Fraction of samples for training.")
    dev: Number = Field(0.2, gt=0, lt=1, description="Fraction for the dev (validation) set.")
    test: Number = Field(0.2, gt=0, lt=1, description="Fraction for the test set.")
    train_dev: Number = Field(
        0.0, ge=0, lt=1,
        description=("Fraction for the train-dev set: drawn like the training data (same noise), "
                     "never trained on; 0 means no train-dev set."))

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        names = "train + dev + test" + (" + train_dev" if self.train_dev else "")
        total = self.train + self.dev + self.test + self.train_dev
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"{names} must sum to 1, got {total:g}")
        return self


class Normalize(_Strict):
    center: Flag = Field(True, description="Subtract the training mean.")
    scale: Flag = Field(True, description="Divide by the training standard deviation.")


class Augment(_Strict):
    enabled: Flag = Field(False, description="Augment training batches (never dev or test).")
    rotation_degrees: Number = Field(
        15.0, ge=0, le=180, description="2-D data: largest random rotation, in degrees.")
    jitter: Number = Field(
        0.05, ge=0, le=1, description="2-D data: standard deviation of added Gaussian jitter.")
    shift_pixels: Integer = Field(1, ge=0, le=2, description="Digits: largest random shift, in pixels.")


class Data(_Strict):
    # Digits has the samples it has: the one cross-field rule JSON Schema can say.
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"dataset": {"const": "digits"}}, "required": ["dataset"]},
        "then": {"properties": {"n_samples": {"maximum": DIGITS_SAMPLES}}},
    })

    dataset: Dataset = Field("circles", description="Which data set to generate or load.")
    n_samples: Integer = Field(
        600, ge=LIMITS.min_samples, le=LIMITS.max_samples,
        description=(f"Samples before the split (digits: at most {DIGITS_SAMPLES}); enough that every "
                     "split in use gets at least one example."))
    noise: Number = Field(0.1, ge=0, le=2, description="Gaussian noise on the 2-D generators.")
    label_noise: Number = Field(
        0.0, ge=0, le=0.5, description="Fraction of labels flipped: the Bayes error floor.")
    split: Split = Field(default_factory=Split)
    dev_noise: OptionalNumber = Field(
        None, ge=0, le=2,
        description="Noise for dev and test when it differs from train (mismatched data).")
    normalize: Normalize = Field(default_factory=Normalize)
    augment: Augment = Field(default_factory=Augment)
    bayes_error: OptionalNumber = Field(
        None, ge=0, le=1, description=("Estimate of the Bayes error; null means the data set's own floor: "
                     "label_noise plus the overlap its position noise creates."))
    seed: OptionalInteger = Field(
        None, ge=0, le=2**32 - 1,
        description=("Seeds the data alone (regenerated data, the same network); null: the run's seed "
                     "draws the data too."))
    features: list[Feature] = Field(
        list(DEFAULT_FEATURES), min_length=1, max_length=len(FEATURES),
        json_schema_extra={"uniqueItems": True},
        description=("2-D data sets: the network's inputs, computed from the raw (x1, x2) before "
                     "normalization, in this order; distinct. Digits takes its 64 pixels and only "
                     "the default."))

    @field_validator("features")
    @classmethod
    def _distinct_features(cls, features: list[str]) -> list[str]:
        repeated = sorted({name for name in features if features.count(name) > 1})
        if repeated:
            raise ValueError(f"each feature may appear once; repeated: {', '.join(repeated)}")
        return features


class Layer(_Strict):
    units: Integer = Field(8, ge=1, le=LIMITS.max_units, description="Units in this hidden layer.")
    activation: Activation = Field("relu", description="Activation after (batch-normalized) Z.")
    keep_prob: Number = Field(
        1.0, gt=0, le=1, description="Inverted dropout: probability of keeping a unit.")
    batch_norm: Flag = Field(False, description="Batch-normalize Z before the activation.")


class Model(_Strict):
    hidden: list[Layer] = Field(
        default_factory=lambda: [Layer()], max_length=LIMITS.max_hidden_layers,
        description="Hidden layers; empty means logistic (softmax) regression.")
    init: Init = Field("he", description="Weight initialization.")
    init_scale: Number = Field(
        0.01, gt=0, le=100, description="Multiplier of the standard normal for init 'random'.")


class Regularization(_Strict):
    l2: Number = Field(0.0, ge=0, le=100, description="lambda of (lambda/2m) * sum(W^2).")
    l1: Number = Field(0.0, ge=0, le=100, description="lambda of (lambda/2m) * sum(|W|).")


class Optimizer(_Strict):
    name: OptimizerName = Field("adam", description="Update rule.")
    learning_rate: Number = Field(0.01, gt=0, le=10, description="alpha.")
    beta: Number = Field(0.9, ge=0, lt=1, description="Momentum and RMSprop averaging.")
    beta1: Number = Field(0.9, ge=0, lt=1, description="Adam: first-moment averaging.")
    beta2: Number = Field(0.999, ge=0, lt=1, description="Adam: second-moment averaging.")
    epsilon: Number = Field(1e-8, gt=0, le=1, description="RMSprop and Adam: added to the root.")


class Schedule(_Strict):
    name: ScheduleName = Field("constant", description="Learning-rate decay per epoch.")
    decay_rate: Number = Field(1.0, ge=0, le=1000, description="inverse_time: decay rate.")
    time_interval: Integer = Field(
        1, ge=1, le=LIMITS.max_epochs, description="inverse_time: epochs per step.")
    base: Number = Field(0.95, gt=0, le=1, description="exponential: base.")
    k: Number = Field(1.0, gt=0, le=1000, description="inverse_sqrt: k.")
    factor: Number = Field(0.5, gt=0, le=1, description="step: factor.")
    every: Integer = Field(100, ge=1, le=LIMITS.max_epochs, description="step: epochs per step.")


class EarlyStopping(_Strict):
    patience: Integer = Field(
        0, ge=0, le=LIMITS.max_patience,
        description="Epochs without a better dev loss before stopping; 0 means off.")
    restore_best: Flag = Field(True, description="Restore the weights of the best dev loss.")


class Training(_Strict):
    epochs: Integer = Field(200, ge=1, le=LIMITS.max_epochs)
    batch_size: Integer = Field(
        64, ge=1, le=LIMITS.max_batch_size,
        description="Mini-batch size; at or above the training-set size means full batch.")
    early_stopping: EarlyStopping = Field(default_factory=EarlyStopping)
    report_every: Integer = Field(1, ge=1, le=LIMITS.max_epochs, description="Epochs between metrics events.")
    boundary_every: Integer = Field(
        5, ge=0, le=LIMITS.max_epochs, description="Epochs between boundary events; 0 means never.")
    epochs_per_second: OptionalNumber = Field(
        None, gt=0, le=LIMITS.max_epochs_per_second,
        description="Pacing; null means as fast as the machine allows.")


class RunConfig(_Strict):
    """A whole experiment; ``RunConfig()`` is the default one."""

    seed: Integer = Field(0, ge=0, le=2**32 - 1, description="Seeds the run's only random generator.")
    data: Data = Field(default_factory=Data)
    model: Model = Field(default_factory=Model)
    regularization: Regularization = Field(default_factory=Regularization)
    optimizer: Optimizer = Field(default_factory=Optimizer)
    schedule: Schedule = Field(default_factory=Schedule)
    training: Training = Field(default_factory=Training)


class SplitSizes(NamedTuple):
    """Examples in each split; ``train_dev`` is 0 when there is no train-dev set."""

    train: int
    dev: int
    test: int
    train_dev: int



def split_sizes(n_samples: int, split: Split) -> SplitSizes:
    """The size of each split: dev, test and train-dev rounded down, train takes the rest."""
    n_dev = int(math.floor(n_samples * split.dev))
    n_test = int(math.floor(n_samples * split.test))
    n_train_dev = int(math.floor(n_samples * split.train_dev))
    return SplitSizes(n_samples - n_dev - n_test - n_train_dev, n_dev, n_test, n_train_dev)


class ConfigError(ValueError):
    """A config (or live update) that does not validate.

    ``details`` is a list of ``{"loc": "optimizer.beta1", "msg": "..."}``.
    """

    def __init__(self, details: list[dict[str, str]]):
        self.details = details
        super().__init__("; ".join(f"{d['loc'] or '(root)'}: {d['msg']}" for d in details))


def validation_details(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """A pydantic error as ``ConfigError`` details: dotted ``loc`` (after ``prefix``) and ``msg``."""
    details = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        parts = [str(part) for part in item["loc"]]
        loc = ".".join(([prefix] if prefix else []) + parts)
        msg = item["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        details.append({"loc": loc, "msg": msg})
    return details


def parse_config(raw: Any) -> RunConfig:
    """Validate a JSON-like config; a ``RunConfig`` passes through unchanged."""
    if isinstance(raw, RunConfig):
        return raw
    if not isinstance(raw, dict):
        raise ConfigError([{"loc": "", "msg": "the config must be a JSON object"}])
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(validation_details(error)) from None
    problems = _cross_field_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def _cross_field_problems(config: RunConfig) -> list[dict[str, str]]:
    data = config.data
    if data.dataset == "digits" and tuple(data.features) != DEFAULT_FEATURES:
        return [{"loc": "data.features",
                 "msg": ("digits feeds the network its 64 pixels; features apply to the 2-D data sets only "
                         f"(leave data.features at {list(DEFAULT_FEATURES)})")}]
    if is_upload(data.dataset) and tuple(data.features) != DEFAULT_FEATURES:
        return [{"loc": "data.features",
                 "msg": ("an uploaded data set feeds the network its own columns; features apply to the "
                         f"generated 2-D data sets only (leave data.features at {list(DEFAULT_FEATURES)})")}]
    if data.dataset == "digits" and data.n_samples > DIGITS_SAMPLES:
        return [{"loc": "data.n_samples",
                 "msg": f"digits has {DIGITS_SAMPLES} samples; n_samples is {data.n_samples}"}]
    sizes = split_sizes(data.n_samples, data.split)._asdict()
    if not data.split.train_dev:
        del sizes["train_dev"]
    for name, size in sizes.items():
        if size < 1:
            return [{"loc": f"data.split.{name}",
                     "msg": f"the {name} set would be empty with {data.n_samples} samples"}]
    return _work_problems(config)


def _work_problems(config: RunConfig, loc: str | None = None) -> list[dict[str, str]]:
    from server.engine.cost import work_problems  # it reads this module's RunConfig

    return work_problems(config, loc)


def config_schema() -> dict:
    """The JSON Schema of ``RunConfig`` (served at ``GET /api/schema``), a fresh copy each call.

    Every live field (``LIVE_FIELDS``) carries ``"x-live": true`` and its
    display symbol as ``"x-symbol"``.
    """
    return json.loads(_schema_text())


@cache
def _schema_text() -> str:
    # Building the schema takes milliseconds; the answer never changes within a process.
    schema = RunConfig.model_json_schema()
    for live in LIVE_FIELDS:
        node = schema
        for part in live.path.split("."):
            node = _schema_object(schema, node)["properties"][part]
        node["x-live"] = True
        node["x-symbol"] = live.symbol
    return json.dumps(schema)


def _schema_object(schema: dict, node: dict) -> dict:
    """The object schema behind ``node``: through ``$ref``s, array items and nullable ``anyOf``s."""
    while "properties" not in node:
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        elif "items" in node:
            node = node["items"]
        else:
            node = next(option for option in node["anyOf"] if option.get("type") != "null")
    return node


# --- live updates -----------------------------------------------------------

@dataclass(frozen=True)
class LiveField:
    """A field that may change while a run trains, and the short symbol the page shows for it.

    ``path`` is dotted from the config's root; ``model.hidden.keep_prob`` is
    the field of every hidden layer, matched to the run's layers by position.
    """

    path: str
    symbol: str

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[1]

    @property
    def per_layer(self) -> bool:
        return self.path.startswith("model.hidden.")


# The one list of live fields: LiveUpdate, the trainer's apply, the JSON Schema's
# "x-live"/"x-symbol" marks and through them the page all read it.
LIVE_FIELDS: tuple[LiveField, ...] = (
    LiveField("optimizer.learning_rate", "α"),
    LiveField("optimizer.beta", "β"),
    LiveField("optimizer.beta1", "β₁"),
    LiveField("optimizer.beta2", "β₂"),
    LiveField("optimizer.epsilon", "ε"),
    LiveField("regularization.l2", "L2"),
    LiveField("regularization.l1", "L1"),
    LiveField("model.hidden.keep_prob", "keep_prob"),
    LiveField("training.batch_size", "batch"),
    LiveField("training.epochs_per_second", "epochs/s"),
)


def _config_field(path: str) -> FieldInfo:
    """The pydantic field of ``RunConfig`` at a dotted path (lists are looked through)."""
    model: type[BaseModel] = RunConfig
    *sections, name = path.split(".")
    for section in sections:
        annotation = model.model_fields[section].annotation
        model = get_args(annotation)[0] if get_origin(annotation) is list else annotation
    return model.model_fields[name]


def _optional_update_field(path: str) -> tuple[Any, Any]:
    """A live field as an optional update field: the config's type and bounds, default None."""
    field = copy.copy(_config_field(path))
    field.default = None
    return field.annotation | None, field


def _derive_live_update() -> type[BaseModel]:
    sections: dict[str, dict[str, tuple[Any, Any]]] = {}
    for live in LIVE_FIELDS:
        sections.setdefault(live.section, {})[live.name] = _optional_update_field(live.path)
    layer_update = create_model("LayerUpdate", __base__=_Strict, **sections.pop("model"))
    model_update = create_model("ModelUpdate", __base__=_Strict, hidden=(
        list[layer_update | None] | None, Field(None, max_length=LIMITS.max_hidden_layers)))
    section_models = {name: create_model(f"{name.title()}Update", __base__=_Strict, **fields)
                      for name, fields in sections.items()}
    section_models["model"] = model_update
    live_update = create_model("LiveUpdate", __base__=_Strict, **{
        name: (section_model | None, None) for name, section_model in section_models.items()})
    live_update.__doc__ = """The hyperparameters that may change while a run trains (``LIVE_FIELDS``).

    ``model.hidden`` is matched to the run's layers by position; ``null``
    entries (or a shorter list) leave those layers alone.
    """
    return live_update


LiveUpdate = _derive_live_update()


def live_changes(changes: dict) -> Iterator[tuple[LiveField, int | None, Any]]:
    """``(field, layer index or None, value)`` for each live field a ``parse_update`` result sets."""
    for live in LIVE_FIELDS:
        if live.per_layer:
            for index, layer in enumerate(changes.get("model", {}).get("hidden", [])):
                if layer and live.name in layer:
                    yield live, index, layer[live.name]
        elif live.name in changes.get(live.section, {}):
            yield live, None, changes[live.section][live.name]


def merge_update(base: dict, changes: dict) -> dict:
    """The config dict ``base`` with the nested ``changes`` of a live update applied.

    ``hidden`` lists are merged by position: entry i changes layer i, a null
    entry (or a shorter list) leaves the layer as it is.
    """
    merged = dict(base)
    for key, value in changes.items():
        if key == "hidden":
            layers = [dict(layer) for layer in base["hidden"]]
            for index, layer_change in enumerate(value):
                if layer_change:
                    layers[index].update(layer_change)
            merged["hidden"] = layers
        elif isinstance(value, dict):
            merged[key] = merge_update(base.get(key) or {}, value)
        else:
            merged[key] = value
    return merged


def parse_update(raw: Any, config: RunConfig | None = None) -> dict:
    """Validate a live update and return it as a nested dict of the set fields only.

    With ``config`` given, also checks that ``model.hidden`` is no longer than
    the run's network.  Raises ``ConfigError`` (locations prefixed ``config.``).
    """
    if not isinstance(raw, dict):
        raise ConfigError([{"loc": "config", "msg": "the update must be a JSON object"}])
    try:
        update = LiveUpdate.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(validation_details(error, "config")) from None
    changes = {section: values for section, values in
               update.model_dump(exclude_none=True, exclude={"model"}).items() if values}
    hidden = update.model.hidden if update.model is not None else None
    if hidden is not None:
        if config is not None and len(hidden) > len(config.model.hidden):
            raise ConfigError([{"loc": "config.model.hidden",
                                "msg": f"the network has {len(config.model.hidden)} hidden layers"}])
        layers = [None if layer is None else layer.model_dump(exclude_none=True) or None
                  for layer in hidden]
        if any(layers):
            changes["model"] = {"hidden": layers}
    if not changes:
        raise ConfigError([{"loc": "config", "msg": "the update changes nothing"}])
    if config is not None and "batch_size" in changes.get("training", {}):
        # A smaller batch means more steps: the run must stay within the bound on its work.
        problems = _work_problems(RunConfig.model_validate(merge_update(config.model_dump(), changes)),
                                  "config.training.batch_size")
        if problems:
            raise ConfigError(problems)
    return changes
