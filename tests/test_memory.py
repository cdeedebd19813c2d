"""The allocator setting the device process runs with (edge/memory.py)."""
import sys

import pytest

from edge.memory import keep_heap_lean


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_mmap_threshold_is_fixed_on_glibc():
    assert keep_heap_lean() is True
