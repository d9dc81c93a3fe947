"""lrtune.integrations.glue: the optimizer at the peak LR, the bounded report, BatchNorm recompute."""

from __future__ import annotations

import optuna
import pytest
import torch

import lrtune
from lrtune.integrations.glue import IntegrationError, build_optimizer, recompute_batchnorm_over, report_epoch

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_optimizer_starts_at_the_peak_lr_and_schedule_free_for_schedulefree():
    params = [torch.zeros(2, requires_grad=True)]
    sgd = build_optimizer(lrtune.Schedule("cosine", peak_lr=0.3), params, momentum=0.9)
    assert (
        isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["lr"] == 0.3 and sgd.param_groups[0]["nesterov"]
    )
    adamw = build_optimizer(lrtune.Schedule("cosine", peak_lr=0.01), params, optimizer="adamw")
    assert isinstance(adamw, torch.optim.AdamW)
    free = build_optimizer(lrtune.Schedule("schedulefree", peak_lr=0.5), params)
    assert type(free).__name__ == "SGDScheduleFree" and free.param_groups[0]["train_mode"]
    with pytest.raises(IntegrationError, match="valid: sgd, adamw"):
        build_optimizer(lrtune.Schedule("cosine", peak_lr=0.3), params, optimizer="lion")


def test_report_epoch_asks_the_pruner_only_inside_the_bounds():
    """ThresholdPruner(lower=2) prunes whenever asked: with E = 6 only epochs 3, 4, 5 may raise."""
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    raised = []
    for epoch in range(1, 7):
        trial = study.ask()
        try:
            report_epoch(trial, 0.5, epoch, 6)
        except optuna.TrialPruned:
            raised.append(epoch)
        study.tell(trial, 0.5)
    assert raised == [3, 4, 5]


def test_batchnorm_recompute_equals_torch_update_bn_for_dict_batches():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    xs = [torch.randn(8, 4) for _ in range(5)]
    used = recompute_batchnorm_over(model, ({"x": x} for x in xs), lambda m, b: m(b["x"]), n_batches=3)
    reference = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    reference.load_state_dict(model.state_dict())
    torch.optim.swa_utils.update_bn(xs[:3], reference)
    assert used == 3 and model.training
    torch.testing.assert_close(model[1].running_mean, reference[1].running_mean)
    torch.testing.assert_close(model[1].running_var, reference[1].running_var)
    assert recompute_batchnorm_over(torch.nn.Linear(4, 3), iter(xs), lambda m, b: m(b)) == 0
