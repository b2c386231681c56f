"""The building blocks of a fully connected network, one forward and one backward each.

Every ``*_forward`` returns ``(out, cache)`` and the matching ``*_backward``
takes the upstream gradient and that cache, returning the gradients of the
inputs.  Batches are row-major: ``x`` has shape (m, n_in) for m examples, a
weight matrix ``W`` has shape (n_in, n_out), so a layer computes ``x @ W + b``.

Backward functions return fresh gradients (or write them into ``out`` buffers
the caller owns); they never accumulate behind the caller's back.  Where one
value feeds two consumers, its gradient is the SUM of what the two backward
passes return, and the caller adds them (``tests/engine/test_layers.py`` checks
a reused input numerically).

Constants, as the course and the common libraries use them:

- ``LEAKY_SLOPE`` = 0.01, the slope of leaky ReLU for negative inputs.
- ``BATCH_NORM_MOMENTUM`` = 0.9: running averages follow
  ``running = 0.9 * running + 0.1 * batch_statistic`` (Keras' default, the
  same weighting as PyTorch's ``momentum=0.1``).  The running variance is the
  biased batch variance (divide by m), so a mini-batch of one stays finite.
- ``BATCH_NORM_EPSILON`` = 1e-5 is added to the variance before the square root.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

LEAKY_SLOPE = 0.01
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-5


# --- affine ----------------------------------------------------------------

def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, tuple]:
    """z = x @ W + b.

    x: (m, n_in); W: (n_in, n_out); b: (n_out,) or None (a batch-normalized
    layer has no bias).  Returns z: (m, n_out) and the cache (x, W, has_bias).
    """
    # np.dot: on the small matrices of these networks it has less overhead than the @ ufunc.
    z = np.dot(x, W)
    if b is not None:
        z += b
    return z, (x, W, b is not None)


def affine_backward(
    dz: np.ndarray, cache: tuple, need_dx: bool = True, dW_out: np.ndarray | None = None,
    db_out: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of z = x @ W + b.

    dz: (m, n_out).  Returns dx: (m, n_in) (None when ``need_dx`` is false,
    which saves a product for the first layer), dW: (n_in, n_out), and db:
    (n_out,) (None for a layer without bias).  ``dW_out``/``db_out`` are
    optional C-contiguous buffers of those shapes to write into (overwritten,
    not added to).
    """
    x, W, has_bias = cache
    dW = np.dot(x.T, dz, out=dW_out)
    db = np.add.reduce(dz, axis=0, out=db_out) if has_bias else None
    dx = np.dot(dz, W.T) if need_dx else None
    return dx, dW, db


# --- activations -------------------------------------------------------------

def relu_forward(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a = max(z, 0); z, a: (m, n).  The cache is a (a > 0 exactly where z > 0)."""
    a = np.maximum(z, 0.0)
    return a, a


def relu_backward(da: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dz = da * [z > 0]; da, dz: (m, n).  The derivative at exactly 0 is taken as 0."""
    return da * (cache > 0)


def leaky_relu_forward(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a = z for z > 0, else LEAKY_SLOPE * z; z, a: (m, n).  The cache is z."""
    return np.where(z > 0, z, LEAKY_SLOPE * z), z


def leaky_relu_backward(da: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dz = da * (1 if z > 0 else LEAKY_SLOPE); da, dz: (m, n)."""
    return da * np.where(cache > 0, 1.0, LEAKY_SLOPE)


def tanh_forward(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a = tanh(z); z, a: (m, n).  The cache is a."""
    a = np.tanh(z)
    return a, a


def tanh_backward(da: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dz = da * (1 - a^2); da, dz: (m, n)."""
    return da * (1.0 - cache * cache)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, written with tanh so it never overflows for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def sigmoid_forward(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a = 1 / (1 + exp(-z)); z, a: (m, n).  The cache is a."""
    a = sigmoid(z)
    return a, a


def sigmoid_backward(da: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dz = da * a * (1 - a); da, dz: (m, n)."""
    return da * cache * (1.0 - cache)


def linear_forward(z: np.ndarray) -> tuple[np.ndarray, None]:
    """a = z (the identity); z, a: (m, n)."""
    return z, None


def linear_backward(da: np.ndarray, cache: None) -> np.ndarray:
    """dz = da."""
    return da


class Activation(NamedTuple):
    forward: Callable[[np.ndarray], tuple[np.ndarray, object]]
    backward: Callable[[np.ndarray, object], np.ndarray]


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(relu_forward, relu_backward),
    "leaky_relu": Activation(leaky_relu_forward, leaky_relu_backward),
    "tanh": Activation(tanh_forward, tanh_backward),
    "sigmoid": Activation(sigmoid_forward, sigmoid_backward),
    "linear": Activation(linear_forward, linear_backward),
}


# --- batch normalization -----------------------------------------------------

def batchnorm_forward(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      running_mean: np.ndarray, running_var: np.ndarray, training: bool,
                      update_running: bool = True) -> tuple[np.ndarray, tuple | None]:
    """Batch normalization of z before the activation.

    z: (m, n); gamma, beta, running_mean, running_var: (n,).  In training the
    batch mean and (biased) variance normalize z and, when ``update_running``,
    the running averages are updated IN PLACE with BATCH_NORM_MOMENTUM.  At
    evaluation the running averages are used and the cache is None.
    Returns out = gamma * z_hat + beta: (m, n).
    """
    if not training:
        scale = gamma / np.sqrt(running_var + BATCH_NORM_EPSILON)
        return z * scale + (beta - running_mean * scale), None
    mean = z.mean(axis=0)
    centered = z - mean
    var = np.mean(centered * centered, axis=0)
    inv_std = 1.0 / np.sqrt(var + BATCH_NORM_EPSILON)
    z_hat = centered * inv_std
    if update_running:
        running_mean *= BATCH_NORM_MOMENTUM
        running_mean += (1.0 - BATCH_NORM_MOMENTUM) * mean
        running_var *= BATCH_NORM_MOMENTUM
        running_var += (1.0 - BATCH_NORM_MOMENTUM) * var
    return z_hat * gamma + beta, (z_hat, gamma, inv_std)


def batchnorm_backward(dout: np.ndarray, cache: tuple,
                       dgamma_out: np.ndarray | None = None,
                       dbeta_out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of training-mode batch normalization.

    dout: (m, n).  Returns dz: (m, n), dgamma: (n,), dbeta: (n,), using the
    closed form dz = inv_std / m * (m * dz_hat - sum(dz_hat) - z_hat * sum(dz_hat * z_hat)).
    ``dgamma_out``/``dbeta_out`` are optional buffers to write into.
    """
    z_hat, gamma, inv_std = cache
    m = dout.shape[0]
    dbeta = np.add.reduce(dout, axis=0, out=dbeta_out)
    dgamma = np.add.reduce(dout * z_hat, axis=0, out=dgamma_out)
    dz_hat_sum = dbeta * gamma
    dz_hat_dot = dgamma * gamma
    dz = (dout * gamma - (dz_hat_sum + z_hat * dz_hat_dot) / m) * inv_std
    return dz, dgamma, dbeta


# --- inverted dropout --------------------------------------------------------

def dropout_forward(a: np.ndarray, keep_prob: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverted dropout (training only): keep each unit with probability keep_prob
    and divide by keep_prob, so the expected activation is unchanged.

    a: (m, n).  The mask (m, n) already holds the 1/keep_prob factor; it is
    drawn from ``rng`` (the run's generator).  keep_prob 1 is the identity
    and draws nothing.
    """
    if keep_prob >= 1.0:
        return a, None
    mask = (rng.random(a.shape) < keep_prob) / keep_prob
    return a * mask, mask


def dropout_backward(dout: np.ndarray, cache: np.ndarray | None) -> np.ndarray:
    """dout * mask; dout: (m, n)."""
    return dout if cache is None else dout * cache


# --- outputs and losses ------------------------------------------------------

def targets_from_labels(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer labels y: (m,) as the float targets the output layer compares with:
    (m, 1) of 0/1 for two classes (one sigmoid unit), (m, n_classes) one-hot otherwise.
    """
    y = np.asarray(y)
    if n_classes == 2:
        return y.astype(np.float64).reshape(-1, 1)
    targets = np.zeros((y.shape[0], n_classes))
    targets[np.arange(y.shape[0]), y] = 1.0
    return targets


def sigmoid_cross_entropy(logits: np.ndarray, targets: np.ndarray,
                          with_loss: bool = True) -> tuple[float | None, np.ndarray]:
    """Mean binary cross-entropy of sigmoid(logits), computed from the logits.

    logits, targets: (m, 1).  loss = mean(log(1 + exp(z)) - z * t), with
    ``np.logaddexp(0, z)`` for log(1 + exp(z)), which never takes the log of 0
    nor overflows.  Returns (loss or None when ``with_loss`` is false,
    dlogits = (sigmoid(z) - t) / m: (m, 1)).
    """
    m = logits.shape[0]
    dlogits = sigmoid(logits)
    dlogits -= targets
    dlogits /= m
    if not with_loss:
        return None, dlogits
    return sigmoid_cross_entropy_loss(logits, targets), dlogits


def sigmoid_cross_entropy_loss(logits: np.ndarray, targets: np.ndarray) -> float:
    """The loss of ``sigmoid_cross_entropy`` alone (an evaluation needs no gradient)."""
    # Every training step asks for its loss, so it is a couple of NumPy calls, not six.
    return (float(np.logaddexp(0.0, logits).sum()) - float(np.vdot(logits, targets))) / logits.shape[0]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits: (m, C), shifted by the row maximum so exp never overflows."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    exp /= exp.sum(axis=1, keepdims=True)
    return exp


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray,
                          with_loss: bool = True) -> tuple[float | None, np.ndarray]:
    """Mean categorical cross-entropy of softmax(logits), computed from the logits.

    logits, targets (one-hot): (m, C).  loss = mean(logsumexp(z) - z . t).
    Returns (loss or None, dlogits = (softmax(z) - t) / m: (m, C)).
    """
    m = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    dlogits = exp / total
    dlogits -= targets
    dlogits /= m
    if not with_loss:
        return None, dlogits
    return _softmax_loss(shifted, total, targets), dlogits


def softmax_cross_entropy_loss(logits: np.ndarray, targets: np.ndarray) -> float:
    """The loss of ``softmax_cross_entropy`` alone (an evaluation needs no gradient)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return _softmax_loss(shifted, np.exp(shifted).sum(axis=1, keepdims=True), targets)


def _softmax_loss(shifted: np.ndarray, total: np.ndarray, targets: np.ndarray) -> float:
    loss = np.log(total).sum() - np.vdot(shifted, targets)
    return float(loss / shifted.shape[0])
