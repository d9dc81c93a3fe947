"""The --fuse default: a timing probe of the real model on the real data picks the group size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lrtune.training.data import load_dataset
from lrtune.training.group_size import GroupSize, measure_group_size
from lrtune.training.models import build_model
from lrtune.training.train import TrainConfig


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def test_probe_times_every_candidate_up_to_the_cap(digits):
    build = lambda seed: build_model("mlp", input_shape=digits.input_shape, n_classes=10, seed=seed)  # noqa: E731
    state = torch.random.get_rng_state()
    choice = measure_group_size(build, digits, TrainConfig(batch_size=64), max_size=4, rounds=2)
    assert torch.equal(torch.random.get_rng_state(), state)  # the probe leaves the global RNG alone
    assert sorted(choice.member_step_s) == [1, 2, 4] and all(v > 0 for v in choice.member_step_s.values())
    fastest = min(choice.member_step_s.values())
    # the rule: the smallest K within 10 % of the fastest member-step
    assert choice.size == min(k for k, v in choice.member_step_s.items() if v <= 1.10 * fastest)
    assert choice.describe().startswith(f"fuse {choice.size} (")


def test_unstackable_models_and_a_cap_of_one_are_not_timed(digits):
    build = lambda seed: nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Dropout(0.1))  # noqa: E731
    assert measure_group_size(build, digits, TrainConfig()) == GroupSize(1, {}, "Sequential can't be stacked")
    mlp = lambda seed: build_model("mlp", input_shape=digits.input_shape, n_classes=10, seed=seed)  # noqa: E731
    assert measure_group_size(mlp, digits, TrainConfig(), max_size=1).size == 1
    with pytest.raises(ValueError, match="max_size must be ≥ 1"):
        measure_group_size(mlp, digits, TrainConfig(), max_size=0)
