"""The engine against PyTorch in float64: forward, backward and optimizer steps agree to ~1e-10.

Skipped when PyTorch is not installed (it is not a dependency of the project).
"""

import numpy as np
import pytest

from server.engine.layers import BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, targets_from_labels
from server.engine.model import HiddenLayer, Network
from server.engine.optimizers import Adam, RMSprop

torch = pytest.importorskip("torch")
functional = torch.nn.functional

TORCH_ACTIVATIONS = {
    "relu": torch.relu,
    "leaky_relu": lambda z: functional.leaky_relu(z, 0.01),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": lambda z: z,
}


def torch_parameters(network):
    """Leaf tensors sharing the network's current values, by name."""
    return {name: torch.tensor(view.copy(), dtype=torch.float64, requires_grad=True)
            for name, view in network.param_views.items()}


def torch_cost(network, params, X, labels, running):
    """The network's training-mode cost, written independently with torch operations."""
    a = torch.from_numpy(X)
    for index, layer in enumerate(network.hidden, start=1):
        z = a @ params[f"W{index}"]
        if layer.batch_norm:
            mean, var = running[index]
            z = functional.batch_norm(z, mean, var, params[f"gamma{index}"], params[f"beta{index}"],
                                      training=True, momentum=1 - BATCH_NORM_MOMENTUM, eps=BATCH_NORM_EPSILON)
        else:
            z = z + params[f"b{index}"]
        a = TORCH_ACTIVATIONS[layer.activation](z)
    last = network.n_layers
    logits = a @ params[f"W{last}"] + params[f"b{last}"]
    if network.n_classes == 2:
        loss = functional.binary_cross_entropy_with_logits(
            logits, torch.from_numpy(labels.astype(np.float64)).reshape(-1, 1))
    else:
        loss = functional.cross_entropy(logits, torch.from_numpy(labels))
    m = X.shape[0]
    weights = [params[f"W{index}"] for index in range(1, last + 1)]
    loss = loss + network.l2 / (2 * m) * sum((W ** 2).sum() for W in weights)
    return loss + network.l1 / (2 * m) * sum(W.abs().sum() for W in weights)


def running_buffers(network):
    return {index + 1: (torch.zeros(size, dtype=torch.float64), torch.ones(size, dtype=torch.float64))
            for index, size in enumerate(network.sizes[1:-1]) if network.batch_norm[index]}


CASES = [
    ([HiddenLayer(7, "relu", 1.0, True), HiddenLayer(5, "tanh")], 3, 0.0, 0.0),
    ([HiddenLayer(6, "leaky_relu"), HiddenLayer(4, "sigmoid", 1.0, True)], 2, 0.3, 0.2),
    ([HiddenLayer(5, "linear", 1.0, True)], 10, 0.1, 0.0),
    ([], 2, 0.5, 0.0),
]


@pytest.mark.parametrize(("hidden", "n_classes", "l2", "l1"), CASES)
def test_forward_and_backward_match_pytorch(hidden, n_classes, l2, l1):
    rng = np.random.default_rng(0)
    network = Network(4, hidden, n_classes, "he", 0.01, rng)
    network.l2, network.l1 = l2, l1
    for index, gamma in enumerate(network.gammas):
        if gamma is not None:  # move gamma and beta off their initial values to exercise them
            gamma[...] = rng.uniform(0.5, 1.5, gamma.shape)
            network.betas[index][...] = rng.normal(size=gamma.shape)
    X = rng.normal(size=(24, 4))
    labels = rng.integers(0, n_classes, size=24)

    params = torch_parameters(network)
    running = running_buffers(network)
    expected_cost = torch_cost(network, params, X, labels, running)
    expected_cost.backward()

    cost = network.compute_gradients(X, targets_from_labels(labels, n_classes), None, with_loss=True)
    assert cost == pytest.approx(expected_cost.item(), rel=1e-12)
    for name, tensor in params.items():
        np.testing.assert_allclose(network.grad_views[name], tensor.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    for index, (mean, _) in running.items():
        np.testing.assert_allclose(network.running_means[index - 1], mean.numpy(), rtol=1e-12)


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda: Adam(beta1=0.8, beta2=0.99, epsilon=1e-8),
     lambda params: torch.optim.Adam(params, lr=0.05, betas=(0.8, 0.99), eps=1e-8)),
    (lambda: RMSprop(beta=0.9, epsilon=1e-8),
     lambda params: torch.optim.RMSprop(params, lr=0.05, alpha=0.9, eps=1e-8)),
])
def test_optimizer_steps_match_pytorch(ours, theirs):
    rng = np.random.default_rng(1)
    network = Network(3, [HiddenLayer(6, "tanh", 1.0, True), HiddenLayer(4, "relu")], 3, "xavier", 0.01, rng)
    network.l2 = 0.2
    X = rng.normal(size=(16, 3))
    labels = rng.integers(0, 3, size=16)
    targets = targets_from_labels(labels, 3)

    params = torch_parameters(network)
    running = running_buffers(network)
    torch_optimizer = theirs(list(params.values()))
    optimizer = ours()
    for _ in range(6):
        torch_optimizer.zero_grad()
        torch_cost(network, params, X, labels, running).backward()
        torch_optimizer.step()
        network.compute_gradients(X, targets, None)
        optimizer.step([network.parameters], [network.gradients], 0.05)
    for name, tensor in params.items():
        np.testing.assert_allclose(network.param_views[name], tensor.detach().numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=name)
