"""``analyze(path, config) -> Report``: probe, one decode pass through every stage, report.

Data flows one way: the decoder yields each frame once, every enabled stage sees
it, and the results are assembled into the report here. Stages never import
one another; what one stage's result means for another (segments for the
fingerprints) is wired in this module.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from vidforensics.claims import Claims, validate_segments
from vidforensics.config import KNOWN_STAGES, Config, load_config
from vidforensics.cuts.boundaries import CutDetector
from vidforensics.cuts.fingerprint import FingerprintCollector, group_sources
from vidforensics.errors import DecodeError, InputError
from vidforensics.io.decode import iter_frames
from vidforensics.io.probe import basic_input, open_media, probe
from vidforensics.motion import CameraMotionEstimator
from vidforensics.provenance import tool_info
from vidforensics.report.findings import derive_findings
from vidforensics.shadows.checks import run_checks
from vidforensics.shadows.stage import ShadowCollector
from vidforensics.report.schema import Boundary, CameraMotion, ErrorInfo, InputInfo, Report, Segment, Track
from vidforensics.tracking.kinematics import Scale
from vidforensics.tracking.stage import TrackingCollector, spread

# how often (frames) the tracking stage settles the tracks nothing can join any more: often
# enough that few are held, rarely enough that grouping them costs nothing
_SETTLE_EVERY = 25

Progress = Callable[[int, int | None], None]


def analyze(path: str | Path, config: Config | str | Path | None = None, *,
            claims: Claims | None = None, scale: Scale | None = None,
            progress: Progress | None = None) -> Report:
    """Analyse one clip and return its forensic report.

    Never raises for a bad clip: a clip that cannot be analysed gives a report
    with ``status: "error"`` and the reason; one that breaks off part-way gives
    ``status: "partial"`` with what was found up to there. Claims that name
    segments the clip does not have raise ``ClaimsError`` (the question, not the
    clip, is wrong).

    Parameters
    ----------
    path : path-like
        The clip.
    config : Config or str or path, optional
        A loaded configuration, a pipeline name (``"default"``, ``"cuts"``) or a
        TOML file. Defaults to ``"default"``.
    claims : Claims, optional
        What an investigator asks to test (``same_time_of_day``, ``filmed_at``);
        see :mod:`vidforensics.claims`. Without claims, every pair of segments that
        shows the same place is tested for the same time of day.
    scale : Scale, optional
        Metres per pixel, distance and focal length, or a known object length:
        tracked descents are then also given in m/s (tracking stage).
    progress : callable, optional
        Called as ``progress(frames_done, frames_expected_or_None)``.
    """
    cfg = config if isinstance(config, Config) else load_config(config or "default")
    # OpenCV's worker threads cost more than they save on the small analysis images,
    # and the decoder's threads want the other core
    cv2.setNumThreads(1)
    tool = tool_info()
    params = cfg.model_dump(mode="json")
    path = Path(path)
    try:
        container = open_media(path)
    except InputError as exc:
        return Report(tool=tool, status="error", error=ErrorInfo(message=str(exc), stage="probe"),
                      parameters=params, input=basic_input(path))
    with container:  # one open for probe and decode: opening probes the streams, which costs
        try:
            probed = probe(path, container=container, max_width=cfg.limits.max_width,
                           max_height=cfg.limits.max_height)
        except InputError as exc:
            return Report(tool=tool, status="error", error=ErrorInfo(message=str(exc), stage="probe"),
                          parameters=params, input=basic_input(path))
        info = probed.input

        detector = CutDetector(cfg.cuts) if "cuts" in cfg.stages else None
        collector = (FingerprintCollector(cfg.fingerprint, info.width, info.height)
                     if "fingerprint" in cfg.stages else None)
        shadows = ShadowCollector(cfg.shadows, cfg.shadow_sampling) if "shadows" in cfg.stages else None
        stages = [s for s in (detector, collector, shadows) if s is not None]
        # camera motion is shared work: the tracking stage needs it, other stages may
        motion = CameraMotionEstimator(cfg.motion) if "tracking" in cfg.stages else None
        tracker = TrackingCollector(cfg.tracking, scale) if "tracking" in cfg.stages else None

        times: list[float] = []
        rotation = None
        failure: DecodeError | None = None
        try:
            for frame in iter_frames(container, analysis_width=cfg.decode.analysis_width,
                                     threads=cfg.decode.threads):
                times.append(frame.time_s)
                rotation = frame.rotation
                for stage in stages:
                    stage.process(frame)
                if motion is not None:
                    tracker.process(frame, motion.process(frame))
                    if frame.index % _SETTLE_EVERY == 0:
                        # finished tracks whose segments are known are sifted now, not held to the end
                        tracker.settle(*(detector.final_boundaries() if detector else ([], math.inf)))
                if progress is not None:
                    progress(frame.index + 1, info.frame_count_declared)
        except DecodeError as exc:
            failure = exc
        except BaseException:
            if shadows is not None:
                shadows.close()   # no worker thread left estimating for a pass that failed
            raise

    if not times:
        msg = str(failure) if failure else "no decodable video frame"
        if failure and failure.frames_decoded == 0 and "decoding stopped" in msg:
            msg = f"no decodable video frame ({msg})"
        return Report(tool=tool, status="error", error=ErrorInfo(message=msg, stage="decode"),
                      parameters=params, input=info)

    _complete_input(info, times, rotation)
    boundaries = detector.finish() if detector else []
    segments = build_segments(boundaries, times)
    if collector is not None:
        fps = [collector.summarize(s.start_frame, s.end_frame) for s in segments]
        for seg, fp, group in zip(segments, fps, group_sources(fps, cfg.fingerprint)):
            fp.source_group = group
            seg.fingerprint = fp
    if shadows is not None:
        for seg in segments:
            seg.shadow = shadows.summarize(seg.start_frame, seg.end_frame)
    if claims is not None:
        validate_segments(claims, len(segments))  # ClaimsError: the claims do not fit this clip

    missing: list[str] = []
    status = "ok"
    error = None
    if failure is not None:
        status = "partial"
        error = ErrorInfo(message=str(failure), stage="decode")
        missing.append(f"frames after {len(times)}: {failure}")
    if info.frame_count_declared and len(times) < info.frame_count_declared and failure is None:
        missing.append(f"container declares {info.frame_count_declared} frames, {len(times)} decoded")
        status = "partial"
    for name in KNOWN_STAGES:
        if name not in cfg.stages:
            missing.append(f"stage '{name}' not run (pipeline '{cfg.name}')")
    report = Report(tool=tool, status=status, error=error, missing=missing, parameters=params,
                    input=info, segments=segments)
    if tracker is not None:
        results = tracker.finish([(s.start_frame, s.end_frame) for s in segments])
        report.tracks = [Track.model_validate(r.to_report()) for r in results]
        report.camera_motion = CameraMotion(**motion.summary(), descending_spread=spread(results))
    if shadows is not None:
        report.checks = run_checks(path, report, cfg, claims, kept=shadows.picture)
    elif claims is not None and claims.claims:
        missing.append("claims not tested: the shadow stage did not run")
    report.findings = derive_findings(report)
    return report


def build_segments(boundaries: list[Boundary], times: list[float]) -> list[Segment]:
    """Cut ``[0, len(times))`` at every boundary's frame into segments."""
    n = len(times)
    starts = [Boundary(kind="start", frame=0, time_s=_t(times, 0), score=1.0)]
    starts += [b for b in boundaries if 0 < b.frame < n]
    segments = []
    for i, b in enumerate(starts):
        end = starts[i + 1].frame if i + 1 < len(starts) else n
        segments.append(Segment(index=i, start_frame=b.frame, end_frame=end, start_s=_t(times, b.frame),
                                end_s=_end_time(times, end), boundary=b))
    return segments


def _t(times: list[float], i: int) -> float:
    t = times[i]
    return round(t, 6) if math.isfinite(t) else float(i)


def _end_time(times: list[float], end: int) -> float:
    """End of the last frame of a segment: the next frame's time, or one interval past the last."""
    if end < len(times):
        return _t(times, end)
    iv = np.diff([t for t in times if math.isfinite(t)])
    step = float(np.median(iv)) if iv.size else 0.0
    return round(_t(times, end - 1) + step, 6)


def _complete_input(info: InputInfo, times: list[float], rotation: int | None) -> None:
    """What only decoding can tell: real frame count, rate, VFR, rotation."""
    info.frame_count = len(times)
    if rotation is not None and rotation != info.rotation_deg:
        info.rotation_deg = rotation
        if rotation in (90, 270):
            info.width, info.height = info.coded_height, info.coded_width
        else:
            info.width, info.height = info.coded_width, info.coded_height
    finite = [t for t in times if math.isfinite(t)]
    iv = np.diff(finite)
    iv = iv[iv > 0]
    if iv.size:
        med = float(np.median(iv))
        info.frame_interval_s = {"min": round(float(iv.min()), 6), "median": round(med, 6),
                                 "max": round(float(iv.max()), 6)}
        span = finite[-1] - finite[0]
        info.fps = round((len(finite) - 1) / span, 4) if span > 0 else None
        # tolerate timestamp rounding of the time base (1 ms); beyond that the rate varies
        info.variable_frame_rate = bool(np.any(np.abs(iv - med) > max(0.001, 0.02 * med)))
