"""The schedule maths: boundary values, PyTorch's own schedulers as references, nesting, state."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tl

from lrtune import FAMILIES, Schedule
from lrtune.core.schedules import family_defaults, step_milestones, warmup_steps

PEAK = 0.3


def torch_lrs(
    make_scheduler, total_steps: int, *, lr: float = PEAK, metrics=None, steps_per_epoch=None
) -> np.ndarray:
    """The LR a torch scheduler gives at every step 0…T−1 (read before each optimizer step)."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    sched = make_scheduler(opt)
    out = []
    for t in range(total_steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if metrics is None:
            sched.step()
        elif (t + 1) % steps_per_epoch == 0:
            sched.step(metrics[(t + 1) // steps_per_epoch - 1])
    return np.array(out)


def our_lrs(
    schedule: Schedule, total_steps: int, *, lr: float = PEAK, metrics=None, steps_per_epoch=None
) -> np.ndarray:
    """The LR our built scheduler gives at every step, driven exactly like a user's loop."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    sched = schedule.build(opt, total_steps)
    out = []
    for t in range(total_steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        if metrics is not None and (t + 1) % steps_per_epoch == 0:
            sched.epoch_end(metrics[(t + 1) // steps_per_epoch - 1])
    return np.array(out)


def assert_close(ours: np.ndarray, ref: np.ndarray, rtol: float = 1e-9) -> None:
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=0)


# ----------------------------------------------------------------------------------- references


@pytest.mark.parametrize("total_steps,final_ratio", [(100, 0.0), (100, 0.01), (37, 0.2)])
def test_cosine_matches_cosine_annealing_lr(total_steps, final_ratio):
    s = Schedule("cosine", peak_lr=PEAK, params={"final_ratio": final_ratio})
    ref = torch_lrs(lambda o: tl.CosineAnnealingLR(o, T_max=total_steps, eta_min=final_ratio * PEAK), total_steps)
    assert_close(our_lrs(s, total_steps), ref)
    assert_close(s.curve(total_steps), ref)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("total_steps,pct", [(100, 0.3), (57, 0.25), (10, 0.5)])
def test_onecycle_matches_onecycle_lr(anneal, three_phase, total_steps, pct):
    params = {
        "pct_start": pct,
        "div_factor": 25.0,
        "final_div_factor": 1e3,
        "anneal": anneal,
        "three_phase": three_phase,
    }
    s = Schedule("onecycle", peak_lr=PEAK, params=params)
    ref = torch_lrs(
        lambda o: tl.OneCycleLR(
            o,
            max_lr=PEAK,
            total_steps=total_steps,
            pct_start=pct,
            anneal_strategy=anneal,
            div_factor=25.0,
            final_div_factor=1e3,
            three_phase=three_phase,
            cycle_momentum=False,
        ),
        total_steps,
    )
    assert_close(our_lrs(s, total_steps), ref)


@pytest.mark.parametrize("n_drops,drop_start,total_steps", [(1, 0.5, 100), (2, 0.3, 100), (3, 0.75, 61)])
def test_step_matches_multistep_lr(n_drops, drop_start, total_steps):
    s = Schedule("step", peak_lr=PEAK, params={"n_drops": n_drops, "drop_start": drop_start, "gamma": 0.2})
    milestones = step_milestones(total_steps=total_steps, warmup_frac=0.0, n_drops=n_drops, drop_start=drop_start)
    assert len(milestones) == n_drops
    assert milestones[0] == math.ceil(drop_start * total_steps)
    ref = torch_lrs(lambda o: tl.MultiStepLR(o, milestones=milestones, gamma=0.2), total_steps)
    assert_close(our_lrs(s, total_steps), ref)


def test_exponential_matches_exponential_lr():
    total, r = 120, 0.01
    s = Schedule("exponential", peak_lr=PEAK, params={"final_ratio": r})
    ref = torch_lrs(lambda o: tl.ExponentialLR(o, gamma=r ** (1 / total)), total)
    assert_close(our_lrs(s, total), ref)


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_poly_matches_polynomial_lr(power):
    total = 80
    s = Schedule("poly", peak_lr=PEAK, params={"power": power, "final_ratio": 0.0})
    ref = torch_lrs(lambda o: tl.PolynomialLR(o, total_iters=total, power=power), total)
    assert_close(our_lrs(s, total), ref)


def test_warmup_matches_linear_lr():
    total, frac = 200, 0.1
    W = warmup_steps(total, frac)
    assert W == 20
    s = Schedule("constant", peak_lr=PEAK, warmup_frac=frac)
    ref = torch_lrs(lambda o: tl.LinearLR(o, start_factor=1 / (W + 1), end_factor=1.0, total_iters=W), total)
    assert_close(our_lrs(s, total), ref)


@pytest.mark.parametrize("t_mult,n_cycles,t0", [(1, 3, 20), (2, 3, 10), (2, 1, 50), (1, 1, 50)])
def test_sgdr_matches_cosine_annealing_warm_restarts(t_mult, n_cycles, t0):
    total = t0 * sum(t_mult**k for k in range(n_cycles))
    params = {"n_cycles": n_cycles, "t_mult": t_mult, "cycle_decay": 1.0, "final_ratio": 0.05}
    s = Schedule("sgdr", peak_lr=PEAK, params=params)
    ref = torch_lrs(lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=t0, T_mult=t_mult, eta_min=0.05 * PEAK), total)
    assert_close(our_lrs(s, total), ref)


@pytest.mark.parametrize("mode", ["triangular", "triangular2"])
def test_cyclic_matches_cyclic_lr(mode):
    n_cycles, half = 3, 15
    total = 2 * half * n_cycles
    s = Schedule("cyclic", peak_lr=PEAK, params={"max_over_base": 5.0, "n_cycles": n_cycles, "mode": mode})
    ref = torch_lrs(
        lambda o: tl.CyclicLR(
            o, base_lr=PEAK / 5.0, max_lr=PEAK, step_size_up=half, mode=mode, cycle_momentum=False
        ),
        total,
    )
    assert_close(our_lrs(s, total), ref)


def test_plateau_matches_reduce_lr_on_plateau():
    steps_per_epoch, epochs = 7, 20
    metrics = [0.5, 0.6, 0.6, 0.6, 0.61, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    params = {"factor": 0.3, "patience": 2, "threshold": 1e-3, "min_ratio": 0.01}
    s = Schedule("plateau", peak_lr=PEAK, params=params)
    total = steps_per_epoch * epochs
    ref = torch_lrs(
        lambda o: tl.ReduceLROnPlateau(o, mode="max", factor=0.3, patience=2, threshold=1e-3, min_lr=0.01 * PEAK),
        total,
        metrics=metrics,
        steps_per_epoch=steps_per_epoch,
    )
    ours = our_lrs(s, total, metrics=metrics, steps_per_epoch=steps_per_epoch)
    assert_close(ours, ref)
    assert ours[-1] == pytest.approx(0.01 * PEAK)  # the floor was reached in this sequence
    assert len(set(np.round(ref / PEAK, 12))) >= 3  # and it reduced more than once


# ----------------------------------------------------------------------------------- boundaries

DEFAULT_PARAMS = {f: family_defaults(f) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_boundary_values(family):
    """First step, last warmup step, first post-warmup step, last step — exact values."""
    T, frac = 100, 0.1
    s = Schedule(family, peak_lr=PEAK, warmup_frac=frac)
    p = s.params
    if family == "onecycle":
        assert s.multiplier(0, T) == pytest.approx(1 / p["div_factor"], rel=1e-12)
        peak_step = int(p["pct_start"] * T - 1)
        assert s.multiplier(peak_step, T) == pytest.approx(1.0, rel=1e-12)
        final = 1 / (p["div_factor"] * p["final_div_factor"])
        assert s.multiplier(T - 1, T) == pytest.approx(final, rel=1e-12)
        return
    W = 10
    if family == "schedulefree":  # the schedulefree package's warmup (t + 1)/W, then constant
        assert s.multiplier(0, T) == pytest.approx(1 / W, rel=1e-12)
        assert s.multiplier(W - 1, T) == s.multiplier(W, T) == s.multiplier(T - 1, T) == 1.0
        return
    assert s.multiplier(0, T) == pytest.approx(1 / (W + 1), rel=1e-12)
    assert s.multiplier(W - 1, T) == pytest.approx(W / (W + 1), rel=1e-12)
    q_last = (T - 1 - W) / (T - W)
    r = p.get("final_ratio", 0.0)
    expected_first = {"cyclic": 1 / p.get("max_over_base", 1)}.get(family, 1.0)
    assert s.multiplier(W, T) == pytest.approx(expected_first, rel=1e-12)
    expected_last = {
        "constant": 1.0,
        "plateau": 1.0,
        "step": p.get("gamma", 1) ** p.get("n_drops", 0),
        "exponential": r**q_last,
        "cosine": r + (1 - r) * 0.5 * (1 + math.cos(math.pi * q_last)),
        "poly": r + (1 - r) * (1 - q_last) ** p.get("power", 1),
        "rex": r + (1 - r) * (1 - q_last) / (1 - p.get("alpha", 0) * q_last),
    }
    if family == "wsd":
        u = (q_last - (1 - p["decay_frac"])) / p["decay_frac"]
        expected_last["wsd"] = r + (1 - r) * (1 - math.sqrt(u))  # default shape 1-sqrt
    if family == "rsqrt":
        c, tau = p["cooldown_frac"], p["timescale_frac"]
        expected_last["rsqrt"] = (1 + (1 - c) / tau) ** -0.5 * (1 - (q_last - (1 - c)) / c)
    if family in expected_last:
        assert s.multiplier(T - 1, T) == pytest.approx(expected_last[family], rel=1e-12)
    # every family: peak LR is the ceiling, the curve never reaches 0, the end holds
    curve = s.curve_multipliers(T)
    assert np.all(curve > 0) and np.all(curve <= 1 + 1e-15)
    assert s.multiplier(T + 50, T) == s.multiplier(T - 1, T)


@pytest.mark.parametrize("family", FAMILIES)
def test_vectorised_curve_agrees_with_per_step_value(family):
    s = Schedule(family, peak_lr=PEAK, warmup_frac=0.07)
    T = 173
    curve = s.curve(T)
    assert curve.shape == (T,)
    assert np.array_equal(curve, np.array([s.lr_at(t, T) for t in range(T)]))


@pytest.mark.parametrize("family", FAMILIES)
def test_two_param_groups_are_each_scaled(family):
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.004}])
    s = Schedule(family, peak_lr=0.1, warmup_frac=0.05)
    T = 50
    sched = s.build(opt, T)
    m = s.curve_multipliers(T)
    for t in range(T):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * m[t], rel=1e-12)
        assert opt.param_groups[1]["lr"] == pytest.approx(0.004 * m[t], rel=1e-12)
        opt.step()
        sched.step()


def test_total_steps_of_one_works_for_every_family():
    for family in FAMILIES:
        m = Schedule(family, peak_lr=1.0, warmup_frac=0.09).curve_multipliers(1)
        assert m.shape == (1,) and 0 < m[0] <= 1


# ----------------------------------------------------------------------------------- nesting


def test_nesting_linear_decay():
    T, W = 90, 0.05
    linear = Schedule("poly", peak_lr=PEAK, warmup_frac=W, params={"power": 1.0, "final_ratio": 0.02}).curve(T)
    wsd = Schedule(
        "wsd",
        peak_lr=PEAK,
        warmup_frac=W,
        params={"decay_frac": 1.0, "decay_shape": "linear", "final_ratio": 0.02},
    ).curve(T)
    rex = Schedule("rex", peak_lr=PEAK, warmup_frac=W, params={"alpha": 0.0, "final_ratio": 0.02}).curve(T)
    np.testing.assert_allclose(wsd, linear, rtol=1e-12)
    np.testing.assert_allclose(rex, linear, rtol=1e-12)


def test_nesting_cosine():
    T, W = 90, 0.05
    cosine = Schedule("cosine", peak_lr=PEAK, warmup_frac=W, params={"final_ratio": 0.02}).curve(T)
    wsd = Schedule(
        "wsd",
        peak_lr=PEAK,
        warmup_frac=W,
        params={"decay_frac": 1.0, "decay_shape": "cosine", "final_ratio": 0.02},
    ).curve(T)
    sgdr = Schedule(
        "sgdr",
        peak_lr=PEAK,
        warmup_frac=W,
        params={"n_cycles": 1, "t_mult": 2, "cycle_decay": 0.7, "final_ratio": 0.02},
    ).curve(T)
    np.testing.assert_allclose(wsd, cosine, rtol=1e-12)
    np.testing.assert_allclose(sgdr, cosine, rtol=1e-12)


def test_nesting_constant():
    T = 60
    constant = Schedule("constant", peak_lr=PEAK, warmup_frac=0.1).curve(T)
    for family, params in [
        ("step", {"gamma": 1.0}),
        ("exponential", {"final_ratio": 1.0}),
        ("cosine", {"final_ratio": 1.0}),
    ]:
        np.testing.assert_allclose(
            Schedule(family, peak_lr=PEAK, warmup_frac=0.1, params=params).curve(T), constant
        )


# ----------------------------------------------------------------------------------- state


def test_plateau_state_survives_state_dict_round_trip():
    s = Schedule("plateau", peak_lr=PEAK, params={"factor": 0.5, "patience": 0})
    metrics = [0.5, 0.5, 0.4, 0.6, 0.6, 0.6]
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=PEAK)
    sched = s.build(opt, 60)
    for epoch in range(3):
        for _ in range(10):
            opt.step()
            sched.step()
        sched.epoch_end(metrics[epoch])
    state = sched.state_dict()
    lr_before = opt.param_groups[0]["lr"]
    assert lr_before == pytest.approx(PEAK * 0.25)

    param2 = torch.nn.Parameter(torch.zeros(1))
    opt2 = torch.optim.SGD([param2], lr=PEAK)
    sched2 = s.build(opt2, 60)
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = lr_before  # torch keeps LRs in the optimizer's own state_dict
    for epoch in range(3, 6):
        for _ in range(10):
            opt.step()
            sched.step()
            opt2.step()
            sched2.step()
            assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
        sched.epoch_end(metrics[epoch])
        sched2.epoch_end(metrics[epoch])
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert sched2.reactive == sched.reactive and sched2.best == sched.best


def test_state_dict_is_plain_data():
    import pickle

    s = Schedule("cosine", peak_lr=PEAK)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
    state = s.build(opt, 10).state_dict()
    assert "schedule" not in state and "optimizer" not in state
    pickle.dumps(state)
    assert pickle.loads(pickle.dumps(s)) == s


def test_closed_form_families_ignore_epoch_end():
    s = Schedule("cosine", peak_lr=PEAK)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
    sched = s.build(opt, 10)
    before = opt.param_groups[0]["lr"]
    for metric in (0.1, 0.1, 0.1, 0.1, 0.1):
        sched.epoch_end(metric)
    assert opt.param_groups[0]["lr"] == before


# ----------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(family="cosinus", peak_lr=0.1), "valid families: constant, step"),
        (dict(family="cosine", peak_lr=0.0), "peak_lr must be a finite number > 0, but got 0.0"),
        (dict(family="cosine", peak_lr=float("nan")), "peak_lr must be"),
        (dict(family="cosine", peak_lr=0.1, warmup_frac=1.0), r"warmup_frac must be in \[0, 1\), but got 1.0"),
        (dict(family="step", peak_lr=0.1, params={"gamma": 2.0}), r"step gamma must be in \(0, 1\], but got 2.0"),
        (dict(family="cosine", peak_lr=0.1, params={"gamma": 0.5}), "unknown parameter"),
        (dict(family="wsd", peak_lr=0.1, params={"decay_shape": "square"}), "one of linear, 1-sqrt, cosine"),
    ],
)
def test_bad_schedule_input_says_what_must_hold(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Schedule(**kwargs)


def test_total_steps_must_be_positive():
    s = Schedule("cosine", peak_lr=0.1)
    with pytest.raises(ValueError, match="total_steps must be an integer ≥ 1, but got 0"):
        s.curve(0)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="total_steps must be"):
        s.build(opt, 0)
