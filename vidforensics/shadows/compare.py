"""Same place, same time? Register segments that view one place and compare their shadows.

Two segments filmed at the same time of day from one spot show the same shadow
direction on the ground; in the image that direction also depends on the
framing, so one segment's direction is carried into the other's picture through
the homography that registers the two views (valid for the ground plane, where
the shadows lie), and compared there, at the other picture's centre.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from vidforensics.report.schema import Check, Shadow


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


@dataclass
class View:
    """A segment's evidence picture, prepared for registration."""

    segment: int
    frame: int
    size: tuple[int, int]        # full-resolution (width, height)
    scale: float                 # register pixels per full-resolution pixel
    keypoints: list
    descriptors: np.ndarray | None


def prepare_view(segment: int, frame: int, rgb: np.ndarray, params: CompareParams) -> View:
    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rw = min(params.register_width, w)
    scale = rw / w
    small = cv2.resize(gray, (rw, max(8, int(round(h * scale)))), interpolation=cv2.INTER_AREA)
    orb = cv2.ORB_create(nfeatures=params.orb_features, fastThreshold=10)
    kp, des = orb.detectAndCompute(small, None)
    return View(segment, frame, (w, h), scale, list(kp), des)


@dataclass
class Registration:
    homography: np.ndarray       # full-resolution pixels of view a -> view b
    inliers: int
    inlier_ratio: float
    rms_px: float


def register(a: View, b: View, params: CompareParams) -> Registration | None:
    """Homography a -> b if the two pictures show the same place, else None."""
    if a.descriptors is None or b.descriptors is None or len(a.keypoints) < params.min_inliers:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < params.match_ratio * m[1].distance]
    if len(good) < params.min_inliers:
        return None
    src = np.float32([a.keypoints[m.queryIdx].pt for m in good]) / a.scale
    dst = np.float32([b.keypoints[m.trainIdx].pt for m in good]) / b.scale
    H, mask = cv2.findHomography(src, dst, cv2.RANSAC, params.ransac_px / b.scale)
    if H is None or mask is None:
        return None
    keep = mask.ravel().astype(bool)
    n = int(keep.sum())
    if n < params.min_inliers or n / len(good) < params.min_inlier_ratio:
        return None
    proj = cv2.perspectiveTransform(src[keep].reshape(-1, 1, 2), H).reshape(-1, 2)
    rms = float(np.sqrt(np.mean(np.sum((proj - dst[keep]) ** 2, axis=1))))
    return Registration(H, n, n / len(good), rms)


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


def _diff(a: float, b: float) -> float:
    """Absolute circular difference of two angles in degrees, in [0, 180]."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _signed(a: float, b: float) -> float:
    return (a - b + 180.0) % 360.0 - 180.0


def best_registration(views_i: list[View], views_j: list[View],
                      params: CompareParams) -> tuple[Registration, View, View] | None:
    """The best-supported registration between any picture of one segment and any of another."""
    best = None
    for a in views_i:
        for b in views_j:
            reg = register(a, b, params)
            if reg is not None and (best is None or reg.inliers > best[0].inliers):
                best = (reg, a, b)
    return best


def same_time_check(i: int, j: int, si: Shadow, sj: Shadow, views: dict[int, list[View]],
                    params: CompareParams) -> Check:
    """``same_time_of_day`` for segments ``i`` and ``j`` (``i`` carried into ``j``'s picture)."""
    segs = [i, j]
    for k, s in ((i, si), (j, sj)):
        if s is None or s.direction_deg is None:
            why = s.reason if s is not None and s.reason else "no shadow direction"
            return Check(name="same_time_of_day", segments=segs, verdict="inconclusive",
                         summary=f"Segment {k} has no usable shadows ({why}).")
        if s.confidence < params.min_confidence:
            return Check(name="same_time_of_day", segments=segs, verdict="inconclusive",
                         summary=f"Segment {k}'s shadow direction is not confident enough "
                                 f"({s.confidence:.2f} < {params.min_confidence}).",
                         measurements={"confidence": {str(i): si.confidence, str(j): sj.confidence}})
    found = best_registration(views.get(i, []), views.get(j, []), params)
    if found is None:
        return Check(name="same_time_of_day", segments=segs, verdict="inconclusive",
                     summary=f"Segments {i} and {j} could not be registered as views of one place; "
                             "their image-plane shadow directions are not comparable without each camera's heading.",
                     measurements={"direction_deg": {str(i): si.direction_deg, str(j): sj.direction_deg}})
    reg, vi, vj = found
    cj = (vj.size[0] / 2, vj.size[1] / 2)
    # the point of picture i that shows the place at picture j's centre
    p_i = cv2.perspectiveTransform(np.float32([[cj]]), np.linalg.inv(reg.homography))[0, 0]
    theta_i = direction_at(si, (float(p_i[0]), float(p_i[1])), vi.size)
    carried, _ = map_direction(theta_i, reg.homography, (float(p_i[0]), float(p_i[1])))
    delta = _signed(sj.direction_deg, carried)
    sigma = math.sqrt(si.uncertainty_deg ** 2 + sj.uncertainty_deg ** 2 + params.registration_sigma_deg ** 2)
    if abs(delta) <= params.sigma_factor * sigma:
        verdict = "consistent"
        summary = (f"Shadows in segments {i} and {j} point the same way on the ground they both show: "
                   f"difference {delta:+.1f} deg +/- {sigma:.1f} (1 sigma).")
    elif abs(delta) >= params.min_delta_deg:
        verdict = "inconsistent"
        summary = (f"Shadows in segments {i} and {j} point differently on the same ground: "
                   f"{delta:+.1f} deg +/- {sigma:.1f} (1 sigma), {abs(delta) / sigma:.1f} sigma apart: "
                   "not filmed at the same time of day (or not under the same sun).")
    else:
        verdict = "inconclusive"
        summary = (f"Shadow directions of segments {i} and {j} differ by {delta:+.1f} deg +/- {sigma:.1f}: "
                   "more than the uncertainty allows for a match, too little to call a difference.")
    return Check(name="same_time_of_day", segments=segs, verdict=verdict, summary=summary, measurements={
        "delta_deg": round(delta, 3), "delta_sigma_deg": round(sigma, 3),
        "direction_deg": {str(i): si.direction_deg, str(j): sj.direction_deg},
        "carried_direction_deg": round(carried, 3),
        "registration": {"inliers": reg.inliers, "inlier_ratio": round(reg.inlier_ratio, 3),
                         "rms_px": round(reg.rms_px, 3), "frames": [vi.frame, vj.frame]},
    })
