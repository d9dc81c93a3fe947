"""The metric a study selects on: a name, a direction and per-example scores.

A :class:`Metric` scores every example from the model's logits ``(n, C)`` and the targets
``(n,)``; its value on a split is the mean of those per-example scores, summed in float64::

    score(split) = (1/n) · Σ_i s(logits_i, y_i)

Built-ins (:data:`METRICS`):

* ``accuracy`` — ``s = [argmax_c logits_ic = y_i]``, maximised (lrtune's default);
* ``loss`` — ``s = −log softmax(logits_i)_{y_i}`` (cross-entropy), minimised.

Internally lrtune compares *oriented* scores, ``sign · score`` with ``sign = +1`` when
maximising and ``−1`` when minimising, so higher is always better (pruners read the study's
direction instead; Optuna studies store the metric as it is).

A user's metric is a callable ``scores(logits, targets) -> per-example float tensor (n,)`` with
an explicit direction (:func:`resolve_metric`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lrtune.errors import LrtuneError

__all__ = [
    "ACCURACY",
    "DIRECTIONS",
    "LOSS",
    "METRICS",
    "Metric",
    "MetricError",
    "resolve_metric",
]

DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class MetricError(LrtuneError, ValueError):
    """The metric or its direction is invalid; the message is one line for the terminal."""


def _check_direction(direction: object) -> str:
    if direction not in DIRECTIONS:
        raise MetricError(f"unknown direction {direction!r}; valid: {', '.join(DIRECTIONS)}")
    return direction  # type: ignore[return-value]


@dataclass(frozen=True)
class Metric:
    """``name``, ``direction`` ("maximize"/"minimize") and the per-example score function."""

    name: str
    direction: str
    scores: ScoreFn

    def __post_init__(self) -> None:
        _check_direction(self.direction)

    @property
    def sign(self) -> float:
        """+1 when maximising, −1 when minimising: ``sign · score`` is higher-is-better."""
        return 1.0 if self.direction == "maximize" else -1.0

    @property
    def is_default(self) -> bool:
        """True for lrtune's default: accuracy, maximised."""
        return self.name == "accuracy" and self.direction == "maximize"

    def sums(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Float64 sums of the per-example scores along the last example axis.

        ``logits`` ``(..., n, C)`` and ``targets`` ``(n,)``: leading axes (a stack of K models)
        are scored example by example and summed per leading index.
        """
        lead, (n, c) = logits.shape[:-2], logits.shape[-2:]
        flat = logits.reshape(-1, n, c)
        k = flat.shape[0]
        values = self.scores(flat.reshape(k * n, c), targets.repeat(k))
        return values.reshape(k, n).to(torch.float64).sum(1).reshape(lead)


def _accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=-1) == targets).to(torch.float64)


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, targets, reduction="none")


ACCURACY = Metric("accuracy", "maximize", _accuracy)
LOSS = Metric("loss", "minimize", _loss)
METRICS: dict[str, Metric] = {m.name: m for m in (ACCURACY, LOSS)}
"""Built-in metrics by name, with their natural direction."""


def natural_direction(name: str) -> str | None:
    """The direction of the built-in metric ``name``; None for a user's metric."""
    metric = METRICS.get(name)
    return metric.direction if metric is not None else None


def resolve_metric(spec: str | ScoreFn | Metric, direction: str | None = None) -> Metric:
    """The :class:`Metric` for ``spec``: a built-in name, a :class:`Metric`, or a callable.

    A name takes its natural direction unless ``direction`` is given. A callable gives the
    per-example scores ``f(logits (n, C), targets (n,)) -> (n,)``; its name is its
    ``__name__`` (``custom`` for a lambda) and ``direction`` must be given. Raises
    :class:`MetricError` (one line, listing the valid names or directions).
    """
    if direction is not None:
        _check_direction(direction)
    if isinstance(spec, Metric):
        return (
            spec if direction is None or direction == spec.direction else Metric(spec.name, direction, spec.scores)
        )
    if isinstance(spec, str):
        if spec not in METRICS:
            raise MetricError(
                f"unknown metric {spec!r}; valid: {', '.join(METRICS)} (or a callable giving per-example scores)"
            )
        builtin = METRICS[spec]
        return (
            builtin
            if direction is None or direction == builtin.direction
            else Metric(spec, direction, builtin.scores)
        )
    if callable(spec):
        if direction is None:
            raise MetricError(
                "a metric callable needs its direction: direction='maximize' or direction='minimize'"
            )
        name = getattr(spec, "__name__", "") or ""
        if not name.isidentifier():
            name = "custom"
        if name in METRICS:
            raise MetricError(f"a metric callable may not be named {name!r} (a built-in metric); rename it")
        return Metric(name, direction, spec)
    raise MetricError(
        f"metric must be a name ({', '.join(METRICS)}) or a callable giving per-example scores, "
        f"but got {type(spec).__name__}"
    )
