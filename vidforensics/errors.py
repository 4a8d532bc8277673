"""Errors that end an analysis with a clear one-line message (never a traceback)."""
from __future__ import annotations


class VidforensicsError(Exception):
    """Base class: the message is meant for the investigator, on one line."""


class InputError(VidforensicsError):
    """The input cannot be analysed at all (missing, empty, not media, no video, too large)."""


class DecodeError(VidforensicsError):
    """Decoding failed; ``frames_decoded`` says how far it got (0 = nothing usable)."""

    def __init__(self, message: str, frames_decoded: int = 0):
        super().__init__(message)
        self.frames_decoded = frames_decoded


class ConfigError(VidforensicsError):
    """A pipeline configuration file is missing or invalid."""


class OutputError(VidforensicsError):
    """The report cannot be written where asked."""


def reason(exc: BaseException, limit: int = 200) -> str:
    """One line saying why a library call failed, without errno noise or the file path."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return str(text).splitlines()[0][:limit]
