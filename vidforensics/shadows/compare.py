"""Same place, same time? Register segments that view one place and compare their shadows.

Two tests, both in the registered pictures:

- **Shadow change** (:func:`shadow_change`). One picture is warped onto the other
  (the coarser one, so that nothing is invented by upsampling) and the two are
  compared pixel by pixel after matching exposure and tone curve. Under the same
  sun every cast shadow lies where it lay; when the sun has moved, shadows leave
  ground that is now lit and cover ground that was lit, at every caster at once.
  A pixel counts as changed only when it is darker (or brighter) than every pixel
  of the other picture within the registration tolerance, keeps its colour up to
  a gain (a shadow dims all channels alike) and lies in a shadow of the picture
  where it is dark; changes are counted per separate place, so one passer-by is
  not "the sun moved". This needs no shadow direction and sees turns of a few
  degrees; it says *that* the shadows moved, not by how much.
- **Shadow directions** (when both segments have one). One segment's direction is
  carried into the other's picture through the homography (valid for the
  ground plane, where the shadows lie) and compared there, at the picture's
  centre: this gives ``delta_deg`` with its uncertainty.

Shadows that moved outrank directions that agree within their uncertainty;
shadows that did not move while the directions differ is ``inconclusive``
(:func:`_combine`). Registration (:func:`best_registration`) is checked on the
pictures before anything is compared.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from vidforensics.report.schema import Check, Shadow
from vidforensics.shadows.register import (Registration, View, best_registration, coarse_first, relative_brightness,
                                           warp_onto)


class CompareParams(BaseModel):
    """Values in ``[shadow_compare]``."""

    model_config = ConfigDict(extra="forbid")

    register_width: int          # luma width for feature matching between segments
    orb_features: int
    match_ratio: float           # Lowe's ratio test
    ransac_px: float             # homography inlier threshold, pixels at register_width
    min_inliers: int             # matches needed to call two views "the same place"
    min_inlier_ratio: float
    min_confidence: float        # shadow confidence each segment needs for a verdict
    min_delta_deg: float         # an "inconsistent" verdict needs at least this difference...
    sigma_factor: float          # ... and more than this many standard deviations
    registration_sigma_deg: float  # angle error the registration itself adds (1 sigma)
    max_segments: int            # compare at most this many segments pairwise (the most confident)
    max_views_per_segment: int   # sampled frames per segment tried for registration
    register_level_factors: list[float]  # also match each picture shrunk by these factors (zoomed views)
    max_verified: int            # candidate registrations checked photometrically, best supported first
    guided_gate_px: float        # guided re-matching: a feature within this of its predicted place
    guided_max_hamming: int      # ... and a descriptor at most this far
    scale_search_max: float      # scale search: zooms from 1.1 up to this ...
    scale_search_steps: int      # ... in this many log steps
    homography_min_gain: float   # a homography replaces the similarity when it has this many times the inliers
    max_zoom: float              # registrations implying a larger scale change are rejected
    min_agreement: float         # photometric agreement a registration needs (verify_registration)
    ecc_iterations: int          # ECC refinement steps in verify_registration (0: off)
    ecc_width: int               # ... run on the pictures shrunk to this width
    max_rotation_deg: float      # one camera: at most this roll between the two pictures ...
    max_anisotropy: float        # ... no more stretch in one direction than this ...
    max_perspective: float       # ... and at most this change of scale across the picture
    change_width: int            # the change test compares pictures at most this wide (its pixel counts are at this scale)
    change_min_log_ratio: float  # a pixel changed: |log| brightness change beyond every neighbour's (0.1 ~ 10 %)
    change_tolerance_px: int     # neighbourhood radius (pixels of the compared picture) for misregistration
    change_confirm_tolerance_px: int  # "unchanged" must also hold at this radius (a turn of short shadows moves them 1-2 px)
    change_tone_bins: int        # tone-curve match between the two pictures: bins per channel
    change_max_chroma_spread: float  # max spread of the per-channel log changes (a shadow dims all alike)
    change_shadow_ratio_max: float   # a shadow pixel: at most this share of the brightest pixel nearby
    change_shadow_window_frac: float  # "nearby", as a share of the picture's width
    change_min_lit_level: float  # ... whose brightest pixel is at least this (no night "shadows")
    change_place_gap_px: int     # changed pixels closer than this are one place
    change_place_min_px: int     # a place counts with at least this many changed pixels
    shadow_area_ratio_max: float  # a shadow area: at most this share of the brightest pixel nearby
    shadow_place_min_px: int     # a shadow area counts with at least this many pixels
    change_min_shadow_places: int    # shadow areas the overlap needs for the change test to decide
    change_moved_min_places: int     # "shadows moved": at least this many changed places ...
    change_moved_min_share: float    # ... and this share of the shadow pixels changed
    change_strict_moved_min_share: float  # or, compared at change_confirm_tolerance_px, as many places and this share
    change_same_max_places: int      # "shadows unchanged": at most this many changed places ...
    change_same_max_share: float     # ... and at most this share


def direction_at(shadow: Shadow, point: tuple[float, float], size: tuple[int, int]) -> float:
    """The segment's shadow direction at ``point`` of its own picture.

    With a shadow vanishing point, shadows point away from it (base to tip) or
    toward it, as the direction at the centre says; without one, the direction is
    taken as the same everywhere (near-parallel shadows: telephoto or top-down).
    """
    theta = shadow.direction_deg
    if shadow.vanishing_point is None:
        return theta
    vx, vy = shadow.vanishing_point
    cx, cy = size[0] / 2, size[1] / 2
    toward_c = math.degrees(math.atan2(vy - cy, vx - cx))
    sign = 1.0 if _diff(theta, toward_c) < 90 else -1.0
    toward_p = math.degrees(math.atan2(vy - point[1], vx - point[0]))
    return (toward_p if sign > 0 else toward_p + 180.0) % 360.0


def map_direction(theta_deg: float, H: np.ndarray, point: tuple[float, float]) -> tuple[float, tuple[float, float]]:
    """Carry a direction at ``point`` of picture a into picture b; return it and the mapped point."""
    eps = 2.0
    t = math.radians(theta_deg)
    p = np.float32([[point, (point[0] + eps * math.cos(t), point[1] + eps * math.sin(t))]])
    q = cv2.perspectiveTransform(p, H)[0]
    return math.degrees(math.atan2(q[1, 1] - q[0, 1], q[1, 0] - q[0, 0])) % 360.0, (float(q[0, 0]), float(q[0, 1]))


@dataclass
class ShadowChange:
    """Where the cast shadows of two registered pictures differ (see the module docstring)."""

    compared_in: int             # segment whose picture the comparison is made in (the coarser view)
    compared_px: int             # overlap pixels compared
    shadow_px: int               # pixels in shadow (shadow_area_ratio_max) in either picture, within the overlap
    shadow_places: int           # separate shadow areas in the overlap
    appeared_px: int             # in shadow in the later segment only
    vanished_px: int             # in shadow in the earlier segment only
    changed_places: int
    tolerance_px: int
    strict_changed_places: int   # the same count at change_confirm_tolerance_px ...
    strict_changed_px: int       # ... and the pixels changed there
    strict_tolerance_px: int
    appeared: np.ndarray         # masks in the compared picture (for the evidence picture)
    vanished: np.ndarray
    picture: np.ndarray          # the compared picture (RGB), at most change_width wide
    warp: np.ndarray             # the other picture's full-resolution pixels -> ``picture``'s

    @property
    def changed_share(self) -> float:
        return (self.appeared_px + self.vanished_px) / max(1, self.shadow_px)

    @property
    def strict_changed_share(self) -> float:
        return self.strict_changed_px / max(1, self.shadow_px)

    def verdict(self, params: CompareParams) -> str | None:
        """consistent / inconsistent / inconclusive; None when nothing changed but there are too few
        shadows for that to mean anything."""
        if (self.changed_places >= params.change_moved_min_places
                and self.changed_share >= params.change_moved_min_share):
            return "inconsistent"
        # short or distant shadows turned by a moved sun shift 1-2 px: inside the tolerance, but
        # compared pixel for pixel they change at several places and over a large share of the
        # shadow pixels, which misregistration of one place under one sun did not reach
        if (self.strict_changed_places >= params.change_moved_min_places
                and self.strict_changed_share >= params.change_strict_moved_min_share):
            return "inconsistent"
        if self.shadow_places < params.change_min_shadow_places:
            return None     # too few shadows for "nothing moved" to mean anything
        # no changed place at the tight tolerance either: under a high sun a 10-27 deg turn moved
        # short shadows by 1-2 px, inside change_tolerance_px, and such pairs read "consistent"
        # (places, not pixels: misregistration scatters single pixels at the tight tolerance)
        if (self.changed_places <= params.change_same_max_places
                and self.changed_share <= params.change_same_max_share
                and self.strict_changed_places <= params.change_same_max_places):
            return "consistent"
        return "inconclusive"

    def to_dict(self) -> dict:
        return {"compared_in_segment": self.compared_in, "compared_px": self.compared_px,
                "shadow_px": self.shadow_px, "shadow_places": self.shadow_places,
                "appeared_px": self.appeared_px, "vanished_px": self.vanished_px,
                "changed_share": round(self.changed_share, 5), "changed_places": self.changed_places,
                "tolerance_px": self.tolerance_px, "strict_changed_share": round(self.strict_changed_share, 5),
                "strict_changed_places": self.strict_changed_places, "strict_tolerance_px": self.strict_tolerance_px}


def _places(mask: np.ndarray, gap: int, min_px: int) -> int:
    """Separate places (pixels closer than ``gap`` joined) holding at least ``min_px`` pixels of ``mask``."""
    m = mask.astype(np.uint8)
    n, lab = cv2.connectedComponents(cv2.dilate(m, np.ones((gap, gap), np.uint8)))
    counts = np.bincount(lab[m > 0], minlength=n)[1:]
    return int((counts >= min_px).sum())


def _tone_matched(lr: np.ndarray, lw: np.ndarray, cover: np.ndarray, bins: int) -> np.ndarray:
    """``lr`` (log RGB) mapped, per channel, onto the tones of ``lw`` over ``cover``.

    Two shots of one place differ in exposure, white balance and tone curve
    (auto-exposure, another zoom, another encoder): a gain alone leaves shadows
    10-20 % off and every shadow then reads as changed. The map is the median
    of ``lw`` in each of ``bins`` bins of ``lr`` (between its 0.5th and 99.5th
    percentiles), made non-decreasing and interpolated; moved shadows are a
    minority of every tone, so the medians follow the unchanged ground.
    """
    out = np.empty_like(lr)
    for c in range(lr.shape[-1]):
        x, y = lr[..., c][cover], lw[..., c][cover]
        lo, hi = np.percentile(x, [0.5, 99.5])
        edges = np.linspace(lo, hi + 1e-6, bins + 1)
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
        centres, medians = [], []
        for b in range(bins):
            sel = idx == b
            if sel.sum() >= 20:
                centres.append(float(np.median(x[sel])))
                medians.append(float(np.median(y[sel])))
        if len(centres) < 2:    # (almost) flat picture: a gain
            out[..., c] = lr[..., c] + float(np.median(y - x))
            continue
        medians = np.maximum.accumulate(np.array(medians))
        centres = np.array(centres)
        # beyond the fitted range: the end bins' offsets (a gain)
        mapped = np.interp(lr[..., c], centres, medians)
        below, above = lr[..., c] < centres[0], lr[..., c] > centres[-1]
        mapped[below] = lr[..., c][below] + (medians[0] - centres[0])
        mapped[above] = lr[..., c][above] + (medians[-1] - centres[-1])
        out[..., c] = mapped
    return out


def shadow_change(rgb_i: np.ndarray, rgb_j: np.ndarray, H_ij: np.ndarray, i: int, j: int,
                  params: CompareParams) -> ShadowChange:
    """Compare the cast shadows of two pictures of one place; ``H_ij`` maps picture i to picture j.

    The finer picture is low-passed for its scale and warped onto the coarser
    one; both are smoothed slightly (sensor noise, compression) and the
    difference in exposure and tone curve is removed (:func:`_tone_matched`).
    """
    ref, mov, M, ref_seg = coarse_first(rgb_i, rgb_j, H_ij, i, j)
    # pixel counts and distances below are set at change_width: an HD picture is compared shrunk
    s = min(1.0, params.change_width / ref.shape[1])
    if s < 1.0:
        ref = cv2.resize(ref, (max(8, round(ref.shape[1] * s)), max(8, round(ref.shape[0] * s))),
                         interpolation=cv2.INTER_AREA)
        M = np.diag([s, s, 1.0]) @ M
    h, w = ref.shape[:2]
    warped, cover = warp_onto(ref, mov, M)
    sr = cv2.GaussianBlur(ref.astype(np.float32), (0, 0), 1.0) + 2.0
    sw = cv2.GaussianBlur(warped, (0, 0), 1.0) + 2.0
    lr, lw = np.log(sr), np.log(sw)
    if cover.sum() < 100:
        empty = np.zeros((h, w), bool)
        return ShadowChange(ref_seg, int(cover.sum()), 0, 0, 0, 0, 0, params.change_tolerance_px,
                            0, 0, params.change_confirm_tolerance_px, empty, empty, ref, M)
    lm = _tone_matched(lr, lw, cover, params.change_tone_bins)     # ref in the warped picture's tones
    d = lw - lm
    gain_only = (d.max(-1) - d.min(-1)) <= params.change_max_chroma_spread
    rel_ref, rel_mov = relative_brightness(sr, params), relative_brightness(sw, params)
    s_ref = (rel_ref <= params.change_shadow_ratio_max) & cover
    s_mov = (rel_mov <= params.change_shadow_ratio_max) & cover

    def changed(tolerance_px: int) -> tuple[np.ndarray, np.ndarray]:
        """(darker, brighter) in the warped picture than every pixel of ref within ``tolerance_px``."""
        k = np.ones((2 * tolerance_px + 1,) * 2, np.uint8)
        low, high = (lm, lm) if tolerance_px == 0 else (cv2.erode(lm, k), cv2.dilate(lm, k))
        tau = params.change_min_log_ratio
        darker = ((lw - low) < -tau).all(-1)
        brighter = ((lw - high) > tau).all(-1)
        opening = np.ones((2, 2), np.uint8)
        darker = cv2.morphologyEx((darker & gain_only & s_mov).astype(np.uint8), cv2.MORPH_OPEN, opening) > 0
        brighter = cv2.morphologyEx((brighter & gain_only & s_ref).astype(np.uint8), cv2.MORPH_OPEN, opening) > 0
        return darker, brighter

    darker, brighter = changed(params.change_tolerance_px)
    strict = np.logical_or(*changed(params.change_confirm_tolerance_px))
    # darker in the warped picture = in shadow there only
    later_dark_only, earlier_dark_only = (brighter, darker) if ref_seg == j else (darker, brighter)
    shadow = ((rel_ref <= params.shadow_area_ratio_max) | (rel_mov <= params.shadow_area_ratio_max)) & cover
    places = lambda m: _places(m, params.change_place_gap_px, params.change_place_min_px)  # noqa: E731
    return ShadowChange(
        compared_in=ref_seg, compared_px=int(cover.sum()), shadow_px=int(shadow.sum()),
        shadow_places=_places(shadow, params.change_place_gap_px, params.shadow_place_min_px),
        appeared_px=int(later_dark_only.sum()), vanished_px=int(earlier_dark_only.sum()),
        changed_places=places(darker | brighter), tolerance_px=params.change_tolerance_px,
        strict_changed_places=places(strict), strict_changed_px=int(strict.sum()),
        strict_tolerance_px=params.change_confirm_tolerance_px,
        appeared=later_dark_only, vanished=earlier_dark_only, picture=ref, warp=M)


def _diff(a: float, b: float) -> float:
    """Absolute circular difference of two angles in degrees, in [0, 180]."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _signed(a: float, b: float) -> float:
    return (a - b + 180.0) % 360.0 - 180.0


def _direction_test(i: int, j: int, si: Shadow | None, sj: Shadow | None, reg: Registration,
                    vi: View, vj: View, params: CompareParams) -> tuple[str | None, str, dict]:
    """(verdict or None when a segment has no confident direction, summary, measurements)."""
    for k, s in ((i, si), (j, sj)):
        if s is None or s.direction_deg is None:
            why = s.reason if s is not None and s.reason else "no shadow direction"
            return None, f"segment {k} has no shadow direction ({why})", {}
        if s.confidence < params.min_confidence:
            return None, (f"segment {k}'s shadow direction is not confident enough "
                          f"({s.confidence:.2f} < {params.min_confidence})"), {}
    cj = (vj.size[0] / 2, vj.size[1] / 2)
    # the point of picture i that shows the place at picture j's centre
    p_i = cv2.perspectiveTransform(np.float32([[cj]]), np.linalg.inv(reg.homography))[0, 0]
    theta_i = direction_at(si, (float(p_i[0]), float(p_i[1])), vi.size)
    carried, _ = map_direction(theta_i, reg.homography, (float(p_i[0]), float(p_i[1])))
    delta = _signed(sj.direction_deg, carried)
    sigma = math.sqrt(si.uncertainty_deg ** 2 + sj.uncertainty_deg ** 2 + params.registration_sigma_deg ** 2)
    m = {"delta_deg": round(delta, 3), "delta_sigma_deg": round(sigma, 3),
         "direction_deg": {str(i): si.direction_deg, str(j): sj.direction_deg},
         "carried_direction_deg": round(carried, 3)}
    if abs(delta) <= params.sigma_factor * sigma:
        return "consistent", f"shadow directions agree: difference {delta:+.1f} deg +/- {sigma:.1f} (1 sigma)", m
    if abs(delta) >= params.min_delta_deg:
        return "inconsistent", (f"shadow directions differ by {delta:+.1f} deg +/- {sigma:.1f} (1 sigma), "
                                f"{abs(delta) / sigma:.1f} sigma"), m
    return "inconclusive", (f"shadow directions differ by {delta:+.1f} deg +/- {sigma:.1f}: more than the "
                            "uncertainty allows for a match, too little to call a difference"), m


def _change_summary(c: ShadowChange, verdict: str | None) -> str:
    where = (f"{c.shadow_places} shadow areas compared in segment {c.compared_in}'s picture; "
             f"changed at {c.changed_places} places ({100 * c.changed_share:.1f} % of the shadow pixels)")
    if c.strict_changed_places != c.changed_places:
        where += (f" allowing {c.tolerance_px} px of misregistration, at {c.strict_changed_places} places "
                  f"compared at {c.strict_tolerance_px} px")
    if verdict is None:
        return f"too few shadows in the shared view to compare them ({c.shadow_places} shadow areas)"
    return {"inconsistent": "the cast shadows moved between the two views: ",
            "consistent": "the cast shadows lie in the same places in both views: ",
            "inconclusive": "the cast shadows changed a little between the two views: "}[verdict] + where


def _combine(change: str | None, direction: str | None) -> str:
    """One verdict from the shadow-change test and the direction test.

    Shadows that moved at several places are direct evidence of another sun,
    finer than any direction estimate: a direction test that finds the two
    directions equal within their (degrees-wide) uncertainty does not contradict
    it. Shadows that did not move while the directions differ is a
    contradiction: inconclusive. Shadows changed at one or two places (not
    decided) are not cleared by directions that agree within their sigma.
    """
    if change == "inconsistent":
        return "inconsistent"
    if change == "consistent":
        return "inconclusive" if direction == "inconsistent" else "consistent"
    if change == "inconclusive" and direction == "consistent":
        # something changed that the change test cannot call; "equal within a few degrees" cannot
        # clear it (a 9 deg sun move read 4.9 +/- 5.6 deg on the benchmark)
        return "inconclusive"
    return direction if direction in ("consistent", "inconsistent") else "inconclusive"


def same_time_check(i: int, j: int, si: Shadow | None, sj: Shadow | None, views: dict[int, Sequence[View]],
                    params: CompareParams, picture: Callable[[View], np.ndarray], search: bool = True
                    ) -> tuple[Check, ShadowChange | None]:
    """``same_time_of_day`` for segments ``i`` and ``j``; also the shadow change, for its evidence picture.

    ``picture(view)`` reads a view's frame back (RGB); ``search``: try the scale
    search when features do not register the two (see :func:`best_registration`).
    """
    segs = [i, j]
    found = best_registration(views.get(i, []), views.get(j, []), params, picture, search)
    if found is None:
        m = {"direction_deg": {str(k): s.direction_deg for k, s in ((i, si), (j, sj)) if s is not None}}
        return Check(name="same_time_of_day", segments=segs, verdict="inconclusive",
                     summary=f"Segments {i} and {j} could not be registered as views of one place (too few matching features, "
                             "or the pictures disagree once aligned); their shadows are not comparable without each camera's heading.",
                     measurements=m), None
    reg, vi, vj = found
    m: dict = {"registration": {"inliers": reg.inliers, "inlier_ratio": round(reg.inlier_ratio, 3),
                                "rms_px": round(reg.rms_px, 3), "model": reg.model,
                                "agreement": reg.agreement, "frames": [vi.frame, vj.frame],
                                "homography": [[round(float(v), 8) for v in row] for row in reg.homography]}}
    change = shadow_change(picture(vi), picture(vj), reg.homography, i, j, params)
    change_verdict = change.verdict(params)
    m["shadow_change"] = change.to_dict()
    dir_verdict, dir_summary, dir_m = _direction_test(i, j, si, sj, reg, vi, vj, params)
    m.update(dir_m)
    parts = [_change_summary(change, change_verdict), dir_summary]
    verdict = _combine(change_verdict, dir_verdict)
    lead = {"consistent": "Same sun: filmed at the same time of day (within what the shadows resolve)",
            "inconsistent": "Not filmed at the same time of day (or not under the same sun)",
            "inconclusive": "The shadows cannot tell"}[verdict]
    if change_verdict == "consistent" and dir_verdict == "inconsistent":
        lead = "The two shadow tests contradict each other (one direction estimate must be wrong)"
    m["tests"] = {"shadow_change": change_verdict, "shadow_direction": dir_verdict}
    return Check(name="same_time_of_day", segments=segs, verdict=verdict,
                 summary=f"{lead} (segments {i} and {j}): " + "; ".join(parts) + ".", measurements=m), change
