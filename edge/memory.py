"""The C allocator's setting for a long-running device process.

glibc raises its mmap threshold (up to 32 MB) each time a large block is freed, so the OCR's
working tensors (tens of MB each) end up in its heaps, which it keeps: after one document the
process holds 200 MB more than it uses, and the next peak comes on top. Fixing the threshold at
its default (128 KiB) makes every large block a mapping returned on free. A document read in
isolation (.cache probe, PP-OCRv6 small, bench page): peak 468 -> 296 MB, held after three
reads 372 -> 173 MB; the CPU cost is the pages mapped again per read (within the noise of the
shared 2-core machine). No-op where the C library has no mallopt (not glibc)."""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024


def keep_heap_lean(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (also stops its dynamic growth); True when it took."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, int(threshold)) == 1
