"""What every ``python -m lrtune.<command>`` shares: one usage error, one way to fail.

Bad input ends with one line on stderr (``lrtune.<command>: error: …``) and exit status 2,
never a traceback. :class:`ArgumentParser` turns argparse's own errors (unknown flags, bad
values) into :class:`UsageError` instead of printing the usage text and exiting.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from lrtune.errors import LrtuneError

__all__ = ["ArgumentParser", "UsageError", "fail"]


class UsageError(LrtuneError, ValueError):
    """Bad input found while setting up a command; printed as one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`UsageError` (``--help`` still exits 0)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def fail(prog: str, message: str) -> int:
    """Print ``prog: error: message`` (its first line) on stderr and return the exit status 2."""
    first = message.strip().splitlines()[0] if message.strip() else "error"
    print(f"{prog}: error: {first}", file=sys.stderr)
    return 2
