"""Rebuild the best schedule of a stored study and print (and optionally plot) its LR curve.

    python examples/rebuild_best.py --storage sqlite:///studies/lrtune.db --study-name <name> \
        --total-steps 2000 --plot best_lr.png

The family is read from the trial's params when the study chose it (a joint space); for
lrtune's own one-family studies it is read from the study's ``lrtune_family`` user attr, or
pass ``--family``.
"""

from __future__ import annotations

import argparse
import sys

import optuna

import lrtune


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study-name", required=True)
    parser.add_argument("--family", default=None, help="needed only when neither the params nor the study name it")
    parser.add_argument("--prefix", default="", help="the prefix the study used for the schedule parameters")
    parser.add_argument("--total-steps", type=int, default=1000)
    parser.add_argument("--plot", default=None, help="write a PNG of the curve here")
    args = parser.parse_args(argv)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=args.study_name, storage=args.storage)
    best = study.best_trial
    family = args.family
    if family is None and f"{args.prefix}family" in best.params:
        family = best.params[f"{args.prefix}family"]
    elif family is None and f"{args.prefix}family" not in best.params:
        family = study.user_attrs.get("lrtune_family") or best.params.get("family")
    schedule = lrtune.Schedule.from_params(best.params, family=family, prefix=args.prefix)
    curve = schedule.curve(args.total_steps)

    print(f"trial {best.number}: value {best.value:.4f}")
    print(schedule.describe())
    marks = sorted(
        {
            0,
            args.total_steps // 10,
            args.total_steps // 4,
            args.total_steps // 2,
            3 * args.total_steps // 4,
            args.total_steps - 1,
        }
    )
    for step in marks:
        print(f"  step {step:>6}: lr = {curve[step]:.6g}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.plot(curve)
        ax.set(
            xlabel="optimizer step", ylabel="learning rate", title=f"best {family} schedule ({args.study_name})"
        )
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
