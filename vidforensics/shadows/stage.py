"""The shadow stage: sample a few sharp, stable frames in the one pass, summarise per segment.

Segments are only known when the pass ends, so the stage samples the whole clip
sparsely and combines the samples of each segment afterwards. A sample is taken a
few calm frames after every large change of the picture (a probable new shot) or
once the view has drifted far from the last sample (a pan), then again after
``every_s``, and after gaps growing ``interval_growth`` times while the view stays
the same, at most ``max_per_view`` times: a still shot of a minute gets three
samples, not thirty, because more samples of one view add cost, not evidence.

The estimator costs 75-200 ms a frame, far more than decoding one, so it runs on a
worker thread: OpenCV is limited to one thread per caller (``analyze``), and the
second core would otherwise idle while the main thread decodes and runs the other
stages. At most ``max_pending`` frames wait for the worker (each is a full
picture), so memory stays flat; each sample keeps its estimate, and its picture
while ``keep_pictures_mb`` lasts (the checks after the pass compare them).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
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

    every_s: float            # first gap between samples of one view, seconds of video ...
    interval_growth: float    # ... and each further gap this many times the previous one ...
    max_per_view: int         # ... up to this many samples of one view (a new shot or a pan resets)
    change_threshold: float   # mean |delta luma_small| (levels) that marks a probable new shot
    settle_frames: int        # wait this many calm frames after a change (transitions, motion blur)
    calm_threshold: float     # a frame is calm when it changed less than this from the previous one
    max_share: float          # at most this share of frames is estimated (token bucket refill)
    burst: float              # ... with up to this many samples close together (quick cuts)
    max_cues_kept: int        # cues kept per sample for the evidence picture
    max_pending: int          # frames waiting for the estimator thread before the pass waits
    keep_pictures_mb: float   # sampled pictures kept for the same-time checks, up to this much memory


@dataclass
class _Sample:
    index: int
    time_s: float
    sharpness: float
    pending: Future               # the worker's estimate ...
    estimate: ShadowEstimate | None = None   # ... once collected
    picture: np.ndarray | None = None        # the frame, while the memory budget lasts


def _estimate(rgb: np.ndarray, params: ShadowParams, max_cues: int) -> ShadowEstimate:
    est = estimate_shadow_direction(rgb, params)
    est.cues = sorted(est.cues, key=lambda c: -c.weight)[:max_cues]
    return est


class ShadowCollector:
    """Sees every frame once; estimates shadows on a few; summarises frame intervals afterwards."""

    def __init__(self, params: ShadowParams, sampling: ShadowSamplingParams):
        self.params = params
        self.sampling = sampling
        self._samples: list[_Sample] = []
        self._prev: np.ndarray | None = None
        self._sampled_luma: np.ndarray | None = None   # the view at the last sample
        self._since_change = 0
        self._last_sample_t = -np.inf
        self._gap = sampling.every_s
        self._view_samples = 0                         # samples of the current view
        self._tokens = sampling.burst
        self._pending_change = True  # the first shot starts at frame 0
        self._pool: ThreadPoolExecutor | None = None
        self._kept_bytes = 0

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
        due = due or (t - self._last_sample_t >= self._gap and self._since_change >= s.settle_frames)
        if not due or self._tokens < 1.0:
            return
        # a new shot, or a view panned or zoomed away from the last sample's: sample again after
        # every_s; the same view again: after a longer gap, and not after max_per_view samples
        # (decided from the pictures alone, never from the worker's results: deterministic)
        moved = (self._sampled_luma is None or self._sampled_luma.shape != y.shape
                 or cv2.norm(y, self._sampled_luma, cv2.NORM_L1) / y.size >= s.change_threshold)
        new_view = self._pending_change or moved
        if not new_view and self._view_samples >= s.max_per_view:
            return
        self._view_samples = 1 if new_view else self._view_samples + 1
        self._tokens -= 1.0
        self._gap = s.every_s if new_view else self._gap * s.interval_growth
        self._pending_change = False
        self._last_sample_t = t
        self._sampled_luma = y
        sharp = float(cv2.Laplacian(y, cv2.CV_32F).var())
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidforensics-shadows")
        waiting = [x.pending for x in self._samples if not x.pending.done()]
        if len(waiting) >= s.max_pending:
            waiting[0].result()   # back-pressure: never more than max_pending full pictures queued
        rgb = frame.rgb()
        fut = self._pool.submit(_estimate, rgb, self.params, s.max_cues_kept)
        # the checks after the pass compare sampled pictures: kept ones spare a seek and a decode
        # from the key frame before each (most of a short clip's check time); the budget keeps
        # memory flat however many shots a clip has, and later samples are read back
        keep = self._kept_bytes + rgb.nbytes <= s.keep_pictures_mb * 2 ** 20
        self._kept_bytes += rgb.nbytes if keep else 0
        self._samples.append(_Sample(frame.index, t, sharp, fut, picture=rgb if keep else None))

    def picture(self, index: int) -> np.ndarray | None:
        """The sampled frame ``index`` if it was kept, else None (read it back from the clip)."""
        return next((x.picture for x in self._samples if x.index == index), None)

    def close(self) -> None:
        """Drop queued estimates and stop the worker (the pass failed; nothing will be summarised)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _finish(self) -> None:
        """Wait for the worker (an estimator error is raised here, as it would have been inline)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for x in self._samples:
            if x.estimate is None:
                x.estimate = x.pending.result()

    def summarize(self, start_frame: int, end_frame: int) -> Shadow:
        """The segment's shadow from the samples in ``[start_frame, end_frame)``."""
        self._finish()
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
            # a refused shot publishes no vanishing point: one frame's, outvoted, is no finding
            vanishing_point=None if best.estimate.vanishing_point is None or combined.direction_deg is None
            else [round(float(v), 2) for v in best.estimate.vanishing_point],
            evidence_frame=best.index,
            evidence_cues=[ShadowCueOut(base=[round(float(v), 1) for v in c.base],
                                        tip=[round(float(v), 1) for v in c.tip], kind=c.kind)
                           for c in best.estimate.cues],
        )
