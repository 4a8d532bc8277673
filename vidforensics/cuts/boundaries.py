"""Where one shot ends and the next begins: hard cuts, jump cuts, dissolves, fades.

The detector sees every frame once (``process``) and returns its boundaries at
the end (``finish``), like a PySceneDetect detector. It works on the small
analysis images the decoder always provides and keeps only a bounded window of
them, so memory does not grow with the clip.

Signals, per frame ``j`` against ``j-1``:

* ``structure``: mean absolute difference of brightness-normalised luma after
  compensating the global translation found by phase correlation. A pan or a
  shake leaves it near the noise floor; a new shot drives it up. Normalising
  brightness keeps flashes and fades from looking like new shots.
* ``chroma``: mean absolute Cb/Cr difference (a cut between similar-looking
  grey scenes often still changes colour).
* ``shift``: the phase-correlation translation; a jump inside a steady pan
  shows as one shift that its neighbours do not continue.
* ``timestamp_gap`` and ``keyframe``: container evidence that frames were
  removed (a gap in presentation times) or that the encoder started a new
  GOP out of rhythm. Supporting signals only: VFR phones and scene-cut
  key frames make them unreliable alone.

A candidate is confirmed or rejected by registering the frames around it
(ORB features + RANSAC similarity on a medium-size luma): if the new frame is the
old scene seen through the expected camera motion, it is no boundary (fast
pan, explosion, smoke); if it is the same scene through an unexpected zoom or
shift, it is a ``jump_cut``; if nothing registers, it is a ``cut``. A candidate
whose disruption vanishes within a few frames (the scene comes back) is a flash.

Gradual transitions are found on a longer window: a fade is a monotonic ramp
of brightness and contrast to or from a black run; a dissolve is a run of
frames that are each a linear blend of the frames on either side while those
two are structurally different.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from vidforensics.io.decode import Frame
from vidforensics.report.schema import Boundary


class CutParams(BaseModel):
    """Cut-stage parameters; the values live in ``pipelines/*.toml`` ``[cuts]``."""

    model_config = ConfigDict(extra="forbid")

    flat_std: float
    structure_min: float
    structure_ratio: float
    chroma_min: float
    chroma_ratio: float
    context_frames: int
    noise_floor: float
    flash_window: int
    flash_return_ratio: float
    shift_jump_px: float
    shift_jump_ratio: float
    register_width: int
    orb_features: int
    orb_features_retry: int
    same_scene_overlap: float
    min_inliers: int
    min_inlier_ratio: float
    match_ratio: float
    min_inlier_spread: float
    zoom_jump_ratio: float
    shift_jump_frac: float
    timestamp_gap_factor: float
    different_scene_overlap: float
    jump_zoom_search: float
    jump_zoom_steps: int
    jump_min_reframed: float
    black_mean: float
    black_std: float
    fade_step: float
    fade_min_frames: int
    dissolve_spans: list[int]
    dissolve_min_diff: float
    dissolve_max_ncc: float
    dissolve_max_residual: float
    dissolve_max_residual_fine: float
    dissolve_max_ncc_lowres: float
    dissolve_max_residual_alike: float
    dissolve_grid: int
    dissolve_zoom_search: float
    dissolve_highpass_sigma: float
    dissolve_zoom_steps: int
    dissolve_min_changed_cells: float
    dissolve_max_alpha_spread: float
    dissolve_alpha_eps: float
    dissolve_min_frames: int
    dissolve_check_every: int
    dissolve_max_frames: int
    min_segment_frames: int


@dataclass(slots=True)
class _Stats:
    """What the detector keeps of one frame (small arrays only)."""

    index: int
    time_s: float
    key_frame: bool
    y: np.ndarray            # float32 small luma
    z: np.ndarray            # brightness-normalised small luma
    c: np.ndarray            # uint8 small chroma (h, w, 2)
    mean: float
    std: float
    black: bool = False
    shift: tuple[float, float] = (0.0, 0.0)
    response: float = 0.0
    structure: float = 0.0
    chroma: float = 0.0
    half: np.ndarray | None = None   # half-size luma
    half_w: np.ndarray | None = None  # ... with a Hann window, for phase correlation
    tiny: np.ndarray | None = None   # quarter-size luma for the blend tests
    tiny_z: np.ndarray | None = None
    frame: Frame | None = None
    medium: np.ndarray | None = None
    features: tuple | None = None    # ORB keypoints and descriptors of ``medium``


@dataclass
class _Registration:
    ok: bool
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    inliers: int = 0
    inlier_ratio: float = 0.0
    spread: float = 0.0


@dataclass
class CutDetector:
    """Streaming boundary detector. Feed every frame to ``process``; call ``finish``.

    Parameters
    ----------
    params : CutParams
    """

    params: CutParams
    _window: deque = field(default_factory=deque)
    _times: list = field(default_factory=list)
    _keyframes: list = field(default_factory=list)
    _cuts: list = field(default_factory=list)
    _gradual: list = field(default_factory=list)
    _hann: np.ndarray | None = None
    _orbs: dict = field(default_factory=dict)
    _decided_cut: int = 0
    _decided_gradual: int = 0
    _last_dissolve_end: int = -1
    _transient_until: int = -1
    _hann_full: np.ndarray | None = None

    def __post_init__(self) -> None:
        p = self.params
        self._cut_delay = max(p.context_frames, p.flash_window) + 1
        self._grad_delay = max(max(p.dissolve_spans), p.dissolve_max_frames // 2) + 2
        self._keep = self._grad_delay + max(p.dissolve_max_frames, 2 * p.context_frames) + 4
        self._frame_keep = self._cut_delay + 4

    # ---------------------------------------------------------------- per frame
    def process(self, frame: Frame) -> None:
        p = self.params
        y = frame.luma_small.astype(np.float32)
        m, sd = cv2.meanStdDev(y)  # cv2 reductions: several times faster than numpy's on small images
        mean, std = float(m[0, 0]), float(sd[0, 0])
        z = (y - mean) * (1.0 / std) if std > p.flat_std else np.zeros_like(y)
        s = _Stats(frame.index, frame.time_s, frame.key_frame, y, z,
                   frame.chroma_small, mean, std, frame=frame,
                   black=mean <= p.black_mean and std <= p.black_std)
        # dissolve tests run on every frame at several spans: a quarter-size picture
        # keeps them ~16x cheaper and loses nothing a blend test needs
        # multiples of 8: cv2.phaseCorrelate is biased by up to a pixel on odd sizes
        # and on sizes it must pad for its FFT
        s.half = cv2.resize(y, (max(16, y.shape[1] // 16 * 8), max(8, y.shape[0] // 16 * 8)),
                            interpolation=cv2.INTER_AREA)
        s.tiny = cv2.resize(s.half, (max(8, y.shape[1] // 4), max(4, y.shape[0] // 4)), interpolation=cv2.INTER_AREA)
        if self._hann is None:
            self._hann = cv2.createHanningWindow((s.half.shape[1], s.half.shape[0]), cv2.CV_32F)
        # windowed once here: cv2.phaseCorrelate(a, b, window) multiplies the window
        # into its inputs in place (OpenCV 5.0), which would corrupt our images
        s.half_w = s.half * self._hann
        tm, tsd = cv2.meanStdDev(s.tiny)
        s.tiny_z = (s.tiny - float(tm[0, 0])) * (1.0 / max(float(tsd[0, 0]), p.flat_std))
        if self._window:
            prev = self._window[-1]
            (dx, dy), resp = self._phase_shift(prev, s)
            s.shift, s.response = (dx, dy), resp
            s.structure = _shifted_mad(prev.z, z, dx, dy)
            s.chroma = cv2.norm(s.c, prev.c, cv2.NORM_L1) / s.c.size
        self._window.append(s)
        self._times.append(frame.time_s)
        if frame.key_frame:
            self._keyframes.append(frame.index)
        # drop full frames we no longer need (keeps memory flat at any resolution)
        if len(self._window) > self._frame_keep:
            old = self._window[-self._frame_keep - 1]
            old.frame = old.medium = old.features = None
        while len(self._window) > self._keep:
            self._window.popleft()
        self._decide(final=False)

    def finish(self) -> list[Boundary]:
        """Decide the frames still pending and return all boundaries, in order."""
        self._decide(final=True)
        return self._merge()

    def final_boundaries(self) -> tuple[list[int], float]:
        """The boundary frames that can no longer change, and the frame before which that holds.

        Returns ``(frames, final_before)``: ``finish()`` will report exactly these
        boundaries below ``final_before`` and no other. Decisions still pending can only
        add or remove boundaries at frames still in the detector's window (a fade's
        ramp is traced back through it; a gradual transition removes the cuts inside
        it), or remove a dissolve that overlaps them; and merging boundaries closer than
        ``min_segment_frames`` chains back from there. Other stages use this to finish
        their own per-segment work during the pass instead of holding it to the end.
        """
        if not self._window:
            return [], 0
        p = self.params
        lo = min(self._window[0].index, self._decided_cut) - 1
        lo = min([lo] + [g[1] for g in self._gradual if g[0] == "dissolve" and g[2] >= lo])
        raw = sorted([c[1] for c in self._cuts] + [g[1] for g in self._gradual])
        final_before = lo
        while any(final_before - p.min_segment_frames <= f < final_before for f in raw):
            final_before = min(f for f in raw if final_before - p.min_segment_frames <= f < final_before)
        return [b.frame for b in self._merge() if b.frame < final_before], final_before

    # ---------------------------------------------------------------- decisions
    def _get(self, index: int) -> _Stats | None:
        first = self._window[0].index if self._window else 0
        k = index - first
        return self._window[k] if 0 <= k < len(self._window) else None

    def _decide(self, final: bool) -> None:
        if not self._window:
            return
        last = self._window[-1].index
        cut_until = last + 1 if final else last - self._cut_delay + 1
        while self._decided_cut < cut_until:
            self._check_cut(self._decided_cut, last)
            self._decided_cut += 1
        grad_until = last + 1 if final else last - self._grad_delay + 1
        while self._decided_gradual < grad_until:
            self._check_gradual(self._decided_gradual, last)
            self._decided_gradual += 1

    def _neighbours(self, j: int, last: int) -> list[_Stats]:
        """The frames around ``j`` (not ``j``) that have a predecessor: the local baseline."""
        p = self.params
        first = self._window[0].index
        lo, hi = max(1, j - p.context_frames, first), min(last, j + p.context_frames)
        return [self._window[k - first] for k in range(lo, hi + 1) if k != j]

    def _check_cut(self, j: int, last: int) -> None:
        """Is frame ``j`` the first frame of a new shot (cut or jump cut)?"""
        p = self.params
        if j == 0:
            return
        s = self._get(j)
        if s is None:
            return
        signals: list[str] = []
        meas: dict[str, float] = {"structure": round(s.structure, 4), "chroma": round(s.chroma, 3)}
        nbs = self._neighbours(j, last)
        base = _median([n.structure for n in nbs])
        ratio = s.structure / max(base, p.noise_floor)
        meas["structure_ratio"] = round(ratio, 3)
        cbase = _median([n.chroma for n in nbs])
        cratio = s.chroma / max(cbase, p.noise_floor * 10)
        if s.structure >= p.structure_min and ratio >= p.structure_ratio:
            signals.append("structure")
        if s.chroma >= p.chroma_min and cratio >= p.chroma_ratio:
            signals.append("chroma")
        shift_dev = self._shift_deviation(j, last)
        meas["shift_deviation_px"] = round(shift_dev[0], 3)
        if shift_dev[0] >= p.shift_jump_px and shift_dev[0] >= p.shift_jump_ratio * max(shift_dev[1], 0.25):
            signals.append("motion_discontinuity")
        if not signals:
            return
        gap = self._timestamp_gap(j)
        if gap:
            signals.append("timestamp_gap")
            meas["timestamp_gap_s"] = round(gap, 6)
        if s.key_frame and not self._keyframe_on_rhythm(j):
            signals.append("keyframe_off_rhythm")
        if j <= self._transient_until:
            return  # inside a flash already recognised: its frames are not new shots
        # transient disruption (flash, a corrupt frame): the old view comes back
        back = self._returns(j, last, shift_dev[2])
        if back is not None:
            self._transient_until = back
            return
        prev = self._get(j - 1)
        overlap = _histogram_overlap(prev, s)
        meas["histogram_overlap"] = round(overlap, 3)
        if "structure" in signals and overlap < p.different_scene_overlap:
            # the brightness and colour distributions have little in common: another
            # scene, not the same place re-framed; the ORB registration (the costliest
            # step, ~15 ms) cannot change the verdict
            self._add_cut(j, s, ratio, signals + ["colour_distribution"], meas)
            return
        # a cheap look for the old view in the new frame under any zoom (~1.5 ms) before
        # the ORB registration (5-20 ms): most new shots show nothing of the old view
        reframed, _ = self._reframed_ncc(prev, s, p.jump_zoom_search, p.jump_zoom_steps, detail=False)
        meas["reframed_correlation"] = round(reframed, 3)
        if "structure" in signals and reframed < p.jump_min_reframed:
            self._add_cut(j, s, ratio, signals + ["no_shared_view"], meas)
            return
        reg = self._register(prev, s)
        if reg is not None and not reg.ok and overlap >= p.same_scene_overlap:
            # same palette but no geometric match: under a strong zoom the shared region
            # is a small part of the wider view and holds few of its features; try again
            # with many more (costly, and rare)
            reg = self._register(prev, s, dense=True)
        if reg is not None and reg.ok:
            # the camera's steady motion, from the phase correlation of the frame pair
            # before: a second ORB registration would double the cost of every candidate
            width = prev.medium.shape[1]
            k = width / prev.y.shape[1]
            t_shift = (shift_dev[2][0] * k, shift_dev[2][1] * k)
            zoom = reg.scale
            dshift = math.hypot(reg.shift[0] - t_shift[0], reg.shift[1] - t_shift[1]) / width
            meas.update(zoom_jump=round(zoom, 4), shift_jump_frac=round(dshift, 4),
                        inliers=float(reg.inliers), inlier_ratio=round(reg.inlier_ratio, 3),
                        inlier_spread=round(reg.spread, 3))
            zoom_jump = max(zoom, 1 / zoom) >= p.zoom_jump_ratio
            shift_jump = dshift >= p.shift_jump_frac
            if not (zoom_jump or shift_jump):
                return  # same view under the expected camera motion: not a boundary
            signals.append("zoom_jump" if zoom_jump else "pan_jump")
            strength = max(math.log(max(zoom, 1 / zoom)) / math.log(p.zoom_jump_ratio),
                           dshift / p.shift_jump_frac)
            score = 1.0 - math.exp(-strength)
            self._cuts.append(("jump_cut", j, score, signals, meas))
            return
        if "structure" not in signals:
            # a colour change alone (a grade, a background tint) or a shift anomaly we
            # could not confirm geometrically: the picture's structure continues
            return
        meas["registered"] = 0.0
        self._add_cut(j, s, ratio, signals, meas)

    def _add_cut(self, j: int, s: _Stats, ratio: float, signals: list[str], meas: dict) -> None:
        """Record a hard cut at ``j``; its score grows with how far the change exceeds both thresholds."""
        p = self.params
        strength = max(ratio / p.structure_ratio, s.structure / p.structure_min)
        self._cuts.append(("cut", j, 1.0 - math.exp(-strength), signals, meas))

    def _phase_shift(self, a: _Stats, b: _Stats) -> tuple[tuple[float, float], float]:
        """Global translation a -> b in analysis pixels, and the correlation peak.

        Computed at half size: a quarter of the FFT work, and sub-pixel peak
        interpolation keeps the precision far below the jump thresholds.
        """
        (dx, dy), resp = cv2.phaseCorrelate(a.half_w, b.half_w)
        return (dx * a.y.shape[1] / a.half.shape[1], dy * a.y.shape[0] / a.half.shape[0]), resp

    def _shift_deviation(self, j: int, last: int) -> tuple[float, float, tuple[float, float]]:
        """How far shift[j] departs from its neighbours' trend, their spread, and the trend.

        The trend is the median shift of the neighbours that are not themselves
        disrupted, so a flash frame next to ``j`` cannot fake a camera motion.
        """
        p = self.params
        s = self._get(j)
        nb = self._neighbours(j, last)
        # neighbours that are themselves disrupted (another cut, a flash) do not
        # show the camera's motion; "disrupted" is relative, noisy footage has a high floor
        calm = p.structure_ratio * _median([n.structure for n in nb])
        nb = [n for n in nb if n.structure < max(p.structure_min, calm)]
        if len(nb) < 2:
            return 0.0, 0.0, (0.0, 0.0)
        med = (_median([n.shift[0] for n in nb]), _median([n.shift[1] for n in nb]))
        spread = _median([math.hypot(n.shift[0] - med[0], n.shift[1] - med[1]) for n in nb])
        dev = math.hypot(s.shift[0] - med[0], s.shift[1] - med[1])
        if dev >= p.shift_jump_px:
            # a whip pan's speed changes faster than the window's median follows: before
            # calling j a jump, ask the camera's smooth motion through its neighbours too;
            # whichever explains the shift better is the trend (on shake the quadratic
            # overshoots, on a sweep the median lags)
            smooth = _smooth_motion_at(j, nb)
            if smooth is not None:
                dev_smooth = math.hypot(s.shift[0] - smooth[0], s.shift[1] - smooth[1])
                if dev_smooth < dev:
                    med, dev = smooth, dev_smooth
        return dev, spread, med

    def _timestamp_gap(self, j: int) -> float:
        p = self.params
        t = self._times
        lo = max(1, j - 2 * p.context_frames)
        iv = [t[k] - t[k - 1] for k in range(lo, min(len(t), j + p.context_frames)) if k != j]
        iv = [v for v in iv if v > 0 and math.isfinite(v)]
        if not iv or j >= len(t):
            return 0.0
        d = t[j] - t[j - 1]
        med = float(np.median(iv))
        return d if d > p.timestamp_gap_factor * med else 0.0

    def _keyframe_on_rhythm(self, j: int) -> bool:
        ks = [k for k in self._keyframes if k < j]
        if len(ks) < 3:
            return True
        gops = np.diff(ks)
        g = int(np.median(gops))
        return g > 0 and (j - ks[-1]) % g == 0

    def _returns(self, j: int, last: int, trend: tuple[float, float]) -> int | None:
        """The frame shortly after ``j`` that shows ``j-1``'s view again (a flash), or None.

        "Again" means where the camera's steady motion ``trend`` (px/frame) puts it: a
        jump leaves the old view displaced, so a shift-compensated match is not enough.
        """
        p = self.params
        prev, s = self._get(j - 1), self._get(j)
        for k in range(j + 1, min(j + p.flash_window, last) + 1):
            f = self._get(k)
            if f is None:
                break
            (dx, dy), _ = self._phase_shift(prev, f)
            steps = k - j + 1
            if math.hypot(dx - trend[0] * steps, dy - trend[1] * steps) > p.shift_jump_px:
                continue
            back = _shifted_mad(prev.z, f.z, dx, dy)
            if back <= p.flash_return_ratio * s.structure and back < p.structure_min:
                return k
        return None

    def _medium(self, s: _Stats) -> np.ndarray | None:
        if s.medium is None and s.frame is not None:
            y = s.frame.luma()
            w = min(self.params.register_width, y.shape[1])
            h = max(16, int(round(y.shape[0] * w / y.shape[1])))
            s.medium = cv2.resize(y, (w, h), interpolation=cv2.INTER_AREA)
        return s.medium

    def _features(self, s: _Stats, dense: bool = False) -> tuple:
        """ORB keypoints and descriptors of a frame's medium luma (``dense``: many more)."""
        key = "dense" if dense else "normal"
        if s.features is None or s.features[0] != key:
            n = self.params.orb_features_retry if dense else self.params.orb_features
            orb = self._orbs.get(key) or self._orbs.setdefault(key, cv2.ORB_create(nfeatures=n, fastThreshold=10))
            s.features = (key, *orb.detectAndCompute(s.medium, None))
        return s.features[1:]

    def _register(self, a: _Stats | None, b: _Stats | None, dense: bool = False) -> _Registration | None:
        """Similarity transform a -> b from ORB matches (None if no pictures)."""
        if a is None or b is None:
            return None
        ma, mb = self._medium(a), self._medium(b)
        if ma is None or mb is None:
            return None
        p = self.params
        ka, da = self._features(a, dense)
        kb, db = self._features(b, dense)
        if da is None or db is None or len(ka) < p.min_inliers or len(kb) < p.min_inliers:
            return _Registration(ok=False)
        # Lowe's ratio test rather than cross-checking: under a 2x zoom most features of
        # the wider view have no partner, and the ratio test keeps the true ones
        pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
        matches = [m[0] for m in pairs if len(m) == 2 and m[0].distance < p.match_ratio * m[1].distance]
        if len(matches) < p.min_inliers:
            return _Registration(ok=False, inliers=len(matches))
        src = np.float32([ka[m.queryIdx].pt for m in matches])
        dst = np.float32([kb[m.trainIdx].pt for m in matches])
        M, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0,
                                             maxIters=2000, confidence=0.995, refineIters=10)
        if M is None or inl is None:
            return _Registration(ok=False)
        keep = inl.ravel().astype(bool)
        n = int(keep.sum())
        ratio = n / len(matches)
        # inliers bunched in one corner are a logo or a caption, not the view
        spread = max(_hull_fraction(src[keep], ma.shape), _hull_fraction(dst[keep], mb.shape)) if n >= 3 else 0.0
        scale = float(math.hypot(M[0, 0], M[1, 0]))
        # the shift of the image centre, so a pure zoom about the centre reads as no shift
        cx, cy = ma.shape[1] / 2, ma.shape[0] / 2
        sx = M[0, 0] * cx + M[0, 1] * cy + M[0, 2] - cx
        sy = M[1, 0] * cx + M[1, 1] * cy + M[1, 2] - cy
        ok = n >= p.min_inliers and ratio >= p.min_inlier_ratio and spread >= p.min_inlier_spread
        return _Registration(ok=ok, scale=scale, shift=(float(sx), float(sy)), inliers=n, inlier_ratio=ratio,
                             spread=spread)

    # ---------------------------------------------------------------- gradual
    def _is_black(self, s: _Stats) -> bool:
        return s.black

    def _energy(self, k: int) -> float | None:
        s = self._get(k)
        return None if s is None else s.mean + s.std

    def _check_gradual(self, j: int, last: int) -> None:
        p = self.params
        s = self._get(j)
        if s is None:
            return
        prev = self._get(j - 1)
        # fade out: j is the first black frame after non-black ones
        if prev is not None and self._is_black(s) and not self._is_black(prev):
            k = j
            while self._get(k - 1) is not None and self._energy(k - 1) - self._energy(k) > p.fade_step:
                k -= 1
            first = k + 1  # k is the last frame of the plateau before the ramp
            end = j
            while self._get(end + 1) is not None and self._energy(end) - self._energy(end + 1) > p.fade_step:
                end += 1   # the ramp goes on below the black threshold: it ends on the plateau
            if end - first + 1 >= p.fade_min_frames:
                self._gradual.append(("fade", first, end, 1.0 - math.exp(-(end - first + 1) / p.fade_min_frames),
                                      ["fade_out_to_black"], {"frames": float(end - first + 1)}))
            return
        # fade in: j is the last black frame before non-black ones
        nxt = self._get(j + 1)
        if nxt is not None and self._is_black(s) and not self._is_black(nxt):
            k = j
            while self._get(k + 1) is not None and self._energy(k + 1) - self._energy(k) > p.fade_step:
                k += 1
            end = k
            b = end
            while self._get(b - 1) is not None and self._energy(b) - self._energy(b - 1) > p.fade_step:
                b -= 1
            first = b + 1 if b < end else j + 1
            if end - first + 1 >= p.fade_min_frames:
                self._gradual.append(("fade", first, end, 1.0 - math.exp(-(end - first + 1) / p.fade_min_frames),
                                      ["fade_in_from_black"], {"frames": float(end - first + 1)}))
            return
        if j <= self._last_dissolve_end or j % p.dissolve_check_every:
            return  # a dissolve spans several frames: testing every few finds it all the same
        hit = self._dissolve_at(j, last)
        if hit is not None:
            self._gradual.append(hit)
            self._last_dissolve_end = hit[2]

    @staticmethod
    def _blend(a: np.ndarray, f: np.ndarray, b: np.ndarray, az: np.ndarray,
               bz: np.ndarray) -> tuple[float, float, float, float]:
        """Fit f ~ a + alpha (b - a); return alpha, residual/diff, diff, ncc(a, b)."""
        n = a.size
        diff = cv2.norm(b, a, cv2.NORM_L1) / n
        if diff <= 1e-6:
            return 0.0, 1.0, 0.0, 1.0
        d = (b - a).ravel()
        alpha = float(np.dot((f - a).ravel(), d) / np.dot(d, d))
        resid = cv2.norm(f - a - alpha * (b - a), cv2.NORM_L1) / n / diff
        ncc = float(np.dot(az.ravel(), bz.ravel())) / n
        return alpha, resid, diff, ncc

    def _cell_blend(self, a: np.ndarray, f: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        """Share of grid cells whose two ends are different pictures, and the spread of their blend shares.

        A dissolve replaces the picture everywhere at one pace. Smoke, a blast's glow
        or a moving object change part of it, and where they do not reach, the ends
        are still the same picture (high correlation) however much brighter.
        """
        p = self.params
        g = p.dissolve_grid
        h, w = a.shape
        alphas, different = [], 0
        for r in range(g):
            for c in range(g):
                sl = (slice(r * h // g, (r + 1) * h // g), slice(c * w // g, (c + 1) * w // g))
                ac, bc = a[sl].ravel(), b[sl].ravel()
                d = bc - ac
                if float(np.abs(d).mean()) < 0.5 * p.dissolve_min_diff:
                    continue
                az, bz = ac - ac.mean(), bc - bc.mean()
                den = float(np.sqrt(np.dot(az, az) * np.dot(bz, bz)))
                if den > 0 and float(np.dot(az, bz)) / den > p.dissolve_max_ncc:
                    continue
                different += 1
                alphas.append(float(np.dot(f[sl].ravel() - ac, d) / np.dot(d, d)))
        if not alphas:
            return 0.0, 1.0
        return different / (g * g), float(np.std(alphas))

    def _reframed_ncc(self, a: _Stats, b: _Stats, zoom_max: float, steps: int,
                      detail: bool = True) -> tuple[float, float]:
        """How much ``b`` is still ``a``'s picture once re-framed: the best correlations
        over zoom factors in [1/zoom_max, zoom_max], each with its phase-correlation shift.

        Two correlations: at low resolution, where a zoom's residual misalignment
        does not matter, so a re-framed view still correlates; and (``detail``) in
        high-pass detail, where a smooth veil of smoke or a blast's glow does not
        matter, so the old edges still correlate under it. A different picture
        decorrelates both. Returns (low-resolution, detail); detail is -1 if skipped.
        """
        p = self.params
        h, w = a.y.shape
        win = self._hann_full
        if win is None or win.shape != a.y.shape:
            win = self._hann_full = cv2.createHanningWindow((w, h), cv2.CV_32F)
        hb = _standardise(b.y - cv2.GaussianBlur(b.y, (0, 0), p.dissolve_highpass_sigma)) if detail else None
        lb = _standardise(b.tiny)
        k = b.tiny.shape[1] / w
        best_lp = best_hp = -1.0
        bw = b.y * win
        for z in np.geomspace(1 / zoom_max, zoom_max, steps):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, float(z))
            warped = cv2.warpAffine(a.y, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            (dx, dy), _ = cv2.phaseCorrelate(warped * win, bw)
            la = _standardise(cv2.resize(warped, (b.tiny.shape[1], b.tiny.shape[0]), interpolation=cv2.INTER_AREA))
            best_lp = max(best_lp, _shifted_ncc(la, lb, dx * k, dy * k))
            if detail:
                ha = _standardise(warped - cv2.GaussianBlur(warped, (0, 0), p.dissolve_highpass_sigma))
                best_hp = max(best_hp, _shifted_ncc(ha, hb, dx, dy))
        return best_lp, best_hp

    def _dissolve_at(self, j: int, last: int):
        p = self.params
        f = self._get(j)
        for span in p.dissolve_spans:
            a, b = self._get(j - span), self._get(j + span)
            if a is None or b is None or min(a.std, b.std) <= p.flat_std * 4:
                continue  # a blend with a flat picture is a fade, not a dissolve
            if cv2.norm(b.tiny, a.tiny, cv2.NORM_L1) < p.dissolve_min_diff * a.tiny.size:
                continue  # the two ends hardly differ: nothing can be dissolving here
            alpha, resid, diff, ncc = self._blend(a.tiny, f.tiny, b.tiny, a.tiny_z, b.tiny_z)
            if not (diff >= p.dissolve_min_diff and ncc <= p.dissolve_max_ncc
                    and resid <= p.dissolve_max_residual and 0.3 <= alpha <= 0.7):
                continue
            if any(self._get(k).black for k in range(j - span, j + span + 1)):
                continue  # passing through black is a fade out and in, not a dissolve
            # a dissolve changes the whole picture at one pace; smoke, an explosion or a
            # moving object change part of it
            changed, alpha_spread = self._cell_blend(a.y, f.y, b.y)
            if changed < p.dissolve_min_changed_cells or alpha_spread > p.dissolve_max_alpha_spread:
                continue
            # the ends must stay different pictures once the camera's motion is undone
            # (a pan or a slow zoom decorrelates its ends too, but they re-align);
            # at quarter size, so a zoom's residual misalignment does not count
            lp, hp = self._reframed_ncc(a, b, p.dissolve_zoom_search, p.dissolve_zoom_steps)
            ncc = max(lp, hp)
            if hp > p.dissolve_max_ncc or lp > p.dissolve_max_ncc_lowres:
                continue
            # confirm at analysis size, at the midpoint and both quarter points
            quarter = max(1, span // 2)
            fine = [self._blend(a.y, self._get(k).y, b.y, a.z, b.z) for k in (j - quarter, j, j + quarter)]
            worst = max(r for _, r, _, _ in fine)
            if worst > p.dissolve_max_residual_fine:
                continue
            if lp > p.dissolve_max_ncc and worst > p.dissolve_max_residual_alike:
                continue  # ends alike at low resolution and a loose blend: moving camera, not a dissolve
            resid = fine[1][1]
            # no hard cut inside (cut decisions run ahead of this one)
            if any(j - span < c[1] <= j + span for c in self._cuts):
                continue
            first, end = self._dissolve_extent(j)
            if end - first + 1 < p.dissolve_min_frames:
                continue
            score = 1.0 - math.exp(-(1.0 - resid / p.dissolve_max_residual_fine) * 3)
            return ("dissolve", first, end, score, ["blend"],
                    {"residual": round(resid, 4), "alpha_mid": round(alpha, 3), "ncc_ends": round(ncc, 3)})
        return None

    def _dissolve_extent(self, j: int) -> tuple[int, int]:
        """First and last frame of the dissolve around ``j``.

        Each frame's step toward the new picture is its change projected on the
        direction from the old picture to the new one. Inside a dissolve the steps
        are steady and positive; outside they scatter around zero (camera motion
        moves the picture, not toward the other shot). The dissolve is the run of
        frames around ``j`` that best fits a constant step (a matched filter: the
        largest squared sum over the square root of the length), from the first
        mixed frame to the first frame fully showing the new shot.
        """
        p = self.params
        reach = p.dissolve_max_frames // 2
        # the window stops at hard cuts on either side: they belong to other shots
        cuts = [c[1] for c in self._cuts]
        lo = max([j - reach, self._last_dissolve_end + 1] + [c for c in cuts if c <= j])
        while self._get(lo) is None:
            lo += 1
        hi = min([j + reach] + [c - 1 for c in cuts if c > j])
        while self._get(hi) is None:
            hi -= 1
        a, b = self._get(lo), self._get(hi)
        d = (b.tiny - a.tiny).ravel()
        dd = float(np.dot(d, d)) or 1.0
        proj = np.array([float(np.dot(self._get(k).tiny.ravel(), d)) / dd for k in range(lo, hi + 1)])
        steps = np.diff(proj)             # steps[i]: change from frame lo+i to lo+i+1
        csum = np.concatenate([[0.0], np.cumsum(steps)])
        best, first, last = -math.inf, j, j
        for s_ in range(0, j - lo + 1):          # mixed frames start at lo + s_ + 1 ...
            for e in range(max(s_ + 1, j - lo), len(steps) + 1):   # ... and end at lo + e
                total = csum[e] - csum[s_]
                score = total * abs(total) / (e - s_)
                if score > best:
                    best, first, last = score, lo + s_ + 1, lo + e
        return first, last

    # ---------------------------------------------------------------- output
    def _merge(self) -> list[Boundary]:
        p = self.params
        out: list[Boundary] = []
        # a fade is the more specific reading of a blend that touches black
        fades = [g for g in self._gradual if g[0] == "fade"]
        grads = sorted((g for g in self._gradual
                        if g[0] == "fade" or not any(f[1] <= g[2] and g[1] <= f[2] for f in fades)),
                       key=lambda g: g[1])
        for kind, first, end, score, signals, meas in grads:
            out.append(Boundary(kind=kind, frame=first, time_s=self._time(first), score=round(score, 4),
                                signals=signals, first_frame=first, last_frame=end, measurements=meas))
        for kind, j, score, signals, meas in self._cuts:
            if any(g.first_frame - 1 <= j <= g.last_frame + 1 for g in out if g.kind in ("fade", "dissolve")):
                continue  # a gradual transition's own steps
            out.append(Boundary(kind=kind, frame=j, time_s=self._time(j), score=round(score, 4),
                                signals=signals, measurements=meas))
        out.sort(key=lambda b: b.frame)
        merged: list[Boundary] = []
        for b in out:
            if merged and b.frame - merged[-1].frame < p.min_segment_frames:
                if b.score > merged[-1].score and merged[-1].kind not in ("fade", "dissolve"):
                    merged[-1] = b
                continue
            merged.append(b)
        return merged

    def _time(self, j: int) -> float:
        t = self._times[j] if 0 <= j < len(self._times) else math.nan
        return round(float(t), 6) if math.isfinite(t) else float(j)


def _overlap(a: np.ndarray, b: np.ndarray, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``a`` and ``b`` that show the same place when ``b`` is ``a`` moved by (dx, dy).

    Integer shift (sub-pixel precision is not needed for differences of whole
    pictures); a shift of half the picture or more is taken as none.
    """
    h, w = a.shape
    ix, iy = int(round(dx)), int(round(dy))
    if abs(ix) >= w // 2 or abs(iy) >= h // 2:
        ix, iy = 0, 0
    ya0, ya1 = max(0, -iy), h - max(0, iy)
    xa0, xa1 = max(0, -ix), w - max(0, ix)
    return a[ya0:ya1, xa0:xa1], b[ya0 + iy:ya1 + iy, xa0 + ix:xa1 + ix]


def _shifted_mad(a: np.ndarray, b: np.ndarray, dx: float, dy: float) -> float:
    """Mean |b - a| over the overlap after the shift."""
    a_, b_ = _overlap(a, b, dx, dy)
    return cv2.norm(b_, a_, cv2.NORM_L1) / a_.size


def _hull_fraction(pts: np.ndarray, shape: tuple[int, ...]) -> float:
    """Area of the convex hull of ``pts`` as a share of the picture."""
    hull = cv2.convexHull(pts.reshape(-1, 1, 2).astype(np.float32))
    return float(cv2.contourArea(hull)) / float(shape[0] * shape[1])


def _smooth_motion_at(j: int, nb: list[_Stats]) -> tuple[float, float] | None:
    """The camera's per-frame shift at ``j`` from its neighbours, as a robust quadratic in time.

    A hand-held whip pan changes speed by up to ~10 px a frame (a sweep across the
    frame and back in a second): the neighbours' median lags such a sweep by more than
    a pan jump's threshold, a quadratic follows it. A neighbour that is itself a jump
    (the frame before or after a removed stretch) is dropped when its leave-one-out
    residual is the largest and beyond 4 times their median (at most two are dropped).
    None with fewer than 5 usable neighbours (clip edges).
    """
    t = np.array([n.index - j for n in nb], np.float64)
    shifts = np.array([n.shift for n in nb], np.float64)
    design = np.stack([np.ones_like(t), t, t * t], 1)
    keep = np.ones(len(t), bool)
    for _ in range(3):
        if keep.sum() < 5:
            return None
        X, Y = design[keep], shifts[keep]
        pinv = np.linalg.pinv(X)
        coef = pinv @ Y
        # leave-one-out residuals of a least-squares fit: r_i / (1 - h_ii)
        lever = np.einsum("ij,ji->i", X, pinv)
        loo = np.hypot(*(X @ coef - Y).T) / np.maximum(1.0 - lever, 1e-3)
        worst = int(np.argmax(loo))
        if loo[worst] <= 4.0 * max(float(np.median(loo)), 0.25):
            break
        keep[np.flatnonzero(keep)[worst]] = False
    else:
        return None
    return float(coef[0, 0]), float(coef[0, 1])


def _median(values: list[float]) -> float:
    """Median of a short list (np.median costs ~30 us of overhead per call)."""
    if not values:
        return 0.0
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def _shifted_ncc(a: np.ndarray, b: np.ndarray, dx: float, dy: float) -> float:
    """Normalised correlation of two zero-mean images over their overlap after the shift."""
    a_, b_ = (x.ravel() for x in _overlap(a, b, dx, dy))
    den = float(np.sqrt(np.dot(a_, a_) * np.dot(b_, b_)))
    return float(np.dot(a_, b_)) / den if den > 0 else 0.0


def _standardise(a: np.ndarray) -> np.ndarray:
    m, sd = cv2.meanStdDev(a)
    return (a - float(m[0, 0])) * (1.0 / max(float(sd[0, 0]), 1e-6))


def _histogram_overlap(a: _Stats, b: _Stats) -> float:
    """Mean intersection of the luma, Cb and Cr histograms of two frames (1 = identical)."""
    total = 0.0
    for pa, pb in ((a.y, b.y), (a.c[..., 0], b.c[..., 0]), (a.c[..., 1], b.c[..., 1])):
        ha = cv2.calcHist([pa], [0], None, [32], [0, 256])
        hb = cv2.calcHist([pb], [0], None, [32], [0, 256])
        total += float(np.minimum(ha / ha.sum(), hb / hb.sum()).sum())
    return total / 3
