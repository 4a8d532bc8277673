"""The tracking stage: candidates and tracks in the one decode pass, kinematics when it ends.

``TrackingCollector.process(frame, motion)`` sees every frame once with its
camera-motion sample (``vidforensics.motion.MotionSample``: ``to_ref``, ``run``,
``residual_px``, ``reliable``); it keeps the tracks' points and, for the
difference image, its last ``2 lag + 1`` frames, never the whole clip.
``finish(segments)`` splits tracks at segment starts (tracks never cross a
cut), joins co-moving pieces of one object (a canopy and its payload), fits and
classifies each track and returns :class:`TrackResult` objects whose
``to_report()`` is the report's ``tracks[]`` entry.
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ConfigDict

from vidforensics.tracking.detect import DetectParams, Detections, Detector
from vidforensics.tracking.difference import DifferenceDetector, DifferenceParams, combine
from vidforensics.tracking.kinematics import Kinematics, KinematicsParams, Scale, analyse
from vidforensics.tracking.track import (CON, F, ISO, NOI, PEAK, REL, REP, RES, RX, RY, SIG, SIZE, SNR, STILL, TEX, T,
                                         X, Y, Track, Tracker, TrackParams, extend_back)


class TrackingParams(BaseModel):
    """The tracking stage; values in ``[tracking]`` and its sub-tables."""

    model_config = ConfigDict(extra="forbid")

    detect: DetectParams
    difference: DifferenceParams
    track: TrackParams
    kinematics: KinematicsParams
    min_report_points: int      # confirmed tracks with fewer measured points are not reported
    max_repeat_share: float     # a track whose points are more than this share codec repeats gets no descent verdict
    report_kinds: list[str]     # object kinds reported (static clutter, codec artefacts, birds are not) ...
    report_kinds_sky_only: list[str]  # ... and for a track whose camera motion is unknown (kinds of its path in the picture)
    comove_px: float            # two overlapping tracks this close (median, reference px) are one object ...
    comove_size_k: float        # ... or this many times the larger's size (a canopy is ~2x its payload wide) ...
    comove_spread_px: float     # ... when their distance drifts and scatters by less than this (px, robust)
    comove_rel_speed: float     # ... and drifts apart slower than this (px/s; a zoom moves a canopy end's candidate)
    comove_zoom_share: float    # ... allowing this share of their distance for drift and scatter (zoom)
    comove_min_share: float     # ... over at least this share of the shorter track's frames
    comove_interp_s: float      # tracks with fewer frames in common are compared where the other has points this close either side ...
    comove_turns_k: float       # ... and joined only within this many object sizes (two tracks taking turns on one object)
    comove_short_s: float       # an evident piece shorter than this (s) joins on distance alone (too few points for drift and scatter)
    comove_bounded_q: float     # evident pieces this share of whose distances is within reach are one object, steady or not (jumping between parts)
    bridge_max_s: float         # a track piece ending at most this long before another begins may be its continuation
    bridge_fit_s: float         # each side's motion is fitted over at most this long next to the gap
    bridge_chi2: float          # joined when both extrapolations meet within this Mahalanobis distance (chi-square, 2 dof)
    report_min_snr: float       # reported tracks: median band-pass SNR at least this ...
    report_min_cnr: float       # ... and median full-res |contrast| / local noise at least this (noise tracks sit at ~2)
    report_min_density: float   # ... and measured on at least this share of the frames it spans (noise lines up now and then)
    impact_window_s: float      # after a descending track is lost, watch its last place this long
    impact_delta: float         # a change of the mean luma there (levels) this large is an impact (flash, dust)
    impact_radius_px: int       # half-size of the watched patch, px


@dataclass
class TrackResult:
    """One reported track; ``to_report()`` gives the report's ``tracks[]`` entry."""

    id: int
    segment: int
    object_kind: str
    points: list[list[float]]            # [frame, x, y] in that frame's pixels
    descent: Kinematics
    size_px: float
    contrast: float
    snr: float
    noise: float                          # luma noise sigma around it (levels)
    start_frame: int
    start_s: float
    end_kind: str                         # impact, left_frame, lost, cut, clip_end
    end_frame: int
    end_s: float
    end_xy: tuple[float, float]
    end_ref_xy: tuple[float, float]       # where it ended in the run's reference pixels (for the spread)
    run: int
    gaps: int = 0                          # frames inside the track without a measurement
    repeated_frames: list[int] = field(default_factory=list)  # points that repeat the previous one (copied block)
    # [frame, time_s, x, y, sigma]: the positions the kinematics fitted, camera motion removed,
    # in the pixels of the track's first frame
    scene_points: list[list[float]] = field(default_factory=list)
    registered: bool = True               # camera motion measured on enough of its frames (else sky only)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_report(self) -> dict[str, Any]:
        d = self.descent
        r6 = lambda v: None if v is None else round(float(v), 6)  # noqa: E731
        descent = {
            "kind": d.kind, "model": d.model, "reason": d.reason,
            "vy_px_s": r6(d.vy_px_s), "vy_sigma_px_s": r6(d.vy_sigma),
            "ay_px_s2": r6(d.ay_px_s2), "ay_sigma_px_s2": r6(d.ay_sigma),
            "vx_px_s": r6(d.vx_px_s), "a_over_v_per_s": r6(d.a_over_v), "a_over_v_sigma": r6(d.a_over_v_sigma),
            "release_before_first_s": r6(d.release_s),
            "criterion": {"name": "F-test CV vs CA (y)", "f": r6(d.ftest_f), "p": r6(d.ftest_p),
                          "bic_cv": r6(d.bic_cv), "bic_ca": r6(d.bic_ca)},
            "duration_s": r6(d.duration_s), "points_used": d.n_points,
            "residual_px": r6(d.residual_px), "motion_residual_px": r6(d.motion_residual_px),
        }
        if d.m_per_px is not None:
            descent["metric"] = {"m_per_px": r6(d.m_per_px), "vy_m_s": r6(d.vy_m_s), "vy_sigma_m_s": r6(d.vy_m_s_sigma),
                                 "ay_m_s2": r6(d.ay_m_s2), "ay_sigma_m_s2": r6(d.ay_m_s2_sigma)}
        return {
            "id": self.id, "segment": self.segment, "object_kind": self.object_kind,
            "points": [[int(f), round(x, 3), round(y, 3)] for f, x, y in self.points],
            "repeated_frames": list(self.repeated_frames),
            "scene_points": [[int(f), round(t, 6), round(x, 3), round(y, 3), round(sg, 3)]
                             for f, t, x, y, sg in self.scene_points],
            "descent": descent,
            "size_px": round(self.size_px, 3), "contrast": round(self.contrast, 3), "snr": round(self.snr, 3),
            "noise": round(self.noise, 3),
            "start": {"frame": self.start_frame, "time_s": round(self.start_s, 6)},
            "end": {"kind": self.end_kind, "frame": self.end_frame, "time_s": round(self.end_s, 6),
                    "x": round(self.end_xy[0], 3), "y": round(self.end_xy[1], 3)},
        }


@dataclass
class _Watch:
    track: Track
    until_s: float
    ref_xy: np.ndarray
    base_luma: float


class TrackingCollector:
    """Sees every frame once with its camera motion; returns the tracks when the pass ends."""

    def __init__(self, params: TrackingParams, scale: Scale | None = None):
        self.p = params
        self.scale = scale
        self.detector = Detector(params.detect)
        self.mover = DifferenceDetector(params.difference, params.detect) if params.difference.enabled else None
        self.tracker = Tracker(params.track)
        # the last 2 lag + 1 frames' (index, time, to_ref, residual, reliable, run), and the candidates the
        # difference image found late for a run's first frames: frame -> (candidates, its time, to_ref, ...)
        self._recent: collections.deque = collections.deque(maxlen=2 * params.difference.lag_frames + 1)
        self._late: dict[int, tuple] = {}
        self._watches: list[_Watch] = []
        self._prev_view: tuple | None = None            # the previous frame's luma, ref -> frame map, run
        self._impacts: set[int] = set()                 # track ids whose watch saw an impact
        self._ended: list[Track] = []                  # finished tracks not yet settled
        self._settled: list[tuple[int, Track]] = []     # settled pieces that will be reported
        self._last_index = -1
        self._last_t = math.nan
        self._dt = 0.04
        self.frame_size = (0, 0)
        self._pieces: list[tuple[int, Track]] | None = None

    def process(self, frame, motion) -> None:
        """One frame (``vidforensics.io.decode.Frame``) and its ``MotionSample``."""
        luma = frame.luma()
        self.frame_size = (luma.shape[1], luma.shape[0])
        t = frame.time_s
        if not math.isfinite(t):   # no container timestamp: continue at the last interval
            t = (self._last_t + self._dt) if math.isfinite(self._last_t) else frame.index * self._dt
        elif math.isfinite(self._last_t) and t > self._last_t:
            self._dt = min(self._dt, t - self._last_t) if self._last_index >= 0 else t - self._last_t
        self._last_t, self._last_index = t, frame.index
        to_ref, run = np.asarray(motion.to_ref, float), int(motion.run)
        dets = self.detector.detect(luma)
        if self.mover is not None:
            moving = self.mover.detect(luma, to_ref, run, bool(motion.reliable), self.detector.noise_blocks,
                                       self.detector.work)
            dets = combine(dets, moving, self.p.detect.merge_px, self.p.comove_size_k, self.p.difference.replace_texture,
                           self.mover.searched_at(dets.xy))
        # an unregistrable frame has no residual (NaN): its points are flagged, not given infinite sigma
        res = float(motion.residual_px)
        reliable = bool(motion.reliable) and math.isfinite(res)
        res = res if math.isfinite(res) else 0.0
        self.tracker.step(frame.index, t, dets, to_ref, self.frame_size, run, res, reliable)
        self._watch(luma, frame.index, t, to_ref, run)
        self._recent.append((frame.index, t, to_ref, res, reliable, run))
        late = self.mover.late() if self.mover is not None else None
        if late is not None and len(self._recent) == self._recent.maxlen:
            self._extend_back(late, *self._recent[0])

    def _extend_back(self, dets: Detections, index: int, t: float, to_ref: np.ndarray, res: float, reliable: bool,
                     run: int) -> None:
        """Candidates found late for one of a run's first frames (``DifferenceDetector.late``): tracks that
        began in the next frame are followed back through them, as far as they lead (a bomb in front
        of the town right after a cut is otherwise missed until the difference image has 2 lag frames)."""
        self._late = {f: v for f, v in self._late.items() if f > index - self._recent.maxlen}
        self._late[index] = (dets, t, to_ref, res, reliable)
        for tr in self.tracker.live + self._ended:
            if tr.run != run or not tr.confirmed or int(tr.points[0][F]) != index + 1:
                continue
            f = index
            while f in self._late and extend_back(tr, f, self._late[f][1], self._late[f][0], *self._late[f][2:],
                                                  self.p.track):
                f -= 1

    def _watch(self, luma: np.ndarray, index: int, t: float, to_ref: np.ndarray, run: int) -> None:
        """Impact watch: did the place where a confirmed track was last seen change when it vanished?

        From the first frame a confirmed track is missed, for ``impact_window_s`` after its
        last measurement, the mean luma of a patch at its last position (camera motion
        followed) is compared with the same patch in the frame before it was missed. A
        change of ``impact_delta`` levels (a flash, dust) means it hit there: the track ends
        as an ``impact`` (and nothing is bridged onto it). Re-acquired, it is no longer
        watched. Only the previous frame is kept for this.
        """
        r = self.p.impact_radius_px

        def patch_mean(img: np.ndarray, inv: np.ndarray, rx: float, ry: float) -> float:
            h, w = img.shape
            x, y, s = inv @ np.array([rx, ry, 1.0])
            x, y = int(round(x / s)), int(round(y / s))
            if not (r <= x < w - r and r <= y < h - r):
                return math.nan
            return float(img[y - r:y + r + 1, x - r:x + r + 1].mean())

        inv = np.linalg.inv(to_ref)
        watched = {wt.track.id for wt in self._watches}
        seen = set()
        prev = self._prev_view if self._prev_view is not None and self._prev_view[2] == run else None
        for tr in self.tracker.live:
            if not tr.confirmed:
                continue
            last = tr.points[-1]
            if int(last[F]) == index:
                if not last[REP]:
                    seen.add(tr.id)
                    self._impacts.discard(tr.id)
            elif tr.id not in watched and prev is not None and int(last[F]) == index - 1:
                m = [row for row in tr.points if not row[REP]][-1]
                base = patch_mean(prev[0], prev[1], m[RX], m[RY])
                if math.isfinite(base):
                    self._watches.append(_Watch(tr, m[T] + self.p.impact_window_s, np.array([m[RX], m[RY]]), base))
        self._prev_view = (luma, inv, run)
        for tr in self.tracker.done:
            if tr.id in self._impacts:
                tr.end_kind = "impact"
            # held as one float64 array (144 bytes a point, a tuple of floats takes ~570) until joined
            tr.points = np.array(tr.points)
        self._ended.extend(self.tracker.done)
        self.tracker.done = []
        keep = []
        for wt in self._watches:
            if wt.track.run != run or t > wt.until_s or wt.track.id in seen:
                continue
            m = patch_mean(luma, inv, *wt.ref_xy)
            if math.isfinite(m) and abs(m - wt.base_luma) >= self.p.impact_delta:
                self._impacts.add(wt.track.id)
                if wt.track.end_kind is not None:   # already ended (lost): it ends in the impact
                    wt.track.end_kind = "impact"
                continue
            keep.append(wt)
        self._watches = keep

    def finish(self, segments: list[tuple[int, int]], scale: Scale | None = None) -> list[TrackResult]:
        """All reported tracks, split at segment starts, ``[start_frame, end_frame)`` each.

        Segments not given (empty list) mean one segment over the whole clip.
        Calling it again (say with another ``scale``) re-fits the same tracks.
        Ids are the tracks' order: by segment, then first frame.
        """
        if self._pieces is None:
            tracks = sorted(self._ended + self.tracker.close(self._last_index), key=lambda tr: tr.id)
            self._ended = []
            if not segments:
                segments = [(0, self._last_index + 1)]
            self._pieces = self._settled + self._join(tracks, segments)
        scale = scale if scale is not None else self.scale
        out = [res for seg, tr in self._pieces if (res := self._report(seg, tr, scale)) is not None]
        out.sort(key=lambda r: (r.segment, r.start_frame, r.points[0][1], r.points[0][2]))
        for i, r in enumerate(out):
            r.id = i
        return out

    def settle(self, boundaries: list[int], final_before: float) -> None:
        """Join, fit and sift the finished tracks nothing can join any more; drop the unreported.

        ``boundaries`` are the segment starts (frames) below ``final_before`` that will
        not change (:meth:`vidforensics.cuts.boundaries.CutDetector.final_boundaries`;
        without a cut stage, none and infinity). Finished tracks are grouped by run into
        chains whose time spans come within ``bridge_max_s`` of each other (a superset
        of the pairs the joins may take: both need a common frame or a gap at most that
        long). A chain is settled when no live track and no track born from now on can
        reach it, no impact watch is on it and it ends before ``final_before``; its
        pieces that will be reported are kept, the rest (static and ground clutter,
        noise; most rows in textured footage) are dropped.
        """
        if not self._ended:
            return
        d = self.p.bridge_max_s
        now, run_now = self._last_t, self.tracker.run
        live_first = min((tr.points[0][T] for tr in self.tracker.live), default=math.inf)
        watched = {w.track.id for w in self._watches}
        starts = sorted(b for b in boundaries if b > 0)
        segments = list(zip([0] + starts, starts + [2 ** 62]))
        spans = sorted(((tr.run, tr.points[0][T], tr.points[-1][T], tr) for tr in self._ended),
                       key=lambda s: (s[0], s[1], s[3].id))
        keep: list[Track] = []
        chain: list[Track] = []
        chain_run, chain_last = None, -math.inf

        def close_chain() -> None:
            open_ = (any(tr.id in watched for tr in chain)
                     or max(int(tr.points[-1][F]) for tr in chain) >= final_before
                     or (chain_run == run_now and (now - chain_last <= d or live_first <= chain_last + d)))
            if open_:
                keep.extend(chain)
                return
            for seg, tr in self._join(sorted(chain, key=lambda tr: tr.id), segments):
                if self._report(seg, tr, self.scale) is not None:
                    tr.points = np.array(tr.points)
                    self._settled.append((seg, tr))

        for run, first, last, tr in spans:
            if chain and (run != chain_run or first > chain_last + d):
                close_chain()
                chain = []
            if not chain:
                chain_run, chain_last = run, last
            chain.append(tr)
            chain_last = max(chain_last, last)
        close_chain()
        self._ended = sorted(keep, key=lambda tr: tr.id)

    def _join(self, tracks: list[Track], segments: list[tuple[int, int]]) -> list[tuple[int, Track]]:
        """Tracks (by id) -> pieces per segment, co-moving pieces merged, broken-off pieces bridged."""
        pieces: list[tuple[int, Track]] = []
        for tr in tracks:
            if isinstance(tr.points, np.ndarray):   # (held compactly since it ended) the joins edit lists
                tr.points = [tuple(r) for r in tr.points.tolist()]
            pieces.extend(_split(tr, segments))
        # twice: a piece that only matches another merged piece joins on the second pass; and once
        # more after bridging: a canopy's piece may overlap too few frames of each broken-off piece
        # of its payload's track, but enough of the bridged whole (and only then short pieces join on
        # distance alone: before, one may be what bridges two others)
        return self._merge_comoving(self._bridge(self._merge_comoving(self._merge_comoving(pieces))), join_short=True)

    def _report(self, seg: int, tr: Track, scale: Scale | None) -> TrackResult | None:
        """The piece's report entry, or None when it is not reported (too few points, not evident,
        or a kind that is not reported)."""
        if sum(not r[REP] for r in tr.points) < self.p.min_report_points or not self._evident(tr):
            return None
        res = self._result(seg, tr, scale)
        return res if self._reported_kind(res) else None

    def _reported_kind(self, res: TrackResult) -> bool:
        """Whether its kind is reported. An erratic path in the scene is a bird, an insect or noise the
        tracker wandered over; in the picture alone (sky only) it may be a falling object under a
        hand-held camera's shake, so it is reported there (as its picture kind, undecided)."""
        return res.object_kind in (self.p.report_kinds if res.registered else self.p.report_kinds_sky_only)

    def held_rows(self) -> int:
        """Track points held now (live, finished, settled): what the stage's memory grows with."""
        return sum(len(tr.points) for tr in self.tracker.live + self.tracker.done + self._ended) + sum(
            len(tr.points) for _, tr in self._settled)

    def _evident(self, tr: Track) -> bool:
        """Whether a track's own measurements show an object rather than noise.

        The detector's threshold is low so that a faint object is followed through its
        weak frames; a *track* is reported only when its typical point is clearly above
        the noise both in the band-pass (median SNR) and at full resolution (median
        |contrast| over the local noise). Compression and texture noise that happens to
        line up for a few frames sits at ~2 and ~5 there; an SNR-5 object at ~5 and ~8.
        And it must have been measured on enough of the frames it spans: the tracker
        coasts up to ``max_coast_s`` between measurements, so noise that lines up now
        and then (faint cloud blobs, compression) makes a track measured on a third of
        its frames; an object is seen on most (repeats of a copied block count: the
        picture shows it there).
        """
        a = np.array(tr.points)
        span = a[-1, F] - a[0, F] + 1
        if len(a) < self.p.report_min_density * span:
            return False
        a = a[a[:, REP] < 0.5]
        cnr = np.abs(a[:, CON]) / np.maximum(a[:, NOI], 0.1)
        return (float(np.median(a[:, SNR])) >= self.p.report_min_snr
                and float(np.median(cnr)) >= self.p.report_min_cnr)

    def _comparable(self, common: int, n_a: int, n_b: int) -> bool:
        """Whether two pieces share enough points (``comove_min_share`` of the shorter, at least 3)
        for the co-moving comparison; pieces that share fewer are the bridge's to join."""
        return common >= max(3, self.p.comove_min_share * min(n_a, n_b))

    def _merge_comoving(self, pieces: list[tuple[int, Track]], join_short: bool = False) -> list[tuple[int, Track]]:
        """Join overlapping tracks of one run and segment that move together (canopy + payload).

        A canopy wider than its payload gives the band-pass several candidates (its two
        ends, the payload): tracks at a steady offset of up to ``comove_size_k`` object
        sizes. Steadiness is judged robustly (MAD of each axis of the offset) because
        the pieces flicker as the candidates merge and split from frame to frame.
        Two tracks on one object may also take turns (each coasts while the other has the
        candidate) and share almost no frame: they are compared where one lies between
        the other's points, and joined only within ``comove_turns_k`` object sizes.
        With ``join_short`` (the last pass, after bridging: until then a short piece may
        be what bridges two others), a piece shorter than ``comove_short_s``, too short
        to judge drift or scatter (nor will its descent be decided), joins an evident
        track at least that long on distance alone if it is evident itself (a canopy's
        end followed for half a second beside its payload's track). A track that jumps
        between the parts of one object (a canopy's two ends, its payload) is at an
        unsteady distance from another on it, but within reach on most frames (the
        ``comove_bounded_q`` quantile): if both are evident, it joins too.
        """
        p = self.p
        pieces = sorted(pieces, key=lambda st: -len(st[1].points))
        merged: list[tuple[int, Track]] = []
        arrays: list[np.ndarray] = []      # merged[k]'s points as an array (rebuilt when it grows)
        boxes: list[np.ndarray] = []       # ... its reference-px bounding box, and its median size
        sizes: list[float] = []

        def box(x: np.ndarray) -> np.ndarray:
            return np.r_[x[:, [RX, RY]].min(axis=0), x[:, [RX, RY]].max(axis=0)]

        for seg, tr in pieces:
            a = np.array(tr.points)
            a_box, a_size = box(a), float(np.median(a[:, SIZE]))
            short: bool | None = None   # (decided when first needed: _evident costs)
            host = None
            for k, (seg2, tr2) in enumerate(merged):
                if seg2 != seg or tr2.run != tr.run:
                    continue
                b = arrays[k]
                reach = max(p.comove_px, p.comove_size_k * max(a_size, sizes[k]))
                # exact shortcuts of the tests below: no frame in common, or every point of one
                # further than reach from every point of the other (then so is their median distance)
                if b[0, F] > a[-1, F] or a[0, F] > b[-1, F]:
                    continue
                gap = np.maximum(boxes[k][:2] - a_box[2:], a_box[:2] - boxes[k][2:])
                if float(np.hypot(*np.maximum(gap, 0.0))) > reach:
                    continue
                common, ia, ib = np.intersect1d(a[:, F], b[:, F], return_indices=True)
                bv = b[ib]
                if not self._comparable(len(common), len(a), len(b)):
                    # two tracks taking turns on one object (each coasts while the other takes the
                    # candidate) share few frames: compared where b has points either side, and
                    # joined only on top of each other (not at a canopy's offset: neighbours)
                    ia, bv = _at_times(b, a[:, T], p.comove_interp_s)
                    if not self._comparable(len(ia), len(a), len(b)):
                        continue
                    reach = p.comove_turns_k * max(a_size, sizes[k])
                dxy = bv[:, [RX, RY]] - a[ia][:, [RX, RY]]
                d = np.hypot(dxy[:, 0], dxy[:, 1])
                # steady offset: no relative drift over the common frames, and a small robust scatter
                # about that trend (two objects a few px apart part at their speed difference)
                # (of their distance: which end of a canopy is the candidate changes the offset's direction)
                tc = a[ia, T] - a[ia, T].mean()
                slope = float(tc @ (d - d.mean())) / max(float(tc @ tc), 1e-9)
                drift = abs(slope) * float(np.ptp(tc))
                res = d - d.mean() - slope * tc
                spread = 1.4826 * float(np.median(np.abs(res - np.median(res))))
                # a zoom changes where on a wide canopy the fixed-scale filter fires: the allowance grows
                # with the distance (comove_zoom_share of it)
                allow = max(p.comove_spread_px, p.comove_zoom_share * float(np.median(d)))
                if np.median(d) > reach:
                    continue
                if short is None:
                    short = join_short and a[-1, T] - a[0, T] < p.comove_short_s and self._evident(tr)
                steady = spread <= allow and drift <= max(allow, p.comove_rel_speed * float(np.ptp(tc)))
                # a track that jumps between the parts of one object (a canopy's two ends, its payload)
                # is at an unsteady distance from the other's, but within the object's reach on most frames
                # (both evident: noise pieces near each other would make one reportable track)
                steady = steady or (float(np.quantile(d, p.comove_bounded_q)) <= reach
                                    and self._evident(tr) and self._evident(tr2))
                # (a short piece beside a longer track on the same object, not one swallowed by a noise track)
                if steady or (short and b[-1, T] - b[0, T] >= p.comove_short_s and self._evident(tr2)):
                    host = tr2
                    # its points fill the host's missing frames: in the picture where they were
                    # measured (on the object, if on another part of it: moved by the pieces'
                    # median offset, 43 % of them had landed off it, where the host itself had
                    # strayed); in reference px moved by that offset (the joins and the fit
                    # compare positions of one part of the object)
                    off = np.median(dxy, axis=0)
                    have = set(b[:, F].astype(int))
                    for row in tr.points:
                        if int(row[F]) not in have:
                            row = list(row)
                            row[RX] += off[0]
                            row[RY] += off[1]
                            tr2.points.append(tuple(row))
                            tr2.borrowed.add(int(row[F]))
                    tr2.points.sort(key=lambda r: r[F])
                    arrays[k] = np.array(tr2.points)
                    boxes[k], sizes[k] = box(arrays[k]), float(np.median(arrays[k][:, SIZE]))
                    if tr.end_frame is not None and (tr2.end_frame is None or tr.end_frame > tr2.end_frame):
                        tr2.end_kind, tr2.end_frame = tr.end_kind, tr.end_frame
                    break
            if host is None:
                merged.append((seg, tr))
                arrays.append(a)
                boxes.append(a_box)
                sizes.append(a_size)
        return merged

    def _bridge(self, pieces: list[tuple[int, Track]]) -> list[tuple[int, Track]]:
        """Join a track that broke off with the one that was born where it was going.

        For every pair in one run and segment where piece B begins at most
        ``bridge_max_s`` after piece A's last point (or overlaps it by a few frames), A's
        last ``bridge_fit_s`` are fitted forward and B's first ``bridge_fit_s`` backward
        (constant acceleration when a side has enough points, else constant velocity) to
        the middle of the gap; they are one object when the two predictions agree within
        ``bridge_chi2`` (2-D Mahalanobis distance, covariance of both predictions plus
        the pieces' position sigma). Of the pairs within that gate, the most likely is
        joined first, repeatedly: the smallest Mahalanobis distance plus the log-determinant
        of its covariance (the Gaussian's negative log-likelihood), so that a short, noisy
        piece whose extrapolation is uncertain enough to agree with anything does not win
        over a long piece that agrees precisely.
        """
        p = self.p
        pieces = list(pieces)
        arrays: dict[int, np.ndarray] = {}     # id(track) -> its points as an array (rebuilt when it grows)
        scores: dict[tuple[int, int], tuple[float, float] | None] = {}
        ends: dict[tuple[int, str], Any] = {}   # (id(track), "tail"/"head") -> its end's extrapolation

        def arr(tr: Track) -> np.ndarray:
            if id(tr) not in arrays:
                arrays[id(tr)] = np.array(tr.points)
            return arrays[id(tr)]

        def end(tr: Track, side: str):
            if (id(tr), side) not in ends:
                a = arr(tr)
                part = a[a[:, T] >= a[-1, T] - p.bridge_fit_s] if side == "tail" else a[a[:, T] <= a[0, T] + p.bridge_fit_s]
                ends[(id(tr), side)] = _extrapolate(part)
            return ends[(id(tr), side)]

        def score(ta: Track, tb: Track) -> tuple[float, float] | None:
            """Mahalanobis distance of the two extrapolations and that plus the log-determinant of its
            covariance, or None when not a candidate pair."""
            key = (id(ta), id(tb))
            if key not in scores:
                a, b = arr(ta), arr(tb)
                scores[key] = None
                # a short overlap (the new piece was born before the old one was declared lost): too
                # short for _merge_comoving to compare them, so that no pair falls between the two
                if not self._comparable(len(np.intersect1d(a[:, F], b[:, F])), len(a), len(b)):
                    tm = 0.5 * (a[-1, T] + b[0, T])
                    fa, fb = end(ta, "tail"), end(tb, "head")
                    if fa is not None and fb is not None:
                        pa, pb = fa(tm), fb(tm)
                        d, var = pa[0] - pb[0], pa[1] + pb[1]
                        d2 = float(np.sum(d * d / var))
                        scores[key] = (d2, d2 + float(np.sum(np.log(var))))
            return scores[key]

        while True:
            # cheap gates first (same segment and run, B starts within the gap and ends later)
            first_t = np.array([arr(tr)[0, T] for _, tr in pieces])
            last_t = np.array([arr(tr)[-1, T] for _, tr in pieces])
            first_f = np.array([arr(tr)[0, F] for _, tr in pieces])
            last_f = np.array([arr(tr)[-1, F] for _, tr in pieces])
            group = [(sg, tr.run) for sg, tr in pieces]
            best = None
            for i in range(len(pieces)):
                if pieces[i][1].end_kind == "impact":
                    continue   # it hit the ground (a flash or dust where it vanished): nothing continues it
                js = np.flatnonzero((first_t - last_t[i] <= p.bridge_max_s) & (first_f > first_f[i])
                                    & (last_f > last_f[i]))
                for j in js:
                    if j == i or group[i] != group[j]:
                        continue
                    sc = score(pieces[i][1], pieces[j][1])
                    if sc is not None and sc[0] <= p.bridge_chi2 and (best is None or sc[1] < best[0]):
                        best = (sc[1], i, int(j))
            if best is None:
                return pieces
            _, i, j = best
            sa, ta = pieces[i]
            _, tb = pieces[j]
            have = {int(r[F]) for r in ta.points}
            ta.points = sorted(ta.points + [r for r in tb.points if int(r[F]) not in have], key=lambda r: r[F])
            ta.end_kind, ta.end_frame = tb.end_kind, tb.end_frame
            arrays.pop(id(ta), None)
            ends.pop((id(ta), "tail"), None)
            ends.pop((id(ta), "head"), None)
            scores = {k: v for k, v in scores.items() if id(ta) not in k and id(tb) not in k}
            pieces = [pc for k, pc in enumerate(pieces) if k != j]

    def _result(self, seg: int, tr: Track, scale_in: Scale | None) -> TrackResult:
        a = np.array(tr.points)
        # scene-relative positions in the first frame's pixels: reference -> first frame
        inv_first = np.linalg.inv(tr.first_to_ref)
        hom = np.c_[a[:, RX], a[:, RY], np.ones(len(a))] @ inv_first.T
        xy = hom[:, :2] / hom[:, 2:3]
        s_first = math.sqrt(abs(np.linalg.det(inv_first[:2, :2])))
        rel = a[:, REL] > 0.5
        registered = rel.sum() >= self.p.kinematics.min_points
        use = rel if registered else np.ones(len(a), bool)
        # points borrowed from a co-moving piece (a canopy's end: in reference px moved by the pieces'
        # offset) give the track its frames, but the offset drifts under zoom and fakes curvature: fit
        # the own points
        own = ~np.isin(a[:, F].astype(int), list(tr.borrowed)) if tr.borrowed else np.ones(len(a), bool)
        if (use & own).sum() >= self.p.kinematics.min_points:
            use = use & own
        fresh = a[:, REP] < 0.5   # a copied block is not a measurement (track.py)
        use &= fresh
        size = float(np.median(a[:, SIZE]))
        scale = scale_in.resolve(size) if scale_in is not None else None
        kin = analyse(a[use, T], xy[use], a[use, SIG] * s_first, a[use, RES], float(np.median(a[:, CON])),
                      float(a[:, PEAK].max()) if float(np.median(a[:, CON])) > 0 else 0.0, self.frame_size,
                      self.p.kinematics, scale, frame_xy=a[use][:, [X, Y]], texture=float(np.percentile(a[:, TEX], 25)),
                      background_noise=float(np.median(a[:, NOI])), isolation=float(np.median(a[:, ISO])),
                      still_share=float(np.mean(a[fresh, STILL])) if fresh.any() else 0.0)
        shown = float(np.mean(a[:, REP] > 0.5))
        if kin.kind in ("retarded", "free_fall") and shown > self.p.max_repeat_share:
            # the codec re-showed the object more often than it coded it afresh: its path is steps
            # between rare updates, and a fit through them is no trajectory
            kin.reason = (f"{shown:.0%} of its frames re-show an earlier frame's block (H.264): too few "
                          f"fresh positions to tell how it moves; fitted: {kin.reason}")
            kin.kind = "inconclusive"
        if not registered:
            # sky only: the camera's motion could not be measured on enough of these frames, so the
            # track's motion is camera and object together and says nothing about how it falls (a
            # hand-held camera makes a falling object's path in the picture look erratic). Only what
            # the picture alone shows stands: brightness (flare), a codec artefact, an aircraft's speed
            kin.reason = (f"camera motion unreliable on {int((~rel).sum())} of {len(a)} frames (sky only?): "
                          f"scene motion unknown; in the picture: {kin.reason}")
            if kin.object_kind in ("falling", "other", "sideways", "erratic"):
                kin.kind = "inconclusive"
            if kin.object_kind == "other" and kin.model is not None:   # (not: too short to fit)
                # no clear motion in the picture says nothing when the camera's is unknown: a camera
                # that follows a falling object against the sky holds it near one place
                kin.object_kind = "unresolved"
            # the fitted numbers describe the picture, not the scene: the reason keeps them, the
            # report's scene-motion fields (and scene positions) stay empty
            for name in ("vx_px_s", "vy_px_s", "vy_sigma", "ay_px_s2", "ay_sigma", "ay_model", "a_over_v",
                         "a_over_v_sigma", "release_s", "vy_m_s", "vy_m_s_sigma", "ay_m_s2", "ay_m_s2_sigma"):
                setattr(kin, name, None)
            use = np.zeros(len(a), bool)
        frames = a[:, F].astype(int)
        return TrackResult(
            id=tr.id, segment=seg, object_kind=kin.object_kind,
            points=[[int(f), float(x), float(y)] for f, x, y in a[:, [F, X, Y]]],
            descent=kin, size_px=size, contrast=float(np.median(a[:, CON])), snr=float(np.median(a[:, SNR])),
            noise=float(np.median(a[:, NOI])),
            start_frame=int(frames[0]), start_s=float(a[0, T]), end_kind=tr.end_kind or "lost",
            end_frame=int(frames[-1]), end_s=float(a[-1, T]), end_xy=(float(a[-1, X]), float(a[-1, Y])),
            end_ref_xy=(float(a[-1, RX]), float(a[-1, RY])), run=tr.run,
            gaps=int(frames[-1] - frames[0] + 1 - len(frames)),
            repeated_frames=[int(f) for f in frames[a[:, REP] > 0.5]], registered=bool(registered),
            scene_points=[[int(f), float(t), float(x), float(y), float(sg)] for f, t, (x, y), sg in
                          zip(frames[use], a[use, T], xy[use], a[use, SIG] * s_first)])


def _extrapolate(a: np.ndarray) -> Callable[[float], tuple[np.ndarray, np.ndarray]] | None:
    """From a short piece of track: its position (reference px) at a time ``t``, and its variance per axis.

    Constant acceleration from 8 points on, constant velocity from 3; the variance is
    the fit's (position sigma weighted) prediction variance plus the typical sigma.
    The fit is made once; the returned function evaluates it at any ``t``.
    """
    n = len(a)
    if n < 3:
        return None
    deg = 2 if n >= 8 else 1
    t0 = a[:, T].mean()
    tt = a[:, T] - t0
    A = np.vander(tt, deg + 1)
    w = 1.0 / np.maximum(a[:, SIG], 1e-3)
    cov = np.linalg.pinv((A * w[:, None]).T @ (A * w[:, None]))
    coefs, s2 = [], []
    for col in (RX, RY):
        coef = cov @ ((A * w[:, None]).T @ (a[:, col] * w))
        res = (a[:, col] - A @ coef) * w
        coefs.append(coef)
        s2.append(max(float(res @ res) / max(n - deg - 1, 1), 1.0))   # residual-scaled, never below the sigmas
    sig2 = float(np.median(a[:, SIG])) ** 2

    def at(t: float) -> tuple[np.ndarray, np.ndarray]:
        x = np.vander(np.array([t - t0]), deg + 1)[0]
        q = float(x @ cov @ x)
        return (np.array([float(x @ coefs[0]), float(x @ coefs[1])]),
                np.array([s2[0] * q + sig2, s2[1] * q + sig2]))
    return at


def _at_times(b: np.ndarray, t: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows of track array ``b`` at times ``t``: which of ``t`` it covers, and its rows there.

    Exact where ``b`` has a point at that time; linearly interpolated where its points on
    either side are at most ``max_gap_s`` apart; not covered otherwise.
    """
    tb = b[:, T]
    j = np.searchsorted(tb, t)
    hi = np.minimum(j, len(tb) - 1)
    lo = np.maximum(j - 1, 0)
    exact = tb[hi] == t
    inner = (j > 0) & (j < len(tb)) & (tb[hi] - tb[lo] <= max_gap_s)
    idx = np.flatnonzero(exact | inner)
    rows = np.empty((idx.size, b.shape[1]))
    for c in range(b.shape[1]):
        rows[:, c] = np.interp(t[idx], tb, b[:, c])
    return idx, rows


def _split(tr: Track, segments: list[tuple[int, int]]) -> list[tuple[int, Track]]:
    """The pieces of a track inside each segment; a piece that stops at a segment end ended at a cut."""
    out = []
    for si, (s, e) in enumerate(segments):
        pts = [p for p in tr.points if s <= p[F] < e]
        if not pts:
            continue
        if len(pts) == len(tr.points):
            return [(si, tr)]
        piece = Track(id=tr.id, run=tr.run, first_to_ref=tr.first_to_ref, points=pts, confirmed=True,
                      end_kind="cut" if pts[-1] is not tr.points[-1] else tr.end_kind, end_frame=int(pts[-1][F]))
        out.append((si, piece))
    return out


def spread(results: list[TrackResult]) -> dict[str, Any]:
    """How several descending objects of one clip are spread in time and place.

    Positions are where each track ended, in its run's reference pixels, so they
    are comparable only within one run (and are grouped by run).
    """
    desc = [r for r in results if r.descent.kind in ("retarded", "free_fall")]
    out: dict[str, Any] = {"descending": len(desc), "runs": {}}
    by_run: dict[int, list[TrackResult]] = {}
    for r in desc:
        by_run.setdefault(r.run, []).append(r)
    for run, rs in sorted(by_run.items()):
        ends = np.array([r.end_s for r in rs])
        xy = np.array([r.end_ref_xy for r in rs])
        out["runs"][run] = {"count": len(rs), "first_end_s": round(float(ends.min()), 6),
                            "last_end_s": round(float(ends.max()), 6),
                            "end_span_s": round(float(np.ptp(ends)), 6),
                            "end_spread_px": round(float(np.max(np.ptp(xy, axis=0))), 3) if len(rs) > 1 else 0.0}
    return out
