"""lrtune.core.recognize: finding lrtune's spaces among a study's parameters."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

import lrtune
from lrtune.core.recognize import find_schedule_spaces, recognize_space
from lrtune.core.schedules import FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("prefix", ["", "sched_", "opt.", "a/"])
def test_every_single_family_space_is_recognised(family, prefix):
    dists = lrtune.search_space(family, prefix=prefix)
    dists["hidden"] = IntDistribution(8, 64)  # the user's own parameter
    space = recognize_space(dists)
    assert (space.prefix, space.families, space.joint) == (prefix, (family,), False)
    assert "hidden" not in space.names and set(dists) - {"hidden"} <= space.names
    assert space.family_of({}) == family


@pytest.mark.parametrize("prefix", ["", "s_"])
def test_joint_space_family_comes_from_the_categorical(prefix):
    dists = lrtune.search_space(["cosine", "step", "constant"], prefix=prefix)
    dists["dropout"] = FloatDistribution(0.0, 0.5)
    space = recognize_space(dists)
    assert space.joint and space.families == ("cosine", "step", "constant")
    params = {f"{prefix}family": "step", f"{prefix}lr": 0.1, "dropout": 0.2}
    assert space.family_of(params) == "step"
    assert space.own_params(params) == {"dropout": 0.2}
    assert space.schedule_params(params) == {f"{prefix}family": "step", f"{prefix}lr": 0.1}


def test_a_users_own_lr_alone_is_not_a_schedule():
    with pytest.raises(ValueError, match="looked for a peak-LR parameter '<prefix>lr'"):
        recognize_space({"lr": FloatDistribution(1e-3, 1.0, log=True), "hidden": IntDistribution(1, 9)})


def test_a_family_categorical_with_foreign_choices_is_not_a_schedule():
    dists = {"lr": FloatDistribution(1e-3, 1.0), "family": CategoricalDistribution(("adam", "sgd"))}
    assert find_schedule_spaces(dists) == []


def test_two_spaces_are_ambiguous_until_a_prefix_is_given():
    dists = {**lrtune.search_space("cosine", prefix="enc_"), **lrtune.search_space("step", prefix="dec_")}
    with pytest.raises(ValueError, match=r"several lrtune schedule spaces \(prefixes 'dec_', 'enc_'\)"):
        recognize_space(dists)
    assert recognize_space(dists, prefix="enc_").families == ("cosine",)
    with pytest.raises(ValueError, match="prefix 'x_'"):
        recognize_space(dists, prefix="x_")


def test_names_alone_are_enough():
    space = recognize_space(["sched_lr", "sched_warmup_frac", "sched_wsd_decay_frac", "width"])
    assert space.families == ("wsd",) and space.prefix == "sched_"
