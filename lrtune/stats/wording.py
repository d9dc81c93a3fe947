"""The verdict in words: intervals, effects, the test design and the verdict sentence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["design_text", "format_effect", "format_interval", "verdict_text"]


def format_interval(low: float, high: float, excludes_half: bool) -> str:
    """ "[0.62, 0.97]"; an interval that excludes ½ only at its open end prints "(0.50, 1.00]"."""
    opening = "(" if excludes_half and round(low, 2) <= 0.5 else "["
    return f"{opening}{low:.2f}, {high:.2f}]"


def format_effect(row: Mapping, *, unit_scale: float = 1.0, unit: str = "") -> str:
    """ "+0.90 points [0.30, 1.50] (94 %)": the effect, its interval and the coverage achieved."""
    suffix = f" {unit}" if unit else ""
    return (
        f"{row['effect'] * unit_scale:+.2f}{suffix} [{row['effect_low'] * unit_scale:.2f}, "
        f"{row['effect_high'] * unit_scale:.2f}] ({row['effect_coverage']:.0%})"
    )


def design_text(paired: bool, alpha: float, n_families: int | None = None) -> str:
    """How the comparisons were made, in words (``n_families`` is kept for callers: the threshold
    2/α does not depend on it)."""
    pairs = "paired seeds" if paired else "runs paired in run order"
    return (
        f"{pairs}: anytime-valid betting evidence on the per-seed differences (a family is beaten "
        f"once the evidence that it is not the best reaches 2/α = {2 / alpha:g}), valid however often "
        f"the verdict is recomputed, α = {alpha:g}"
    )


def _format_comparison(row: Mapping, *, paired: bool, unit_scale: float, unit: str) -> str:
    what = "median paired difference" if paired else "median difference in run order"
    return (
        f"{row['leader']} − {row['other']}: {what} {format_effect(row, unit_scale=unit_scale, unit=unit)}, "
        f"P({row['leader']} > {row['other']}) = {row['p_superiority']:.2f}, evidence that {row['other']} is not "
        f"the best {row['evidence']:.3g}"
    )


def _and_list(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def verdict_text(
    winner,
    leading_group,
    comparisons,
    arrays,
    *,
    metric,
    center,
    paired,
    alpha,
    trials,
    unit_scale,
    unit,
    reachable,
    needed,
    best_p,
) -> str:
    leader = leading_group[0]
    sizes = sorted({arrays[f].size for f in arrays})
    seeds_text = (
        f"{sizes[0]} fresh seeds"
        if len(sizes) == 1
        else "fresh seeds (" + ", ".join(f"{f} {arrays[f].size}" for f in sorted(arrays)) + ")"
    )
    how = design_text(paired, alpha, len(arrays))

    def found(family: str, first: bool) -> str:
        if trials is None or family not in trials:
            return family
        prefix = "the best configuration found for " if first else "the best found for "
        return f"{prefix}{family} in {int(trials[family])} trials"

    if winner is not None:
        others = [str(o) for o in comparisons["other"]]
        if trials is not None and len({int(trials.get(f, -1)) for f in arrays}) == 1 and leader in trials:
            n_trials = int(trials[leader])
            subject = f"the best configuration found for {winner} in {n_trials} trials"
            objects = f"the best found for {_and_list(others)}"
        else:
            subject = found(winner, True)
            objects = _and_list([found(o, False) for o in others])
        weakest = comparisons.sort_values(["evidence", "other"], ascending=[False, True], kind="stable").iloc[-1]
        return (
            f"{subject} beats {objects} on {metric} over {seeds_text} ({how}; weakest: "
            f"{_format_comparison(weakest, paired=paired, unit_scale=unit_scale, unit=unit)})."
        )
    others = ", ".join(leading_group[1:])
    text = (
        f"inconclusive between {', '.join(leading_group)}: the leader {leader} (best {center} "
        f"{metric} over {seeds_text}) has not beaten {others} ({how})."
    )
    if reachable and "seeds_likely_needed" in comparisons:
        parts = []
        for _, row in comparisons[~comparisons["separated"].astype(bool)].iterrows():
            n = row["seeds_likely_needed"]
            grows = n is not None and n == n
            parts.append(
                f"about {int(n)} seeds against {row['other']}" if grows else f"no growth against {row['other']}"
            )
        if parts:
            text += " Extrapolating the evidence's growth so far (rough): " + "; ".join(parts) + "."
    if not reachable:
        text += (
            f" No outcome could have separated them yet: {len(arrays)} families need at least "
            f"{needed} {'paired ' if paired else ''}seeds (more seeds can be added and the verdict "
            "recomputed at no cost in error rate)."
        )
    return text
