"""Property: inside each family's search space, every multiplier is finite and in (0, 1]."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from lrtune import FAMILIES, Schedule, search_space


def value_of(dist):
    if isinstance(dist, FloatDistribution):
        return st.floats(dist.low, dist.high, allow_nan=False, allow_infinity=False)
    if isinstance(dist, IntDistribution):
        return st.integers(dist.low, dist.high)
    if isinstance(dist, CategoricalDistribution):
        return st.sampled_from(dist.choices)
    raise TypeError(dist)


@st.composite
def schedules(draw):
    family = draw(st.sampled_from(FAMILIES))
    params = {name: draw(value_of(dist)) for name, dist in search_space(family, lr=(1e-3, 1.0)).items()}
    return Schedule.from_params(params, family=family)


@settings(max_examples=400, deadline=None)
@given(schedule=schedules(), total_steps=st.integers(1, 3000))
def test_multipliers_finite_and_peak_is_the_ceiling(schedule, total_steps):
    m = schedule.curve_multipliers(total_steps)
    assert m.shape == (total_steps,)
    assert np.all(np.isfinite(m)), schedule
    assert np.all(m > 0), (schedule, m.min())
    assert np.all(m <= 1.0 + 1e-12), (schedule, m.max())


@settings(max_examples=60, deadline=None)
@given(
    schedule=schedules(),
    epochs=st.integers(1, 12),
    steps_per_epoch=st.integers(1, 20),
    metrics=st.lists(st.floats(0, 1), min_size=12, max_size=12),
)
def test_built_scheduler_stays_within_peak_for_any_metric_sequence(schedule, epochs, steps_per_epoch, metrics):
    """Including plateau's reactions: the LR never exceeds the peak and never reaches 0."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=schedule.peak_lr)
    sched = schedule.build(opt, epochs * steps_per_epoch)
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            lr = opt.param_groups[0]["lr"]
            assert 0 < lr <= schedule.peak_lr * (1 + 1e-12)
            opt.step()
            sched.step()
        sched.epoch_end(metrics[epoch])
