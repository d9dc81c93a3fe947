"""The one root of every error lrtune raises on purpose: :class:`LrtuneError`.

Each lrtune error also keeps the built-in base it always had (``ValueError`` for bad input,
``ImportError`` for a missing optional package), so ``except ValueError`` in a user's code keeps
working; the commands catch :class:`LrtuneError` only, so an unexpected ``ValueError`` from a
bug is shown as the traceback it is. The message is one line, fit for a terminal.
"""

from __future__ import annotations

__all__ = ["LrtuneError"]


class LrtuneError(Exception):
    """An error lrtune raises on purpose, with a one-line message for the user."""
