"""Per-frame global camera motion, registered against keyframes so it does not drift.

Every frame gets a homography ``to_ref`` that maps its full-resolution display
pixels into the pixels of its *run*'s reference frame (the run's first frame).
Stages that measure how something moves in the scene (the tracking stage's
descent speeds and accelerations) divide the camera out with it: a pan, a zoom,
a roll or hand-held shake then no longer looks like object motion.

How a frame is registered
-------------------------
Frame-to-frame estimates chained over seconds drift by pixels, and a drift that
grows with time is exactly what fakes (or hides) an acceleration. So no frame is
registered only to its predecessor:

1. The luma is box-averaged by an integer factor to a *working* image about
   ``work_width`` px wide (an integer factor keeps the pixel mapping exact and
   the downscale cheap).
2. The frame's transform to the current *keyframe* is **predicted** from the
   chained estimate: the previous frame's registration times its
   frame-to-frame motion (assumed constant).
3. The keyframe's corners (chosen once per keyframe, spread over a grid, above
   an absolute texture threshold) are tracked into the frame with pyramidal
   Lucas-Kanade, starting at their predicted positions. Keyframes are renewed
   often enough (``key_max_scale``, ``key_max_rotation_deg``) that the zoom
   and roll between a frame and its keyframe stay small for LK's translational
   windows; beyond ``warp_above`` the frame is first resampled into the
   keyframe's geometry with the prediction. Either way the result is a
   *direct* measurement of frame -> keyframe, not a chain. When the fit fails
   with the short pyramid, it is retried once with ``lk_levels_retry`` levels
   (a jolt the prediction missed).
4. A model is fitted robustly: RANSAC with a similarity, whose inliers are then
   re-classified under a homography fitted to them (perspective that a
   similarity cannot follow would otherwise make outliers of the frame's
   edges). Moving objects, smoke and occlusions are the outliers. **Model
   rule**: the homography is used only when the inliers' convex hull covers at
   least ``homography_min_spread`` of the frame (else its perspective terms are
   not constrained), there are at least ``homography_min_inliers`` inliers, and
   its RMS residual is at least ``homography_gain`` times smaller than the
   similarity's (pan, zoom, roll); otherwise the similarity, whose 4
   parameters are better determined.
5. When the keyframe becomes poor (zoom or roll relative to it, too few of its
   corners in view or agreeing), the current frame is promoted. Its transform
   to the reference is then measured **directly against the oldest keyframe of
   the run that still overlaps it** (the reference itself, through a whole
   1.4x zoom), with a denser set of corners and the frame resampled into that
   keyframe's geometry, so errors do not pile up link by link. Only when no
   older keyframe overlaps is it linked to the newest one.

``residual_px`` is the RMS reprojection error of the inliers in full-resolution
pixels.

When registration fails
-----------------------
* The frame has too little texture (sky, a smooth cloud deck, smoke filling the
  view): the motion of the camera cannot be told from the motion of whatever is
  in view. ``reliable=False`` and the run goes on; when texture returns, the
  frame is registered to the run's keyframe again if it can be. Meanwhile
  ``to_ref`` follows the sky's own soft structure (clouds, haze) from frame to
  frame by phase correlation (``cv2.phaseCorrelate`` on the working image
  halved and blurred), a translation only, chained, and only when its peak is
  clear (``sky_shift_min_response``); otherwise it holds the last value. That
  is good enough to follow hand-held shake for *associating* small objects
  from frame to frame (on the tracking benchmark's shaken sky-only clips it
  cuts the frame-to-frame error from ~2.2 to ~0.8-1.3 px median), never to
  measure how they move: these frames stay unreliable. Over a nearly
  featureless sky (the motion benchmark's) it finds ~0 with a clear peak (the
  codec's fixed block grid), i.e. it holds, as before.
* The frame is textured but registers neither to the keyframe nor to the
  previous frame: a cut or a whip pan. A new run starts with this frame as its
  reference -- unless it has fewer than ``min_new_run_corners`` corners: a
  thin strip of ground (whose corners the falling objects themselves add to)
  would anchor a run that fails again a frame or two later, and every new run
  ends every track. Such frames stay in the run, unreliable, ``to_ref``
  following the sky as above.

Known limits: an object covering most of the frame and moving coherently wins
the RANSAC vote; parallax of a near scene under a moving (not only turning)
camera has no single homography.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from vidforensics.io.decode import Frame

TEXTURE_POOR = "texture-poor frame (sky only): camera and object motion cannot be separated"
TOO_FEW_AGREE = "too few features agree: moving objects, smoke or blur dominate the frame"
TOO_CLUSTERED = "agreeing features cover too little of the frame"
HIGH_RESIDUAL = "registration residual too high"


class MotionParams(BaseModel):
    """How camera motion is measured; values in ``[motion]`` of the pipeline TOML."""

    model_config = ConfigDict(extra="forbid")

    work_width: int               # working width (px): the luma is box-averaged by the integer factor width // this
    grid_cols: int                # keyframe corners are picked per cell of a grid_cols x grid_rows grid (spread)
    grid_rows: int
    track_per_cell: int           # corners per cell tracked in every frame (LK is the main per-frame cost)
    link_per_cell: int            # corners per cell used to link a new keyframe (rare, so denser: the link's error persists)
    corner_min_gradient: float    # weakest-direction RMS gradient (levels/px, working image) a corner needs
    corner_nms_px: int            # corners are local maxima over this square (working px)
    min_textured_cells: int       # grid cells holding a corner for a frame to count as textured (not sky only)
    sky_shift_min_response: float # texture-poor frames follow the sky by phase correlation when its peak is this clear (0: hold)
    sky_shift_blur: float         # ... on the working image halved and blurred by this sigma (its px): noise and codec blocks out
    max_unregistered_frames: int  # textured frames in a row that register to nothing, flagged, before a new run starts
    new_view_min_cells: int       # ... unless this many cells hold corners: a well-textured frame matching nothing is a new view
    min_new_run_corners: int      # a frame with fewer corners in all never starts a new run (only a clip's first frame may use it)
    lk_window: int                # Lucas-Kanade window side (working px)
    lk_levels: int                # pyramid levels above the working image in the first try
    lk_levels_retry: int          # ... and in the retry when the first try does not register
    lk_iterations: int            # LK iterations per level
    lk_epsilon: float             # LK stops when the update is below this (working px)
    warp_above: float             # zoom (log) or roll (rad) relative to the keyframe above which the frame is resampled first
    patch_error_factor: float     # corners whose LK patch error exceeds this many times the median are dropped (0: off)
    patch_error_floor: float      # ... but never below this (levels): a repeated frame has a median error of ~0
    ransac_px: float              # inlier threshold (working px) of the robust fit
    trim_factor: float            # after it, drop inliers erring more than this many times the median error, refit (0: off)
    min_inliers: int              # inliers a registration needs at all
    min_inlier_share: float       # ... as a share of the corners tracked inside the frame
    min_spread: float             # inliers' convex hull must cover this share of the frame for a reliable frame
    max_residual: float           # RMS residual (working px) above which a frame is not reliable
    homography_min_spread: float  # model rule: hull share the inliers need before a homography may be chosen
    homography_min_inliers: int   # ... and this many inliers
    homography_gain: float        # ... and similarity RMS / homography RMS at least this
    max_step_scale: float         # frame-to-frame zoom beyond this factor (either way) is not camera motion: failed
    max_step_shift: float         # frame-to-frame shift beyond this share of the width: failed
    key_max_scale: float          # promote a new keyframe when the zoom relative to the keyframe exceeds this (either way)
    key_max_rotation_deg: float   # ... or the roll relative to it exceeds this
    key_min_overlap: float        # ... or less than this share of its corners is in view
    key_min_inlier_share: float   # ... or less than this share of its corners agree
    link_window: int              # LK window for links: larger, since across a zoom the finest detail differs
    link_refine: int              # extra passes of a link, each from the previous pass's estimate
    link_max_scale: float         # a new keyframe is linked to the oldest keyframe within this zoom of it ...
    link_min_overlap: float       # ... of whose corners at least this share is in view
    link_max_keyframes: int       # keyframes kept per run as link candidates (the reference always stays)


@dataclass(frozen=True, slots=True)
class MotionSample:
    """The camera motion of one frame.

    Attributes
    ----------
    index : int
        Frame index (``Frame.index``).
    time_s : float
        ``Frame.time_s`` (container time).
    to_ref : ndarray, float64, (3, 3)
        Homography from full-resolution display pixel ``(x, y)`` of this frame
        to the pixel of the run's reference frame (read-only). On an unreliable
        frame an estimate for associating objects only (the sky followed by
        phase correlation, or the last value held), never a measurement.
    ref_index : int
        Frame index of the run's reference frame (its first frame).
    run : int
        0, 1, 2...: a new run starts when a frame cannot be registered to the
        previous one (a cut, a whip pan).
    residual_px : float
        RMS residual (full-resolution px) of this frame's registration; NaN when
        not measured (a run's reference frame, a texture-poor frame).
    reliable : bool
        False when camera motion cannot be separated from object motion.
    reason : str or None
        Why not reliable, one short phrase.
    """

    index: int
    time_s: float
    to_ref: np.ndarray
    ref_index: int
    run: int
    residual_px: float
    reliable: bool
    reason: str | None


@dataclass(slots=True)
class _Keyframe:
    index: int
    image: np.ndarray        # working luma
    track: np.ndarray        # (N, 1, 2) float32 corners tracked in every frame, working px
    dense: np.ndarray        # (M, 1, 2) float32 corners (a superset) used when a later keyframe links to this one
    to_ref: np.ndarray       # working px of this keyframe -> working px of the reference
    from_ref: np.ndarray     # its inverse


@dataclass(slots=True)
class _Fit:
    H: np.ndarray            # working px of the frame -> working px of the keyframe
    inliers: int
    share: float             # inliers / corners tracked inside the frame
    overlap: float           # keyframe corners inside the frame / keyframe corners
    spread: float            # inliers' hull area / frame area
    rms: float               # working px
    model: str


@dataclass(slots=True)
class _Run:
    index: int
    ref_index: int
    first: int
    last: int = -1
    frames: int = 0
    reliable: int = 0
    residuals: list[float] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)
    models: dict[str, int] = field(default_factory=lambda: {"similarity": 0, "homography": 0})
    unreliable_reasons: dict[str, int] = field(default_factory=dict)


class CameraMotionEstimator:
    """Sees every frame once, in decode order; returns its :class:`MotionSample`.

    Parameters
    ----------
    params : MotionParams

    Notes
    -----
    Deterministic: OpenCV's RANSAC seeds its own generator on every call, and
    nothing here draws random numbers.
    """

    def __init__(self, params: MotionParams):
        self.p = params
        p = params
        self._crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, p.lk_iterations, p.lk_epsilon)
        # cornerMinEigenVal on 8-bit input is normalised so that a ramp of g levels/px
        # gives 4 g^2 / 255^2 (Sobel / 4 per level on a [0, 1] scale; checked numerically)
        self._eig_thr = 4.0 * p.corner_min_gradient ** 2 / 255.0 ** 2
        self._runs: list[_Run] = []
        self._keys: list[_Keyframe] = []
        self._shape: tuple[int, int] | None = None   # full-res (h, w)
        self._factor = 1
        self._A = np.eye(3)                          # full-res px -> working px
        self._A_inv = np.eye(3)
        self._prev_img: np.ndarray | None = None
        self._prev_index = -1
        self._hist: list[np.ndarray | None] = []     # working to_ref of the last two frames (None: unreliable)
        self._last_out = np.eye(3)                   # working to_ref of the last sample given out
        self._sky_window: np.ndarray | None = None   # Hanning window for the sky's phase correlation
        self._sky_prev: tuple[int, np.ndarray] | None = None   # (frame index, blurred float image)
        self._failures = 0                           # textured frames in a row that registered to nothing
        # running prediction errors (working px) of "constant velocity" and "no motion":
        # pans and zooms favour the first, fast hand-held jitter the second
        self._pred_err = [0.0, 1.0]
        self._preds: tuple[np.ndarray, np.ndarray] | None = None   # this frame's, computed once
        self._noise: float | None = None             # running RMS residual (working px) of reliable frames

    # ------------------------------------------------------------------ public
    def process(self, frame: Frame) -> MotionSample:
        """Register one frame (call once per frame, in decode order)."""
        y = frame.luma()
        self._preds = None
        if self._shape != y.shape:  # first frame, or the picture size changed
            self._set_geometry(y.shape)
            return self._start_run(frame, self._work(y))
        img = self._work(y)
        key = self._keys[-1] if self._keys else None
        if key is not None:
            pred = key.from_ref @ self._predict()
            for levels in (self.p.lk_levels, self.p.lk_levels_retry):
                fit = self._register(key, key.track, img, pred, levels)
                if fit is not None and self._plausible(fit, key):
                    return self._accept(frame, img, key, fit)

        # the keyframe does not take this frame: sky, a cut, or a jump the prediction missed
        corners, cells = self._corners(img)
        if not self._textured(corners, cells):
            return self._unreliable(frame, img, TEXTURE_POOR, follow=True)
        prev = self._prev_keyframe(img)
        if prev is not None:
            fit = self._register(prev, prev.track, img, prev.from_ref @ self._predict(), self.p.lk_levels_retry)
            if fit is not None and self._plausible(fit, prev):
                self._add_key(prev)
                return self._accept(frame, img, prev, fit)
        # A well-textured frame that matches nothing is a new view (a cut, a whip pan): new run at
        # once. With little texture (a thin band of ground, smoke, a passing object) too few corners
        # may agree for a frame or two: hold the run (the frame is flagged); if it lasts, a new run.
        if (key is not None and cells < self.p.new_view_min_cells
                and self._failures < self.p.max_unregistered_frames):
            self._failures += 1
            return self._unreliable(frame, img, TOO_FEW_AGREE)
        # A new run ends every track. On a frame with barely enough corners (a thin strip of ground
        # under a zoom, whose corners the falling objects themselves add to) it registers a frame
        # or two and fails again: runs every few frames, each object cut into pieces. Such a frame
        # is not a new view: hold the run (flagged) until a frame that can anchor one.
        if len(corners) < self.p.min_new_run_corners:
            return self._unreliable(frame, img, TOO_FEW_AGREE, follow=True)
        return self._start_run(frame, img, corners)

    def summary(self) -> dict:
        """Per-run facts for the report.

        Returns
        -------
        dict
            ``frames``, ``reliable_share``, ``work_factor`` (full-res px per
            working px) and ``runs``: per run its index, reference, first and
            last frame, frame count, share of reliable frames, median and max
            residual (full-res px), the keyframes used, how often each model was
            chosen and why frames were unreliable.
        """
        runs = []
        total = sum(r.frames for r in self._runs)
        for r in self._runs:
            res = np.asarray(r.residuals, float)
            runs.append({
                "run": r.index,
                "ref_index": r.ref_index,
                "first_frame": r.first,
                "last_frame": r.last,
                "frames": r.frames,
                "reliable_share": round(r.reliable / r.frames, 4) if r.frames else 0.0,
                "median_residual_px": round(float(np.median(res)), 4) if res.size else None,
                "max_residual_px": round(float(res.max()), 4) if res.size else None,
                "keyframes": list(r.keyframes),
                "models": dict(r.models),
                "unreliable_reasons": dict(r.unreliable_reasons),
            })
        reliable = sum(r.reliable for r in self._runs)
        return {"frames": total, "reliable_share": round(reliable / total, 4) if total else 0.0,
                "work_factor": self._factor, "runs": runs}

    # ------------------------------------------------------------------ geometry
    def _set_geometry(self, shape: tuple[int, int]) -> None:
        w = shape[1]
        k = max(1, w // self.p.work_width)
        self._shape, self._factor = shape, k
        # box average by k: working pixel centre u sits at full-res (u + 0.5) k - 0.5
        a = np.array([[1.0 / k, 0.0, 0.5 / k - 0.5], [0.0, 1.0 / k, 0.5 / k - 0.5], [0.0, 0.0, 1.0]])
        self._A, self._A_inv = a, np.linalg.inv(a)

    def _work(self, y: np.ndarray) -> np.ndarray:
        """Box-average ``factor x factor`` blocks (cropped to a multiple first: the origin stays put)."""
        k = self._factor
        if k == 1:
            return np.ascontiguousarray(y)
        a = y[:(y.shape[0] // k) * k, :(y.shape[1] // k) * k]
        # cv2's INTER_AREA is ~10x faster by exactly 2 than by 4: halve while k is even, then one odd step
        while k % 2 == 0:
            a = cv2.resize(a, (a.shape[1] // 2, a.shape[0] // 2), interpolation=cv2.INTER_AREA)
            k //= 2
        if k > 1:
            a = cv2.resize(a, (a.shape[1] // k, a.shape[0] // k), interpolation=cv2.INTER_AREA)
        return a

    def _full(self, h_work: np.ndarray) -> np.ndarray:
        """A working-pixel homography expressed in full-resolution pixels."""
        m = self._A_inv @ h_work @ self._A
        return m / m[2, 2]

    # ------------------------------------------------------------------ corners
    def _corners(self, img: np.ndarray) -> tuple[np.ndarray, int]:
        """Corners spread over the grid (up to ``link_per_cell`` a cell, strongest first within a cell).

        Returns the corners and how many grid cells hold one. The threshold is
        absolute (a gradient in levels/px), not relative to the frame's best
        corner as in ``goodFeaturesToTrack``: a sky frame's best "corner" is
        noise or a soft cloud edge and must not count as texture.
        """
        p = self.p
        eig = cv2.cornerMinEigenVal(img, 3, 3)
        peak = cv2.dilate(eig, np.ones((p.corner_nms_px, p.corner_nms_px), np.uint8))
        m = p.lk_window // 2 + 2  # corners whose window leaves the picture track poorly
        core = (eig >= peak) & (eig > self._eig_thr)
        core[:m], core[-m:], core[:, :m], core[:, -m:] = False, False, False, False
        ys, xs = np.nonzero(core)
        if xs.size == 0:
            return np.zeros((0, 1, 3), np.float32), 0
        h, w = img.shape
        cell = (ys * p.grid_rows // h) * p.grid_cols + xs * p.grid_cols // w
        order = np.lexsort((-eig[ys, xs], cell))
        cs = cell[order]
        starts = np.r_[0, np.flatnonzero(np.diff(cs)) + 1]
        rank = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
        sel = rank < p.link_per_cell
        keep, rank = order[sel], rank[sel]
        # x, y, rank within its cell (the tracked subset is the first track_per_cell of each cell)
        pts = np.stack([xs[keep], ys[keep], rank], axis=1).astype(np.float32).reshape(-1, 1, 3)
        return pts, int(starts.size)

    def _textured(self, corners: np.ndarray, cells: int) -> bool:
        """Enough texture to register against: corners in enough cells, and enough corners in all.

        A frame with a few corners in each of many cells (faint ground under a zoom) is as
        unusable as a sky: as a keyframe it could never give ``min_inliers`` agreeing corners,
        and a run started on it would restart every few frames, cutting every track.
        """
        return cells >= self.p.min_textured_cells and len(corners) >= self.p.min_inliers

    def _keyframe(self, index: int, img: np.ndarray, corners: np.ndarray, to_ref: np.ndarray) -> _Keyframe:
        dense = np.ascontiguousarray(corners[:, :, :2])
        # the same number of tracked corners whatever share of the picture is textured: a thin band
        # of ground under a big sky needs more per cell, or a zoom leaves too few to agree
        cells = max(int((corners[:, 0, 2] == 0).sum()), 1)
        per_cell = min(self.p.link_per_cell, max(self.p.track_per_cell, math.ceil(
            self.p.track_per_cell * self.p.grid_cols * self.p.grid_rows / cells)))
        track = np.ascontiguousarray(dense[corners[:, 0, 2] < per_cell])
        return _Keyframe(index=index, image=img, track=track, dense=dense, to_ref=to_ref, from_ref=_inv(to_ref))

    # ------------------------------------------------------------------ registration
    def _predictions(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(constant frame-to-frame motion, no motion) predictions of this frame's working to_ref."""
        if self._preds is None and len(self._hist) >= 2 and self._hist[-1] is not None \
                and self._hist[-2] is not None:
            r1, r2 = self._hist[-1], self._hist[-2]
            self._preds = (r1 @ _inv(r2) @ r1, r1)
        return self._preds

    def _predict(self) -> np.ndarray:
        """This frame's working to_ref predicted by whichever predictor has lately erred less."""
        both = self._predictions()
        if both is None:
            # after unregistered frames: where the last frame was placed (its fit, or held), not the
            # last reliable placement, which a zoom has left behind (from there LK missed the keyframe's
            # corners and the run restarted: benchmark clip count 2006, frame 84, every track cut)
            return self._last_out.copy()
        return both[0] if self._pred_err[0] <= self._pred_err[1] else both[1]

    def _score_predictions(self, to_ref_w: np.ndarray) -> None:
        both = self._predictions()
        if both is None:
            return
        h, w = self._prev_img.shape
        ax, ay = _pt(to_ref_w, w / 2.0, h / 2.0)
        for i, pr in enumerate(both):
            px, py = _pt(pr, w / 2.0, h / 2.0)
            self._pred_err[i] = 0.7 * self._pred_err[i] + 0.3 * math.hypot(px - ax, py - ay)

    def _register(self, key: _Keyframe, pts: np.ndarray, img: np.ndarray, pred: np.ndarray,
                  levels: int, window: int | None = None) -> _Fit | None:
        """Measure frame -> keyframe directly from the prediction ``pred`` (working px), tracking ``pts``."""
        p = self.p
        n = len(pts)
        if n < p.min_inliers:
            return None
        h, w = img.shape
        win = window or p.lk_window
        pred_inv = _inv(pred)
        a = pred[:2, :2]
        zoom = math.log(max(abs(a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]), 1e-12)) / 2
        roll = math.atan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1])
        persp = abs(pred[2, 0]) + abs(pred[2, 1])
        warp = max(abs(zoom), abs(roll)) > p.warp_above or persp * max(w, h) > p.warp_above
        if warp:
            # the frame resampled into the keyframe's geometry: dst(x) = img(pred^-1 x)
            if persp == 0.0:
                target = cv2.warpAffine(img, pred[:2], (w, h), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE)
            else:
                target = cv2.warpPerspective(img, pred, (w, h), flags=cv2.INTER_LINEAR,
                                             borderMode=cv2.BORDER_REPLICATE)
            init = pts.copy()
        else:
            target = img
            init = _apply(pred_inv, pts.reshape(-1, 2)).astype(np.float32).reshape(-1, 1, 2)
        # brightness and contrast to the keyframe's, compared over the part of the view
        # both show (under a zoom the whole frames show different things): LK has no
        # gain term, and auto-exposure or a flash would otherwise bias every window
        kb = _overlap_box(pred, w, h)
        if kb is not None:
            cb = kb if warp else _overlap_box(pred_inv, w, h, _box_corners(kb))
            if cb is not None:
                km, ks = cv2.meanStdDev(key.image[kb[1]:kb[3], kb[0]:kb[2]])
                tm, ts = cv2.meanStdDev(target[cb[1]:cb[3], cb[0]:cb[2]])
                gain = float(ks[0, 0]) / max(float(ts[0, 0]), 1e-3)
                offset = float(km[0, 0]) - gain * float(tm[0, 0])
                if abs(gain - 1.0) > 0.02 or abs(offset) > 1.0:
                    target = cv2.addWeighted(target, gain, target, 0.0, offset)
        q, st, err = cv2.calcOpticalFlowPyrLK(key.image, target, pts, init, winSize=(win, win),
                                            maxLevel=levels, criteria=self._crit,
                                            flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        cur = q.reshape(-1, 2).astype(np.float64)
        if warp:
            cur = _apply(pred_inv, cur)
        src = pts.reshape(-1, 2).astype(np.float64)
        mg = win / 2.0
        ok = (st.reshape(-1) == 1) & (cur[:, 0] >= mg) & (cur[:, 0] <= w - 1 - mg) \
            & (cur[:, 1] >= mg) & (cur[:, 1] <= h - 1 - mg)
        tracked = int(ok.sum())
        if tracked < p.min_inliers:
            return None
        if p.patch_error_factor > 0:
            # windows that no longer look like the keyframe's (smoke drifting over them,
            # an occlusion, a specular flash) are dropped before the geometric fit; a repeated
            # frame (a static shot, a 25 -> 30 fps conversion) matches with errors of ~0, where
            # "twice the median" would drop every corner that is off by a rounding step
            e = err.reshape(-1)
            ok &= e <= max(p.patch_error_factor * _median(e[ok]), p.patch_error_floor)
            if ok.sum() < p.min_inliers:
                return None
        return self._fit(cur[ok], src[ok], tracked / n, w * h)

    def _fit(self, cur: np.ndarray, ref: np.ndarray, overlap: float, area: float) -> _Fit | None:
        """Robust model cur -> ref, chosen by the rule in the module docstring."""
        p = self.p
        n = len(cur)
        sim, mask = cv2.estimateAffinePartial2D(cur, ref, method=cv2.RANSAC, ransacReprojThreshold=p.ransac_px,
                                                maxIters=200, confidence=0.999, refineIters=0)
        if sim is None:
            return None
        inl = mask.reshape(-1).astype(bool)
        k = int(inl.sum())
        if k < p.min_inliers:
            return None
        c, r = cur[inl], ref[inl]
        s = _similarity_lsq(c, r)
        rms_s = _rms(s, c, r)
        # A homography can only beat the similarity by homography_gain when the
        # similarity errs well above the measurement noise (a pure-noise fit gains
        # ~2 %): below that, skip it (most frames of most clips; it saves a fit)
        hh = None
        if k >= 8 and (self._noise is None or rms_s >= p.homography_gain * self._noise):
            hh = _homography_dlt(c, r)
            if hh is not None and k < n:
                # points the similarity rejected may be the frame's edges under perspective:
                # let the homography of the inliers re-classify them (one growth step)
                grown = _errors(hh, cur, ref) <= p.ransac_px
                if grown.sum() > k:
                    inl = grown
                    k = int(inl.sum())
                    c, r = cur[inl], ref[inl]
                    hh = _homography_dlt(c, r)
                    s = _similarity_lsq(c, r)
        spread = float(cv2.contourArea(cv2.convexHull(c.astype(np.float32)))) / area
        if p.trim_factor > 0 and k > 2 * p.min_inliers:
            # RANSAC's threshold must let shake and LK noise through, so points biased by
            # less than it (windows under translucent smoke, a slow object) stay in: trim
            # what lies far beyond the typical error of this fit, then fit again; judged
            # by the better of the two models at each point, so that trimming favours
            # neither in the model choice that follows
            e = _errors(s, c, r)
            if hh is not None:
                e = np.minimum(e, _errors(hh, c, r))
            keep = e <= p.trim_factor * _median(e)
            if p.min_inliers <= keep.sum() < k:
                c, r, k = c[keep], r[keep], int(keep.sum())
                s = _similarity_lsq(c, r)
                if hh is not None:
                    hh = _homography_dlt(c, r)
        rms_s = _rms(s, c, r)
        model, H, rms = "similarity", s, rms_s
        if hh is not None and spread >= p.homography_min_spread and k >= p.homography_min_inliers:
            rms_h = _rms(hh, c, r)
            if rms_s >= p.homography_gain * max(rms_h, 1e-9):
                model, H, rms = "homography", hh, rms_h
        return _Fit(H=H, inliers=k, share=k / n, overlap=overlap, spread=spread, rms=rms, model=model)

    def _plausible(self, fit: _Fit, key: _Keyframe) -> bool:
        """Enough agreement, and a frame-to-frame step a camera can make."""
        p = self.p
        if fit.inliers < p.min_inliers or fit.share < p.min_inlier_share:
            return False
        prev = self._hist[-1] if self._hist else None
        if prev is None:
            return True
        # compare in the reference's pixels: this frame's centre and a point one width/4
        # to its right against the previous frame's, i.e. the frame-to-frame shift and zoom
        cur = key.to_ref @ fit.H
        h, w = self._prev_img.shape
        x0, y0, x1 = w / 2.0, h / 2.0, 0.75 * w
        c0, c1 = _pt(cur, x0, y0), _pt(cur, x1, y0)
        p0, p1 = _pt(prev, x0, y0), _pt(prev, x1, y0)
        sc = math.hypot(c1[0] - c0[0], c1[1] - c0[1]) / max(math.hypot(p1[0] - p0[0], p1[1] - p0[1]), 1e-9)
        if not (1.0 / p.max_step_scale <= sc <= p.max_step_scale):
            return False
        return math.hypot(c0[0] - p0[0], c0[1] - p0[1]) <= p.max_step_shift * w * math.hypot(p1[0] - p0[0], p1[1] - p0[1]) / (0.25 * w)

    # ------------------------------------------------------------------ outcomes
    def _accept(self, frame: Frame, img: np.ndarray, key: _Keyframe, fit: _Fit) -> MotionSample:
        self._failures = 0
        p = self.p
        run = self._runs[-1]
        to_ref_w = key.to_ref @ fit.H
        to_ref_w = to_ref_w / to_ref_w[2, 2]
        reason = None
        if fit.spread < p.min_spread:
            reason = TOO_CLUSTERED
        elif fit.rms > p.max_residual:
            reason = HIGH_RESIDUAL
        reliable = reason is None
        run.models[fit.model] += 1
        if reliable:
            self._noise = fit.rms if self._noise is None else 0.9 * self._noise + 0.1 * fit.rms
            self._score_predictions(to_ref_w)
            to_ref_w = self._maybe_promote(frame, img, key, fit, to_ref_w)
        self._push(frame, img, to_ref_w if reliable else None)
        return self._sample(frame, to_ref_w, fit.rms * self._factor, reliable, reason)

    def _unreliable(self, frame: Frame, img: np.ndarray, reason: str, follow: bool = False) -> MotionSample:
        """A frame not registered: ``to_ref`` held, or (``follow``: no registration is expected
        soon) following the sky's own shift."""
        # held where the previous frame was placed, measured or not: after frames registered but not
        # reliable (corners clustered in a corner of a zooming view) the last reliable placement is
        # seconds of zoom behind, and jumping back to it cut every track (count clip 2001, frame 80)
        to_ref_w = self._last_out
        d = self._sky_shift(frame, img) if follow else None
        if d is not None:
            # content moved by d: this frame's x was at x - d in the previous one
            to_ref_w = to_ref_w @ np.array([[1.0, 0.0, -d[0]], [0.0, 1.0, -d[1]], [0.0, 0.0, 1.0]])
        self._push(frame, img, None)
        return self._sample(frame, to_ref_w, math.nan, False, reason)

    def _sky_shift(self, frame: Frame, img: np.ndarray) -> np.ndarray | None:
        """Translation (working px) of the sky's soft structure since the previous frame, or None."""
        p = self.p
        if (p.sky_shift_min_response <= 0 or self._prev_img is None or self._prev_img.shape != img.shape
                or min(img.shape) < 16):   # (a thumbnail: nothing to correlate)
            return None
        # at half the working size: the sky's structure is coarse, and it costs a quarter
        prev = self._sky_prev[1] if self._sky_prev and self._sky_prev[0] == self._prev_index else \
            self._sky_image(self._prev_img)
        cur = self._sky_image(img)
        self._sky_prev = (frame.index, cur)
        if self._sky_window is None or self._sky_window.shape != cur.shape:
            self._sky_window = cv2.createHanningWindow((cur.shape[1], cur.shape[0]), cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(prev, cur, self._sky_window)
        if response < p.sky_shift_min_response or math.hypot(dx, dy) > p.max_step_shift * cur.shape[1]:
            return None
        return 2.0 * np.array([dx, dy])

    def _sky_image(self, img: np.ndarray) -> np.ndarray:
        a = cv2.resize(img[:img.shape[0] // 2 * 2, :img.shape[1] // 2 * 2], (img.shape[1] // 2, img.shape[0] // 2),
                       interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(a.astype(np.float32), (0, 0), self.p.sky_shift_blur)

    def _start_run(self, frame: Frame, img: np.ndarray, corners: np.ndarray | None = None) -> MotionSample:
        self._failures = 0
        cells = -1  # corners given: already known to be textured
        if corners is None:
            corners, cells = self._corners(img)
        self._runs.append(_Run(index=len(self._runs), ref_index=frame.index, first=frame.index))
        self._keys, self._hist = [], []
        textured = cells < 0 or self._textured(corners, cells)
        if textured:
            self._add_key(self._keyframe(frame.index, img, corners, np.eye(3)))
        self._push(frame, img, np.eye(3) if textured else None)
        return self._sample(frame, np.eye(3), math.nan, textured, None if textured else TEXTURE_POOR)

    def _push(self, frame: Frame, img: np.ndarray, to_ref_w: np.ndarray | None) -> None:
        self._prev_img, self._prev_index = img, frame.index
        self._hist = [self._hist[-1] if self._hist else None, to_ref_w]

    def _sample(self, frame: Frame, to_ref_w: np.ndarray, residual: float, reliable: bool,
                reason: str | None) -> MotionSample:
        run = self._runs[-1]
        run.frames += 1
        run.last = frame.index
        if reliable:
            run.reliable += 1
        elif reason:
            run.unreliable_reasons[reason] = run.unreliable_reasons.get(reason, 0) + 1
        if math.isfinite(residual):
            run.residuals.append(residual)
        self._last_out = to_ref_w
        to_ref = self._full(to_ref_w)
        to_ref.setflags(write=False)
        return MotionSample(index=frame.index, time_s=frame.time_s, to_ref=to_ref, ref_index=run.ref_index,
                            run=run.index, residual_px=float(residual), reliable=reliable, reason=reason)

    # ------------------------------------------------------------------ keyframes
    def _add_key(self, key: _Keyframe) -> None:
        self._keys.append(key)
        if len(self._keys) > self.p.link_max_keyframes:
            del self._keys[1]  # the reference stays: it is the best link for views that return
        self._runs[-1].keyframes.append(key.index)

    def _prev_keyframe(self, img: np.ndarray) -> _Keyframe | None:
        """The previous frame as a keyframe, when it was registered reliably and is not one already."""
        if self._prev_img is None or not self._hist or self._hist[-1] is None:
            return None
        if (self._keys and self._keys[-1].index == self._prev_index) or self._prev_img.shape != img.shape:
            return None
        corners, cells = self._corners(self._prev_img)
        if cells < self.p.min_textured_cells:
            return None
        return self._keyframe(self._prev_index, self._prev_img, corners, self._hist[-1])

    def _maybe_promote(self, frame: Frame, img: np.ndarray, key: _Keyframe, fit: _Fit,
                       to_ref_w: np.ndarray) -> np.ndarray:
        """Make this frame the keyframe when the current one is poor; return its (re-measured) to_ref."""
        p = self.p
        a = fit.H[:2, :2]
        zoom = math.log(max(abs(a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]), 1e-12)) / 2
        roll = math.degrees(math.atan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1]))
        poor = (abs(zoom) > math.log(p.key_max_scale) or abs(roll) > p.key_max_rotation_deg
                or fit.overlap < p.key_min_overlap or fit.inliers / len(key.track) < p.key_min_inlier_share)
        if not poor:
            return to_ref_w
        corners, cells = self._corners(img)
        if cells < p.min_textured_cells:
            return to_ref_w  # nothing better to promote: keep the old keyframe while it lasts
        # the link: this frame measured against the oldest keyframe that still overlaps it,
        # with the denser corners, so that its transform to the reference is one measurement
        for old in self._keys:
            pred = old.from_ref @ to_ref_w
            b = pred[:2, :2]
            if abs(math.log(max(abs(b[0, 0] * b[1, 1] - b[0, 1] * b[1, 0]), 1e-12))) / 2 > math.log(p.link_max_scale):
                continue
            f = self._register(old, old.dense, img, pred, p.lk_levels, p.link_window)
            for _ in range(p.link_refine):
                # again from the link's own estimate: the resampled frame now matches the
                # keyframe to a fraction of a pixel, so LK's windows see the same patch
                if f is None:
                    break
                f = self._register(old, old.dense, img, f.H, 0, p.link_window)
            if (f is not None and f.overlap >= p.link_min_overlap and f.share >= p.min_inlier_share
                    and f.spread >= p.min_spread and f.rms <= p.max_residual):
                m = old.to_ref @ f.H
                to_ref_w = m / m[2, 2]
                break
        self._add_key(self._keyframe(frame.index, img, corners, to_ref_w))
        return to_ref_w


# ---------------------------------------------------------------------- small geometry
def _inv(m: np.ndarray) -> np.ndarray:
    """3x3 inverse by the adjugate (np.linalg.inv's call overhead is larger than the arithmetic)."""
    a, b, c, d, e, f, g, h, i = m.ravel().tolist()
    A, B, C = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * A + b * B + c * C
    if det == 0.0:
        raise np.linalg.LinAlgError("singular homography")
    r = 1.0 / det
    return np.array([[A * r, (c * h - b * i) * r, (b * f - c * e) * r],
                     [B * r, (a * i - c * g) * r, (c * d - a * f) * r],
                     [C * r, (b * g - a * h) * r, (a * e - b * d) * r]])


def _box_corners(box: tuple[int, int, int, int]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1 - 1, y0), (x0, y1 - 1), (x1 - 1, y1 - 1)]


def _overlap_box(m: np.ndarray, w: int, h: int,
                 corners: list[tuple[float, float]] | None = None) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of ``corners`` (default: the w x h frame's) mapped by ``m``, clipped to w x h."""
    if corners is None:
        corners = [(0.0, 0.0), (w - 1.0, 0.0), (0.0, h - 1.0), (w - 1.0, h - 1.0)]
    q = [_pt(m, x, y) for x, y in corners]
    x0 = max(0, int(math.ceil(min(a for a, _ in q))))
    y0 = max(0, int(math.ceil(min(b for _, b in q))))
    x1 = min(w, int(max(a for a, _ in q)) + 1)
    y1 = min(h, int(max(b for _, b in q)) + 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return x0, y0, x1, y1


def _pt(m: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """One point through a homography, in Python floats."""
    a, b, c, d, e, f, g, h, i = m.ravel().tolist()
    z = g * x + h * y + i
    return (a * x + b * y + c) / z, (d * x + e * y + f) / z


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a 3x3 homography."""
    q = pts @ h[:2, :2].T + h[:2, 2]
    if h[2, 0] != 0.0 or h[2, 1] != 0.0 or h[2, 2] != 1.0:
        q = q / (pts @ h[2, :2] + h[2, 2])[:, None]
    return q


def _errors(h: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    d = _apply(h, src) - dst
    return np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)


def _rms(h: np.ndarray, src: np.ndarray, dst: np.ndarray) -> float:
    d = _apply(h, src) - dst
    return math.sqrt(float(np.vdot(d, d)) / len(d))


def _median(a: np.ndarray) -> float:
    """Median without np.median's overhead (upper median for even sizes: a threshold, not a statistic)."""
    k = len(a) // 2
    return float(np.partition(a, k)[k])


def _similarity_lsq(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (zoom, roll, shift) src -> dst, closed form (points as complex numbers)."""
    z = src[:, 0] + 1j * src[:, 1]
    w = dst[:, 0] + 1j * dst[:, 1]
    zm, wm = z.sum() / len(z), w.sum() / len(w)
    zc = z - zm
    s = np.vdot(zc, w - wm) / max(float(np.vdot(zc, zc).real), 1e-12)
    t = wm - s * zm
    return np.array([[s.real, -s.imag, t.real], [s.imag, s.real, t.imag], [0.0, 0.0, 1.0]])


def _homography_dlt(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares homography src -> dst (inhomogeneous DLT, h33 = 1, on centred and scaled points).

    The algebraic error it minimises is the geometric one weighted by the
    homography's denominator, which is within a fraction of a percent of 1 for
    camera motion between nearby frames; a closed form costs a fifth of
    ``cv2.findHomography``'s iterative refinement.
    """
    n = len(src)
    if n < 5:
        return None
    cs, cd = src.sum(axis=0) / n, dst.sum(axis=0) / n
    a, b = src - cs, dst - cd
    ks = math.sqrt(2.0 * n / max(float(np.vdot(a, a)), 1e-12))   # mean squared radius 2 (Hartley)
    kd = math.sqrt(2.0 * n / max(float(np.vdot(b, b)), 1e-12))
    a *= ks
    b *= kd
    m = np.zeros((2 * n, 8))
    m[:n, 0:2], m[:n, 2] = a, 1.0
    m[n:, 3:5], m[n:, 5] = a, 1.0
    np.multiply(-b[:, :1], a, out=m[:n, 6:8])
    np.multiply(-b[:, 1:], a, out=m[n:, 6:8])
    # normal equations: on centred, scaled points they are well conditioned, and
    # solving 8x8 costs a fraction of an SVD of the 2n x 8 system
    try:
        sol = np.linalg.solve(m.T @ m, m.T @ b.T.ravel())
    except np.linalg.LinAlgError:
        return None
    hn = np.append(sol, 1.0).reshape(3, 3)
    ts = np.array([[ks, 0, -ks * cs[0]], [0, ks, -ks * cs[1]], [0, 0, 1.0]])
    td_inv = np.array([[1 / kd, 0, cd[0]], [0, 1 / kd, cd[1]], [0, 0, 1.0]])
    h = td_inv @ hn @ ts
    if not np.isfinite(h).all() or abs(h[2, 2]) < 1e-12:
        return None
    return h / h[2, 2]
