"""lrtune.cli: one usage error and one way to fail, for every command."""

from __future__ import annotations

import pytest

from lrtune.cli import ArgumentParser, UsageError, fail


def test_parser_errors_are_usage_errors_and_help_still_exits_0(capsys) -> None:
    parser = ArgumentParser(prog="python -m lrtune.x")
    parser.add_argument("--n", type=int)
    with pytest.raises(UsageError, match="argument --n: invalid int value: 'x'"):
        parser.parse_args(["--n", "x"])
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        parser.parse_args(["--bogus"])
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--help"])
    assert info.value.code == 0 and "--n" in capsys.readouterr().out


def test_fail_prints_one_line_and_returns_2(capsys) -> None:
    assert fail("lrtune.x", "first line\nsecond line") == 2
    assert capsys.readouterr().err == "lrtune.x: error: first line\n"
