"""``python -m lrtune.bench --tasks verdict``: the time a user waits for a confirmed verdict.

The README's whole workflow, end to end, twice in one run:

1. ``python -m lrtune.study --family constant,step,cosine,onecycle --trials 12`` (mnist1d,
   cnn1d, 15 epochs — the default task), then
2. ``python -m lrtune.analyze --confirm 5`` (the best configuration of every family re-trained
   with 5 fresh paired seeds, unpruned), and the verdict,

once as lrtune ran before trials were fused by default (``--fuse 1``, confirmations one by one —
"unfused") and once with the defaults (group size measured at start-up, confirmations stacked —
"default"). Each leg runs in-process on its own temporary SQLite storage through the real CLIs'
code (``lrtune.study.main``, ``lrtune.tuning.confirmations.run_confirmations``, ``lrtune.report``); wall
times cover the search, the confirmation runs and the analysis. Both verdicts are printed: they
are two independent experiments (different batch orders per trial, different sampler histories),
so they must agree in substance, not to the last digit. Then, from a copy of the default leg's
searched storage, once ``--confirm auto --max-seeds 16`` (racing: beaten families stop receiving
seeds) and once ``--confirm 8`` (every family 8 seeds): confirmation wall time, runs and both
verdicts. ``--quick`` runs the same workflow on digits (MLP, 2 epochs, constant and cosine × 4
trials, ``--confirm 2``, auto capped at 2 seeds).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import optuna
import torch

from lrtune.report import load_trials, write_report
from lrtune.study import main as study_main
from lrtune.tuning.auto_confirm import race_confirmations
from lrtune.tuning.confirmations import run_confirmations
from lrtune.tuning.storage import open_storage

__all__ = ["LEGS", "VERDICT_TASK", "format_verdict", "run_verdict"]

VERDICT_TASK = "verdict"
"""The ``--tasks`` name of this task (not in the default list)."""

_FULL = {
    "dataset": "mnist1d",
    "model": "cnn1d",
    "epochs": 15,
    "families": "constant,step,cosine,onecycle",
    "trials": 12,
    "confirm": 5,
    "fixed_confirm": 8,
    "max_seeds": 16,
}
_QUICK = {
    "dataset": "digits",
    "model": "mlp",
    "epochs": 2,
    "families": "constant,cosine",
    "trials": 4,
    "confirm": 2,
    "fixed_confirm": 2,
    "max_seeds": 2,
}
LEGS: dict[str, int | None] = {"unfused": 1, "default": None}
"""Leg name → ``--fuse`` (None: lrtune's default, measured)."""


def _leg(
    name: str, fuse: int | None, spec: dict[str, Any], *, device: str, threads: int, log: Callable[[str], None]
) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="lrtune-bench-verdict-")
    url = f"sqlite:///{os.path.join(folder, f'{name}.db')}"
    argv = [
        "--dataset",
        spec["dataset"],
        "--model",
        spec["model"],
        "--epochs",
        str(spec["epochs"]),
        "--family",
        spec["families"],
        "--trials",
        str(spec["trials"]),
        "--storage",
        url,
        "--device",
        device,
        "--threads",
        str(threads),
        "--no-progress",
        "--no-artifacts",
    ]
    if fuse is not None:
        argv += ["--fuse", str(fuse)]
    log(
        f"  verdict: {name} search ({spec['families']} x {spec['trials']} trials, {spec['dataset']} {spec['model']} {spec['epochs']} epochs)"
    )
    stderr = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        code = study_main(argv)
    search_s = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"the {name} search exited {code}: {stderr.getvalue().strip().splitlines()[-1:]}")
    probe = [
        line.split("lrtune: ", 1)[1] for line in stderr.getvalue().splitlines() if line.startswith("lrtune: fuse ")
    ]
    searched = os.path.join(folder, f"{name}-searched.db")
    shutil.copyfile(os.path.join(folder, f"{name}.db"), searched)  # the auto leg starts from here
    log(f"  verdict: {name} confirmation ({spec['confirm']} seeds per family)")
    started = time.perf_counter()
    runs = run_confirmations(url, k=spec["confirm"], fuse=fuse, device=device)
    confirm_s = time.perf_counter() - started
    started = time.perf_counter()
    storage = open_storage(url, heartbeat=False)
    trials = load_trials(storage)
    report = write_report(storage, os.path.join(folder, "report"), trials=trials, storage_label=url)
    analyse_s = time.perf_counter() - started
    verdicts = {task: (v.text if v else "no verdict") for task, v in report.verdicts.items()}
    search = trials[trials["kind"] == "search"]
    best = {f: float(g.loc[g["state"] == "COMPLETE", "value"].max()) for f, g in search.groupby("family")}
    return {
        "fuse": fuse,
        "searched": searched,
        "probe": probe[0] if probe else None,
        "storage": url,
        "search_s": search_s,
        "confirm_s": confirm_s,
        "analyse_s": analyse_s,
        "total_s": search_s + confirm_s + analyse_s,
        "search_trials": int(len(search)),
        "pruned": int((search["state"] == "PRUNED").sum()),
        "confirm_runs": len(runs),
        "best_search_value": best,
        "verdicts": verdicts,
    }


def _confirm_leg(name: str, searched: str, spec: dict[str, Any], *, device: str) -> dict[str, Any]:
    """From a copy of the searched storage: ``--confirm auto`` or ``--confirm K``, then the report."""
    folder = tempfile.mkdtemp(prefix=f"lrtune-bench-verdict-{name}-")
    path = os.path.join(folder, f"{name}.db")
    shutil.copyfile(searched, path)
    url = f"sqlite:///{path}"
    started = time.perf_counter()
    if name == "auto":
        races = race_confirmations(url, max_seeds=spec["max_seeds"], device=device)
        seeds = {f: n for race in races for f, n in race.seeds.items()}
    else:
        runs = run_confirmations(url, k=spec["fixed_confirm"], device=device)
        seeds = {}
        for run in runs:
            seeds[run.family] = seeds.get(run.family, 0) + 1
    confirm_s = time.perf_counter() - started
    started = time.perf_counter()
    storage = open_storage(url, heartbeat=False)
    trials = load_trials(storage)
    report = write_report(storage, os.path.join(folder, "report"), trials=trials, storage_label=url)
    return {
        "storage": url,
        "confirm_s": confirm_s,
        "analyse_s": time.perf_counter() - started,
        "runs": int(sum(seeds.values())),
        "seeds": seeds,
        "verdicts": {task: (v.text if v else "no verdict") for task, v in report.verdicts.items()},
        "winners": {task: (v.winner if v else None) for task, v in report.verdicts.items()},
    }


def run_verdict(*, quick: bool, device: str, threads: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Both legs of the verdict task; the JSON-able record (wall times in seconds, the verdicts)."""
    spec = _QUICK if quick else _FULL
    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    record: dict[str, Any] = {"task": VERDICT_TASK, **spec, "threads": threads, "legs": {}}
    for name, fuse in LEGS.items():
        record["legs"][name] = _leg(name, fuse, spec, device=device, threads=threads, log=log)
    unfused, default = record["legs"]["unfused"], record["legs"]["default"]
    record["time_ratio"] = default["total_s"] / unfused["total_s"]
    log(
        f"  verdict: --confirm auto (max {spec['max_seeds']} seeds) and --confirm {spec['fixed_confirm']} on the default search"
    )
    record["confirm_legs"] = {
        name: _confirm_leg(name, default["searched"], spec, device=device) for name in ("auto", "fixed")
    }
    return record


def format_verdict(record: dict[str, Any]) -> str:
    """The verdict task as a table and both verdicts."""
    head = (
        f"verdict: {record['dataset']} {record['model']}, {record['epochs']} epochs, families {record['families']} x "
        f"{record['trials']} trials, then --confirm {record['confirm']}; {record['threads']} thread(s)"
    )
    header = ["path", "search s", "confirm s", "analyse s", "total s", "x unfused", "pruned", "fuse"]
    rows = []
    base = record["legs"]["unfused"]["total_s"]
    for name, leg in record["legs"].items():
        fuse = (
            "1" if leg["fuse"] == 1 else (leg["probe"] or "fuse ?").split(" (")[0].replace("fuse ", "measured: ")
        )
        rows.append(
            [
                name,
                f"{leg['search_s']:.0f}",
                f"{leg['confirm_s']:.0f}",
                f"{leg['analyse_s']:.1f}",
                f"{leg['total_s']:.0f}",
                f"{leg['total_s'] / base:.2f}",
                f"{leg['pruned']}/{leg['search_trials']}",
                fuse,
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(
        c.ljust(w) if i in (0, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
    )  # noqa: E731
    out = [head, line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    for name, leg in record["legs"].items():
        if leg["probe"]:
            out.append(f"{name} group size: {leg['probe']}")
    for name, leg in record["legs"].items():
        for task, text in leg["verdicts"].items():
            out.append(f"{name} verdict ({task}): {text}")
    legs = record.get("confirm_legs")
    if legs:
        out.append(
            f"on the default leg's search: --confirm auto --max-seeds {record['max_seeds']} vs --confirm "
            f"{record['fixed_confirm']}"
        )
        for name, leg in legs.items():
            label = "auto" if name == "auto" else f"--confirm {record['fixed_confirm']}"
            seeds = ", ".join(f"{f} {n}" for f, n in sorted(leg["seeds"].items()))
            out.append(
                f"  {label}: confirm {leg['confirm_s']:.0f} s + analyse {leg['analyse_s']:.1f} s, "
                f"{leg['runs']} runs (seeds: {seeds})"
            )
        for name, leg in legs.items():
            for task, text in leg["verdicts"].items():
                out.append(f"{name} verdict ({task}): {text}")
    return "\n".join(out)
