"""The family table is consistent with itself: what lrtune searches and defaults to is valid."""

from __future__ import annotations

import pytest

from lrtune.core.families import FAMILIES, FAMILY, PARAMETER_MEANINGS, Choices, Floats, Ints, family_facts


@pytest.mark.parametrize("family", FAMILIES)
def test_defaults_and_searched_values_obey_the_rules(family: str) -> None:
    for name, param in FAMILY[family].params.items():
        assert param.valid.test(param.default), (family, name, param.default)
        space = param.space
        if isinstance(space, Floats):
            searched = [space.low, space.high]
            assert space.low < space.high and (not space.log or space.low > 0), (family, name)
        elif isinstance(space, Ints):
            searched = list(range(space.low, space.high + 1))
        elif isinstance(space, Choices):
            searched = list(space.values)
        else:
            assert space is None
            searched = []
        bad = [v for v in searched if not param.valid.test(v)]
        assert not bad, f"{family} {name} searches invalid values {bad} (must be {param.valid.words})"


def test_every_searched_parameter_has_a_meaning() -> None:
    for family in FAMILIES:
        for name, param in FAMILY[family].params.items():
            if param.space is not None:
                assert PARAMETER_MEANINGS.get(name) == param.meaning != "", (family, name)


def test_unknown_family_is_one_line_error() -> None:
    with pytest.raises(ValueError, match="unknown schedule family 'nope'; valid families: constant"):
        family_facts("nope")
    with pytest.raises(ValueError, match="unknown schedule family"):
        family_facts(["cosine"])  # type: ignore[arg-type]
