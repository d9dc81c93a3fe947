"""Learning-rate schedules as pure multipliers of the peak learning rate.

Every family is a function of the optimizer step ``t`` (0-based) and the training length ``T``
(``total_steps``) that returns a multiplier ``m(t) ∈ (0, 1]`` of the peak LR. Curves are defined
on *progress* so one parameter set means the same shape for any training length:

* ``W = round(warmup_frac · T)`` warmup steps (clamped to ``T − 1``), shared by every family
  except ``onecycle`` (which has its own ramp): ``m(t) = (t + 1)/(W + 1)`` for ``t < W``.
* ``q = (t − W)/(T − W) ∈ [0, 1)`` after warmup; the family's shape starts at ``q = 0``.
* ``r`` = final LR / peak LR (``final_ratio``).
* ``schedulefree`` is the one family that is an optimizer rather than a multiplier (Schedule-Free
  SGD/AdamW, Defazio et al. 2024): its curve is the package's own warmup
  ``m(t) = (t + 1)/W`` for ``t < W``, then ``m = 1``; its parameters (``beta``, ``r``,
  ``weight_lr_power``) configure the optimizer, which :func:`lrtune.train.build_optimizer` builds.

This module imports nothing of the rest of lrtune and nothing of Optuna. The Optuna side
(parameter names, ranges) lives in :mod:`lrtune.spaces`.

A :class:`Schedule` is an immutable family + peak LR + parameters. ``Schedule.build(optimizer,
total_steps)`` returns a :class:`ScheduleLR` — one ``torch.optim.lr_scheduler.LRScheduler`` that
multiplies each param group's own base LR; call ``.step()`` after every optimizer step and
``.epoch_end(metric)`` after every validation (only ``plateau`` reacts to it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = [
    "FAMILIES",
    "FAMILY_FORMULAS",
    "Schedule",
    "ScheduleLR",
    "family_defaults",
    "multipliers",
    "warmup_steps",
]

ShapeFn = Callable[[np.ndarray, int, int, Mapping[str, Any]], np.ndarray]
"""A family's shape: ``(t, T, W, params) -> m`` for post-warmup steps ``t`` (int array)."""


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


def warmup_steps(total_steps: int, warmup_frac: float) -> int:
    """``W = round(warmup_frac · T)``, clamped to ``[0, T − 1]`` so at least one step follows."""
    return int(min(max(round(warmup_frac * total_steps), 0), max(total_steps - 1, 0)))


def _progress(t: np.ndarray, total_steps: int, warmup: int) -> np.ndarray:
    """``q = (t − W)/(T − W)``."""
    return (t - warmup) / float(total_steps - warmup)


def _cosine_interp(start: np.ndarray | float, end: np.ndarray | float, u: np.ndarray) -> np.ndarray:
    """Half-cosine from ``start`` (u = 0) to ``end`` (u = 1): ``end + (start − end)·½(1 + cos πu)``."""
    return end + (start - end) * 0.5 * (1.0 + np.cos(np.pi * u))


def _linear_interp(start: np.ndarray | float, end: np.ndarray | float, u: np.ndarray) -> np.ndarray:
    """Straight line from ``start`` (u = 0) to ``end`` (u = 1)."""
    return start + (end - start) * u


# --------------------------------------------------------------------------------------------
# Families: each shape receives integer steps t ≥ W (post-warmup) and returns m(t)
# --------------------------------------------------------------------------------------------


def _constant(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = 1."""
    return np.ones_like(t, dtype=float)


def step_drop_points(*, n_drops: int, drop_start: float) -> np.ndarray:
    """Progress values where ``step`` multiplies by γ: ``q_k = s + k(1 − s)/n``, k = 0…n−1."""
    return drop_start + np.arange(n_drops) * (1.0 - drop_start) / n_drops


def step_milestones(*, total_steps: int, warmup_frac: float, n_drops: int, drop_start: float) -> list[int]:
    """The optimizer steps at which ``step`` drops (as ``torch.optim.lr_scheduler.MultiStepLR`` milestones).

    A drop happens at the first step whose progress ``q ≥ q_k``.
    """
    W = warmup_steps(total_steps, warmup_frac)
    t = np.arange(W, total_steps)
    q = _progress(t, total_steps, W)
    return [
        int(t[np.argmax(q >= qk)])
        for qk in step_drop_points(n_drops=n_drops, drop_start=drop_start)
        if (q >= qk).any()
    ]


def _step(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = γ^(number of drop points q_k passed); n drops evenly spaced from q = s to the end."""
    q = _progress(t, T, W)
    points = step_drop_points(n_drops=int(p["n_drops"]), drop_start=float(p["drop_start"]))
    passed = (q[:, None] >= points[None, :]).sum(axis=1)
    return float(p["gamma"]) ** passed


def _exponential(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = r^q (torch ``ExponentialLR`` with γ = r^(1/(T − W)))."""
    return float(p["final_ratio"]) ** _progress(t, T, W)


def _cosine(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = r + (1 − r)·½(1 + cos πq) (torch ``CosineAnnealingLR`` with T_max = T − W, eta_min = r·peak)."""
    return _cosine_interp(1.0, float(p["final_ratio"]), _progress(t, T, W))


def _poly(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = r + (1 − r)(1 − q)^p; p = 1 is linear decay (torch ``PolynomialLR`` when r = 0)."""
    r = float(p["final_ratio"])
    return r + (1.0 - r) * (1.0 - _progress(t, T, W)) ** float(p["power"])


def _wsd(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """Warmup-stable-decay: m = 1 until q = 1 − d, then with u = (q − (1 − d))/d decays to r:

    linear ``r + (1 − r)(1 − u)``, 1-sqrt ``r + (1 − r)(1 − √u)``, cosine ``r + (1 − r)·½(1 + cos πu)``.
    """
    r, d, shape = float(p["final_ratio"]), float(p["decay_frac"]), str(p["decay_shape"])
    u = np.clip((_progress(t, T, W) - (1.0 - d)) / d, 0.0, None)
    if shape == "linear":
        return r + (1.0 - r) * (1.0 - u)
    if shape == "1-sqrt":
        return r + (1.0 - r) * (1.0 - np.sqrt(u))
    return _cosine_interp(1.0, r, u)


def _rex(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """REX: m = r + (1 − r)(1 − q)/(1 − αq); α = 0 is linear decay, α = 0.5 the paper's REX."""
    r, a = float(p["final_ratio"]), float(p["alpha"])
    q = _progress(t, T, W)
    return r + (1.0 - r) * (1.0 - q) / (1.0 - a * q)


def _onecycle(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """One-cycle, exactly as ``torch.optim.lr_scheduler.OneCycleLR`` (no shared warmup):

    initial = 1/div, min = initial/final_div. Phase ends (in steps): e1 = pct_start·T − 1, then
    T − 1 (two-phase: initial → 1 → min) or e2 = 2·pct_start·T − 2, T − 1 (three-phase:
    initial → 1 → initial → min). Within a phase from step a to b, u = (t − a)/(b − a) and the
    value goes start → end by half-cosine (``anneal="cos"``) or linearly.
    """
    initial = 1.0 / float(p["div_factor"])
    low = initial / float(p["final_div_factor"])
    pct = float(p["pct_start"])
    interp = _cosine_interp if p["anneal"] == "cos" else _linear_interp
    if p.get("three_phase", False):
        phases = [(pct * T - 1, initial, 1.0), (2 * pct * T - 2, 1.0, initial), (T - 1, initial, low)]
    else:
        phases = [(pct * T - 1, initial, 1.0), (T - 1, 1.0, low)]
    out = np.empty(t.shape, dtype=float)
    assigned = np.zeros(t.shape, dtype=bool)
    start = 0.0
    for i, (end, a, b) in enumerate(phases):
        mask = ~assigned & ((t <= end) if i < len(phases) - 1 else True)
        span = end - start
        u = (t[mask] - start) / span if span != 0 else np.ones(int(mask.sum()))
        out[mask] = interp(a, b, u)
        assigned |= mask
        start = end
    return out


def sgdr_cycle_bounds(*, n_cycles: int, t_mult: int) -> np.ndarray:
    """Progress at which SGDR cycles start, plus 1.0: cycle k has length ∝ t_mult^k, the last ends at q = 1."""
    lengths = float(t_mult) ** np.arange(n_cycles)
    return np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()])


def _sgdr(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """Cosine with warm restarts: cycle k (length T₀·t_mult^k, T₀ chosen so the last cycle ends at T)

    has m = c^k·(r + (1 − r)·½(1 + cos πu)), u = position within the cycle, c = cycle_decay.
    With c = 1 this is torch ``CosineAnnealingWarmRestarts`` (T_0 = T₀, T_mult, eta_min = r·peak).
    Cycle boundaries are computed in steps (round to the nearest step) so restarts land on steps.
    """
    n, mult = int(p["n_cycles"]), int(p["t_mult"])
    r, c = float(p["final_ratio"]), float(p["cycle_decay"])
    L = T - W
    bounds = np.round(sgdr_cycle_bounds(n_cycles=n, t_mult=mult) * L).astype(np.int64)
    s = t - W
    k = np.clip(np.searchsorted(bounds, s, side="right") - 1, 0, n - 1)
    start, length = bounds[k], np.maximum(bounds[k + 1] - bounds[k], 1)
    u = (s - start) / length
    return c**k * _cosine_interp(1.0, r, u)


def _cyclic(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """Triangular cyclical LR between 1/max_over_base and 1, n whole cycles over T − W steps.

    With half-cycle s = (T − W)/(2n): cycle = ⌊1 + t/(2s)⌋, x = |t/s − 2·cycle + 1|,
    m = lo + (1 − lo)·max(0, 1 − x)·scale, scale = 1 (triangular) or 2^−(cycle−1) (triangular2).
    Equals torch ``CyclicLR(base_lr=peak/max_over_base, max_lr=peak, step_size_up=s)``.
    """
    lo = 1.0 / float(p["max_over_base"])
    n = int(p["n_cycles"])
    x_steps = (t - W) * (2.0 * n) / float(T - W)  # t/s
    cycle = np.floor(1.0 + x_steps / 2.0)
    x = np.abs(x_steps - 2.0 * cycle + 1.0)
    scale = 1.0 if p["mode"] == "triangular" else 1.0 / 2.0 ** (cycle - 1.0)
    return lo + (1.0 - lo) * np.maximum(0.0, 1.0 - x) * scale


def _rsqrt(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """Inverse square root: m = (1 + q/τ)^−½ with τ = timescale_frac (q(T − W)/τ(T − W) steps);

    optional linear cooldown over the last fraction c (cooldown_frac) from its value at
    q = 1 − c down towards 0: m = m(1 − c)·(1 − u), u = (q − (1 − c))/c < 1 (never exactly 0).
    """
    tau, c = float(p["timescale_frac"]), float(p["cooldown_frac"])
    q = _progress(t, T, W)
    m = (1.0 + q / tau) ** -0.5
    if c > 0:
        knee = (1.0 + (1.0 - c) / tau) ** -0.5
        u = (q - (1.0 - c)) / c
        m = np.where(u > 0, knee * (1.0 - u), m)
    return m


def _schedulefree(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """Schedule-Free: m = 1 after warmup (the optimizer averages its iterates instead of decaying)."""
    return np.ones_like(t, dtype=float)


def _linear_warmup(t: np.ndarray, W: int) -> np.ndarray:
    """The shared warmup: m = (t + 1)/(W + 1) — never exactly 0, and 1 would be reached at t = W."""
    return (t + 1.0) / (W + 1.0)


def _schedulefree_warmup(t: np.ndarray, W: int) -> np.ndarray:
    """The ``schedulefree`` package's warmup (``warmup_steps = W``): m = (t + 1)/W, reaching 1 at t = W − 1."""
    return (t + 1.0) / W


def _plateau(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """Reduce-on-plateau's closed-form part is constant (m = 1); the reactive factor lives in ScheduleLR."""
    return np.ones_like(t, dtype=float)


@dataclass(frozen=True)
class _Family:
    shape: ShapeFn
    defaults: Mapping[str, Any]
    formula: str
    uses_warmup: bool = True
    reactive: bool = False
    warmup: Callable[[np.ndarray, int], np.ndarray] = _linear_warmup
    schedule_free: bool = False
    checks: tuple[tuple[str, Callable[[Any], bool], str], ...] = ()


def _positive_ratio(v: Any) -> bool:
    return 0.0 < float(v) <= 1.0


_FAMILIES: dict[str, _Family] = {
    "constant": _Family(_constant, {}, "m = 1 (after warmup)"),
    "step": _Family(
        _step,
        {"n_drops": 2, "drop_start": 0.5, "gamma": 0.1},
        "m = γ^k, k = number of the n evenly spaced drop points (from progress s to the end) passed",
        checks=(
            ("n_drops", lambda v: int(v) == v and v >= 1, "an integer ≥ 1"),
            ("drop_start", lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
            ("gamma", lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
        ),
    ),
    "exponential": _Family(
        _exponential,
        {"final_ratio": 0.01},
        "m = r^q",
        checks=(("final_ratio", _positive_ratio, "in (0, 1]"),),
    ),
    "cosine": _Family(
        _cosine,
        {"final_ratio": 0.0},
        "m = r + (1 − r)·½(1 + cos πq)",
        checks=(("final_ratio", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),),
    ),
    "poly": _Family(
        _poly,
        {"power": 1.0, "final_ratio": 0.0},
        "m = r + (1 − r)(1 − q)^p",
        checks=(("power", lambda v: v > 0, "> 0"), ("final_ratio", lambda v: 0.0 <= v <= 1.0, "in [0, 1]")),
    ),
    "wsd": _Family(
        _wsd,
        {"decay_frac": 0.2, "decay_shape": "1-sqrt", "final_ratio": 0.0},
        "m = 1 until q = 1 − d, then decays to r over the last fraction d (linear, 1-sqrt or cosine)",
        checks=(
            ("decay_frac", lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
            ("decay_shape", lambda v: v in ("linear", "1-sqrt", "cosine"), "one of linear, 1-sqrt, cosine"),
            ("final_ratio", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
        ),
    ),
    "rex": _Family(
        _rex,
        {"alpha": 0.5, "final_ratio": 0.0},
        "m = r + (1 − r)(1 − q)/(1 − αq)",
        checks=(
            ("alpha", lambda v: -1.0 <= v < 1.0, "in [−1, 1)"),
            ("final_ratio", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
        ),
    ),
    "onecycle": _Family(
        _onecycle,
        {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4, "anneal": "cos", "three_phase": False},
        "ramp from peak/div to peak over pct_start of training, then anneal to peak/(div·final_div) (torch OneCycleLR)",
        uses_warmup=False,
        checks=(
            ("pct_start", lambda v: 0.0 < v < 1.0, "in (0, 1)"),
            ("div_factor", lambda v: v >= 1.0, "≥ 1"),
            ("final_div_factor", lambda v: v >= 1.0, "≥ 1"),
            ("anneal", lambda v: v in ("cos", "linear"), "one of cos, linear"),
            ("three_phase", lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
        ),
    ),
    "sgdr": _Family(
        _sgdr,
        {"n_cycles": 3, "t_mult": 2, "cycle_decay": 1.0, "final_ratio": 0.0},
        "cosine restarts: cycle k has length T₀·t_mult^k and peak c^k, the last cycle ends at T",
        checks=(
            ("n_cycles", lambda v: int(v) == v and v >= 1, "an integer ≥ 1"),
            ("t_mult", lambda v: int(v) == v and v >= 1, "an integer ≥ 1"),
            ("cycle_decay", lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
            ("final_ratio", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
        ),
    ),
    "cyclic": _Family(
        _cyclic,
        {"max_over_base": 4.0, "n_cycles": 2, "mode": "triangular"},
        "triangular cycles between peak/ratio and peak, an integer number of cycles (torch CyclicLR)",
        checks=(
            ("max_over_base", lambda v: v >= 1.0, "≥ 1"),
            ("n_cycles", lambda v: int(v) == v and v >= 1, "an integer ≥ 1"),
            ("mode", lambda v: v in ("triangular", "triangular2"), "one of triangular, triangular2"),
        ),
    ),
    "rsqrt": _Family(
        _rsqrt,
        {"timescale_frac": 0.05, "cooldown_frac": 0.1},
        "m = (1 + q/τ)^−½, then a linear cooldown over the last cooldown_frac",
        checks=(
            ("timescale_frac", lambda v: v > 0.0, "> 0"),
            ("cooldown_frac", lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
        ),
    ),
    "plateau": _Family(
        _plateau,
        {"factor": 0.2, "patience": 2, "threshold": 1e-3, "min_ratio": 1e-3},
        "m ← max(m·factor, r) after more than `patience` epochs without a relative improvement > threshold",
        reactive=True,
        checks=(
            ("factor", lambda v: 0.0 < v < 1.0, "in (0, 1)"),
            ("patience", lambda v: int(v) == v and v >= 0, "an integer ≥ 0"),
            ("threshold", lambda v: v >= 0.0, "≥ 0"),
            ("min_ratio", lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
        ),
    ),
    "schedulefree": _Family(
        _schedulefree,
        {"beta": 0.9, "r": 0.0, "weight_lr_power": 2.0},
        "Schedule-Free SGD/AdamW: m = (t + 1)/W during warmup, then 1; the optimizer evaluates at an "
        "average x of its iterates z and takes gradients at y = (1 − β)z + βx",
        warmup=_schedulefree_warmup,
        schedule_free=True,
        checks=(
            ("beta", lambda v: 0.0 < v < 1.0, "in (0, 1)"),
            ("r", lambda v: v >= 0.0, "≥ 0"),
            ("weight_lr_power", lambda v: v >= 0.0, "≥ 0"),
        ),
    ),
}

FAMILIES: tuple[str, ...] = tuple(_FAMILIES)
"""All schedule family names, in the order lrtune reports them."""

FAMILY_FORMULAS: Mapping[str, str] = MappingProxyType({name: f.formula for name, f in _FAMILIES.items()})
"""One line per family: its multiplier in words (q = progress after warmup, r = final ratio)."""


def _family(name: str) -> _Family:
    try:
        return _FAMILIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown schedule family {name!r}; valid families: {', '.join(FAMILIES)}") from None


def family_defaults(family: str) -> dict[str, Any]:
    """The default parameters of ``family`` (short names, no prefix)."""
    return dict(_family(family).defaults)


def multipliers(
    family: str, params: Mapping[str, Any], *, steps: np.ndarray, total_steps: int, warmup_frac: float = 0.0
) -> np.ndarray:
    """Vectorised multiplier m(t) for integer ``steps`` (closed-form part; plateau's reactions excluded).

    Steps ≥ T hold the last value m(T − 1) (a schedule never climbs back after its end).
    """
    fam = _family(family)
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
    """

    family: str
    peak_lr: float
    warmup_frac: float = 0.0
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fam = _family(self.family)
        peak = _check_number("peak_lr", self.peak_lr)
        if not (math.isfinite(peak) and peak > 0):
            raise ValueError(f"peak_lr must be a finite number > 0, but got {self.peak_lr!r}")
        warm = _check_number("warmup_frac", self.warmup_frac)
        if not 0.0 <= warm < 1.0:
            raise ValueError(f"warmup_frac must be in [0, 1), but got {self.warmup_frac!r}")
        unknown = set(self.params) - set(fam.defaults)
        if unknown:
            valid = ", ".join(fam.defaults) or "none"
            raise ValueError(
                f"unknown parameter(s) {', '.join(sorted(unknown))} for family {self.family!r}; valid: {valid}"
            )
        merged = {**fam.defaults, **self.params}
        for key, ok, what in fam.checks:
            value = merged[key]
            if not isinstance(value, (str, bool, np.bool_)):
                _check_number(f"{self.family} {key}", value)
            if not ok(value):
                raise ValueError(f"{self.family} {key} must be {what}, but got {value!r}")
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
        :func:`lrtune.train.build_optimizer`), the curve only its warmup; ``params`` configure it."""
        return _family(self.family).schedule_free

    @property
    def reactive(self) -> bool:
        """True for families whose LR reacts to the validation metric (only ``plateau``)."""
        return _family(self.family).reactive

    def multiplier(self, step: int, total_steps: int) -> float:
        """m(step) ∈ (0, 1] of the closed-form curve (plateau: before any reduction)."""
        return float(self.curve_multipliers(total_steps, steps=np.asarray([step]))[0])

    def lr_at(self, step: int, total_steps: int) -> float:
        """``peak_lr · m(step)``."""
        return self.peak_lr * self.multiplier(step, total_steps)

    def curve_multipliers(self, total_steps: int, *, steps: np.ndarray | None = None) -> np.ndarray:
        """m(t) for ``steps`` (default every step 0…T−1) in one vectorised evaluation."""
        steps = np.arange(total_steps) if steps is None else steps
        return multipliers(
            self.family, self.params, steps=steps, total_steps=total_steps, warmup_frac=self.warmup_frac
        )

    def curve(self, total_steps: int) -> np.ndarray:
        """The learning rate at every step 0…T−1 (numpy array of length T)."""
        return self.peak_lr * self.curve_multipliers(total_steps)

    def describe(self) -> str:
        """The schedule in words, e.g. ``cosine: peak LR 0.1, warmup 5% of steps, final_ratio=0.001``."""
        parts = [f"peak LR {self.peak_lr:.4g}"]
        if _family(self.family).uses_warmup:
            parts.append(f"warmup {self.warmup_frac:.1%} of steps")
        parts += [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items()]
        return f"{self.family}: " + ", ".join(parts)

    def to_params(self, *, prefix: str = "", include_family: bool = False) -> dict[str, Any]:
        """Optuna-style names: ``{prefix}lr``, ``{prefix}warmup_frac``, ``{prefix}{family}_{name}``."""
        out: dict[str, Any] = {}
        if include_family:
            out[f"{prefix}family"] = self.family
        out[f"{prefix}lr"] = self.peak_lr
        if _family(self.family).uses_warmup:
            out[f"{prefix}warmup_frac"] = self.warmup_frac
        out.update({f"{prefix}{self.family}_{k}": v for k, v in self.params.items()})
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, family: str | None = None, prefix: str = "") -> Schedule:
        """Rebuild the exact schedule from a finished trial's ``params``.

        ``family`` is read from ``params[prefix + "family"]`` when the study chose it; pass it
        when the study tuned a single family. Parameters the space did not search (fixed values,
        ``three_phase``, plateau's ``min_ratio``) take their defaults unless present.
        """
        if family is None:
            key = f"{prefix}family"
            if key not in params:
                raise ValueError(f"params have no {key!r}: pass family= (one of {', '.join(FAMILIES)})")
            family = str(params[key])
        fam = _family(family)
        if f"{prefix}lr" not in params:
            raise ValueError(f"params must contain {prefix + 'lr'!r} (the peak LR), but got keys {sorted(params)}")
        own = f"{prefix}{family}_"
        family_params = {k[len(own) :]: v for k, v in params.items() if k.startswith(own)}
        family_params = {k: v for k, v in family_params.items() if k in fam.defaults}
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
        """
        return ScheduleLR(optimizer, self, total_steps=total_steps)


# --------------------------------------------------------------------------------------------
# The torch scheduler
# --------------------------------------------------------------------------------------------

try:  # torch is a dependency, but keep the pure maths importable without it
    from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler
except ImportError:  # pragma: no cover
    _TorchLRScheduler = object  # type: ignore[assignment,misc]


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
        task minimises its loss). No-op unless reactive."""
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
