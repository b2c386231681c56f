"""Gradient checking: backprop's gradient against two-sided finite differences.

For each checked coordinate i of the flat parameter vector theta,
    approx_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)
and the check reports
    difference = ||approx - grad|| / (||approx|| + ||grad||)
overall and per parameter array (W1, b1, gamma1, beta1, ...), with the
course's reading: great < 1e-7 <= ok < 1e-5 <= suspicious < 1e-3 <= wrong.

What ``gradient_check`` differentiates: the config's network at
initialization (the same weights the run starts from, drawn from the run's
generator after the data), in float64, dropout off, batch norm in training
mode on the checked batch (running averages untouched), with the config's L2
and L1 penalties, on the first ``CHECK_EXAMPLES`` training examples.

Two deliberate choices:

- ``zeros`` initialization makes almost every gradient exactly 0 by symmetry
  (and a zero compared with a zero proves nothing, nor can a broken backprop
  show), so a ``zeros`` config is checked at ``he`` initialization instead;
  the result's ``init`` names the initialization actually checked.
- Cost.  The coordinate check needs two cost evaluations per parameter: fine
  for the playground's small networks, minutes for a 16 x 512 one.  A network
  with more than ``max_coordinates`` parameters is therefore checked along
  random directions instead (``method: "directions"``): for a random unit
  vector d inside one parameter array, (J(theta + eps d) - J(theta - eps d)) /
  (2 eps) must equal grad . d.  Every coordinate of the array takes part in
  every direction, so a wrong entry anywhere shows, and the number of
  directions per array (``n_checked``) is chosen to keep the work near
  ``WORK_BUDGET`` multiply-adds.

``inject_bug`` breaks backprop on purpose: the output layer's weight gradient
is accumulated twice (a ``+=`` run twice), a bug every network has a place
for, logistic regression included, and which the check always reports as
``wrong``.
"""

from __future__ import annotations

import numpy as np

from server.engine.config import RunConfig, parse_config
from server.engine.data import prepare_data
from server.engine.layers import targets_from_labels
from server.engine.model import Network

CHECK_EXAMPLES = 32
DEFAULT_MAX_COORDINATES = 4000
WORK_BUDGET = 4e9
MIN_DIRECTIONS, MAX_DIRECTIONS = 2, 16
VERDICTS = ((1e-7, "great"), (1e-5, "ok"), (1e-3, "suspicious"))


def relative_difference(approx: np.ndarray, grad: np.ndarray) -> float:
    """||approx - grad|| / (||approx|| + ||grad||); 0 when both are exactly 0."""
    denominator = np.linalg.norm(approx) + np.linalg.norm(grad)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(approx - grad) / denominator)


def numerical_gradient(function, x: np.ndarray, epsilon: float = 1e-6) -> np.ndarray:
    """Two-sided finite differences of a scalar ``function()`` with respect to the
    array x (any shape), which is perturbed in place and restored.  Returns an
    array of x's shape."""
    if not x.flags.c_contiguous:
        raise ValueError("numerical_gradient perturbs x in place: pass a C-contiguous array")
    gradient = np.zeros_like(x)
    flat, flat_gradient = x.reshape(-1), gradient.reshape(-1)
    for index in range(flat.size):
        original = flat[index]
        flat[index] = original + epsilon
        plus = function()
        flat[index] = original - epsilon
        minus = function()
        flat[index] = original
        flat_gradient[index] = (plus - minus) / (2.0 * epsilon)
    return gradient


def verdict_for(difference: float) -> str:
    """great < 1e-7 <= ok < 1e-5 <= suspicious < 1e-3 <= wrong (NaN is wrong)."""
    for threshold, verdict in VERDICTS:
        if difference < threshold:
            return verdict
    return "wrong"


def _json_number(value: float) -> float | None:
    """A difference for a JSON payload: None when the costs overflowed (the verdict says wrong)."""
    return value if np.isfinite(value) else None


def _directions_per_array(network: Network, n_examples: int) -> int:
    multiply_adds = n_examples * network.n_weights
    affordable = WORK_BUDGET / (2 * len(network.slices) * max(multiply_adds, 1))
    return int(min(MAX_DIRECTIONS, max(MIN_DIRECTIONS, affordable)))


def _directional_derivative(network: Network, X: np.ndarray, targets: np.ndarray, epsilon: float,
                            span: slice, direction: np.ndarray) -> float:
    """(J(theta + eps d) - J(theta - eps d)) / (2 eps) for a direction d of ``parameters[span]``;
    the parameters are restored exactly afterwards."""
    region = network.parameters[span]
    original = region.copy()
    region += epsilon * direction
    plus = network.cost(X, targets)
    region[...] = original - epsilon * direction
    minus = network.cost(X, targets)
    region[...] = original
    return (plus - minus) / (2.0 * epsilon)


def check_network(network: Network, X: np.ndarray, targets: np.ndarray, epsilon: float = 1e-7,
                  max_coordinates: int = DEFAULT_MAX_COORDINATES,
                  rng: np.random.Generator | None = None) -> dict:
    """Gradient check of ``network`` on a batch X: (m, n_features), targets: (m, n_out).

    Dropout must already be off (``keep_probs`` all 1) for the cost to be a
    deterministic function of the parameters.  Every coordinate is checked
    when the network has at most ``max_coordinates`` parameters, random
    directions (drawn from ``rng``) otherwise.  Returns the ``gradient_check``
    payload without the fields that describe the config; a difference that
    is not a finite number (overflowing costs) is None, with verdict ``wrong``.
    """
    if any(keep < 1.0 for keep in network.keep_probs):
        raise ValueError("turn dropout off (keep_prob 1) before checking gradients")
    rng = np.random.default_rng(0) if rng is None else rng
    network.compute_gradients(X, targets, None, update_running=False)
    analytic = network.gradients.copy()
    by_coordinates = network.parameters.size <= max_coordinates
    n_directions = _directions_per_array(network, X.shape[0])
    layers, all_approx, all_grad = [], [], []
    for name, span in network.slices.items():
        size = span.stop - span.start
        grad_region = analytic[span]
        if by_coordinates:
            approx = numerical_gradient(lambda: network.cost(X, targets), network.parameters[span], epsilon)
            grad = grad_region
        else:
            directions = rng.standard_normal((n_directions, size))
            directions /= np.linalg.norm(directions, axis=1, keepdims=True)
            approx = np.array([_directional_derivative(network, X, targets, epsilon, span, direction)
                               for direction in directions])
            grad = directions @ grad_region
        layers.append({"name": name, "difference": _json_number(relative_difference(approx, grad)),
                       "n_checked": int(approx.size)})
        all_approx.append(approx)
        all_grad.append(grad)
    difference = relative_difference(np.concatenate(all_approx), np.concatenate(all_grad))
    return {"difference": _json_number(difference), "verdict": verdict_for(difference), "layers": layers,
            "method": "coordinates" if by_coordinates else "directions",
            "n_parameters": int(network.parameters.size),
            "n_checked": int(sum(approx.size for approx in all_approx)), "epsilon": epsilon}


def gradient_check(config: dict | RunConfig, epsilon: float = 1e-7, inject_bug: bool = False,
                   max_coordinates: int = DEFAULT_MAX_COORDINATES) -> dict:
    """Check backprop on the config's network at initialization (see the module docstring).

    Returns ``{"difference", "verdict", "layers": [{"name", "difference",
    "n_checked"}], "method", "n_parameters", "n_checked", "epsilon", "init",
    "n_examples", "bug_injected"}``.  Raises ``ConfigError`` for a bad config
    and ValueError for a non-positive or non-finite epsilon.
    """
    config = parse_config(config)
    if not np.isfinite(epsilon) or not 0 < epsilon < 1:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon!r}")
    rng = np.random.default_rng(config.seed)
    dataset = prepare_data(config, rng)
    network = Network.from_config(config.model, dataset.n_features, dataset.n_classes, rng)
    init = config.model.init
    if init == "zeros":
        init = "he"
        network.initialize(init, config.model.init_scale, rng)
    network.keep_probs = [1.0] * len(network.keep_probs)
    network.l2 = config.regularization.l2
    network.l1 = config.regularization.l1
    network.backprop_bug = inject_bug
    n_examples = min(CHECK_EXAMPLES, dataset.X_train.shape[0])
    X = np.ascontiguousarray(dataset.X_train[:n_examples], dtype=np.float64)
    targets = targets_from_labels(dataset.y_train[:n_examples], dataset.n_classes)
    result = check_network(network, X, targets, epsilon, max_coordinates, rng)
    result.update(init=init, n_examples=n_examples, bug_injected=bool(inject_bug))
    return result
