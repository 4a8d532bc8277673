"""Do two pictures show one place? Registration between segments, checked on the pictures.

One camera zooming, panning and rolling a little between two shots changes the
picture by a similarity (a homography when the perspective changes). ORB
features matched at several scales give candidates; each is re-matched around
its own prediction, refined by ECC when that helps, and kept only if the two
pictures then agree outside shadows and the transform is one camera's. When
features fail (a zoom under a moved sun moves the corners shadows make), a
scale search by normalised cross-correlation gives rough candidates for the
same treatment. See docs/shadows.md, "Same place, same time".
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:   # the [shadow_compare] table; compare.py imports this module
    from vidforensics.shadows.compare import CompareParams


def relative_brightness(img: np.ndarray, params: CompareParams) -> np.ndarray:
    """Each pixel's brightness over the brightest pixel nearby (float grey or RGB in); ``inf`` where
    the neighbourhood is unlit. Pixels at most ``change_shadow_ratio_max`` (0.9) of it are "darker
    than their surroundings" (a third of a textured picture), a loose gate for changes; at most
    ``shadow_area_ratio_max``, a cast shadow's contrast."""
    lum = img if img.ndim == 2 else (img[..., 0] + img[..., 1] + img[..., 2]) * np.float32(1.0 / 3.0)
    lum = lum.astype(np.float32, copy=False)
    win = max(5, int(params.change_shadow_window_frac * img.shape[1]) | 1)
    ref = cv2.dilate(lum, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (win, win)))
    return np.where(ref >= params.change_min_lit_level, lum / np.maximum(ref, 1e-6), np.inf)


@dataclass
class Features:
    """ORB features of one picture at one scale."""

    scale: float                 # feature pixels per full-resolution pixel
    keypoints: list
    descriptors: np.ndarray | None


@dataclass
class View:
    """A segment's sampled picture, prepared for registration."""

    segment: int
    frame: int
    size: tuple[int, int]        # full-resolution (width, height)
    levels: list[Features]       # at register_width, then shrunk by register_level_factors


def prepare_view(segment: int, frame: int, rgb: np.ndarray, params: CompareParams) -> View:
    """ORB features at ``register_width`` and at smaller scales: a 2x zoom changes the detail that
    FAST corners see, and matching the zoomed picture shrunk to the other's scale recovers it."""
    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    orb = cv2.ORB_create(nfeatures=params.orb_features, fastThreshold=10)
    levels = []
    for factor in [1.0, *params.register_level_factors]:
        rw = max(32, int(round(min(params.register_width, w) / factor)))
        scale = rw / w
        small = cv2.resize(gray, (rw, max(8, int(round(h * scale)))), interpolation=cv2.INTER_AREA)
        kp, des = orb.detectAndCompute(small, None)
        levels.append(Features(scale, list(kp), des))
    return View(segment, frame, (w, h), levels)


@dataclass
class Registration:
    homography: np.ndarray       # full-resolution pixels of view a -> view b
    inliers: int
    inlier_ratio: float
    rms_px: float
    model: str = "similarity"    # "similarity" (zoom, roll, shift) or "homography" (perspective change)
    agreement: float | None = None  # photometric check: gradient correlation outside shadows (verify_registration)


def _similarity_from(src: np.ndarray, dst: np.ndarray, n_matches: int, tol: float, params: CompareParams,
                     homography: bool = True) -> Registration | None:
    """Similarity (or, when it explains clearly more, homography) by RANSAC; None when unsupported."""
    S, smask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=tol,
                                           maxIters=4000, confidence=0.999)
    cands = []
    if S is not None and smask is not None:
        cands.append(("similarity", np.vstack([S, [0.0, 0.0, 1.0]]), smask.ravel().astype(bool)))
    if homography and len(src) >= 8:
        H, hmask = cv2.findHomography(src, dst, cv2.RANSAC, tol)
        if H is not None and hmask is not None:
            cands.append(("homography", H / H[2, 2], hmask.ravel().astype(bool)))
    if not cands:
        return None
    model, M, keep = cands[0]
    if len(cands) == 2 and (cands[0][0] != "similarity"
                            or cands[1][2].sum() >= params.homography_min_gain * max(1, cands[0][2].sum())):
        model, M, keep = cands[1]
    n = int(keep.sum())
    scale = abs(np.linalg.det(M[:2, :2])) ** 0.5
    if (n < params.min_inliers or n / max(1, n_matches) < params.min_inlier_ratio
            or not 1.0 / params.max_zoom <= scale <= params.max_zoom):
        return None
    proj = cv2.perspectiveTransform(src[keep].reshape(-1, 1, 2), M).reshape(-1, 2)
    rms = float(np.sqrt(np.mean(np.sum((proj - dst[keep]) ** 2, axis=1))))
    return Registration(M, n, n / max(1, n_matches), rms, model)


def register(a: Features, b: Features, params: CompareParams) -> Registration | None:
    """Transform a -> b from matched features if the two pictures may show the same place, else None.

    One camera zooming, rolling and panning a little is a similarity (4
    parameters): it needs far fewer agreeing matches than a homography and
    extrapolates better beyond them; the homography is used only when it
    explains clearly more matches (a real change of perspective). Candidates
    from few matches must then pass :func:`verify_registration`.
    """
    if a.descriptors is None or b.descriptors is None or len(a.keypoints) < params.min_inliers:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < params.match_ratio * m[1].distance]
    if len(good) < params.min_inliers:
        return None
    src = np.float32([a.keypoints[m.queryIdx].pt for m in good]) / a.scale
    dst = np.float32([b.keypoints[m.trainIdx].pt for m in good]) / b.scale
    return _similarity_from(src, dst, len(good), params.ransac_px / b.scale, params)


def guided_matches(reg: Registration, a: Features, b: Features, params: CompareParams) -> Registration | None:
    """Re-match the features with the position each should have under ``reg`` (within
    ``guided_gate_px``) instead of Lowe's ratio test, and fit again: a rough registration (from few
    matches, or from the scale search) becomes one supported by many."""
    if a.descriptors is None or b.descriptors is None:
        return None
    pa = np.float32([k.pt for k in a.keypoints]) / a.scale
    pb = np.float32([k.pt for k in b.keypoints]) / b.scale
    pred = cv2.perspectiveTransform(pa.reshape(-1, 1, 2), reg.homography).reshape(-1, 2)
    gate = params.guided_gate_px / b.scale
    # per axis: a (N, M, 2) difference summed over its short last axis cost 5x more
    dx, dy = pred[:, 0, None] - pb[None, :, 0], pred[:, 1, None] - pb[None, :, 1]
    mask = (dx * dx + dy * dy <= gate * gate).astype(np.uint8)
    if mask.sum() < params.min_inliers:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING).match(a.descriptors, b.descriptors, mask)
    matches = [m for m in matches if m.distance <= params.guided_max_hamming]
    if len(matches) < params.min_inliers:
        return None
    src = np.float32([pa[m.queryIdx] for m in matches])
    dst = np.float32([pb[m.trainIdx] for m in matches])
    return _similarity_from(src, dst, len(matches), params.ransac_px / b.scale, params)


def scale_search(rgb_a: np.ndarray, rgb_b: np.ndarray, params: CompareParams) -> list[Registration]:
    """Rough a -> b registrations for a zoom from one spot, when features fail: each picture shrunk
    by scales from 1 to ``scale_search_max`` is located inside the other by normalised
    cross-correlation (grey, gradient magnitude, and gradient magnitude outside cast shadows); the
    best peak per direction and cue."""
    def grey(rgb):
        h, w = rgb.shape[:2]
        s = min(1.0, params.register_width / w)
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return cv2.resize(g, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA), s

    def grad(g):
        return _grad_mag(g, 1.0)

    def lit_grad(g):
        # a moved sun moves the shadows' outlines, often the strongest edges of a view: without
        # them the places' own structure decides (seed 2000's pair04: a 2.2x zoom, sun 14 deg on)
        dark = (relative_brightness(g, params) <= params.shadow_area_ratio_max).astype(np.uint8)
        return np.where(cv2.dilate(dark, np.ones((5, 5), np.uint8)) > 0, 0.0, grad(g)).astype(np.float32)

    (ga, sa), (gb, sb) = grey(rgb_a), grey(rgb_b)
    scales = np.exp(np.linspace(math.log(1.1), math.log(params.scale_search_max), params.scale_search_steps))
    out = []
    for big, small, s_big, s_small, small_is_b in ((ga, gb, sa, sb, True), (gb, ga, sb, sa, False)):
        for cue in (lambda g: g, grad, lit_grad):
            best = (-2.0, 1.0, (0, 0))
            B = cue(big)
            for z in scales:
                w, h = round(small.shape[1] / z), round(small.shape[0] / z)
                if w < 32 or h < 32 or w >= big.shape[1] or h >= big.shape[0]:
                    continue
                r = cv2.matchTemplate(B, cue(cv2.resize(small, (w, h), interpolation=cv2.INTER_AREA)),
                                      cv2.TM_CCOEFF_NORMED)
                _, mx, _, loc = cv2.minMaxLoc(r)
                if mx > best[0]:
                    best = (mx, float(z), loc)
            if best[0] < -1.0:
                continue
            _, z, (x0, y0) = best
            # small-picture full-res pixel u -> big full-res: (loc + u * s_small / z) / s_big
            M = np.array([[s_small / z / s_big, 0, x0 / s_big], [0, s_small / z / s_big, y0 / s_big], [0, 0, 1.0]])
            M_ab = np.linalg.inv(M) if small_is_b else M
            out.append(Registration(M_ab, 0, 0.0, float("nan"), "scale search"))
    return out


def coarse_first(rgb_i: np.ndarray, rgb_j: np.ndarray, H_ij: np.ndarray, i: int, j: int):
    """(ref, mov, M mov->ref, ref segment): compare in the coarser picture, so nothing is upsampled."""
    A = np.asarray(H_ij, np.float64) / H_ij[2, 2]
    if abs(np.linalg.det(A[:2, :2])) > 1.0:      # j is the magnified view
        return rgb_i, rgb_j, np.linalg.inv(A), i
    return rgb_j, rgb_i, A, j


def warp_onto(ref: np.ndarray, mov: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mov`` (float) warped onto ``ref``'s pixels by ``M``, low-passed first when shrunk; and its cover."""
    h, w = ref.shape[:2]
    movf = mov.astype(np.float32)
    shrink = abs(np.linalg.det(M[:2, :2] / M[2, 2])) ** 0.5
    if shrink < 0.95:   # anti-alias before shrinking
        movf = cv2.GaussianBlur(movf, (0, 0), 0.5 * math.sqrt(1.0 / shrink ** 2 - 1.0))
    warped = cv2.warpPerspective(movf, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cover = cv2.warpPerspective(np.ones(mov.shape[:2], np.uint8), M, (w, h), flags=cv2.INTER_NEAREST)
    # picture edges (encoder and scaler artefacts, letterboxing) of either picture are not compared
    margin = max(8, int(0.015 * w))
    cover[:margin], cover[-margin:], cover[:, :margin], cover[:, -margin:] = 0, 0, 0, 0
    return warped, cv2.erode(cover, np.ones((2 * margin + 1,) * 2, np.uint8)).astype(bool)


def _grad_mag(grey: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    g = cv2.GaussianBlur(grey, (0, 0), sigma)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))


def _agreement(ref: np.ndarray, mov: np.ndarray, M: np.ndarray, params: CompareParams) -> float | None:
    """Correlation of gradient magnitudes of grey ``ref`` and ``mov`` warped onto it by ``M``, outside
    shadows (moved shadows are not structure); None when too little is left to compare."""
    warped, cover = warp_onto(ref, mov, M)
    # cast shadows by their contrast (shadow_area_ratio_max), not the loose "darker than its
    # surroundings" gate of the change test: that took a third of a textured picture, and in the
    # 17 % of a wide view a 2.4x zoom shares, eroded, under 500 pixels were left to compare
    sh = params.shadow_area_ratio_max
    dark = (relative_brightness(ref, params) <= sh) | (relative_brightness(warped, params) <= sh)
    # black (title cards, night) is not a place: the overlay text on it would be all that agrees
    unlit = (ref < params.change_min_lit_level) | (warped < params.change_min_lit_level)
    keep = cv2.erode((cover & ~dark & ~unlit).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if keep.sum() < 500:
        return None
    ga, gb = _grad_mag(ref)[keep], _grad_mag(warped)[keep]
    ga, gb = ga - ga.mean(), gb - gb.mean()
    return float((ga * gb).sum() / math.sqrt(float((ga * ga).sum() * (gb * gb).sum()) + 1e-12))


def _one_camera(M: np.ndarray, shape: tuple, params: CompareParams) -> bool:
    """Whether ``M`` (full-resolution pixels of a picture of ``shape`` -> the other) is what one camera
    zooming, panning and rolling a little does: little rotation, no shear, mild perspective. A
    registration onto a logo or caption can agree photometrically and still be impossible."""
    h, w = shape[:2]
    M = M / M[2, 2]
    A = M[:2, :2]
    sv = np.linalg.svd(A, compute_uv=False)
    if sv[1] <= 0 or sv[0] / sv[1] > params.max_anisotropy:
        return False
    rotation = math.degrees(math.atan2(A[1, 0] - A[0, 1], A[0, 0] + A[1, 1]))
    if abs(rotation) > params.max_rotation_deg:
        return False
    # the projective denominator across the picture: 1 everywhere for an affine map
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
    den = corners @ M[2]
    return bool(den.min() > 0 and den.max() / den.min() <= 1.0 + params.max_perspective)


def _ecc_refine(ref: np.ndarray, mov: np.ndarray, M: np.ndarray, params: CompareParams) -> np.ndarray | None:
    """``M`` (``mov`` -> ``ref`` pixels) refined by ECC on the grey pictures; None without convergence.

    ECC runs on both pictures shrunk to ``ecc_width`` (its cost is per pixel and iteration); the
    correction it finds is scaled back to ``ref``'s pixels."""
    warped, cover = warp_onto(ref, mov, M)
    h, w = ref.shape[:2]
    f = min(1.0, params.ecc_width / w)
    D = np.diag([f, f, 1.0])
    if f < 1.0:
        size = (max(8, round(w * f)), max(8, round(h * f)))
        ref = cv2.resize(ref, size, interpolation=cv2.INTER_AREA)
        warped = cv2.resize(warped, size, interpolation=cv2.INTER_AREA)
        cover = cv2.resize(cover.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    try:
        # a sparse mask (shadows cut out) makes OpenCV's ECC drift: only the cover is masked
        _, warp = cv2.findTransformECC(ref, warped, np.eye(3, dtype=np.float32), cv2.MOTION_HOMOGRAPHY,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, params.ecc_iterations, 1e-6),
                                       cover.astype(np.uint8), 1)
        # warped(warp(x)) ~ ref(x) at the shrunk scale: the refined mov -> ref map is D^-1 warp^-1 D @ M
        refined = np.linalg.inv(D) @ np.linalg.inv(warp.astype(np.float64)) @ D @ M
    except (cv2.error, np.linalg.LinAlgError):
        return None
    return refined if np.isfinite(refined).all() else None


def verify_registration(reg: Registration, rgb_a: np.ndarray, rgb_b: np.ndarray,
                        params: CompareParams) -> Registration | None:
    """Check ``reg`` on the pictures themselves, refine it if that helps, and keep it only if they agree.

    Agreement (:func:`_agreement`) is ~0 for a wrong registration and drops
    sharply for one a few pixels off. ECC (``cv2.findTransformECC``) refines the
    transform at ``register_width``; under a moved sun the moved shadows can
    pull ECC off, so its result is kept only when it agrees better.
    """
    ref, mov, M, ref_index = coarse_first(rgb_a, rgb_b, reg.homography, 0, 1)
    h, w = ref.shape[:2]
    s = min(1.0, params.register_width / w)
    S = np.diag([s, s, 1.0])
    grey_mov = cv2.cvtColor(mov, cv2.COLOR_RGB2GRAY).astype(np.float32)
    small_ref = cv2.resize(cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY).astype(np.float32),
                           (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    Ms = S @ M                                           # mov full-res -> ref small
    best = (_agreement(small_ref, grey_mov, Ms, params), Ms)
    refined = _ecc_refine(small_ref, grey_mov, Ms, params) if params.ecc_iterations > 0 else None
    if refined is not None:
        score = _agreement(small_ref, grey_mov, refined, params)
        if score is not None and (best[0] is None or score > best[0]):
            best = (score, refined)
    agreement, Ms = best
    if agreement is None or agreement < params.min_agreement or not _one_camera(np.linalg.inv(S) @ Ms, mov.shape, params):
        return None
    M_full = np.linalg.inv(S) @ Ms                       # mov -> ref, full resolution
    H_ab = np.linalg.inv(M_full) if ref_index == 0 else M_full
    return Registration(H_ab / H_ab[2, 2], reg.inliers, reg.inlier_ratio, reg.rms_px, reg.model, round(agreement, 4))


def best_registration(views_i: Sequence[View], views_j: Sequence[View], params: CompareParams,
                      picture: Callable[[View], np.ndarray], search: bool = True
                      ) -> tuple[Registration, View, View] | None:
    """The first pair of sampled pictures, one of each segment, whose best-supported
    registration passes the photometric check.

    Pairs are tried in order (the segments' sampled frames in time); a pair's
    candidates come from matching at equal scale and with either picture shrunk,
    are re-matched around their own prediction (:func:`guided_matches`) and
    checked in order of agreeing features (repeated windows can make a wrong one
    the best supported), at most ``max_verified`` over all pairs. A verified
    registration is the pictures' own agreement, so the first found ends the
    search: matching every pair first cost 45 feature matchings for two segments
    of three samples, 0.2 s where the first pair needs 5. When none passes and
    ``search`` is set, :func:`scale_search` on the first two pictures gives rough
    candidates for the same treatment (about a second per pair).
    """
    def settle(reg: Registration, a: View, b: View) -> Registration | None:
        guided = guided_matches(reg, a.levels[0], b.levels[0], params)
        for r in ([guided] if guided is not None else []) + [reg]:
            checked = verify_registration(r, picture(a), picture(b), params)
            if checked is not None:
                return checked
        return None

    budget = params.max_verified
    for a in views_i:
        for b in views_j:
            if budget <= 0:
                break
            levels = [(0, 0)] + [(0, k) for k in range(1, len(b.levels))] + [(k, 0) for k in range(1, len(a.levels))]
            cands = [r for r in (register(a.levels[la], b.levels[lb], params) for la, lb in levels) if r is not None]
            cands.sort(key=lambda r: -r.inliers)
            for reg in cands[:budget]:
                budget -= 1
                checked = settle(reg, a, b)
                if checked is not None:
                    return checked, a, b
    if search and views_i and views_j:
        a, b = views_i[0], views_j[0]
        for reg in scale_search(picture(a), picture(b), params):
            checked = settle(reg, a, b)
            if checked is not None:
                return checked, a, b
    return None
