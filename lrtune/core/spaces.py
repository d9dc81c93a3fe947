"""Schedule families as Optuna search spaces.

Parameter names: the shared peak LR ``lr`` and ``warmup_frac`` and, for each family, its own
parameters prefixed with the family (``cosine_final_ratio``, ``step_gamma``, …), everything
behind an optional caller ``prefix`` so the space can sit next to the caller's own parameters.
A joint space over several families adds a categorical ``family`` and suggests only the chosen
family's parameters; the family prefixes keep every name bound to one distribution.

Fixed values (``lr=0.1``) are suggested as single-point distributions, so they are stored in
the trial's params and :meth:`lrtune.Schedule.from_params` can rebuild the schedule from them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from lrtune.core.families import FAMILIES, FAMILY, Choices, Floats, Ints
from lrtune.core.schedules import Schedule

__all__ = [
    "DEFAULT_LR_RANGE",
    "DEFAULT_WARMUP_RANGE",
    "family_distributions",
    "resolve_families",
    "search_space",
    "suggest_schedule",
]

RangeOrValue = float | Sequence[float]

DEFAULT_LR_RANGE: tuple[float, float] = (1e-4, 1.0)
"""Peak LR prior (log scale). SGD+momentum lives around 1e-3–1, AdamW around 1e-5–1e-2."""

DEFAULT_WARMUP_RANGE: tuple[float, float] = (0.0, 0.1)
"""Fraction of all steps spent in linear warmup."""


def _distribution(space: Floats | Ints | Choices) -> BaseDistribution:
    """The Optuna distribution of a family parameter's searched range or choices."""
    if isinstance(space, Floats):
        return FloatDistribution(space.low, space.high, log=space.log)
    if isinstance(space, Ints):
        return IntDistribution(space.low, space.high)
    return CategoricalDistribution(space.values)


_FAMILY_SPACES: Mapping[str, Mapping[str, BaseDistribution]] = MappingProxyType(
    {
        name: MappingProxyType(
            {key: _distribution(p.space) for key, p in family.params.items() if p.space is not None}
        )
        for name, family in FAMILY.items()
    }
)
"""Each family's searched parameters as Optuna distributions (unsearched ones keep their default)."""


def resolve_families(family: str | Iterable[str]) -> tuple[str, ...]:
    """``"cosine"`` → ``("cosine",)``; ``"all"`` → every family; a list is checked and de-duplicated."""
    if isinstance(family, str):
        names = list(FAMILIES) if family == "all" else [part.strip() for part in family.split(",")]
    else:
        names = list(family)
        if names == ["all"]:
            names = list(FAMILIES)
    if not names:
        raise ValueError(f"family must name at least one family; valid families: {', '.join(FAMILIES)}")
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise ValueError(
            f"unknown schedule family {unknown[0]!r}; valid families: {', '.join(FAMILIES)} (or 'all')"
        )
    return tuple(dict.fromkeys(names))


def _range_distribution(
    name: str, value: RangeOrValue, *, log: bool, low_ok: float, high_ok: float | None
) -> FloatDistribution:
    """A float range ``(low, high)`` or a fixed value as a single-point distribution, validated."""
    lower = "0 <" if low_ok == 0 and log else "0 ≤"
    upper = f" < {high_ok:g}" if high_ok is not None else ""
    rule = f"{name} must be a number or a (low, high) pair with {lower} low ≤ high{upper}"
    if isinstance(value, bool):
        raise ValueError(f"{rule}, but got {value!r}")
    if isinstance(value, (int, float)):
        low = high = float(value)
    else:
        try:
            low, high = (float(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"{rule}, but got {value!r}") from None
    finite = math.isfinite(low) and math.isfinite(high)
    bad_low = low <= 0 if log else low < 0
    bad_high = high_ok is not None and high >= high_ok
    if not finite or bad_low or bad_high or low > high:
        raise ValueError(f"{rule}, but got {value!r}")
    return FloatDistribution(low, high, log=log and low < high)


def family_distributions(family: str) -> dict[str, BaseDistribution]:
    """The family's own distributions by short name (no family or caller prefix).

    >>> family_distributions("sgdr")["t_mult"]
    CategoricalDistribution(choices=(1, 2))
    >>> sorted(family_distributions("plateau"))
    ['factor', 'patience', 'threshold']
    """
    resolve_families(family)
    return dict(_FAMILY_SPACES[family])


def _single_family_space(
    family: str, prefix: str, lr: FloatDistribution, warmup: FloatDistribution
) -> dict[str, BaseDistribution]:
    space: dict[str, BaseDistribution] = {f"{prefix}lr": lr}
    if FAMILY[family].uses_warmup:
        space[f"{prefix}warmup_frac"] = warmup
    space.update({f"{prefix}{family}_{k}": d for k, d in _FAMILY_SPACES[family].items()})
    return space


def _shared_distributions(lr: RangeOrValue, warmup: RangeOrValue) -> tuple[FloatDistribution, FloatDistribution]:
    return (
        _range_distribution("lr", lr, log=True, low_ok=0.0, high_ok=None),
        _range_distribution("warmup", warmup, log=False, low_ok=0.0, high_ok=1.0),
    )


def search_space(
    family: str | Iterable[str],
    *,
    prefix: str = "",
    lr: RangeOrValue = DEFAULT_LR_RANGE,
    warmup: RangeOrValue = DEFAULT_WARMUP_RANGE,
) -> dict[str, BaseDistribution]:
    """Every distribution the space can suggest, by full parameter name.

    For several families (a list or ``"all"``) this is the union: ``{prefix}family`` plus each
    family's conditional parameters — use it for ``enqueue_trial``, ``create_trial`` or docs.

    >>> list(search_space("cosine"))
    ['lr', 'warmup_frac', 'cosine_final_ratio']
    >>> search_space("cosine")["cosine_final_ratio"]
    FloatDistribution(high=0.1, log=True, low=0.0001, step=None)
    >>> list(search_space(["cosine", "onecycle"], prefix="sched_", lr=0.1))  # onecycle has no warmup
    ['sched_family', 'sched_lr', 'sched_warmup_frac', 'sched_cosine_final_ratio', 'sched_onecycle_pct_start', 'sched_onecycle_div_factor', 'sched_onecycle_final_div_factor', 'sched_onecycle_anneal']
    """
    families = resolve_families(family)
    lr_dist, warm_dist = _shared_distributions(lr, warmup)
    space: dict[str, BaseDistribution] = {}
    if len(families) > 1:
        space[f"{prefix}family"] = CategoricalDistribution(families)
    for name in families:
        space.update(_single_family_space(name, prefix, lr_dist, warm_dist))
    return space


def _suggest(trial: optuna.trial.BaseTrial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, FloatDistribution):
        if dist.single() and isinstance(trial, optuna.trial.FixedTrial) and name not in trial.params:
            try:
                return trial.suggest_float(name, dist.low, dist.high)
            except ValueError:  # a FixedTrial need not repeat fixed values
                return dist.low
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    raise TypeError(f"unsupported distribution {dist!r}")  # pragma: no cover


def suggest_schedule(
    trial: optuna.trial.BaseTrial,
    family: str | Iterable[str],
    *,
    lr: RangeOrValue = DEFAULT_LR_RANGE,
    warmup: RangeOrValue = DEFAULT_WARMUP_RANGE,
    prefix: str = "",
) -> Schedule:
    """Suggest a schedule of ``family`` from a live trial (or ``FixedTrial``).

    ``family`` may be one name, a list of names or ``"all"``; with several, a categorical
    ``{prefix}family`` picks one and only that family's parameters are suggested. The peak LR
    (``{prefix}lr``, log scale) is always tuned inside the family unless ``lr`` is a fixed float.

    >>> import optuna
    >>> trial = optuna.trial.FixedTrial({"lr": 0.1, "warmup_frac": 0.05, "cosine_final_ratio": 0.01})
    >>> suggest_schedule(trial, "cosine").describe()
    'cosine: peak LR 0.1, warmup 5.0% of steps, final_ratio=0.01'
    >>> trial = optuna.trial.FixedTrial(
    ...     {"family": "step", "lr": 0.1, "warmup_frac": 0.0, "step_n_drops": 2, "step_drop_start": 0.5, "step_gamma": 0.2}
    ... )
    >>> suggest_schedule(trial, ["cosine", "step"]).describe()
    'step: peak LR 0.1, warmup 0.0% of steps, n_drops=2, drop_start=0.5, gamma=0.2'

    In a live study, the sampler picks the values:

    >>> study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    >>> trial = study.ask()
    >>> schedule = suggest_schedule(trial, "wsd", lr=(1e-3, 1.0))
    >>> sorted(trial.params)
    ['lr', 'warmup_frac', 'wsd_decay_frac', 'wsd_decay_shape', 'wsd_final_ratio']
    >>> schedule == Schedule.from_params(trial.params, family="wsd")
    True
    """
    families = resolve_families(family)
    lr_dist, warm_dist = _shared_distributions(lr, warmup)
    if len(families) > 1:
        chosen = _suggest(trial, f"{prefix}family", CategoricalDistribution(families))
    else:
        chosen = families[0]
    values = {
        name: _suggest(trial, name, dist)
        for name, dist in _single_family_space(chosen, prefix, lr_dist, warm_dist).items()
    }
    return Schedule.from_params(values, family=chosen, prefix=prefix)
