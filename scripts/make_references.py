"""Write the reference values the engine is tested against: PyTorch and scikit-learn, once.

    python scripts/make_references.py

needs PyTorch and scikit-learn (neither is a dependency of the project; use a
separate environment, e.g. ``python -m venv --system-site-packages <dir>`` and
``<dir>/bin/pip install torch scikit-learn``).  It builds every case from
fixed seeds, asks the libraries (``tests/engine/reference_library.py``) for
the answers, and writes ``tests/engine/references/<kind>.json``, which
``tests/engine/test_reference.py`` checks on any machine.  Run it again only
when a case changes; the files say which library versions produced them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's server and tests packages, wherever this runs from

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import sklearn.datasets  # noqa: E402
import torch  # noqa: E402

from server.engine.model import HiddenLayer, Network  # noqa: E402
from tests.engine import reference_library as library  # noqa: E402
from tests.engine.reference_cases import (  # noqa: E402
    REFERENCE_DIRECTORY,
    digits_digest,
    plain,
    scikit_learn_points,
)

VERSIONS = {"torch": torch.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__}

# The tolerances test_reference.py compares with: float64 round-off, never a loose fit.
TOLERANCES = {
    "layers": {"rtol": 1e-12, "atol": 1e-14},
    "networks": {"rtol": 1e-10, "atol": 1e-12},
    "network_steps": {"rtol": 1e-10, "atol": 1e-12},
    "trajectories": {"rtol": 1e-12, "atol": 1e-14},
    "datasets": {"rtol": 0.0, "atol": 1e-12},
    "digits": {"exact": True},
}

ABOUT = {
    "layers": "Each layer kind alone: forward output and every input's gradient for a random upstream "
              "gradient (losses: the mean loss and its gradient); batch norm also its running mean.",
    "networks": "Whole networks in training mode: cost (loss plus L2 and L1 penalties), every parameter's "
                "gradient, and batch norm's running means after the pass.",
    "network_steps": "Parameters after several full-batch steps of each optimizer on a network's cost.",
    "trajectories": "Parameters after each optimizer applies a fixed sequence of gradients.",
    "datasets": "scikit-learn's noise-free, unshuffled make_circles (factor 0.8) and make_moons points.",
    "digits": "A digest of scikit-learn's load_digits (1,797 8x8 images, pixels 0 to 16, and labels).",
}

OPTIMIZERS = {
    "gd": {},
    "momentum": {"beta": 0.8},
    "rmsprop": {"beta": 0.9, "epsilon": 1e-8},
    "adam": {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-8},
}

# A larger epsilon than the network steps', so where it is added shows.
TRAJECTORY_OPTIMIZERS = {
    "gd": {},
    "momentum": {"beta": 0.8},
    "rmsprop": {"beta": 0.8, "epsilon": 1e-6},
    "adam": {"beta1": 0.85, "beta2": 0.99, "epsilon": 1e-6},
}


def layer_cases(rng: np.random.Generator) -> list[dict]:
    cases = [{"id": "affine", "kind": "affine",
              "inputs": {"x": rng.normal(size=(6, 4)), "W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)},
              "upstream": rng.normal(size=(6, 3))}]
    for activation in ("relu", "leaky_relu", "tanh", "sigmoid", "linear"):
        cases.append({"id": activation, "kind": activation, "inputs": {"z": 2 * rng.normal(size=(6, 5))},
                      "upstream": rng.normal(size=(6, 5))})
    batch = {"z": 3 * rng.normal(size=(8, 5)) + 1, "gamma": rng.uniform(0.5, 1.5, 5),
             "beta": rng.normal(size=5), "running_mean": 0.1 * rng.normal(size=5),
             "running_var": rng.uniform(0.5, 2.0, 5)}
    upstream = rng.normal(size=(8, 5))
    cases += [{"id": "batch_norm", "kind": "batch_norm", "inputs": batch, "upstream": upstream},
              {"id": "batch_norm_eval", "kind": "batch_norm_eval", "inputs": batch, "upstream": upstream},
              {"id": "sigmoid_cross_entropy", "kind": "sigmoid_cross_entropy",
               "inputs": {"logits": 3 * rng.normal(size=(7, 1))}, "labels": rng.integers(0, 2, 7)},
              {"id": "softmax_cross_entropy", "kind": "softmax_cross_entropy",
               "inputs": {"logits": 3 * rng.normal(size=(7, 4))}, "labels": rng.integers(0, 4, 7)}]
    return cases


def network_case(case_id: str, hidden: list[HiddenLayer], n_features: int, n_classes: int, l2: float,
                 l1: float, m: int, seed: int, init: str = "he") -> dict:
    """A network at its engine initialization (batch norm's gamma and beta moved off 1 and 0), and a batch."""
    rng = np.random.default_rng(seed)
    network = Network(n_features, hidden, n_classes, init, 0.01, rng)
    for index, gamma in enumerate(network.gammas):
        if gamma is not None:
            gamma[...] = rng.uniform(0.5, 1.5, gamma.shape)
            network.betas[index][...] = rng.normal(size=gamma.shape)
    return {"id": case_id, "n_features": n_features, "n_classes": n_classes, "l2": l2, "l1": l1,
            "hidden": [{"units": layer.units, "activation": layer.activation, "keep_prob": layer.keep_prob,
                        "batch_norm": layer.batch_norm} for layer in hidden],
            "X": rng.normal(size=(m, n_features)), "labels": rng.integers(0, n_classes, size=m),
            "parameters": {name: view.copy() for name, view in network.param_views.items()}}


def network_cases() -> list[dict]:
    return [
        network_case("relu-bn_tanh_3-classes", [HiddenLayer(7, "relu", 1.0, True), HiddenLayer(5, "tanh")],
                     4, 3, 0.0, 0.0, 24, seed=0),
        network_case("leaky_sigmoid-bn_2-classes_l2_l1",
                     [HiddenLayer(6, "leaky_relu"), HiddenLayer(4, "sigmoid", 1.0, True)], 4, 2, 0.3, 0.2, 24,
                     seed=1),
        network_case("linear-bn_10-classes_l2", [HiddenLayer(5, "linear", 1.0, True)], 4, 10, 0.1, 0.0, 24,
                     seed=2),
        network_case("logistic-regression_l2", [], 4, 2, 0.5, 0.0, 24, seed=3),
    ]


def network_step_cases() -> list[dict]:
    cases = []
    for name, hyperparameters in OPTIMIZERS.items():
        case = network_case(f"{name}_6-steps", [HiddenLayer(6, "tanh", 1.0, True), HiddenLayer(4, "relu")],
                            3, 3, 0.2, 0.0, 16, seed=4, init="xavier")
        case.update(optimizer={"name": name, "learning_rate": 0.05, "hyperparameters": hyperparameters},
                    steps=6)
        cases.append(case)
    return cases


def trajectory_cases() -> list[dict]:
    cases = []
    for name, hyperparameters in TRAJECTORY_OPTIMIZERS.items():
        rng = np.random.default_rng(11)
        cases.append({"id": f"{name}_5-steps",
                      "optimizer": {"name": name, "learning_rate": 0.05, "hyperparameters": hyperparameters},
                      "start": [rng.standard_normal((5, 3)), rng.standard_normal(3)],
                      "gradients": [[rng.standard_normal((5, 3)), rng.standard_normal(3)] for _ in range(5)]})
    return cases


def dataset_cases() -> list[dict]:
    cases = []
    for dataset in ("circles", "moons"):
        for n_samples in (201, 60):
            X, y = scikit_learn_points(dataset, n_samples)
            cases.append({"id": f"{dataset}_{n_samples}", "dataset": dataset, "n_samples": n_samples,
                          "expected": {"X": X, "y": y}})
    return cases


def digits_cases() -> list[dict]:
    digits = sklearn.datasets.load_digits()
    return [{"id": "load_digits", "expected": digits_digest(digits.data, digits.target)}]


def with_answers(cases: list[dict], answer) -> list[dict]:
    return [{**case, "expected": answer(case)} for case in cases]


def write(kind: str, cases: list[dict]) -> None:
    """One case a line, so a changed case shows as a changed line."""
    header = {"about": ABOUT[kind], "produced_by": "scripts/make_references.py", "versions": VERSIONS,
              "tolerance": TOLERANCES[kind]}
    fields = [f" {json.dumps(key)}: {json.dumps(value)}" for key, value in header.items()]
    lines = ",\n".join(f"  {json.dumps(case, separators=(',', ':'))}" for case in plain(cases))
    path = REFERENCE_DIRECTORY / f"{kind}.json"
    path.write_text("{\n" + ",\n".join(fields) + ',\n "cases": [\n' + lines + "\n ]\n}\n")
    print(f"{path.relative_to(ROOT)}: {len(cases)} cases")


def main() -> None:
    REFERENCE_DIRECTORY.mkdir(exist_ok=True)
    write("layers", with_answers(layer_cases(np.random.default_rng(2024)), library.layer))
    write("networks", with_answers(network_cases(), library.network))
    write("network_steps", with_answers(network_step_cases(), library.network_steps))
    write("trajectories", with_answers(trajectory_cases(), library.trajectory))
    write("datasets", dataset_cases())
    write("digits", digits_cases())


if __name__ == "__main__":
    main()
