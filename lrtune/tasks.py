"""Your own task for ``python -m lrtune.study --task module:callable``.

The callable takes no arguments and returns a :class:`Task`: the data splits (tensor pairs or
any map-style torch ``Dataset`` yielding ``(x, y)``), a model factory and the number of classes.
lrtune trains it with its own loop (cross-entropy, the configured optimizer, the suggested
schedule), reports validation accuracy per epoch for pruning and stores everything as for its
built-in datasets. This module only defines the public dataclass (importing it is cheap);
loading and checking a task is :mod:`lrtune.user_task`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Task"]


@dataclass(frozen=True)
class Task:
    """A classification task defined by the user.

    train, val, test: each a ``(x, y)`` pair of tensors (``x`` float of shape ``(n, *input)``,
        ``y`` int64 class indices) or a map-style ``torch.utils.data.Dataset`` whose items are
        ``(x, y)``. ``test`` may be None (test accuracy is then not reported); ``val`` is what
        trials are selected on, ``test`` is only reported.
    make_model: ``make_model(seed) -> torch.nn.Module`` mapping a batch ``(b, *input)`` to
        logits ``(b, n_classes)``; it must build the same initial weights for the same seed
        (lrtune also seeds torch before calling it).
    n_classes: number of classes (labels are ``0 … n_classes − 1``).
    name: a short label for reports (default: the import path).
    direction: the metric's direction; lrtune's metric is validation accuracy, so
        ``"maximize"`` is the only value accepted.
    """

    train: Any
    val: Any
    make_model: Callable[[int], Any]
    n_classes: int
    test: Any = None
    name: str | None = None
    direction: str = "maximize"
