"""The allocator settings the device process runs with (edge/memory.py)."""
import sys

import numpy as np
import pytest

from edge.memory import lean_heap, tune_heap


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmRSS:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_memory_freed_while_ocr_runs_goes_back_to_the_system():
    assert tune_heap() is True
    with lean_heap() as took:
        assert took is True
        before = _rss_mb()
        # 1 MB blocks, as a network's working tensors, between small objects that live on:
        # in the heap they would leave holes it cannot give back
        blocks, keep = [], []
        for _ in range(200):
            blocks.append(np.ones(1 << 17))
            keep.append(np.ones(64))
        assert _rss_mb() > before + 150
        del blocks
        assert _rss_mb() < before + 20
