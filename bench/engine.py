"""Training speed of the NumPy engine, side by side with PyTorch eager CPU.

    python bench/engine.py [--repeats 7] [--steps 300] [--no-torch]

For each network (same layer sizes, same initial weights, Adam at the same
learning rate, the same mini-batches) it measures

- the time per training step: forward, loss, backward and one Adam update on
  one mini-batch, the median over ``--repeats`` rounds of ``--steps`` steps;
- epochs per second: a whole run of the engine (data, initialization, the
  epochs with reshuffling and mini-batches, the last one partial, and the
  final evaluation) against the bare equivalent PyTorch epoch loop.

The engine and PyTorch take turns within each round, so that a change of
load on a shared machine affects both sides alike, and the ratios are the
medians of the per-round ratios.

BLAS is pinned to one thread for both (the environment variables below are
set before NumPy is imported; ``torch.set_num_threads(1)``), as the service
runs each training run on one thread.  PyTorch is optional: without it only
the engine's figures are printed.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.engine import Trainer, train  # noqa: E402
from server.engine.layers import targets_from_labels  # noqa: E402

SETUPS = [
    {"name": "2-8-8-1, batch 32", "dataset": "moons", "n_samples": 1000, "hidden": [8, 8], "batch": 32},
    {"name": "2-16-16-16-1, batch 64", "dataset": "circles", "n_samples": 1000, "hidden": [16, 16, 16],
     "batch": 64},
    {"name": "64-128-128-10 digits, batch 128", "dataset": "digits", "n_samples": 1797, "hidden": [128, 128],
     "batch": 128},
]
LEARNING_RATE = 0.01


def run_config(setup: dict, epochs: int = 1) -> dict:
    """The setup as a run config: ReLU layers, He initialization, Adam, one report at the end."""
    return {
        "seed": 0,
        "data": {"dataset": setup["dataset"], "n_samples": setup["n_samples"]},
        "model": {"hidden": [{"units": units, "activation": "relu"} for units in setup["hidden"]],
                  "init": "he"},
        "optimizer": {"name": "adam", "learning_rate": LEARNING_RATE},
        "training": {"batch_size": setup["batch"], "epochs": epochs, "report_every": epochs,
                     "boundary_every": 0},
    }


def seconds(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def engine_workloads(setup: dict, steps: int) -> tuple[Callable, Callable, int]:
    """(run ``steps`` training steps, run whole epochs, epochs per call) for the NumPy engine.

    The epochs are a complete run of the engine (data, initialization, the
    epochs, one evaluation and the final events), so they include what a real
    run costs beyond the training steps.
    """
    trainer = Trainer(run_config(setup))
    network, optimizer, dataset = trainer.network, trainer.optimizer, trainer.dataset
    X = dataset.X_train[:setup["batch"]]
    targets = targets_from_labels(dataset.y_train[:setup["batch"]], dataset.n_classes)
    params, grads = [network.parameters], [network.gradients]
    rng = np.random.default_rng(1)
    epochs = max(1, steps // -(-len(dataset.y_train) // setup["batch"]))
    config = run_config(setup, epochs)

    def run_steps():
        for _ in range(steps):
            network.compute_gradients(X, targets, rng, with_loss=True)  # training reports every batch's cost
            optimizer.step(params, grads, LEARNING_RATE)

    def run_epochs():
        for _ in train(config):
            pass

    return run_steps, run_epochs, epochs


def torch_workloads(setup: dict, steps: int, dtype_name: str) -> tuple[Callable, Callable, int]:
    """The same as ``engine_workloads`` for the same network in PyTorch eager mode."""
    import torch

    dtype = getattr(torch, dtype_name)
    trainer = Trainer(run_config(setup))
    network = trainer.network
    layers: list = []
    for index in range(network.n_layers):
        linear = torch.nn.Linear(network.sizes[index], network.sizes[index + 1], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(network.weights[index].T.copy()))
            linear.bias.copy_(torch.from_numpy(network.biases[index].copy()))
        layers.append(linear)
        if index < network.n_layers - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    binary = network.n_classes == 2
    loss_function = torch.nn.BCEWithLogitsLoss() if binary else torch.nn.CrossEntropyLoss()
    X_all = torch.from_numpy(trainer.dataset.X_train).to(dtype)
    y_all = torch.from_numpy(trainer.dataset.y_train)
    y_all = y_all.to(dtype).reshape(-1, 1) if binary else y_all
    batch = setup["batch"]
    X, y = X_all[:batch], y_all[:batch]
    epochs = max(1, steps // -(-X_all.shape[0] // batch))

    def train_step(X_batch, y_batch):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(model(X_batch), y_batch)
        loss.backward()
        optimizer.step()

    def run_steps():
        for _ in range(steps):
            train_step(X, y)

    def run_epochs():
        for _ in range(epochs):
            order = torch.randperm(X_all.shape[0])
            X_epoch, y_epoch = X_all[order], y_all[order]
            for start in range(0, X_all.shape[0], batch):
                train_step(X_epoch[start:start + batch], y_epoch[start:start + batch])

    return run_steps, run_epochs, epochs


def measure(setup: dict, steps: int, repeats: int, with_torch: bool) -> dict:
    """Median figures, the workloads interleaved round by round so that a change of load on a
    shared machine hits every column alike; ratios are medians of the per-round ratios."""
    workloads = {"engine": engine_workloads(setup, steps)}
    if with_torch:
        workloads["torch32"] = torch_workloads(setup, steps, "float32")
        workloads["torch64"] = torch_workloads(setup, steps, "float64")
    for run_steps, run_epochs, _ in workloads.values():
        run_steps()
        run_epochs()
    step_times = {name: [] for name in workloads}
    epoch_times = {name: [] for name in workloads}
    for _ in range(repeats):
        for name, (run_steps, run_epochs, epochs) in workloads.items():
            step_times[name].append(seconds(run_steps) / steps)
            epoch_times[name].append(seconds(run_epochs) / epochs)
    figures = {f"{name} step": statistics.median(times) for name, times in step_times.items()}
    figures["engine epochs/s"] = 1.0 / statistics.median(epoch_times["engine"])
    if with_torch:
        figures["torch epochs/s"] = 1.0 / statistics.median(epoch_times["torch32"])
        figures["ratio step"] = statistics.median(
            ours / min(t32, t64) for ours, t32, t64 in
            zip(step_times["engine"], step_times["torch32"], step_times["torch64"], strict=True))
        figures["ratio epoch"] = statistics.median(
            ours / theirs for ours, theirs in zip(epoch_times["engine"], epoch_times["torch32"], strict=True))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="measurements per figure (median)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per measurement")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args()

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: engine figures only.")
    if torch is not None:
        torch.set_num_threads(1)
    print(f"numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else "")
          + f"; BLAS threads 1; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
          f"median of {args.repeats} x {args.steps} steps")
    header = f"{'network':34} {'engine us/step':>14} {'epochs/s':>9}"
    if torch:
        header += (f" {'torch32 us/step':>15} {'torch64 us/step':>15} {'epochs/s':>9}"
                   f" {'ratio step':>10} {'ratio epoch':>11}")
    print(header)
    for setup in SETUPS:
        figures = measure(setup, args.steps, args.repeats, torch is not None)
        line = f"{setup['name']:34} {figures['engine step'] * 1e6:14.1f} {figures['engine epochs/s']:9.1f}"
        if torch:
            line += (f" {figures['torch32 step'] * 1e6:15.1f} {figures['torch64 step'] * 1e6:15.1f}"
                     f" {figures['torch epochs/s']:9.1f} {figures['ratio step']:10.2f}"
                     f" {figures['ratio epoch']:11.2f}")
        print(line, flush=True)
    if torch:
        print("ratio step = engine time per step / the faster PyTorch dtype's; ratio epoch = engine "
              "epoch time / PyTorch float32 epoch time; medians of per-round ratios (lower is better).")


if __name__ == "__main__":
    main()
