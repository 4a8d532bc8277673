"""vidforensics: forensic analysis of downloaded video clips.

The library call behind the CLI::

    from vidforensics import analyze, load_config
    report = analyze("clip.mp4", load_config("default"))
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("vidforensics")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"

from vidforensics.config import Config, load_config  # noqa: E402
from vidforensics.pipeline import analyze  # noqa: E402
from vidforensics.report.schema import Report  # noqa: E402

__all__ = ["analyze", "load_config", "Config", "Report", "__version__"]
