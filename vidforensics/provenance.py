"""What made a report: the tool's version and the versions of the libraries that computed it.

The numbers in a report depend on more than vidforensics: OpenCV's feature detectors and
resamplers, FFmpeg's decoders (inside PyAV) and NumPy/SciPy move results between
releases (a fresh install on 2026-12-05 took OpenCV 5.1 and a cut-detector test moved).
A report that names them can be reproduced; ``constraints.txt`` pins the tested set.
"""
from __future__ import annotations

import functools
import platform
from importlib.metadata import PackageNotFoundError, version

from vidforensics.report.schema import Tool

# distributions whose code computes what a report says (not the CLI or plotting helpers)
_COMPUTING = ("av", "opencv-python", "numpy", "scipy", "scikit-image", "scenedetect", "astral", "pydantic")


@functools.lru_cache(maxsize=1)
def tool_info() -> Tool:
    """The report's ``tool`` block: vidforensics' version, Python, FFmpeg and library versions."""
    from vidforensics import __version__

    libs = {"python": platform.python_version()}
    for dist in _COMPUTING:
        try:
            libs[dist] = version(dist)
        except PackageNotFoundError:
            libs[dist] = "not installed"
    try:
        import av
        libs["ffmpeg"] = str(getattr(av, "ffmpeg_version_info", "unknown"))
    except ImportError:  # pragma: no cover - av is a hard dependency
        pass
    return Tool(version=__version__, libraries=libs)
