"""The reference libraries' answers for the reference cases: PyTorch and scikit-learn.

Written independently of the engine, from each case's plain data (arrays and
names), in float64.  ``scripts/make_references.py`` stores these answers in
``tests/engine/references/``; ``test_reference.py`` also asks this module
live when PyTorch is installed.  Importing it needs PyTorch.

Where the libraries' conventions differ from the course's, the case is mapped
onto the library, never the engine onto the library:

- torch's SGD momentum accumulates ``buf = beta * buf + g`` (the first buf is
  g): that is the course's averaged ``v`` divided by ``1 - beta``, so a
  learning rate of ``lr * (1 - beta)`` gives the same steps.
- torch's batch norm ``momentum`` weighs the new statistic (0.1), the
  engine's ``BATCH_NORM_MOMENTUM`` the old one (0.9).  torch keeps the
  unbiased running variance, the engine the biased one, so only running means
  are compared.
"""

from __future__ import annotations

import numpy as np
import torch

from server.engine.layers import BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, LEAKY_SLOPE

functional = torch.nn.functional

ACTIVATIONS = {
    "relu": torch.relu,
    "leaky_relu": lambda z: functional.leaky_relu(z, LEAKY_SLOPE),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": lambda z: z,
}


def tensor(array, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(array, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def numpy(value: torch.Tensor) -> np.ndarray:
    return value.detach().numpy().copy()


# --- single layers and losses ----------------------------------------------------------------


def _loss(kind: str, logits: torch.Tensor, labels: np.ndarray) -> torch.Tensor:
    if kind == "sigmoid_cross_entropy":
        return functional.binary_cross_entropy_with_logits(logits, tensor(labels).reshape(-1, 1))
    return functional.cross_entropy(logits, torch.from_numpy(np.asarray(labels)))


def layer(case: dict) -> dict[str, np.ndarray]:
    """Forward output ``out`` and the gradient of every input (``d<name>``) for one layer case.

    ``case``: ``kind`` (affine, an activation name, batch_norm, batch_norm_eval,
    sigmoid_cross_entropy, softmax_cross_entropy), ``inputs`` (arrays by name),
    ``upstream`` (the gradient arriving at ``out``; absent for the losses, whose
    ``out`` is the scalar mean loss) and, for losses, integer ``labels``.
    """
    kind = case["kind"]
    inputs = {name: tensor(value, grad=True) for name, value in case["inputs"].items()
              if not name.startswith("running_")}
    results: dict[str, np.ndarray] = {}
    if kind == "affine":
        out = inputs["x"] @ inputs["W"] + inputs["b"]
    elif kind in ACTIVATIONS:
        out = ACTIVATIONS[kind](inputs["z"])
    elif kind in ("batch_norm", "batch_norm_eval"):
        running = (tensor(case["inputs"]["running_mean"]), tensor(case["inputs"]["running_var"]))
        out = functional.batch_norm(inputs["z"], *running, inputs["gamma"], inputs["beta"],
                                    training=kind == "batch_norm", momentum=1 - BATCH_NORM_MOMENTUM,
                                    eps=BATCH_NORM_EPSILON)
        if kind == "batch_norm":
            results["running_mean"] = numpy(running[0])
    else:
        out = _loss(kind, inputs["logits"], np.asarray(case["labels"]))
    out.backward(tensor(case["upstream"]) if "upstream" in case else None)
    results["out"] = numpy(out)
    for name, value in inputs.items():
        if value.grad is not None:
            results[f"d{name}"] = value.grad.numpy().copy()
    return results


# --- whole networks --------------------------------------------------------------------------


def network_cost(case: dict, params: dict[str, torch.Tensor], running: dict) -> torch.Tensor:
    """The training-mode cost of a network case: data loss plus the L2 and L1 penalties on weights."""
    a = tensor(case["X"])
    hidden = case["hidden"]
    for index, spec in enumerate(hidden, start=1):
        z = a @ params[f"W{index}"]
        if spec["batch_norm"]:
            mean, var = running[index]
            z = functional.batch_norm(z, mean, var, params[f"gamma{index}"], params[f"beta{index}"],
                                      training=True, momentum=1 - BATCH_NORM_MOMENTUM, eps=BATCH_NORM_EPSILON)
        else:
            z = z + params[f"b{index}"]
        a = ACTIVATIONS[spec["activation"]](z)
    last = len(hidden) + 1
    logits = a @ params[f"W{last}"] + params[f"b{last}"]
    kind = "sigmoid_cross_entropy" if case["n_classes"] == 2 else "softmax_cross_entropy"
    loss = _loss(kind, logits, np.asarray(case["labels"]))
    m = len(case["labels"])
    weights = [params[f"W{index}"] for index in range(1, last + 1)]
    loss = loss + case["l2"] / (2 * m) * sum((W ** 2).sum() for W in weights)
    return loss + case["l1"] / (2 * m) * sum(W.abs().sum() for W in weights)


def _network_state(case: dict) -> tuple[dict[str, torch.Tensor], dict]:
    params = {name: tensor(value, grad=True) for name, value in case["parameters"].items()}
    running = {index: (torch.zeros(spec["units"], dtype=torch.float64),
                       torch.ones(spec["units"], dtype=torch.float64))
               for index, spec in enumerate(case["hidden"], start=1) if spec["batch_norm"]}
    return params, running


def network(case: dict) -> dict:
    """``cost``, ``gradients`` by parameter name, and batch norm's ``running_means`` after one pass."""
    params, running = _network_state(case)
    cost = network_cost(case, params, running)
    cost.backward()
    return {"cost": cost.item(),
            "gradients": {name: value.grad.numpy().copy() for name, value in params.items()},
            "running_means": {str(index): numpy(mean) for index, (mean, _) in running.items()}}


def torch_optimizer(spec: dict, tensors: list[torch.Tensor]) -> torch.optim.Optimizer:
    """The torch optimizer taking the same steps as the engine's ``spec["name"]`` (see the module doc)."""
    rate, hyper = spec["learning_rate"], spec["hyperparameters"]
    if spec["name"] == "gd":
        return torch.optim.SGD(tensors, lr=rate)
    if spec["name"] == "momentum":
        return torch.optim.SGD(tensors, lr=rate * (1 - hyper["beta"]), momentum=hyper["beta"])
    if spec["name"] == "rmsprop":
        return torch.optim.RMSprop(tensors, lr=rate, alpha=hyper["beta"], eps=hyper["epsilon"])
    if spec["name"] == "adam":
        return torch.optim.Adam(tensors, lr=rate, betas=(hyper["beta1"], hyper["beta2"]),
                                eps=hyper["epsilon"])
    raise ValueError(f"unknown optimizer {spec['name']!r}")


def network_steps(case: dict) -> dict[str, np.ndarray]:
    """The parameters after ``case["steps"]`` optimizer steps on the network's full-batch cost."""
    params, running = _network_state(case)
    optimizer = torch_optimizer(case["optimizer"], list(params.values()))
    for _ in range(case["steps"]):
        optimizer.zero_grad()
        network_cost(case, params, running).backward()
        optimizer.step()
    return {name: numpy(value) for name, value in params.items()}


def trajectory(case: dict) -> list[np.ndarray]:
    """The parameters after applying ``case["gradients"]`` (one list per step) from ``case["start"]``."""
    tensors = [tensor(array, grad=True) for array in case["start"]]
    optimizer = torch_optimizer(case["optimizer"], tensors)
    for step in case["gradients"]:
        for value, grad in zip(tensors, step, strict=True):
            value.grad = tensor(grad)
        optimizer.step()
    return [numpy(value) for value in tensors]
