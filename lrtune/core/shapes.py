"""The shape of every schedule family: pure numpy multipliers of the peak learning rate.

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
  ``weight_lr_power``) configure the optimizer, which :func:`lrtune.training.train.build_optimizer` builds.

Each shape ``f(t, T, W, params)`` receives integer post-warmup steps ``t ≥ W`` and the family's
parameters by short name. :mod:`lrtune.core.families` binds each shape to its parameters and
:func:`lrtune.core.schedules.multipliers` puts warmup and shape together. Imports nothing of lrtune.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "ShapeFn",
    "WarmupFn",
    "constant",
    "cosine",
    "cyclic",
    "exponential",
    "linear_warmup",
    "onecycle",
    "plateau",
    "poly",
    "rex",
    "rsqrt",
    "schedulefree",
    "schedulefree_warmup",
    "sgdr",
    "sgdr_cycle_bounds",
    "step",
    "step_drop_points",
    "step_milestones",
    "warmup_steps",
    "wsd",
]

ShapeFn = Callable[[np.ndarray, int, int, Mapping[str, Any]], np.ndarray]
"""A family's shape: ``(t, T, W, params) -> m`` for post-warmup steps ``t`` (int array)."""

WarmupFn = Callable[[np.ndarray, int], np.ndarray]
"""A family's warmup: ``(t, W) -> m`` for the steps ``t < W``."""


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


def warmup_steps(total_steps: int, warmup_frac: float) -> int:
    """``W = round(warmup_frac · T)``, clamped to ``[0, T − 1]`` so at least one step follows.

    >>> warmup_steps(1000, 0.05), warmup_steps(10, 0.99)
    (50, 9)
    """
    return int(min(max(round(warmup_frac * total_steps), 0), max(total_steps - 1, 0)))


def linear_warmup(t: np.ndarray, W: int) -> np.ndarray:
    """The shared warmup: m = (t + 1)/(W + 1) — never exactly 0, and 1 would be reached at t = W."""
    return (t + 1.0) / (W + 1.0)


def schedulefree_warmup(t: np.ndarray, W: int) -> np.ndarray:
    """The ``schedulefree`` package's warmup (``warmup_steps = W``): m = (t + 1)/W, reaching 1 at t = W − 1."""
    return (t + 1.0) / W


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


def constant(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = 1."""
    return np.ones_like(t, dtype=float)


def step_drop_points(*, n_drops: int, drop_start: float) -> np.ndarray:
    """Progress values where ``step`` multiplies by γ: ``q_k = s + k(1 − s)/n``, k = 0…n−1."""
    return drop_start + np.arange(n_drops) * (1.0 - drop_start) / n_drops


def step_milestones(*, total_steps: int, warmup_frac: float, n_drops: int, drop_start: float) -> list[int]:
    """The optimizer steps at which ``step`` drops (as ``torch.optim.lr_scheduler.MultiStepLR`` milestones).

    A drop happens at the first step whose progress ``q ≥ q_k``.

    >>> step_milestones(total_steps=100, warmup_frac=0.0, n_drops=2, drop_start=0.5)
    [50, 75]
    """
    W = warmup_steps(total_steps, warmup_frac)
    t = np.arange(W, total_steps)
    q = _progress(t, total_steps, W)
    return [
        int(t[np.argmax(q >= qk)])
        for qk in step_drop_points(n_drops=n_drops, drop_start=drop_start)
        if (q >= qk).any()
    ]


def step(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = γ^(number of drop points q_k passed); n drops evenly spaced from q = s to the end."""
    q = _progress(t, T, W)
    points = step_drop_points(n_drops=int(p["n_drops"]), drop_start=float(p["drop_start"]))
    passed = (q[:, None] >= points[None, :]).sum(axis=1)
    return float(p["gamma"]) ** passed


def exponential(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = r^q (torch ``ExponentialLR`` with γ = r^(1/(T − W)))."""
    return float(p["final_ratio"]) ** _progress(t, T, W)


def cosine(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = r + (1 − r)·½(1 + cos πq) (torch ``CosineAnnealingLR`` with T_max = T − W, eta_min = r·peak)."""
    return _cosine_interp(1.0, float(p["final_ratio"]), _progress(t, T, W))


def poly(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """m = r + (1 − r)(1 − q)^p; p = 1 is linear decay (torch ``PolynomialLR`` when r = 0)."""
    r = float(p["final_ratio"])
    return r + (1.0 - r) * (1.0 - _progress(t, T, W)) ** float(p["power"])


def wsd(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
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


def rex(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """REX: m = r + (1 − r)(1 − q)/(1 − αq); α = 0 is linear decay, α = 0.5 the paper's REX."""
    r, a = float(p["final_ratio"]), float(p["alpha"])
    q = _progress(t, T, W)
    return r + (1.0 - r) * (1.0 - q) / (1.0 - a * q)


def onecycle(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
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


def sgdr(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
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


def cyclic(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
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


def rsqrt(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
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


def plateau(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """Reduce-on-plateau's closed-form part is constant (m = 1); the reactive factor lives in ScheduleLR."""
    return np.ones_like(t, dtype=float)


def schedulefree(t: np.ndarray, T: int, W: int, p: Mapping[str, Any]) -> np.ndarray:
    """Schedule-Free: m = 1 after warmup (the optimizer averages its iterates instead of decaying)."""
    return np.ones_like(t, dtype=float)
