"""Neuron maps: what each hidden neuron computes over the input plane, small enough to stream.

For the 2-D data sets, every ``boundary`` event carries ``neurons``: the
activation of each hidden neuron (evaluation mode: no dropout, batch norm with
running averages) on a coarse ``NEURON_GRID`` x ``NEURON_GRID`` grid over the
same plane as the boundary's grid, one forward pass for the whole network.
Each map is quantized to one byte a cell:

    value = lo + q / 255 * (hi - lo),   q in 0..255

with ``lo`` and ``hi`` the map's own extremes (rounded to ``EXTENT_DECIMALS``;
a constant map has lo == hi and every q 0).  A layer's maps travel as one
base64 string of ``shown * size * size`` bytes, neuron after neuron, each map
row-major with rows going up the plane like the boundary's ``z``.  Only the
first ``MAX_MAPPED_UNITS`` neurons of a layer are mapped: a diagram has room
for no more, and the payload stays a few kilobytes.

A layer with dropout also says which of its mapped units the latest training
step dropped for one example (inverted dropout draws a mask per example; the
first of the step's mini-batch is shown): ``dropped``, their indices, or None
for a layer without dropout or before its first step.  The maps themselves are
evaluation-mode pictures, with every unit on.

``weights`` go with them, per weight layer (input -> layer 1, ..., last
hidden layer -> output), between the mapped neurons only: ``weights[l][i][j]``
is W from input (or neuron) i to neuron j, rounded to ``WEIGHT_DECIMALS``.

``input_maps`` (in the ``config`` event and the preview) are the seven
candidate input features' values over the same grid, as raw (un-normalized)
features, quantized the same way, so the page can draw every feature whether
the network uses it or not.
"""

from __future__ import annotations

import base64

import numpy as np

from server.engine.config import FEATURES
from server.engine.data import Dataset, feature_columns
from server.engine.layers import ACTIVATIONS, affine_forward, batchnorm_forward
from server.engine.model import Network

__all__ = ["NEURON_GRID", "MAX_MAPPED_UNITS", "NeuronMaps", "input_maps", "decode_maps", "hidden_activations"]

NEURON_GRID = 16
MAX_MAPPED_UNITS = 8
EXTENT_DECIMALS = 4
WEIGHT_DECIMALS = 3
_LEVELS = 255
# Far beyond any activation a picture shows; keeps a diverging run's maps finite.
_CLIP = 1e6


def _finite(values: np.ndarray) -> np.ndarray:
    """``values``, or a copy with NaN as 0 and everything within +-_CLIP when some are not finite."""
    if np.isfinite(values).all():
        return values
    return np.clip(np.nan_to_num(values, nan=0.0), -_CLIP, _CLIP)


def _levels(maps: np.ndarray) -> tuple[list, list, np.ndarray]:
    """Maps (k, cells) -> their rounded ``lo`` and ``hi`` (k each) and uint8 levels (k, cells)."""
    values = _finite(np.asarray(maps, dtype=np.float64))
    lo = np.round(values.min(axis=1), EXTENT_DECIMALS)
    hi = np.round(values.max(axis=1), EXTENT_DECIMALS)
    span = hi - lo
    scale = np.divide(_LEVELS, span, out=np.zeros_like(span), where=span > 0)
    levels = np.rint((values - lo[:, None]) * scale[:, None])
    np.clip(levels, 0, _LEVELS, out=levels)
    return lo.tolist(), hi.tolist(), levels.astype(np.uint8)


def _encoded(lo: list, hi: list, levels: np.ndarray) -> dict:
    return {"lo": lo, "hi": hi, "maps": base64.b64encode(levels.tobytes()).decode("ascii")}


def quantize(maps: np.ndarray) -> dict:
    """Maps (k, cells) -> ``{"lo": [k], "hi": [k], "maps": base64 of k * cells bytes}``."""
    return _encoded(*_levels(maps))


def decode_maps(encoded: dict, size: int) -> np.ndarray:
    """The inverse of ``quantize``: (k, size, size) float64 values."""
    levels = np.frombuffer(base64.b64decode(encoded["maps"]), dtype=np.uint8).astype(np.float64)
    lo, hi = np.asarray(encoded["lo"]), np.asarray(encoded["hi"])
    levels = levels.reshape(len(lo), size, size)
    return lo[:, None, None] + levels / _LEVELS * (hi - lo)[:, None, None]


def hidden_activations(network: Network, X: np.ndarray) -> list[np.ndarray]:
    """Each hidden layer's activations (m, n_l) for inputs X (m, n_features), evaluation mode."""
    outputs = []
    a = X
    for index, layer in enumerate(network.hidden):
        batch_norm = network.batch_norm[index]
        z, _ = affine_forward(a, network.weights[index], None if batch_norm else network.biases[index])
        if batch_norm:
            z, _ = batchnorm_forward(z, network.gammas[index], network.betas[index],
                                     network.running_means[index], network.running_vars[index], False)
        a, _ = ACTIVATIONS[layer.activation].forward(z)
        outputs.append(a)
    return outputs


def _plane_grid(dataset: Dataset, size: int) -> tuple[dict, np.ndarray]:
    """The grid's extent ``{"x": [first, last], "y": [...]}`` and its points (size*size, 2) on the plane."""
    xs, ys, P = dataset.grid(resolution=size)
    extent = {"x": [round(float(xs[0]), 4), round(float(xs[-1]), 4)],
              "y": [round(float(ys[0]), 4), round(float(ys[-1]), 4)]}
    return extent, P


class NeuronMaps:
    """The ``neurons`` payload of a network on a 2-D data set, one forward pass per call."""

    def __init__(self, dataset: Dataset, network: Network, size: int = NEURON_GRID,
                 max_units: int = MAX_MAPPED_UNITS):
        self.network = network
        self.size = size
        self.max_units = max_units
        self.extent, plane = _plane_grid(dataset, size)
        self.inputs = dataset.inputs_from_plane(plane)
        self.shown = [min(units, max_units) for units in network.sizes]

    def payload(self) -> dict:
        """``{"size", "x", "y", "layers": [{"units", "shown", "lo", "hi", "maps", "dropped"}],
        "weights"}``."""
        with np.errstate(all="ignore"):
            activations = hidden_activations(self.network, self.inputs)
        layers = []
        if activations:
            # One quantization for all the layers: a few NumPy calls, not a few per layer.
            shown = self.shown[1:-1]
            lo, hi, levels = _levels(np.vstack([a[:, :k].T for a, k in zip(activations, shown, strict=True)]))
            start = 0
            for index, (values, k) in enumerate(zip(activations, shown, strict=True)):
                layers.append({"units": int(values.shape[1]), "shown": k,
                               **_encoded(lo[start:start + k], hi[start:start + k], levels[start:start + k]),
                               "dropped": self._dropped(index, k)})
                start += k
        weights = [np.round(_finite(W[:self.shown[index], :self.shown[index + 1]]), WEIGHT_DECIMALS).tolist()
                   for index, W in enumerate(self.network.weights)]
        return {"size": self.size, **self.extent, "layers": layers, "weights": weights}

    def _dropped(self, layer: int, shown: int) -> list[int] | None:
        """The mapped units of ``layer`` the latest training step dropped for one example."""
        row = self.network.dropout_rows[layer]
        if row is None or self.network.keep_probs[layer] >= 1.0:
            return None
        return np.flatnonzero(row[:shown] == 0).tolist()


def input_maps(dataset: Dataset, size: int = NEURON_GRID) -> dict | None:
    """Every candidate feature's raw value over the plane: ``{"size", "x", "y", "names", "lo", "hi",
    "maps"}``; None for data that are not 2-D."""
    if not dataset.is_2d:
        return None
    extent, plane = _plane_grid(dataset, size)
    raw = plane * dataset.plane_std + dataset.plane_mean
    return {"size": size, **extent, "names": list(FEATURES), **quantize(feature_columns(raw, FEATURES).T)}
