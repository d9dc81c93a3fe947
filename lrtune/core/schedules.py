"""A learning-rate schedule: one family + peak LR + parameters, and the torch scheduler that applies it.

``lr(t) = peak_lr · m(t)``: each family's multiplier ``m(t) ∈ (0, 1]`` of the optimizer step
``t`` (0-based) and the training length ``T`` is defined on progress after a shared warmup (the
formulas: :mod:`lrtune.core.shapes`; each family's parameters, defaults and valid values:
:mod:`lrtune.core.families`). This module imports nothing of Optuna; the search spaces (parameter
names, ranges) live in :mod:`lrtune.core.spaces`.

A :class:`Schedule` is an immutable family + peak LR + parameters. ``Schedule.build(optimizer,
total_steps)`` returns a :class:`ScheduleLR` — one ``torch.optim.lr_scheduler.LRScheduler`` that
multiplies each param group's own base LR; call ``.step()`` after every optimizer step and
``.epoch_end(metric)`` after every validation (only ``plateau`` reacts to it).

>>> schedule = Schedule("cosine", peak_lr=0.1, warmup_frac=0.2)
>>> schedule.curve(10).round(3).tolist()
[0.033, 0.067, 0.1, 0.096, 0.085, 0.069, 0.05, 0.031, 0.015, 0.004]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from lrtune.core.families import FAMILIES, FAMILY_FORMULAS, family_defaults, family_facts
from lrtune.core.shapes import step_milestones, warmup_steps

try:  # torch is a dependency, but keep the pure maths importable without it
    from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler
except ImportError:  # pragma: no cover
    _TorchLRScheduler = object  # type: ignore[assignment,misc]

__all__ = [
    "FAMILIES",
    "FAMILY_FORMULAS",
    "Schedule",
    "ScheduleLR",
    "family_defaults",
    "multipliers",
    "step_milestones",
    "warmup_steps",
]


def multipliers(
    family: str, params: Mapping[str, Any], *, steps: np.ndarray, total_steps: int, warmup_frac: float = 0.0
) -> np.ndarray:
    """Vectorised multiplier m(t) for integer ``steps`` (closed-form part; plateau's reactions excluded).

    Steps ≥ T hold the last value m(T − 1) (a schedule never climbs back after its end).

    >>> multipliers("step", {"n_drops": 2, "drop_start": 0.5, "gamma": 0.1}, steps=np.arange(10), total_steps=10)
    array([1.  , 1.  , 1.  , 1.  , 1.  , 0.1 , 0.1 , 0.1 , 0.01, 0.01])
    >>> multipliers("cosine", {"final_ratio": 0.0}, steps=np.arange(5), total_steps=5, warmup_frac=0.2).round(3)
    array([0.5  , 1.   , 0.854, 0.5  , 0.146])
    """
    fam = family_facts(family)
    if total_steps < 1:
        raise ValueError(f"total_steps must be an integer ≥ 1, but got {total_steps!r}")
    t = np.minimum(np.asarray(steps, dtype=np.int64), total_steps - 1)
    if (t < 0).any():
        raise ValueError("steps must be ≥ 0")
    W = warmup_steps(total_steps, warmup_frac) if fam.uses_warmup else 0
    out = np.empty(t.shape, dtype=float)
    warm = t < W
    out[warm] = fam.warmup(t[warm], W)
    if (~warm).any():
        out[~warm] = fam.shape(t[~warm], total_steps, W, params)
    return out


# --------------------------------------------------------------------------------------------
# Schedule: an immutable, validated family + peak LR + parameters
# --------------------------------------------------------------------------------------------


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, but got {value!r}")
    return float(value)


@dataclass(frozen=True, eq=True)
class Schedule:
    """One concrete learning-rate schedule: ``lr(t) = peak_lr · m(t, T)``.

    ``params`` holds the family's own parameters by short name (``final_ratio``, ``gamma``, …);
    missing ones take the family defaults (:func:`family_defaults`). ``warmup_frac`` is ignored
    by ``onecycle`` (its ``pct_start`` ramp replaces warmup) and stored as 0 there.

    >>> schedule = Schedule("wsd", peak_lr=0.5, warmup_frac=0.1, params={"decay_frac": 0.5, "decay_shape": "linear"})
    >>> schedule.describe()
    'wsd: peak LR 0.5, warmup 10.0% of steps, decay_frac=0.5, decay_shape=linear, final_ratio=0'
    >>> schedule.curve(10).round(3).tolist()
    [0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.444, 0.333, 0.222, 0.111]
    >>> Schedule("cosine", peak_lr=0.1, params={"final_ratio": 2.0})
    Traceback (most recent call last):
    ...
    ValueError: cosine final_ratio must be in [0, 1], but got 2.0
    """

    family: str
    peak_lr: float
    warmup_frac: float = 0.0
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fam = family_facts(self.family)
        peak = _check_number("peak_lr", self.peak_lr)
        if not (math.isfinite(peak) and peak > 0):
            raise ValueError(f"peak_lr must be a finite number > 0, but got {self.peak_lr!r}")
        warm = _check_number("warmup_frac", self.warmup_frac)
        if not 0.0 <= warm < 1.0:
            raise ValueError(f"warmup_frac must be in [0, 1), but got {self.warmup_frac!r}")
        unknown = set(self.params) - set(fam.params)
        if unknown:
            valid = ", ".join(fam.params) or "none"
            raise ValueError(
                f"unknown parameter(s) {', '.join(sorted(unknown))} for family {self.family!r}; valid: {valid}"
            )
        merged = {**fam.defaults, **self.params}
        for key, param in fam.params.items():
            value = merged[key]
            if not isinstance(value, (str, bool, np.bool_)):
                _check_number(f"{self.family} {key}", value)
            if not param.valid.test(value):
                raise ValueError(f"{self.family} {key} must be {param.valid.words}, but got {value!r}")
        object.__setattr__(self, "peak_lr", peak)
        object.__setattr__(self, "warmup_frac", warm if fam.uses_warmup else 0.0)
        object.__setattr__(self, "params", MappingProxyType(merged))

    def __hash__(self) -> int:
        return hash((self.family, self.peak_lr, self.warmup_frac, tuple(sorted(self.params.items()))))

    def __reduce__(self):  # mappingproxy can't be pickled; rebuild from a dict (multiprocessing)
        return (Schedule, (self.family, self.peak_lr, self.warmup_frac, dict(self.params)))

    @property
    def schedule_free(self) -> bool:
        """True for ``schedulefree``: the family is an optimizer (Schedule-Free SGD/AdamW, built by
        :func:`lrtune.training.train.build_optimizer`), the curve only its warmup; ``params`` configure it."""
        return family_facts(self.family).schedule_free

    @property
    def reactive(self) -> bool:
        """True for families whose LR reacts to the validation metric (only ``plateau``)."""
        return family_facts(self.family).reactive

    def multiplier(self, step: int, total_steps: int) -> float:
        """m(step) ∈ (0, 1] of the closed-form curve (plateau: before any reduction).

        >>> Schedule("poly", peak_lr=0.1, params={"power": 2.0}).multiplier(5, total_steps=10)
        0.25
        """
        return float(self.curve_multipliers(total_steps, steps=np.asarray([step]))[0])

    def lr_at(self, step: int, total_steps: int) -> float:
        """``peak_lr · m(step)``.

        >>> Schedule("poly", peak_lr=0.1, params={"power": 2.0}).lr_at(5, total_steps=10)
        0.025
        """
        return self.peak_lr * self.multiplier(step, total_steps)

    def curve_multipliers(self, total_steps: int, *, steps: np.ndarray | None = None) -> np.ndarray:
        """m(t) for ``steps`` (default every step 0…T−1) in one vectorised evaluation.

        >>> Schedule("exponential", peak_lr=0.1, params={"final_ratio": 0.01}).curve_multipliers(5).round(4)
        array([1.    , 0.3981, 0.1585, 0.0631, 0.0251])
        >>> Schedule("cosine", peak_lr=0.1).curve_multipliers(100, steps=np.array([0, 50, 99, 200])).round(4).tolist()
        [1.0, 0.5, 0.0002, 0.0002]
        """
        steps = np.arange(total_steps) if steps is None else steps
        return multipliers(
            self.family, self.params, steps=steps, total_steps=total_steps, warmup_frac=self.warmup_frac
        )

    def curve(self, total_steps: int) -> np.ndarray:
        """The learning rate at every step 0…T−1 (numpy array of length T).

        >>> Schedule("constant", peak_lr=0.1, warmup_frac=0.5).curve(4).round(4).tolist()
        [0.0333, 0.0667, 0.1, 0.1]
        """
        return self.peak_lr * self.curve_multipliers(total_steps)

    def describe(self) -> str:
        """The schedule in words, e.g. ``cosine: peak LR 0.1, warmup 5% of steps, final_ratio=0.001``."""
        parts = [f"peak LR {self.peak_lr:.4g}"]
        if family_facts(self.family).uses_warmup:
            parts.append(f"warmup {self.warmup_frac:.1%} of steps")
        parts += [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items()]
        return f"{self.family}: " + ", ".join(parts)

    def to_params(self, *, prefix: str = "", include_family: bool = False) -> dict[str, Any]:
        """Optuna-style names: ``{prefix}lr``, ``{prefix}warmup_frac``, ``{prefix}{family}_{name}``.

        >>> Schedule("cosine", peak_lr=0.1, warmup_frac=0.05).to_params(prefix="sched_", include_family=True)
        {'sched_family': 'cosine', 'sched_lr': 0.1, 'sched_warmup_frac': 0.05, 'sched_cosine_final_ratio': 0.0}
        """
        out: dict[str, Any] = {}
        if include_family:
            out[f"{prefix}family"] = self.family
        out[f"{prefix}lr"] = self.peak_lr
        if family_facts(self.family).uses_warmup:
            out[f"{prefix}warmup_frac"] = self.warmup_frac
        out.update({f"{prefix}{self.family}_{k}": v for k, v in self.params.items()})
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, family: str | None = None, prefix: str = "") -> Schedule:
        """Rebuild the exact schedule from a finished trial's ``params``.

        ``family`` is read from ``params[prefix + "family"]`` when the study chose it; pass it
        when the study tuned a single family. Parameters the space did not search (fixed values,
        ``three_phase``, plateau's ``min_ratio``) take their defaults unless present.

        >>> params = {"lr": 0.3, "warmup_frac": 0.05, "cosine_final_ratio": 0.01, "batch_size": 64}
        >>> Schedule.from_params(params, family="cosine").describe()
        'cosine: peak LR 0.3, warmup 5.0% of steps, final_ratio=0.01'
        >>> Schedule.from_params({"family": "onecycle", "lr": 0.3, "onecycle_pct_start": 0.25}).describe()
        'onecycle: peak LR 0.3, pct_start=0.25, div_factor=25, final_div_factor=1e+04, anneal=cos, three_phase=False'
        >>> Schedule.from_params({"lr": 0.3})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: params have no 'family': pass family= (one of constant, step, exponential, ...)
        """
        if family is None:
            key = f"{prefix}family"
            if key not in params:
                raise ValueError(f"params have no {key!r}: pass family= (one of {', '.join(FAMILIES)})")
            family = str(params[key])
        fam = family_facts(family)
        if f"{prefix}lr" not in params:
            raise ValueError(f"params must contain {prefix + 'lr'!r} (the peak LR), but got keys {sorted(params)}")
        own = f"{prefix}{family}_"
        family_params = {k[len(own) :]: v for k, v in params.items() if k.startswith(own)}
        family_params = {k: v for k, v in family_params.items() if k in fam.params}
        return cls(
            family,
            peak_lr=params[f"{prefix}lr"],
            warmup_frac=params.get(f"{prefix}warmup_frac", 0.0) if fam.uses_warmup else 0.0,
            params=family_params,
        )

    def build(self, optimizer: Any, total_steps: int) -> ScheduleLR:
        """A torch LR scheduler applying this schedule to every param group of ``optimizer``.

        Each group's current ``lr`` is its base (peak) LR. Constructing it sets the LRs to step 0's
        values. Call ``.step()`` after every optimizer step and ``.epoch_end(metric)`` after each
        validation.

        >>> import torch
        >>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> scheduler = Schedule("cosine", peak_lr=0.1).build(optimizer, total_steps=4)
        >>> for _ in range(3):
        ...     optimizer.step()
        ...     scheduler.step()
        ...     print(round(optimizer.param_groups[0]["lr"], 4))
        0.0854
        0.05
        0.0146
        """
        return ScheduleLR(optimizer, self, total_steps=total_steps)


# --------------------------------------------------------------------------------------------
# The torch scheduler
# --------------------------------------------------------------------------------------------


class ScheduleLR(_TorchLRScheduler):  # type: ignore[misc,valid-type]
    """``lr_g(t) = base_lr_g · m(t) · reactive`` for every param group g.

    The whole closed-form curve is evaluated once (vectorised) at construction; ``step()`` indexes
    it. ``reactive`` is 1 except for ``plateau``, where :meth:`epoch_end` follows
    ``torch.optim.lr_scheduler.ReduceLROnPlateau(mode="max", threshold_mode="rel", cooldown=0)``:
    a metric counts as better when ``metric > best + |best|·threshold`` (``best·(1 + threshold)``
    for ``best ≥ 0``, as torch; the absolute value keeps a negative oriented score such as
    −loss improving upwards); after more than ``patience``
    bad epochs, ``reactive ← max(reactive·factor, min_ratio)``. Steps past ``total_steps`` hold
    the final value.
    """

    def __init__(self, optimizer: Any, schedule: Schedule, *, total_steps: int) -> None:
        if not isinstance(total_steps, (int, np.integer)) or isinstance(total_steps, bool) or total_steps < 1:
            raise ValueError(f"total_steps must be an integer ≥ 1, but got {total_steps!r}")
        self.schedule = schedule
        self.total_steps = int(total_steps)
        self._curve = schedule.curve_multipliers(self.total_steps)
        self.reactive = 1.0
        self.best = -math.inf
        self.num_bad_epochs = 0
        super().__init__(optimizer)

    def _multiplier_now(self) -> float:
        return float(self._curve[min(max(self.last_epoch, 0), self.total_steps - 1)]) * self.reactive

    def get_lr(self) -> list[float]:
        m = self._multiplier_now()
        return [base * m for base in self.base_lrs]

    def epoch_end(self, metric: float | None = None) -> None:
        """Tell the schedule the epoch's oriented validation score (higher is better: −loss when a
        task minimises its loss). No-op unless reactive.

        >>> import torch
        >>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> schedule = Schedule("plateau", peak_lr=0.1, params={"patience": 1, "factor": 0.5})
        >>> scheduler = schedule.build(optimizer, total_steps=100)
        >>> for accuracy in (0.80, 0.85, 0.84, 0.85, 0.83):  # two epochs without improvement: cut
        ...     scheduler.epoch_end(accuracy)
        ...     print(scheduler.get_last_lr())
        [0.1]
        [0.1]
        [0.1]
        [0.05]
        [0.05]
        """
        if not self.schedule.reactive or metric is None:
            return
        p = self.schedule.params
        metric = float(metric)
        threshold = float(p["threshold"])
        bar = self.best * (1.0 + threshold) if self.best >= 0 else self.best * (1.0 - threshold)
        if metric > bar:
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > int(p["patience"]):
            self.reactive = max(self.reactive * float(p["factor"]), float(p["min_ratio"]))
            self.num_bad_epochs = 0
        m = self._multiplier_now()
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * m
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, the schedule object and the cached curve."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule", "_curve")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._curve = self.schedule.curve_multipliers(self.total_steps)
