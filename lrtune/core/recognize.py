"""Recognise lrtune's search spaces inside someone else's Optuna study.

A study written with plain Optuna and :func:`lrtune.suggest_schedule` stores parameters named
(see :mod:`lrtune.core.spaces`)

* ``{P}lr`` — the peak LR (always), ``{P}warmup_frac`` (every family but onecycle),
* ``{P}family`` — a categorical over lrtune family names (joint "any family" spaces only),
* ``{P}{family}_{name}`` — the family's own parameters (``sched_cosine_final_ratio``, ...),

for a caller prefix ``P`` (often ``""``), next to any parameters of the caller's own.
:func:`find_schedule_spaces` finds every prefix for which those names are present;
:func:`recognize_space` returns the one space (or raises ``ValueError`` saying what was looked
for). A single-family space is recognised from its family parameter names; ``constant`` has none
and is recognised from ``{P}lr`` together with ``{P}warmup_frac``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution

from lrtune.core.schedules import FAMILIES
from lrtune.core.spaces import family_distributions

__all__ = ["ScheduleSpace", "find_schedule_spaces", "recognize_space", "LOOKED_FOR"]

LOOKED_FOR = (
    "a peak-LR parameter '<prefix>lr' with either a categorical '<prefix>family' over "
    "lrtune families or family parameters such as '<prefix>cosine_final_ratio' "
    "(names lrtune.suggest_schedule writes)"
)
"""What :func:`recognize_space` looks for, in words (for error messages)."""


@dataclass(frozen=True)
class ScheduleSpace:
    """An lrtune search space found in a study.

    prefix: the caller prefix ``P``; families: the families the space can choose (one for a
    single-family space); joint: whether a categorical ``{P}family`` chooses among them;
    names: every parameter name of the space (the rest of a trial's params are the caller's).
    """

    prefix: str
    families: tuple[str, ...]
    joint: bool
    names: frozenset[str]

    @property
    def family_param(self) -> str | None:
        return f"{self.prefix}family" if self.joint else None

    def family_of(self, params: Mapping[str, Any]) -> str | None:
        """The trial's family: the categorical's value (joint), else the single family."""
        if self.joint:
            value = params.get(f"{self.prefix}family")
            return str(value) if value in FAMILIES else None
        return self.families[0]

    def schedule_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in params.items() if k in self.names}

    def own_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The caller's own parameters (everything that is not the schedule's)."""
        return {k: v for k, v in params.items() if k not in self.names}


def _space_names(prefix: str, families: Iterable[str], joint: bool) -> frozenset[str]:
    names = {f"{prefix}lr", f"{prefix}warmup_frac"}
    if joint:
        names.add(f"{prefix}family")
    for family in families:
        names.update(f"{prefix}{family}_{k}" for k in family_distributions(family))
    return frozenset(names)


def _space_for_prefix(prefix: str, names: Mapping[str, BaseDistribution | None]) -> ScheduleSpace | None:
    if f"{prefix}lr" not in names:
        return None
    dist = names.get(f"{prefix}family")
    if f"{prefix}family" in names and (dist is None or isinstance(dist, CategoricalDistribution)):
        choices = tuple(dist.choices) if dist is not None else ()
        if dist is None or (choices and all(c in FAMILIES for c in choices)):
            families = tuple(str(c) for c in choices)
            return ScheduleSpace(prefix, families, True, _space_names(prefix, families, True))
    found = [f for f in FAMILIES if any(f"{prefix}{f}_{k}" in names for k in family_distributions(f))]
    if not found and f"{prefix}warmup_frac" in names:
        found = ["constant"]
    if len(found) != 1:  # several families without a categorical is not a space lrtune writes
        return None
    return ScheduleSpace(prefix, (found[0],), False, _space_names(prefix, found, False))


def find_schedule_spaces(
    distributions: Mapping[str, BaseDistribution | None] | Iterable[str],
) -> list[ScheduleSpace]:
    """Every lrtune space in a study's parameter names (or name → distribution), by prefix.

    Pass the union of the distributions of a study's trials (a joint space suggests different
    parameters in different trials). Candidate prefixes are the names ending in ``lr`` minus
    that ending; a candidate counts when the family categorical or family parameters are there.
    """
    names: Mapping[str, BaseDistribution | None]
    names = distributions if isinstance(distributions, Mapping) else dict.fromkeys(distributions)
    prefixes = sorted({n[:-2] for n in names if n.endswith("lr")})
    spaces = [s for s in (_space_for_prefix(p, names) for p in prefixes) if s is not None]
    # a joint space's family categorical also looks like its own prefix's family params; keep
    # the spaces whose names are not all inside another space's names
    return [s for s in spaces if not any(s is not o and s.names < o.names for o in spaces)]


def recognize_space(
    distributions: Mapping[str, BaseDistribution | None] | Iterable[str],
    *,
    prefix: str | None = None,
) -> ScheduleSpace:
    """The one lrtune space among the parameters; ``prefix`` picks one when there are several.

    Raises ``ValueError`` naming what was looked for when there is none, and listing the
    prefixes found when there are several and ``prefix`` is None.
    """
    spaces = find_schedule_spaces(distributions)
    if prefix is not None:
        spaces = [s for s in spaces if s.prefix == prefix]
        if not spaces:
            raise ValueError(
                f"no lrtune schedule parameters with prefix {prefix!r}: looked for "
                + LOOKED_FOR.replace("<prefix>", prefix)
            )
    if not spaces:
        raise ValueError(f"no lrtune schedule parameters: looked for {LOOKED_FOR}")
    if len(spaces) > 1:
        found = ", ".join(repr(s.prefix) for s in spaces)
        raise ValueError(f"several lrtune schedule spaces (prefixes {found}); pick one with prefix= (--prefix)")
    return spaces[0]
