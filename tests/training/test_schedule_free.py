"""The schedulefree family: lrtune's run equals a hand-written loop with the package's optimizer."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
import schedulefree
import torch
import torch.nn.functional as F
from torch import nn

import lrtune
from lrtune.core.schedules import Schedule, warmup_steps
from lrtune.core.spaces import family_distributions, search_space
from lrtune.report.notes import parameter_meaning
from lrtune.training.data import iterate_batches, load_dataset
from lrtune.training.fused import train_fused
from lrtune.training.models import build_model
from lrtune.training.schedule_free import (
    BN_BATCHES,
    LR_SCALE,
    MissingPackageError,
    build_schedule_free_optimizer,
    to_eval_point,
)
from lrtune.training.train import TrainConfig, build_optimizer, train
from lrtune.tuning.config import TaskConfig

EPOCHS, BATCH, SEED = 2, 64, 7


@pytest.fixture(scope="module")
def digits64():
    """scikit-learn digits as 64-long sequences in float64 (exactness is proven in float64), so
    lrtune's BatchNorm convnet ``cnn1d`` runs on them."""
    d = load_dataset("digits", val_fraction=0.2, seed=0)
    keep = {"train": 640, "val": 200, "test": 200}  # small: the tests prove equality, not accuracy
    cut = {}
    for split, n in keep.items():
        cut[f"x_{split}"] = getattr(d, f"x_{split}")[:n].reshape(n, -1).double()
        cut[f"y_{split}"] = getattr(d, f"y_{split}")[:n]
    return dataclasses.replace(d, input_shape=(64,), **cut)


def _reference_bn(model: nn.Module, x: torch.Tensor, batch_size: int, n_batches: int) -> None:
    """Written out by hand: reset BN statistics, average them exactly over the first batches at x."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(min(n_batches, -(-len(x) // batch_size))):
            model(x[i * batch_size : (i + 1) * batch_size])
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum


def _hand_written(data, optimizer: str, peak: float, warmup_frac: float, beta: float, r: float, wd: float):
    """The package's own recipe: the optimizer does the warmup (warmup_steps=W), .train()/.eval()
    around evaluation, BatchNorm statistics recomputed at x."""
    model = build_model("cnn1d", input_shape=data.input_shape, n_classes=data.n_classes, seed=SEED).double()
    n_steps = -(-len(data.y_train) // BATCH)
    W = warmup_steps(EPOCHS * n_steps, warmup_frac)
    if optimizer == "sgd":
        opt = schedulefree.SGDScheduleFree(
            model.parameters(), lr=peak, momentum=beta, weight_decay=wd, warmup_steps=W, r=r
        )
    else:
        opt = schedulefree.AdamWScheduleFree(
            model.parameters(), lr=peak, betas=(beta, 0.999), weight_decay=wd, warmup_steps=W, r=r
        )
    generator = torch.Generator().manual_seed(SEED)
    lrs, val = [], []
    for _ in range(EPOCHS):
        model.train()
        opt.train()
        for xb, yb in iterate_batches(data.x_train, data.y_train, batch_size=BATCH, generator=generator):
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lrs.append(opt.param_groups[0]["scheduled_lr"])  # the LR the package used
        opt.eval()
        _reference_bn(model, data.x_train, BATCH, BN_BATCHES)
        model.eval()
        with torch.no_grad():
            val.append((model(data.x_val).argmax(1) == data.y_val).double().mean().item())
    return model, lrs, val


@pytest.mark.slow
@pytest.mark.parametrize(
    "optimizer, peak, warmup_frac, beta, r",
    [
        ("sgd", 0.5, 0.1, 0.9, 0.0),
        ("sgd", 1.0, 0.2, 0.8, 0.5),
        ("adamw", 3e-3, 0.1, 0.9, 0.25),
    ],
)
def test_lrtune_run_equals_the_hand_written_package_loop(digits64, optimizer, peak, warmup_frac, beta, r):
    wd = 5e-4
    schedule = Schedule("schedulefree", peak, warmup_frac, {"beta": beta, "r": r})
    model = build_model(
        "cnn1d", input_shape=digits64.input_shape, n_classes=digits64.n_classes, seed=SEED
    ).double()
    result = train(
        model,
        digits64,
        schedule,
        config=TrainConfig(epochs=EPOCHS, batch_size=BATCH, optimizer=optimizer, weight_decay=wd, seed=SEED),
    )
    ref_model, ref_lrs, ref_val = _hand_written(digits64, optimizer, peak, warmup_frac, beta, r, wd)
    # the LR curve lrtune records is the one the package used (its warmup, then constant) ...
    np.testing.assert_allclose(result.lr_trace, ref_lrs, rtol=0, atol=1e-12)
    assert result.lr_trace[0] < peak and result.lr_trace[-1] == peak
    # ... and the run ends at the same x, BatchNorm statistics included, with the same accuracies
    ours, theirs = model.state_dict(), ref_model.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(ours[key].double(), theirs[key].double(), rtol=0, atol=1e-5, msg=key)
    assert result.val_accuracies == pytest.approx(ref_val, abs=1e-12)
    assert result.val_accuracies[-1] > 0.3  # it learned something (chance is 0.1)


def test_the_curve_is_the_packages_warmup_then_constant():
    s = Schedule("schedulefree", 2.0, 0.1)
    T = 50
    W = warmup_steps(T, 0.1)
    curve = s.curve(T)
    np.testing.assert_allclose(curve[:W], 2.0 * (np.arange(W) + 1) / W)
    assert (curve[W - 1 :] == 2.0).all()
    assert s.schedule_free and not Schedule("cosine", 1.0).schedule_free
    assert Schedule.from_params(s.to_params(), family="schedulefree") == s
    with pytest.raises(ValueError, match="beta must be in"):
        Schedule("schedulefree", 1.0, params={"beta": 1.0})


def test_in_all_families_spaces_and_notes():
    assert "schedulefree" in lrtune.FAMILIES
    assert set(family_distributions("schedulefree")) == {"beta", "r"}
    assert {"schedulefree_beta", "schedulefree_r", "warmup_frac"} <= set(search_space("all"))
    for name in ("schedulefree_beta", "schedulefree_r", "schedulefree_weight_lr_power"):
        assert "Schedule-Free" in parameter_meaning(name)


def test_study_searches_the_scaled_lr_range():
    task = TaskConfig(dataset="digits", optimizer="sgd")
    low, high = task.lr_range
    assert task.lr_range_for("schedulefree") == (low * LR_SCALE["sgd"], high * LR_SCALE["sgd"])
    assert task.lr_range_for("cosine") == task.lr_range


def test_build_optimizer_picks_the_package_optimizer():
    model = nn.Linear(3, 2)
    sgd = build_optimizer(
        model,
        lr=0.5,
        config=TrainConfig(optimizer="sgd"),
        schedule=Schedule("schedulefree", 0.5, params={"beta": 0.8}),
    )
    assert isinstance(sgd, schedulefree.SGDScheduleFree) and sgd.param_groups[0]["momentum"] == 0.8
    assert sgd.param_groups[0]["warmup_steps"] == 0  # lrtune's ScheduleLR applies the warmup
    adamw = build_optimizer(
        model,
        lr=1e-3,
        config=TrainConfig(optimizer="adamw", weight_decay=0.01),
        schedule=Schedule("schedulefree", 1e-3),
    )
    assert isinstance(adamw, schedulefree.AdamWScheduleFree)
    assert adamw.param_groups[0]["betas"] == (0.9, 0.999) and adamw.param_groups[0]["weight_decay"] == 0.01
    assert isinstance(
        build_optimizer(model, lr=0.1, config=TrainConfig(), schedule=Schedule("cosine", 0.1)), torch.optim.SGD
    )


def test_eval_point_is_idempotent_and_a_no_op_for_other_optimizers():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    x = torch.randn(10, 3)
    plain = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model[1].running_mean.clone()
    to_eval_point(plain, model, x, batch_size=4)
    assert torch.equal(model[1].running_mean, before)
    opt = build_schedule_free_optimizer(model.parameters(), Schedule("schedulefree", 0.1))
    model(x).sum().backward()
    opt.step()
    to_eval_point(opt, model, x, batch_size=4)
    once = [p.detach().clone() for p in model.parameters()]
    to_eval_point(opt, model, x, batch_size=4)
    assert all(torch.equal(a, b) for a, b in zip(once, model.parameters()))
    assert not opt.param_groups[0]["train_mode"]


@pytest.mark.slow
def test_fused_training_runs_schedulefree_member_by_member(digits64):
    config = TrainConfig(epochs=2, batch_size=BATCH, seed=SEED)
    schedules = [Schedule("schedulefree", 0.5, 0.1), Schedule("schedulefree", 1.0, 0.0, {"beta": 0.95})]
    models = [
        build_model("cnn1d", input_shape=digits64.input_shape, n_classes=digits64.n_classes, seed=s).double()
        for s in (1, 2)
    ]
    members = train_fused(models, digits64, schedules, config=config)
    for schedule, member, s in zip(schedules, members, (1, 2)):
        solo = build_model(
            "cnn1d", input_shape=digits64.input_shape, n_classes=digits64.n_classes, seed=s
        ).double()
        alone = train(solo, digits64, schedule, config=config)
        assert member.result.val_accuracies == alone.val_accuracies
        assert member.result.lr_trace == alone.lr_trace


def test_missing_package_is_one_line(monkeypatch, tmp_path, capsys):
    from lrtune.study import main

    monkeypatch.setitem(sys.modules, "schedulefree", None)  # import fails as if not installed
    with pytest.raises(MissingPackageError, match="pip install schedulefree"):
        build_schedule_free_optimizer(nn.Linear(2, 2).parameters(), Schedule("schedulefree", 0.1))
    db = tmp_path / "s.db"
    assert (
        main(
            [
                "--dataset",
                "digits",
                "--family",
                "schedulefree",
                "--trials",
                "1",
                "--storage",
                f"sqlite:///{db}",
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "pip install schedulefree" in err and "\n" not in err
    assert not db.exists()
