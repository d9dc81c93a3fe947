"""Your own task for ``python -m lrtune.study --task module:callable``.

The callable takes no arguments and returns a :class:`Task`: the data splits (tensor pairs or
any map-style torch ``Dataset`` yielding ``(x, y)``), a model factory and the number of classes.
lrtune trains it with its own loop (cross-entropy, the configured optimizer, the suggested
schedule), reports the validation score of the task's metric per epoch for pruning and stores
everything as for its built-in datasets (default: validation accuracy, maximised; ``metric="loss"``
minimises the validation cross-entropy). This module only defines the public dataclass
(importing it is cheap); loading and checking a task is :mod:`lrtune.training.user_task`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Task"]


@dataclass(frozen=True)
class Task:
    """A classification task defined by the user.

    train, val, test: each a ``(x, y)`` pair of tensors or arrays (``x`` of shape
        ``(n, *input)``, ``y`` integer class indices of shape ``(n,)``) or a map-style
        ``torch.utils.data.Dataset`` whose items are ``(x, y)`` (a torchvision-style dataset
        with its ``transform`` applied). Trials are selected on ``val``; ``test`` is only
        reported.
    make_model: ``make_model(seed) -> torch.nn.Module`` mapping a batch ``(b, *input)`` to
        logits ``(b, n_classes)``; lrtune seeds torch before calling it, so the same seed gives
        the same initial weights. An ``nn.Sequential`` of Linear/Conv/activation layers can be
        trained fused (``--fuse K``).
    n_classes: the number of classes (labels ``0 … n_classes − 1``).
    name: a short label (default: the import path).
    in_memory: None (default) stacks Dataset splits into tensors on the device when they take
        at most a quarter of its free memory and streams them batch by batch otherwise; True
        always stacks, False always streams.

    metric: what trials are selected, pruned and confirmed on (training always minimises the
        cross-entropy): ``"accuracy"`` (default), ``"loss"`` (the mean cross-entropy), or a
        callable ``scores(logits (n, C), targets (n,)) -> (n,)`` giving per-example scores,
        averaged over the split in float64 (:mod:`lrtune.training.metrics`).
    direction: ``"maximize"`` or ``"minimize"``; default: the metric's own (accuracy is
        maximised, loss minimised). Required for a callable metric.
    """

    train: Any
    val: Any
    test: Any
    make_model: Callable[[int], Any]
    n_classes: int
    name: str | None = None
    in_memory: bool | None = None
    metric: str | Callable[[Any, Any], Any] = "accuracy"
    direction: str | None = None
