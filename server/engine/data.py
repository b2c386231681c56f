"""Data sets, train/dev/test splits, normalization and augmentation.

Every data set is built the same way, so each knob changes only what it names:

1. clean points, class by class (balanced: ``n // 2`` of class 0, the rest class 1);
2. a random permutation, then consecutive train, train-dev, dev and test
   slices of the sizes given by ``config.split_sizes`` (the train-dev slice is
   empty unless ``split.train_dev`` asks for one, so a config without it gets
   exactly the data it always got);
3. label noise: exactly ``round(label_noise * m)`` labels of each split are
   flipped (digits: replaced by a different random class), so ``label_noise``
   is the Bayes error floor of every split;
4. Gaussian noise on the positions: standard deviation ``noise`` on train and
   train-dev and ``dev_noise`` (when set, else ``noise``) on dev and test;
5. for the 2-D sets, the input features (``data.features``: x1, x2, x1^2,
   x2^2, x1 x2, sin x1, sin x2) computed from the noisy raw (x1, x2);
6. normalization with the statistics of the training split only (train-dev,
   dev and test all use them).

The 2-D sets also keep their points on the *plane*: the raw (x1, x2)
normalized the same way.  The boundary chart, its grid and the neuron maps
live on the plane, and ``Dataset.inputs_from_plane`` carries plane
coordinates to network inputs.  With the default features ``["x1", "x2"]``
the plane IS the network's input space: the same arrays, no transform, so
such a run sees exactly the data it always did.

The train-dev set is the course's answer to mismatched data: drawn from the
training distribution but never trained on, so train-dev minus train error
is variance and dev minus train-dev error is data mismatch.

All randomness comes from the one generator passed in, and the number of
draws depends only on the data set and ``n_samples``: changing ``noise``,
``dev_noise`` or ``label_noise`` leaves every other random choice of the run
(the other splits, the weight initialization, the mini-batch order) as it was.

The two-class 2-D generators, before noise:

- ``circles``: scikit-learn's ``make_circles(factor=0.8)``: an outer circle of
  radius 1 (class 0) and an inner one of radius 0.8 (class 1), evenly spaced angles.
- ``moons``: scikit-learn's ``make_moons``: the upper half circle of radius 1
  around (0, 0) (class 0) and the lower one around (1, 0.5) (class 1).
- ``xor``: points uniform in the square [-1, 1]^2, class 1 where x * y > 0 (first
  and third quadrants), labelled before the noise is added, as in TensorFlow
  Playground.
- ``spiral``: two interleaved arms r = s, theta = 3.5 pi s + pi * class, for s evenly
  spaced in (0, 1].
- ``gaussian``: two round Gaussian blobs of standard deviation 0.5 around (-1, -1)
  (class 0) and (1, 1) (class 1).

An uploaded table (``upload:<id>``, see ``server.engine.uploads``) is real
data like digits: ``n_samples`` rows are drawn from it (at most as many as it
has), ``noise`` does not apply, ``dev_noise`` adds Gaussian noise of
``dev_noise`` training standard deviations to each feature of dev and test,
and augmentation works in training standard deviations too (jitter of
``augment.jitter`` of them; rotation only when there are two features).  A
two-feature, two-class upload is 2-D: it gets the boundary chart.  Its Bayes
error is unknown: ``label_noise`` (or ``data.bayes_error``) stands for it.

``digits`` is the 8x8 UCI handwritten digits set (1,797 images, pixel values
0..16, 10 classes) shipped in ``datasets/digits.csv.gz``.  ``noise`` does not
apply to it (the images are real data); ``dev_noise`` adds Gaussian pixel noise
of standard deviation ``dev_noise * 16`` to dev and test, clipped to 0..16.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

import numpy as np

from server.engine.config import (
    DEFAULT_FEATURES,
    Augment,
    ConfigError,
    Normalize,
    RunConfig,
    parse_config,
    split_sizes,
)
from server.engine.uploads import UploadedData, UploadUnavailable, find_upload, is_upload

__all__ = ["Dataset", "prepare_data", "make_data", "load_digits", "bayes_error_floor", "data_shape",
           "feature_columns", "check_dataset", "uploaded_table", "DIGITS_IMAGE_SHAPE"]

DIGITS_IMAGE_SHAPE = (8, 8)
DIGITS_MAX_PIXEL = 16.0
DIGITS_CLASSES = 10

_SPIRAL_TURNS = 1.75
_BLOB_CENTER = 1.0
_BLOB_SPREAD = 0.5
# A feature whose training standard deviation is below this is treated as constant.
_CONSTANT_FEATURE_STD = 1e-8
# The Bayes error estimate integrates over a fixed sample, the same for every run, so it
# is reproducible and takes nothing from the run's generator.
_BAYES_SAMPLE_SEED = 20240
_BAYES_CENTERS_PER_CLASS = 400
_BAYES_DRAWS_PER_CENTER = 4


# Compared by identity: a field-wise == on arrays has no single truth value.
@dataclass(eq=False)
class Dataset:
    """The splits as the network sees them, and how they were made.

    ``X_*`` are float64 of shape (m, n_features) after normalization, ``y_*``
    int64 class labels of shape (m,).  ``mean`` and ``std`` (n_features,) are
    the training statistics applied: ``X = (X_raw - mean) / std``.
    ``X_train_dev``/``y_train_dev`` have no rows when the config asks for no
    train-dev set (``has_train_dev`` is then false).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_dev: np.ndarray
    y_dev: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_features: int
    n_classes: int
    is_2d: bool
    image_shape: tuple[int, int] | None
    mean: np.ndarray
    std: np.ndarray
    name: str = ""
    augmentation: Augment = field(default_factory=Augment)
    raw_center: np.ndarray | None = None
    raw_scale: np.ndarray | None = None
    noise: float = 0.0
    dev_noise: float | None = None
    label_noise: float = 0.0
    X_train_dev: np.ndarray | None = None
    y_train_dev: np.ndarray | None = None
    features: tuple[str, ...] = DEFAULT_FEATURES
    # 2-D sets: each split's points on the plane, {"train": (m, 2), ...}, and the
    # plane's normalization (raw (x1, x2) = plane * plane_std + plane_mean).
    plane: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    plane_mean: np.ndarray | None = None
    plane_std: np.ndarray | None = None
    # The sets a training loop evaluates every epoch, side by side: train, train-dev, dev rows
    # (``monitored_spans``), so that one forward pass evaluates all three.
    X_monitored: np.ndarray | None = field(default=None, repr=False)
    y_monitored: np.ndarray | None = field(default=None, repr=False)
    _grids: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.X_train_dev is None:
            self.X_train_dev = np.empty((0, self.n_features))
            self.y_train_dev = np.empty(0, dtype=np.int64)
        if self.is_2d and not self.plane:
            self.plane = {"train": self.X_train, "dev": self.X_dev, "test": self.X_test,
                          "train_dev": self.X_train_dev}
        if self.plane_mean is None:
            self.plane_mean, self.plane_std = self.mean, self.std
        if self.X_monitored is None:  # ``prepare_data`` passes views of the rows it already holds
            self.X_monitored = np.concatenate([self.X_train, self.X_train_dev, self.X_dev])
            self.y_monitored = np.concatenate([self.y_train, self.y_train_dev, self.y_dev])

    @property
    def monitored_spans(self) -> dict[str, tuple[int, int]]:
        """Where ``train``, ``train_dev`` and ``dev`` are among the rows of ``X_monitored``."""
        n_train, n_train_dev = len(self.y_train), len(self.y_train_dev)
        return {"train": (0, n_train), "train_dev": (n_train, n_train + n_train_dev),
                "dev": (n_train + n_train_dev, n_train + n_train_dev + len(self.y_dev))}

    @property
    def engineered(self) -> bool:
        """Whether the network's inputs differ from the plane (features other than x1, x2)."""
        return self.is_2d and tuple(self.features) != DEFAULT_FEATURES

    def inputs_from_plane(self, P: np.ndarray) -> np.ndarray:
        """2-D data: plane coordinates (m, 2) -> network inputs (m, n_features)."""
        if not self.engineered:
            return P
        raw = np.asarray(P, dtype=np.float64) * self.plane_std + self.plane_mean
        return self.normalize(feature_columns(raw, self.features))

    @property
    def augment_source(self) -> np.ndarray:
        """What ``augment`` takes for the training split: plane points for 2-D data, else X_train."""
        return self.plane["train"] if self.is_2d else self.X_train

    @property
    def has_train_dev(self) -> bool:
        return self.y_train_dev.shape[0] > 0

    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{"train": (X, y), "dev": ..., "test": ...}`` plus ``"train_dev"`` when there is one."""
        splits = {"train": (self.X_train, self.y_train), "dev": (self.X_dev, self.y_dev),
                  "test": (self.X_test, self.y_test)}
        if self.has_train_dev:
            splits["train_dev"] = (self.X_train_dev, self.y_train_dev)
        return splits

    def normalize(self, X_raw: np.ndarray) -> np.ndarray:
        """Raw inputs (m, n_features) -> network inputs, with the training statistics."""
        return (np.asarray(X_raw, dtype=np.float64) - self.mean) / self.std

    def denormalize(self, X: np.ndarray) -> np.ndarray:
        """Network inputs (m, n_features) -> raw inputs (the inverse of ``normalize``)."""
        return np.asarray(X, dtype=np.float64) * self.std + self.mean

    def pixels(self, X: np.ndarray) -> np.ndarray:
        """Digits: network inputs (m, 64) -> int64 pixel values 0..16 of shape (m, 64)."""
        raw = np.rint(self.denormalize(X))
        return np.clip(raw, 0, DIGITS_MAX_PIXEL).astype(np.int64)

    def augment(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """An augmented copy of a training batch, as network inputs (m, n_features).

        2-D: X is a batch of plane points (m, 2) (``augment_source``); each is
        rotated about the training centroid by its own uniform angle in
        +-rotation_degrees, then Gaussian jitter of standard deviation
        ``jitter`` (raw units) is added, and the features are computed from
        the result.  Digits: X is a batch of network inputs; each image is
        shifted by up to ``shift_pixels`` in x and in y, zero filled.  With
        augmentation disabled, the inputs of X and no random draws.
        """
        if not self.augmentation.enabled:
            return np.array(self.inputs_from_plane(X) if self.is_2d else X, dtype=np.float64, copy=True)
        if self.from_upload:
            return self.normalize(self._augment_table(self.denormalize(X), rng))
        if self.is_2d:
            raw = self._rotate_and_jitter(X * self.plane_std + self.plane_mean, rng)
            return self.normalize(feature_columns(raw, self.features))
        return self.normalize(self._shift_images(self.denormalize(X), rng))

    def _rotate_and_jitter(self, raw: np.ndarray, rng: np.random.Generator,
                           center: np.ndarray | None = None) -> np.ndarray:
        if center is None:
            center = self.raw_center if self.raw_center is not None else np.zeros(2)
        limit = math.radians(self.augmentation.rotation_degrees)
        angles = rng.uniform(-limit, limit, size=raw.shape[0])
        cos, sin = np.cos(angles), np.sin(angles)
        dx, dy = raw[:, 0] - center[0], raw[:, 1] - center[1]
        rotated = np.column_stack((center[0] + cos * dx - sin * dy, center[1] + sin * dx + cos * dy))
        rotated += rng.normal(0.0, self.augmentation.jitter, size=rotated.shape)
        return rotated

    @property
    def from_upload(self) -> bool:
        return is_upload(self.name)

    def _augment_table(self, raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Uploads: rotation (two features only) and jitter in training standard deviations."""
        center, scale = self.raw_center, self.raw_scale
        standardized = (raw - center) / scale
        if self.n_features == 2:
            # Rotating about the centroid in raw units would mix features of different scales.
            standardized = self._rotate_and_jitter(standardized, rng, np.zeros(2))
        else:
            standardized = standardized + rng.normal(0.0, self.augmentation.jitter, size=raw.shape)
        return standardized * scale + center

    def _shift_images(self, raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        height, width = self.image_shape or DIGITS_IMAGE_SHAPE
        reach = self.augmentation.shift_pixels
        m = raw.shape[0]
        shifts = rng.integers(-reach, reach + 1, size=(m, 2))
        sources = _shift_sources(height, width, reach)
        side = 2 * reach + 1
        # One flat gather: column height*width of the widened batch is the zero fill.
        pixels = height * width
        widened = np.concatenate((raw, np.zeros((m, 1))), axis=1)
        chosen = sources[(shifts[:, 0] + reach) * side + shifts[:, 1] + reach]
        chosen += np.arange(0, m * (pixels + 1), pixels + 1)[:, None]
        return np.take(widened, chosen)

    def bayes_error(self, split: str = "train") -> float:
        """The lowest error any classifier can reach on ``split``, noise included.

        ``label_noise`` alone for digits; for the 2-D sets, also the overlap that
        the position noise of that split creates (see ``bayes_error_floor``).
        """
        if split not in ("train", "dev", "test", "train_dev"):
            raise ValueError(f"split must be train, dev, test or train_dev, got {split!r}")
        drawn_like_train = split in ("train", "train_dev") or self.dev_noise is None
        noise = self.noise if drawn_like_train else self.dev_noise
        if not self.is_2d or self.from_upload:
            return float(self.label_noise)
        return bayes_error_floor(self.name, noise, self.label_noise)

    def summary(self) -> dict[str, int]:
        """The sizes the ``config`` event reports."""
        return {
            "n_train": int(self.y_train.shape[0]),
            "n_dev": int(self.y_dev.shape[0]),
            "n_test": int(self.y_test.shape[0]),
            "n_train_dev": int(self.y_train_dev.shape[0]),
            "n_features": int(self.n_features),
            "n_classes": int(self.n_classes),
        }

    def points(self) -> dict | None:
        """2-D data: train, dev and test points on the plane, for the boundary chart.

        ``{"train": {"x": [...], "y": [...], "label": [...]}, "dev": {...}, "test": {...}}``,
        coordinates rounded to 4 decimals; None for digits.
        """
        if not self.is_2d:
            return None
        return {
            "train": _point_lists(self.plane["train"], self.y_train),
            "dev": _point_lists(self.plane["dev"], self.y_dev),
            "test": _point_lists(self.plane["test"], self.y_test),
        }

    def grid(self, resolution: int = 40, margin: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """2-D data: a regular grid over the train and dev points plus ``margin``.

        Returns ``xs`` (r,), ``ys`` (r,) and ``G`` (r*r, 2) in plane
        coordinates (``inputs_from_plane`` makes network inputs of them),
        row-major, so ``p.reshape(r, r)[i, j]`` is the value at ``(xs[j],
        ys[i])``.  The arrays are cached and shared: do not modify them.
        """
        if not self.is_2d:
            raise ValueError(f"{self.name or 'this data set'} is not 2-D: it has no grid")
        if resolution < 2:
            raise ValueError(f"resolution must be at least 2, got {resolution}")
        key = (int(resolution), float(margin))
        if key not in self._grids:
            shown = np.vstack((self.plane["train"], self.plane["dev"]))
            low, high = shown.min(axis=0) - margin, shown.max(axis=0) + margin
            xs = np.linspace(low[0], high[0], resolution)
            ys = np.linspace(low[1], high[1], resolution)
            grid_x, grid_y = np.meshgrid(xs, ys)
            G = np.column_stack((grid_x.ravel(), grid_y.ravel()))
            for array in (xs, ys, G):
                array.flags.writeable = False
            self._grids[key] = (xs, ys, G)
        return self._grids[key]


@cache
def _shift_sources(height: int, width: int, reach: int) -> np.ndarray:
    """For every shift (dy, dx) in -reach..reach, the source pixel of each output pixel.

    Returns int64 of shape ((2 reach + 1)**2, height * width), row ``(dy + reach) *
    (2 reach + 1) + dx + reach``; output pixel (r, c) comes from input pixel
    (r - dy, c - dx), and from index ``height * width`` (a zero) when that is off
    the image.
    """
    rows, cols = np.divmod(np.arange(height * width), width)
    sources = []
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            source_rows, source_cols = rows - dy, cols - dx
            inside = (source_rows >= 0) & (source_rows < height) & (source_cols >= 0) & (source_cols < width)
            sources.append(np.where(inside, source_rows * width + source_cols, height * width))
    table = np.array(sources, dtype=np.int64)
    table.flags.writeable = False
    return table


_FEATURE_FUNCTIONS = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1_squared": lambda x1, x2: x1 * x1,
    "x2_squared": lambda x1, x2: x2 * x2,
    "x1_x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: np.sin(x1),
    "sin_x2": lambda x1, x2: np.sin(x2),
}


def feature_columns(raw: np.ndarray, names) -> np.ndarray:
    """Raw 2-D points (m, 2) -> the named features (m, len(names)), in that order."""
    x1, x2 = raw[:, 0], raw[:, 1]
    return np.column_stack([_FEATURE_FUNCTIONS[name](x1, x2) for name in names])


def _point_lists(X: np.ndarray, y: np.ndarray) -> dict[str, list]:
    rounded = np.round(X, 4)
    return {"x": rounded[:, 0].tolist(), "y": rounded[:, 1].tolist(), "label": y.astype(int).tolist()}


# --- clean 2-D generators: (n, rng) -> X (n, 2), y (n,) ----------------------------------------

def _class_sizes(n: int) -> tuple[int, int]:
    return n // 2, n - n // 2


def _labels(n0: int, n1: int) -> np.ndarray:
    return np.concatenate((np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)))


def _circles(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n_outer, n_inner = _class_sizes(n)
    outer = np.linspace(0.0, 2.0 * np.pi, n_outer, endpoint=False)
    inner = np.linspace(0.0, 2.0 * np.pi, n_inner, endpoint=False)
    X = np.vstack((np.column_stack((np.cos(outer), np.sin(outer))),
                   0.8 * np.column_stack((np.cos(inner), np.sin(inner)))))
    return X, _labels(n_outer, n_inner)


def _moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n_outer, n_inner = _class_sizes(n)
    outer = np.linspace(0.0, np.pi, n_outer)
    inner = np.linspace(0.0, np.pi, n_inner)
    X = np.vstack((np.column_stack((np.cos(outer), np.sin(outer))),
                   np.column_stack((1.0 - np.cos(inner), 0.5 - np.sin(inner)))))
    return X, _labels(n_outer, n_inner)


def _xor(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X, y


def _spiral(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    arms = []
    for arm, size in enumerate(_class_sizes(n)):
        s = (np.arange(size) + 1.0) / size
        theta = 2.0 * np.pi * _SPIRAL_TURNS * s + np.pi * arm
        arms.append(np.column_stack((s * np.cos(theta), s * np.sin(theta))))
    n0, n1 = _class_sizes(n)
    return np.vstack(arms), _labels(n0, n1)


def _gaussian(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _class_sizes(n)
    y = _labels(n0, n1)
    centers = np.where(y[:, None] == 1, _BLOB_CENTER, -_BLOB_CENTER)
    return centers + rng.normal(0.0, _BLOB_SPREAD, size=(n, 2)), y


_GENERATORS_2D = {
    "circles": _circles,
    "moons": _moons,
    "xor": _xor,
    "spiral": _spiral,
    "gaussian": _gaussian,
}


@cache
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 8x8 digits: pixels (1797, 64) float64 in 0..16 and labels (1797,) int64.

    Read once per process; the arrays are read-only.
    """
    source = resources.files("server.engine.datasets").joinpath("digits.csv.gz")
    with source.open("rb") as compressed, gzip.open(compressed, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float64)
    pixels, labels = table[:, :-1].copy(), table[:, -1].astype(np.int64)
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def data_shape(dataset: str, features=DEFAULT_FEATURES) -> tuple[int, int]:
    """(n_features, n_classes) of a data set by name (and, for 2-D sets, its input features),
    without making the data."""
    if dataset in _GENERATORS_2D:
        return len(features), 2
    if dataset == "digits":
        return DIGITS_IMAGE_SHAPE[0] * DIGITS_IMAGE_SHAPE[1], DIGITS_CLASSES
    if is_upload(dataset):
        upload = uploaded_table(dataset)
        return upload.n_features, upload.n_classes
    raise ValueError(f"unknown data set {dataset!r}")


# --- the pipeline -----------------------------------------------------------------------------

def prepare_data(config: RunConfig, rng: np.random.Generator) -> Dataset:
    """Generate or load, shuffle, split, add label and position noise, normalize.

    Consumes only ``rng`` (see the module docstring for the order of draws).
    With ``data.seed`` set, the data come from a generator of their own seeded
    with it, and ``rng`` advances exactly as if it had drawn them: the run's
    weights, batches and masks stay those of its seed, only the data change.
    """
    if config.data.seed is None:
        return _prepare_data(config, rng)
    _prepare_data(config, rng)  # the draws the run's generator would have made
    return _prepare_data(config, np.random.default_rng(config.data.seed))


def _prepare_data(config: RunConfig, rng: np.random.Generator) -> Dataset:
    data = config.data
    n_train, n_dev, n_test, n_train_dev = split_sizes(data.n_samples, data.split)
    # Rows [0, n_like_train) are drawn like the training data: train, then train-dev.
    n_like_train = n_train + n_train_dev
    generated = data.dataset in _GENERATORS_2D
    X, y, n_classes = _draw_rows(data, rng)
    is_2d = generated or (is_upload(data.dataset) and X.shape[1] == 2)

    bounds = np.cumsum((0, n_train, n_train_dev, n_dev, n_test))
    flip_priority = rng.random(data.n_samples)
    replacement_offsets = None if n_classes == 2 else rng.integers(1, n_classes, size=data.n_samples)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        _flip_labels(y, start, stop, data.label_noise, flip_priority, replacement_offsets, n_classes)

    dev_noise = data.noise if data.dev_noise is None else data.dev_noise
    raw_scale = _feature_scale(X[:n_train])
    if generated:
        standard = rng.standard_normal(X.shape)
        X[:n_like_train] += data.noise * standard[:n_like_train]
        X[n_like_train:] += dev_noise * standard[n_like_train:]
    else:
        standard = rng.standard_normal((n_dev + n_test, X.shape[1]))
        if data.dev_noise and data.dataset == "digits":
            X[n_like_train:] += data.dev_noise * DIGITS_MAX_PIXEL * standard
            np.clip(X[n_like_train:], 0.0, DIGITS_MAX_PIXEL, out=X[n_like_train:])
        elif data.dev_noise:
            X[n_like_train:] += data.dev_noise * raw_scale * standard

    X_train = X[:n_train]
    mean, std = _training_statistics(X_train, data.normalize)
    normalized = (X - mean) / std
    dev_start, test_start = n_like_train, n_like_train + n_dev
    engineered = {}
    if generated and tuple(data.features) != DEFAULT_FEATURES:
        split_rows = {"train": (0, n_train), "train_dev": (n_train, n_like_train),
                      "dev": (dev_start, test_start), "test": (test_start, data.n_samples)}
        engineered = _engineer_features(X, normalized, mean, std, split_rows, data)
        normalized, mean, std = engineered.pop("inputs")
    return Dataset(
        X_train=normalized[:n_train], y_train=y[:n_train],
        X_train_dev=normalized[n_train:n_like_train], y_train_dev=y[n_train:n_like_train],
        X_dev=normalized[dev_start:test_start], y_dev=y[dev_start:test_start],
        X_test=normalized[test_start:], y_test=y[test_start:],
        X_monitored=normalized[:test_start], y_monitored=y[:test_start],
        n_features=int(normalized.shape[1]), n_classes=n_classes, is_2d=is_2d,
        image_shape=DIGITS_IMAGE_SHAPE if data.dataset == "digits" else None,
        mean=mean, std=std, name=data.dataset, augmentation=data.augment,
        raw_center=X_train.mean(axis=0), raw_scale=raw_scale, noise=data.noise, dev_noise=data.dev_noise,
        label_noise=data.label_noise, features=tuple(data.features) if generated else DEFAULT_FEATURES,
        **engineered,
    )


def _engineer_features(X: np.ndarray, plane: np.ndarray, plane_mean: np.ndarray, plane_std: np.ndarray,
                       split_rows: dict[str, tuple[int, int]], data) -> dict:
    """The features of raw 2-D points X (n, 2), normalized with the training rows' statistics.

    Returns the ``Dataset`` fields of the plane (``plane`` split by ``split_rows``,
    which the normalized raw points ``plane`` keep), and under ``inputs`` the
    network inputs (n, n_features) with their mean and std.
    """
    columns = feature_columns(X, data.features)
    train_start, train_stop = split_rows["train"]
    mean, std = _training_statistics(columns[train_start:train_stop], data.normalize)
    return {"plane": {name: plane[start:stop] for name, (start, stop) in split_rows.items()},
            "plane_mean": plane_mean, "plane_std": plane_std, "inputs": ((columns - mean) / std, mean, std)}


def _draw_rows(data, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """The clean rows, shuffled: X (n_samples, n_features) float64, y (n_samples,), and n_classes."""
    if data.dataset in _GENERATORS_2D:
        X_clean, y = _GENERATORS_2D[data.dataset](data.n_samples, rng)
        order = rng.permutation(data.n_samples)
        return X_clean[order], y[order].copy(), 2
    if data.dataset == "digits":
        (X_all, y_all), n_classes = load_digits(), DIGITS_CLASSES
    else:
        upload = uploaded_table(data.dataset)
        (X_all, y_all), n_classes = (upload.X, upload.y), upload.n_classes
    if data.n_samples > X_all.shape[0]:
        name = "digits" if data.dataset == "digits" else "the uploaded data set"
        raise ConfigError([{"loc": "data.n_samples",
                            "msg": f"{name} has {X_all.shape[0]} samples; n_samples is {data.n_samples}"}])
    order = rng.permutation(X_all.shape[0])[:data.n_samples]
    return X_all[order].astype(np.float64), y_all[order].astype(np.int64), n_classes


def check_dataset(config: RunConfig) -> None:
    """``ConfigError`` naming ``data.dataset`` or ``data.n_samples`` when an upload the config names
    is gone or too small (a cheap check before a run starts; built-in sets pass)."""
    if is_upload(config.data.dataset):
        upload = uploaded_table(config.data.dataset)
        if config.data.n_samples > upload.n_samples:
            raise ConfigError([{"loc": "data.n_samples", "msg": (
                f"the uploaded data set has {upload.n_samples} samples; "
                f"n_samples is {config.data.n_samples}")}])


def uploaded_table(dataset: str) -> UploadedData:
    """The upload a config names; ``ConfigError`` naming ``data.dataset`` when it is unknown or expired."""
    try:
        return find_upload(dataset)
    except UploadUnavailable as error:
        raise ConfigError([{"loc": "data.dataset", "msg": str(error)}]) from None


def _feature_scale(X_train: np.ndarray) -> np.ndarray:
    """Training standard deviation per feature (n_features,), 1 for a constant feature."""
    scale = X_train.std(axis=0)
    scale[scale < _CONSTANT_FEATURE_STD] = 1.0
    return scale


def _training_statistics(X_train: np.ndarray, normalize: Normalize) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the training split (n_features,) as ``normalize`` asks: zeros and ones when off."""
    n_features = X_train.shape[1]
    mean = X_train.mean(axis=0) if normalize.center else np.zeros(n_features)
    if not normalize.scale:
        return mean, np.ones(n_features)
    return mean, _feature_scale(X_train)


def _flip_labels(y: np.ndarray, start: int, stop: int, fraction: float, priority: np.ndarray,
                 offsets: np.ndarray | None, n_classes: int) -> None:
    """Flip exactly round(fraction * m) labels of y[start:stop] in place, lowest priority first."""
    count = int(math.floor(fraction * (stop - start) + 0.5))
    if count == 0:
        return
    chosen = start + np.argsort(priority[start:stop], kind="stable")[:count]
    if offsets is None:
        y[chosen] = 1 - y[chosen]
    else:
        y[chosen] = (y[chosen] + offsets[chosen]) % n_classes


def bayes_error_floor(dataset: str, noise: float, label_noise: float = 0.0) -> float:
    """The Bayes error of a 2-D generator with position ``noise`` and ``label_noise``.

    Noise makes the classes overlap, so even the best possible classifier errs:
    with the defaults (circles, noise 0.1) about 16% of the time, since the two
    circles are only 0.2 apart.  Without label noise the floor is
    E[min(P(0 | x), P(1 | x))]:

    - ``gaussian``: Phi(-sqrt(2) / s) with s**2 = 0.5**2 + noise**2 (two round blobs);
    - ``xor``: 2 q (1 - q), q = Phi(-1/noise) + noise (phi(0) - phi(1/noise)), the
      chance that noise carries a uniform point across exactly one axis;
    - ``circles``, ``moons``, ``spiral``: estimated from the exact posteriors of
      400 evenly spaced clean points per class, on a fixed sample of 3,200
      noisy points (within about half a percentage point).

    Flipping a fraction ``label_noise`` of the labels then gives
    e + label_noise * (1 - 2 e).  Raises ``ValueError`` for digits, whose
    clean Bayes error is unknown (take ``label_noise``).
    """
    if dataset not in _GENERATORS_2D:
        raise ValueError(f"the Bayes error is known for the 2-D data sets only, not {dataset!r}")
    clean_error = _clean_bayes_error(dataset, float(noise))
    return float(clean_error + label_noise * (1.0 - 2.0 * clean_error))


# Bounded: any float is a valid noise, and every new one would otherwise stay for good.
@lru_cache(maxsize=256)
def _clean_bayes_error(dataset: str, noise: float) -> float:
    """The Bayes error of a 2-D generator with position noise and no label noise."""
    if dataset == "gaussian":
        spread = math.hypot(_BLOB_SPREAD, noise)
        clean_error = _normal_cdf(-math.sqrt(2.0) * _BLOB_CENTER / spread)
    elif noise <= 0.0:
        clean_error = 0.0
    elif dataset == "xor":
        crossing = _normal_cdf(-1.0 / noise) + noise * (_normal_pdf(0.0) - _normal_pdf(1.0 / noise))
        clean_error = 2.0 * crossing * (1.0 - crossing)
    else:
        clean_error = _mixture_bayes_error(dataset, noise)
    return clean_error


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _mixture_bayes_error(dataset: str, noise: float) -> float:
    """E[min posterior] for equal mixtures of N(c_k, noise^2 I) around each class's clean points."""
    per_class = _BAYES_CENTERS_PER_CLASS
    centers, labels = _GENERATORS_2D[dataset](2 * per_class, np.random.default_rng(_BAYES_SAMPLE_SEED))
    sample_rng = np.random.default_rng(_BAYES_SAMPLE_SEED)
    samples = np.repeat(centers, _BAYES_DRAWS_PER_CENTER, axis=0)
    samples += noise * sample_rng.standard_normal(samples.shape)
    scale = 1.0 / (2.0 * noise * noise)
    sample_norms = (samples * samples).sum(axis=1)
    log_densities = []
    for label in (0, 1):
        points = centers[labels == label]
        # -|x - c|^2 / (2 noise^2), expanded so that one matrix product does the work
        exponents = 2.0 * (samples @ points.T)
        exponents -= sample_norms[:, None]
        exponents -= (points * points).sum(axis=1)[None, :]
        exponents *= scale
        peak = exponents.max(axis=1)
        exponents -= peak[:, None]
        np.exp(exponents, out=exponents)
        log_densities.append(peak + np.log(exponents.mean(axis=1)))
    gap = np.abs(log_densities[1] - log_densities[0])
    total = float((np.exp(-gap) / (1.0 + np.exp(-gap))).sum())
    return total / samples.shape[0]


def make_data(config: dict | RunConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (X, y), "dev": (X, y), "test": (X, y)}`` exactly as training sees them,
    plus ``"train_dev"`` when the config has a train-dev set.

    The trainer draws the data first from ``np.random.default_rng(config.seed)``,
    so these are the very arrays of a run with the same config.
    """
    run_config = parse_config(config)
    return prepare_data(run_config, np.random.default_rng(run_config.seed)).splits()
