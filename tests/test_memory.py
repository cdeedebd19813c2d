"""The allocator settings the device process runs with (edge/memory.py)."""
import subprocess
import sys

import pytest

# Run in a fresh interpreter: in the test session's own process, blocks freed by earlier tests
# would serve these allocations from the heap.
PROBE = """
import contextlib, sys
import numpy as np
from edge.memory import lean_heap, trim_heap, tune_heap

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmRSS:"))

assert tune_heap() is True
with (lean_heap() if sys.argv[1] == "lean" else contextlib.nullcontext()):
    before = rss_mb()
    # 1 MB blocks, as a network's working tensors, between small objects that live on: in the
    # heap they leave holes it cannot give back
    blocks, keep = [], []
    for _ in range(200):
        blocks.append(np.ones(1 << 17))
        keep.append(np.ones(64))
    grown = rss_mb() - before
    del blocks
    if sys.argv[1] == "trim":
        assert trim_heap() is True
    print(round(grown), round(rss_mb() - before))
"""


def _held_mb(mode: str) -> tuple[int, int]:
    r = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    grown, held = map(int, r.stdout.split())
    return grown, held


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_memory_freed_inside_lean_heap_goes_back_to_the_system():
    grown, held = _held_mb("lean")
    assert grown > 150 and held < 20
    # outside OCR the heap keeps it for the next photo (the fast setting)
    grown, held = _held_mb("fast")
    assert grown > 150 and held > 150


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_heap_trimmed_after_a_read_gives_back_its_holes():
    # after each OCR read the free pages between live blocks go back, so the next photo starts
    # from what is in use
    grown, held = _held_mb("trim")
    assert grown > 150 and held < 20
