"""Reference values stored once from PyTorch and scikit-learn, and how to read and write them.

``scripts/make_references.py`` writes one JSON file per kind of case into
``tests/engine/references/``: each holds its cases (inputs as plain float64
lists), the reference library's answer for each (``expected``), the library
versions, and the tolerance ``test_reference.py`` compares with.  JSON keeps
every float64 exactly (Python writes the shortest repr that reads back the
same number).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np

REFERENCE_DIRECTORY = Path(__file__).resolve().parent / "references"
KINDS = ("layers", "networks", "network_steps", "trajectories", "datasets", "digits")
TORCH_INSTALLED = importlib.util.find_spec("torch") is not None


def load(kind: str) -> dict:
    """The stored file for ``kind``: ``{"about", "versions", "tolerance", "cases": [...]}``."""
    return json.loads((REFERENCE_DIRECTORY / f"{kind}.json").read_text())


def plain(value):
    """``value`` with NumPy arrays and scalars as lists and Python numbers, ready for JSON."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def digits_digest(X: np.ndarray, y: np.ndarray) -> dict:
    """The shape, and SHA-256 of the pixels (little-endian float64) and labels (little-endian int64)."""
    return {"shape": list(X.shape),
            "pixels_sha256": hashlib.sha256(np.ascontiguousarray(X, dtype="<f8").tobytes()).hexdigest(),
            "labels_sha256": hashlib.sha256(np.ascontiguousarray(y, dtype="<i8").tobytes()).hexdigest()}


def scikit_learn_points(dataset: str, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's noise-free, unshuffled ``make_circles`` (factor 0.8) or ``make_moons``."""
    from sklearn import datasets

    if dataset == "circles":
        return datasets.make_circles(n_samples=n_samples, noise=0.0, factor=0.8, shuffle=False)
    return datasets.make_moons(n_samples=n_samples, noise=0.0, shuffle=False)
