"""``python -m lrtune.bench``: the command line — options, the tables it prints, the JSON it writes.

Every thread count is decided in :func:`main` from the count torch has when it is called (in a
fresh ``python -m lrtune.bench``, torch's default: all cores), and restored on the way out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
import torch

from lrtune import __version__, prune_accounting
from lrtune.bench.baseline import BASELINE_DATASETS
from lrtune.bench.paths import PATHS
from lrtune.bench.run import run_task
from lrtune.bench.tasks import TASKS
from lrtune.bench.verdict import VERDICT_TASK, format_verdict, run_verdict
from lrtune.cli import fail, run_command

__all__ = ["PROG", "build_parser", "format_table", "json_default", "machine_info", "main"]

PROG = "lrtune.bench"


def format_table(record: dict[str, Any]) -> str:
    """The task's measurements as a plain-text table (and the pruning line)."""
    head = (
        f"{record['task']}: {record['description']} — {record['trials']} trials x {record['epochs']} epochs, "
        f"batch {record['batch_size']}, {record['optimizer']}, {record['family']}, {record['pruner']} pruner; "
        f"train {record['sizes']['train']} examples\n"
        f"compute floor: {record['train_gflop_per_epoch']:.2f} GFLOP/epoch at {record['matmul_gflops']:.0f} "
        f"GFLOP/s (float32 matmul, {record['threads']['lrtune']} thread(s)) = "
        f"{record['floor_s_per_epoch'] * 1e3:.1f} ms/epoch"
    )
    header = [
        "path",
        "threads",
        "trials/min",
        "x base",
        "epochs/s",
        "x base",
        "best acc",
        "pruned",
        "ms/epoch",
        "x floor",
    ]
    labels = {
        "fused": f"fused K={record['fuse']} (default)",
        "baseline": f"baseline ({record.get('baseline_dataset', 'tensor')})",
        "lrtune": "lrtune --fuse 1",
    }
    rows = [
        [
            labels.get(path, path),
            str(record["threads"][path]),
            f"{s['trials_per_min']:.1f}",
            f"{s['trials_per_min_x_baseline']:.2f}",
            f"{s['model_epochs_per_s']:.1f}",
            f"{s['model_epochs_per_s_x_baseline']:.2f}",
            f"{s['best_val_accuracy']:.4f}",
            f"{s['pruned']}/{s['trials']}",
            f"{s['epoch_s'] * 1e3:.1f}",
            f"{s['x_floor']:.1f}",
        ]
        for path, s in record["paths"].items()
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [head, line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if "pruning" in record:
        p = record["pruning"]
        out.append(
            f"pruning (fused trials replayed unpruned): {p['epochs_run']} of {p['epochs_unpruned']} epochs run "
            f"({p['epochs_saved_fraction']:.0%} saved); best unpruned trial #{p['best_unpruned_trial']} "
            f"({p['best_unpruned_value']:.4f}) {'WAS' if p['best_unpruned_was_pruned'] else 'was not'} pruned; "
            f"best with pruning {p['best_with_pruning']:.4f}"
        )
    return "\n".join(out)


def machine_info(device: str) -> dict[str, Any]:
    """Versions, CPU count, processor, device (and GPU name), load average: the report's ``machine``."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "optuna": optuna.__version__,
        "lrtune": __version__,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "device": device,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["load_average"] = os.getloadavg()
    except OSError:  # pragma: no cover
        pass
    return info


def json_default(value: Any) -> Any:
    """``json.dump``'s fallback: numpy scalars as Python numbers, tuples as lists."""
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def build_parser(torch_threads: int | None = None) -> argparse.ArgumentParser:
    """The options; ``torch_threads`` (default: torch's current count) is the baseline's thread default."""
    torch_threads = torch.get_num_threads() if torch_threads is None else torch_threads
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Trials per minute: the usual Optuna + PyTorch loop vs lrtune's normal and fused paths.",
    )
    p.add_argument(
        "--prune-accounting",
        dest="prune_accounting_cli",
        action="store_true",
        help="replay a pruned search unpruned per family instead "
        "(python -m lrtune.prune_accounting; its options follow)",
    )
    p.add_argument(
        "--tasks",
        default=",".join(TASKS),
        help=f"comma-separated tasks (default: {', '.join(TASKS)}; also 'verdict': "
        "the README's search + confirmation timed end to end, unfused vs default)",
    )
    p.add_argument("--quick", action="store_true", help="tiny trial counts, epochs and data (for tests)")
    p.add_argument("--json", dest="json_path", help="also write the measurements as JSON to this file")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for lrtune's paths (default: lrtune's default, see docs/speed.md)",
    )
    p.add_argument(
        "--baseline-threads",
        type=int,
        default=None,
        help=f"torch threads for the baseline (default torch's: {torch_threads})",
    )
    p.add_argument(
        "--fuse", type=int, help="trials per stack for the fused path (default: measured, as lrtune.study does)"
    )
    p.add_argument("--trials", type=int, help="trials per path (default: per task)")
    p.add_argument("--epochs", type=int, help="epochs per trial (default: per task)")
    p.add_argument("--family", default="cosine", help="schedule family searched (default cosine)")
    p.add_argument(
        "--pruner",
        default="median",
        choices=("median", "hyperband", "none"),
        help="pruner of every path (default median)",
    )
    p.add_argument("--repeats", type=int, default=1, help="runs per path; wall times are medians (default 1)")
    p.add_argument("--paths", default=",".join(PATHS), help=f"which paths to run (default {','.join(PATHS)})")
    p.add_argument(
        "--storage",
        choices=("memory", "sqlite"),
        default="memory",
        help="Optuna storage of every path (default memory, as the Optuna example)",
    )
    p.add_argument(
        "--baseline",
        choices=BASELINE_DATASETS,
        default=BASELINE_DATASETS[0],
        help="baseline input: auto (default: TensorDataset for array data, torchvision's per-item PIL path "
        "for image files), tensor, or torchvision (per-item PIL + ToTensor, as the official Optuna example)",
    )
    p.add_argument(
        "--no-prune-accounting",
        dest="prune_accounting",
        action="store_false",
        help="skip the unpruned replay of the fused trials",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; prints one table per task (and writes JSON with ``--json``). Returns the exit code.

    lrtune's paths and the baseline both default to the thread count torch has now — in a fresh
    process torch's default, all cores (docs/speed.md: 2 threads beat 1 on a 2-core machine for
    every task, fused or not, when nothing else loads the CPU) — and it is restored at the end.
    """
    return run_command(PROG, lambda: _bench(argv), kept="tables printed so far stand; no JSON is written")


def _bench(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--prune-accounting" in argv:  # the pruning replay lives in lrtune.prune_accounting
        return prune_accounting.main([a for a in argv if a != "--prune-accounting"])
    torch_threads = torch.get_num_threads()
    args = build_parser(torch_threads).parse_args(argv)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [n for n in names if n not in TASKS and n != VERDICT_TASK]
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    bad_paths = [p for p in paths if p not in PATHS]
    if not names or unknown:
        return fail(
            PROG, f"unknown task {unknown[0] if unknown else ''!r}; valid: {', '.join(TASKS)}, {VERDICT_TASK}"
        )
    if not paths or bad_paths:
        return fail(PROG, f"unknown path {bad_paths[0] if bad_paths else ''!r}; valid: {', '.join(PATHS)}")
    for name in ("threads", "baseline_threads", "fuse", "trials", "epochs", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            return fail(PROG, f"--{name.replace('_', '-')} must be ≥ 1, but got {value}")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return fail(PROG, f"--device {device} was asked for, but torch sees no CUDA device")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    threads = args.threads or torch_threads
    baseline_threads = args.baseline_threads or torch_threads
    log = (lambda msg: None) if args.quick else (lambda msg: print(msg, file=sys.stderr, flush=True))
    report: dict[str, Any] = {
        "lrtune_bench": 1,
        "quick": args.quick,
        "machine": machine_info(device),
        "baseline_dataset": args.baseline,
        "tasks": [],
    }
    try:
        for name in names:
            if name == VERDICT_TASK:  # the README's search + confirmation, unfused vs default
                record = run_verdict(quick=args.quick, device=device, threads=threads, log=log)
                report["tasks"].append(record)
                print(format_verdict(record), end="\n\n", flush=True)
                continue
            record = run_task(
                TASKS[name],
                quick=args.quick,
                device=device,
                threads=threads,
                baseline_threads=baseline_threads,
                family=args.family,
                pruner=args.pruner,
                repeats=args.repeats,
                fuse=args.fuse,
                trials=args.trials,
                epochs=args.epochs,
                storage=args.storage,
                paths=paths,
                prune_accounting=args.prune_accounting,
                log=log,
                baseline=args.baseline,
            )
            report["tasks"].append(record)
            print(format_table(record), end="\n\n", flush=True)
    finally:
        torch.set_num_threads(torch_threads)
    if args.json_path:
        with open(args.json_path, "w") as fh:
            json.dump(report, fh, indent=2, default=json_default)
    return 0
