"""Pure statistics behind lrtune's verdict: numpy and scipy (pandas only for the verdict's table).

Four ideas live here.

* **Expected maximum after n trials** (Dodge et al. 2019, "Show Your Work"): how good a family
  looks after a search budget of n trials, estimated from the N trials that were run.
* **Effect size P(A > B)** (the probability that a random run of family A beats a random run of
  family B; Mann–Whitney U / (n·m)) with an *exact* interval, and, on paired seeds, the share
  of seeds A wins and the median paired difference with its sign-test interval.
* **Two-sided tests** for one comparison at one look: the exact sign-flip Wilcoxon signed-rank
  test (paired) and the exact Mann–Whitney test (unpaired); Holm's step-down correction. Used
  by the legacy rule (:func:`legacy_decide`, kept for the simulation that shows it fails when
  seeds are added and the verdict recomputed).
* **The verdict rule** (anytime valid): betting e-processes on paired per-seed differences
  (``anytime``), a race in which each family carries one wealth against "it is the best", staked
  on its strongest challenger so far; a family is beaten once that wealth reaches 2/α and the
  last unbeaten family wins (``elimination``, :func:`verdict`).
  A false winner has probability ≤ α however often the verdict is recomputed on growing data
  (``lrtune.simulate`` checks 2–8 families with looks at every seed up to 32).

All functions take plain sequences of finite floats and raise ``ValueError`` ("must ..., but
got ...") on bad input. Modules: ``samples`` (input check, expected maximum), ``superiority``
(P(A > B)), ``rank_tests`` (paired and unpaired tests, effect intervals), ``anytime`` (the
betting e-process), ``elimination`` (the rule as a race, vectorised), ``decision`` (the verdict, :class:`Verdict`,
Holm and the legacy rule), ``wording`` (the verdict in words); this package re-exports their
public names.
"""

from lrtune.stats.anytime import log_evidence, sign_log_evidence
from lrtune.stats.decision import (
    Verdict,
    holm,
    legacy_decide,
    seed_matrix,
    seeds_needed,
    separation,
    still_racing,
    verdict,
)
from lrtune.stats.elimination import RaceResult, race, threshold
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
    "design_text",
    "expected_max",
    "expected_max_curve",
    "format_effect",
    "format_interval",
    "holm",
    "legacy_decide",
    "log_evidence",
    "race",
    "RaceResult",
    "seed_matrix",
    "sign_log_evidence",
    "threshold",
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
    "still_racing",
    "superiority_interval",
    "superiority_pvalue",
    "unpaired_pvalue",
    "verdict",
]
