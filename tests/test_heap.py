"""The allocator setting that lets each frame's arrays reuse the last frame's pages (io/heap.py)."""
import platform
import resource

import numpy as np
import pytest

from vidforensics.io.heap import keep_freed_buffers


def _faults_while_streaming(frames: int) -> int:
    """Page faults while each frame allocates a dozen frame-sized arrays (0.9 MB, as at 720p), all
    alive at once as in a filter chain, and frees them at the end of the frame."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(frames):
        live = [np.full((360, 640), i + k, np.float32) for k in range(12)]
        del live
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_frame_sized_buffers_are_reused_instead_of_faulted_in_again():
    assert keep_freed_buffers() is True
    assert keep_freed_buffers() is True   # once per process; calling again is harmless
    _faults_while_streaming(5)            # the heap grows once
    faults = _faults_while_streaming(100)
    # glibc's own rule trims the freed 11 MB from the heap's top every frame and faults ~2,700 pages
    # back in on the next one; kept, they are reused
    assert faults < 100 * 50, faults
