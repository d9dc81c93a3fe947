"""Every fact about every schedule family, written once: one :class:`Family` per name in :data:`FAMILY`.

A family is its shape (a function in :mod:`lrtune.core.shapes`), its formula in words, whether the
shared warmup applies, and its parameters. Each :class:`Param` holds its default, which values
are valid (:class:`Rule`), the range or choices lrtune searches (``None``: not searched, the
default is used) and its meaning for the dashboard notes. The rest derives from this table:

* :class:`lrtune.Schedule` validates and fills in parameters from it (:mod:`lrtune.core.schedules`);
* :mod:`lrtune.core.spaces` turns each :attr:`Param.space` into an Optuna distribution;
* :mod:`lrtune.report.notes` explains parameters with :data:`PARAMETER_MEANINGS`.

Plain data: imports nothing of Optuna or torch, and of lrtune only :mod:`lrtune.core.shapes`.

>>> FAMILY["cosine"].formula
'm = r + (1 − r)·½(1 + cos πq)'
>>> FAMILY["onecycle"].uses_warmup
False
>>> FAMILY["wsd"].params["decay_shape"].space
Choices(values=('linear', '1-sqrt', 'cosine'))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from lrtune.core import shapes
from lrtune.core.shapes import ShapeFn, WarmupFn

__all__ = [
    "FAMILIES",
    "FAMILY",
    "FAMILY_FORMULAS",
    "PARAMETER_MEANINGS",
    "Choices",
    "Family",
    "Floats",
    "Ints",
    "Param",
    "Rule",
    "family_defaults",
    "family_facts",
]


# --------------------------------------------------------------------------------------------
# The vocabulary: searched ranges, validity rules, parameters, families
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Floats:
    """Floats searched in ``[low, high]``, uniformly or (``log``) on a log scale."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Ints:
    """Integers searched in ``[low, high]``."""

    low: int
    high: int


@dataclass(frozen=True)
class Choices:
    """One of ``values``."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class Rule:
    """The values a parameter accepts: ``test(value)`` and the rule in words for the error message."""

    test: Callable[[Any], bool]
    words: str


@dataclass(frozen=True)
class Param:
    """One family parameter: default, valid values, searched space (``None``: fixed), meaning."""

    default: Any
    valid: Rule
    space: Floats | Ints | Choices | None = None
    meaning: str = ""
    """What the parameter means, for the dashboard notes ("": nothing is shown)."""


@dataclass(frozen=True)
class Family:
    """One schedule family: ``m(t) = warmup(t, W)`` for ``t < W``, else ``shape(t, T, W, params)``."""

    shape: ShapeFn
    formula: str
    """The multiplier in words (q = progress after warmup, r = final ratio)."""
    params: Mapping[str, Param] = field(default_factory=dict)
    uses_warmup: bool = True
    """False when the shape has its own ramp (``onecycle``): no ``warmup_frac``, W = 0."""
    warmup: WarmupFn = shapes.linear_warmup
    reactive: bool = False
    """True when the LR also reacts to the validation metric (``plateau``)."""
    schedule_free: bool = False
    """True when the family is an optimizer (``schedulefree``) and the curve only its warmup."""

    @property
    def defaults(self) -> dict[str, Any]:
        """The default of every parameter, in the table's order."""
        return {name: param.default for name, param in self.params.items()}


def _one_of(default: Any, choices: tuple[Any, ...], meaning: str) -> Param:
    """A categorical parameter: valid values and searched choices are the same tuple."""
    words = "one of " + ", ".join(str(c) for c in choices)
    return Param(default, Rule(lambda v: v in choices, words), Choices(choices), meaning)


_COUNT = Rule(lambda v: int(v) == v and v >= 1, "an integer ≥ 1")
_UNIT = Rule(lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
_UNIT_NO_ZERO = Rule(lambda v: 0.0 < v <= 1.0, "in (0, 1]")
_UNIT_NO_ONE = Rule(lambda v: 0.0 <= v < 1.0, "in [0, 1)")
_UNIT_OPEN = Rule(lambda v: 0.0 < v < 1.0, "in (0, 1)")
_POSITIVE = Rule(lambda v: v > 0.0, "> 0")
_NON_NEGATIVE = Rule(lambda v: v >= 0.0, "≥ 0")
_AT_LEAST_ONE = Rule(lambda v: v >= 1.0, "≥ 1")

_FINAL_RATIO = Param(0.0, _UNIT, Floats(1e-4, 0.1, log=True), "final LR / peak LR")
_N_CYCLES = Param(3, _COUNT, Ints(1, 6), "number of cycles")

# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------

_TABLE: dict[str, Family] = {
    "constant": Family(shapes.constant, "m = 1 (after warmup)"),
    "step": Family(
        shapes.step,
        "m = γ^k, k = number of the n evenly spaced drop points (from progress s to the end) passed",
        {
            "n_drops": Param(2, _COUNT, Ints(1, 3), "number of LR drops"),
            "drop_start": Param(0.5, _UNIT_NO_ONE, Floats(0.3, 0.8), "training progress of the first drop"),
            "gamma": Param(0.1, _UNIT_NO_ZERO, Floats(0.05, 0.5, log=True), "LR factor applied at each drop"),
        },
    ),
    "exponential": Family(
        shapes.exponential,
        "m = r^q",
        {
            "final_ratio": replace(
                _FINAL_RATIO,
                default=0.01,
                valid=Rule(lambda v: 0.0 < float(v) <= 1.0, "in (0, 1]"),  # r = 0 has no r^q
                space=Floats(1e-3, 0.5, log=True),
            )
        },
    ),
    "cosine": Family(shapes.cosine, "m = r + (1 − r)·½(1 + cos πq)", {"final_ratio": _FINAL_RATIO}),
    "poly": Family(
        shapes.poly,
        "m = r + (1 − r)(1 − q)^p",
        {
            "power": Param(
                1.0,
                Rule(lambda v: v > 0, "> 0"),
                Floats(0.5, 3.0, log=True),
                "exponent of the polynomial decay (1 = linear)",
            ),
            "final_ratio": _FINAL_RATIO,
        },
    ),
    "wsd": Family(
        shapes.wsd,
        "m = 1 until q = 1 − d, then decays to r over the last fraction d (linear, 1-sqrt or cosine)",
        {
            "decay_frac": Param(
                0.2, _UNIT_NO_ZERO, Floats(0.05, 1.0), "fraction of training spent in the final decay"
            ),
            "decay_shape": _one_of("1-sqrt", ("linear", "1-sqrt", "cosine"), "shape of the final decay"),
            "final_ratio": _FINAL_RATIO,
        },
    ),
    "rex": Family(
        shapes.rex,
        "m = r + (1 − r)(1 − q)/(1 − αq)",
        {
            "alpha": Param(
                0.5,
                Rule(lambda v: -1.0 <= v < 1.0, "in [−1, 1)"),
                Floats(-1.0, 0.9),
                "REX curvature (0 = linear decay, 0.5 = the paper's REX)",
            ),
            "final_ratio": _FINAL_RATIO,
        },
    ),
    "onecycle": Family(
        shapes.onecycle,
        "ramp from peak/div to peak over pct_start of training, then anneal to peak/(div·final_div) (torch OneCycleLR)",
        {
            "pct_start": Param(
                0.3, _UNIT_OPEN, Floats(0.1, 0.5), "fraction of the steps ramping up to the peak (replaces warmup)"
            ),
            "div_factor": Param(
                25.0, _AT_LEAST_ONE, Floats(10.0, 1e3, log=True), "starting LR = peak / div_factor"
            ),
            "final_div_factor": Param(
                1e4, _AT_LEAST_ONE, Floats(1e2, 1e5, log=True), "final LR = starting LR / final_div_factor"
            ),
            "anneal": _one_of("cos", ("cos", "linear"), "annealing shape"),
            "three_phase": Param(False, Rule(lambda v: isinstance(v, (bool, np.bool_)), "a bool")),
        },
        uses_warmup=False,  # its pct_start ramp replaces the shared warmup
    ),
    "sgdr": Family(
        shapes.sgdr,
        "cosine restarts: cycle k has length T₀·t_mult^k and peak c^k, the last cycle ends at T",
        {
            "n_cycles": _N_CYCLES,
            "t_mult": Param(2, _COUNT, Choices((1, 2)), "each cycle is t_mult times longer than the one before"),
            "cycle_decay": Param(1.0, _UNIT_NO_ZERO, Floats(0.5, 1.0), "peak multiplier per restart"),
            "final_ratio": _FINAL_RATIO,
        },
    ),
    "cyclic": Family(
        shapes.cyclic,
        "triangular cycles between peak/ratio and peak, an integer number of cycles (torch CyclicLR)",
        {
            "max_over_base": Param(
                4.0, _AT_LEAST_ONE, Floats(2.0, 10.0, log=True), "peak / base LR within a cycle"
            ),
            "n_cycles": replace(_N_CYCLES, default=2),
            "mode": _one_of("triangular", ("triangular", "triangular2"), "cyclic mode"),
        },
    ),
    "rsqrt": Family(
        shapes.rsqrt,
        "m = (1 + q/τ)^−½, then a linear cooldown over the last cooldown_frac",
        {
            "timescale_frac": Param(
                0.05, _POSITIVE, Floats(0.005, 0.2, log=True), "time scale τ as a fraction of the steps"
            ),
            "cooldown_frac": Param(
                0.1, _UNIT_NO_ONE, Floats(0.0, 0.3), "fraction of the steps in the final linear cooldown"
            ),
        },
    ),
    "plateau": Family(
        shapes.plateau,
        "m ← max(m·factor, r) after more than `patience` epochs without a relative improvement > threshold",
        {
            "factor": Param(0.2, _UNIT_OPEN, Floats(0.1, 0.5, log=True), "LR multiplier after a plateau"),
            "patience": Param(
                2,
                Rule(lambda v: int(v) == v and v >= 0, "an integer ≥ 0"),
                Ints(0, 3),
                "epochs without improvement before the LR is cut",
            ),
            "threshold": Param(
                1e-3, _NON_NEGATIVE, Floats(1e-4, 1e-2, log=True), "smallest relative improvement that counts"
            ),
            "min_ratio": Param(1e-3, _UNIT_NO_ZERO),
        },
        reactive=True,
    ),
    # Schedule-Free (Defazio et al. 2024): β interpolates the gradient point between the average
    # x and the SGD/Adam iterate z (the paper's default 0.9; its authors advise 0.95–0.98 for long
    # runs); r weights the average towards later iterates, c ∝ (t + 1)^r (the paper's default 0).
    "schedulefree": Family(
        shapes.schedulefree,
        "Schedule-Free SGD/AdamW: m = (t + 1)/W during warmup, then 1; the optimizer evaluates at an "
        "average x of its iterates z and takes gradients at y = (1 − β)z + βx",
        {
            "beta": Param(
                0.9,
                _UNIT_OPEN,
                Floats(0.75, 0.98),
                "Schedule-Free β: gradients are taken at y = (1 − β)·z + β·x (SGD momentum / AdamW β1)",
            ),
            "r": Param(
                0.0,
                _NON_NEGATIVE,
                Floats(0.0, 1.0),
                "Schedule-Free averaging weight ∝ (step + 1)^r (0 = uniform average of the iterates)",
            ),
            "weight_lr_power": Param(
                2.0,
                _NON_NEGATIVE,
                meaning="Schedule-Free averaging weight ∝ (largest LR so far)^power (warmup steps count less)",
            ),
        },
        warmup=shapes.schedulefree_warmup,
        schedule_free=True,
    ),
}

FAMILY: Mapping[str, Family] = MappingProxyType(_TABLE)
"""Every family by name, in the order lrtune reports them."""

FAMILIES: tuple[str, ...] = tuple(FAMILY)
"""All schedule family names, in the order lrtune reports them."""

FAMILY_FORMULAS: Mapping[str, str] = MappingProxyType({name: f.formula for name, f in FAMILY.items()})
"""One line per family: its multiplier in words (q = progress after warmup, r = final ratio)."""

SHARED_MEANINGS: Mapping[str, str] = MappingProxyType(
    {
        "lr": "peak learning rate (the optimizer's LR; the schedule multiplies it)",
        "warmup_frac": "fraction of the steps spent in linear warmup",
    }
)
"""The meaning of the parameters every family shares (``lr``; ``warmup_frac`` where it warms up)."""


def _parameter_meanings() -> dict[str, str]:
    """Short parameter name → meaning over all families; one name must mean one thing."""
    meanings = dict(SHARED_MEANINGS)
    for family_name, family in FAMILY.items():
        for name, param in family.params.items():
            if not param.meaning:
                continue
            if meanings.setdefault(name, param.meaning) != param.meaning:
                raise AssertionError(
                    f"{family_name} {name} means two things: {meanings[name]!r}, {param.meaning!r}"
                )
    return meanings


PARAMETER_MEANINGS: Mapping[str, str] = MappingProxyType(_parameter_meanings())
"""What each parameter means, by short name (no family or caller prefix), for the notes.

>>> PARAMETER_MEANINGS["final_ratio"]
'final LR / peak LR'
"""


def family_facts(name: str) -> Family:
    """The :class:`Family` called ``name``; a one-line ``ValueError`` names the valid ones.

    >>> family_facts("step").defaults
    {'n_drops': 2, 'drop_start': 0.5, 'gamma': 0.1}
    >>> family_facts("cosin")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown schedule family 'cosin'; valid families: constant, step, exponential, ...
    """
    try:
        return FAMILY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown schedule family {name!r}; valid families: {', '.join(FAMILIES)}") from None


def family_defaults(family: str) -> dict[str, Any]:
    """The default parameters of ``family`` (short names, no prefix).

    >>> family_defaults("cosine")
    {'final_ratio': 0.0}
    """
    return family_facts(family).defaults
