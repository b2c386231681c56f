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

Kinks.  ReLU and leaky ReLU have no derivative at 0 (nor has |w| for L1 at
w = 0).  When the step from theta - eps to theta + eps moves a pre-activation
of the checked batch across 0, the finite difference averages two slopes
and disagrees with backprop although backprop is right: a correct two-layer
ReLU network once read "wrong" (4.9e-3) for one bias coordinate.  Each probe
(a coordinate, or a direction) whose two evaluations change the sign pattern
of any ReLU pre-activation, or cross 0 in an L1-penalized weight, is
therefore left out of the difference and counted in ``kinks`` (overall and
per array); ``note`` then says so in words.

``inject_bug`` breaks backprop on purpose: the check wraps the network's
``backward`` so that the output layer's weight gradient is accumulated twice
(a ``+=`` run twice), a bug every network has a place for, logistic
regression included, and which the check always reports as ``wrong``.  The
model's own backward pass knows nothing of it.
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


KINKED_ACTIVATIONS = ("relu", "leaky_relu")


def inject_backprop_bug(network: Network) -> None:
    """Break ``network.backward`` on this instance: the output layer's dW is accumulated twice."""
    correct_backward = network.backward

    def backward_with_bug(dlogits: np.ndarray, caches: list, m: int) -> None:
        correct_backward(dlogits, caches, m)
        inputs_to_output = caches[-1][0][0]
        network.weight_grads[-1] += inputs_to_output.T @ dlogits

    network.backward = backward_with_bug


class _Probe:
    """The cost at a point and where the kinks of the batch lie there.

    ``signs`` is the sign pattern (z > 0) of every ReLU and leaky-ReLU
    pre-activation of the batch, or None when the network has none.
    """

    def __init__(self, network: Network, X: np.ndarray, targets: np.ndarray):
        self.network, self.X, self.targets = network, X, targets
        self._kinked = [index for index, layer in enumerate(network.hidden)
                        if layer.activation in KINKED_ACTIVATIONS]
        self.base = self.signs()

    def _evaluate(self) -> tuple[float, np.ndarray | None]:
        """``Network.cost`` (training mode, running statistics untouched) and the sign pattern,
        from one forward pass."""
        network = self.network
        logits, caches = network.forward(self.X, True, None, update_running=False)
        loss, _ = network._loss(logits, self.targets, True)
        cost = loss + network.penalty(self.X.shape[0])
        if not self._kinked:
            return cost, None
        # The relu cache is max(z, 0) and the leaky-relu cache z: both are > 0 exactly where z is.
        return cost, np.concatenate([(caches[index][2] > 0).ravel() for index in self._kinked])

    def signs(self) -> np.ndarray | None:
        return self._evaluate()[1]

    def cost_and_kink(self) -> tuple[float, bool]:
        """The cost here, and whether a pre-activation's sign differs from the base point's."""
        cost, signs = self._evaluate()
        return cost, signs is not None and not np.array_equal(signs, self.base)

    def difference_quotient(self, span: slice, step: np.ndarray) -> tuple[float, bool]:
        """(J(theta + step) - J(theta - step)) / 2 for ``parameters[span]``, and whether a kink
        lies between; the parameters are restored exactly afterwards."""
        network = self.network
        region = network.parameters[span]
        original = region.copy()
        region += step
        plus, kink_plus = self.cost_and_kink()
        region[...] = original - step
        minus, kink_minus = self.cost_and_kink()
        region[...] = original
        weights = span.start < network.n_weights
        crosses_l1 = bool(network.l1) and weights and bool(np.any(np.abs(original) < np.abs(step)))
        return (plus - minus) / 2.0, kink_plus or kink_minus or crosses_l1


def _check_array(probe: _Probe, span: slice, grad_region: np.ndarray, epsilon: float,
                 directions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(finite differences, backprop's values, kinks) over the probes of one array, kinked probes
    left out.  ``directions`` (k, size) unit rows, or None for every coordinate."""
    size = span.stop - span.start
    approx, grad, kinks = [], [], 0
    for index in range(size if directions is None else directions.shape[0]):
        if directions is None:
            step = np.zeros(size)
            step[index] = epsilon
            expected = grad_region[index]
        else:
            step = epsilon * directions[index]
            expected = directions[index] @ grad_region
        quotient, kinked = probe.difference_quotient(span, step)
        if kinked:
            kinks += 1
            continue
        approx.append(quotient / epsilon)
        grad.append(expected)
    return np.array(approx), np.array(grad), kinks


def _kink_note(kinks: int, probes: int) -> str | None:
    if not kinks:
        return None
    return (f"{kinks} of {probes} probes stepped across a kink (a ReLU pre-activation, or an "
            "L1-penalized weight, within ε of 0), where the cost has no derivative; they are left "
            "out of the difference.")


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
    probe = _Probe(network, X, targets)
    layers, all_approx, all_grad, total_kinks = [], [], [], 0
    for name, span in network.slices.items():
        directions = None
        if not by_coordinates:
            directions = rng.standard_normal((n_directions, span.stop - span.start))
            directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        approx, grad, kinks = _check_array(probe, span, analytic[span], epsilon, directions)
        # An array whose every probe crossed a kink has nothing to compare: no difference.
        layer_difference = _json_number(relative_difference(approx, grad)) if approx.size else None
        layers.append({"name": name, "difference": layer_difference,
                       "n_checked": int(approx.size), "kinks": kinks})
        all_approx.append(approx)
        all_grad.append(grad)
        total_kinks += kinks
    # The output bias is never at a kink, so something is always compared.
    n_checked = int(sum(approx.size for approx in all_approx))
    difference = relative_difference(np.concatenate(all_approx), np.concatenate(all_grad))
    return {"difference": _json_number(difference), "verdict": verdict_for(difference), "layers": layers,
            "method": "coordinates" if by_coordinates else "directions",
            "n_parameters": int(network.parameters.size), "n_checked": n_checked,
            "kinks": total_kinks, "note": _kink_note(total_kinks, n_checked + total_kinks),
            "epsilon": epsilon}


def gradient_check(config: dict | RunConfig, epsilon: float = 1e-7, inject_bug: bool = False,
                   max_coordinates: int = DEFAULT_MAX_COORDINATES) -> dict:
    """Check backprop on the config's network at initialization (see the module docstring).

    Returns ``{"difference", "verdict", "layers": [{"name", "difference",
    "n_checked", "kinks"}], "method", "n_parameters", "n_checked", "kinks",
    "note", "epsilon", "init", "n_examples", "bug_injected"}``.  Raises ``ConfigError`` for a bad config
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
    if inject_bug:
        inject_backprop_bug(network)
    n_examples = min(CHECK_EXAMPLES, dataset.X_train.shape[0])
    X = np.ascontiguousarray(dataset.X_train[:n_examples], dtype=np.float64)
    targets = targets_from_labels(dataset.y_train[:n_examples], dataset.n_classes)
    result = check_network(network, X, targets, epsilon, max_coordinates, rng)
    result.update(init=init, n_examples=n_examples, bug_injected=bool(inject_bug))
    return result
