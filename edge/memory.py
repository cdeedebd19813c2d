"""The C allocator's settings for a long-running device process.

glibc raises its mmap threshold (up to 32 MB) each time a large block is freed, so the OCR's
working tensors (tens of MB each) end up in its heaps, which it keeps: after one document the
process holds 200 MB more than it uses, and the next peak comes on top. While OCR runs
(``lean_heap``) the threshold is 128 KiB: every large block is a mapping returned on free. A
document read in isolation (PP-OCRv6 small, the bench's page): peak 468 -> 296 MB, held after
three reads 372 -> 173 MB.

That costs page faults: every block mapped again is zeroed by the kernel again. Outside OCR the
threshold stays at glibc's own ceiling (32 MB) and the heap is trimmed only above 64 MB free, so
the photo path reuses its buffers: a 12 MP photo without text about 5 ms faster than with
128 KiB everywhere (63 -> 58 ms median on the 2-core machine). No-op where the C library has no
mallopt (not glibc)."""

from __future__ import annotations

import ctypes
import sys
from contextlib import contextmanager

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
LEAN_MMAP_THRESHOLD = 128 * 1024
FAST_MMAP_THRESHOLD = 32 * 1024 * 1024   # glibc's ceiling for its dynamic threshold (64-bit)
FAST_TRIM_THRESHOLD = 64 * 1024 * 1024


def _mallopt():
    if not sys.platform.startswith("linux"):
        return None
    try:
        f = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    f.argtypes, f.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return f


_MALLOPT = _mallopt()


def set_mmap_threshold(threshold: int) -> bool:
    """Fix glibc's mmap threshold (also stops its dynamic growth); True when it took."""
    return _MALLOPT is not None and _MALLOPT(M_MMAP_THRESHOLD, int(threshold)) == 1


def tune_heap() -> bool:
    """The device process's setting outside OCR (see the module's docstring)."""
    return (set_mmap_threshold(FAST_MMAP_THRESHOLD)
            and _MALLOPT(M_TRIM_THRESHOLD, FAST_TRIM_THRESHOLD) == 1)


@contextmanager
def lean_heap():
    """Large blocks allocated inside are mappings, returned to the system when freed."""
    took = set_mmap_threshold(LEAN_MMAP_THRESHOLD)
    try:
        yield took
    finally:
        if took:
            tune_heap()
