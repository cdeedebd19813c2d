"""The C allocator's settings for a long-running device process.

glibc raises its mmap threshold (up to 32 MB) each time a large block is freed, so the OCR's
working tensors (tens of MB each) end up in its heaps, which it keeps: after one document the
process holds 200 MB more than it uses, and the next peak comes on top.

- ``lean_heap(threshold)``: blocks from ``threshold`` bytes (default 128 KiB) allocated inside
  are mappings, returned to the system when freed. That costs page faults: every block mapped
  again is zeroed by the kernel again. ``edge.ocr.rapid`` runs the text detector at 128 KiB (a
  page's detector tensors add up to 165 MB; it runs once a page) and the recogniser, which runs
  10-70 times a page, at 1 MiB (its large blocks go back, its small ones are reused).
- ``trim_heap``: after each OCR read the heaps' free pages go back, the holes between live
  blocks included.

``claim-edge bench``, kiosk profile, 2-core x86-64, the same machine and hour: with the whole
read at 128 KiB and 6 lines per recogniser run, document photo 996-1027 ms median, peak RSS of a
device process 333 MB; as above with 2 lines a run, 732-776 ms and 362 MB. With nothing lean
and no trim a fresh process read the same pages in 690-730 ms but peaked at 445-581 MB.

Outside OCR the threshold stays at glibc's own ceiling (32 MB) and the heap is trimmed only above
64 MB free, so the photo path reuses its buffers: a 12 MP photo without text about 5 ms faster
than with 128 KiB everywhere (63 -> 58 ms median on the 2-core machine). No-op where the C
library has no mallopt (not glibc)."""

from __future__ import annotations

import ctypes
import sys
from contextlib import contextmanager

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
LEAN_MMAP_THRESHOLD = 128 * 1024
FAST_MMAP_THRESHOLD = 32 * 1024 * 1024   # glibc's ceiling for its dynamic threshold (64-bit)
FAST_TRIM_THRESHOLD = 64 * 1024 * 1024


def _libc_function(name: str, argtypes: tuple, restype=ctypes.c_int):
    """glibc's ``name`` with its C signature, or None off Linux or where the C library lacks it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        f = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    f.argtypes, f.restype = argtypes, restype
    return f


_MALLOPT = _libc_function("mallopt", (ctypes.c_int, ctypes.c_int))
_MALLOC_TRIM = _libc_function("malloc_trim", (ctypes.c_size_t,))


def set_mmap_threshold(threshold: int) -> bool:
    """Fix glibc's mmap threshold (also stops its dynamic growth); True when it took."""
    return _MALLOPT is not None and _MALLOPT(M_MMAP_THRESHOLD, int(threshold)) == 1


def tune_heap() -> bool:
    """The device process's setting outside OCR (see the module's docstring)."""
    return (set_mmap_threshold(FAST_MMAP_THRESHOLD)
            and _MALLOPT(M_TRIM_THRESHOLD, FAST_TRIM_THRESHOLD) == 1)


def trim_heap() -> bool:
    """Give every whole free page in the heaps back to the system (glibc's ``malloc_trim``),
    holes between live blocks included; True when some memory went back."""
    return _MALLOC_TRIM is not None and _MALLOC_TRIM(0) == 1


@contextmanager
def lean_heap(threshold: int = LEAN_MMAP_THRESHOLD):
    """Blocks from ``threshold`` bytes allocated inside are mappings, returned to the system when
    freed."""
    took = set_mmap_threshold(threshold)
    try:
        yield took
    finally:
        if took:
            tune_heap()
