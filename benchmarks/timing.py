"""What every benchmark's speed ratio is measured against."""
from __future__ import annotations

from pathlib import Path

import av

from vidforensics.io.heap import keep_freed_buffers


def decode_only(path: Path) -> int:
    """The floor any one-pass analyser pays: decode every frame, touch nothing else; return the count."""
    keep_freed_buffers()   # as iter_frames does: both sides of every ratio run on the same allocator settings
    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _ in c.decode(s):
            n += 1
    return n
