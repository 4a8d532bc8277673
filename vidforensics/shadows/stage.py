"""The shadow stage: sample a few sharp, stable frames in the one pass, summarise per segment.

Segments are only known when the pass ends, so the stage samples the whole clip
sparsely (every few seconds, and a few frames after every large change of the
picture, where a new shot probably starts), keeps each sample's estimate (a few
numbers and cues, never the picture) and combines the samples of each segment
afterwards. The estimator costs tens of milliseconds a frame, so sampling is
what keeps the stage within a fraction of the decode time.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from vidforensics.io.decode import Frame
from vidforensics.report.schema import Shadow, ShadowCueOut
from vidforensics.shadows.estimate import ShadowEstimate, ShadowParams, combine_estimates, estimate_shadow_direction


class ShadowSamplingParams(BaseModel):
    """When the stage runs the estimator; values in ``[shadow_sampling]``."""

    model_config = ConfigDict(extra="forbid")

    every_s: float            # periodic sample interval, seconds of video
    change_threshold: float   # mean |delta luma_small| (levels) that marks a probable new shot
    settle_frames: int        # wait this many calm frames after a change (transitions, motion blur)
    calm_threshold: float     # a frame is calm when it changed less than this from the previous one
    max_share: float          # at most this share of frames is estimated (token bucket refill)
    burst: float              # ... with up to this many samples close together (quick cuts)
    max_cues_kept: int        # cues kept per sample for the evidence picture


@dataclass
class _Sample:
    index: int
    time_s: float
    sharpness: float
    estimate: ShadowEstimate


class ShadowCollector:
    """Sees every frame once; estimates shadows on a few; summarises frame intervals afterwards."""

    def __init__(self, params: ShadowParams, sampling: ShadowSamplingParams):
        self.params = params
        self.sampling = sampling
        self._samples: list[_Sample] = []
        self._prev: np.ndarray | None = None
        self._since_change = 0
        self._last_sample_t = -np.inf
        self._tokens = sampling.burst
        self._pending_change = True  # the first shot starts at frame 0

    def process(self, frame: Frame) -> None:
        s = self.sampling
        y = frame.luma_small
        change = cv2.norm(y, self._prev, cv2.NORM_L1) / y.size if self._prev is not None else 0.0
        self._prev = y
        self._tokens = min(s.burst, self._tokens + s.max_share)
        if change >= s.change_threshold:
            self._pending_change, self._since_change = True, 0
            return
        self._since_change = self._since_change + 1 if change < s.calm_threshold else 0
        t = frame.time_s if np.isfinite(frame.time_s) else frame.index / 25.0
        due = self._pending_change and self._since_change >= s.settle_frames
        due = due or (t - self._last_sample_t >= s.every_s and self._since_change >= s.settle_frames)
        if not due or self._tokens < 1.0:
            return
        self._tokens -= 1.0
        self._pending_change = False
        self._last_sample_t = t
        est = estimate_shadow_direction(frame.rgb(), self.params)
        est.cues = sorted(est.cues, key=lambda c: -c.weight)[: s.max_cues_kept]
        sharp = float(cv2.Laplacian(y, cv2.CV_32F).var())
        self._samples.append(_Sample(frame.index, t, sharp, est))

    def summarize(self, start_frame: int, end_frame: int) -> Shadow:
        """The segment's shadow from the samples in ``[start_frame, end_frame)``."""
        samples = [x for x in self._samples if start_frame <= x.index < end_frame]
        if not samples:
            return Shadow(method="none", reason="no calm frame of this segment was sampled (too short or in motion)")
        combined = combine_estimates([x.estimate for x in samples], self.params)
        used = [x for x in samples if x.estimate.direction_deg is not None]
        # the evidence frame: the most confident sample, sharpest on ties
        best = max(samples, key=lambda x: (x.estimate.confidence, x.sharpness))
        return Shadow(
            direction_deg=None if combined.direction_deg is None else round(combined.direction_deg % 360.0, 3),
            uncertainty_deg=None if combined.uncertainty_deg is None else round(combined.uncertainty_deg, 3),
            confidence=round(float(min(1.0, max(0.0, combined.confidence))), 4),
            cues=sum(len(x.estimate.cues) for x in used),
            frames_used=[x.index for x in used],
            method=combined.method,
            reason=combined.reason,
            vanishing_point=None if best.estimate.vanishing_point is None
            else [round(float(v), 2) for v in best.estimate.vanishing_point],
            evidence_frame=best.index,
            evidence_cues=[ShadowCueOut(base=[round(float(v), 1) for v in c.base],
                                        tip=[round(float(v), 1) for v in c.tip], kind=c.kind)
                           for c in best.estimate.cues],
        )
