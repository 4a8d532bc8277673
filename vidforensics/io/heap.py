"""Keep freed frame-sized buffers in the process heap for the next frame.

A streaming pass allocates and frees the same few frame-sized arrays on every
frame (decoded pictures, float work images, filter outputs). glibc's malloc hands
out such blocks (about 1 MB at 720p) by ``mmap`` once its heap top is trimmed,
and every new page is then faulted in and zeroed by the kernel: measured on the
tracking stage at 720p, ~450 page faults a frame and about a third of its time. Raising
the mmap and trim thresholds keeps those pages in the heap, so the next frame
reuses them. Peak memory does not grow (the same arrays are live at the peak);
what is kept is what the pass already used once.

This is process-wide and applies only to glibc (Linux); elsewhere it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameter numbers (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

_MB = 1 << 20
_tuned: bool | None = None   # the first call's outcome (find_library may run ldconfig: once)


def keep_freed_buffers() -> bool:
    """Tune glibc's malloc for a frame-streaming workload (once per process).

    Blocks up to 32 MB (glibc's largest mmap threshold on 64-bit; a 1080p float32
    picture is 8 MB) come from the heap, the heap is trimmed only when 256 MB at its
    top are free, and it grows in 64 MB steps. Returns whether the allocator was
    tuned (False off glibc, or if glibc refused the threshold: then nothing is changed,
    since a trim threshold alone would turn off glibc's own adaptive threshold).
    """
    global _tuned
    if _tuned is None:
        _tuned = _tune()
    return _tuned


def _tune() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):   # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, 32 * _MB) != 1:
        return False
    mallopt(_M_TRIM_THRESHOLD, 256 * _MB)
    mallopt(_M_TOP_PAD, 64 * _MB)
    return True
