"""Pure statistics behind lrtune's verdict: numpy and scipy (pandas only for the verdict's table).

Four ideas live here.

* **Expected maximum after n trials** (Dodge et al. 2019, "Show Your Work"): how good a family
  looks after a search budget of n trials, estimated from the N trials that were run.
* **Effect size P(A > B)** (the probability that a random run of family A beats a random run of
  family B; Mann–Whitney U / (n·m)) with an *exact* interval, and, on paired seeds, the share
  of seeds A wins and the median paired difference with its sign-test interval.
* **Two-sided tests** for one comparison: the exact sign-flip Wilcoxon signed-rank test of
  per-seed differences when every family ran the same seeds (paired), else the exact
  Mann–Whitney test (unpaired); Holm's step-down correction over the leader's comparisons.
* **The verdict rule**: the leader (best median confirmed score) is chosen from the data, so
  its tests are two-sided; it wins only when it is separated from *every* other family,
  otherwise the result is "inconclusive between ..." naming the leading group. With all
  families equal a winner is named at most α of the time (``lrtune.simulate`` checks 2–8
  families × 3–10 seeds through :func:`decide`, which shares the tests and the rule).

All functions take plain sequences of finite floats and raise ``ValueError`` ("must ..., but
got ...") on bad input. Modules: ``samples`` (input check, expected maximum), ``superiority``
(P(A > B)), ``rank_tests`` (paired and unpaired tests, effect intervals), ``decision`` (Holm,
the rule, :class:`Verdict`), ``wording`` (the verdict in words); this package re-exports their
public names.
"""

from lrtune.stats.decision import Verdict, decide, holm, seeds_needed, separation, verdict
from lrtune.stats.rank_tests import (
    EXACT_MAX_SIGNS,
    median_difference_interval,
    paired_pvalue,
    paired_superiority,
    shift_interval,
    signed_ranks,
    smallest_pvalue,
    unpaired_pvalue,
)
from lrtune.stats.samples import expected_max, expected_max_curve
from lrtune.stats.superiority import (
    EXACT_MAX_PAIRS,
    lehmann_u_distribution,
    prob_superiority,
    superiority_interval,
    superiority_pvalue,
)
from lrtune.stats.wording import design_text, format_effect, format_interval

__all__ = [
    "EXACT_MAX_PAIRS",
    "EXACT_MAX_SIGNS",
    "Verdict",
    "decide",
    "design_text",
    "expected_max",
    "expected_max_curve",
    "format_effect",
    "format_interval",
    "holm",
    "lehmann_u_distribution",
    "median_difference_interval",
    "paired_pvalue",
    "paired_superiority",
    "prob_superiority",
    "seeds_needed",
    "separation",
    "shift_interval",
    "signed_ranks",
    "smallest_pvalue",
    "superiority_interval",
    "superiority_pvalue",
    "unpaired_pvalue",
    "verdict",
]
