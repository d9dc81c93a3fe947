"""Monte-Carlo checks of the verdict *procedure*: looks at every seed, racing, stopping.

The verdict (:func:`lrtune.stats.verdict`) is meant to be recomputed as seeds are added, and
``--confirm auto`` stops giving seeds to beaten families and stops at a winner; both must be
checked by simulation of the whole procedure, through the same code (:func:`lrtune.stats.race`
is the vectorised rule ``verdict`` runs). Scores are simulated as

    x[k, s] = μ_k + √ρ · b_s + √(1 − ρ) · e_{k,s},    b_s, e_{k,s} ~ N(0, 1) independent,

so every run has unit variance and two families' runs on the same seed s have correlation ρ
(the seed's split, initialisation and batch order move every family alike). ``θ = P(A > B)``
is the reader's effect — the chance that an independent run of A beats one of B —
Φ((μ_A − μ_B)/√2); on paired seeds the same gap gives P(A_s > B_s) = Φ((μ_A − μ_B)/√(2(1 − ρ))).

``python -m lrtune.simulate`` prints the tables of docs/verdict.md: the candidate rules, the
false-winner rate under continuation (2–8 families, ρ ∈ {0, 0.1, 0.5}, looks at every seed up
to 32), the legacy rule's, and ``--confirm auto`` against the best fixed design;
``--storage URL`` first measures ρ from the confirmation runs there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sps

from lrtune import stats
from lrtune.cli import ArgumentParser, UsageError, run_command
from lrtune.report.frame import CONFIRM, load_trials, rows_of_kind
from lrtune.tuning.storage import open_read_only

__all__ = [
    "RULES",
    "auto_vs_fixed",
    "candidate_table",
    "false_winner_under_continuation",
    "first_winner",
    "main",
    "scenario_means",
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


RULES = ("best family", "pairwise K/α", "sign bets", "legacy", "legacy, α spent over looks")
"""The rules the simulation compares: lrtune's ("best family": one wealth per family against "it
is a best family", betting seed by seed on its strongest challenger with magnitude-weighted
stakes, beaten at 2/α), the first anytime implementation ("pairwise K/α": every ordered pair's
e-process, beaten at K/α, a winner must have beaten every family itself), the best-family race
with bets on signs only, the rule lrtune used before the anytime ones (exact two-sided tests of
the data-chosen leader, Holm, α at every look), and that rule with α split evenly over the
planned looks (a valid group-sequential design with Bonferroni α-spending)."""

RACE_RULES = {
    "best family": {"rule": "best family", "bet": "magnitude"},
    "pairwise K/α": {"rule": "pairwise", "bet": "magnitude"},
    "sign bets": {"rule": "best family", "bet": "sign"},
}
"""The anytime candidates as arguments of :func:`lrtune.stats.race`."""


def first_winner(
    x: np.ndarray, rule: str, *, first_look: int = 3, alpha: float = 0.05, racing: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(winner, seed at which it was named) per replicate of ``x[r, k, s]`` when the verdict is
    looked at after every seed from ``first_look`` on and the user stops at the first winner
    (−1, 0: none within the seeds of x). The anytime rules (:data:`RACE_RULES`) race (beaten
    families stop receiving seeds when ``racing``); the legacy rules see every family's seeds."""
    if rule in RACE_RULES:
        result = stats.race(x, alpha=alpha, racing=racing, **RACE_RULES[rule])
        return result.first_winner, result.decided_at
    looks = range(first_look, x.shape[2] + 1)
    level = alpha if rule == "legacy" else alpha / len(looks)
    winner = np.full(x.shape[0], -1)
    at = np.zeros(x.shape[0], dtype=int)
    for n in looks:
        open_ = winner < 0
        if not open_.any():
            break
        named = stats.legacy_decide(x[open_, :, :n], paired=True, alpha=level)
        idx = np.nonzero(open_)[0]
        winner[idx] = named
        at[idx] = np.where(named >= 0, n, 0)
    return winner, at


def false_winner_under_continuation(
    families: Iterable[int],
    rhos: Iterable[float],
    *,
    max_seeds: int = 32,
    rule: str = "best family",
    reps: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    first_look: int = 3,
) -> pd.DataFrame:
    """Share of replicates in which a winner is *ever* named although all families are equal, the
    verdict being looked at after every seed from ``first_look`` to ``max_seeds`` (the user adds
    seeds and looks again); rows = families, columns = ρ."""
    rng = np.random.default_rng(seed)
    families, rhos = list(families), list(rhos)
    out = pd.DataFrame(index=pd.Index(families, name="families"), columns=pd.Index(rhos, name="ρ"), dtype=float)
    for k in families:
        for rho in rhos:
            x = simulate_scores(rng, reps, np.zeros(k), max_seeds, rho)
            out.loc[k, rho] = float(np.mean(first_winner(x, rule, first_look=first_look, alpha=alpha)[0] >= 0))
    return out


def scenario_means(n_families: int, theta: float, *, rest: float | None = None) -> np.ndarray:
    """Family means: family 0 beats family 1 with P(A > B) = θ; the others are as good as family 1,
    or, with ``rest``, worse than family 0 with P(A > B) = ``rest`` ("the rest clearly worse")."""
    gap = math.sqrt(2.0) * float(_sps.norm.ppf(theta))
    means = np.zeros(n_families)
    means[0] = gap
    if rest is not None:
        means[2:] = gap - math.sqrt(2.0) * float(_sps.norm.ppf(rest))
    return means


def _mean_beaten_at(beaten_at: np.ndarray) -> float:
    """The mean seed at which the families of ``beaten_at[r, k]`` were beaten, over those beaten."""
    hit = beaten_at > 0
    return float(beaten_at[hit].mean()) if hit.any() else math.nan


def auto_vs_fixed(
    n_families: int,
    theta: float,
    *,
    rho: float = 0.1,
    rest: float | None = None,
    max_seeds: int = 16,
    reps: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    fixed_reps: int | None = None,
    rule: str = "best family",
) -> dict[str, float]:
    """``--confirm auto --max-seeds N`` against the best fixed design at equal α.

    auto: the race of ``rule`` (one of :data:`RACE_RULES`; beaten families stop receiving seeds,
    stop at a winner or one family left or N seeds). Fixed: every family runs n seeds and the legacy rule (valid at one planned look)
    decides once; the smallest n ≤ N whose power reaches auto's (NaN if none does).
    Returns power, wrong-winner rate and mean runs of both.
    """
    rng = np.random.default_rng(seed)
    means = scenario_means(n_families, theta, rest=rest)
    x = simulate_scores(rng, reps, means, max_seeds, rho)
    result = stats.race(x, alpha=alpha, racing=True, **RACE_RULES[rule])
    auto_power = float(np.mean(result.winner == 0))
    row = {
        "rule": rule,
        "families": n_families,
        "P(A>B)": theta,
        "rest": rest if rest is not None else theta,
        "auto power": auto_power,
        "auto wrong": float(np.mean(result.winner > 0)),
        "auto mean runs": float(result.runs.sum(axis=1).mean()),
        "auto mean seeds": float(result.rounds.mean()),
        "runner-up beaten at (mean seed)": _mean_beaten_at(result.beaten_at[:, 1:2]),
        "the rest beaten at (mean seed)": _mean_beaten_at(result.beaten_at[:, 2:]),
        "fixed seeds": math.nan,
        "fixed power": math.nan,
        "fixed runs": math.nan,
    }
    fixed_reps = fixed_reps or reps
    for n in range(2, max_seeds + 1):
        xf = simulate_scores(rng, fixed_reps, means, n, rho)
        winners = stats.legacy_decide(xf, paired=True, alpha=alpha)
        fixed_power = float(np.mean(winners == 0))
        if fixed_power >= auto_power:
            row.update({"fixed seeds": n, "fixed power": fixed_power, "fixed runs": n * n_families})
            break
    row["runs auto / fixed"] = row["auto mean runs"] / row["fixed runs"]
    return row


def candidate_table(
    *,
    n_families: int = 4,
    theta: float = 0.9,
    rho: float = 0.1,
    max_seeds: int = 16,
    reps: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """The candidates of :data:`RULES` on one workload: false winners with all families equal
    (looks at every seed 3 … N) and, with one family better by θ, the share of first winners
    that are the true best, and the mean seed at which it was named."""
    rng = np.random.default_rng(seed)
    null = simulate_scores(rng, reps, np.zeros(n_families), max_seeds, rho)
    alt = simulate_scores(rng, reps, scenario_means(n_families, theta), max_seeds, rho)
    rows = []
    for rule in RULES:
        null_winner, _ = first_winner(null, rule)
        winner, at = first_winner(alt, rule)
        rows.append(
            {
                "rule": rule,
                "false winner (all equal)": float(np.mean(null_winner >= 0)),
                "first winner is the best": float(np.mean(winner == 0)),
                "wrong winner": float(np.mean(winner > 0)),
                "mean seeds to the winner": float(at[winner == 0].mean()) if (winner == 0).any() else math.nan,
            }
        )
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
    conf = conf[(conf["state"] == "COMPLETE") & np.isfinite(conf["test_score"])]
    table = conf.pivot_table(index="family", columns="seed", values="test_score", aggfunc="first").dropna(axis=1)
    if table.shape[0] < 2 or table.shape[1] < 2:
        raise UsageError(
            f"--storage: the correlation needs confirmation runs of at least two families on at least two "
            f"shared seeds, but found {table.shape[0]} famil{'y' if table.shape[0] == 1 else 'ies'} on "
            f"{table.shape[1]} shared seed(s) (python -m lrtune.analyze --confirm 5)"
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
    """Run the CLI; returns the exit code (0 done, 2 bad input, 130 interrupted)."""
    return run_command(
        "lrtune.simulate", lambda: _simulate(argv), kept="nothing is stored; tables printed so far stand"
    )


def _simulate(argv: Sequence[str] | None) -> int:
    parser = ArgumentParser(
        prog="python -m lrtune.simulate",
        description="Simulate lrtune's verdict procedure: false winners when seeds are added and the "
        "verdict recomputed, power and runs of --confirm auto against fixed designs.",
    )
    parser.add_argument("--reps", type=int, default=2000, help="replicates per cell (default 2000)")
    parser.add_argument(
        "--storage",
        default=None,
        help="first measure the seed correlation from the confirmation runs in this storage",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-seeds", type=int, default=32, help="looks at every seed up to this many (default 32)"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.reps < 1:
        raise UsageError("--reps must be ≥ 1")
    if args.max_seeds < 3:
        raise UsageError(f"--max-seeds must be ≥ 3, but got {args.max_seeds}")
    if args.storage:
        matrix, families = _confirmation_matrix(args.storage)
        measured = seed_correlation(matrix)
        print(
            f"seed correlation from {matrix.shape[1]} paired seeds of {', '.join(families)}: "
            f"ICC = {measured['icc']:.2f}, mean Pearson = {measured['mean_pearson']:.2f}"
        )
    reps, seed = args.reps, args.seed
    print(
        f"\ncandidates: 4 families, ρ = 0.1, verdict looked at after every seed 3 … 16, stop at the first "
        f"winner; one family better with P(A>B) = 0.9 for the power columns ({reps} replicates)"
    )
    print(markdown(candidate_table(reps=reps, seed=seed), index=False))
    print(
        f"\nfalse-winner rate of lrtune's rule, all families equal, looks at every seed 3 … {args.max_seeds} "
        f"(stop at the first winner; beaten families stop receiving seeds; {reps} replicates per cell)"
    )
    table = false_winner_under_continuation(
        range(2, 9), (0.0, 0.1, 0.5), max_seeds=args.max_seeds, reps=reps, seed=seed
    )
    print(markdown(table.rename_axis(index="families \\ ρ")))
    print(f"\nthe same for the first anytime rule (pairwise K/α), ρ = 0.1 ({reps} replicates per cell)")
    pairwise = false_winner_under_continuation(
        range(2, 9), (0.1,), max_seeds=args.max_seeds, rule="pairwise K/α", reps=reps, seed=seed
    )
    print(markdown(pairwise.rename_axis(index="families \\ ρ")))
    print(f"\nthe same for the legacy rule, looks at every seed 3 … 16 ({reps} replicates per cell)")
    legacy = false_winner_under_continuation(
        range(2, 5), (0.1, 0.5), max_seeds=16, rule="legacy", reps=reps, seed=seed
    )
    print(markdown(legacy.rename_axis(index="families \\ ρ")))
    print(
        "\n--confirm auto against the smallest fixed design (legacy rule, one look) of at least the same "
        f"power, ρ = 0.1 ({reps} replicates; fixed: {reps} per n)"
    )
    rows = []
    for k, theta, rest, cap in (
        (4, 0.8, None, 24),
        (4, 0.9, None, 16),
        (4, 0.9, 0.99, 16),
        (8, 0.9, 0.99, 16),
        (4, 0.99, 0.99, 16),
    ):
        for rule in ("best family", "pairwise K/α"):
            row = auto_vs_fixed(k, theta, rest=rest, max_seeds=cap, reps=reps, seed=seed, rule=rule)
            rows.append({"max seeds": cap, **row})
    print(markdown(pd.DataFrame(rows), index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
