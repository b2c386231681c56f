"""The engine against PyTorch and scikit-learn in float64: layers, networks, optimizers, data.

Every case is checked against the libraries' answers stored in
``tests/engine/references/`` (written once by ``scripts/make_references.py``),
so a machine without PyTorch runs every check; where PyTorch is installed
each case is also checked against PyTorch live (the ``pytorch`` cases), and
scikit-learn, a test dependency, is always asked live.  Each file carries the
tolerance its cases are compared with: float64 round-off (relative 1e-10 to
1e-12), never a loose fit.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from server.engine import layers
from server.engine.data import load_digits
from server.engine.model import HiddenLayer, Network
from server.engine.optimizers import Adam, GradientDescent, Momentum, RMSprop
from tests.engine.reference_cases import KINDS, TORCH_INSTALLED, digits_digest, load, scikit_learn_points
from tests.engine.test_data import all_points, raw, sorted_rows

STORED = {kind: load(kind) for kind in KINDS}
OPTIMIZERS = {"gd": GradientDescent, "momentum": Momentum, "rmsprop": RMSprop, "adam": Adam}
# scikit-learn is a test dependency: asked live everywhere.  PyTorch only where it is installed.
LIVE = {"pytorch": TORCH_INSTALLED, "scikit-learn": True}
LOSSES = {"sigmoid_cross_entropy": (layers.sigmoid_cross_entropy, 2),
          "softmax_cross_entropy": (layers.softmax_cross_entropy, None)}


def cases(kind: str, live: str = "pytorch"):
    """``(case, source)`` for every stored case: from the stored file, and live where the library is."""
    sources = ["stored"] + ([live] if LIVE[live] else [])
    return [pytest.param(case, source, id=f"{case['id']}-{source}")
            for case in STORED[kind]["cases"] for source in sources]


def expected(kind: str, case: dict, source: str, answer: str):
    """The reference answer for ``case``: stored, or computed now by ``reference_library.<answer>``."""
    if source == "stored":
        return case["expected"]
    library = importlib.import_module("tests.engine.reference_library")
    return getattr(library, answer)(case)


def assert_close(kind: str, actual, reference, what: str) -> None:
    np.testing.assert_allclose(actual, np.asarray(reference, dtype=np.float64), err_msg=what,
                               **STORED[kind]["tolerance"])


# --- single layers and losses ----------------------------------------------------------------


def engine_layer(case: dict) -> dict[str, np.ndarray]:
    """The engine's forward output and input gradients, named like ``reference_library.layer``'s."""
    kind = case["kind"]
    inputs = {name: np.array(value, dtype=np.float64) for name, value in case["inputs"].items()}
    upstream = np.array(case.get("upstream", 0.0), dtype=np.float64)
    if kind == "affine":
        out, cache = layers.affine_forward(inputs["x"], inputs["W"], inputs["b"])
        dx, dW, db = layers.affine_backward(upstream, cache)
        return {"out": out, "dx": dx, "dW": dW, "db": db}
    if kind in layers.ACTIVATIONS:
        activation = layers.ACTIVATIONS[kind]
        out, cache = activation.forward(inputs["z"])
        return {"out": out, "dz": activation.backward(upstream, cache)}
    if kind in ("batch_norm", "batch_norm_eval"):
        training = kind == "batch_norm"
        out, cache = layers.batchnorm_forward(inputs["z"], inputs["gamma"], inputs["beta"],
                                              inputs["running_mean"], inputs["running_var"], training)
        if not training:
            return {"out": out}
        dz, dgamma, dbeta = layers.batchnorm_backward(upstream, cache)
        return {"out": out, "dz": dz, "dgamma": dgamma, "dbeta": dbeta,
                "running_mean": inputs["running_mean"]}
    loss, n_classes = LOSSES[kind]
    logits = inputs["logits"]
    targets = layers.targets_from_labels(np.array(case["labels"]), n_classes or logits.shape[1])
    value, dlogits = loss(logits, targets)
    return {"out": value, "dlogits": dlogits}


@pytest.mark.parametrize(("case", "source"), cases("layers"))
def test_each_layer_forward_and_backward_match_pytorch(case, source):
    reference = expected("layers", case, source, "layer")
    ours = engine_layer(case)
    assert set(ours) <= set(reference)
    for name, value in ours.items():
        assert_close("layers", value, reference[name], f"{case['id']}: {name}")


# --- whole networks --------------------------------------------------------------------------


def engine_network(case: dict) -> tuple[Network, np.ndarray, np.ndarray]:
    """The case's network with its stored parameters, its batch and the batch's targets."""
    hidden = [HiddenLayer(spec["units"], spec["activation"], spec["keep_prob"], spec["batch_norm"])
              for spec in case["hidden"]]
    network = Network(case["n_features"], hidden, case["n_classes"], "he", 0.01, np.random.default_rng(0))
    assert set(network.param_views) == set(case["parameters"])
    for name, value in case["parameters"].items():
        network.param_views[name][...] = value
    network.l2, network.l1 = case["l2"], case["l1"]
    targets = layers.targets_from_labels(np.array(case["labels"]), case["n_classes"])
    return network, np.array(case["X"], dtype=np.float64), targets


@pytest.mark.parametrize(("case", "source"), cases("networks"))
def test_network_cost_and_gradients_match_pytorch(case, source):
    reference = expected("networks", case, source, "network")
    network, X, targets = engine_network(case)
    cost = network.compute_gradients(X, targets, None, with_loss=True)
    assert_close("networks", cost, reference["cost"], "cost")
    for name, gradient in reference["gradients"].items():
        assert_close("networks", network.grad_views[name], gradient, name)
    assert len(reference["running_means"]) == sum(spec["batch_norm"] for spec in case["hidden"])
    for index, mean in reference["running_means"].items():
        assert_close("networks", network.running_means[int(index) - 1], mean, f"running mean {index}")


def engine_optimizer(spec: dict):
    return OPTIMIZERS[spec["name"]](**spec["hyperparameters"])


@pytest.mark.parametrize(("case", "source"), cases("network_steps"))
def test_optimizer_steps_on_a_network_match_pytorch(case, source):
    reference = expected("network_steps", case, source, "network_steps")
    network, X, targets = engine_network(case)
    optimizer = engine_optimizer(case["optimizer"])
    for _ in range(case["steps"]):
        network.compute_gradients(X, targets, None)
        optimizer.step([network.parameters], [network.gradients], case["optimizer"]["learning_rate"])
    for name, value in reference.items():
        assert_close("network_steps", network.param_views[name], value, name)


@pytest.mark.parametrize(("case", "source"), cases("trajectories"))
def test_several_optimizer_steps_match_pytorch(case, source):
    reference = expected("trajectories", case, source, "trajectory")
    params = [np.array(value, dtype=np.float64) for value in case["start"]]
    optimizer = engine_optimizer(case["optimizer"])
    for step in case["gradients"]:
        optimizer.step(params, [np.array(grad, dtype=np.float64) for grad in step],
                       case["optimizer"]["learning_rate"])
    for index, (param, value) in enumerate(zip(params, reference, strict=True)):
        assert_close("trajectories", param, value, f"parameter {index}")


# --- data generators -------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "source"), cases("datasets", live="scikit-learn"))
def test_circles_and_moons_match_scikit_learn(case, source):
    if source == "stored":
        theirs = (np.array(case["expected"]["X"]), np.array(case["expected"]["y"]))
    else:
        theirs = scikit_learn_points(case["dataset"], case["n_samples"])
    X, y = theirs
    ours, our_labels = all_points(raw(dataset=case["dataset"], n_samples=case["n_samples"], noise=0.0))
    assert np.bincount(our_labels).tolist() == np.bincount(y).tolist()
    if case["dataset"] == "circles":  # the same rings; which one is class 0 is the engine's choice
        assert_close("datasets", sorted_rows(ours), sorted_rows(X), "points")
    else:
        for label in (0, 1):
            assert_close("datasets", sorted_rows(ours[our_labels == label]), sorted_rows(X[y == label]),
                         f"class {label}")


@pytest.mark.parametrize(("case", "source"), cases("digits", live="scikit-learn"))
def test_the_shipped_digits_are_scikit_learns_load_digits(case, source):
    X, y = load_digits()
    if source == "stored":
        assert digits_digest(X, y) == case["expected"]
    else:
        from sklearn import datasets

        digits = datasets.load_digits()
        np.testing.assert_array_equal(X, digits.data)
        np.testing.assert_array_equal(y, digits.target)
