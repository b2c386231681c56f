"""A trained network as data (JSON) and as a self-contained PyTorch file.

``network_state(network, dataset)`` takes the arrays out of a ``Network``
(copies, NumPy) with the input normalization and the architecture;
``state_as_json`` makes that JSON-ready and ``pytorch_source`` writes a
Python file that defines ``model`` (a ``torch.nn.Module`` returning logits,
in float64, in evaluation mode) and ``normalize(X)``.

Layout of one layer: ``z = x @ W + b`` with ``W`` of shape (n_in, n_out)
(PyTorch's ``nn.Linear`` keeps the transpose); a batch-normalized layer has no
``b`` and computes ``gamma * (z - running_mean) / sqrt(running_var + epsilon) +
beta`` at evaluation; then the activation, then (training only) inverted
dropout with ``keep_prob``.  The output layer is one sigmoid unit for two
classes (class 1 where the logit is above 0) or a softmax over the classes.
Floats are written with ``repr``, so every weight reads back bit for bit.
"""

from __future__ import annotations

import numpy as np

from server.engine.data import Dataset, uploaded_table
from server.engine.layers import BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, LEAKY_SLOPE
from server.engine.model import Network

FORMAT = "tuning-playground/model"
VERSION = 1

_TORCH_ACTIVATIONS = {"relu": "nn.ReLU()", "leaky_relu": f"nn.LeakyReLU({LEAKY_SLOPE!r})",
                      "tanh": "nn.Tanh()", "sigmoid": "nn.Sigmoid()", "linear": "nn.Identity()"}


def network_state(network: Network, dataset: Dataset, classes: list | None = None,
                  features: list[str] | None = None) -> dict:
    """The network's weights (NumPy copies), normalization and architecture."""
    layers = []
    for index in range(network.n_layers):
        hidden = network.hidden[index] if index < len(network.hidden) else None
        batch_norm = None
        if network.batch_norm[index]:
            batch_norm = {"gamma": network.gammas[index].copy(), "beta": network.betas[index].copy(),
                          "running_mean": network.running_means[index].copy(),
                          "running_var": network.running_vars[index].copy(),
                          "epsilon": BATCH_NORM_EPSILON, "momentum": BATCH_NORM_MOMENTUM}
        bias = network.biases[index]
        layers.append({
            "units": network.sizes[index + 1], "W": network.weights[index].copy(),
            "b": None if bias is None else bias.copy(), "batch_norm": batch_norm,
            "activation": hidden.activation if hidden else None,
            "keep_prob": network.keep_probs[index] if hidden else 1.0})
    return {
        "format": FORMAT, "version": VERSION, "dataset": dataset.name,
        "n_features": network.n_features, "n_classes": network.n_classes,
        "classes": list(classes) if classes is not None else list(range(network.n_classes)),
        "features": (list(features) if features is not None
                     else [f"x{i + 1}" for i in range(network.n_features)]),
        "output": "sigmoid" if network.n_classes == 2 else "softmax",
        "normalization": {"mean": dataset.mean.copy(), "std": dataset.std.copy()},
        "layers": layers,
    }


def data_labels(dataset: str) -> tuple[list | None, list[str] | None]:
    """An upload's class labels and feature names (None, None for the built-in sets)."""
    if not dataset.startswith("upload:"):
        return None, None
    upload = uploaded_table(dataset)
    return list(upload.classes), list(upload.features)


def state_nbytes(state: dict) -> int:
    """The bytes of the state's arrays (what keeping it costs)."""
    total = state["normalization"]["mean"].nbytes * 2
    for layer in state["layers"]:
        total += layer["W"].nbytes + (0 if layer["b"] is None else layer["b"].nbytes)
        if layer["batch_norm"]:
            total += 4 * layer["batch_norm"]["gamma"].nbytes
    return total


def state_as_json(state: dict) -> dict:
    """The state with every array as (nested) lists of floats."""
    def plain(value):
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    return plain(state)


def _torch_layers(state: dict) -> tuple[list[str], list[tuple[str, object]]]:
    """The ``nn.Sequential`` modules (as source) and the state-dict entries (name, array or None)."""
    modules, tensors = [], []
    inputs = state["n_features"]
    for layer in state["layers"]:
        position = len(modules)
        has_bias = layer["b"] is not None
        modules.append(f"nn.Linear({inputs}, {layer['units']}, bias={has_bias})")
        tensors.append((f"layers.{position}.weight", np.asarray(layer["W"]).T))
        if has_bias:
            tensors.append((f"layers.{position}.bias", layer["b"]))
        norm = layer["batch_norm"]
        if norm:
            position = len(modules)
            # Ours: running = beta * running + (1 - beta) * batch; PyTorch weighs the batch by momentum.
            modules.append(f"nn.BatchNorm1d({layer['units']}, eps={norm['epsilon']!r}, "
                           f"momentum={round(1.0 - norm['momentum'], 12)!r})")
            for ours, theirs in (("gamma", "weight"), ("beta", "bias"), ("running_mean", "running_mean"),
                                 ("running_var", "running_var")):
                tensors.append((f"layers.{position}.{theirs}", norm[ours]))
            tensors.append((f"layers.{position}.num_batches_tracked", None))
        if layer["activation"]:
            modules.append(_TORCH_ACTIVATIONS[layer["activation"]])
            if layer["keep_prob"] < 1.0:
                modules.append(f"nn.Dropout(p={round(1.0 - layer['keep_prob'], 12)!r})")
        inputs = layer["units"]
    return modules, tensors


def pytorch_source(state: dict, title: str = "") -> str:
    """A Python file defining ``model``, ``normalize(X)``, ``predict(X)`` and ``CLASSES``."""
    modules, tensors = _torch_layers(state)
    norm = state["normalization"]
    lines = [
        f'"""{title or "A network trained in Tuning Playground"}: {state["dataset"]}, '
        f'{state["n_features"]} features, {state["n_classes"]} classes.',
        "",
        "model(torch.tensor(normalize(X_raw))) returns the logits, float64, in evaluation mode:",
        "one per example for two classes (class 1 where it is above 0), else one per class.",
        "Batch norm: PyTorch's momentum is 1 - the playground's running-average beta; PyTorch",
        "updates running_var with the unbiased batch variance where the playground uses the",
        "biased one, which matters only if you train further.",
        '"""',
        "import numpy as np",
        "import torch",
        "from torch import nn",
        "",
        f"CLASSES = {state['classes']!r}",
        f"FEATURES = {state['features']!r}",
        f"MEAN = np.array({_literal(norm['mean'])}, dtype=np.float64)",
        f"STD = np.array({_literal(norm['std'])}, dtype=np.float64)",
        "",
        "",
        "def normalize(X):",
        '    """Raw inputs (m, n_features) as the network takes them: (X - MEAN) / STD."""',
        "    return (np.asarray(X, dtype=np.float64) - MEAN) / STD",
        "",
        "",
        "class Network(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
        "        self.layers = nn.Sequential(",
        *(f"            {module}," for module in modules),
        "        )",
        "",
        "    def forward(self, x):",
        "        return self.layers(x)",
        "",
        "",
        "def predict(X):",
        '    """Class indices (m,) for raw inputs X (m, n_features); CLASSES[i] is the label."""',
        "    with torch.no_grad():",
        "        logits = model(torch.tensor(normalize(X)))",
        "    if logits.shape[1] == 1:",
        "        return (logits[:, 0] > 0).long().numpy()",
        "    return logits.argmax(dim=1).numpy()",
        "",
        "",
        "_STATE = {",
        *(f"    {name!r}: {_tensor(value)}," for name, value in tensors),
        "}",
        "model = Network().double()",
        "model.load_state_dict(_STATE)",
        "model.eval()",
        "",
    ]
    return "\n".join(lines)


def _literal(array) -> str:
    return repr(np.asarray(array, dtype=np.float64).tolist())


def _tensor(value) -> str:
    if value is None:
        return "torch.tensor(0, dtype=torch.long)"
    return f"torch.tensor({_literal(value)}, dtype=torch.float64)"
