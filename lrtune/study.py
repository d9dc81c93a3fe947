"""``python -m lrtune.study``: tune schedule families on a task, prune, store every trial.

One Optuna study per family (pruning compares trials of one family only), trials interleaved
round-robin so a run cut short stays balanced. Re-running the same command resumes: each family
runs until it has ``--trials`` finished trials. The task configuration is stored in every
study's user attrs; a different configuration under an existing study name is refused.

Exit codes: 0 done, 2 bad input (one line on stderr, nothing created), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import optuna
import torch

from lrtune import __version__
from lrtune.cli import UsageError, interrupted, run_command
from lrtune.core.schedules import FAMILIES, FAMILY_FORMULAS, Schedule
from lrtune.core.spaces import search_space
from lrtune.report import notes
from lrtune.training.group_size import measure_group_size
from lrtune.training.schedule_free import require_package
from lrtune.tuning import keys
from lrtune.tuning.assembly import AssembledTask, assemble_for_run
from lrtune.tuning.config import OPTIONS, Option, RunConfig, TaskConfig, load_preset, split_values
from lrtune.tuning.leases import study_attr_once_set
from lrtune.tuning.objective import Objective, curve_steps, make_pruner, make_sampler
from lrtune.tuning.optuna_compat import name_metric
from lrtune.tuning.pruning import pruning_window_text
from lrtune.tuning.runner import FamilyRun, print_summary, run_round_robin, summary_rows
from lrtune.tuning.storage import check_storage_url, display_url, open_storage, resolve_storage_url
from lrtune.tuning.workers import run_workers

__all__ = ["main", "build_parser", "parse_configs", "resolve_device", "run_search"]
PROG = "lrtune.study"


# ----------------------------------------------------------------------------------- arguments


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be LOW,HIGH (e.g. 1e-3,1), but got {text!r}") from None
    return (low, high)


_ARGPARSE_KIND: dict[str, dict[str, Any]] = {
    "int": {"type": int},
    "float": {"type": float},
    "str": {},
    "families": {},
    "range": {"type": _range},
    "on": {"action": "store_const", "const": True},
    "off": {"action": "store_const", "const": False},
}


def _add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    parser.add_argument(option.flag, dest=option.key, help=option.help, **_ARGPARSE_KIND[option.kind])


def build_parser() -> argparse.ArgumentParser:
    """The CLI's options (:data:`lrtune.tuning.config.OPTIONS`, each declared once); every default
    is ``None`` so presets and flags can be merged."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Tune learning-rate schedule families with Optuna and store every trial.",
        epilog="Example: python -m lrtune.study --family cosine,onecycle --trials 20",
    )
    for option in OPTIONS:
        if option.flag is not None:
            _add_option(p, option)
    p.add_argument("--config", help="a preset TOML, e.g. studies/mnist1d-cnn1d.toml; flags override it")
    p.add_argument("--version", action="version", version=f"lrtune {__version__}")
    p.add_argument("--worker-quota", help=argparse.SUPPRESS)  # set by --workers for its child processes
    return p


def parse_configs(argv: Sequence[str] | None) -> tuple[TaskConfig, RunConfig, dict[str, int] | None]:
    """argv → validated configs (preset values first, flags override) and a worker's quota.

    Raises UsageError/ConfigError.
    """
    parser = build_parser()
    parser.exit_on_error = False
    try:
        args, unknown = parser.parse_known_args(argv)
    except argparse.ArgumentError as exc:
        raise UsageError(str(exc)) from None
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}")
    values: dict[str, Any] = {}
    if args.config:
        values.update(load_preset(args.config))
    flags = {k: v for k, v in vars(args).items() if v is not None and k not in ("config", "worker_quota")}
    values.update(flags)
    values["storage"] = resolve_storage_url(values.get("storage"))  # --storage env / $LRTUNE_STORAGE
    task_kwargs, run_kwargs = split_values(values)
    quota = json.loads(args.worker_quota) if args.worker_quota else None
    return TaskConfig(**task_kwargs), RunConfig(**run_kwargs), quota


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` if available, else ``mps``, else ``cpu``; an unavailable choice is an error."""
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda" and not cuda:
        raise UsageError("--device cuda was asked for, but torch sees no CUDA device (use --device auto or cpu)")
    if name == "mps" and not mps:
        raise UsageError("--device mps was asked for, but torch sees no MPS device (use --device auto or cpu)")
    return name


# ----------------------------------------------------------------------------------- studies


def _config_difference(stored: dict[str, Any], wanted: dict[str, Any]) -> str:
    keys = sorted(set(stored) | set(wanted))
    diffs = [f"{k}: {stored.get(k)!r} → {wanted.get(k)!r}" for k in keys if stored.get(k) != wanted.get(k)]
    return "; ".join(diffs[:4])


def open_family_study(
    storage: optuna.storages.BaseStorage, name: str, task: TaskConfig, family: str
) -> tuple[optuna.Study, bool]:
    """Load or create the study of one family; refuse one whose configuration differs.

    Returns ``(study, created)``.
    """
    wanted = {**task.to_dict(), "family": family}
    sampler = make_sampler(task.sampler, seed=task.seed * 100 + FAMILIES.index(family))
    pruner = make_pruner(task.pruner, epochs=task.epochs)
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if name in existing:
        stored = existing[name].user_attrs.get(keys.CONFIG) or study_attr_once_set(storage, name, keys.CONFIG)
        if stored is None:
            raise UsageError(
                f"study {name!r} exists in this storage but was not created by lrtune; pick another --study-name"
            )
        if stored != wanted:
            raise UsageError(
                f"study {name!r} was created with a different configuration ({_config_difference(stored, wanted)}); "
                "use another --study-name to start a separate study"
            )
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner), False
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction=task.direction,  # the metric's: pruners read it
        load_if_exists=True,
    )
    if keys.CONFIG not in study.user_attrs:  # another worker may have won the race to create it
        study.set_user_attr(keys.VERSION, __version__)
        study.set_user_attr(keys.CONFIG, wanted)
        study.set_user_attr(keys.FAMILY, family)
        study.set_user_attr(keys.TASK, task.task)
        study.set_user_attr(keys.KIND, keys.KIND_SEARCH)
        name_metric(study, f"validation {task.metric}" + ("" if task.default_metric else f" ({task.direction})"))
    return study, True


# ----------------------------------------------------------------------------------- dashboard hooks


def _write_study_note(study: optuna.Study, task: TaskConfig, family: str) -> None:
    pruner_text = task.pruner if task.pruner == "none" else f"{task.pruner} ({pruning_window_text(task.epochs)})"
    markdown = notes.study_note_markdown(
        study.user_attrs[keys.CONFIG],
        family,
        FAMILY_FORMULAS[family],
        search_space(family, lr=task.lr_range_for(family), warmup=task.warmup_range),
        pruner_text,
        f"{task.sampler} (seeded)",
    )
    notes.write_study_note(study, markdown)


def _artifact_hook(run: RunConfig):
    """``on_trial_start`` that attaches the LR curve PNG and a note to each running trial."""
    store = notes.artifact_store_for(run.storage, run.artifact_dir)

    def on_trial_start(trial: optuna.Trial, schedule: Schedule, total_steps: int) -> None:
        steps = curve_steps(total_steps)
        lrs = schedule.peak_lr * schedule.curve_multipliers(total_steps, steps=steps)
        notes.attach_lr_curve(trial, store, steps, lrs, f"trial {trial.number} · {schedule.family}")
        notes.write_trial_note(
            trial, notes.trial_note_markdown(schedule.family, trial.params, description=schedule.describe())
        )

    return on_trial_start


# ----------------------------------------------------------------------------------- main


def prepare(argv: Sequence[str] | None) -> tuple[TaskConfig, RunConfig, str, dict[str, int] | None]:
    """Parse and validate everything that can be checked without creating anything."""
    task, run, quota = parse_configs(argv)
    check_storage_url(run.storage)
    if "schedulefree" in run.families:  # its optimizer comes from the schedulefree package
        require_package()
    device = resolve_device(run.device)
    return task, run, device, quota


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (tests call it in-process)."""
    # Optuna's own "Trial N failed" warning prints a traceback for Ctrl-C; lrtune reports instead
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    def body() -> int:
        task, run, device, quota = prepare(argv)
        return run_search(task, run, device, quota=quota, argv=argv)

    return run_command(PROG, body, kept="finished trials are kept; run the same command again to resume")


def run_search(
    task: TaskConfig,
    run: RunConfig,
    device: str,
    *,
    quota: dict[str, int] | None = None,
    argv: Sequence[str] | None = None,
) -> int:
    """Run (or resume) the search of validated configurations; returns the exit code.

    Raises :class:`~lrtune.errors.LrtuneError` for bad input found while starting up (before any
    trial runs). ``argv`` is what ``--workers N`` hands its worker processes. Ctrl-C during the
    trials marks the running trial(s) FAIL, prints the summary and returns 130.
    """
    if run.threads is not None:
        torch.set_num_threads(run.threads)
    assembled, run = assemble_for_run(
        task, run, device
    )  # a --task is checked and loaded before anything is created
    task = assembled.config
    storage = open_storage(run.storage)
    studies = {f: open_family_study(storage, run.study_name_for(task, f), task, f) for f in run.families}
    for family, (study, created) in studies.items():
        if created and run.artifacts:
            _write_study_note(study, task, family)
    if run.workers > 1:
        return run_workers(argv, task, run, {f: s for f, (s, _) in studies.items()})
    hook = _artifact_hook(run) if run.artifacts else None
    runs = [FamilyRun(f, s, Objective(assembled, f, on_trial_start=hook)) for f, (s, _) in studies.items()]
    fuse = run.fuse if run.fuse is not None else default_group_size(assembled, run.trials, log=True)
    print(
        f"lrtune {__version__}: {task.task} on {device}, families {', '.join(run.families)}, "
        f"{run.trials} trials each → {display_url(run.storage)}",
        file=sys.stderr,
    )
    started = time.monotonic()
    code = 0
    try:
        # --fuse K: K trials of a family at once as one stacked model (lrtune.training.fused)
        run_round_robin(
            runs, trials=run.trials, timeout=run.timeout, progress=run.progress, quota=quota, fuse=fuse
        )
    except KeyboardInterrupt:
        code = interrupted(
            PROG,
            "the running trial is marked FAIL; finished trials are kept. Run the same command again to resume.",
        )
    rows = summary_rows({f: s for f, (s, _) in studies.items()})
    print_summary(rows, run.storage, time.monotonic() - started)
    return code


def default_group_size(task: AssembledTask, trials: int, *, log: bool = False) -> int:
    """The ``--fuse`` default: a start-up timing probe (:mod:`lrtune.training.group_size`), at most half the trials.

    Capping K at ⌈trials / 2⌉ gives every family at least two groups, so the later one is pruned
    and sampled against a finished one (members of a group can't prune each other).
    """
    choice = measure_group_size(
        task.build_model, task.data, task.train_config(0), max_size=max(1, -(-trials // 2))
    )
    if log:
        print(f"lrtune: {choice.describe()}", file=sys.stderr)
    return choice.size


if __name__ == "__main__":
    sys.exit(main())
