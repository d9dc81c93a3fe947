"""Monte-Carlo checks of the verdict rule: false winners under the null, power, seed correlation.

The verdict (:func:`lrtune.stats.verdict`) picks its leader from the data, so it must be
checked by simulation, through the same code (:func:`lrtune.stats.decide` shares the tests and
the Holm rule with ``verdict``). Scores are simulated as

    x[k, s] = μ_k + √ρ · b_s + √(1 − ρ) · e_{k,s},    b_s, e_{k,s} ~ N(0, 1) independent,

so every run has unit variance and two families' runs on the same seed s have correlation ρ
(the seed's split, initialisation and batch order move every family alike). ``θ = P(A > B)``
is the reader's effect — the chance that an independent run of A beats one of B —
Φ((μ_A − μ_B)/√2); on paired seeds the same gap gives P(A_s > B_s) = Φ((μ_A − μ_B)/√(2(1 − ρ))).

``python -m lrtune.simulate`` prints the null table (2–8 families × 3–10 seeds) and the power
table of docs/verdict.md; ``--storage URL`` first measures ρ from the confirmation runs there.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sps

from lrtune import stats
from lrtune.cli import fail
from lrtune.report.frame import CONFIRM, load_trials, rows_of_kind
from lrtune.tuning.storage import open_read_only

__all__ = [
    "false_winner_rates",
    "main",
    "one_sided_leader_rate",
    "power",
    "power_table",
    "seed_correlation",
    "simulate_scores",
]


def simulate_scores(
    rng: np.random.Generator, reps: int, means: Sequence[float], n_seeds: int, rho: float
) -> np.ndarray:
    """Scores of shape (reps, families, seeds) from the model in the module docstring."""
    means = np.asarray(means, dtype=float)
    seed_effect = rng.standard_normal((reps, 1, n_seeds))
    noise = rng.standard_normal((reps, means.size, n_seeds))
    return means[None, :, None] + math.sqrt(rho) * seed_effect + math.sqrt(1.0 - rho) * noise


def false_winner_rates(
    families: Iterable[int],
    seeds: Iterable[int],
    *,
    paired: bool,
    reps: int = 2000,
    seed: int = 0,
    rho: float = 0.0,
    alpha: float = 0.05,
    min_effect: float = 0.75,
) -> pd.DataFrame:
    """Share of replicates in which a winner is named although all families are equal;
    rows = number of families, columns = seeds per family."""
    rng = np.random.default_rng(seed)
    families, seeds = list(families), list(seeds)
    out = pd.DataFrame(
        index=pd.Index(families, name="families"), columns=pd.Index(seeds, name="seeds"), dtype=float
    )
    for k in families:
        for n in seeds:
            x = simulate_scores(rng, reps, np.zeros(k), n, rho)
            out.loc[k, n] = float(np.mean(stats.decide(x, paired=paired, alpha=alpha, min_effect=min_effect) >= 0))
    return out


def one_sided_leader_rate(
    *, n_seeds: int, reps: int = 4000, seed: int = 0, alpha: float = 0.05, min_effect: float = 0.75
) -> float:
    """False-winner rate of the rule lrtune used before (two equal families, unpaired): the
    best-median family tested one-sided in its own direction (exact Mann–Whitney) at α."""
    rng = np.random.default_rng(seed)
    x = simulate_scores(rng, reps, np.zeros(2), n_seeds, 0.0)
    med = np.median(x, axis=2)
    lead = np.where(med[:, 0] >= med[:, 1], 0, 1)
    a = x[np.arange(reps), lead]
    b = x[np.arange(reps), 1 - lead]
    result = _sps.mannwhitneyu(a, b, axis=-1, alternative="greater", method="exact")
    p_hat = np.asarray(result.statistic) / n_seeds**2
    return float(np.mean((result.pvalue <= alpha) & (p_hat >= min_effect)))


def power(
    *,
    n_families: int,
    n_seeds: int,
    theta: float,
    rho: float,
    paired: bool,
    reps: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    min_effect: float = 0.75,
) -> tuple[float, float]:
    """(P(the true best is named), P(another family is named)) when one family beats each of
    the others with θ = P(A > B) and the others are equal."""
    gap = math.sqrt(2.0) * float(_sps.norm.ppf(theta))
    means = np.zeros(n_families)
    means[0] = gap
    x = simulate_scores(np.random.default_rng(seed), reps, means, n_seeds, rho)
    winners = stats.decide(x, paired=paired, alpha=alpha, min_effect=min_effect)
    return float(np.mean(winners == 0)), float(np.mean(winners > 0))


def power_table(
    *,
    thetas: Sequence[float] = (0.8, 0.9),
    seeds: Sequence[int] = (5, 8),
    families: Sequence[int] = (2, 4),
    rho: float = 0.5,
    reps: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Power of the paired and the unpaired design, one row per (families, θ, seeds)."""
    rows = []
    for k in families:
        for theta in thetas:
            for n in seeds:
                row = {"families": k, "P(A>B)": theta, "seeds": n}
                for paired in (True, False):
                    hit, wrong = power(
                        n_families=k, n_seeds=n, theta=theta, rho=rho, paired=paired, reps=reps, seed=seed
                    )
                    name = "paired" if paired else "unpaired"
                    row[f"{name} finds best"] = hit
                    row[f"{name} wrong winner"] = wrong
                rows.append(row)
    return pd.DataFrame(rows)


def seed_correlation(scores: np.ndarray) -> dict[str, float]:
    """How much a seed moves every family alike, from ``scores[family, seed]`` (paired runs).

    Two-way layout x = μ_k + b_s + e: with MS_seed = K·Σ_s(x̄_·s − x̄)²/(n − 1) and
    MS_res = Σ(x − x̄_k· − x̄_·s + x̄)²/((K − 1)(n − 1)), σ²_b = (MS_seed − MS_res)/K and
    ρ = σ²_b/(σ²_b + MS_res) (the intraclass correlation; negative estimates are reported as
    they are). Also the mean Pearson correlation over pairs of families.
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 3:
        raise ValueError(f"scores must be (families ≥ 2, seeds ≥ 3), but got shape {x.shape}")
    k, n = x.shape
    grand = x.mean()
    seed_means, family_means = x.mean(axis=0), x.mean(axis=1)
    ms_seed = k * np.sum((seed_means - grand) ** 2) / (n - 1)
    resid = x - family_means[:, None] - seed_means[None, :] + grand
    ms_res = np.sum(resid**2) / ((k - 1) * (n - 1))
    var_b = (ms_seed - ms_res) / k
    icc = var_b / (var_b + ms_res) if var_b + ms_res > 0 else math.nan
    pairs = [np.corrcoef(x[i], x[j])[0, 1] for i in range(k) for j in range(i + 1, k)]
    return {"icc": float(icc), "mean_pearson": float(np.nanmean(pairs)), "families": k, "seeds": n}


def _confirmation_matrix(storage: str) -> tuple[np.ndarray, list[str]]:

    df = load_trials(open_read_only(storage))
    conf = rows_of_kind(df, CONFIRM)
    conf = conf[(conf["state"] == "COMPLETE") & np.isfinite(conf["test_accuracy"])]
    table = conf.pivot_table(index="family", columns="seed", values="test_accuracy", aggfunc="first").dropna(
        axis=1
    )
    return table.to_numpy(), list(table.index)


def markdown(frame: pd.DataFrame, *, index: bool = True, floatfmt: str = ".3f") -> str:
    """A small markdown table (no extra dependency)."""
    table = frame.reset_index() if index else frame
    cells = [
        [format(v, floatfmt) if isinstance(v, float) else str(v) for v in row]
        for row in table.itertuples(index=False)
    ]
    head = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lrtune.simulate", description="Null and power simulation of lrtune's verdict rule."
    )
    parser.add_argument("--reps", type=int, default=2000, help="replicates per cell (default 2000)")
    parser.add_argument(
        "--rho",
        type=float,
        default=None,
        help="seed correlation for the power table (default: measured from --storage, else 0.5)",
    )
    parser.add_argument(
        "--storage", default=None, help="measure the seed correlation from the confirmation runs in this storage"
    )
    parser.add_argument(
        "--null-rho", type=float, default=0.0, help="seed correlation in the null simulation (default 0)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.reps < 1:
        return fail("lrtune.simulate", "--reps must be ≥ 1")
    rho = args.rho
    if args.storage:
        try:
            matrix, families = _confirmation_matrix(args.storage)
            measured = seed_correlation(matrix)
        except Exception as exc:  # noqa: BLE001 — one line, exit 2
            return fail("lrtune.simulate", str(exc))
        print(
            f"seed correlation from {matrix.shape[1]} paired seeds of {', '.join(families)}: "
            f"ICC = {measured['icc']:.2f}, mean Pearson = {measured['mean_pearson']:.2f}"
        )
        if rho is None:
            rho = min(max(measured["icc"], 0.0), 0.95)
    rho = 0.5 if rho is None else rho
    if not (0.0 <= rho < 1.0 and 0.0 <= args.null_rho < 1.0):
        return fail("lrtune.simulate", f"--rho must be in [0, 1), but got {rho}")
    for paired in (True, False):
        table = false_winner_rates(
            range(2, 9), range(3, 11), paired=paired, reps=args.reps, seed=args.seed, rho=args.null_rho
        )
        print(
            f"\nfalse-winner rate, all families equal ({'paired' if paired else 'unpaired'}, ρ = {args.null_rho:g}; "
            f"{args.reps} replicates per cell)"
        )
        print(markdown(table.rename_axis(index="families \\ seeds")))
    print(
        f"\nold rule (one-sided test of the data-chosen leader), 2 families, 8 seeds: "
        f"{one_sided_leader_rate(n_seeds=8, reps=args.reps * 2, seed=args.seed):.3f}"
    )
    print(f"\npower (ρ = {rho:.2f}, {args.reps} replicates per cell)")
    print(markdown(power_table(rho=rho, reps=args.reps, seed=args.seed), index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
