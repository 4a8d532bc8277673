"""Per-track motion models, the descent kind, distractor kinds and the metric scale.

Positions are scene-relative: each point is taken from the run's reference
coordinates (camera motion removed) back into the pixel coordinates of the
track's *first* frame, so speeds are in pixels at the zoom of that frame.

Two nested models are fitted to each axis by weighted least squares (weights
from the detector's position sigma), with time centred on the track's middle
so the velocity is the mid-track velocity in both:

- constant velocity (CV): ``y = y0 + v t``
- constant acceleration (CA): ``y = y0 + v t + a t^2 / 2``

The stated criterion for the reported model is the F-test of the nested pair:
CA is chosen when ``F = (RSS_cv - RSS_ca) / (RSS_ca / (n - 3))`` has a p-value
below ``ftest_p``; BIC of both is reported alongside. Parameter uncertainties
are the residual-scaled covariance of the fit, plus a camera-motion term: a
registration drift of ``r`` px over a track of duration ``T`` can fake a
velocity of about ``2 r / T`` and an acceleration of about ``8 r / T^2`` (a
parabola of peak deviation ``r``), added in quadrature.

The descent kind (``y`` down, positive = descending) is decided from the CA
estimate ``a +- sigma_a`` and the mid-track ``v``, at ``k`` sigma:

- free fall: ``a`` significantly positive and consistent with a release from
  rest: ``tau = v / a`` (time since release; ``a / v ~ 1 / tau``) no longer than
  ``max_fall_s`` and not after the first point. Without a scale, also a speed
  change over the track of at least ``free_fall_min_dv`` of its mid-track speed
  (1: released at most half the track's length before its first point; a slow
  object under a zoom or a sliding canopy centre fakes smaller ones). With a
  scale, also ``a`` above ``free_fall_min_g`` of ``g`` in pixels, and not above
  ``free_fall_max_g`` of it (drag only slows a fall: more is a fit bent by
  canopy/payload jumps; the margin is for a scale given once for a zooming clip).
- retarded: ``a`` significantly negative (a canopy braking), or bounded so close
  to 0 that any free fall with this speed would have started more than
  ``max_fall_s`` ago (``(a + k sigma_a) * max_fall_s < v``); with a scale,
  ``a + k sigma_a`` below ``retarded_max_g`` of ``g`` in pixels suffices.
- otherwise inconclusive. Without a scale the retarded bound is the weak one:
  a canopy's terminal speed is only a few seconds of free fall, so short tracks
  of slow objects stay inconclusive unless a scale is given.

Distractors are recognised before any descent is claimed: static clutter
(moves less than ``static_max_px`` in the scene) and ground clutter (its
surroundings ``texture_max`` times noisier than the frame's sky, or noisier
than ``clutter_noise_max`` levels: foliage, facades, glints) and structure
(one side of its surroundings nearly as dark as itself, median isolation
below ``min_isolation``: a corner of a smoke plume or a cloud) and standing texture
(on more than ``still_max_share`` of its points the motion-compensated difference
image, searching the ground there, saw nothing move) and the picture's
lower edge (never above its bottom ``bottom_band``: ground a shaking camera pushes
in and out under a sky), all before any fit; codec artefacts (standing still in
the picture while the scene moves), flares (bright, near saturation), aircraft
(fast and mostly horizontal), erratic movers (birds, insects: CA-fit residual far above the measurement
noise). None of them is reported as descending.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats

G = 9.80665


class KinematicsParams(BaseModel):
    """Model fits and decisions; values in ``[tracking.kinematics]``."""

    model_config = ConfigDict(extra="forbid")

    min_points: int            # fewer measured points: inconclusive (and no fit)
    min_duration_s: float      # shorter tracks: inconclusive (and no fit)
    decide_min_s: float        # falling tracks shorter than this: inconclusive (fitted, not decided)
    ftest_p: float             # CA is the reported model when the F-test p-value is below this
    k_sigma: float             # every decision at this many sigma
    max_fall_s: float          # longest plausible free fall from release (s): bounds a / v from below
    free_fall_min_dv: float    # without a scale, free fall needs the speed to change by this share of v over the track
    release_tol_s: float       # implied release may fall this long after the first point (noise)
    free_fall_min_g: float     # with a scale: free fall needs a above this share of g (projection, drag)
    free_fall_max_g: float     # ... and not above this many g (at k sigma): drag only slows a fall
    retarded_max_g: float      # with a scale: retarded needs a below this share of g
    min_descent_px_s: float    # slower downward motion is not descending
    drift_vel_k: float         # camera drift r px over T s fakes this * r / T of velocity
    drift_acc_k: float         # ... and this * r / T^2 of acceleration
    static_max_px: float       # a track whose scene position spans less than this is background
    flare_min_luma: float      # bright tracks peaking at or above this luma are flares
    aircraft_min_speed: float  # aircraft: faster than this share of the frame width per second ...
    aircraft_ratio: float      # ... and |vx| at least this many times |vy|
    erratic_ratio: float       # erratic (bird, insect): CA residual above this many times the position sigma ...
    erratic_min_px: float      # ... and above this many px
    frozen_max_px: float       # frame positions steadier than this (std, px) while the scene moved: a codec artefact
    sideways_ratio: float      # |vx| above this many times vy: sideways (birds, clutter sliding along an edge)
    max_brake_per_s: float     # a canopy brakes at most this fast: -a / v above it is not a canopy
    texture_max: float         # surroundings this many times noisier than the frame's sky: ground clutter
    clutter_noise_max: float   # ... or noisier than this many levels (absolute: a frame textured all over)
    min_isolation: float       # median isolation below this: part of a larger structure (smoke, cloud edge), not an object
    still_max_share: float     # more of its points where the difference image saw nothing move: standing ground texture
    bottom_band: float         # a track never above this share of the frame height from its bottom: the ground's edge
    outlier_k: float           # points off the CA fit by more than this many robust sigma are dropped before the fits


class Scale(BaseModel):
    """An optional metric scale for a track: exactly one way of giving it."""

    model_config = ConfigDict(extra="forbid")

    m_per_px: float | None = None          # metres per pixel at the track's first frame
    distance_m: float | None = None        # distance to the object ...
    focal_px: float | None = None          # ... and focal length in pixels (m/px = distance / focal)
    object_length_m: float | None = None   # known object length (its measured size gives m/px)
    rel_sigma: float = 0.0                 # relative 1-sigma uncertainty of the scale

    def resolve(self, size_px: float | None) -> tuple[float, float] | None:
        """(metres per pixel, its sigma), or None."""
        if self.m_per_px:
            m = self.m_per_px
        elif self.distance_m and self.focal_px:
            m = self.distance_m / self.focal_px
        elif self.object_length_m and size_px:
            m = self.object_length_m / size_px
        else:
            return None
        return m, m * self.rel_sigma


@dataclass
class Fit:
    """One model fitted to one axis (time centred at ``t_mid``)."""

    model: str               # "cv" or "ca"
    coef: np.ndarray         # position at t_mid, velocity, [acceleration]
    cov: np.ndarray
    rss: float               # weighted residual sum of squares
    rms_px: float            # unweighted residual RMS
    dof: int
    bic: float


def fit_axis(t: np.ndarray, y: np.ndarray, sigma: np.ndarray, model: str) -> Fit:
    """Weighted least squares of ``y(t)`` (``t`` already centred) for the CV or CA model."""
    cols = [np.ones_like(t), t] + ([0.5 * t * t] if model == "ca" else [])
    A = np.stack(cols, axis=1)
    w = 1.0 / np.maximum(sigma, 1e-6)
    coef, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
    res = y - A @ coef
    n, k = len(t), A.shape[1]
    rss = float(np.sum((res * w) ** 2))
    dof = n - k
    s2 = rss / dof if dof > 0 else math.inf
    cov = s2 * np.linalg.pinv((A * w[:, None]).T @ (A * w[:, None]))
    bic = n * math.log(max(rss, 1e-12) / n) + k * math.log(n)
    return Fit(model, coef, cov, rss, float(np.sqrt(np.mean(res * res))), dof, bic)


@dataclass
class Kinematics:
    """Everything the report's ``descent`` needs, plus the object kind."""

    object_kind: str         # falling, static, flare, aircraft, erratic, sideways, frozen, clutter, other (stage: unresolved)
    kind: str                # retarded, free_fall, not_descending, inconclusive
    model: str | None        # cv or ca: the F-test's choice
    reason: str
    duration_s: float
    n_points: int
    vx_px_s: float | None = None
    vy_px_s: float | None = None
    vy_sigma: float | None = None
    ay_px_s2: float | None = None        # of the CA fit (the reported model's, 0 under CV, is ``ay_model``)
    ay_sigma: float | None = None
    ay_model: float | None = None
    a_over_v: float | None = None
    a_over_v_sigma: float | None = None
    release_s: float | None = None       # implied time since release at the first point (free fall)
    ftest_f: float | None = None
    ftest_p: float | None = None
    bic_cv: float | None = None
    bic_ca: float | None = None
    residual_px: float | None = None
    motion_residual_px: float | None = None
    vy_m_s: float | None = None
    vy_m_s_sigma: float | None = None
    ay_m_s2: float | None = None
    ay_m_s2_sigma: float | None = None
    m_per_px: float | None = None


def analyse(t: np.ndarray, xy: np.ndarray, sigma: np.ndarray, motion_residual: np.ndarray, contrast: float,
            peak_luma: float, frame_size: tuple[int, int], params: KinematicsParams,
            scale: tuple[float, float] | None = None, frame_xy: np.ndarray | None = None,
            texture: float = 1.0, background_noise: float = 0.0, isolation: float = 1.0,
            still_share: float = 0.0) -> Kinematics:
    """Fit, classify and (with a scale) convert one track.

    Parameters
    ----------
    t : (n,) container times, s
    xy : (n, 2) scene-relative positions in the first frame's pixels (y down)
    sigma : (n,) position sigma, px
    motion_residual : (n,) camera-motion residual per point, px
    contrast : median signed contrast, levels (negative: darker than the sky)
    peak_luma : brightest core luma along the track
    frame_size : (width, height) px: the aircraft speed is in frame widths, the bottom band in heights
    scale : (metres per pixel, sigma) at the first frame, optional
    frame_xy : (n, 2) the same points in their own frames' pixels (a codec artefact stands still there)
    texture : median local noise around the track over the frame's sky noise
    background_noise : median luma noise sigma of the track's surroundings, levels (absolute: in a
        frame that is textured all over, ``texture`` is ~1 everywhere)
    isolation : median ``Detections.isolation`` of its points (~1: alone in the sky; <= ~0: an
        edge or corner of a larger structure)
    still_share : share of its points where the motion-compensated difference image, searching the
        textured ground there, saw nothing move (``Detections.still``)
    """
    p = params
    n = len(t)
    dur = float(t[-1] - t[0]) if n else 0.0
    span = float(np.max(np.ptp(xy, axis=0))) if n else 0.0
    base = dict(duration_s=round(dur, 6), n_points=n)
    if n < p.min_points or dur < p.min_duration_s:
        kind = "static" if span < p.static_max_px else "other"
        return Kinematics(kind, "inconclusive", None, f"too short ({n} points, {dur:.2f} s)", **base)
    # background that needs no fit to be told (most tracks of a textured clip): still in the
    # scene, or against ground texture
    if span < p.static_max_px:
        return Kinematics("static", "not_descending", None, f"moves {span:.1f} px in the scene", **base)
    if texture > p.texture_max:
        return Kinematics("clutter", "not_descending", None,
                          f"against texture {texture:.1f}x the sky's noise (ground, buildings)", **base)
    if background_noise > p.clutter_noise_max:
        return Kinematics("clutter", "not_descending", None,
                          f"against texture: its surroundings vary by {background_noise:.1f} levels "
                          f"(foliage, facades, glints; sky: a few)", **base)
    if isolation < p.min_isolation:
        return Kinematics("clutter", "not_descending", None,
                          f"not alone: a side of its surroundings is {1 - isolation:.0%} of its contrast toward "
                          f"it (the edge or corner of smoke, cloud or ground)", **base)
    if still_share > p.still_max_share:
        # a band-pass blob on standing texture (a shadow's corner, a dish on a roof) that slides a few
        # px as a zoom changes its size: where a moving object would show, the difference shows nothing
        return Kinematics("clutter", "not_descending", None,
                          f"stands still against the ground: on {still_share:.0%} of its points the "
                          f"motion-compensated difference image saw nothing move there", **base)
    if frame_xy is not None and float(frame_xy[:, 1].min()) > (1.0 - p.bottom_band) * frame_size[1]:
        # the ground enters a sky shot at the bottom: a shaking camera pushes the horizon's features in
        # and out there, and without the camera's motion they look like movers. A falling object is
        # seen higher up before it gets there
        return Kinematics("clutter", "not_descending", None,
                          f"never above the bottom {p.bottom_band:.0%} of the picture (highest at y = "
                          f"{float(frame_xy[:, 1].min()):.0f} of {frame_size[1]}): the ground's edge", **base)
    # robust: drop points far off a first CA fit (twice), e.g. frames where only the payload and not
    # its canopy was seen, or a codec blob took the track's place for a frame
    keep = np.ones(n, bool)
    for _ in range(2):
        tc = t[keep] - 0.5 * (t[keep][0] + t[keep][-1])
        res = np.stack([xy[keep, i] - np.polyval(np.polyfit(tc, xy[keep, i], 2), tc) for i in (0, 1)], 1)
        mad = 1.4826 * np.median(np.abs(res), axis=0) + 1e-3
        inl = np.all(np.abs(res) <= p.outlier_k * mad, axis=1)
        if inl.all() or inl.sum() < p.min_points:
            break
        idx = np.flatnonzero(keep)
        keep[idx[~inl]] = False
    t, xy, sigma = t[keep], xy[keep], sigma[keep]
    motion_residual = motion_residual[keep]
    if frame_xy is not None:
        frame_xy = frame_xy[keep]
    n = len(t)
    base["n_points"] = n
    tc = t - 0.5 * (t[0] + t[-1])
    fx_cv, fx_ca = fit_axis(tc, xy[:, 0], sigma, "cv"), fit_axis(tc, xy[:, 0], sigma, "ca")
    fy_cv, fy_ca = fit_axis(tc, xy[:, 1], sigma, "cv"), fit_axis(tc, xy[:, 1], sigma, "ca")
    if fy_ca.dof > 0 and fy_ca.rss > 0:
        F = (fy_cv.rss - fy_ca.rss) / (fy_ca.rss / fy_ca.dof)
        pval = float(stats.f.sf(max(F, 0.0), 1, fy_ca.dof))
    else:
        F, pval = math.inf, 0.0
    model = "ca" if pval < p.ftest_p else "cv"
    r = float(np.median(motion_residual)) if n else 0.0
    sv_m, sa_m = p.drift_vel_k * r / dur, p.drift_acc_k * r / dur ** 2
    chosen_y = fy_ca if model == "ca" else fy_cv
    vy = float(chosen_y.coef[1])
    vy_s = math.hypot(math.sqrt(max(chosen_y.cov[1, 1], 0.0)), sv_m)
    vx = float((fx_ca if model == "ca" else fx_cv).coef[1])
    a = float(fy_ca.coef[2])
    a_s = math.hypot(math.sqrt(max(fy_ca.cov[2, 2], 0.0)), sa_m)
    v_ca = float(fy_ca.coef[1])
    resid = float(math.hypot(fx_ca.rms_px, fy_ca.rms_px))
    k = p.k_sigma
    out = Kinematics("other", "inconclusive", model, "", vx_px_s=vx, vy_px_s=vy, vy_sigma=vy_s, ay_px_s2=a,
                     ay_sigma=a_s, ay_model=a if model == "ca" else 0.0, ftest_f=float(F), ftest_p=pval,
                     bic_cv=fy_cv.bic, bic_ca=fy_ca.bic, residual_px=resid, motion_residual_px=r, **base)
    if abs(v_ca) > 1e-9:
        out.a_over_v = a / v_ca
        out.a_over_v_sigma = abs(out.a_over_v) * math.hypot(a_s / max(abs(a), 1e-9),
                                                           math.sqrt(max(fy_ca.cov[1, 1], 0)) / abs(v_ca))
    if scale is not None:
        m, ms = scale
        out.m_per_px = m
        out.vy_m_s, out.ay_m_s2 = vy * m, a * m
        out.vy_m_s_sigma = math.hypot(vy_s * m, vy * ms)
        out.ay_m_s2_sigma = math.hypot(a_s * m, a * ms)
    speed = math.hypot(vx, vy)
    sig_med = float(np.median(sigma))
    if frame_xy is not None and float(np.max(np.std(frame_xy, axis=0))) < p.frozen_max_px:
        out.object_kind, out.kind = "frozen", "not_descending"
        out.reason = "stands still in the picture to a fraction of its noise while the scene moves: a codec artefact"
        return out
    if contrast > 0 and peak_luma >= p.flare_min_luma:
        out.object_kind, out.kind, out.reason = "flare", "not_descending", f"bright (peak luma {peak_luma:.0f})"
        return out
    if speed >= p.aircraft_min_speed * frame_size[0] and abs(vx) >= p.aircraft_ratio * abs(vy):
        out.object_kind, out.kind = "aircraft", "not_descending"
        out.reason = f"fast and horizontal ({vx:.0f}, {vy:.0f} px/s)"
        return out
    if resid > p.erratic_ratio * sig_med and resid > p.erratic_min_px:
        out.object_kind, out.kind = "erratic", "not_descending"
        out.reason = f"erratic path (CA residual {resid:.2f} px, position sigma {sig_med:.2f} px)"
        return out
    if not (vy - k * vy_s > 0 and vy >= p.min_descent_px_s):
        out.kind = "not_descending"
        out.reason = f"vertical speed {vy:.2f} +- {vy_s:.2f} px/s"
        return out
    # a bomb just released still carries the aircraft's horizontal speed and falls slowly at first:
    # sideways only when it does not also accelerate downward like a fall from rest
    falls = a - k * a_s > 0 and v_ca / a - 0.5 * dur >= -p.release_tol_s
    if abs(vx) > p.sideways_ratio * vy and not falls:
        out.object_kind, out.kind = "sideways", "not_descending"
        out.reason = f"moves sideways ({vx:.1f} px/s) more than down ({vy:.1f} px/s)"
        return out
    out.object_kind = "falling"
    if dur < p.decide_min_s:
        # under ~1 s a canopy/payload centre jump or a codec blob bends the fit by ~100 px/s^2
        out.reason = f"descending at {vy:.1f} px/s, but {dur:.2f} s is too short to tell a canopy from a fall"
        return out
    g_px = None
    if scale is not None and scale[0] > 0:
        g_px = G / scale[0]
    t_half = 0.5 * dur
    if g_px is not None and a + k * a_s < p.retarded_max_g * g_px and a - k * a_s > -g_px:
        # with a scale the size of the acceleration decides: far below g nothing falls freely
        # (even when a small drift or the end of a canopy's deceleration makes it significant)
        out.kind = "retarded"
        out.reason = f"a = {a:.2f} +- {a_s:.2f} px/s^2, below {p.retarded_max_g:g} g ({g_px:.1f} px/s^2)"
        return out
    if a - k * a_s > 0:
        tau = v_ca / a                                   # time since release at mid-track
        out.release_s = tau - t_half
        plausible = (tau - t_half >= -p.release_tol_s) and tau <= p.max_fall_s
        if g_px is not None:
            plausible = plausible and a - k * a_s > p.free_fall_min_g * g_px
            g_hi = g_px * (1.0 + k * scale[1] / scale[0])   # g in px at the scale's k-sigma low end
            if a - k * a_s > p.free_fall_max_g * g_hi:
                # drag only slows a fall: well above g is a bent fit (canopy/payload jumps), not a fall
                out.reason = (f"accelerating {a:.2f} +- {a_s:.2f} px/s^2, more than g ({g_px:.1f} px/s^2) "
                              f"allows: not a fall from rest")
                return out
        elif a * dur < p.free_fall_min_dv * v_ca:
            # without a scale only a/v tells a fall from a canopy; a speed change this small over the
            # track is within what zoom, a canopy/payload centre shift or perspective can fake
            out.reason = (f"accelerating {a:.2f} +- {a_s:.2f} px/s^2, but the speed changes by only "
                          f"{a * dur / max(v_ca, 1e-9):.0%} over the track (a fall from rest {tau:.1f} s earlier "
                          f"or a small systematic drift; a scale would decide)")
            return out
        if plausible:
            out.kind = "free_fall"
            out.reason = f"accelerating {a:.2f} +- {a_s:.2f} px/s^2; a/v = 1/{tau:.2f} s"
        else:
            out.reason = f"accelerating {a:.2f} +- {a_s:.2f} px/s^2 but not like a fall from rest (tau {tau:.1f} s)"
        return out
    if a + k * a_s < 0:
        if -a / max(v_ca, 1e-9) > p.max_brake_per_s:
            out.reason = f"braking {a:.2f} px/s^2 at {v_ca:.1f} px/s: faster than a canopy brakes"
            return out
        out.kind, out.reason = "retarded", f"decelerating {a:.2f} +- {a_s:.2f} px/s^2 while descending"
        return out
    bound = a + k * a_s
    if g_px is not None and bound < p.retarded_max_g * g_px:
        out.kind = "retarded"
        out.reason = f"a = {a:.2f} +- {a_s:.2f} px/s^2, below {p.retarded_max_g:g} g ({g_px:.1f} px/s^2)"
    elif bound * p.max_fall_s < vy:
        out.kind = "retarded"
        out.reason = (f"a = {a:.3f} +- {a_s:.3f} px/s^2 at v = {vy:.1f} px/s: a free fall would have begun "
                      f"over {p.max_fall_s:g} s earlier")
    else:
        out.reason = f"a = {a:.2f} +- {a_s:.2f} px/s^2 cannot separate a canopy from a free fall at v = {vy:.1f} px/s"
    return out
