"""A fully connected network: parameters, forward, backward, cost and evaluation.

Layout.  Every trainable array (weights W, biases b, batch-norm gamma and
beta) is a view into ONE flat vector ``Network.parameters``, and every
gradient is a view into ``Network.gradients`` of the same layout.  The
optimizer therefore updates the whole network with a handful of NumPy calls
on two long vectors instead of a Python loop over arrays, and the gradient
check perturbs coordinates of one vector.  The weights come first and are
contiguous, so the L2 and L1 penalties (weights only, never b, gamma or beta)
are one operation on ``parameters[:n_weights]``.

Layers are numbered from 1 like the course: hidden layers 1..L-1, the output
layer L.  W_l has shape (n_{l-1}, n_l) and multiplies row-major batches X of
shape (m, n_features).  A batch-normalized layer has gamma_l and beta_l
instead of b_l.  The output layer is one sigmoid unit for two classes and a
softmax over n_classes otherwise, its loss computed from the logits.

Cost of a batch of m examples (the contract's convention):
    J = mean cross-entropy + (l2 / 2m) * sum(W^2) + (l1 / 2m) * sum(|W|)
with the L1 subgradient (l1 / 2m) * sign(W).

Initialization: ``zeros``; ``random`` = init_scale * N(0, 1); ``xavier`` =
N(0, 1) * sqrt(1 / n_prev); ``he`` = N(0, 1) * sqrt(2 / n_prev).  Biases and
beta start at 0, gamma at 1; running means at 0 and running variances at 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from server.engine.layers import (
    ACTIVATIONS,
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    sigmoid,
    sigmoid_cross_entropy,
    sigmoid_cross_entropy_loss,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_loss,
    targets_from_labels,
)

INIT_STDDEV = {
    "xavier": lambda n_prev, scale: np.sqrt(1.0 / n_prev),
    "he": lambda n_prev, scale: np.sqrt(2.0 / n_prev),
    "random": lambda n_prev, scale: scale,
    "zeros": lambda n_prev, scale: 0.0,
}


def output_units(n_classes: int) -> int:
    """One sigmoid unit for two classes, a softmax unit per class otherwise."""
    return 1 if n_classes == 2 else n_classes


def parameter_count(n_features: int, hidden: list, n_classes: int) -> int:
    """Weights, biases and batch-norm gamma/beta of a network (the size of ``Network.parameters``).

    ``hidden`` holds objects with ``units`` and ``batch_norm`` (``HiddenLayer``
    or the config's layers).
    """
    total, inputs = 0, n_features
    for layer in hidden:
        # Batch norm drops the layer's bias and learns gamma and beta instead.
        total += inputs * layer.units + layer.units * (2 if layer.batch_norm else 1)
        inputs = layer.units
    outputs = output_units(n_classes)
    return total + inputs * outputs + outputs


@dataclass(frozen=True)
class HiddenLayer:
    """What the network needs to know of one hidden layer of the config."""

    units: int
    activation: str = "relu"
    keep_prob: float = 1.0
    batch_norm: bool = False


@dataclass
class Evaluation:
    """Loss, cost and accuracy of the network on a whole data set (evaluation mode)."""

    loss: float
    cost: float
    accuracy: float


class Network:
    """A fully connected classifier over row-major batches X: (m, n_features).

    ``sizes`` is [n_features, n_1, ..., n_out]; ``parameters`` and
    ``gradients`` are the flat vectors, ``param_views[name]`` and
    ``grad_views[name]`` the arrays in their shapes.  The penalties ``l2``
    and ``l1`` and the per-layer ``keep_probs`` may be changed between
    steps.
    """

    def __init__(self, n_features: int, hidden: list[HiddenLayer], n_classes: int,
                 init: str, init_scale: float, rng: np.random.Generator):
        if init not in INIT_STDDEV:
            raise ValueError(f"unknown init {init!r}")
        for layer in hidden:
            if layer.activation not in ACTIVATIONS:
                raise ValueError(f"unknown activation {layer.activation!r}")
        self.n_features = n_features
        self.n_classes = n_classes
        self.hidden = list(hidden)
        self.sizes = [n_features] + [layer.units for layer in hidden] + [output_units(n_classes)]
        self.n_layers = len(self.sizes) - 1
        self.batch_norm = [layer.batch_norm for layer in hidden] + [False]
        self.keep_probs = [float(layer.keep_prob) for layer in hidden]
        # Per hidden layer, the dropout mask of one example (the first) of the latest training
        # step, None without dropout: what the diagram shows as dropped units.
        self.dropout_rows: list[np.ndarray | None] = [None] * len(hidden)
        self.l2 = 0.0
        self.l1 = 0.0
        self._activations = [ACTIVATIONS[layer.activation] for layer in hidden]
        self._loss = sigmoid_cross_entropy if n_classes == 2 else softmax_cross_entropy
        self._loss_only = sigmoid_cross_entropy_loss if n_classes == 2 else softmax_cross_entropy_loss
        self._build_layout()
        self.initialize(init, init_scale, rng)

    @classmethod
    def from_config(cls, model_config, n_features: int, n_classes: int,
                    rng: np.random.Generator) -> Network:
        """Build from a ``RunConfig.model`` section."""
        hidden = [HiddenLayer(layer.units, layer.activation, layer.keep_prob, layer.batch_norm)
                  for layer in model_config.hidden]
        return cls(n_features, hidden, n_classes, model_config.init, model_config.init_scale, rng)

    # --- parameters --------------------------------------------------------

    def _build_layout(self) -> None:
        shapes: list[tuple[str, tuple[int, ...]]] = []
        for index in range(self.n_layers):
            shapes.append((f"W{index + 1}", (self.sizes[index], self.sizes[index + 1])))
        for index in range(self.n_layers):
            if not self.batch_norm[index]:
                shapes.append((f"b{index + 1}", (self.sizes[index + 1],)))
        for index in range(self.n_layers):
            if self.batch_norm[index]:
                shapes.append((f"gamma{index + 1}", (self.sizes[index + 1],)))
                shapes.append((f"beta{index + 1}", (self.sizes[index + 1],)))
        total = sum(int(np.prod(shape)) for _, shape in shapes)
        self.parameters = np.zeros(total)
        self.gradients = np.zeros(total)
        self.slices: dict[str, slice] = {}
        self.param_views: dict[str, np.ndarray] = {}
        self.grad_views: dict[str, np.ndarray] = {}
        offset = 0
        for name, shape in shapes:
            size = int(np.prod(shape))
            self.slices[name] = slice(offset, offset + size)
            self.param_views[name] = self.parameters[offset:offset + size].reshape(shape)
            self.grad_views[name] = self.gradients[offset:offset + size].reshape(shape)
            offset += size
        self.n_weights = sum(self.sizes[i] * self.sizes[i + 1] for i in range(self.n_layers))
        self.weights = [self.param_views[f"W{i + 1}"] for i in range(self.n_layers)]
        self.weight_grads = [self.grad_views[f"W{i + 1}"] for i in range(self.n_layers)]
        self.biases = [self.param_views.get(f"b{i + 1}") for i in range(self.n_layers)]
        self.bias_grads = [self.grad_views.get(f"b{i + 1}") for i in range(self.n_layers)]
        self.gammas = [self.param_views.get(f"gamma{i + 1}") for i in range(self.n_layers)]
        self.gamma_grads = [self.grad_views.get(f"gamma{i + 1}") for i in range(self.n_layers)]
        self.betas = [self.param_views.get(f"beta{i + 1}") for i in range(self.n_layers)]
        self.beta_grads = [self.grad_views.get(f"beta{i + 1}") for i in range(self.n_layers)]
        self.running_means = [np.zeros(self.sizes[i + 1]) if self.batch_norm[i] else None
                              for i in range(self.n_layers)]
        self.running_vars = [np.ones(self.sizes[i + 1]) if self.batch_norm[i] else None
                             for i in range(self.n_layers)]

    def initialize(self, init: str, init_scale: float, rng: np.random.Generator) -> None:
        """(Re)draw the weights from ``rng`` layer by layer; b and beta 0, gamma 1."""
        self.parameters[:] = 0.0
        for index, W in enumerate(self.weights):
            stddev = INIT_STDDEV[init](self.sizes[index], init_scale)
            if stddev:
                W[...] = rng.standard_normal(W.shape) * stddev
        for gamma in self.gammas:
            if gamma is not None:
                gamma[...] = 1.0
        for index in range(self.n_layers):
            if self.batch_norm[index]:
                self.running_means[index][...] = 0.0
                self.running_vars[index][...] = 1.0

    def parameter_names(self) -> list[str]:
        """Names in layout order: W1..WL, then b's, then gamma's and beta's."""
        return list(self.slices)

    def state(self) -> tuple[np.ndarray, list, list]:
        """A copy of everything training changes (parameters and running statistics)."""
        return (self.parameters.copy(),
                [None if r is None else r.copy() for r in self.running_means],
                [None if r is None else r.copy() for r in self.running_vars])

    def load_state(self, state: tuple[np.ndarray, list, list]) -> None:
        """Restore a ``state()`` copy in place (the views stay valid)."""
        parameters, means, variances = state
        self.parameters[:] = parameters
        for target, source in zip(self.running_means + self.running_vars, means + variances, strict=True):
            if target is not None:
                target[...] = source

    # --- training pass ----------------------------------------------------

    def forward(self, X: np.ndarray, training: bool, rng: np.random.Generator | None = None,
                update_running: bool = True) -> tuple[np.ndarray, list]:
        """Logits for X: (m, n_features) -> (m, n_out) and the caches for ``backward``.

        In training, batch norm uses batch statistics (updating the running
        ones unless ``update_running`` is false) and dropout masks are drawn
        from ``rng``; without an ``rng`` there is no dropout.
        """
        caches = []
        a = X
        last = self.n_layers - 1
        for index in range(last):
            batch_norm = self.batch_norm[index]
            bias = None if batch_norm else self.biases[index]
            z, affine_cache = affine_forward(a, self.weights[index], bias)
            bn_cache = None
            if batch_norm:
                z, bn_cache = batchnorm_forward(z, self.gammas[index], self.betas[index],
                                                self.running_means[index], self.running_vars[index],
                                                training, update_running)
            a, act_cache = self._activations[index].forward(z)
            mask = None
            if rng is not None and training and self.keep_probs[index] < 1.0:
                a, mask = dropout_forward(a, self.keep_probs[index], rng)
            if rng is not None and training:
                self.dropout_rows[index] = None if mask is None else mask[0]
            caches.append((affine_cache, bn_cache, act_cache, mask))
        logits, affine_cache = affine_forward(a, self.weights[last], self.biases[last])
        caches.append((affine_cache, None, None, None))
        return logits, caches

    def backward(self, dlogits: np.ndarray, caches: list, m: int) -> None:
        """Write the gradient of the cost into ``self.gradients``.

        dlogits: (m, n_out), the gradient of the mean data loss.  The
        penalties' gradients are then added to the weights' (W feeds both
        the data loss and the penalty, so its gradient is the sum).
        """
        last = self.n_layers - 1
        output_cache = caches[last][0]
        da, _, _ = affine_backward(dlogits, output_cache, last > 0,
                                   self.weight_grads[last], self.bias_grads[last])
        for index in range(last - 1, -1, -1):
            affine_cache, bn_cache, act_cache, mask = caches[index]
            da = dropout_backward(da, mask)
            dz = self._activations[index].backward(da, act_cache)
            if bn_cache is not None:
                dz, _, _ = batchnorm_backward(dz, bn_cache, self.gamma_grads[index], self.beta_grads[index])
            da, _, _ = affine_backward(dz, affine_cache, index > 0,
                                       self.weight_grads[index], self.bias_grads[index])
        self._add_penalty_gradients(m)

    def _add_penalty_gradients(self, m: int) -> None:
        if self.l2:
            weight_grads = self.gradients[:self.n_weights]
            weight_grads += (self.l2 / m) * self.parameters[:self.n_weights]
        if self.l1:
            weight_grads = self.gradients[:self.n_weights]
            weight_grads += (self.l1 / (2.0 * m)) * np.sign(self.parameters[:self.n_weights])

    def compute_gradients(self, X: np.ndarray, targets: np.ndarray, rng: np.random.Generator | None,
                          with_loss: bool = False, update_running: bool = True) -> float | None:
        """One training-mode forward and backward pass on a batch; gradients land in
        ``self.gradients``.  X: (m, n_features); targets: (m, n_out) as
        ``targets_from_labels`` makes them.  Returns the batch cost when ``with_loss``.
        """
        logits, caches = self.forward(X, True, rng, update_running)
        loss, dlogits = self._loss(logits, targets, with_loss)
        m = X.shape[0]
        self.backward(dlogits, caches, m)
        return None if loss is None else loss + self.penalty(m)

    def penalty(self, m: int) -> float:
        """(l2 / 2m) * sum(W^2) + (l1 / 2m) * sum(|W|) over all weight matrices."""
        total = 0.0
        weights = self.parameters[:self.n_weights]
        if self.l2:
            total += self.l2 / (2.0 * m) * float(np.dot(weights, weights))
        if self.l1:
            total += self.l1 / (2.0 * m) * float(np.abs(weights).sum())
        return total

    def cost(self, X: np.ndarray, targets: np.ndarray) -> float:
        """Training-mode cost of a batch without dropout and without touching the
        running statistics (what a gradient check differentiates)."""
        logits, _ = self.forward(X, True, None, update_running=False)
        loss, _ = self._loss(logits, targets, True)
        return loss + self.penalty(X.shape[0])

    # --- evaluation ---------------------------------------------------------

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Evaluation-mode logits (no dropout, batch norm with running averages): (m, n_out)."""
        return self.forward(X, False)[0]

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """(m,) probability of class 1 for two classes, (m, C) class probabilities otherwise."""
        logits = self.logits(X)
        return sigmoid(logits)[:, 0] if self.n_classes == 2 else softmax(logits)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (m,) int64."""
        return self._labels(self.logits(X))

    def _labels(self, logits: np.ndarray) -> np.ndarray:
        """The class each row of logits (m, n_out) picks: (m,) int64."""
        if self.n_classes == 2:
            return (logits[:, 0] > 0).astype(np.int64)
        return logits.argmax(axis=1)

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> Evaluation:
        """Loss, cost (penalty with m = len(y)) and accuracy on a whole set in evaluation mode.

        X: (m, n_features); y: (m,) integer labels.  Values are NaN when the
        parameters have diverged; callers turn those into None.
        """
        return self._evaluation(self.logits(X), targets_from_labels(y, self.n_classes), y)

    def evaluate_spans(self, X: np.ndarray, y: np.ndarray,
                       spans: Sequence[tuple[int, int]]) -> list[Evaluation]:
        """``evaluate(X[start:stop], y[start:stop])`` for each ``(start, stop)`` of ``spans``, the same
        values, from one forward pass over X.

        Evaluation mode computes every row on its own (batch norm uses the
        running averages), so sets side by side in X can share a pass; on a
        small network a pass costs its NumPy calls far more than its rows.
        """
        logits = self.logits(X)
        targets = targets_from_labels(y, self.n_classes)
        return [self._evaluation(logits[start:stop], targets[start:stop], y[start:stop])
                for start, stop in spans]

    def _evaluation(self, logits: np.ndarray, targets: np.ndarray, y: np.ndarray) -> Evaluation:
        with np.errstate(all="ignore"):
            loss = self._loss_only(logits, targets)
            cost = loss + self.penalty(len(y))
        if not np.isfinite(logits).all():
            return Evaluation(float("nan"), float("nan"), float("nan"))
        return Evaluation(loss, cost, np.count_nonzero(self._labels(logits) == y) / len(y))

    # --- per-layer norms ------------------------------------------------------

    def layer_norms(self, last_update: np.ndarray | None) -> list[dict[str, float | None]]:
        """Per weight layer: ||dW|| of the last gradient, ||W||, and ||delta W|| / ||W|| for
        the last update.

        ``last_update`` is the flat vector (the layout of ``parameters``) the
        last optimizer step subtracted; without it, or when ||W|| is 0, the
        ratio is None.
        """
        norms = []
        for index in range(self.n_layers):
            span = self.slices[f"W{index + 1}"]
            weights = self.parameters[span]
            grads = self.gradients[span]
            weight_norm = float(np.sqrt(np.dot(weights, weights)))
            ratio = None
            if last_update is not None and weight_norm > 0:
                change = last_update[span]
                ratio = float(np.sqrt(np.dot(change, change))) / weight_norm
            norms.append({"grad_norm": float(np.sqrt(np.dot(grads, grads))),
                          "weight_norm": weight_norm, "update_ratio": ratio})
        return norms
