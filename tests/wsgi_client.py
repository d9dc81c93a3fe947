"""Test helpers for the dashboard: an in-process WSGI client, a tiny lrtune-shaped study, and a
check that optuna-dashboard shows what lrtune writes (docs/architecture.md).

    client = DashboardClient.for_storage(storage_url, artifact_store)
    detail = check_lrtune_study(client, "cosine-study")      # asserts the whole contract

``check_lrtune_study`` works on any study written through ``lrtune.report.notes`` — a study built by
``make_demo_study`` here, or one built by the real ``python -m lrtune.study`` CLI.
No socket is opened: the WSGI app is called directly with a ``wsgiref`` test environ.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass
from typing import Any
from wsgiref.util import setup_testing_defaults

import numpy as np
import optuna
from optuna.distributions import FloatDistribution

from lrtune.report import notes
from lrtune.tuning.pruning import may_prune, pruning_start

__all__ = [
    "DashboardClient",
    "Response",
    "attrs_dict",
    "check_lrtune_study",
    "make_demo_study",
]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TRIAL_USER_ATTRS = (
    "family",
    "val_accuracy",
    "test_accuracy",
    "epochs_run",
    "seconds",
    "diverged",
    "seed",
    "lr_curve",
    "lr_curve_steps",
    "steps_per_epoch",
)


@dataclass(frozen=True)
class Response:
    """What the WSGI app answered."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class DashboardClient:
    """Calls an optuna-dashboard WSGI app in-process (GET only, which is all tests need)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @classmethod
    def for_storage(cls, storage: Any, artifact_store: Any = None) -> DashboardClient:
        """A client over ``optuna_dashboard.wsgi(storage, artifact_store)``."""
        from optuna_dashboard import wsgi

        return cls(wsgi(storage, artifact_store=artifact_store))

    def get(self, path: str, query: str = "") -> Response:
        """GET ``path`` and return status, headers and the whole body."""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "wsgi.input": io.BytesIO(b""),
        }
        setup_testing_defaults(environ)
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split()[0])
            captured["headers"] = dict(headers)
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return Response(captured["status"], captured["headers"], body)

    def get_json(self, path: str) -> Any:
        """GET a JSON API path; assert it answered 200."""
        response = self.get(path)
        assert response.status == 200, f"GET {path} -> {response.status}: {response.body[:300]!r}"
        return response.json()

    def studies(self) -> list[dict[str, Any]]:
        """``/api/studies``: one summary per study (``study_id``, ``study_name``, ``user_attrs``)."""
        return self.get_json("/api/studies")["study_summaries"]

    def study_id(self, study_name: str) -> int:
        """The dashboard's id of a study, found by name in ``/api/studies``."""
        ids = [s["study_id"] for s in self.studies() if s["study_name"] == study_name]
        assert ids, f"study {study_name!r} is not listed in /api/studies"
        return ids[0]

    def study(self, study_name: str) -> dict[str, Any]:
        """``/api/studies/<id>``: note, trials (params, user attrs, notes, artifacts, ...)."""
        return self.get_json(f"/api/studies/{self.study_id(study_name)}")

    def trial_artifact(self, trial: dict[str, Any], artifact: dict[str, Any]) -> Response:
        """GET ``/artifacts/<study_id>/<trial_id>/<artifact_id>`` of a serialized trial."""
        return self.get(f"/artifacts/{trial['study_id']}/{trial['trial_id']}/{artifact['artifact_id']}")


def attrs_dict(serialized: list[dict[str, str]]) -> dict[str, str]:
    """The dashboard serialises attrs as ``[{"key": k, "value": str}]``; make it a dict."""
    return {a["key"]: a["value"] for a in serialized}


def check_lrtune_study(
    client: DashboardClient,
    study_name: str,
    *,
    min_trials: int = 1,
    expect_artifacts: bool = True,
    expect_trial_notes: bool = True,
) -> dict[str, Any]:
    """Assert the dashboard shows an lrtune study completely; return ``/api/studies/<id>``.

    Study: listed with its ``lrtune_*`` user attrs, a study note. Every finished trial:
    params, the trial user attrs of the contract, intermediate values at steps 1..epochs_run,
    a note, and an LR-curve artifact whose URL returns PNG bytes.
    """
    summary = next(s for s in client.studies() if s["study_name"] == study_name)
    study_attrs = attrs_dict(summary["user_attrs"])
    for key in ("lrtune_family", "lrtune_task", "lrtune_config"):
        assert key in study_attrs, f"study user attr {key!r} missing: {sorted(study_attrs)}"
    detail = client.study(study_name)
    assert detail["name"] == study_name
    assert detail["note"]["version"] >= 1 and detail["note"]["body"].strip(), "study note is empty"
    assert detail["has_intermediate_values"] is True
    finished = [t for t in detail["trials"] if t["state"] in ("Complete", "Pruned")]
    assert len(finished) >= min_trials, f"{len(finished)} finished trials, expected >= {min_trials}"
    for trial in finished:
        _check_trial(client, trial, expect_artifacts=expect_artifacts, expect_note=expect_trial_notes)
    return detail


def _check_trial(
    client: DashboardClient, trial: dict[str, Any], *, expect_artifacts: bool, expect_note: bool
) -> None:
    """Assert one serialized trial carries what lrtune writes."""
    label = f"trial {trial['number']}"
    assert trial["params"], f"{label} has no params"
    user_attrs = attrs_dict(trial["user_attrs"])
    missing = [k for k in TRIAL_USER_ATTRS if k not in user_attrs]
    assert not missing, f"{label} lacks user attrs {missing}"
    steps = [iv["step"] for iv in trial["intermediate_values"]]
    assert steps == list(range(1, int(user_attrs["epochs_run"]) + 1)), f"{label} intermediate steps {steps}"
    assert all(0.0 <= iv["value"] <= 1.0 for iv in trial["intermediate_values"]), f"{label} accuracies"
    if expect_note:
        assert trial["note"]["body"].strip(), f"{label} has no note"
    if expect_artifacts:
        pngs = [a for a in trial["artifacts"] if a["mimetype"] == "image/png"]
        assert pngs, f"{label} has no PNG artifact: {trial['artifacts']}"
        response = client.trial_artifact(trial, pngs[0])
        assert response.status == 200, f"{label} artifact -> {response.status}"
        assert response.headers.get("Content-Type") == "image/png"
        assert response.body.startswith(PNG_MAGIC), f"{label} artifact is not a PNG"


# --------------------------------------------------------------------------- a tiny study


DEMO_SPACE = {
    "lr": FloatDistribution(1e-3, 1.0, log=True),
    "warmup_frac": FloatDistribution(0.0, 0.1),
    "cosine_final_ratio": FloatDistribution(1e-4, 0.1, log=True),
}
DEMO_FORMULA = "m(q) = r + (1 − r)·½(1 + cos πq): a half cosine from the peak LR down to r × peak."


def _demo_config(epochs: int) -> dict[str, Any]:
    """A configuration shaped like lrtune's (docs/architecture.md)."""
    return {
        "dataset": "digits",
        "model": "mlp",
        "epochs": epochs,
        "batch_size": 64,
        "optimizer": "sgd",
        "weight_decay": 0.0,
        "lr_range": [1e-3, 1.0],
        "warmup_range": [0.0, 0.1],
        "sampler": "random",
        "pruner": "median",
        "seed": 0,
        "family": "cosine",
    }


def _demo_curve(params: dict[str, Any], total_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Warmup + cosine LR curve (as the objective's ``lr_curve``), ≤ 200 points."""
    steps = np.unique(np.linspace(0, total_steps - 1, min(200, total_steps)).round().astype(int))
    warmup = round(params["warmup_frac"] * total_steps)
    r = params["cosine_final_ratio"]
    q = np.clip((steps - warmup) / max(total_steps - warmup, 1), 0.0, 1.0)
    m = np.where(steps < warmup, (steps + 1) / (warmup + 1), r + (1 - r) * 0.5 * (1 + np.cos(np.pi * q)))
    return steps, params["lr"] * m


def _demo_objective(artifact_store: Any, epochs: int, steps_per_epoch: int, with_artifacts: bool):
    """A cheap objective that writes everything the real one does (no training)."""

    def objective(trial: optuna.Trial) -> float:
        start = time.perf_counter()
        params = {name: trial.suggest_float(name, d.low, d.high, log=d.log) for name, d in DEMO_SPACE.items()}
        steps, lrs = _demo_curve(params, epochs * steps_per_epoch)
        if with_artifacts:
            notes.attach_lr_curve(trial, artifact_store, steps, lrs, f"trial {trial.number} · cosine")
            notes.write_trial_note(trial, notes.trial_note_markdown("cosine", params))
        best = 0.95 - 0.25 * abs(math.log10(params["lr"]) + 1.0)
        accuracy = 0.1
        for epoch in range(1, epochs + 1):
            accuracy = 0.1 + (best - 0.1) * (1 - 0.5**epoch)
            trial.report(accuracy, epoch)
            trial.set_user_attr("epochs_run", epoch)
            if may_prune(epoch, epochs) and trial.should_prune():
                break
        trial.set_user_attr("family", "cosine")
        trial.set_user_attr("val_accuracy", accuracy)
        trial.set_user_attr("test_accuracy", accuracy - 0.01)
        trial.set_user_attr("seconds", time.perf_counter() - start)
        trial.set_user_attr("diverged", False)
        trial.set_user_attr("seed", trial.number)
        trial.set_user_attr("lr_curve", [float(v) for v in lrs])
        trial.set_user_attr("lr_curve_steps", [int(s) for s in steps])
        trial.set_user_attr("steps_per_epoch", steps_per_epoch)
        if trial.user_attrs["epochs_run"] < epochs:
            raise optuna.TrialPruned()
        return accuracy

    return objective


def make_demo_study(
    storage: str | optuna.storages.BaseStorage,
    *,
    artifact_store: Any,
    study_name: str = "lrtune-demo-cosine",
    n_trials: int = 6,
    epochs: int = 4,
    steps_per_epoch: int = 25,
    with_artifacts: bool = True,
) -> optuna.Study:
    """A small study shaped like lrtune's: study attrs and note, trials with intermediate
    values, the contract's user attrs, a trial note and an LR-curve PNG each; some pruned."""
    config = _demo_config(epochs)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=pruning_start(epochs))
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=pruner,
        load_if_exists=True,
    )
    study.set_user_attr("lrtune_version", "0.1.0")
    study.set_user_attr("lrtune_config", config)
    study.set_user_attr("lrtune_family", "cosine")
    study.set_user_attr("lrtune_task", f"digits/mlp/{epochs}ep/sgd")
    study.set_user_attr("lrtune_kind", "search")
    markdown = notes.study_note_markdown(
        config,
        "cosine",
        DEMO_FORMULA,
        DEMO_SPACE,
        f"median (n_warmup_steps={pruning_start(epochs)})",
        "random (seed=0)",
    )
    notes.write_study_note(study, markdown)
    objective = _demo_objective(artifact_store, epochs, steps_per_epoch, with_artifacts)
    study.optimize(objective, n_trials=n_trials)
    return study
