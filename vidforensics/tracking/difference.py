"""Moving-object candidates against ground texture: a motion-compensated three-frame difference.

The band-pass detector (``detect.py``) measures each candidate against its local
noise, so over a town, trees or a field a small object is as strong as the texture
around it and is not seen, or is taken for clutter (the seed case's bomb descends
in front of buildings). Where the camera's motion is known, the texture can be
removed instead: the frames ``lag`` and ``2 * lag`` back are warped onto the current
one and subtracted. What stands still in the scene cancels; a moving object leaves
itself (in both differences, with one sign) and its two earlier places (each in one
difference only). The smaller of the two differences where they agree in sign keeps
the object where it is now and drops the ghosts (three-frame differencing).

The combined difference is band-passed and divided by the local noise of one plain
difference (sensor noise, codec noise, small registration errors), so the threshold
is an SNR; it is set high (``snr_min``) because parallax and residual registration
error at strong edges also survive the difference. Candidates are measured on the
difference image, where the background is ~0 (contrast: the object's against what was
behind it; texture ratio 1: the surroundings cancelled), but the noise reported is the
picture's own around it, so the kinematics' clutter rule still asks how textured the
place is. Only blocks where the band-pass detector's own noise is high (ground,
buildings) are searched: over sky that detector is better and there is nothing to
cancel. Frames whose motion is unreliable (sky only) give none.
"""
from __future__ import annotations

import collections
import dataclasses

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from vidforensics.tracking.detect import (DetectParams, Detections, band_pass, block_map, gaussian_centroid,
                                          group_footprints, group_max, local_noise, patches_at, ring_background,
                                          work_image)


class DifferenceParams(BaseModel):
    """Difference-image candidates; values in ``[tracking.difference]``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool              # off: the band-pass candidates only
    extra_levels: int          # pyramid levels below the band-pass detector's work scale
    lag_frames: int            # the frames this many and twice as many back are subtracted
    min_texture: float         # only where the band-pass detector's local noise is at least this (levels): ground
    snr_min: float             # peak SNR of the combined difference a candidate needs (parallax, edges survive too)
    snr_low: float             # footprint pixels above this SNR
    max_candidates: int        # strongest candidates per frame
    replace_texture: float     # a band-pass candidate against texture above this (ratio) is replaced by one of these on it


@dataclasses.dataclass(slots=True)
class _Past:
    """One frame of the difference detector's history."""

    work: np.ndarray              # the work image (float32)
    scale: float                  # full-res px per px of the band-pass detector's work image (its noise blocks)
    to_ref: np.ndarray
    run: int
    reliable: bool
    in_run: int                   # frames of its run before it
    noise_blocks: np.ndarray | None
    luma: np.ndarray | None       # kept only in a run's first 2 lag frames (their candidates come later)


class DifferenceDetector:
    """Feed every frame with its camera motion; returns the moving candidates of that frame."""

    def __init__(self, params: DifferenceParams, detect: DetectParams):
        self.p = params
        self.d = detect   # scales, noise blocks, grouping and sigma rules are the band-pass detector's
        # the last 2 * lag + 1 frames at the work scale, with their map to the run's reference
        self._hist: collections.deque[_Past] = collections.deque(maxlen=2 * params.lag_frames + 1)
        # where the last frame's difference was searched: (noise-block mask, full-res px per work px), or None
        self._searched: tuple[np.ndarray, float] | None = None
        self._late: Detections | None = None   # (see late())

    def detect(self, luma: np.ndarray, to_ref: np.ndarray, run: int, reliable: bool,
               noise_blocks: np.ndarray | None, work: np.ndarray | None = None) -> Detections:
        """Candidates of this frame (full-resolution pixels); empty until the history is full.

        ``noise_blocks``: the band-pass detector's local noise per block of this frame
        (``Detector.noise_blocks``); only blocks at least ``min_texture`` noisy (ground,
        buildings: where that detector cannot see a small object) are searched, and only
        their bounding box is warped. ``work``: that detector's work image of this frame
        (``Detector.work``), if at hand.

        A run's first ``2 lag`` frames (after a cut) have no history: their candidates
        are found ``2 lag`` frames later, against the frames that follow them (the same
        three-frame difference, mirrored in time), and handed out by :meth:`late`.
        """
        p = self.p
        self._searched, self._late = None, None
        if work is None:
            work, _ = work_image(luma, self.d.work_width)
        scale = luma.shape[1] / work.shape[1]
        for _ in range(p.extra_levels):   # a further pyramid level: 4x cheaper, and these objects are not faint
            work = cv2.pyrDown(work)
        prev = self._hist[-1] if self._hist else None
        in_run = prev.in_run + 1 if prev is not None and prev.run == run else 0
        lag = p.lag_frames
        self._hist.append(_Past(work, scale, np.asarray(to_ref, float), run, bool(reliable), in_run, noise_blocks,
                                luma if in_run < 2 * lag else None))
        if len(self._hist) < self._hist.maxlen:
            return Detections.empty()
        first, mid = self._hist[0], self._hist[-1 - lag]
        if first.in_run < 2 * lag and first.luma is not None:
            self._late = self._candidates(first, mid, self._hist[-1], first.luma, searched=False)
        return self._candidates(self._hist[-1], mid, first, luma)

    def late(self) -> Detections | None:
        """Candidates the last :meth:`detect` found for the frame ``2 lag`` frames before it, if that
        frame was one of its run's first ``2 lag`` (which have none of their own), in its pixels."""
        return self._late

    def _candidates(self, cur: _Past, e1: _Past, e2: _Past, luma: np.ndarray, searched: bool = True) -> Detections:
        """Moving candidates of frame ``cur`` (full-res ``luma``) against ``e1`` and ``e2``, ``lag`` and
        ``2 lag`` frames from it (before it, or after it for a run's first frames)."""
        p = self.p
        work, noise_blocks = cur.work, cur.noise_blocks
        h, w = luma.shape
        b = max(2, self.d.noise_block >> p.extra_levels)   # the band-pass detector's noise block, at this scale
        if (noise_blocks is None or any(e.run != cur.run or not e.reliable for e in (cur, e1, e2))
                or min(work.shape) < 4 * b):
            return Detections.empty()
        k = w / work.shape[1]
        textured = cv2.dilate((noise_blocks >= p.min_texture).astype(np.uint8), np.ones((3, 3), np.uint8))
        rows, cols = np.flatnonzero(textured.any(axis=1)), np.flatnonzero(textured.any(axis=0))
        if rows.size == 0:
            return Detections.empty()
        # the region of interest: the textured blocks' bounding box, with room for the background filter
        pad = 4 * b
        x0, x1 = max(0, cols[0] * b - pad), min(work.shape[1], (cols[-1] + 1) * b + pad)
        y0, y1 = max(0, rows[0] * b - pad), min(work.shape[0], (rows[-1] + 1) * b + pad)
        roi = work[y0:y1, x0:x1]
        wh, ww = roi.shape
        if min(wh, ww) < 4 * b:
            return Detections.empty()
        if searched:
            self._searched = (textured, cur.scale)
        # work px -> full px (pixel centres): x_full = k x_work + (k - 1) / 2; ROI px -> work px: + (x0, y0)
        A = np.array([[k, 0.0, (k - 1) / 2], [0.0, k, (k - 1) / 2], [0.0, 0.0, 1.0]])
        # full px -> ROI px, the inverse of A then of the ROI offset
        to_roi = np.array([[1 / k, 0.0, -(k - 1) / (2 * k) - x0], [0.0, 1 / k, -(k - 1) / (2 * k) - y0], [0.0, 0.0, 1.0]])
        to_cur = to_roi @ np.linalg.inv(cur.to_ref)

        def warped(e: _Past) -> np.ndarray:
            return cv2.warpPerspective(e.work, to_cur @ e.to_ref @ A, (ww, wh), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE)

        d1 = roi - warped(e1)
        d2 = roi - warped(e2)
        # where both agree in sign, the one nearer zero; else 0 (cv2 min/max: a fraction of numpy's time)
        c = cv2.max(cv2.min(d1, d2), 0.0) + cv2.min(cv2.max(d1, d2), 0.0)
        band = band_pass(c, self.d.background_levels)
        # the noise of one plain difference: what the combined one would show without an object
        noise = block_map(local_noise(np.abs(band_pass(d1, self.d.background_levels)), b, self.d.noise_floor), b,
                          band.shape)
        absband = cv2.absdiff(band, 0.0)
        mask = cv2.compare(absband, noise * np.float32(p.snr_low), cv2.CMP_GT)
        # only the textured blocks' pixels (few pass the threshold: dropped one by one, not by a full-size map)
        pts = cv2.findNonZero(mask)
        if pts is not None:
            pts = pts.reshape(-1, 2)
            px, py = pts[:, 0] + x0, pts[:, 1] + y0
            off = textured[np.minimum(py // b, textured.shape[0] - 1), np.minimum(px // b, textured.shape[1] - 1)] == 0
            mask[py[off] - y0, px[off] - x0] = 0
        groups = group_footprints(mask, self.d.merge_px / k)
        if groups is None:
            return Detections.empty()
        n, xs, ys, lab = groups
        s = (absband[ys, xs] / noise[ys, xs]).astype(np.float64)
        peak = np.maximum(group_max(lab, s, n), 0.0)
        area = np.bincount(lab, minlength=n).astype(np.float64)
        diam = 2.0 * np.sqrt(area / np.pi) * k
        keep = np.flatnonzero((area > 0) & (diam <= self.d.max_size_px) & (peak >= p.snr_min))
        if keep.size == 0:
            return Detections.empty()
        keep = keep[np.argsort(-peak[keep], kind="stable")[: p.max_candidates]]
        # start at each group's strongest pixel, not its centroid: a group may have merged the object
        # with residue of moving smoke or an edge next to it
        o = np.lexsort((-s, lab))
        first = np.searchsorted(lab[o], keep)
        px, py = xs[o][first].astype(np.float64), ys[o][first].astype(np.float64)
        xy = np.stack([k * (px + x0) + (k - 1) / 2, k * (py + y0) + (k - 1) / 2], axis=1)
        bp = self.d.border_px
        inside = (xy[:, 0] >= bp) & (xy[:, 1] >= bp) & (xy[:, 0] <= w - 1 - bp) & (xy[:, 1] <= h - 1 - bp)
        keep, xy, px, py = keep[inside], xy[inside], px[inside].astype(int), py[inside].astype(int)
        if keep.size == 0:
            return Detections.empty()
        pol = np.where(c[py, px] > 0, 1.0, -1.0)
        x, y, size = _centre(band * np.float32(1.0), px, py, pol, np.clip(diam[keep] / k / 2.355, 0.8, 3.0))
        xy = np.stack([k * (x + x0) + (k - 1) / 2, k * (y + y0) + (k - 1) / 2], axis=1)
        # contrast: the combined difference at the peak (the object against what was behind it);
        # noise: of the surroundings in the picture itself, as for the band-pass candidates (a ring
        # around it, MAD): the kinematics' clutter rule asks how textured the place is, not how well
        # the difference cancelled it (a rabbit's ear moving over grass is not a bomb over a town)
        contrast = c[py, px].astype(np.float64)
        nz = _ring_noise(luma, xy, self.d.patch_radius)
        size = size * k
        sigma = np.maximum(self.d.pos_sigma_k * np.maximum(size, 1.5) / np.maximum(peak[keep], 1e-3),
                           self.d.pos_sigma_floor)
        return Detections(xy=xy, sigma=sigma, snr=peak[keep], contrast=contrast, noise=nz, size=size,
                          peak=np.zeros(len(keep)), texture=np.ones(len(keep)),
                          # (not asked: what was behind it is cancelled, its picture surroundings are texture)
                          isolation=np.ones(len(keep)), still=np.zeros(len(keep)))

    def searched_at(self, xy: np.ndarray) -> np.ndarray:
        """Whether the last frame's difference image was searched at each point (full-res px): the
        textured ground around it, with the camera's motion known and enough frames of the run."""
        if self._searched is None or len(xy) == 0:
            return np.zeros(len(xy), bool)
        mask, k = self._searched
        b = self.d.noise_block
        bx = np.clip(((xy[:, 0] + 0.5) / k - 0.5) // b, 0, mask.shape[1] - 1).astype(int)
        by = np.clip(((xy[:, 1] + 0.5) / k - 0.5) // b, 0, mask.shape[0] - 1).astype(int)
        return mask[by, bx] > 0


def _ring_noise(luma: np.ndarray, xy: np.ndarray, radius: int) -> np.ndarray:
    """Luma noise sigma (MAD of the border of a ``2 radius + 1`` patch) around each point, levels."""
    s = 2 * radius + 1
    if luma.shape[0] < s or luma.shape[1] < s:
        return np.zeros(len(xy))
    return ring_background(patches_at(luma, xy, radius)[0])[1]


def _centre(band: np.ndarray, px: np.ndarray, py: np.ndarray, pol: np.ndarray, width: np.ndarray,
            radius: int = 5, iterations: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian-weighted centroids of the object-signed band around each start pixel, and sizes.

    As in ``detect.py``; size: equivalent diameter of the above-half-peak part near the centre.
    """
    start = np.stack([px, py], axis=1).astype(np.float64)
    patch, gx, gy = patches_at(band, start, radius)
    sig = np.clip(patch * pol[:, None, None], 0, None)
    x, y = gaussian_centroid(sig, gx, gy, start, width, iterations, radius / 2)
    near = (np.abs(gx - x[:, None])[:, None, :] <= 2 * width[:, None, None]) & (
        np.abs(gy - y[:, None])[:, :, None] <= 2 * width[:, None, None])
    half = near & (sig > 0.5 * sig.max(axis=(1, 2))[:, None, None])
    size = 2.0 * np.sqrt(np.maximum(half.sum(axis=(1, 2)), 1) / np.pi)
    return x, y, size


def combine(sky: Detections, moving: Detections, merge_px: float, size_k: float, replace_texture: float,
            searched: np.ndarray | None = None) -> Detections:
    """The band-pass candidates plus those of the difference that no band-pass candidate explains.

    A moving candidate within ``merge_px`` of a band-pass candidate measured against
    texture (texture ratio above ``replace_texture``) is the same object better
    measured: it replaces that one (whose position and contrast are the texture's as
    much as the object's, and which the kinematics would call ground clutter). Any
    other moving candidate within ``size_k`` sizes of a band-pass candidate is that
    candidate's object (or a canopy's other end): dropped. (Replacing over the wider
    distance was tried: a canopy's two ends then alternate and the track turns erratic.)

    ``searched``: per band-pass candidate, whether the difference image was searched
    there (``DifferenceDetector.searched_at``). Those with no moving candidate within
    ``size_k`` sizes are marked ``still``: texture standing in the scene (a shadow's
    corner, a dish on a roof), whatever the band-pass makes of it under a zoom.
    """
    if not len(sky):
        return moving
    d = np.hypot(sky.xy[:, None, 0] - moving.xy[None, :, 0], sky.xy[:, None, 1] - moving.xy[None, :, 1])
    near = d <= np.maximum(merge_px, size_k * np.maximum(sky.size[:, None], moving.size[None, :]))
    if searched is not None:
        sky = dataclasses.replace(sky, still=(np.asarray(searched, bool) & ~near.any(axis=1)).astype(np.float64))
    if not len(moving):
        return sky
    same = (d <= merge_px) & (sky.texture > replace_texture)[:, None]
    ks = ~same.any(axis=1)
    km = same.any(axis=0) | ~near.any(axis=0)
    return Detections(*(np.concatenate([getattr(sky, f.name)[ks], getattr(moving, f.name)[km]])
                        for f in dataclasses.fields(Detections)))
