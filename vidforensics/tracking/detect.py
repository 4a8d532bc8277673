"""Small-object candidates in one frame: a matched band-pass filter, a local noise floor, sub-pixel centres.

The objects this stage is for are 3-12 px, a few luma levels off the sky, and
sometimes smeared by motion blur. A band-pass (difference of Gaussians: the
object scale minus the local background) is the matched filter for a blob of
that size; dividing it by a *local* noise estimate (the mean absolute response
in a window, a MAD-like scale) makes the threshold an SNR, so that textured
ground, cloud edges and compression blocks, whose response is high everywhere
around them, need far more contrast to pass than a speck in clean sky. Flat,
large structure (smoke, cloud) has no response at the object scale at all.

The filter runs on a copy shrunk by an integer factor so that the picture is at
most ``work_width`` wide (at 720p a 3 px object is still 1.5 px there, and the
filter costs a quarter); each candidate is then re-measured at full resolution
on a small patch: background from the patch border (median), noise from its MAD,
and the sub-pixel centre as the fixed point of the Gaussian-weighted centroid,
which is the least-squares position of a Gaussian template of that width (the
Gaussian fit; its error is about width/SNR px, ~0.8/SNR px for a 3 px blob).

Thresholded pixels are dilated by ``merge_px`` before grouping, so a canopy and
its payload a few pixels below it give *one* candidate at their joint centre.
"""
from __future__ import annotations

from dataclasses import dataclass

import math

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict


class DetectParams(BaseModel):
    """Candidate detection; values in ``[tracking.detect]``."""

    model_config = ConfigDict(extra="forbid")

    work_width: int            # band-pass on a Gaussian-pyramid level at most this wide (pyrDown also smooths)
    background_levels: int     # further pyramid levels below the work level for the local background
    noise_block: int           # work px per side of a block of the local noise estimate
    noise_floor: float         # lowest noise sigma (band-pass levels): flat, compressed sky is not noise-free
    snr_low: float             # pixels above this band-pass SNR are a candidate's footprint (a faint canopy too)
    snr_min: float             # a candidate's peak band-pass SNR must reach this
    max_points: int            # at most this many footprint pixels per frame (the strongest; bounds the work)
    merge_px: float            # footprint pixels closer than this (full-res px) are one object (canopy + payload)
    max_size_px: float         # footprints wider than this (equivalent diameter, full-res px) are structure
    max_candidates: int        # strongest candidates kept per frame (bounds the tracker's work)
    border_px: float           # candidates this close to the picture's edge are dropped (filters ring there)
    patch_radius: int          # full-res patch half-size for the sub-pixel fit
    isolation_radius: int      # full-res half-size of the square whose sides tell an object from a structure's edge
    fit_iterations: int        # Gaussian-weighted centroid iterations
    pos_sigma_k: float         # position sigma = k * width / SNR (px), the Gaussian-fit error
    pos_sigma_floor: float     # ... but never below this (px): resampling and compression


@dataclass(slots=True)
class Detections:
    """Candidates of one frame, as parallel arrays (full-resolution pixel coordinates).

    Attributes
    ----------
    xy : (n, 2) float64
        Sub-pixel centres, pixel centres at integer coordinates.
    sigma : (n,) position uncertainty, px (1 sigma, per axis)
    snr : (n,) peak band-pass SNR (the detection statistic)
    contrast : (n,) signed luma contrast to the local background, levels (negative: darker)
    noise : (n,) luma noise sigma around the candidate, levels
    size : (n,) equivalent diameter of the above-half-contrast footprint, px
    peak : (n,) brightest luma in the core (flares saturate)
    texture : (n,) local band-pass noise over the frame's median: ~1 against sky, high on textured ground
    isolation : (n,) 1 minus the pull of its surroundings' darkest (brightest, for a bright
        candidate) side toward its own level, over its contrast: ~1 for an object alone in the
        sky, ~0 or below for a corner or edge of a larger structure (smoke, cloud, ground)
    still : (n,) 1 where the motion-compensated difference image searched (textured ground) and
        saw nothing move near the candidate: standing texture; 0 elsewhere (``difference.combine``)
    """

    xy: np.ndarray
    sigma: np.ndarray
    snr: np.ndarray
    contrast: np.ndarray
    noise: np.ndarray
    size: np.ndarray
    peak: np.ndarray
    texture: np.ndarray
    isolation: np.ndarray
    still: np.ndarray

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    @staticmethod
    def empty() -> "Detections":
        z = np.zeros(0)
        return Detections(np.zeros((0, 2)), z, z, z, z, z, z, z, z, z)


class Detector:
    """Finds small-object candidates in full-resolution luma frames."""

    def __init__(self, params: DetectParams):
        self.p = params
        # the last frame's local band-pass noise per noise_block x noise_block work-px block (levels)
        self.noise_blocks: np.ndarray | None = None
        self.work: np.ndarray | None = None

    def detect(self, luma: np.ndarray) -> Detections:
        """Candidates in one frame.

        Parameters
        ----------
        luma : (H, W) uint8
            Full-resolution luma (``Frame.luma()``).
        """
        p = self.p
        h, w = luma.shape
        work, k = work_image(luma, p.work_width)
        self.work = work   # (kept for the difference detector, which works on the same picture)
        wh, ww = work.shape
        self.noise_blocks = None
        if min(wh, ww) < p.noise_block or min(h, w) < 2 * p.patch_radius + 1:
            # smaller than one noise block or one fit patch (a thumbnail, a 2x2 test clip): no room
            # for a small object against its surroundings
            return Detections.empty()
        band = band_pass(work, p.background_levels)
        diff = np.abs(band)
        b = p.noise_block
        noise_small = local_noise(diff, b, p.noise_floor)
        nbh, nbw = noise_small.shape
        self.noise_blocks = noise_small   # (kept for the difference detector: where the ground is textured)
        mask = cv2.compare(diff, block_map(noise_small * np.float32(p.snr_low), b, diff.shape), cv2.CMP_GT)
        # groups wider than an object (edges, lines, texture) are structure
        groups = group_footprints(mask, p.merge_px / k)
        if groups is None:
            return Detections.empty()
        n, xs, ys, lab = groups
        lo_x, hi_x = group_min(lab, xs, n), group_max(lab, xs, n)
        lo_y, hi_y = group_min(lab, ys, n), group_max(lab, ys, n)
        span = (np.maximum(hi_x - lo_x, hi_y - lo_y) + 1) * k
        good = (span <= p.max_size_px)[lab]
        xs, ys, lab = xs[good], ys[good], lab[good]
        if xs.size == 0:
            return Detections.empty()
        snr = diff[ys, xs] / noise_small[np.minimum(ys // b, nbh - 1), np.minimum(xs // b, nbw - 1)]
        if len(snr) > p.max_points:
            top = np.argpartition(-snr, p.max_points)[: p.max_points]
            xs, ys, snr, lab = xs[top], ys[top], snr[top], lab[top]
        peak = np.maximum(group_max(lab, snr, n), 0.0)
        area = np.bincount(lab, minlength=n).astype(np.float64)
        diam = 2.0 * np.sqrt(area / np.pi) * k
        keep = np.flatnonzero((area > 0) & (diam <= p.max_size_px) & (peak >= p.snr_min))
        if keep.size == 0:
            return Detections.empty()
        keep = keep[np.argsort(-peak[keep], kind="stable")[: p.max_candidates]]
        wsum = np.bincount(lab, weights=snr, minlength=n)
        cx = np.bincount(lab, weights=snr * xs, minlength=n)[keep] / wsum[keep]
        cy = np.bincount(lab, weights=snr * ys, minlength=n)[keep] / wsum[keep]
        signed = band[ys, xs].astype(np.float64)
        pol = np.sign(np.bincount(lab, weights=signed * snr, minlength=n)[keep])
        pol[pol == 0] = -1.0
        xy0 = np.stack([(cx + 0.5) * k - 0.5, (cy + 0.5) * k - 0.5], axis=1)
        bp = p.border_px
        inside = (xy0[:, 0] >= bp) & (xy0[:, 1] >= bp) & (xy0[:, 0] <= w - 1 - bp) & (xy0[:, 1] <= h - 1 - bp)
        if not inside.all():
            keep, xy0, pol, cx, cy = keep[inside], xy0[inside], pol[inside], cx[inside], cy[inside]
            if keep.size == 0:
                return Detections.empty()
        # how textured the candidate's surroundings are, against the frame's typical (sky) noise
        med = float(np.median(noise_small))
        bx = np.clip((cx // b).astype(int), 0, nbw - 1)
        by = np.clip((cy // b).astype(int), 0, nbh - 1)
        texture = noise_small[by, bx] / max(med, 1e-6)
        return self._refine(luma, xy0, pol, peak[keep], diam[keep], texture)

    def _refine(self, luma: np.ndarray, xy0: np.ndarray, pol: np.ndarray, snr: np.ndarray,
                diam: np.ndarray, texture: np.ndarray) -> Detections:
        """Full-resolution background, noise, contrast, size and Gaussian-fit centre of each candidate."""
        p = self.p
        h, w = luma.shape
        r = p.patch_radius
        s = 2 * r + 1
        if w < s or h < s:
            return Detections.empty()
        # patches clamped inside the frame (a candidate at the edge is measured off-centre)
        patches, gx, gy = patches_at(luma, xy0, r)
        bg, noise = ring_background(patches)
        sig = (patches - bg[:, None, None]) * pol[:, None, None]
        width = np.clip(diam / 2.355, 0.8, r / 2.0)        # template sigma from the footprint (FWHM -> sigma)
        x, y = gaussian_centroid(np.clip(sig, 0, None), gx, gy, xy0, width, p.fit_iterations, r / 2)
        wx = np.exp(-0.5 * ((gx - x[:, None]) / width[:, None]) ** 2)
        wy = np.exp(-0.5 * ((gy - y[:, None]) / width[:, None]) ** 2)
        tmpl = wy[:, :, None] * wx[:, None, :]
        amp = (tmpl * sig).sum(axis=(1, 2)) / np.maximum((tmpl * tmpl).sum(axis=(1, 2)), 1e-9)
        half = sig > 0.5 * np.maximum(amp, 1e-6)[:, None, None]
        core = tmpl > 0.5
        size = 2.0 * np.sqrt((half & (tmpl > 0.05)).sum(axis=(1, 2)) / np.pi)
        peak = np.where(core, patches, 0).max(axis=(1, 2))
        sigma = np.maximum(p.pos_sigma_k * np.maximum(size, 1.5) / np.maximum(snr, 1e-3), p.pos_sigma_floor)
        xy = np.stack([x, y], axis=1)
        return Detections(xy=xy, sigma=sigma, snr=snr, contrast=amp * pol, noise=noise, size=size, peak=peak,
                          texture=texture.astype(np.float64),
                          isolation=isolation(luma, xy, pol, np.abs(amp), p.isolation_radius),
                          still=np.zeros(len(xy)))


def work_image(luma: np.ndarray, work_width: int) -> tuple[np.ndarray, float]:
    """The picture the filters run on (float32) and its full-res px per work px.

    Gaussian pyramid levels until it is at most ``work_width`` wide: each pyrDown smooths
    (sigma ~1 px of its input) and halves, the cheapest matched filter there is (8-bit,
    0.15 ms for a 720p frame); at full size a 5x5 Gaussian (sigma 1) instead.
    """
    h, w = luma.shape
    levels = max(0, math.ceil(math.log2(w / work_width))) if w > work_width else 0
    work = luma
    for _ in range(levels):
        work = cv2.pyrDown(work)
    # below the work level in float: a faint speck is a fraction of a level there
    work = work.astype(np.float32)
    if levels == 0:
        work = cv2.GaussianBlur(work, (5, 5), 1.0)
    return work, w / work.shape[1]


def _origins(shape: tuple[int, int], xy: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of ``2 radius + 1`` squares around each point, clamped inside an image of ``shape``."""
    h, w = shape
    s = 2 * radius + 1
    ox = np.clip(np.rint(xy[:, 0]).astype(int) - radius, 0, max(0, w - s))
    oy = np.clip(np.rint(xy[:, 1]).astype(int) - radius, 0, max(0, h - s))
    return ox, oy


def patches_at(img: np.ndarray, xy: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``2 radius + 1`` square patches (float64) around each point, clamped inside the image.

    Returns the patches and each patch's column and row coordinates, ``(n, s)`` each.
    The image must be at least one patch in size.
    """
    ox, oy = _origins(img.shape, xy, radius)
    ar = np.arange(2 * radius + 1)
    patches = img[(oy[:, None] + ar)[:, :, None], (ox[:, None] + ar)[:, None, :]].astype(np.float64)
    return patches, ox[:, None].astype(np.float64) + ar, oy[:, None].astype(np.float64) + ar


def isolation(luma: np.ndarray, xy: np.ndarray, pol: np.ndarray, contrast: np.ndarray,
              radius: int) -> np.ndarray:
    """How alone each candidate is: 1 - (its surroundings' strongest side toward it) / its contrast.

    The four sides of a ``2 radius + 1`` square around it are compared with the median
    of all four: a small object in the sky has every side at the background (~1); a
    corner of a smoke plume or a cloud, or a bump on an edge, has one side about as
    dark as itself (<= ~0). The median of each side ignores a neighbour a few pixels
    wide (a canopy, another object) on it. At the picture's edge the square is moved inside.

    Parameters
    ----------
    luma : (H, W) uint8 full-resolution luma
    xy : (n, 2) candidate centres, px
    pol : (n,) -1 for a candidate darker than its surroundings, +1 for a brighter one
    contrast : (n,) its |contrast| to the local background, levels
    radius : half-size of the square, px (larger than the objects, so its sides are background)
    """
    if len(xy) == 0:
        return np.zeros(0)
    ox, oy = _origins(luma.shape, xy, radius)
    ar = np.arange(2 * radius + 1)
    last = 2 * radius
    # only the square's four sides are read: top, bottom, left, right
    cols, rows = ox[:, None] + ar, oy[:, None] + ar
    ring = np.stack([luma[oy[:, None], cols], luma[oy[:, None] + last, cols],
                     luma[rows, ox[:, None]], luma[rows, ox[:, None] + last]], axis=1).astype(np.float64)
    sides = median_last(ring)
    bg = median_last(np.concatenate([ring[:, 0], ring[:, 1], ring[:, 2, 1:-1], ring[:, 3, 1:-1]], axis=1))
    pull = ((sides - bg[:, None]) * pol[:, None]).max(axis=1)
    return 1.0 - pull / np.maximum(contrast, 1e-6)


def median_last(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1)``, the same values, without its generality's cost on many short rows."""
    k = a.shape[-1]
    lo, hi = (k - 1) // 2, k // 2
    part = np.partition(a, [lo, hi] if hi != lo else lo, axis=-1)
    return (part[..., lo] + part[..., hi]) / 2


def ring_background(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background (median) and noise sigma (MAD) of each patch's border ring.

    Compressed sky is often quantised flat (MAD 0): then the ring's plain std.
    """
    ring = np.concatenate([patches[:, 0, :], patches[:, -1, :], patches[:, 1:-1, 0], patches[:, 1:-1, -1]], axis=1)
    bg = median_last(ring)
    noise = 1.4826 * median_last(np.abs(ring - bg[:, None]))
    return bg, np.where(noise > 0, noise, ring.std(axis=1))


def gaussian_centroid(pos: np.ndarray, gx: np.ndarray, gy: np.ndarray, xy0: np.ndarray, width: np.ndarray,
                      iterations: int, max_step: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted centroids of non-negative patches ``pos`` (n, s, s), from ``xy0``.

    The fixed point is the least-squares position of a Gaussian template of that width
    (the Gaussian fit). A step further than ``max_step`` from the start means the fit ran
    off onto something else: the previous centre is kept.
    """
    x, y = xy0[:, 0].astype(np.float64), xy0[:, 1].astype(np.float64)
    iw = 1.0 / width[:, None]
    for _ in range(iterations):
        wx = np.exp(-0.5 * ((gx - x[:, None]) * iw) ** 2)
        wy = np.exp(-0.5 * ((gy - y[:, None]) * iw) ** 2)
        # the weight is separable: column sums weighted by wy, row sums by wx (no (n, s, s) product)
        col = np.matmul(wy[:, None, :], pos)[:, 0, :] * wx
        row = np.matmul(pos, wx[:, :, None])[:, :, 0] * wy
        tot = col.sum(axis=1)
        ok = tot > 1e-9
        nx = (col * gx).sum(axis=1) / np.where(ok, tot, 1)
        ny = (row * gy).sum(axis=1) / np.where(ok, tot, 1)
        ok &= (np.abs(nx - xy0[:, 0]) < max_step) & (np.abs(ny - xy0[:, 1]) < max_step)
        x, y = np.where(ok, nx, x), np.where(ok, ny, y)
    return x, y


def band_pass(work: np.ndarray, levels: int) -> np.ndarray:
    """The object-scale band of a work image: it minus its ``levels``-down pyramid background."""
    bg = work
    for _ in range(levels):
        bg = cv2.pyrDown(bg)
    return work - cv2.resize(bg, (work.shape[1], work.shape[0]), interpolation=cv2.INTER_LINEAR)


def local_noise(absband: np.ndarray, block: int, floor: float) -> np.ndarray:
    """Noise sigma of a band-pass image per ``block`` x ``block`` block, at least ``floor``.

    The mean |band| per block (0.798 sigma for Gaussian noise), then the median of each
    3x3 block neighbourhood, so that an object does not raise its own floor (cv2's 3x3
    float median replicates the border: one call instead of a 9-deep numpy median).
    """
    h, w = absband.shape
    blocks = cv2.resize(absband, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
    return np.maximum(cv2.medianBlur(blocks, 3) * np.float32(1.2533), np.float32(floor))


def block_map(values: np.ndarray, block: int, shape: tuple[int, int]) -> np.ndarray:
    """Per-block values spread over an image of ``shape`` (edge blocks extended to its border)."""
    # (np.repeat: a third of cv2.resize's time with INTER_NEAREST, the same values)
    out = np.repeat(np.repeat(values, block, axis=0), block, axis=1)
    if out.shape[:2] != tuple(shape):
        out = cv2.copyMakeBorder(out, 0, max(0, shape[0] - out.shape[0]), 0, max(0, shape[1] - out.shape[1]),
                                 cv2.BORDER_REPLICATE)[: shape[0], : shape[1]]
    return out


def group_footprints(mask: np.ndarray, merge: float) -> tuple[int, np.ndarray, np.ndarray, np.ndarray] | None:
    """Group a candidate mask's pixels: those within ``merge`` px of each other are one candidate.

    Returns the number of labels, the mask pixels' x and y and each one's label, or None
    when the mask is empty. (Dilated before labelling, so a canopy and its payload a few
    pixels apart are one candidate.)
    """
    r = max(0, int(round(merge / 2)))
    grouped = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) if r else mask
    n, labels = cv2.connectedComponents(grouped, connectivity=8)
    pts = cv2.findNonZero(mask)
    if pts is None:
        return None
    pts = pts.reshape(-1, 2)
    xs, ys = pts[:, 0], pts[:, 1]
    return n, xs, ys, labels[ys, xs]


def group_max(lab: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Per-label maximum of ``v`` (-inf where a label has no value).

    Assigning in ascending order of ``v`` lets the last (largest) write win: numpy assigns
    repeated fancy indices in order, and this is several times faster than ``np.maximum.at``.
    """
    out = np.full(n, -np.inf)
    o = np.argsort(v, kind="stable")
    out[lab[o]] = v[o]
    return out


def group_min(lab: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Per-label minimum of ``v`` (+inf where a label has no value)."""
    return -group_max(lab, -np.asarray(v, np.float64), n)

