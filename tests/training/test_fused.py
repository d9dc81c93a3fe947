"""Fused trials: each member of a stack ends exactly where the same trial trained alone ends."""

from __future__ import annotations

import copy
import dataclasses
import math

import optuna
import pytest
import torch
from torch import nn

from lrtune.core.schedules import Schedule
from lrtune.study import main as study_main
from lrtune.training.data import load_dataset
from lrtune.training.fused import (
    NotFusableError,
    StackedModel,
    StackedOptimizer,
    fusable,
    train_fused,
    why_not_fusable,
)
from lrtune.training.models import build_model
from lrtune.training.train import TrainConfig, train
from lrtune.tuning.config import TaskConfig
from lrtune.tuning.objective import Objective, make_sampler, record_trial, run_fused_trials, search_trial_seed

optuna.logging.set_verbosity(optuna.logging.WARNING)

TOL = 1e-5


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


@pytest.fixture(scope="module")
def mnist1d_small():
    """mnist1d with 512 training examples: short runs keep float rounding from compounding."""
    data = load_dataset("mnist1d", seed=0)
    return dataclasses.replace(data, x_train=data.x_train[:512], y_train=data.y_train[:512])


def _schedules(scale: float) -> list[Schedule]:
    """Four members, four families, plateau among them (reacting within a 3-epoch run)."""
    return [
        Schedule("cosine", 0.02 * scale, 0.1, {"final_ratio": 0.01}),
        Schedule("plateau", 0.01 * scale, 0.0, {"patience": 0, "factor": 0.5, "threshold": 0.5}),
        Schedule("step", 0.03 * scale, 0.0, {"n_drops": 2, "drop_start": 0.3, "gamma": 0.2}),
        Schedule("onecycle", 0.02 * scale),
    ]


def _max_weight_diff(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa)


def _assert_same_run(fused_result, solo_result) -> None:
    assert len(fused_result.val_accuracies) == len(solo_result.val_accuracies)
    for got, want in zip(fused_result.val_accuracies, solo_result.val_accuracies):
        assert got == pytest.approx(want, abs=TOL)
    assert fused_result.test_accuracy == pytest.approx(solo_result.test_accuracy, abs=TOL)
    assert fused_result.epochs_run == solo_result.epochs_run
    assert fused_result.diverged == solo_result.diverged
    assert fused_result.stopped_early == solo_result.stopped_early
    assert fused_result.steps_per_epoch == solo_result.steps_per_epoch
    assert fused_result.lr_trace == pytest.approx(solo_result.lr_trace, rel=1e-12)
    for got, want in zip(fused_result.train_losses, solo_result.train_losses):
        assert got == pytest.approx(want, rel=1e-4)


def _relative_tensor_diff(a: nn.Module, b: nn.Module) -> float:
    """max over floating-point state tensors of ‖a − b‖₂ / ‖b‖₂ (a tensor-level, not element-level, distance)."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(
        ((sa[k].double() - sb[k].double()).norm() / sb[k].double().norm().clamp_min(1e-12)).item()
        for k in sa
        if sa[k].is_floating_point()
    )


def _assert_same_float32_run(fused_result, solo_result, data, *, fused_model, solo_model) -> None:
    """Float32 promises: the same predictions up to one example, loss and weights to a relative bound.

    Measured on AMD EPYC (AVX-512) with 1 and 2 torch threads, 3 epochs mlp / 1 epoch cnn1d, the
    four schedules below: per-epoch accuracies and test accuracy identical; train loss within 3.6e-6
    relative; per-tensor ‖Δw‖/‖w‖ ≤ 6e-5 (AdamW) and ≤ 1.3e-6 (SGD). The *element-wise* weight
    difference reached 2.9e-4 with AdamW on 2 threads: AdamW's step lr·m̂/(√v̂ + ε) is invariant to
    the gradient's scale, so for a weight whose gradient is tiny and noisy early in training (v̂ is
    small, so m̂/√v̂ swings with the last bits of g), a last-bit difference in g (bmm vs mm, another
    reduction order on another thread count or ISA) moves that element by up to ~lr per step
    (lr = 4e-4 here). No element-wise bound
    holds across kernels, so the bounds are on what a trial reports: accuracies within one example
    (a prediction at an exact tie may flip), loss within 1e-4 relative and every tensor within 1e-3
    relative — 16× and 28× the worst drift measured. The float64 tests prove the algorithm exact.
    """
    one_val, one_test = 1 / len(data.y_val) + 1e-9, 1 / len(data.y_test) + 1e-9
    assert len(fused_result.val_accuracies) == len(solo_result.val_accuracies)
    for got, want in zip(fused_result.val_accuracies, solo_result.val_accuracies):
        assert abs(got - want) <= one_val
    assert abs(fused_result.test_accuracy - solo_result.test_accuracy) <= one_test
    assert fused_result.epochs_run == solo_result.epochs_run
    assert fused_result.lr_trace == pytest.approx(solo_result.lr_trace, rel=1e-12)
    for got, want in zip(fused_result.train_losses, solo_result.train_losses):
        assert got == pytest.approx(want, rel=1e-4)
    assert _relative_tensor_diff(fused_model, solo_model) < 1e-3


def _float64(data):
    return dataclasses.replace(data, **{k: getattr(data, k).double() for k in ("x_train", "x_val", "x_test")})


def _check_members(model_name, optimizer, data, *, epochs, dtype, own_batches=False):
    schedules = _schedules(1.0 if optimizer == "sgd" else 0.02)
    seeds = [101, 102, 103, 104]
    config = TrainConfig(epochs=epochs, batch_size=64, optimizer=optimizer, seed=seeds[0])

    def build(seed):
        return build_model(model_name, input_shape=data.input_shape, n_classes=data.n_classes, seed=seed).to(dtype)

    data_seeds = seeds if own_batches else None
    fused = train_fused(
        [build(s) for s in seeds], data, schedules, config=config, mode="stacked", data_seeds=data_seeds
    )
    assert [m.index for m in fused] == [0, 1, 2, 3]
    if epochs > 2 and not own_batches:  # (with their own batches plateau's reaction depends on the data)
        reactive = fused[1].result.lr_trace
        assert min(reactive) < max(reactive)  # plateau really cut its LR: the test covers reactions
    for member, seed, schedule in zip(fused, seeds, schedules):
        alone = build(seed)
        own = dataclasses.replace(config, seed=seed) if own_batches else config
        solo = train(alone, data, schedule, config=own)  # same seed for init, same batch order
        if dtype == torch.float64:
            _assert_same_run(member.result, solo)
            assert _max_weight_diff(member.model, alone) < TOL
        else:
            _assert_same_float32_run(member.result, solo, data, fused_model=member.model, solo_model=alone)


@pytest.mark.parametrize("model_name", ["mlp", "cnn1d"])
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_members_equal_their_solo_runs(model_name, optimizer, digits, mnist1d_small):
    """The algorithm: in float64 a member's run is its solo run (same init, batches, schedule)."""
    data = _float64(digits if model_name == "mlp" else mnist1d_small)
    _check_members(model_name, optimizer, data, epochs=3, dtype=torch.float64)


@pytest.mark.parametrize("model_name, optimizer", [("mlp", "sgd"), ("mlp", "adamw"), ("cnn1d", "sgd")])
def test_members_with_their_own_batch_order_equal_their_solo_runs(model_name, optimizer, digits, mnist1d_small):
    """A fused trial is the solo trial: member k draws the batch order of its own seed (float64)."""
    data = _float64(digits if model_name == "mlp" else mnist1d_small)
    _check_members(model_name, optimizer, data, epochs=3, dtype=torch.float64, own_batches=True)


def test_own_batch_orders_with_a_pruned_and_a_diverged_member(digits):
    """Compaction keeps every remaining member on its own batch order."""
    data = _float64(digits)
    schedules = [
        Schedule("constant", 0.05),
        Schedule("constant", 5e3),
        Schedule("cosine", 0.1),
        Schedule("step", 0.05),
    ]
    seeds = [11, 12, 13, 14]
    config = TrainConfig(epochs=3, batch_size=64, seed=0)
    build = lambda seed: build_model("mlp", input_shape=data.input_shape, n_classes=10, seed=seed).double()  # noqa: E731
    fused = train_fused(
        [build(s) for s in seeds],
        data,
        schedules,
        config=config,
        data_seeds=seeds,
        mode="stacked",
        on_epoch_end=lambda k, r: k == 3 and r.epoch == 1,
    )
    assert fused[1].result.diverged and fused[3].result.stopped_early
    for k in (0, 2, 3):
        alone = build(seeds[k])
        stop = (lambda r: True) if k == 3 else None
        solo = train(
            alone, data, schedules[k], config=dataclasses.replace(config, seed=seeds[k]), on_epoch_end=stop
        )
        _assert_same_run(fused[k].result, solo)
        assert _max_weight_diff(fused[k].model, alone) < TOL


@pytest.mark.parametrize(
    "model_name, optimizer, epochs",
    [("mlp", "sgd", 3), ("mlp", "adamw", 3), ("cnn1d", "sgd", 1), ("cnn1d", "adamw", 1)],
)
def test_float32_members_match_their_solo_runs(model_name, optimizer, epochs, digits, mnist1d_small):
    """In float32 the stacked kernels round differently (bmm vs mm, im2col GEMM vs oneDNN conv).

    Rounding differences stay ~1e-7 until a ReLU input within rounding of 0 flips sign in one run
    and not the other, or AdamW amplifies a last-bit gradient difference (see
    `_assert_same_float32_run`); BatchNorm nets over many steps then drift apart, as two unfused runs
    on different thread counts or CPUs do. So float32 is checked on short runs and on what a trial
    reports; the float64 test above proves the full runs equal to 1e-5.
    """
    data = (
        digits
        if model_name == "mlp"
        else dataclasses.replace(
            mnist1d_small, x_train=mnist1d_small.x_train[:256], y_train=mnist1d_small.y_train[:256]
        )
    )
    _check_members(model_name, optimizer, data, epochs=epochs, dtype=torch.float32)


def test_pruned_member_leaves_and_the_rest_are_unchanged(digits):
    schedules = _schedules(1.0)
    seeds = [7, 8, 9, 10]
    config = TrainConfig(epochs=3, batch_size=64, seed=7)
    build = lambda seed: build_model("mlp", input_shape=digits.input_shape, n_classes=digits.n_classes, seed=seed)  # noqa: E731
    calls: list[tuple[int, int]] = []
    ended: list[int] = []

    def on_epoch_end(index, result):
        calls.append((index, result.epoch))
        return index == 1 and result.epoch == 1  # prune member 1 after its first epoch

    fused = train_fused(
        [build(s) for s in seeds],
        digits,
        schedules,
        config=config,
        on_epoch_end=on_epoch_end,
        on_member_end=lambda m: ended.append(m.index),
        mode="stacked",
    )
    assert (1, 2) not in calls and (1, 1) in calls and (3, 3) in calls  # a pruned member costs nothing more
    assert ended[0] == 1 and sorted(ended) == [0, 1, 2, 3]
    pruned = fused[1].result
    assert pruned.stopped_early and pruned.epochs_run == 1 and len(pruned.val_accuracies) == 1
    for k in (0, 1, 2, 3):
        alone = build(seeds[k])
        stop = (lambda r: True) if k == 1 else None
        solo = train(alone, digits, schedules[k], config=config, on_epoch_end=stop)
        _assert_same_run(fused[k].result, solo)
        assert _max_weight_diff(fused[k].model, alone) < TOL


def test_diverged_member_does_not_poison_the_others(digits):
    schedules = [Schedule("constant", 0.05), Schedule("constant", 5e3), Schedule("cosine", 0.1)]
    seeds = [1, 2, 3]
    config = TrainConfig(epochs=3, batch_size=64, seed=1)
    build = lambda seed: build_model("mlp", input_shape=digits.input_shape, n_classes=digits.n_classes, seed=seed)  # noqa: E731
    fused = train_fused([build(s) for s in seeds], digits, schedules, config=config, mode="stacked")
    bad = fused[1].result
    assert bad.diverged and math.isfinite(bad.val_accuracy) and math.isfinite(bad.test_accuracy)
    assert all(torch.isfinite(p).all() for p in fused[1].model.parameters())  # weights from before the bad step
    for k in (0, 2):
        alone = build(seeds[k])
        solo = train(alone, digits, schedules[k], config=config)
        assert not fused[k].result.diverged
        _assert_same_run(fused[k].result, solo)
        assert _max_weight_diff(fused[k].model, alone) < TOL
    solo_bad = train(build(2), digits, schedules[1], config=config)
    assert (
        solo_bad.diverged and bad.epochs_run == solo_bad.epochs_run and len(bad.lr_trace) == len(solo_bad.lr_trace)
    )


def test_stacked_forward_equals_each_member():
    torch.manual_seed(0)
    for name, shape in (("mlp", (1, 8, 8)), ("cnn1d", (40,)), ("cnn1d", (2, 12)), ("cnn", (1, 8, 8))):
        models = [build_model(name, input_shape=shape, n_classes=5, seed=s) for s in range(3)]
        stack = StackedModel(models)
        x = torch.randn(16, *shape)
        for training in (True, False):
            for m in models:
                m.train(training)
            stack.train(training)
            out = stack(x)
            assert out.shape == (3, 16, 5)
            for k, m in enumerate(models):
                torch.testing.assert_close(out[k], m(x), rtol=1e-5, atol=1e-5)
        exported = build_model(name, input_shape=shape, n_classes=5, seed=99)
        stack.export(2, exported)
        assert _max_weight_diff(exported, models[2]) < 1e-6  # running stats too (updated by the train forward)


def test_stacked_optimizer_step_is_torch_optimizer_step():
    torch.manual_seed(0)
    for kind, lr in (("sgd", 0.1), ("adamw", 1e-3)):
        models = [build_model("mlp", input_shape=(6,), n_classes=3, seed=s) for s in range(2)]
        stack = StackedModel(models)
        optimizer = StackedOptimizer(stack, optimizer=kind, weight_decay=5e-4, momentum=0.9)
        lrs = torch.tensor([[lr, lr / 3]] * 3, dtype=torch.float64).numpy()
        factors = optimizer.factors(lrs, 0)
        config = TrainConfig(optimizer=kind, weight_decay=5e-4)
        from lrtune.training.train import build_optimizer

        torch_opts = [build_optimizer(m, lr=l, config=config) for m, l in zip(models, (lr, lr / 3))]
        x, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
        for step in range(3):
            for p in stack.params.values():
                p.grad = None
            nn.functional.cross_entropy(stack(x).reshape(-1, 3), y.repeat(2), reduction="none").view(2, 10).mean(
                1
            ).sum().backward()
            optimizer.step([f[step] for f in factors])
            for m, opt in zip(models, torch_opts):
                opt.zero_grad()
                nn.functional.cross_entropy(m(x), y).backward()
                opt.step()
        # float32: a last-bit gradient difference (bmm vs addmm) moves an AdamW weight whose gradient is
        # ~0 by a fraction of lr per step (see _assert_same_float32_run); measured ≤ 1.9e-6 (AVX-512,
        # AVX2 and ATen's default kernels), so 1e-5 for AdamW, 1e-6 for SGD
        for k, m in enumerate(models):
            copy = build_model("mlp", input_shape=(6,), n_classes=3, seed=50)
            stack.export(k, copy)
            assert _max_weight_diff(copy, m) < (1e-6 if kind == "sgd" else 1e-5)


def test_unstackable_models_train_one_by_one(digits):
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = build_model("mlp", input_shape=digits.input_shape, n_classes=digits.n_classes, seed=3)

        def forward(self, x):
            return self.body(x)

    assert not fusable(Custom()) and fusable(build_model("mlp", input_shape=(4,), n_classes=2))
    assert not fusable(build_model("resnet", input_shape=(3, 8, 8), n_classes=2))
    with pytest.raises(NotFusableError):
        StackedModel([Custom()])
    schedules = [Schedule("cosine", 0.05), Schedule("constant", 0.02)]
    config = TrainConfig(epochs=2, batch_size=64, seed=3)
    fused = train_fused([Custom(), Custom()], digits, schedules, config=config)  # auto → member by member
    for member, schedule in zip(fused, schedules):
        assert member.result.val_accuracies == train(Custom(), digits, schedule, config=config).val_accuracies
    with pytest.raises(NotFusableError):
        train_fused([Custom()], digits, schedules[:1], config=config, mode="stacked")
    with pytest.raises(ValueError, match="same length"):
        train_fused([Custom()], digits, schedules, config=config)


def _layouts():
    """(name, model, input_shape) — stackable or not, the plan must say which before training."""
    C = nn.Conv1d
    return [
        (
            "flatten-linear-bn-relu-linear",
            nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10)),
            (1, 8, 8),
        ),
        ("conv1d-relu-linear", nn.Sequential(C(1, 4, 3, padding=1), nn.ReLU(), nn.Linear(64, 10)), (1, 64)),
        (
            "conv1d-relu-flatten-linear",
            nn.Sequential(C(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 4, 10)),
            (1, 64),
        ),
        ("linear-on-image", nn.Sequential(nn.Linear(8, 10)), (1, 8, 8)),
        (
            "linear-conv",
            nn.Sequential(
                nn.Flatten(),
                nn.Linear(64, 64),
                nn.Unflatten(1, (1, 64)),
                C(1, 2, 3),
                nn.Flatten(),
                nn.Linear(124, 10),
            ),
            (1, 8, 8),
        ),
        ("dropout", nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.1), nn.Linear(16, 10)), (1, 8, 8)),
        (
            "pool-after-linear",
            nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.MaxPool1d(2), nn.Linear(8, 10)),
            (1, 8, 8),
        ),
        ("bn-first", nn.Sequential(nn.Flatten(), nn.BatchNorm1d(64), nn.Linear(64, 10)), (1, 8, 8)),
        (
            "conv2d-pool",
            nn.Sequential(
                nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10)
            ),
            (1, 8, 8),
        ),
        (
            "conv2d-relu-linear",
            nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Linear(8, 10)),
            (1, 8, 8),
        ),
        ("nested", nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(64, 10))), (1, 8, 8)),
        ("lstm", nn.Sequential(nn.LSTM(8, 8)), (8, 8)),
        ("mlp", build_model("mlp", input_shape=(1, 8, 8), n_classes=10), (1, 8, 8)),
        ("cnn1d", build_model("cnn1d", input_shape=(64,), n_classes=10), (64,)),
        ("cnn", build_model("cnn", input_shape=(1, 8, 8), n_classes=10), (1, 8, 8)),
    ]


@pytest.mark.parametrize("name, model, shape", _layouts(), ids=[n for n, _, _ in _layouts()])
def test_fusable_tells_the_truth(name, model, shape):
    """fusable() is True exactly when the stack then trains: forward, backward, a step, in both layouts."""
    says = fusable(model, shape)
    try:
        models = [model, copy.deepcopy(model)]
        stack = StackedModel(models)
        optimizer = StackedOptimizer(stack, optimizer="sgd", weight_decay=0.0, momentum=0.9)
        for per_member in (False, True):
            x = torch.randn(2, 6, *shape) if per_member else torch.randn(6, *shape)
            logits = stack(x, per_member=per_member)
            assert logits.shape[:2] == (2, 6)
            logits.sum().backward()
            optimizer.step(optimizer.factors(torch.full((1, 2), 0.1, dtype=torch.float64).numpy(), 0)[0][:1])
            stack.eval()
            stack(x, per_member=per_member)
            stack.train()
        trains = True
    except NotFusableError:
        trains = False
    assert says == trains


def test_fusable_never_raises_on_odd_modules():
    class Broken(nn.Sequential):
        def named_children(self):
            raise RuntimeError("boom")

    class OwnForward(nn.Sequential):
        def forward(self, x):
            return super().forward(x) * 2

    shared = nn.Linear(2, 2)
    for model in (
        Broken(nn.Linear(2, 2)),
        OwnForward(nn.Linear(2, 2)),
        nn.Module(),
        nn.Identity(),
        nn.Sequential(),
        nn.Sequential(shared, nn.ReLU(), shared),
    ):
        assert fusable(model) is False and fusable(model, (2,)) is False
    assert why_not_fusable(OwnForward(nn.Linear(2, 2))) == "OwnForward overrides nn.Sequential.forward"


def test_auto_mode_warns_once_and_trains_member_by_member(digits):
    model = lambda s: nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.0), nn.Linear(16, 10))  # noqa: E731
    config = TrainConfig(epochs=1, batch_size=256, seed=0)
    with pytest.warns(RuntimeWarning, match="one by one") as caught:
        out = train_fused(
            [model(0), model(1)], digits, [Schedule("constant", 0.05)] * 2, config=config, data_seeds=[5, 6]
        )
    assert len(caught) == 1 and len(str(caught[0].message).splitlines()) == 1
    assert [m.index for m in out] == [0, 1] and all(m.result.epochs_run == 1 for m in out)
    with pytest.raises(NotFusableError, match="Dropout"):
        train_fused([model(0)], digits, [Schedule("constant", 0.05)], config=config, mode="stacked")


# ----------------------------------------------------------------------------------- ask/tell


class PruneOddTrials(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return trial.number % 2 == 1 and max(trial.intermediate_values) >= 2


def test_fused_trials_are_normal_trials(digits, tmp_path):
    task = TaskConfig(dataset="digits", epochs=3, batch_size=64, sampler="random")
    storage = f"sqlite:///{tmp_path / 'fused.db'}"
    study = optuna.create_study(
        storage=storage, direction="maximize", sampler=make_sampler("random", seed=5), pruner=PruneOddTrials()
    )
    objective = Objective(task, "cosine", digits)
    frozen = run_fused_trials(study, objective, 4)
    assert [t.number for t in frozen] == [0, 1, 2, 3]
    trials = optuna.load_study(study_name=study.study_name, storage=storage).trials
    for t in trials:
        attrs = t.user_attrs
        assert (
            attrs["seed"] == search_trial_seed(0, t.number)
            and attrs["data_seed"] == search_trial_seed(0, t.number)
            and attrs["fuse_group"] == 0
        )
        assert attrs["family"] == "cosine" and attrs["diverged"] is False and 0 <= attrs["test_accuracy"] <= 1
        assert attrs["seconds"] > 0 and attrs["steps_per_epoch"] == 21
        schedule = Schedule.from_params(t.params, family="cosine")
        total = 3 * attrs["steps_per_epoch"]
        for step, lr in zip(attrs["lr_curve_steps"], attrs["lr_curve"]):
            assert lr == pytest.approx(schedule.lr_at(step, total), rel=1e-12)
        if t.number % 2:
            assert t.state == optuna.trial.TrialState.PRUNED
            assert sorted(t.intermediate_values) == [1, 2] and attrs["epochs_run"] == 2
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE
            assert sorted(t.intermediate_values) == [1, 2, 3] and attrs["epochs_run"] == 3
            assert t.value == t.intermediate_values[3] == attrs["val_accuracy"]
    # the same keys as the unfused objective writes (plus data_seed and fuse_group)
    plain = optuna.create_study(direction="maximize", sampler=make_sampler("random", seed=5))
    plain.optimize(objective, n_trials=1)
    assert set(trials[0].user_attrs) == set(plain.trials[0].user_attrs) | {"data_seed", "fuse_group"}
    # every member is exactly the trial the unfused objective runs (its own init and batch order)
    assert plain.trials[0].params == trials[0].params
    replay = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    for t in trials:
        replay.enqueue_trial(t.params)
    replay.optimize(objective, n_trials=4)
    for fused_t, solo_t in zip(trials, replay.trials):
        for epoch, value in fused_t.intermediate_values.items():
            assert value == pytest.approx(
                solo_t.intermediate_values[epoch], abs=0.01
            )  # float32: a rare flip moves one example
    for number in (0, 2):
        assert trials[number].user_attrs["test_accuracy"] == pytest.approx(
            replay.trials[number].user_attrs["test_accuracy"], abs=0.01
        )


def test_fused_diverged_trial_is_complete_with_a_finite_value(digits):
    task = TaskConfig(dataset="digits", epochs=2, batch_size=64, lr_range=(1e-3, 1e4))
    study = optuna.create_study(direction="maximize", sampler=make_sampler("random", seed=0))
    for lr in (0.05, 5e3, 0.1):
        study.enqueue_trial({"lr": lr, "warmup_frac": 0.0})
    run_fused_trials(study, Objective(task, "constant", digits), 3)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 3
    diverged = [t.user_attrs["diverged"] for t in study.trials]
    assert diverged == [False, True, False]
    assert all(math.isfinite(t.value) for t in study.trials)
    assert study.trials[0].value > 0.8 and study.trials[2].value > 0.8


def test_interrupted_group_marks_its_trials_fail(digits):
    task = TaskConfig(dataset="digits", epochs=2, batch_size=64)

    def interrupt(trial, schedule, total_steps):
        raise KeyboardInterrupt

    study = optuna.create_study(direction="maximize")
    with pytest.raises(KeyboardInterrupt):
        run_fused_trials(study, Objective(task, "cosine", digits, on_trial_start=interrupt), 3)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 3


def test_cli_fuse_runs_groups_until_the_trial_count(tmp_path, capsys):
    db = tmp_path / "cli.db"
    code = study_main(
        [
            "--dataset",
            "digits",
            "--epochs",
            "2",
            "--trials",
            "5",
            "--fuse",
            "3",
            "--family",
            "cosine,plateau",
            "--storage",
            f"sqlite:///{db}",
            "--no-artifacts",
            "--no-progress",
        ]
    )
    assert code == 0
    for family in ("cosine", "plateau"):
        study = optuna.load_study(study_name=f"digits-mlp-{family}", storage=f"sqlite:///{db}")
        assert len(study.trials) == 5
        assert all(
            t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in study.trials
        )
        assert sorted({t.user_attrs["fuse_group"] for t in study.trials}) == [0, 3]
    # resuming asks only for what is missing
    assert (
        study_main(
            [
                "--dataset",
                "digits",
                "--epochs",
                "2",
                "--trials",
                "6",
                "--fuse",
                "3",
                "--family",
                "cosine",
                "--storage",
                f"sqlite:///{db}",
                "--no-artifacts",
                "--no-progress",
            ]
        )
        == 0
    )
    assert len(optuna.load_study(study_name="digits-mlp-cosine", storage=f"sqlite:///{db}").trials) == 6
    assert "finished trials" in capsys.readouterr().out


def test_record_trial_accepts_a_fused_result(digits):
    member = train_fused(
        [build_model("mlp", input_shape=digits.input_shape, n_classes=10, seed=0)],
        digits,
        [Schedule("cosine", 0.05)],
        config=TrainConfig(epochs=1, batch_size=256),
        mode="stacked",
    )[0]
    trial = optuna.create_study().ask()
    record_trial(trial, "cosine", 0, member.result, seconds=member.result.seconds)
    assert trial.study.trials[0].user_attrs["epochs_run"] == 1


def test_members_equal_their_solo_runs_on_the_loss_metric(digits):
    """A minimised loss metric: per-member scores (float64 sums) and plateau's reaction to −loss
    are the solo run's, and a diverged member still gets a finite score."""
    from lrtune.training.metrics import LOSS

    data = _float64(digits)
    schedules = [*_schedules(1.0), Schedule("constant", 5e3)]
    seeds = [101, 102, 103, 104, 105]
    config = TrainConfig(epochs=3, batch_size=64, seed=seeds[0], metric=LOSS)
    build = lambda seed: build_model("mlp", input_shape=data.input_shape, n_classes=10, seed=seed).double()  # noqa: E731
    fused = train_fused(
        [build(s) for s in seeds], data, schedules, config=config, mode="stacked", data_seeds=seeds
    )
    assert fused[4].result.diverged and math.isfinite(fused[4].result.val_score)
    assert min(fused[1].result.lr_trace) < max(fused[1].result.lr_trace)  # plateau reacted to −loss
    for member, seed, schedule in zip(fused[:4], seeds, schedules):
        solo = train(build(seed), data, schedule, config=dataclasses.replace(config, seed=seed))
        _assert_same_run(member.result, solo)
        result = member.result
        assert result.metric == solo.metric == "loss"
        assert result.val_scores == pytest.approx(solo.val_scores, abs=1e-9)
        assert result.val_scores == pytest.approx(result.val_losses, rel=1e-9)  # the loss, not the accuracy
        assert result.val_score == pytest.approx(solo.val_score, abs=1e-9)
        assert result.test_score == pytest.approx(solo.test_score, abs=1e-9)
        assert result.test_score > 0 and result.val_score != result.val_accuracy
