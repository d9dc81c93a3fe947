"""``python -m lrtune.bench``: trials per minute of the usual Optuna + PyTorch loop against lrtune's.

One run measures, side by side, on the same task and the same number of trials (same model,
epochs, batch size, optimizer, search space, sampler and pruner):

1. ``baseline`` — what a user writes for that data, one trial at a time through
   ``study.optimize``: a ``DataLoader`` over a ``TensorDataset`` for array data (mnist1d, digits,
   generated tensors), the official Optuna PyTorch example's torchvision per-item path for image
   datasets read from files (``--baseline auto``, the default; see :data:`BASELINE_DATASETS`);
2. ``lrtune`` — lrtune unfused (``--fuse 1``): :class:`lrtune.objective.Objective` on in-memory tensors;
3. ``fused`` — lrtune's default: :func:`lrtune.objective.run_fused_trials`, K trials per stack, each
   member with its own seed and batch order, K measured at start-up as ``lrtune.study`` does
   (:mod:`lrtune.group_size`) unless ``--fuse K``.

For each it prints trials per minute, model-epochs per second (a pruned trial's epochs count as
run), both as ratios to the baseline, the best final validation accuracy, and the time of one
model-epoch as a multiple of the **compute floor**: the model's training FLOPs per epoch
(3 × forward FLOPs of the Linear/Conv layers, counted from the layer shapes, × training examples)
over a float32 matmul rate measured in the same run (a 2048² matmul at lrtune's thread count).
For the fused path it also replays the same trials unpruned and reports the epochs pruning saved
and whether the best unpruned trial had been pruned.

Tasks (``--tasks``): ``digits`` (MLP), ``mnist1d`` (the default task, cnn1d) and ``mnist-like``
(an MNIST-sized MLP on generated 28×28 data: 10 random class templates, shifted, rescaled, noised;
60 000 train+validation and 10 000 test examples). ``verdict`` (not in the default list) times the
README's search + confirmation end to end, unfused vs default (:mod:`lrtune.bench_verdict`).
``--quick`` shrinks everything for the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import optuna
import torch
import torch.nn.functional as F
from torch import nn

from lrtune import __version__
from lrtune.config import TaskConfig
from lrtune.data import Dataset, load_dataset
from lrtune.models import build_model

__all__ = ["TASKS", "BenchTask", "compute_floor", "forward_flops", "main", "make_mnist_like", "matmul_gflops"]

PROG = "lrtune.bench"
PATHS = ("baseline", "lrtune", "fused")
_DEFAULT_TORCH_THREADS = torch.get_num_threads()  # what the official example runs with


@dataclass(frozen=True)
class BenchTask:
    """One benchmark task: what to train and how many trials (full and ``--quick`` sizes)."""

    name: str
    dataset: str  # lrtune dataset name, or "mnist-like" (generated here)
    model: str
    epochs: int
    trials: int
    fuse: int
    quick_epochs: int = 2
    quick_trials: int = 4
    quick_fuse: int = 2
    examples: int | None = None  # generated datasets: train+val examples
    quick_examples: int | None = None
    description: str = ""


TASKS: dict[str, BenchTask] = {
    "digits": BenchTask(
        "digits",
        "digits",
        "mlp",
        epochs=15,
        trials=48,
        fuse=8,
        description="scikit-learn digits, MLP 64-256-256-10",
    ),
    "mnist1d": BenchTask(
        "mnist1d",
        "mnist1d",
        "cnn1d",
        epochs=15,
        trials=16,
        fuse=8,
        description="mnist1d (the default task), cnn1d",
    ),
    "mnist-like": BenchTask(
        "mnist-like",
        "mnist-like",
        "mlp",
        epochs=5,
        trials=8,
        fuse=8,
        examples=60_000,
        quick_examples=2_000,
        description="generated 28x28, 10 classes, MLP 784-256-256-10",
    ),
}


# ----------------------------------------------------------------------------------- data


def make_mnist_like(
    *,
    n: int = 60_000,
    n_test: int = 10_000,
    seed: int = 0,
    val_fraction: float = 0.1,
    device: str | torch.device = "cpu",
) -> Dataset:
    """An MNIST-sized, random but learnable dataset: 28×28 grey images of 10 classes.

    Each class has a template (smoothed random noise, thresholded into blobs); an example is its
    class template shifted by up to ±4 pixels, scaled in contrast by U(0.5, 1.5), plus Gaussian
    noise (σ = 1.0, the stroke intensity), clipped to [0, 1]; normalised like lrtune's datasets.
    Harder than MNIST for a linear model (≈ 74 % vs MNIST's 92 %), so an MLP has room to learn.
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    templates = np.stack([gaussian_filter(rng.standard_normal((28, 28)), sigma=2.5) for _ in range(10)])
    templates = (templates > np.quantile(templates, 0.75, axis=(1, 2), keepdims=True)).astype(np.float32)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, size=count)
        x = templates[y]
        shifts = rng.integers(-4, 5, size=(count, 2))
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                sel = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
                x[sel] = np.roll(x[sel], (dy, dx), axis=(1, 2))
        x = x * rng.uniform(0.5, 1.5, size=(count, 1, 1)) + rng.standard_normal(x.shape)
        return np.clip(x, 0.0, 1.0).astype(np.float32)[:, None], y.astype(np.int64)

    x_all, y_all = draw(n)
    x_test, y_test = draw(n_test)
    n_val = max(1, round(n * val_fraction))
    order = rng.permutation(n)
    train_idx, val_idx = np.sort(order[n_val:]), np.sort(order[:n_val])
    x_train = torch.from_numpy(x_all[train_idx])
    mean, std = x_train.mean(), x_train.std()
    tensors = {"train": x_train, "val": torch.from_numpy(x_all[val_idx]), "test": torch.from_numpy(x_test)}
    labels = {"train": y_all[train_idx], "val": y_all[val_idx], "test": y_test}
    return Dataset(
        name="mnist-like",
        **{f"x_{k}": ((v - mean) / std).to(device) for k, v in tensors.items()},
        **{f"y_{k}": torch.from_numpy(v).to(device) for k, v in labels.items()},
        n_classes=10,
        input_shape=(1, 28, 28),
    )


def _load(task: BenchTask, *, quick: bool, device: str) -> Dataset:
    if task.dataset == "mnist-like":
        n = task.quick_examples if quick else task.examples
        return make_mnist_like(n=n or 60_000, n_test=min(10_000, max(500, (n or 60_000) // 6)), device=device)
    return load_dataset(task.dataset, device=device)


# ----------------------------------------------------------------------------------- compute floor


def forward_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one example's forward pass through the Linear and Conv layers (2 per multiply-add).

    Counted from the layer shapes with forward hooks on a one-example batch; normalisation,
    activations and pooling are not counted (they are memory-bound and small here).
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += 2 * module.in_features * module.out_features * (output.numel() // module.out_features)
        else:  # Conv: every output element is a dot product of C_in/groups · prod(kernel)
            total += 2 * output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def matmul_gflops(*, n: int = 2048, repeats: int = 10, device: str = "cpu") -> float:
    """Best-of-``repeats`` float32 rate of an ``n×n @ n×n`` matmul, in GFLOP/s (2n³ FLOPs)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    a @ b
    sync()
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def compute_floor(model: nn.Module, data: Dataset, gflops: float) -> dict[str, float]:
    """The training FLOPs of one epoch (3 × forward × training examples) and their time at ``gflops``."""
    fwd = forward_flops(model, data.input_shape)
    epoch = 3 * fwd * len(data.y_train)
    return {
        "forward_flops_per_example": fwd,
        "train_gflop_per_epoch": epoch / 1e9,
        "floor_s_per_epoch": epoch / (gflops * 1e9),
    }


# ----------------------------------------------------------------------------------- the three paths


def _study(task_cfg: TaskConfig, storage: Any, pruner: str) -> optuna.Study:
    from lrtune.objective import make_pruner, make_sampler

    return optuna.create_study(
        storage=storage,
        direction="maximize",
        sampler=make_sampler(task_cfg.sampler, seed=task_cfg.seed),
        pruner=make_pruner(pruner, epochs=task_cfg.epochs),
    )


BASELINE_DATASETS = ("auto", "tensor", "torchvision")
"""How the baseline's ``DataLoader`` gets its examples (``--baseline``).

``auto`` (default) is what a user writes **for that data**: a ``TensorDataset`` of ready tensors
for data that is already an array (mnist1d, digits, the generated mnist-like data), the
torchvision per-item path only for image datasets read from files (MNIST-format, CIFAR).
``tensor`` forces the ``TensorDataset``; ``torchvision`` forces the official Optuna PyTorch
example's way, a torchvision-style dataset whose ``__getitem__`` turns one stored array into a PIL
image and applies ``transforms.ToTensor()`` + ``Normalize`` (what ``torchvision.datasets.MNIST``
does per item) — on tensor-native data nobody loads that way, so it is not the headline.
"""

FILE_DATASETS = ("mnist", "fashion-mnist", "kmnist", "cifar10")
"""Datasets read from image files: their users go through torchvision's per-item datasets."""


def baseline_kind(dataset: str, requested: str = "auto") -> str:
    """The baseline input for ``dataset``: ``requested`` unless ``auto`` (then by the data's nature)."""
    if requested != "auto":
        return requested
    return "torchvision" if dataset in FILE_DATASETS else "tensor"


class PILItemDataset(torch.utils.data.Dataset):
    """A torchvision-style dataset: per item, stored array → ``PIL.Image`` → ``ToTensor`` → ``Normalize``.

    Images (C=1, H, W) are stored as uint8 (rescaled 0–255 like the files torchvision reads);
    1-D signals (mnist1d) as a float32 'F'-mode image of one row. ``Normalize`` undoes the
    rescaling so the model sees the same values as lrtune's in-memory path (up to uint8 rounding).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, shape: tuple[int, ...]) -> None:
        from torchvision import transforms

        flat = x.reshape(len(x), -1).float()
        lo, hi = float(flat.min()), float(flat.max())
        self.shape = shape
        self.targets = y.tolist()
        if len(shape) == 3 and shape[0] == 1:
            scaled = ((x.reshape(len(x), shape[1], shape[2]) - lo) / (hi - lo) * 255).round().clamp(0, 255)
            self.data = scaled.to(torch.uint8).numpy()
            scale = hi - lo
            self.transform = transforms.Compose(
                [transforms.ToTensor(), transforms.Normalize((-lo / scale,), (1.0 / scale,))]
            )
        else:
            self.data = x.reshape(len(x), 1, -1).float().numpy()
            self.transform = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        arr = self.data[index]
        img = Image.fromarray(arr, mode="L") if arr.dtype == np.uint8 else Image.fromarray(arr, mode="F")
        return self.transform(img).reshape(self.shape), self.targets[index]


baseline_dataset = BASELINE_DATASETS[0]
"""The baseline's dataset kind requested for this process (``--baseline`` sets it)."""


class BaselineObjective:
    """The official Optuna PyTorch example's objective, with lrtune's model, optimizer and schedule.

    A torchvision-style dataset (:class:`PILItemDataset`, or a ``TensorDataset`` with
    ``dataset="tensor"``) through ``DataLoader(batch_size, shuffle=True)`` for training and a
    second ``DataLoader`` for validation; each batch is moved to the device; the validation
    accuracy is reported after every epoch and the trial pruned on the pruner's word.
    """

    def __init__(self, task_cfg: TaskConfig, family: str, data: Dataset, *, dataset: str = "torchvision") -> None:
        from torch.utils.data import DataLoader, TensorDataset

        self.task, self.family, self.device = task_cfg, family, data.device
        cpu = data.to("cpu")
        if dataset == "torchvision":
            self.train_set = PILItemDataset(cpu.x_train, cpu.y_train, data.input_shape)
            valid_set = PILItemDataset(cpu.x_val, cpu.y_val, data.input_shape)
        else:
            self.train_set = TensorDataset(cpu.x_train, cpu.y_train)
            valid_set = TensorDataset(cpu.x_val, cpu.y_val)
        self.valid_loader = DataLoader(valid_set, batch_size=task_cfg.batch_size)
        self.DataLoader = DataLoader
        self.input_shape, self.n_classes = data.input_shape, data.n_classes

    def __call__(self, trial: optuna.Trial) -> float:
        from lrtune.objective import trial_seed
        from lrtune.pruning import may_prune
        from lrtune.spaces import suggest_schedule
        from lrtune.train import TrainConfig, build_optimizer

        task = self.task
        schedule = suggest_schedule(
            trial, self.family, lr=task.lr_range_for(self.family), warmup=task.warmup_range
        )
        seed = trial_seed(task.seed, trial.number)
        model = build_model(task.model, input_shape=self.input_shape, n_classes=self.n_classes, seed=seed).to(
            self.device
        )
        config = TrainConfig(
            epochs=task.epochs,
            batch_size=task.batch_size,
            optimizer=task.optimizer,
            weight_decay=task.weight_decay,
            seed=seed,
        )
        optimizer = build_optimizer(model, lr=schedule.peak_lr, config=config)
        train_loader = self.DataLoader(
            self.train_set, batch_size=task.batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
        )
        scheduler = schedule.build(optimizer, task.epochs * len(train_loader))
        accuracy = 0.0
        for epoch in range(1, task.epochs + 1):
            model.train()
            for data, target in train_loader:
                data, target = data.to(self.device), target.to(self.device)
                optimizer.zero_grad()
                loss = F.cross_entropy(model(data), target)
                loss.backward()
                optimizer.step()
                scheduler.step()
            model.eval()
            correct = 0
            with torch.no_grad():
                for data, target in self.valid_loader:
                    data, target = data.to(self.device), target.to(self.device)
                    pred = model(data).argmax(dim=1, keepdim=True)
                    correct += pred.eq(target.view_as(pred)).sum().item()
            accuracy = correct / len(self.valid_loader.dataset)
            scheduler.epoch_end(accuracy)
            trial.report(accuracy, epoch)
            if may_prune(epoch, task.epochs) and trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy if math.isfinite(accuracy) else 0.0


def _run_path(
    path: str,
    task_cfg: TaskConfig,
    family: str,
    data: Dataset,
    *,
    trials: int,
    fuse: int,
    threads: int,
    storage: Any,
    pruner: str,
    enqueue: list[dict[str, Any]] | None = None,
) -> tuple[optuna.Study, float]:
    """Run ``trials`` trials of ``path`` in a fresh study; returns the study and the wall time."""
    from lrtune.objective import Objective, run_fused_trials

    torch.set_num_threads(threads)
    study = _study(task_cfg, storage, pruner)
    for params in enqueue or []:
        study.enqueue_trial(params)
    started = time.perf_counter()
    if path == "baseline":
        study.optimize(
            BaselineObjective(task_cfg, family, data, dataset=baseline_kind(data.name, baseline_dataset)),
            n_trials=trials,
        )
    elif path == "lrtune" or fuse == 1:  # K = 1 is the unfused path, as in lrtune.study
        study.optimize(Objective(task_cfg, family, data), n_trials=trials)
    else:
        objective = Objective(task_cfg, family, data)
        done = 0
        while done < trials:
            k = min(fuse, trials - done)
            run_fused_trials(study, objective, k)
            done += k
    return study, time.perf_counter() - started


def _epochs_run(trial: optuna.trial.FrozenTrial) -> int:
    return int(trial.user_attrs.get("epochs_run", len(trial.intermediate_values)))


def _summarise(study: optuna.Study, seconds: float, floor_s: float) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    epochs = sum(_epochs_run(t) for t in finished)
    epoch_s = seconds / epochs if epochs else math.nan
    return {
        "trials": len(finished),
        "seconds": seconds,
        "trials_per_min": 60.0 * len(finished) / seconds,
        "model_epochs": epochs,
        "model_epochs_per_s": epochs / seconds,
        "best_val_accuracy": max((t.value for t in complete), default=math.nan),
        "pruned": sum(1 for t in trials if t.state == optuna.trial.TrialState.PRUNED),
        "diverged": sum(1 for t in trials if t.user_attrs.get("diverged")),
        "epoch_s": epoch_s,
        "x_floor": epoch_s / floor_s if floor_s > 0 else math.nan,
    }


def _pruning_accounting(pruned_study: optuna.Study, unpruned_study: optuna.Study, epochs: int) -> dict[str, Any]:
    """Epochs pruning saved against the same trials unpruned; was the best unpruned trial pruned?"""
    run = {t.number: t for t in pruned_study.get_trials(deepcopy=False)}
    full = [t for t in unpruned_study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(full, key=lambda t: t.value)
    epochs_run = sum(_epochs_run(t) for t in run.values())
    epochs_unpruned = sum(_epochs_run(t) for t in full)
    best_pruned_run = max(
        (t.value for t in run.values() if t.state == optuna.trial.TrialState.COMPLETE), default=math.nan
    )
    return {
        "epochs_run": epochs_run,
        "epochs_unpruned": epochs_unpruned,
        "epochs_saved_fraction": 1.0 - epochs_run / epochs_unpruned if epochs_unpruned else 0.0,
        "best_unpruned_trial": best.number,
        "best_unpruned_value": best.value,
        "best_unpruned_was_pruned": run[best.number].state == optuna.trial.TrialState.PRUNED,
        "best_with_pruning": best_pruned_run,
    }


def run_task(
    task: BenchTask,
    *,
    quick: bool,
    device: str,
    threads: int,
    baseline_threads: int,
    family: str,
    pruner: str,
    repeats: int,
    fuse: int | None,
    trials: int | None,
    epochs: int | None,
    storage: str,
    paths: Sequence[str],
    prune_accounting: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Measure every path on one task; returns the JSON-able record of the task."""
    data = _load(task, quick=quick, device=device)
    n_epochs = epochs or (task.quick_epochs if quick else task.epochs)
    n_trials = trials or (task.quick_trials if quick else task.trials)
    dataset_name = task.dataset if task.dataset != "mnist-like" else "mnist"
    task_cfg = TaskConfig(dataset=dataset_name, model=task.model, epochs=n_epochs, pruner=pruner)
    torch.set_num_threads(threads)
    probe = None
    if fuse:
        k = fuse
    elif quick:
        k = task.quick_fuse
    else:  # lrtune's default: the start-up probe, at most half the trials (lrtune.study.default_group_size)
        from lrtune.group_size import measure_group_size

        build = lambda seed: build_model(
            task.model, input_shape=data.input_shape, n_classes=data.n_classes, seed=seed
        )  # noqa: E731
        from lrtune.objective import Objective

        probe = measure_group_size(
            build, data, Objective(task_cfg, family, data).train_config(0), max_size=max(1, -(-n_trials // 2))
        )
        k = probe.size
        log(f"  {task.name}: {probe.describe()}")
    gflops = matmul_gflops(device=device)
    model = build_model(task.model, input_shape=data.input_shape, n_classes=data.n_classes, seed=0).to(device)
    floor = compute_floor(model, data, gflops)
    _warm_up(task_cfg, family, data, threads)
    record: dict[str, Any] = {
        "task": task.name,
        "description": task.description,
        "dataset": task.dataset,
        "model": task.model,
        "epochs": n_epochs,
        "trials": n_trials,
        "fuse": k,
        "batch_size": task_cfg.batch_size,
        "optimizer": task_cfg.optimizer,
        "family": family,
        "pruner": pruner,
        "sampler": task_cfg.sampler,
        "sizes": data.sizes,
        "matmul_gflops": gflops,
        **floor,
        "threads": {"baseline": baseline_threads, "lrtune": threads, "fused": threads},
        "repeats": repeats,
        "baseline_dataset": baseline_kind(data.name, baseline_dataset),
        "paths": {},
        "fuse_probe_ms_per_member_step": {str(kk): v * 1e3 for kk, v in probe.member_step_s.items()}
        if probe
        else None,
    }
    studies: dict[str, optuna.Study] = {}
    for path in paths:
        times, study = [], None
        for r in range(repeats):
            log(f"  {task.name}: {path} run {r + 1}/{repeats} ({n_trials} trials x {n_epochs} epochs)")
            study, seconds = _run_path(
                path,
                task_cfg,
                family,
                data,
                trials=n_trials,
                fuse=k,
                threads=baseline_threads if path == "baseline" else threads,
                storage=_storage(storage, task, path, r),
                pruner=pruner,
            )
            times.append(seconds)
        record["paths"][path] = {
            **_summarise(study, statistics.median(times), floor["floor_s_per_epoch"]),
            "seconds_all": times,
        }
        studies[path] = study
    base = record["paths"].get("baseline")
    for summary in record["paths"].values():
        summary["trials_per_min_x_baseline"] = (
            summary["trials_per_min"] / base["trials_per_min"] if base else math.nan
        )
        summary["model_epochs_per_s_x_baseline"] = (
            summary["model_epochs_per_s"] / base["model_epochs_per_s"] if base else math.nan
        )
    if prune_accounting and "fused" in studies and pruner != "none":
        log(f"  {task.name}: fused trials replayed unpruned (pruning accounting)")
        params = [t.params for t in sorted(studies["fused"].get_trials(deepcopy=False), key=lambda t: t.number)]
        unpruned, _ = _run_path(
            "fused",
            task_cfg,
            family,
            data,
            trials=n_trials,
            fuse=k,
            threads=threads,
            storage=None,
            pruner="none",
            enqueue=params,
        )
        record["pruning"] = _pruning_accounting(studies["fused"], unpruned, n_epochs)
    return record


def _warm_up(task_cfg: TaskConfig, family: str, data: Dataset, threads: int) -> None:
    """One short trial per path so first-call costs (BLAS/oneDNN set-up) are not timed."""
    short = replace(task_cfg, epochs=1)
    for path in PATHS:
        _run_path(
            path,
            short,
            family,
            data,
            trials=2 if path == "fused" else 1,
            fuse=2,
            threads=threads,
            storage=None,
            pruner="none",
        )


def _storage(kind: str, task: BenchTask, path: str, repeat: int) -> Any:
    if kind == "memory":
        return None
    import tempfile

    folder = tempfile.mkdtemp(prefix="lrtune-bench-")
    return optuna.storages.RDBStorage(
        f"sqlite:///{os.path.join(folder, f'{task.name}-{path}-{repeat}.db')}",
        engine_kwargs={"connect_args": {"timeout": 30}},
    )


# ----------------------------------------------------------------------------------- output


def format_table(record: dict[str, Any]) -> str:
    """The task's measurements as a plain-text table (and the pruning line)."""
    head = (
        f"{record['task']}: {record['description']} — {record['trials']} trials x {record['epochs']} epochs, batch {record['batch_size']}, "
        f"{record['optimizer']}, {record['family']}, {record['pruner']} pruner; train {record['sizes']['train']} examples\n"
        f"compute floor: {record['train_gflop_per_epoch']:.2f} GFLOP/epoch at {record['matmul_gflops']:.0f} GFLOP/s (float32 matmul, "
        f"{record['threads']['lrtune']} thread(s)) = {record['floor_s_per_epoch'] * 1e3:.1f} ms/epoch"
    )
    header = [
        "path",
        "threads",
        "trials/min",
        "x base",
        "epochs/s",
        "x base",
        "best acc",
        "pruned",
        "ms/epoch",
        "x floor",
    ]
    rows = []
    for path, s in record["paths"].items():
        labels = {
            "fused": f"fused K={record['fuse']} (default)",
            "baseline": f"baseline ({record.get('baseline_dataset', 'tensor')})",
            "lrtune": "lrtune --fuse 1",
        }
        label = labels.get(path, path)
        rows.append(
            [
                label,
                str(record["threads"][path]),
                f"{s['trials_per_min']:.1f}",
                f"{s['trials_per_min_x_baseline']:.2f}",
                f"{s['model_epochs_per_s']:.1f}",
                f"{s['model_epochs_per_s_x_baseline']:.2f}",
                f"{s['best_val_accuracy']:.4f}",
                f"{s['pruned']}/{s['trials']}",
                f"{s['epoch_s'] * 1e3:.1f}",
                f"{s['x_floor']:.1f}",
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
    )  # noqa: E731
    out = [head, line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if "pruning" in record:
        p = record["pruning"]
        out.append(
            f"pruning (fused trials replayed unpruned): {p['epochs_run']} of {p['epochs_unpruned']} epochs run "
            f"({p['epochs_saved_fraction']:.0%} saved); best unpruned trial #{p['best_unpruned_trial']} ({p['best_unpruned_value']:.4f}) "
            f"{'WAS' if p['best_unpruned_was_pruned'] else 'was not'} pruned; best with pruning {p['best_with_pruning']:.4f}"
        )
    return "\n".join(out)


def _machine(device: str) -> dict[str, Any]:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "optuna": optuna.__version__,
        "lrtune": __version__,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "device": device,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["load_average"] = os.getloadavg()
    except OSError:  # pragma: no cover
        pass
    return info


# ----------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Trials per minute: the usual Optuna + PyTorch loop vs lrtune's normal and fused paths.",
    )
    p.add_argument(
        "--prune-accounting",
        dest="prune_accounting_cli",
        action="store_true",
        help="replay a pruned search unpruned per family instead (python -m lrtune.prune_accounting; its options follow)",
    )
    p.add_argument(
        "--tasks",
        default=",".join(TASKS),
        help=f"comma-separated tasks (default: {', '.join(TASKS)}; also 'verdict': "
        "the README's search + confirmation timed end to end, unfused vs default)",
    )
    p.add_argument("--quick", action="store_true", help="tiny trial counts, epochs and data (for tests)")
    p.add_argument("--json", dest="json_path", help="also write the measurements as JSON to this file")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for lrtune's paths (default: lrtune's default, see docs/speed.md)",
    )
    p.add_argument(
        "--baseline-threads",
        type=int,
        default=None,
        help=f"torch threads for the baseline (default torch's: {_DEFAULT_TORCH_THREADS})",
    )
    p.add_argument(
        "--fuse", type=int, help="trials per stack for the fused path (default: measured, as lrtune.study does)"
    )
    p.add_argument("--trials", type=int, help="trials per path (default: per task)")
    p.add_argument("--epochs", type=int, help="epochs per trial (default: per task)")
    p.add_argument("--family", default="cosine", help="schedule family searched (default cosine)")
    p.add_argument(
        "--pruner",
        default="median",
        choices=("median", "hyperband", "none"),
        help="pruner of every path (default median)",
    )
    p.add_argument("--repeats", type=int, default=1, help="runs per path; wall times are medians (default 1)")
    p.add_argument("--paths", default=",".join(PATHS), help=f"which paths to run (default {','.join(PATHS)})")
    p.add_argument(
        "--storage",
        choices=("memory", "sqlite"),
        default="memory",
        help="Optuna storage of every path (default memory, as the Optuna example)",
    )
    p.add_argument(
        "--baseline",
        choices=BASELINE_DATASETS,
        default=BASELINE_DATASETS[0],
        help="baseline input: auto (default: TensorDataset for array data, torchvision's per-item PIL path for image files), "
        "tensor, or torchvision (per-item PIL + ToTensor, as the official Optuna example)",
    )
    p.add_argument(
        "--no-prune-accounting",
        dest="prune_accounting",
        action="store_false",
        help="skip the unpruned replay of the fused trials",
    )
    return p


def default_threads(device: str) -> int:
    """lrtune's default torch threads for one process: all cores (docs/speed.md: 2 threads beat 1
    on a 2-core machine for every task, fused or not, when nothing else loads the CPU)."""
    return _DEFAULT_TORCH_THREADS


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; prints one table per task (and writes JSON with ``--json``). Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--prune-accounting" in argv:  # the pruning replay lives in lrtune.prune_accounting
        from lrtune import prune_accounting

        return prune_accounting.main([a for a in argv if a != "--prune-accounting"])
    args = build_parser().parse_args(argv)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    from lrtune.bench_verdict import VERDICT_TASK, format_verdict, run_verdict

    unknown = [n for n in names if n not in TASKS and n != VERDICT_TASK]
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    bad_paths = [p for p in paths if p not in PATHS]
    if not names or unknown:
        print(
            f"{PROG}: error: unknown task {unknown[0] if unknown else ''!r}; valid: {', '.join(TASKS)}, {VERDICT_TASK}",
            file=sys.stderr,
        )
        return 2
    if not paths or bad_paths:
        print(
            f"{PROG}: error: unknown path {bad_paths[0] if bad_paths else ''!r}; valid: {', '.join(PATHS)}",
            file=sys.stderr,
        )
        return 2
    for name in ("threads", "baseline_threads", "fuse", "trials", "epochs", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            print(f"{PROG}: error: --{name.replace('_', '-')} must be ≥ 1, but got {value}", file=sys.stderr)
            return 2
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"{PROG}: error: --device {device} was asked for, but torch sees no CUDA device", file=sys.stderr)
        return 2
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    global baseline_dataset
    baseline_dataset = args.baseline
    threads = args.threads or default_threads(device)
    baseline_threads = args.baseline_threads or _DEFAULT_TORCH_THREADS
    log = (lambda msg: None) if args.quick else (lambda msg: print(msg, file=sys.stderr, flush=True))
    report: dict[str, Any] = {
        "lrtune_bench": 1,
        "quick": args.quick,
        "machine": _machine(device),
        "baseline_dataset": args.baseline,
        "tasks": [],
    }
    try:
        for name in names:
            if (
                name == VERDICT_TASK
            ):  # the README's search + confirmation, unfused vs default (lrtune.bench_verdict)
                record = run_verdict(quick=args.quick, device=device, threads=threads, log=log)
                report["tasks"].append(record)
                print(format_verdict(record), end="\n\n", flush=True)
                continue
            record = run_task(
                TASKS[name],
                quick=args.quick,
                device=device,
                threads=threads,
                baseline_threads=baseline_threads,
                family=args.family,
                pruner=args.pruner,
                repeats=args.repeats,
                fuse=args.fuse,
                trials=args.trials,
                epochs=args.epochs,
                storage=args.storage,
                paths=paths,
                prune_accounting=args.prune_accounting,
                log=log,
            )
            report["tasks"].append(record)
            print(format_table(record), end="\n\n", flush=True)
    finally:
        torch.set_num_threads(_DEFAULT_TORCH_THREADS)
    if args.json_path:
        with open(args.json_path, "w") as fh:
            json.dump(report, fh, indent=2, default=_json_default)
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
