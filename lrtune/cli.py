"""What every ``python -m lrtune.<command>`` shares: one usage error, one way to fail, one Ctrl-C.

Bad input ends with one line on stderr (``lrtune.<command>: error: …``) and exit status 2,
never a traceback. :class:`ArgumentParser` turns argparse's own errors (unknown flags, bad
values) into :class:`UsageError` instead of printing the usage text and exiting.

Every command runs its body through :func:`run_command`: an :class:`~lrtune.errors.LrtuneError`
(and only that: any other exception is a bug and keeps its traceback) is one line and exit 2; a
Ctrl-C (``KeyboardInterrupt``) is one line, ``lrtune.<command>: interrupted — <what was kept>``,
and exit 130. What a command finished is stored as it finishes, so it is kept; the loops that run
trials mark their running trials FAIL on the way out, so nothing is left RUNNING. A command
started with ``python -m`` gets the same one line and exit 130 for a Ctrl-C while torch and optuna
load (:func:`quiet_interrupt_while_loading`, set up by ``lrtune/__init__.py``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

from lrtune.errors import LrtuneError

__all__ = [
    "tcp_port",
    "INTERRUPTED",
    "ArgumentParser",
    "UsageError",
    "command_being_started",
    "fail",
    "interrupted",
    "quiet_interrupt_while_loading",
    "run_command",
]

INTERRUPTED = 130
"""The exit status of an interrupted command (128 + SIGINT, as a shell reports it)."""


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


def interrupted(prog: str, kept: str) -> int:
    """Print ``prog: interrupted — kept`` on stderr and return the exit status 130."""
    print(f"{prog}: interrupted — {kept}", file=sys.stderr, flush=True)
    return INTERRUPTED


def command_being_started() -> str | None:
    """``lrtune.<command>`` while ``python -m lrtune.<command>`` is being located and imported, else None.

    Python sets ``sys.argv[0]`` to ``"-m"`` until the module starts running; ``sys.orig_argv``
    names the module. ``python -m lrtune`` is ``lrtune.study``.
    """
    if sys.argv[:1] != ["-m"]:
        return None
    argv = list(getattr(sys, "orig_argv", []))
    target = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
    if target != "lrtune" and not target.startswith("lrtune."):
        return None
    return "lrtune.study" if target == "lrtune" else ".".join(target.split(".")[:2])


def quiet_interrupt_while_loading() -> None:
    """For ``python -m lrtune.<command>``: until :func:`run_command` starts, Ctrl-C is one line and exit 130.

    Called by ``lrtune/__init__.py``, the first lrtune code a ``python -m`` start runs, before any
    command imports torch or optuna; does nothing otherwise (:func:`command_being_started` is None),
    so importing lrtune from a program never touches its signal handlers.
    """
    prog = command_being_started()
    if prog is None or threading.current_thread() is not threading.main_thread():
        return

    def on_interrupt(signum: int, frame: object) -> None:
        raise SystemExit(interrupted(prog, "nothing was started"))

    signal.signal(signal.SIGINT, on_interrupt)


def run_command(prog: str, body: Callable[[], int], *, kept: str = "finished work is kept") -> int:
    """Run a command's body: its :class:`LrtuneError` → one line, exit 2; Ctrl-C → one line, exit 130.

    Restores Python's own SIGINT handler first (in the main thread), so Ctrl-C inside the body is a
    ``KeyboardInterrupt`` that the body's loops can clean up after before it reaches here.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return body()
    except LrtuneError as exc:
        return fail(prog, str(exc) or type(exc).__name__)
    except KeyboardInterrupt:
        return interrupted(prog, kept)


def tcp_port(text: str) -> int:
    """An argparse type: a TCP port 0..65535 (0 = any free port, chosen by the OS)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..65535, but got {text!r}")
    return port
