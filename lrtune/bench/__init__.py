"""``python -m lrtune.bench``: trials per minute of the usual Optuna + PyTorch loop against lrtune's.

One run measures, side by side, on the same task and the same number of trials (same model,
epochs, batch size, optimizer, search space, sampler and pruner):

1. ``baseline`` — what a user writes for that data, one trial at a time through
   ``study.optimize`` with torch's default thread count: a ``DataLoader`` over a ``TensorDataset``
   of ready tensors for array data, the official Optuna PyTorch example's torchvision per-item
   path (:class:`PILItemDataset`) for image datasets read from files (``--baseline auto``, the
   default). None of the default tasks is read from files, so by default every baseline is the
   ``TensorDataset`` loop; ``--baseline torchvision`` forces the per-item path;
2. ``lrtune`` — lrtune unfused (``--fuse 1``): :class:`lrtune.tuning.objective.Objective` on in-memory tensors;
3. ``fused`` — lrtune's default: :func:`lrtune.tuning.objective.run_fused_trials`, K trials per stack, each
   member with its own seed and batch order, K measured at start-up as ``lrtune.study`` does
   (:mod:`lrtune.training.group_size`) unless ``--fuse K``.

For each it prints trials per minute, model-epochs per second (a pruned trial's epochs count as
run), both as ratios to the baseline, the best final validation accuracy, and the time of one
model-epoch as a multiple of the **compute floor**: the model's training FLOPs per epoch
(3 × forward FLOPs of the Linear/Conv layers, counted from the layer shapes, × training examples)
over a float32 matmul rate measured in the same run (a 2048² matmul at lrtune's thread count).
Unless ``--no-prune-accounting``, it also replays the fused trials unpruned and reports the
epochs pruning saved and whether the best unpruned trial had been pruned. Defaults: the cosine
family, the median pruner, in-memory storage, one repeat, every path at torch's thread count.

Tasks (``--tasks``): ``digits`` (MLP), ``mnist1d`` (the default task, cnn1d) and ``mnist-like``
(an MNIST-sized MLP on generated 28×28 data: 10 random class templates, shifted, rescaled, noised;
60 000 train+validation and 10 000 test examples). ``verdict`` (not in the default list) times the
README's search + confirmation end to end, unfused vs default (:mod:`lrtune.bench.verdict`).
``--quick`` shrinks everything for the tests (and fixes K = 2 instead of measuring it).

The modules, one concern each: :mod:`~lrtune.bench.tasks` (the tasks and their data),
:mod:`~lrtune.bench.floor` (the compute floor), :mod:`~lrtune.bench.baseline` (the plain loop),
:mod:`~lrtune.bench.paths` (the three paths), :mod:`~lrtune.bench.run` (one task measured and
summarised), :mod:`~lrtune.bench.verdict` (the ``verdict`` task), :mod:`~lrtune.bench.cli`
(options, tables, JSON).
"""

from __future__ import annotations

from lrtune.bench.baseline import (
    BASELINE_DATASETS,
    FILE_DATASETS,
    BaselineObjective,
    PILItemDataset,
    baseline_kind,
)
from lrtune.bench.cli import build_parser, format_table, main
from lrtune.bench.floor import compute_floor, forward_flops, matmul_gflops
from lrtune.bench.paths import PATHS, run_path
from lrtune.bench.run import pruning_accounting, run_task, summarise
from lrtune.bench.tasks import TASKS, BenchTask, load_task_data, make_mnist_like
from lrtune.bench.verdict import VERDICT_TASK, format_verdict, run_verdict

__all__ = [
    "BASELINE_DATASETS",
    "FILE_DATASETS",
    "PATHS",
    "TASKS",
    "VERDICT_TASK",
    "BaselineObjective",
    "BenchTask",
    "PILItemDataset",
    "baseline_kind",
    "build_parser",
    "compute_floor",
    "format_table",
    "format_verdict",
    "forward_flops",
    "load_task_data",
    "main",
    "make_mnist_like",
    "matmul_gflops",
    "pruning_accounting",
    "run_path",
    "run_task",
    "run_verdict",
    "summarise",
]
