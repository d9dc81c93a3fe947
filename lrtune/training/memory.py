"""Keep freed memory in the process, so a training step does not page-fault its activations in again.

A stacked step allocates and frees tens of megabytes of activations (each a few MB); glibc's
``malloc`` serves blocks above its mmap threshold (dynamic, from 128 KiB) with fresh ``mmap``
pages and gives freed heap tops back to the kernel above its trim threshold, so the next step
faults every page in again and the kernel zeroes it: ~3 300 minor faults per K = 8 cnn1d step,
~18 % of its CPU time on a 2-core AMD EPYC (docs/speed.md). :func:`keep_freed_memory` raises
both thresholds (``mallopt(M_MMAP_THRESHOLD, 32 MiB)``, ``mallopt(M_TRIM_THRESHOLD, 1 GiB)``):
blocks up to 32 MiB come from the heap and freed memory stays mapped for the next step. The
cost: the process keeps up to 1 GiB of freed heap instead of returning it. It is process-wide,
done once, and a no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
_TRIM_THRESHOLD = 1024 * 1024 * 1024

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True when they are set.

    ``LRTUNE_MALLOC=0`` in the environment leaves ``malloc`` as it is.
    """
    global _done
    if _done is None:
        _done = False
        if os.environ.get("LRTUNE_MALLOC", "1") != "0":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                mallopt = libc.mallopt
            except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
                return False
            mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
            _done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
                mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
            )
    return _done
