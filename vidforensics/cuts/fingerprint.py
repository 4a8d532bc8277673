"""Segment fingerprints (INTERFACE STUB: being implemented)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from vidforensics.io.decode import Frame
from vidforensics.report.schema import Fingerprint


class FingerprintParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_every: int


class FingerprintCollector:
    """Sees every frame once; summarises any frame interval afterwards."""

    def __init__(self, params: FingerprintParams, width: int, height: int):
        self.params = params

    def process(self, frame: Frame) -> None:
        pass

    def summarize(self, start_frame: int, end_frame: int) -> Fingerprint:
        return Fingerprint(frames_sampled=0)


def group_sources(fingerprints: list[Fingerprint], params: FingerprintParams) -> list[int]:
    return [0] * len(fingerprints)
