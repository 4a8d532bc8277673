"""``checks[]``: what the measured shadows say about the claims made for a clip.

Runs after the pass, from the report's segments and the sampled pictures the
pass kept (a seek per picture beyond its memory budget) to register the views.
Without claims, every pair of segments with a confident shadow direction is
tested for the same time of day; with claims, exactly what they ask.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from itertools import combinations
from pathlib import Path

import numpy as np

from vidforensics.claims import Claims, resolve_segments
from vidforensics.io.decode import read_frame
from vidforensics.report.schema import Check, Report
from vidforensics.shadows.compare import same_time_check
from vidforensics.shadows.register import View, prepare_view
from vidforensics.solar import (camera_from_claim, check_filmed_at, delta_time_for_delta_azimuth,
                               image_direction_to_ground_azimuth)


def run_checks(path: Path, report: Report, cfg, claims: Claims | None,
               kept: Callable[[int], np.ndarray | None] = lambda index: None) -> list[Check]:
    """The checks; ``kept(index)``: a sampled frame the pass kept, else None (it is read back)."""
    segs = report.segments
    cp = cfg.shadow_compare
    items = claims.claims if claims is not None else []
    same = [c for c in items if c.kind == "same_time_of_day"]
    filmed = [c for c in items if c.kind == "filmed_at"]

    pairs: list[tuple[int, int]] = []
    if claims is None:
        # every two segments with sampled shadow frames: a pair is reported when its pictures
        # register as one place, or when both have a confident direction
        usable = [s for s in segs if s.shadow is not None and s.shadow.evidence_frame is not None]
        usable = sorted(usable, key=lambda s: (-s.shadow.confidence, s.index))[: cp.max_segments]
        pairs = list(combinations(sorted(s.index for s in usable), 2))
    for c in same:
        idx = list(range(len(segs))) if c.segments == "all" else list(c.segments)
        pairs += [p for p in combinations(sorted(set(idx)), 2) if p not in pairs]

    @lru_cache(maxsize=2 * cp.max_views_per_segment)
    def frame(segment: int, index: int):
        # one seek per picture where possible: two segments' pictures stay cached from their
        # features to their comparison; pairs run (0, 1), (0, 2), ... so the first segment's stay
        pic = kept(index)
        return pic if pic is not None else segment_frame(path, report, segment, index)

    def picture(view: View):
        return frame(view.segment, view.frame)

    # each segment's sampled frames (a zooming or panning shot may register with another
    # segment in one frame only), prepared when registration first asks for them: it stops at
    # the first pair that verifies, and a picture the pass did not keep costs a seek
    views: dict[int, _Views] = {}
    for k in sorted({i for p in pairs for i in p}):
        sh = segs[k].shadow
        if sh is None:
            continue
        frames = sorted(set(sh.frames_used) | ({sh.evidence_frame} if sh.evidence_frame is not None else set()))
        views[k] = _Views(frames[: cp.max_views_per_segment],
                          lambda f, k=k: prepare_view(k, f, frame(k, f), cp))

    checks = []
    for i, j in pairs:
        asked = claims is not None
        # the slow scale search only where one place is likely (a jump cut joins neighbours) or asked for
        check, _ = same_time_check(i, j, segs[i].shadow, segs[j].shadow, views, cp, picture,
                                   search=asked or j == i + 1)
        both_directions = all(segs[k].shadow is not None and segs[k].shadow.direction_deg is not None
                              and segs[k].shadow.confidence >= cp.min_confidence for k in (i, j))
        if asked or "registration" in check.measurements or both_directions:
            checks.append(check)
    for check in checks:
        _add_time_difference(check, same, filmed, report, cfg)

    upload = _upload_time(report)
    for c in filmed:
        for k in resolve_segments(c, len(segs)):
            sh = segs[k].shadow
            shadow = {"direction_deg": sh.direction_deg if sh else None,
                      "uncertainty_deg": sh.uncertainty_deg if sh else None,
                      "confidence": sh.confidence if sh else 0.0,
                      "reason": (sh.reason if sh else "the shadow stage did not run")}
            out = check_filmed_at(c, shadow, report.input.width, report.input.height,
                                  upload_time_utc=upload, params=cfg.solar, segment=k)
            out = dict(out)
            checks.append(Check(name="filmed_at", segments=[k], verdict=out.pop("verdict"),
                                summary=str(out.pop("evidence", "")), measurements=_jsonable(out)))
    return checks


class _Views(Sequence):
    """A segment's registration views, each prepared on first access and kept."""

    def __init__(self, frames: list[int], make: Callable[[int], View]):
        self._frames, self._make, self._done = frames, make, {}

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        if i not in self._done:
            self._done[i] = self._make(self._frames[i])
        return self._done[i]


def segment_frame(path: Path, report: Report, segment: int, frame: int):
    """Frame ``frame`` of ``segment`` read back from the clip (RGB)."""
    seg = report.segments[segment]
    fps = report.input.fps or 0.0
    return read_frame(path, frame, seg.start_s + (frame - seg.start_frame) / fps if fps else float("nan"))


def _add_time_difference(check, same, filmed, report: Report, cfg) -> None:
    """Turn a same-time check's angle difference into minutes, where place, date and camera are known.

    An image angle is not a ground angle: both directions go through the camera
    of a ``filmed_at`` claim for the second segment (its heading and tilt), and the
    ground difference through the local rate of the sun's azimuth.
    """
    if "delta_deg" not in check.measurements:
        return
    j = check.segments[1]
    cam_claim = next((c for c in filmed if j in resolve_segments(c, len(report.segments))), None)
    place = next((c for c in same if c.latitude is not None and c.time_utc is not None), None) or cam_claim
    if cam_claim is None or place is None:
        return
    when = place.time_utc or (place.window_utc[0] if getattr(place, "window_utc", None) else None)
    if when is None:
        return
    camera = camera_from_claim(cam_claim, report.input.width, report.input.height, cfg.solar)
    m = check.measurements
    a = image_direction_to_ground_azimuth(m["carried_direction_deg"], camera)
    b = image_direction_to_ground_azimuth(m["direction_deg"][str(j)], camera)
    ground = (b - a + 180.0) % 360.0 - 180.0
    minutes = delta_time_for_delta_azimuth(place.latitude, place.longitude, when, ground)
    m["ground_delta_deg"] = round(ground, 3)
    m["implied_time_difference_min"] = round(minutes, 1) if minutes == minutes and abs(minutes) != float("inf") else None


def _upload_time(report: Report) -> datetime | None:
    """The platform's upload time, an upper bound on when the clip was filmed."""
    src = report.input.source if report.input else None
    if src is not None and src.timestamp:
        return datetime.fromtimestamp(src.timestamp, tz=timezone.utc)
    return None


def _jsonable(d):
    if isinstance(d, dict):
        return {str(k): _jsonable(v) for k, v in d.items() if k not in ("name", "segments")}
    if isinstance(d, (list, tuple)):
        return [_jsonable(v) for v in d]
    if isinstance(d, datetime):
        return d.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if hasattr(d, "model_dump"):
        return _jsonable(d.model_dump(mode="json"))
    return d
