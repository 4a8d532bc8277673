"""Image-plane cast-shadow direction from one frame, and from a few frames of a segment.

Conventions (the report's): ``direction_deg`` is the direction from a caster's
base toward its shadow's tip, ``atan2(dy, dx)`` in pixel coordinates (x right,
y down), degrees in [0, 360), evaluated at the image centre.

Method (classical, no model weights; ``docs/shadows.md`` has the long version):

1. Line segments at working resolution (LSD on the grey image, no smoothing, so
   1-3 px pole shadows survive as pairs of flank segments).
2. Each segment is tested as a *shadow edge*: one side darker than the other
   by a cast-shadow ratio, with the same chromaticity up to a shift towards
   blue (shadows are lit by the sky only).
3. Near-vertical segments that are not shadow edges are *casters* (poles,
   building corners, people). A shadow edge with one end on a caster and the
   other end free is an *oriented cue*: base at the caster, tip away from it.
4. Parallel ground shadows meet at one vanishing point. RANSAC over pairs of
   shadow lines (oriented cues count more) finds it, a weighted least-squares
   fit on the lines' homogeneous coordinates refines it, and a model choice
   keeps "parallel" (point at infinity) unless the finite point explains the
   lines clearly better. The direction at the image centre points towards the
   vanishing point or away from it, as the oriented cues vote.
5. The 1-sigma uncertainty comes from a bootstrap over the lines plus a floor.
6. Box buildings (``_box_sweep``): shadow edges off the structure grid are the shadow's sweep
   edges; their axial mode is the direction, the building at one end (lit ground at the other)
   fixes base -> tip. Combined with the pole rays only when the two agree within their sigmas.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict


class ShadowParams(BaseModel):
    """Every number the shadow estimator uses (values: ``[shadows]`` in pipelines/default.toml)."""

    model_config = ConfigDict(extra="forbid")

    # Working resolution
    max_width: int                    # frames wider than this are area-downscaled first (speed)
    # Line segments
    min_segment_frac: float           # shortest usable segment, as a share of the working width
    samples_per_segment: int          # points along a segment where its two sides are compared
    side_offsets_px: list[float]      # perpendicular offsets (px) sampled on each side
    # Shadow-edge test (dark side vs lit side)
    shadow_ratio_min: float           # dark/lit luminance above this (below: black object, not a shadow)
    shadow_ratio_max: float           # ... and below this (a cast shadow removes most direct light)
    min_lit_level: float              # lit side's luminance (0..255) at least this: no shadows at night
    chroma_tol: float                 # chromaticity change allowed off the blue-shift axis
    blue_shift_max: float             # how much bluer the dark side may be (skylight)
    blue_shift_min: float             # ... and how much redder (negative), for white balance slop
    min_consistent_frac: float        # share of a segment's sample points that must pass the test
    stripe_max_width_px: float        # two facing shadow edges closer than this form a thin stripe
    stripe_max_angle_deg: float       # ... and this parallel
    stripe_bonus: float               # weight multiplier of stripe flanks (pole shadows)
    # Casters
    caster_vertical_tol_deg: float    # a caster edge is within this of the image vertical
    caster_max_tilt_deg: float        # ... or, pointing at the vertical vanishing point, within this
    caster_vvp_tol_deg: float         # ... within this angle of the direction towards it
    caster_vvp_min_segments: int      # long near-vertical segments agreeing on that point to use it
    caster_min_frac: float            # shortest caster edge, share of the working width
    base_radius_px: float             # a shadow line's end within this of a caster is its base
    caster_min_sep_deg: float         # a shadow line must leave its base at least this far off the caster's up direction
    attach_min_dot: float             # shadow side must face the caster's body or top (cosine)
    # Vanishing point
    ransac_iters: int
    inlier_tol_deg: float             # angular residual of a line to the shadow direction field
    oriented_bonus: float             # extra RANSAC weight of oriented (caster-paired) lines
    vp_min_gain: float                # finite VP must cut the angular RSS by this share vs parallel
    vp_min_lines: int                 # and be supported by at least this many lines
    horizon_roll_max_deg: float       # without sky in the picture, a finite shadow point must lie above it (this roll allowed) ...
    horizon_margin_frac: float        # ... or at most this share of the picture's height inside its top edge
    sky_width: int                    # the sky test's picture width (px)
    sky_max_texture: float            # sky: spread of the gradient around its local mean (levels) at most this ...
    sky_min_share: float              # ... over a region touching the top edge of at least this share of the picture
    seed: int                         # RANSAC / bootstrap generator seed (reproducible reports)
    # Decision and uncertainty
    min_inliers: int                  # shadow lines consistent with the direction
    min_oriented: int                 # of which oriented by a caster
    rival_max_share: float            # a second line family with this share of the winner's oriented weight: ambiguous
    min_orient_margin: float          # |vote| / total oriented weight needed to fix base->tip
    bootstrap: int                    # bootstrap resamples for the uncertainty
    sigma_floor_px: float             # systematic floor (pixel grid, blur), px across the cues' median length ...
    sigma_few_lines_px: float         # ... and per 1/sqrt(inliers) (small samples understate spread), added in quadrature
    max_sigma_deg: float              # a direction less certain than this (1-sigma) is not claimed
    sigma_calibration: float          # stated sigma = this x the fitted one (measured: 1 sigma then holds ~68 %)
    sigma_model_share: float          # parallel fits: this share of the gap to the finite-VP centre direction
    conf_cue_scale: float             # oriented cues at which confidence saturates (1 - e^-n/scale)
    conf_sigma_deg: float             # uncertainty at which confidence halves
    max_confidence_ambiguous: float   # confidence cap when no direction is claimed
    # Several frames of a segment
    combine_outlier_sigma: float      # frames farther than this many (stated) sigmas from the median are dropped
    combine_outlier_min_deg: float    # ... but never closer than this many degrees
    combine_max_spread_deg: float     # kept frames' spread beyond this: no segment direction
    combine_min_kept_frac: float      # more than this share of the voting frames must agree
    combine_guided_min_frames: int    # a shot whose kept frames are all guided needs this many of them
    combine_frame_correlation: float  # correlation of two frames' errors within one shot (1: all common)
    # Structure axes (box buildings, roads, windows: the man-made grid)
    axis_min_share: float             # an orientation holding this share of all segment length is a structure axis
    axis_min_segments: int            # ... and at least this many segments (a grid, not one mast)
    axis_tol_deg: float               # shadow lines within this of a structure axis ...
    axis_weight: float                # ... weigh this much (stripes exempt): building outlines are not shadows
    # Region cue (shadow mask vs caster mask, directional cross-correlation)
    region_max_width: int             # working width of the region cue
    region_lit_window_frac: float     # window (share of width) in which the lit reference is the brightest pixel
    region_lit_min_ratio: float       # pixels at least this share of the local reference count as lit
    region_same_surface_tol: float    # max |log| per-channel deviation of "the shadowed surface, lit" (ground, not caster)
    region_r_min_frac: float          # correlation radii (shares of width): from ...
    region_r_max_frac: float          # ... to
    region_n_radii: int
    region_min_shadow_frac: float     # shadow and caster masks must cover at least this share of the frame
    region_min_peak: float            # profile peak (normalised, 0..1) for the region cue to count
    region_max_disagree_deg: float    # line and region directions farther apart than this: no claim
    region_agree_deg: float           # within this the region cue confirms; between: confidence capped
    max_confidence_unconfirmed: float  # confidence cap when the region cue does not confirm the lines
    # Pole rays (primary cue): thin dark stripes leaving the foot of a vertical caster
    ray_caster_min_frac: float        # shortest caster edge for a pole ray, share of the working width
    ray_chain_min_px: float           # shortest collinear piece that extends a caster edge down to its foot
    ray_chain_tol_px: float           # ... with both ends this close to the caster's line
    ray_chain_gap_px: float           # ... and starting at most this far below the current end
    ray_max_casters: int              # longest this many casters are probed (speed)
    ray_merge_px: float               # caster feet closer than this are one caster (a pole's two flanks)
    ray_step_deg: float               # angular step of the rays from each foot
    ray_r0_px: float                  # rays start this far from the foot (the pole's own width)
    ray_step_px: float                # sample spacing along a ray
    ray_len_frac: float               # longest ray, share of the working width
    ray_core_px: float                # stripe core: darkest sample within +- this of the ray
    ray_fit_steps: int                # angles tried over +- ray_step_deg when fitting a stripe's direction
    ray_lit_px: float                 # lit reference sampled this far either side of the ray
    ray_prefix_frac: float            # share of samples from the foot to the stripe's end that must pass
    ray_faint_ratio_max: float        # a faint stripe's samples: dark/lit ratio at most this ...
    ray_faint_median_max: float       # ... with a median at most this ...
    ray_faint_mad_max: float          # ... and steady: median absolute deviation at most this
    ray_min_len_frac: float           # shortest stripe, share of the working width
    ray_vertical_excl_deg: float      # rays within this of the caster's own axis (up or down) are ignored
    ray_edge_blue_min: float          # a one-sided ray (a shadow's outline) counts when its dark side is this much bluer (median) ...
    ray_edge_lit_sat_max: float       # ... and its lit side no more saturated than this (chromaticity distance from grey)
    ray_stripe_min_share: float       # share of the stripe's samples lit on both sides (a stripe, not a wall edge)
    ray_opposite_tol_deg: float       # "the other way": within this of the opposite direction
    ray_opposite_max: float           # a stripe through the foot the other way (longer than this share): not a foot
    ray_rival_sep_deg: float          # directions at least this far from the best are rivals
    ray_rival_max: float              # a second direction this long (share) from the same foot: ambiguous foot
    ray_min_edge_share: float         # rays that contradict each other: those along straight edges (LSD) over this share ...
    ray_edge_tol_px: float            # ... (a segment is along a ray when both its ends are this close to the ray's line) ...
    ray_retry_min_cues: int           # ... and off the structure grid are refitted alone; this many must agree
    guided_min_support: int           # a frame without a direction: feet supporting one direction needed (0: off)
    guided_rival_max: float           # ... and no direction ray_rival_sep_deg away with this share of that support
    guided_tol_steps: int             # a foot supports a predicted direction with a stripe within this many ray steps
    guided_max_rays: int              # the longest this many stripes make the hypotheses (pairs: speed)
    guided_min_cross_deg: float       # two stripes crossing at less than this make no vanishing point
    guided_vp_clear_px: float         # a vanishing point this close to a foot is no hypothesis
    guided_vp_pool: int               # ... of which the best-supported this many are hypotheses (best and rivals)
    guided_sigma_scale: float         # stated sigma of a guided direction, times the fit's (measured)
    ray_min_cues: int                 # pole rays agreeing on one vanishing point
    ray_min_inlier_share: float       # ... and this share of all pole rays
    line_fallback: bool               # without pole rays, try the edge-line + region estimate (less reliable)
    # Box sweep edges: shadow edges off the structure grid, from a building corner along the shadow
    box_cue: bool                     # use the box-shadow sweep-edge cue
    box_region_agree_deg: float       # ... only where the region cue points within this of it
    box_min_oriented_share: float     # ... and this share of its sweep edges start at a building
    box_grid_excl_deg: float          # sweep edges lie at least this far from every structure axis
    box_min_edges: int                # sweep edges (and of them oriented by a building) needed
    box_rival_sep_deg: int            # off-grid orientations this far from the mode are rivals (rival_max_share)
    box_end_px: float                 # an edge's end is probed this far beyond it along the edge
    box_sigma_floor_deg: float        # the sweep edges' sigma floor ...
    box_sigma_few_deg: float          # ... and small-sample term (over sqrt(edges)), in quadrature with their spread
    box_object_tol: float             # max |log| colour deviation from the lit ground beyond which it is an object


@dataclass
class ShadowCue:
    """One caster/shadow pair: base and tip in full-frame pixel coordinates."""

    base: tuple[float, float]
    tip: tuple[float, float]
    kind: str          # "pole", "pole-faint", "shadow-outline", "box", "edge" (schema.ShadowCueOut)
    weight: float


@dataclass
class ShadowEstimate:
    direction_deg: float | None
    uncertainty_deg: float | None     # 1-sigma
    confidence: float                 # 0..1
    method: str
    cues: list[ShadowCue] = field(default_factory=list)
    vanishing_point: tuple[float, float] | None = None
    reason: str | None = None         # why direction_deg is None
    contested: bool = False           # ... because the cues found contradict each other (not merely too few)
    guided: bool = False              # the direction came from the feet's support alone (_guided_estimate)


# --------------------------------------------------------------------------- segments


@dataclass
class _Lines:
    """Shadow-edge segments at working resolution, centred coordinates."""

    p: np.ndarray        # (N, 2) first end
    q: np.ndarray        # (N, 2) second end
    w: np.ndarray        # (N,) weight: length x contrast
    base_end: np.ndarray  # (N,) 0: p is the base, 1: q is the base, -1: not oriented
    kind: list[str]
    axes: list[float] = field(default_factory=list)  # structure axes (axial degrees, image frame)
    edge_share: np.ndarray | None = None  # (N,) pole rays: share of the ray along straight edges (_edge_support)

    def subset(self, keep: np.ndarray) -> _Lines:
        return _Lines(self.p[keep], self.q[keep], self.w[keep], self.base_end[keep],
                      [k for k, x in zip(self.kind, keep) if x], self.axes,
                      None if self.edge_share is None else self.edge_share[keep])


def _to_working(rgb: np.ndarray, params: ShadowParams) -> tuple[np.ndarray, float]:
    """Area-downscale wide frames (speed); return the image and working px per frame px."""
    h, w = rgb.shape[:2]
    if w <= params.max_width:
        return rgb, 1.0
    s = params.max_width / w
    return cv2.resize(rgb, (params.max_width, max(1, round(h * s))), interpolation=cv2.INTER_AREA), s


def _detect_segments(grey: np.ndarray, min_len: float) -> np.ndarray:
    """LSD segments (N, 4) x1 y1 x2 y2 on the unsmoothed grey image.

    LSD's own scale step would blur thin pole shadows away, hence scale=1.
    """
    lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD, 1.0)
    found = lsd.detect(grey)[0]
    if found is None:
        return np.zeros((0, 4), np.float32)
    return _at_least(found.reshape(-1, 4), min_len)


def _at_least(seg: np.ndarray, min_len: float) -> np.ndarray:
    """The segments (N, 4) at least ``min_len`` long."""
    return seg[np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]) >= min_len]


@dataclass
class _Frame:
    """One frame prepared once for every cue: resizing, grey conversion and LSD (half of the
    estimator's time) are not repeated per cue."""

    work: np.ndarray     # RGB at working resolution (at most max_width wide)
    scale: float         # working px per frame px
    grey: np.ndarray     # uint8 grey of ``work``
    seg: np.ndarray      # LSD segments as long as the shortest any cue keeps; each cue keeps its own

    @cached_property
    def greyf(self) -> np.ndarray:
        """``grey`` as float32 (the stripes' angle fit), converted once however many cues use it."""
        return self.grey.astype(np.float32)


def _prepare(rgb: np.ndarray, params: ShadowParams) -> _Frame:
    work, scale = _to_working(rgb, params)
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    seg = _detect_segments(grey, min(params.ray_chain_min_px, params.min_segment_frac * work.shape[1]))
    return _Frame(work, scale, grey, seg)


_REMAP_COLS = 4096  # layout of the sample maps (an implementation detail, not a tuning knob)


def _side_samples(img: np.ndarray, seg: np.ndarray, params: ShadowParams) -> np.ndarray:
    """Bilinear samples on both sides of each segment.

    Returns (N, 2 sides, n_offsets, n_points, 3) float32; side 0 is +normal.
    """
    t = np.linspace(0.15, 0.85, params.samples_per_segment, dtype=np.float32)
    p, q = seg[:, :2], seg[:, 2:]
    d = q - p
    n = np.stack([-d[:, 1], d[:, 0]], 1) / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)[:, None]
    pts = p[:, None, :] + t[None, :, None] * d[:, None, :]                 # (N, P, 2)
    offs = np.asarray(params.side_offsets_px, np.float32)
    sides = np.array([1.0, -1.0], np.float32)
    xy = (pts[:, None, None, :, :]
          + sides[None, :, None, None, None] * offs[None, None, :, None, None] * n[:, None, None, None, :])
    shape = xy.shape[:-1]
    flat = xy.reshape(-1, 2).astype(np.float32)
    k = len(flat)
    rows = -(-k // _REMAP_COLS)  # cv2.remap maps must stay below 32767 px a side
    maps = np.zeros((rows * _REMAP_COLS, 2), np.float32)
    maps[:k] = flat
    maps = maps.reshape(rows, _REMAP_COLS, 2)
    out = cv2.remap(img, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out.reshape(-1, 3)[:k].reshape(*shape, 3)


def _shadow_edge_test(samples: np.ndarray, params: ShadowParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which segments separate a cast shadow from the same surface in light.

    Returns (is_shadow_edge (N,), contrast (N,) = 1 - dark/lit, dark side (N,): +1 = +normal,
    lit-side mean colour (N, 3)).
    """
    lum = samples.mean(-1)                                    # (N, 2, O, P)
    side_mean = lum.mean(-1)                                  # (N, 2, O)
    dark_side = (side_mean.min(-1)[:, 0] > side_mean.min(-1)[:, 1]).astype(int)  # lower min wins
    idx = np.arange(len(samples))
    # Dark value: the darkest offset (inside a 1-3 px pole shadow, the nearest one);
    # lit value: the other side's brightest offset (beyond any anti-aliasing).
    dark_off = side_mean[idx, dark_side].argmin(-1)
    lit_off = side_mean[idx, 1 - dark_side].argmax(-1)
    dark_rgb = samples[idx, dark_side, dark_off]              # (N, P, 3)
    lit_rgb = samples[idx, 1 - dark_side, lit_off]
    dl, ll = dark_rgb.mean(-1), lit_rgb.mean(-1)
    ratio = dl / np.maximum(ll, 1.0)
    cd = dark_rgb / np.maximum(dark_rgb.sum(-1, keepdims=True), 1.0)
    cl = lit_rgb / np.maximum(lit_rgb.sum(-1, keepdims=True), 1.0)
    diff = cd - cl
    u = np.array([-1.0, 0.0, 1.0], np.float32) / math.sqrt(2.0)   # redder -> bluer
    along = diff @ u
    off_axis = np.linalg.norm(diff - along[..., None] * u, axis=-1)
    ok = ((ratio >= params.shadow_ratio_min) & (ratio <= params.shadow_ratio_max)
          & (ll >= params.min_lit_level) & (off_axis <= params.chroma_tol)
          & (along <= params.blue_shift_max) & (along >= params.blue_shift_min))
    is_edge = ok.mean(-1) >= params.min_consistent_frac
    contrast = 1.0 - np.median(ratio, axis=-1)
    return (is_edge, np.clip(contrast, 0.0, 1.0), np.where(dark_side == 0, 1.0, -1.0),
            lit_rgb.mean(1))


@dataclass
class _Casters:
    seg: np.ndarray      # (M, 4) near-vertical non-shadow segments
    side_rgb: np.ndarray  # (M, 2, 3) mean colour on the +normal / -normal side


def _casters(seg: np.ndarray, samples: np.ndarray, is_shadow: np.ndarray, stripe: np.ndarray,
             params: ShadowParams, width: int) -> _Casters:
    """Near-vertical segments that are not shadow edges: poles, corners, people.

    Thin dark vertical stripes (a grey mast, a person's legs) look like shadow
    edges to the colour test, but a one-sided vertical shadow edge is the far
    end of a shadow, not its caster: stripes are kept, one-sided edges are not.
    """
    d = seg[:, 2:] - seg[:, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    off_vertical = np.degrees(np.arctan2(np.abs(d[:, 0]), np.abs(d[:, 1])))
    keep = (~is_shadow | stripe) & (off_vertical <= params.caster_vertical_tol_deg) \
        & (length >= params.caster_min_frac * width)
    return _Casters(seg[keep], samples[keep].mean(axis=(2, 3)))


def _point_segment_distance(pt: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Distance from one point to each of many segments."""
    a, b = seg[:, :2], seg[:, 2:]
    ab = b - a
    t = np.clip(((pt - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-9), 0.0, 1.0)
    return np.hypot(*(a + t[:, None] * ab - pt).T)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.hypot(v[0], v[1])), 1e-9)


def _attached(end: np.ndarray, other: np.ndarray, dark_n: np.ndarray, lit_rgb: np.ndarray,
              cas: _Casters, params: ShadowParams, width: int) -> bool:
    """Does this shadow line start at the base of a caster standing at ``end``?

    A caster edge must touch ``end`` and rise above it. The shadow region (the
    line's dark side) must lie towards the caster's body or towards its top:
    the bottom outline of a wall next to its own shadow has the shadow on the
    side away from both, which is how footprint edges are told from cast ones.
    """
    if len(cas.seg) == 0:
        return False
    near = _point_segment_distance(end, cas.seg) <= params.base_radius_px
    top = np.minimum(cas.seg[:, 1], cas.seg[:, 3])
    rises = top <= end[1] - params.caster_min_frac * width * 0.5
    for k in np.flatnonzero(near & rises):
        a, b = cas.seg[k, :2], cas.seg[k, 2:]
        up = _unit(a - b if a[1] < b[1] else b - a)
        nrm = _unit(np.array([-(b - a)[1], (b - a)[0]]))
        # Body side: the caster side whose colour differs more from the lit ground.
        diff = np.linalg.norm(cas.side_rgb[k] - lit_rgb[None, :], axis=1)
        body = nrm if diff[0] >= diff[1] else -nrm
        if abs(float(_unit(other - end) @ up)) > math.cos(math.radians(params.caster_min_sep_deg)):
            continue  # the line runs along the caster itself: its own outline, not its shadow
        if max(float(dark_n @ body), float(dark_n @ up)) >= params.attach_min_dot:
            return True
    return False


def _orient(seg: np.ndarray, dark: np.ndarray, lit_rgb: np.ndarray, cas: _Casters,
            params: ShadowParams, width: int) -> np.ndarray:
    """Base end of each shadow segment (0 or 1), or -1 when neither or both ends sit on a caster."""
    out = np.full(len(seg), -1, int)
    for i, s in enumerate(seg):
        d = s[2:] - s[:2]
        dark_n = _unit(np.array([-d[1], d[0]])) * dark[i]
        a = _attached(s[:2], s[2:], dark_n, lit_rgb[i], cas, params, width)
        b = _attached(s[2:], s[:2], dark_n, lit_rgb[i], cas, params, width)
        if a != b:
            out[i] = 0 if a else 1
    return out


def _stripes(seg: np.ndarray, dark: np.ndarray, params: ShadowParams) -> np.ndarray:
    """Flank segments of thin dark stripes (pole, mast, leg shadows).

    A stripe is two near-parallel shadow edges a few px apart whose dark sides
    face each other, overlapping along their length. Building footprint edges
    seldom look like this, so stripes are the least ambiguous shadow lines.
    """
    p, q = seg[:, :2], seg[:, 2:]
    d = q - p
    u = d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
    n = np.stack([-u[:, 1], u[:, 0]], 1) * dark[:, None]        # towards the dark side
    mid = (p + q) / 2.0
    rel = mid[None, :, :] - mid[:, None, :]                      # i -> j
    across = (rel * n[:, None, :]).sum(-1)                      # j lies on i's dark side
    along = np.abs((rel * u[:, None, :]).sum(-1))
    half = np.hypot(d[:, 0], d[:, 1]) / 2.0
    parallel = np.abs((u[:, None, :] * u[None, :, :]).sum(-1)) >= math.cos(math.radians(params.stripe_max_angle_deg))
    facing = (n[:, None, :] * n[None, :, :]).sum(-1) < 0
    close = (across > 0) & (across <= params.stripe_max_width_px)
    overlap = along < half[:, None] + half[None, :]
    m = parallel & facing & close & overlap
    np.fill_diagonal(m, False)
    return m.any(1) | m.any(0)


def _axial_deg(seg: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(seg[:, 3] - seg[:, 1], seg[:, 2] - seg[:, 0])) % 180.0


def _structure_axes(seg: np.ndarray, params: ShadowParams) -> list[float]:
    """Up to two orientations (axial degrees) holding ``axis_min_share`` of all segment length.

    Box buildings, roads and windows put most of a town's edges on two axes. Their outlines
    next to shadows pass the shadow-edge test and end on casters by coincidence, so shadow
    lines along these axes are not trusted (except thin stripes: pole shadows).
    """
    if len(seg) == 0:
        return []
    ang = _axial_deg(seg)
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    hist = np.bincount(np.round(ang).astype(int) % 180, weights=length, minlength=180)
    k = int(round(params.axis_tol_deg))
    win = np.array([np.roll(hist, i) for i in range(-k, k + 1)]).sum(0)
    total = max(float(length.sum()), 1e-9)
    axes = []
    for _ in range(2):
        i = int(win.argmax())
        n_on = int((np.abs((ang - i + 90.0) % 180.0 - 90.0) <= params.axis_tol_deg).sum())
        if win[i] < params.axis_min_share * total or n_on < params.axis_min_segments:
            break
        axes.append(float(i))
        for j in range(-2 * k, 2 * k + 1):
            win[(i + j) % 180] = 0.0
    return axes


def _near_axes(seg: np.ndarray, axes: list[float], tol: float) -> np.ndarray:
    ang = _axial_deg(seg)
    out = np.zeros(len(seg), bool)
    for a in axes:
        out |= np.abs((ang - a + 90.0) % 180.0 - 90.0) <= tol
    return out


def _shadow_lines(rgb: np.ndarray, params: ShadowParams) -> tuple[_Lines | None, int, float, tuple[float, float]]:
    """Find shadow-edge lines; returns (lines, n_segments, scale, centre) at working resolution."""
    work, scale = _to_working(rgb, params)
    h, w = work.shape[:2]
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    seg = _detect_segments(grey, params.min_segment_frac * w)
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    if len(seg) == 0:
        return None, 0, scale, centre
    samples = _side_samples(work.astype(np.float32), seg, params)
    is_shadow, contrast, dark, lit = _shadow_edge_test(samples, params)
    stripe_all = np.zeros(len(seg), bool)
    stripe_all[is_shadow] = _stripes(seg[is_shadow], dark[is_shadow], params)
    casters = _casters(seg, samples, is_shadow, stripe_all, params, w)
    sh = seg[is_shadow]
    if len(sh) == 0:
        return None, len(seg), scale, centre
    base_end = _orient(sh, dark[is_shadow], lit[is_shadow], casters, params, w)
    stripe = stripe_all[is_shadow]
    length = np.hypot(sh[:, 2] - sh[:, 0], sh[:, 3] - sh[:, 1])
    c = np.array(centre, np.float32)
    weight = length * contrast[is_shadow] * np.where(stripe, params.stripe_bonus, 1.0)
    axes = _structure_axes(seg[~is_shadow], params)   # from non-shadow edges: roofs, roads, walls
    on_axis = _near_axes(sh, axes, params.axis_tol_deg)
    weight = weight * np.where(on_axis & ~stripe, params.axis_weight, 1.0)
    lines = _Lines(sh[:, :2] - c, sh[:, 2:] - c, weight, base_end,
                   ["pole" if st else "edge" for st in stripe], axes)
    return lines, len(seg), scale, centre


# --------------------------------------------------------------------------- vanishing point


def _homogeneous(lines: _Lines, norm: float) -> np.ndarray:
    """Lines as unit-normal homogeneous vectors in coordinates scaled by ``norm``."""
    one = np.ones((len(lines.p), 1))
    l = np.cross(np.hstack([lines.p / norm, one]), np.hstack([lines.q / norm, one]))
    return l / np.maximum(np.hypot(l[:, 0], l[:, 1]), 1e-12)[:, None]


def _field_dir(v: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Direction from each point towards the (homogeneous, w >= 0) point ``v``.

    Continuous through infinity: for w = 0 it is the same direction everywhere.
    """
    return np.stack([v[0] - v[2] * pts[:, 0], v[1] - v[2] * pts[:, 1]], 1)


def _field_cos(v: np.ndarray, mid: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Cosine of the angle between each line direction and the field direction (towards ``v``)
    at its midpoint; signed: negative where the line points away from ``v``."""
    d = _field_dir(v, mid)
    return ((d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-12)[:, None]) * u).sum(1)


def _residual_deg(v: np.ndarray, mid: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Axial angle between each line direction and the field direction at its midpoint."""
    return np.degrees(np.arccos(np.clip(np.abs(_field_cos(v, mid, u)), 0.0, 1.0)))


def _canon(v: np.ndarray) -> np.ndarray:
    """Unit homogeneous point(s) (last axis) with w >= 0 (so "towards v" is consistent everywhere)."""
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    return np.where(v[..., 2:] < 0, -v, v)


def _fit_vp(l: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares point on many lines: smallest singular vector of W^1/2 L."""
    _, _, vt = np.linalg.svd(l * np.sqrt(w)[:, None], full_matrices=False)
    return _canon(vt[-1])


def _fit_vp_on_row(l: np.ndarray, w: np.ndarray, y: float) -> np.ndarray:
    """Weighted least squares point on many lines, constrained to the row ``y`` (or its point
    at infinity): the smallest eigenvector of the 2x2 problem in ``s (0, y, 1) + t (1, 0, 0)``."""
    a, b = np.array([0.0, y, 1.0]), np.array([1.0, 0.0, 0.0])
    la, lb = l @ a, l @ b
    m = np.array([[np.sum(w * la * la), np.sum(w * la * lb)], [np.sum(w * la * lb), np.sum(w * lb * lb)]])
    s, t = np.linalg.eigh(m)[1][:, 0]
    return _canon(s * a + t * b)


def _fit_parallel(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted axial mean direction as a point at infinity (doubled-angle average)."""
    a = np.arctan2(u[:, 1], u[:, 0])
    m = 0.5 * math.atan2((w * np.sin(2 * a)).sum(), (w * np.cos(2 * a)).sum())
    return np.array([math.cos(m), math.sin(m), 0.0])


@dataclass
class _Geom:
    mid: np.ndarray      # (N, 2) midpoints, scaled coordinates
    u: np.ndarray        # (N, 2) unit directions
    l: np.ndarray        # (N, 3) homogeneous lines
    w: np.ndarray        # (N,) RANSAC weights
    o: np.ndarray        # (N,) +1: u runs base -> tip, -1: tip -> base, 0: not oriented
    above: tuple[float, float] | None = None   # the point must lie above the picture (see _above_picture)


def _geometry(lines: _Lines, norm: float, params: ShadowParams) -> _Geom:
    d = lines.q - lines.p
    u = d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-12)[:, None]
    w = lines.w * (1.0 + params.oriented_bonus * (lines.base_end >= 0))
    o = np.where(lines.base_end == 0, 1.0, np.where(lines.base_end == 1, -1.0, 0.0))
    return _Geom((lines.p + lines.q) / 2.0 / norm, u, _homogeneous(lines, norm), w, o)


def _agree(cosines: np.ndarray, o: np.ndarray, tol_deg: float, oriented: bool) -> np.ndarray:
    """Which lines lie along their field direction within ``tol_deg`` (``cosines``: (..., N) cosines
    of the angle between line and field). Oriented: an oriented line must also point the way
    the field does, for the sign (+ towards the point, - away) that suits more weight, so a
    stripe leaving its foot the wrong way is an outlier, not an inlier that splits the vote.
    Returns (..., 2, N): sign +, sign -."""
    c = math.cos(math.radians(tol_deg))
    axial = np.abs(cosines) >= c
    if not oriented:
        return np.stack([axial, axial], -2)
    signed = o * cosines
    return np.stack([np.where(o != 0, signed >= c, axial), np.where(o != 0, -signed >= c, axial)], -2)


def _ransac(g: _Geom, params: ShadowParams, rng: np.random.Generator, oriented: bool = False) -> np.ndarray:
    """Inlier mask of the best vanishing-point hypothesis (pairs, and parallel from each pair).

    Pairs are drawn weighted by ``g.w``, the second line unlike the first (redrawn until it
    differs: the same law as drawing without replacement); every hypothesis is built and
    scored in array operations. ``oriented``: see :func:`_agree`.
    """
    n = len(g.w)
    if n < 2:
        return np.ones(n, bool)
    prob = g.w / g.w.sum()
    I = rng.choice(n, params.ransac_iters, p=prob)
    J = rng.choice(n, params.ransac_iters, p=prob)
    for _ in range(64):
        same = I == J
        if not same.any():
            break
        J[same] = rng.choice(n, int(same.sum()), p=prob)
    I, J = I[I != J], J[I != J]
    if len(I) == 0:
        return np.ones(n, bool)
    finite = _canon(np.cross(g.l[I], g.l[J]))
    a = np.arctan2(g.u[:, 1], g.u[:, 0])
    ws, wc = g.w * np.sin(2 * a), g.w * np.cos(2 * a)
    m = 0.5 * np.arctan2(ws[I] + ws[J], wc[I] + wc[J])
    parallel = np.stack([np.cos(m), np.sin(m), np.zeros_like(m)], 1)
    V = np.stack([finite, parallel], 1).reshape(-1, 3)     # finite, parallel, finite, ...
    d = V[:, None, :2] - V[:, None, 2:] * g.mid[None]
    dn = d / np.maximum(np.hypot(d[..., 0], d[..., 1]), 1e-12)[..., None]
    inliers = _agree((dn * g.u[None]).sum(-1), g.o, params.inlier_tol_deg, oriented).reshape(-1, n)
    return inliers[int(np.argmax(inliers @ g.w))]


def _refine(g: _Geom, inl: np.ndarray, params: ShadowParams,
            oriented: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
    """Refit on inliers, re-select, and choose finite VP vs parallel. Returns (v, inliers, finite).

    With ``g.above`` (the point must lie above the picture, :func:`_above_picture`) a finite
    point below that is not used.
    """
    v = _fit_vp(g.l[inl], g.w[inl])
    for _ in range(2):
        both = _agree(_field_cos(v, g.mid, g.u), g.o, params.inlier_tol_deg, oriented)
        new = both[int(np.argmax(both @ g.w))]
        if new.sum() < 2:
            break
        inl = new
        v = _fit_vp(g.l[inl], g.w[inl])
    par = _fit_parallel(g.u[inl], g.w[inl])
    rss_vp = (g.w[inl] * _residual_deg(v, g.mid[inl], g.u[inl]) ** 2).sum()
    rss_par = (g.w[inl] * _residual_deg(par, g.mid[inl], g.u[inl]) ** 2).sum()
    finite = inl.sum() >= params.vp_min_lines and rss_vp < (1.0 - params.vp_min_gain) * rss_par
    if finite and g.above is not None and not _above_picture(v, g.above, params.horizon_roll_max_deg):
        finite = False
    return (v if finite else par), inl, finite


def _above_picture(v: np.ndarray, above: tuple[float, float], roll_max_deg: float) -> bool:
    """Whether the point ``v`` lies above the picture's top edge (``above``: its height and the
    half width, centred coordinates), allowing a horizon rolled up to ``roll_max_deg``.

    A shadow vanishing point lies on the horizon. With no sky in the picture the horizon is
    above it, so a finite point inside or below the top edge is a fit bent by stray rays:
    on 180 ray-cast scenes 8 of the 10 worst finite fits (5-45 deg off) had their point there,
    in pictures without sky (telephoto views tilted down).
    """
    if abs(v[2]) < 1e-12:
        return True
    x, y = v[0] / v[2], v[1] / v[2]
    top, half = above
    return y <= top + math.tan(math.radians(roll_max_deg)) * max(0.0, abs(x) - half)


def _sky_at_top(grey: np.ndarray, params: ShadowParams) -> bool:
    """Whether the picture shows sky: a smooth region (texture at most ``sky_max_texture`` at
    ``sky_width``) touching the top edge, of at least ``sky_min_share``.

    Cloud and haze are smooth at this scale; the test errs towards "sky" (then nothing is
    constrained). On 210 ray-cast scenes it found 54 of the 59 with sky (the 5 missed show
    1-2 % of it) and called 1 of 151 without sky a sky.
    """
    h, w = grey.shape[:2]
    s = params.sky_width / w
    g = cv2.resize(grey, (params.sky_width, max(1, round(h * s))), interpolation=cv2.INTER_AREA).astype(np.float32)
    # texture, not slope: the spread of the gradient vectors around their local mean is zero
    # on a sky's smooth brightness gradient, and not on ground texture
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
    blur = lambda a: cv2.GaussianBlur(a, (0, 0), 3)  # noqa: E731
    tex = np.sqrt(np.maximum(blur(gx * gx + gy * gy) - blur(gx) ** 2 - blur(gy) ** 2, 0.0))
    smooth = (tex <= params.sky_max_texture).astype(np.uint8)
    _, lab = cv2.connectedComponents(smooth)
    top = np.unique(lab[0][smooth[0] > 0])
    return bool(top.size) and float(np.isin(lab, top).mean()) >= params.sky_min_share


def _oriented_weight(lines: _Lines, mask: np.ndarray) -> float:
    return float(lines.w[mask & (lines.base_end >= 0)].sum())


def _rival_share(g: _Geom, lines: _Lines, inl: np.ndarray, params: ShadowParams,
                 rng: np.random.Generator) -> float:
    """Oriented weight of the best *other* line family, as a share of the winner's.

    Footprint edges of buildings (often all along two axes) can be attached to
    casters by coincidence; when a second family is nearly as well supported
    as the first, the frame does not say which one the sun drew.
    """
    rest = ~inl
    if rest.sum() < 2:
        return 0.0
    sub = _Geom(g.mid[rest], g.u[rest], g.l[rest], g.w[rest], g.o[rest])
    inl2 = np.zeros_like(inl)
    inl2[rest] = _ransac(sub, params, rng)
    win = _oriented_weight(lines, inl)
    if win <= 0.0:
        return 0.0  # nothing oriented: "too few consistent cues" decides
    return _oriented_weight(lines, inl2) / win


def _orientation_vote(v: np.ndarray, lines: _Lines, inl: np.ndarray, norm: float) -> tuple[float, float, int]:
    """Vote "shadows point towards v" (+) or "away from v" (-) with the oriented inliers.

    Returns (sign, margin in 0..1, number of oriented inliers).
    """
    sel = inl & (lines.base_end >= 0)
    if not sel.any():
        return 0.0, 0.0, 0
    base = np.where((lines.base_end[sel] == 0)[:, None], lines.p[sel], lines.q[sel])
    tip = np.where((lines.base_end[sel] == 0)[:, None], lines.q[sel], lines.p[sel])
    d = _field_dir(v, (base + tip) / 2.0 / norm)
    s = np.sign(((tip - base) * d).sum(1))
    w = lines.w[sel]
    vote = (w * s).sum()
    return float(np.sign(vote)), float(abs(vote) / w.sum()), int(sel.sum())


def _centre_direction(v: np.ndarray, sign: float) -> float:
    """Degrees in [0, 360) at the image centre (origin of the centred coordinates)."""
    return math.degrees(math.atan2(sign * v[1], sign * v[0])) % 360.0


def _bootstrap_sigma(g: _Geom, inl: np.ndarray, finite: bool, sign: float,
                     centre_deg: float, params: ShadowParams, rng: np.random.Generator) -> float:
    """Circular std of the centre direction over resampled inlier lines."""
    idx = np.flatnonzero(inl)
    devs = []
    for _ in range(params.bootstrap):
        b = rng.choice(idx, len(idx), replace=True)
        v = _fit_vp(g.l[b], g.w[b]) if finite else _fit_parallel(g.u[b], g.w[b])
        # Axial comparison: the sign was fixed by the vote; the bootstrap measures the axis.
        dev = (_centre_direction(v, 1.0) - centre_deg + 90.0) % 180.0 - 90.0
        devs.append(dev)
    return float(np.sqrt(np.mean(np.square(devs)))) if devs else 90.0


# --------------------------------------------------------------------------- region cue

_BLUE = np.array([-1.0, 0.0, 1.0], np.float32) / math.sqrt(2.0)   # redder -> bluer


def _region_masks(rgb: np.ndarray, params: ShadowParams) -> tuple[np.ndarray, np.ndarray]:
    """Shadow mask S and caster mask K at the region working width.

    S: darker than the brightest pixel nearby by a cast-shadow ratio, with the chromaticity of
    the lit pixels nearby up to the skylight blue shift. K: pixels next to S that are neither
    shadow nor "the shadowed surface in light" (S's local colour divided by the frame's
    per-channel shadow/lit ratio): the casters' bodies, where a shadow is attached.
    """
    h, w = rgb.shape[:2]
    s = min(1.0, params.region_max_width / w)
    img = rgb if s >= 1.0 else cv2.resize(rgb, (round(w * s), max(1, round(h * s))),
                                          interpolation=cv2.INTER_AREA)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.7)
    H, W = img.shape[:2]
    lum = img.mean(-1)
    chrom = img / np.maximum(img.sum(-1, keepdims=True), 1.0)
    k = max(3, int(round(params.region_lit_window_frac * W)) | 1)
    ref = cv2.dilate(lum, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    ratio = lum / np.maximum(ref, 1.0)
    bright = (ratio >= params.region_lit_min_ratio).astype(np.float32)
    sig = k / 3.0
    bw = cv2.GaussianBlur(bright, (0, 0), sig)
    cref = cv2.GaussianBlur(chrom * bright[..., None], (0, 0), sig) / np.maximum(bw[..., None], 1e-6)
    diff = chrom - cref
    along = diff @ _BLUE
    off = np.linalg.norm(diff - along[..., None] * _BLUE, axis=-1)
    S = ((ratio >= params.shadow_ratio_min) & (ratio <= params.shadow_ratio_max)
         & (ref >= params.min_lit_level) & (off <= params.chroma_tol)
         & (along <= params.blue_shift_max) & (along >= params.blue_shift_min) & (bw > 0.05))
    S = cv2.morphologyEx(S.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    if S.sum() < max(20, params.region_min_shadow_frac * S.size):
        return S, np.zeros_like(S)
    lit_rgb = cv2.GaussianBlur(img * bright[..., None], (0, 0), sig) / np.maximum(bw[..., None], 1e-6)
    r = np.median(img[S] / np.maximum(lit_rgb[S], 1.0), axis=0)          # per-channel shadow/lit
    sw = cv2.GaussianBlur(S.astype(np.float32), (0, 0), sig)
    srgb = cv2.GaussianBlur(img * S[..., None], (0, 0), sig) / np.maximum(sw[..., None], 1e-6)
    same = np.abs(np.log(np.maximum(img, 1.0) * r / np.maximum(srgb, 1.0))).max(-1) \
        <= params.region_same_surface_tol
    near = cv2.dilate(S.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))).astype(bool)
    return S, near & ~S & ~same


def _region_direction(rgb: np.ndarray, params: ShadowParams) -> tuple[float | None, float]:
    """Direction (deg) in which the caster mask, shifted, best lands on the shadow mask.

    C(v) = sum_x K(x) S(x + v) by FFT; C is sampled on rings of radius r_min..r_max, each ring
    made zero-mean and scaled to its largest |value|, and the rings averaged. The peak is
    object -> shadow. Returns (direction or None, normalised peak height 0..1).
    """
    S, K = _region_masks(rgb, params)
    min_px = max(20, params.region_min_shadow_frac * S.size)
    if S.sum() < min_px or K.sum() < min_px:
        return None, 0.0
    H, W = S.shape
    shape = (2 * H, 2 * W)
    C = np.fft.irfft2(np.conj(np.fft.rfft2(K.astype(np.float32), s=shape))
                      * np.fft.rfft2(S.astype(np.float32), s=shape), s=shape)
    C = np.fft.fftshift(C).astype(np.float32)
    th = np.radians(np.arange(360.0))
    radii = np.linspace(params.region_r_min_frac, params.region_r_max_frac, params.region_n_radii) * W
    xs = (W + radii[:, None] * np.cos(th)[None]).astype(np.float32)
    ys = (H + radii[:, None] * np.sin(th)[None]).astype(np.float32)
    R = cv2.remap(C, xs, ys, cv2.INTER_LINEAR)
    R = R - R.mean(1, keepdims=True)
    R = R / np.maximum(np.abs(R).max(1, keepdims=True), 1e-9)
    prof = R.mean(0)
    i = int(prof.argmax())
    return float(i), float(prof[i])


# --------------------------------------------------------------------------- public


def _none(reason: str, confidence: float, method: str, cues=None, contested: bool = False) -> ShadowEstimate:
    return ShadowEstimate(None, None, float(confidence), method, cues or [], None, reason, contested)


def _cues(lines: _Lines, inl: np.ndarray, centre, scale: float) -> list[ShadowCue]:
    """Oriented inlier lines as cues in full-frame pixel coordinates."""
    out = []
    c = np.array(centre)
    for i in np.flatnonzero(inl & (lines.base_end >= 0)):
        base, tip = (lines.p[i], lines.q[i]) if lines.base_end[i] == 0 else (lines.q[i], lines.p[i])
        b, t = (base + c) / scale, (tip + c) / scale
        out.append(ShadowCue((float(b[0]), float(b[1])), (float(t[0]), float(t[1])),
                             lines.kind[i], float(lines.w[i])))
    return out


def estimate_shadow_direction(rgb: np.ndarray, params: ShadowParams) -> ShadowEstimate:
    """Image-plane cast-shadow direction at the centre of one RGB frame.

    Parameters
    ----------
    rgb : np.ndarray
        (H, W, 3) uint8 frame.
    params : ShadowParams

    Returns
    -------
    ShadowEstimate
        ``direction_deg`` None with a ``reason`` when no usable shadows are found.
    """
    frame = _prepare(rgb, params)
    pole = _pole_estimate(frame, params)
    if params.box_cue:
        box = _confirmed_box(rgb, params, frame)
        if box.direction_deg is not None:
            if pole.direction_deg is None:
                return box
            return _combine_cues(pole, box, params)
    if pole.direction_deg is not None or not params.line_fallback:
        return pole
    est, axes = _line_estimate(rgb, params)
    if est.direction_deg is None:
        return est
    # A direction along the town's own grid is what building outlines produce: it needs the
    # region cue's confirmation. Off-grid directions only lose confidence when unconfirmed.
    on_grid = any(abs((est.direction_deg - a + 90.0) % 180.0 - 90.0) <= params.axis_tol_deg for a in axes)
    reg_deg, peak = _region_direction(rgb, params)
    if reg_deg is None or peak < params.region_min_peak:
        if on_grid:
            return _none("shadow lines run along the structure grid and no region cue confirms them",
                         params.max_confidence_ambiguous, est.method)
        est.confidence = min(est.confidence, params.max_confidence_unconfirmed)
        est.method += "; region cue: none"
        return est
    gap = abs((est.direction_deg - reg_deg + 180.0) % 360.0 - 180.0)
    if on_grid and gap > params.region_agree_deg:
        # The region cue is coarse (box silhouettes bias it by tens of degrees), but an
        # object -> shadow direction opposite to the lines' means the lines were oriented by
        # outlines, not by casters: the typical confidently-wrong failure.

        return _none(f"line cue ({est.direction_deg:.0f} deg) and region cue ({reg_deg:.0f} deg) disagree",
                     params.max_confidence_ambiguous, est.method)
    if gap > params.region_max_disagree_deg:
        # Off the grid, the region cue (weak on thin pole shadows) only takes confidence away.
        est.confidence = min(est.confidence, params.max_confidence_ambiguous)
        est.method += f"; region cue {reg_deg:.0f} deg contradicts"
        return est
    if gap > params.region_agree_deg:
        est.confidence = min(est.confidence, params.max_confidence_unconfirmed)
        est.method += f"; region cue {reg_deg:.0f} deg does not confirm"
        return est
    est.method += f"; region cue {reg_deg:.0f} deg agrees"
    return est


def _confirmed_box(rgb: np.ndarray, params: ShadowParams, frame: _Frame | None = None) -> ShadowEstimate:
    """The box sweep-edge estimate, kept only where the region cue confirms it.

    Sweep edges are chosen as the off-grid shadow-edge family; on a scene of scattered
    buildings, poles and cars another family (shadow sides of roofs, cars' outlines) can win,
    and the estimate is then 55-120 deg off with a small spread. The region cue (which way
    shadow lies from the objects) is coarse but independent of the edges: it must point
    within ``box_region_agree_deg`` of the sweep edges, with a clear profile peak.
    """
    box = _box_sweep(frame if frame is not None else _prepare(rgb, params), params)
    if box.direction_deg is None:
        return box
    reg_deg, peak = _region_direction(rgb, params)
    if reg_deg is None or peak < params.region_min_peak:
        return _none("box sweep edges found, but no region cue confirms them", min(0.1, params.max_confidence_ambiguous),
                     box.method)
    gap = abs(_ang(box.direction_deg, reg_deg))
    if gap > params.box_region_agree_deg:
        return _none(f"box sweep edges ({box.direction_deg:.0f} deg) and region cue ({reg_deg:.0f} deg) disagree",
                     min(0.1, params.max_confidence_ambiguous), box.method)
    box.method += f"; region cue {reg_deg:.0f} deg agrees"
    return box


def _combine_cues(a: ShadowEstimate, b: ShadowEstimate, params: ShadowParams) -> ShadowEstimate:
    """Pole rays and box sweep edges together: they must agree within their summed sigmas, else None."""
    gap = abs((a.direction_deg - b.direction_deg + 180.0) % 360.0 - 180.0)
    if gap > a.uncertainty_deg + b.uncertainty_deg:
        return _none(f"pole rays ({a.direction_deg:.0f} deg) and box sweep edges ({b.direction_deg:.0f} deg) "
                     "disagree", params.max_confidence_ambiguous, f"{a.method} + {b.method}", contested=True)
    wa, wb = 1.0 / a.uncertainty_deg ** 2, 1.0 / b.uncertainty_deg ** 2
    dev = (b.direction_deg - a.direction_deg + 180.0) % 360.0 - 180.0
    deg = (a.direction_deg + dev * wb / (wa + wb)) % 360.0
    # The two cues share the frame's colour test and optics: sigma is not shrunk below the
    # better cue's, only the confidence rises.
    sigma = min(a.uncertainty_deg, b.uncertainty_deg)
    conf = 1.0 - (1.0 - a.confidence) * (1.0 - b.confidence)
    return ShadowEstimate(deg, sigma, float(np.clip(conf, 0.0, 1.0)), f"{a.method} + {b.method}",
                          a.cues + b.cues, a.vanishing_point, None)


def _chain_down(low: np.ndarray, high: np.ndarray, pieces: np.ndarray, params: ShadowParams) -> np.ndarray:
    """The lowest point of the vertical edge through ``high -> low``, followed down through ``pieces``.

    LSD breaks a pole's flank where the background behind it changes (wall, then ground),
    so the longest segment often ends well above the pole's foot, where no shadow leaves
    it. Collinear pieces (both ends within ``ray_chain_tol_px`` of the line) that start
    within ``ray_chain_gap_px`` below the current end extend it, until none does.
    """
    down = _unit(low - high)
    nrm = np.array([-down[1], down[0]], np.float32)
    a, b = pieces[:, :2] - low, pieces[:, 2:] - low
    on = (np.abs(a @ nrm) <= params.ray_chain_tol_px) & (np.abs(b @ nrm) <= params.ray_chain_tol_px)
    sa, sb = a[on] @ down, b[on] @ down
    top, bottom = np.minimum(sa, sb), np.maximum(sa, sb)
    end = 0.0
    while True:
        ext = (top <= end + params.ray_chain_gap_px) & (bottom > end + 0.5)
        if not ext.any():
            break
        end = float(bottom[ext].max())
    return low + end * down


def _vertical(seg: np.ndarray, w: int, h: int, params: ShadowParams) -> np.ndarray:
    """Which segments (N, 4) are vertical in the scene.

    A camera tilted down (or up) makes verticals converge on a vertical vanishing point
    below (above) the picture: with a wide lens a pole near the picture's edge leans
    15-30 deg (93 of the 335 pole feet in frame that no caster reached on 180 ray-cast scenes).
    The point is fitted by RANSAC to the long segments within ``caster_max_tilt_deg`` of the
    image vertical (``_ransac``/``_refine``, as the shadows' point); a segment is vertical when
    it points at it within ``caster_vvp_tol_deg``; segments within ``caster_vertical_tol_deg``
    of the image vertical stay casters either way. Only a finite point below the picture (a
    camera tilted down, as from a rooftop) is used: above the picture it may be the horizon's
    point of ground lines running away from the camera, and a point at infinity (no tilt) says
    nothing the image vertical does not, while in a top-down view of a grid town it was the
    streets' parallel edges. Without such a point (or fewer than ``caster_vvp_min_segments``
    agreeing, or not within ``caster_vertical_tol_deg`` of straight below the centre), a segment
    is vertical within ``caster_vertical_tol_deg`` of the image vertical.
    """
    d = seg[:, 2:] - seg[:, :2]
    tilt = np.degrees(np.arctan2(np.abs(d[:, 0]), np.abs(d[:, 1])))
    plain = tilt <= params.caster_vertical_tol_deg
    length = np.hypot(d[:, 0], d[:, 1])
    cand = (tilt <= params.caster_max_tilt_deg) & (length >= params.ray_caster_min_frac * w)
    if cand.sum() < params.caster_vvp_min_segments:
        return plain
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0], np.float32)
    norm = max(w, h) / 2.0 + 1.0
    lines = _Lines(seg[cand, :2] - centre, seg[cand, 2:] - centre, length[cand],
                   np.full(int(cand.sum()), -1), [], [])
    g = _geometry(lines, norm, params)
    v, inl, finite = _refine(g, _ransac(g, params, np.random.default_rng(params.seed)), params)
    towards = _field_dir(v, np.zeros((1, 2)))[0]
    if (inl.sum() < params.caster_vvp_min_segments
            or math.degrees(math.atan2(abs(towards[0]), abs(towards[1]))) > params.caster_vertical_tol_deg
            or not finite or towards[1] <= 0.0):
        # above: a paved grid's lines on an overcast 720p frame (seed 0's overcast08) gave four
        # "poles" whose "shadows" were the grid's cross lines, at confidence 0.43; at infinity:
        # hass-demo frame 100's streets, a 142 deg wrong direction at confidence 0.29
        return plain
    mid = ((seg[:, :2] + seg[:, 2:]) / 2.0 - centre) / norm
    u = d / np.maximum(length, 1e-9)[:, None]
    # only added to the image vertical's casters: LSD cuts a sharp pole leaning 3-4 deg into
    # pixel steps at 0 deg, which miss the point by more than the tolerance
    return plain | ((tilt <= params.caster_max_tilt_deg) & (_residual_deg(v, mid, u) <= params.caster_vvp_tol_deg))


def _caster_feet(grey: np.ndarray, params: ShadowParams,
                 seg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feet (lower ends) and up directions of near-vertical casters in a uint8 grey picture,
    longest first (working px); ``seg``: its LSD segments, if already detected."""
    h, w = grey.shape[:2]
    seg = _at_least(_detect_segments(grey, 0.0) if seg is None else seg, params.ray_chain_min_px)
    pieces = seg[_vertical(seg, w, h, params)]
    seg = pieces[np.hypot(*(pieces[:, 2:] - pieces[:, :2]).T) >= params.ray_caster_min_frac * w]
    if len(seg) == 0:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    low_first = (seg[:, 1] > seg[:, 3])[:, None]
    low = np.where(low_first, seg[:, :2], seg[:, 2:])
    high = np.where(low_first, seg[:, 2:], seg[:, :2])
    length = np.hypot(*(low - high).T)
    low = np.array([_chain_down(lo, hi, pieces, params) for lo, hi in zip(low, high)], np.float32).reshape(-1, 2)
    used = np.zeros(len(seg), bool)
    feet, ups = [], []
    for i in np.argsort(-length):
        if used[i]:
            continue
        grp = (np.hypot(*(low - low[i]).T) <= params.ray_merge_px) & ~used
        used |= grp
        feet.append(low[grp].mean(0))
        ups.append(_unit(high[i] - low[i]))
        if len(feet) >= params.ray_max_casters:
            break
    return np.array(feet, np.float32), np.array(ups, np.float32)


# How a pole ray passed (_stripe_lengths): a dark stripe lit on both sides, a faint stripe with
# a steady ratio, or a one-sided bluish outline of a broad shadow.
RAY_STRIPE, RAY_FAINT, RAY_OUTLINE = 1, 2, 3
RAY_KIND_NAMES = {RAY_STRIPE: "pole", RAY_FAINT: "pole-faint", RAY_OUTLINE: "shadow-outline"}


@dataclass
class _Stripes:
    """Stripe evidence along rays from caster feet (working px)."""

    L: np.ndarray        # (M, A) samples from the foot over which the ray follows a shadow stripe
    kind: np.ndarray     # (M, A) which test passed it: RAY_STRIPE, RAY_FAINT, RAY_OUTLINE (0: none)
    r: np.ndarray        # (R,) distance of the samples from the foot


def _ray_xy(foot: np.ndarray, u: np.ndarray, r: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of ``foot + r u + o n`` (n: u turned 90 deg); ``foot`` and ``u`` (..., 2), all broadcast."""
    return (foot[..., 0] + r * u[..., 0] + o * -u[..., 1], foot[..., 1] + r * u[..., 1] + o * u[..., 0])


def _ray_points(feet: np.ndarray, u: np.ndarray, r: np.ndarray, offs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y (float32, (M, A, R, O)) of every foot, direction, distance and offset."""
    return _ray_xy(feet[:, None, None, None, :], u[:, :, None, None, :], r[:, None], offs)


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a float32 picture at points ``x, y`` (any shape); NaN off the picture
    (a black border once passed for a shadow beside rays along the frame's edge)."""
    shape, k = x.shape, x.size
    if k == 0:
        return np.zeros((*shape, *img.shape[2:]), np.float32)
    cols = shape[-1] * shape[-2] if x.ndim >= 2 else 0
    if 0 < cols < 32767 and k // cols < 32767:   # cv2.remap maps must stay below 32767 px a side
        mx, my = x.reshape(-1, cols), y.reshape(-1, cols)
    else:
        rows = max(1, -(-k // _REMAP_COLS))
        mx, my = (np.concatenate([v.ravel(), np.full(rows * _REMAP_COLS - k, -1e4, np.float32)]).reshape(rows, -1)
                  for v in (x, y))
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=(float("nan"),) * (img.shape[2] if img.ndim == 3 else 1))
    return out.reshape(-1, *img.shape[2:])[:k].reshape(*shape, *img.shape[2:])


def _ray_samples(img: np.ndarray, feet: np.ndarray, u: np.ndarray, r: np.ndarray,
                 offs: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` (float32) at ``foot + r u + o n``, shape (M, A, R, O[, 3])."""
    return _bilinear(img, *_ray_points(feet, u, r, offs))


def _stripe_lengths(work: np.ndarray, feet: np.ndarray, ups: np.ndarray, u: np.ndarray,
                    params: ShadowParams) -> _Stripes:
    """Sample rays leaving each foot along the unit directions ``u`` (M, A, 2) and measure stripes.

    Along each ray the darkest sample within ``ray_core_px`` of the ray is compared with the
    brighter of two samples ``ray_lit_px`` either side (cast-shadow ratio and chromaticity as
    for the edges). A ray's length is the farthest sample up to which at least
    ``ray_prefix_frac`` of the samples pass; rays along the caster's own axis get length 0.
    An edge rather than a stripe (lit on one side only) counts only when its dark side is
    bluer than its lit side by ``ray_edge_blue_min`` (median): the outline of a building's or
    a car's shadow leaving its corner.

    The brightness tests run on a luminance picture (one channel: a third of the sampling);
    colour is sampled only where they pass, about a fifth of the samples.
    """
    w = work.shape[1]
    r = np.arange(params.ray_r0_px, params.ray_len_frac * w, params.ray_step_px, dtype=np.float32)
    core = np.arange(-params.ray_core_px, params.ray_core_px + 1e-3, 1.0, dtype=np.float32)
    nc = len(core)
    offs = np.concatenate([core, np.array([-params.ray_lit_px, params.ray_lit_px], np.float32)])
    R = len(r)
    # rays along the caster's own axis are its dark side, never its shadow: not sampled (a sixth
    # of them); the rest are measured as a list of (foot, direction) pairs, A = 1
    u = u.astype(np.float32)
    vertical = np.abs(np.einsum("mak,mk->ma", u, ups)) > math.cos(math.radians(params.ray_vertical_excl_deg))
    rays_m, rays_a = np.nonzero(~vertical)
    shape = vertical.shape
    feet, u = feet[rays_m], u[rays_m, rays_a][:, None]
    workf = work.astype(np.float32)
    lum = _ray_samples(cv2.transform(workf, np.full((1, 3), 1.0 / 3.0, np.float32)), feet, u, r, offs)
    c = lum[..., 0]
    for k in range(1, nc):   # a chain of minimums: numpy's reduction over a short last axis is slow
        c = np.minimum(c, lum[..., k])
    l1, l2 = lum[..., nc], lum[..., nc + 1]
    lit = np.maximum(l1, l2)
    ratio = c / np.maximum(lit, 1.0)
    ok = (ratio >= params.shadow_ratio_min) & (ratio <= params.ray_faint_ratio_max) & (lit >= params.min_lit_level)

    def rgb_at(at: tuple, o: np.ndarray) -> np.ndarray:
        """RGB at the samples ``at`` (an index into (M, A, R)) and offset indices ``o``."""
        m, a, k = at
        return _bilinear(workf, *_ray_xy(feet[m], u[m, a], r[k], offs[o]))

    def lit_rgb(at: tuple) -> np.ndarray:
        """RGB of the brighter lit-side sample at the sample positions ``at``."""
        return rgb_at(at, np.where(l1[at] >= l2[at], nc, nc + 1))

    def chroma(rgb: np.ndarray) -> np.ndarray:
        return rgb / np.maximum(rgb.sum(-1, keepdims=True), 1.0)

    # the chromaticity test only where the brightness test passed
    idx = np.nonzero(ok)
    crgb = rgb_at(idx, lum[idx][:, :nc].argmin(-1))
    diff = chroma(crgb) - chroma(lit_rgb(idx))
    along = diff @ _BLUE
    off = np.linalg.norm(diff - along[..., None] * _BLUE, axis=-1)
    ok[idx] = (off <= params.chroma_tol) & (along <= params.blue_shift_max) & (along >= params.blue_shift_min)
    blue = np.full(ok.shape, np.nan, np.float32)
    blue[idx] = along

    def ray_length(passed: np.ndarray, ratio_max: float) -> tuple[np.ndarray, np.ndarray]:
        """Samples up to which the ray passes, and the share of them lit on both sides."""
        stripe = passed & (np.minimum(l1, l2) * ratio_max >= c)
        good = (np.cumsum(passed, -1) / np.arange(1, R + 1) >= params.ray_prefix_frac) & passed
        L = np.where(good.any(-1), R - np.argmax(good[..., ::-1], -1), 0)        # (M, A) samples
        sshare = np.take_along_axis(np.cumsum(stripe, -1), np.maximum(L - 1, 0)[..., None], -1)[..., 0] / np.maximum(L, 1)
        return L, sshare

    def stripe_length(passed: np.ndarray, ratio_max: float) -> np.ndarray:
        L, sshare = ray_length(passed, ratio_max)
        return np.where(sshare < params.ray_stripe_min_share, 0, L)

    edge, sshare = ray_length(ok & (ratio <= params.shadow_ratio_max), params.shadow_ratio_max)
    L = np.where(sshare < params.ray_stripe_min_share, 0, edge)
    kind = np.where(L > 0, RAY_STRIPE, 0)
    # A low sun, sky light and haze leave many real pole shadows only 10-20 % darker than the
    # ground. Such a faint stripe counts when its ratio holds steady along it, as a shadow's
    # does on one surface; dark texture and seams vary (_steady_ratio).
    faint = stripe_length(ok, params.ray_faint_ratio_max)
    todo = np.nonzero((L == 0) & (faint > 0))
    steady = _steady_ratio(ratio[todo], faint[todo], params.ray_faint_median_max, params.ray_faint_mad_max)
    L[todo] = np.where(steady, faint[todo], 0)
    kind[todo] = np.where(steady, RAY_FAINT, 0)
    # A broad shadow (a building's, a car's) leaves its caster's corner as an outline, dark on
    # one side only; so does a wall's foot or a dark object's edge (3 of 4 such rays on 180
    # ray-cast scenes were junk). Lit by the sky alone, a sunny shadow is bluer than the lit
    # ground beside it; a dark object and an overcast contact shadow are not. A saturated lit
    # side (a blue screen's menu bar over its dark panel made three such rays on a GoldenEye
    # frame, lit-side saturation 0.18-0.22; lit ground and walls in the benchmark 0.02-0.07)
    # is a display or paint, not lit ground.
    todo = np.nonzero((L == 0) & (edge > 0))
    first = np.arange(R) < edge[todo][:, None]
    rays = tuple(np.repeat(t, R) for t in todo) + (np.tile(np.arange(R), len(todo[0])),)
    sat = np.linalg.norm(chroma(lit_rgb(rays)) - 1.0 / 3.0, axis=-1).reshape(-1, R)   # (K, R)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # no sample passed: not bluer
        bluer = np.nanmedian(np.where(first, blue[todo], np.nan), -1) >= params.ray_edge_blue_min
        plain = np.nanmedian(np.where(first, sat, np.nan), -1) <= params.ray_edge_lit_sat_max
    L[todo] = np.where(bluer & plain, edge[todo], 0)
    kind[todo] = np.where(bluer & plain, RAY_OUTLINE, 0)
    L_all, kind_all = np.zeros(shape, L.dtype), np.zeros(shape, kind.dtype)
    L_all[rays_m, rays_a], kind_all[rays_m, rays_a] = L[:, 0], kind[:, 0]
    return _Stripes(L_all, kind_all, r)


def _steady_ratio(ratio: np.ndarray, L: np.ndarray, median_max: float, mad_max: float) -> np.ndarray:
    """Whether the dark/lit ratio over each row's first ``L`` samples (rows of ``ratio``: (K, R))
    has a median at most ``median_max`` and a median absolute deviation at most ``mad_max``
    (samples off the picture, NaN, are left out)."""
    if len(L) == 0:
        return np.zeros(0, bool)
    q = np.where(np.arange(ratio.shape[-1]) < L[:, None], ratio, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # an all-NaN row is not steady
        med = np.nanmedian(q, -1)
        mad = np.nanmedian(np.abs(q - med[:, None]), -1)
    return (med <= median_max) & (mad <= mad_max)


def _foot_shadows(L: np.ndarray, w: int, params: ShadowParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which feet have a shadow stripe, its angle index and its length (samples).

    The longest ray of a foot is its shadow if it is long enough, no stripe leaves the foot
    the other way (a stripe passing behind a pole) and no second direction is nearly as long.
    Angle indices are taken as evenly spaced round the circle (``L``'s second axis).
    """
    M, A = L.shape
    step = 360.0 / A
    best = L.argmax(1)
    Lb = L[np.arange(M), best]
    dA = (np.arange(A)[None, :] - best[:, None]) % A
    dA = np.minimum(dA, A - dA) * step
    opp = np.where(dA >= 180.0 - params.ray_opposite_tol_deg, L, 0).max(1)
    riv = np.where(dA >= params.ray_rival_sep_deg, L, 0).max(1)
    keep = ((Lb * params.ray_step_px >= params.ray_min_len_frac * w) & (opp < params.ray_opposite_max * Lb)
            & (riv < params.ray_rival_max * Lb))
    return keep, best, Lb


def _stripe_angle(grey: np.ndarray, foot: np.ndarray, ang0: float, length: float, params: ShadowParams) -> float:
    """Angle (rad) of the stripe leaving ``foot`` near ``ang0``: a matched filter.

    Straight rays over ``ang0 +- ray_step_deg`` (``ray_fit_steps`` of them), each shifted
    sideways at the foot by up to ``ray_core_px`` (the foot may sit on one flank of the
    pole), are scored by how much darker their centre line is than the ground
    ``ray_lit_px`` either side, averaged over the stripe's length; the darkest ray wins,
    refined by a parabola through its neighbours in angle. Averaging along the whole
    stripe is what makes it steady on faint, blurred 1-3 px shadows, where the darkest
    pixel of each cross-section wanders.
    """
    d = np.radians(np.linspace(-params.ray_step_deg, params.ray_step_deg, params.ray_fit_steps))
    shift = np.arange(-params.ray_core_px, params.ray_core_px + 1e-3, 0.5)
    r = np.arange(params.ray_r0_px, max(length, params.ray_r0_px + 2.0), 1.0)
    t = ang0 + d                                                           # (D,)
    u = np.stack([np.cos(t), np.sin(t)], -1)                               # (D, 2)
    n = np.stack([-u[:, 1], u[:, 0]], -1)
    n0 = np.array([-math.sin(ang0), math.cos(ang0)])
    start = foot[None, :] + shift[:, None] * n0[None, :]                   # (S, 2)
    side = np.array([0.0, -params.ray_lit_px, params.ray_lit_px])
    pts = (start[:, None, None, None, :] + r[None, None, :, None, None] * u[None, :, None, None, :]
           + side[None, None, None, :, None] * n[None, :, None, None, :])  # (S, D, R, 3, 2)
    S, D, R = len(shift), len(d), len(r)
    mx = pts[..., 0].reshape(S * D, R * 3).astype(np.float32)
    my = pts[..., 1].reshape(S * D, R * 3).astype(np.float32)
    v = cv2.remap(grey, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                  borderValue=float("nan")).reshape(S, D, R, 3)
    diff = v[..., 0] - 0.5 * (v[..., 1] + v[..., 2])                      # darker centre: lower
    on = np.isfinite(diff)                  # samples off the picture are no evidence
    n_on = on.sum(-1)
    depth = np.where(n_on >= 2, np.where(on, diff, 0.0).sum(-1) / np.maximum(n_on, 1), np.inf)  # (S, D)
    if not np.isfinite(depth).any():
        return ang0
    si, di = np.unravel_index(int(np.argmin(depth)), depth.shape)
    sub = 0.0
    if 0 < di < D - 1:
        y0, y1, y2 = depth[si, di - 1], depth[si, di], depth[si, di + 1]
        den = y0 - 2 * y1 + y2
        if np.isfinite(den) and den > 1e-9:
            sub = float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5))
    return float(t[di] + sub * (d[1] - d[0]))


def _edge_support(p: np.ndarray, q: np.ndarray, seg: np.ndarray, params: ShadowParams) -> np.ndarray:
    """Share of each ray ``p -> q`` (N, 2) along which LSD found a straight edge: segments with both
    ends within ``ray_edge_tol_px`` of the ray's line and parallel to it (within ``inlier_tol_deg``),
    their overlap with the ray summed (a stripe's two edges count twice), at most 1.

    A cast shadow's edges are straight lines that LSD finds; most rays that follow texture,
    grout or a shadow's blurred tip do not have them (docs/shadows.md, "Rays along straight
    edges").
    """
    if len(p) == 0 or len(seg) == 0:
        return np.zeros(len(p))
    d = q - p
    L = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)
    u = d / L[:, None]
    n = np.stack([-u[:, 1], u[:, 0]], 1)
    a, b = seg[None, :, :2] - p[:, None], seg[None, :, 2:] - p[:, None]          # (N, S, 2)
    ta, tb = (a * u[:, None]).sum(-1), (b * u[:, None]).sum(-1)
    na, nb = np.abs((a * n[:, None]).sum(-1)), np.abs((b * n[:, None]).sum(-1))
    seg_len = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])[None]
    parallel = np.abs(ta - tb) >= seg_len * math.cos(math.radians(params.inlier_tol_deg))
    near = (na <= params.ray_edge_tol_px) & (nb <= params.ray_edge_tol_px) & parallel
    overlap = np.clip(np.maximum(ta, tb), 0.0, L[:, None]) - np.clip(np.minimum(ta, tb), 0.0, L[:, None])
    return np.minimum(1.0, np.where(near, overlap, 0.0).sum(1) / L)


def _distinct_rays(p: np.ndarray, q: np.ndarray, params: ShadowParams) -> np.ndarray:
    """Which rays are distinct shadows: a ray whose foot lies on a longer ray's line (within
    ``ray_merge_px``), near its start and along it (within ``2 ray_step_deg``), is the same
    stripe found again from the pole's other flank. Counted twice it would halve the
    bootstrap's spread and double one pole's error."""
    d = q - p
    length = np.hypot(d[:, 0], d[:, 1])
    u = d / np.maximum(length, 1e-9)[:, None]
    keep = np.ones(len(p), bool)
    cos_tol = math.cos(math.radians(2 * params.ray_step_deg))
    for i in np.argsort(-length, kind="stable"):
        if not keep[i]:
            continue
        rel = p - p[i]
        along, perp = rel @ u[i], np.abs(rel @ np.array([-u[i, 1], u[i, 0]]))
        same = ((perp <= params.ray_merge_px) & (np.abs(along) <= 0.25 * length[i]) & (u @ u[i] >= cos_tol)
                & (length <= length[i]))
        same[i] = False
        keep &= ~same
    return keep


@dataclass
class _RayScan:
    """Rays from every caster foot in every direction (``_stripe_lengths``), working px."""

    feet: np.ndarray     # (M, 2)
    th: np.ndarray       # (A,) ray angles, radians
    st: _Stripes


def _ray_scan(frame: _Frame, params: ShadowParams) -> _RayScan | None:
    """Caster feet and their rays every ``ray_step_deg``; None without casters."""
    feet, ups = _caster_feet(frame.grey, params, frame.seg)
    if len(feet) == 0:
        return None
    th = np.radians(np.arange(0.0, 360.0, params.ray_step_deg)).astype(np.float32)
    u = np.broadcast_to(np.stack([np.cos(th), np.sin(th)], 1), (len(feet), len(th), 2))
    return _RayScan(feet, th, _stripe_lengths(frame.work, feet, ups, u, params))


def _stripe_rays(frame: _Frame, scan: _RayScan, ms: np.ndarray, angle_idx: np.ndarray,
                 params: ShadowParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The stripes of feet ``ms`` along ray angles ``angle_idx`` as rays foot -> tip (working px):
    ends, lengths and kinds, each angle refined by ``_stripe_angle``, a stripe found again from
    its pole's other flank counted once (``_distinct_rays``)."""
    ps, qs, ws, ks = [], [], [], []
    for m, a in zip(ms, angle_idx):
        tip = float(scan.st.r[int(scan.st.L[m, a]) - 1])
        ang = _stripe_angle(frame.greyf, scan.feet[m], float(scan.th[a]), tip, params)
        ps.append(scan.feet[m])
        qs.append(scan.feet[m] + tip * np.array([math.cos(ang), math.sin(ang)], np.float32))
        ws.append(tip)
        ks.append(RAY_KIND_NAMES[int(scan.st.kind[m, a])])
    p, q = np.array(ps, np.float32).reshape(-1, 2), np.array(qs, np.float32).reshape(-1, 2)
    keep = _distinct_rays(p, q, params)
    return p[keep], q[keep], np.array(ws, float)[keep], [k for k, x in zip(ks, keep) if x]


def _pole_rays(frame: _Frame, params: ShadowParams,
               scan: _RayScan | None = None) -> tuple[_Lines | None, float, tuple[float, float]]:
    """Pole-shadow stripes leaving the foot of vertical casters, as oriented lines (centred coords).

    Every near-vertical segment's lower end is a candidate foot; rays leave it every
    ``ray_step_deg`` (``_stripe_lengths`` measures them). The longest ray of a foot is its
    shadow if no stripe leaves the foot the other way (a stripe passing behind a pole) and no
    second direction is nearly as long. The direction is refined by a line fit through the
    stripe's darkest points. ``scan``: ``_ray_scan(frame, params)``, if already done.
    """
    scale = frame.scale
    h, w = frame.work.shape[:2]
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    scan = _ray_scan(frame, params) if scan is None else scan
    if scan is None:
        return None, scale, centre
    keep, best, _ = _foot_shadows(scan.st.L, w, params)
    if not keep.any():
        return None, scale, centre
    ms = np.flatnonzero(keep)
    p, q, ws, ks = _stripe_rays(frame, scan, ms, best[ms], params)
    cc = np.array(centre, np.float32)
    lines = _Lines(p - cc, q - cc, ws, np.zeros(len(p), int), ks, [], _edge_support(p, q, frame.seg, params))
    return lines, scale, centre


def _fit_family(lines, centre, params: ShadowParams, oriented: bool = False, sky: bool = True):
    """Robust shadow vanishing point of ``lines`` and the base->tip vote along it
    (``oriented``: inliers must point the way the family does, see :func:`_agree`;
    ``sky``: False when the picture shows none, and a finite point must then lie above it).

    Returns norm, geometry, rng, vanishing point, inliers, finite flag, sign,
    vote margin, oriented count and inlier count (the fits share one seeded rng).
    """
    norm = max(centre) + 1.0
    g = _geometry(lines, norm, params)
    rng = np.random.default_rng(params.seed)
    # a sliver of sky the test misses (1-2 % of the picture) puts the horizon just inside the top
    top = -(centre[1] + 0.5) + params.horizon_margin_frac * 2.0 * (centre[1] + 0.5)
    g.above = None if sky else (top / norm, (centre[0] + 0.5) / norm)
    v, inl, finite = _refine(g, _ransac(g, params, rng, oriented), params, oriented)
    sign, margin, n_or = _orientation_vote(v, lines, inl, norm)
    return norm, g, rng, v, inl, finite, sign, margin, n_or, int(inl.sum())


def _pole_estimate(frame: _Frame, params: ShadowParams) -> ShadowEstimate:
    """Direction from the pole rays alone (vanishing point of the oriented stripes); when they
    give none, from the feet that support one direction (``_guided_estimate``)."""
    scan = _ray_scan(frame, params)
    lines, scale, centre = _pole_rays(frame, params, scan=scan)

    def grid() -> list[float]:
        """The picture's structure axes, from the segments that are none of the rays' own edges."""
        cc = np.array(centre, np.float32)
        own = _edge_support(frame.seg[:, :2], frame.seg[:, 2:], np.hstack([lines.p + cc, lines.q + cc]),
                            params) > 0.5
        return _structure_axes(_at_least(frame.seg[~own], params.min_segment_frac * frame.work.shape[1]), params)

    sky = _sky_at_top(frame.grey, params)
    est = _pole_from_lines(lines, centre, scale, sky, params, grid)
    if est.direction_deg is None and scan is not None and params.guided_min_support > 0:
        guided = _guided_estimate(frame, scan, centre, sky, params)
        if guided.direction_deg is not None:
            return guided
    return est


def _directions_from_vp(vp: np.ndarray, sign: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Image directions (degrees) of shadows at ``pts`` (M, 2) for vanishing points ``vp`` (K, 2):
    towards the point where ``sign`` (K,) > 0, away from it otherwise; (K, M)."""
    at = np.degrees(np.arctan2(vp[:, None, 1] - pts[None, :, 1], vp[:, None, 0] - pts[None, :, 0]))
    return np.where(sign[:, None] > 0, at, at + 180.0) % 360.0


def _support_hypotheses(feet: np.ndarray, near: np.ndarray, cm: np.ndarray, ca: np.ndarray, th: np.ndarray,
                        cc: np.ndarray, params: ShadowParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shadow-direction hypotheses from the stripes ``(cm, ca)`` (foot, angle index) and how many
    feet support each (``near``: (M, A), a stripe within the tolerance of each angle).

    Returns the direction at the centre ``cc`` (degrees), the support, and the vanishing point
    with its sign (+1: the shadows run towards it; NaN for a parallel hypothesis), per hypothesis.
    """
    M, A = near.shape
    step = 360.0 / A
    U = np.stack([np.cos(th), np.sin(th)], 1)
    # parallel hypotheses: one image angle everywhere
    par = np.unique(ca)
    hyp_dir = [par * step]                               # direction at the centre, degrees
    hyp_sup = [near[:, par].sum(0)]
    hyp_vp = [np.full((len(par), 3), np.nan)]
    # vanishing points where two stripes from different feet meet, both running towards it or away
    i, j = np.triu_indices(len(cm), 1)
    i, j = i[cm[i] != cm[j]], j[cm[i] != cm[j]]
    ui, uj, d = U[ca[i]], U[ca[j]], feet[cm[j]] - feet[cm[i]]
    den = ui[:, 0] * uj[:, 1] - ui[:, 1] * uj[:, 0]
    safe = np.where(den == 0, 1.0, den)
    t = (d[:, 0] * uj[:, 1] - d[:, 1] * uj[:, 0]) / safe
    s_ = (d[:, 0] * ui[:, 1] - d[:, 1] * ui[:, 0]) / safe
    good = (np.abs(den) > math.sin(math.radians(params.guided_min_cross_deg))) & (np.sign(t) == np.sign(s_))
    if good.any():
        vp = feet[cm[i[good]]] + t[good, None] * ui[good]
        sign = np.sign(t[good])                          # +1: the shadows run towards the point
        at = _directions_from_vp(vp, sign, feet)
        sup = near[np.arange(M)[None, :], np.round(at / step).astype(int) % A].sum(1)
        # a point on a foot predicts nothing there
        sup = np.where((np.hypot(*(vp[:, None] - feet[None]).transpose(2, 0, 1)) > params.guided_vp_clear_px).all(1),
                       sup, 0)
        c = np.degrees(np.arctan2(vp[:, 1] - cc[1], vp[:, 0] - cc[0]))
        pool = np.argsort(-sup, kind="stable")[:params.guided_vp_pool]
        hyp_dir.append((np.where(sign > 0, c, c + 180.0) % 360.0)[pool])
        hyp_sup.append(sup[pool])
        hyp_vp.append(np.column_stack([vp, sign])[pool])
    return np.concatenate(hyp_dir), np.concatenate(hyp_sup), np.concatenate(hyp_vp)


def _guided_estimate(frame: _Frame, scan: _RayScan, centre: tuple[float, float], sky: bool,
                     params: ShadowParams) -> ShadowEstimate:
    """The direction most caster feet have a stripe along, for a frame whose rays gave none.

    Each foot's longest ray is one vote, and junk feet (tile seams, window edges) outvote the
    poles in many frames. But along a *given* direction a foot seldom has a stripe by chance:
    on the cached shots of seeds 0-6000, 0.6 % of the feet that are no caster's base passed the
    stripe test along a random direction, and 44 % of pole feet along their true one. So every
    direction the rays suggest is a hypothesis: parallel shadows along one stripe's angle, or a
    vanishing point where two stripes from different feet meet (both running towards it or both
    away). A hypothesis's support is the number of feet with a stripe within
    ``guided_tol_steps`` ray steps of the direction it predicts there. The best is kept when at
    least ``guided_min_support`` feet support it and no hypothesis ``ray_rival_sep_deg`` away at
    the centre has ``guided_rival_max`` of its support; its supporting stripes are then fitted as
    the pole rays are (``_pole_fit``), and the stated sigma is ``guided_sigma_scale`` times the
    fit's (such frames erred more for their sigma: docs/shadows.md, "Guided support").
    """
    method = "pole-shadow rays, guided by the feet's support"
    st, feet, th = scan.st, scan.feet, scan.th
    w = frame.work.shape[1]
    M, A = st.L.shape
    step = 360.0 / A
    ok = st.L * params.ray_step_px >= params.ray_min_len_frac * w                  # (M, A)
    near = ok.copy()
    for k in range(1, params.guided_tol_steps + 1):
        near |= np.roll(ok, k, 1) | np.roll(ok, -k, 1)
    cm, ca = np.nonzero(ok)
    if M < params.guided_min_support or len(cm) < 2:
        return _none("too few pole shadows", min(0.1, params.max_confidence_ambiguous), method)
    if len(cm) > params.guided_max_rays:      # the longest stripes make the hypotheses (speed)
        top = np.argsort(-st.L[cm, ca], kind="stable")[:params.guided_max_rays]
        cm, ca = cm[np.sort(top)], ca[np.sort(top)]
    cc = np.array(centre, np.float32)
    dirs, sup, vps = _support_hypotheses(feet, near, cm, ca, th, cc, params)
    b = int(np.argmax(sup))
    apart = np.abs(_ang(dirs, float(dirs[b]))) >= params.ray_rival_sep_deg
    rival = int(sup[apart].max()) if apart.any() else 0
    if sup[b] < params.guided_min_support or rival > params.guided_rival_max * sup[b]:
        return _none(f"no direction supported by enough feet ({int(sup[b])}, rival {rival})",
                     min(0.1, params.max_confidence_ambiguous), method)
    if np.isnan(vps[b, 0]):
        pred = np.full(M, dirs[b])
    else:
        pred = _directions_from_vp(vps[b:b + 1, :2], vps[b:b + 1, 2], feet)[0]
    idx = np.round(pred / step).astype(int) % A
    ms, picks = [], []
    for m in range(M):      # each foot's longest stripe within the tolerance of the prediction
        cand = [(idx[m] + k) % A for k in range(-params.guided_tol_steps, params.guided_tol_steps + 1)]
        cand = [a for a in cand if ok[m, a]]
        if cand:
            ms.append(m)
            picks.append(max(cand, key=lambda a: st.L[m, a]))
    p, q, ws, ks = _stripe_rays(frame, scan, np.array(ms, int), np.array(picks, int), params)
    if len(p) < params.guided_min_support:
        return _none("too few distinct supporting stripes", min(0.1, params.max_confidence_ambiguous), method)
    lines = _Lines(p - cc, q - cc, ws, np.zeros(len(p), int), ks, [])
    est = _pole_fit(lines, centre, frame.scale, sky, params,
                    f"{method} ({int(sup[b])} feet, rival {rival})")
    if est.direction_deg is None:
        return est
    return replace(est, uncertainty_deg=est.uncertainty_deg * params.guided_sigma_scale, guided=True)


def _pole_from_lines(lines: _Lines | None, centre: tuple[float, float], scale: float, sky: bool,
                     params: ShadowParams, grid: Callable[[], list[float]] = list) -> ShadowEstimate:
    """The pole rays' direction; when they contradict each other, the rays along straight edges
    (``ray_min_edge_share``) and off the structure grid (``grid()``: axial degrees) are fitted on
    their own: most rays that follow texture, grout or a shadow's blurred tip have no straight
    edges, and a building's outline has them but lies on the grid (docs/shadows.md, "Rays along
    straight edges")."""
    method = "pole-shadow rays from caster feet + vanishing point"
    if lines is None or len(lines.w) < params.ray_min_cues:
        return _none("too few pole shadows", min(0.1, params.max_confidence_ambiguous), method)
    est = _pole_fit(lines, centre, scale, sky, params, method)
    if est.contested and params.ray_min_edge_share > 0 and lines.edge_share is not None:
        on_grid = _near_axes(np.hstack([lines.p, lines.q]), grid(), params.axis_tol_deg)
        edged = (lines.edge_share >= params.ray_min_edge_share) & ~on_grid
        if params.ray_retry_min_cues <= edged.sum() < len(edged):
            why = f" (the {int(edged.sum())} of {len(edged)} rays along straight edges off the grid)"
            retry = _pole_fit(lines.subset(edged), centre, scale, sky,
                              params.model_copy(update={"ray_min_cues": params.ray_retry_min_cues}),
                              method + why, vote=lines)
            if retry.direction_deg is not None:
                return retry
    return est


def _pole_fit(lines: _Lines, centre: tuple[float, float], scale: float, sky: bool, params: ShadowParams,
              method: str, vote: _Lines | None = None) -> ShadowEstimate:
    """Fit one vanishing point to the oriented rays; refuse (``contested``) when too few of them
    agree on it or on which way they point. ``vote``: the frame's rays, when ``lines`` are a chosen
    few of them; which way the shadows point along the fitted lines is then voted by all of them
    (a shadow outline read backwards from a foot at its tip once turned a retry 167 deg round
    against seven rays the other way)."""
    norm, g, rng, v, inl, finite, sign, margin, n_or, n_in = _fit_family(lines, centre, params, oriented=True, sky=sky)
    share = n_in / len(lines.w)
    if n_in < params.ray_min_cues or share < params.ray_min_inlier_share:
        return _none(f"pole shadows disagree ({n_in} of {len(lines.w)} consistent)",
                     min(0.1, params.max_confidence_ambiguous), method, contested=True)
    # the fit kept only rays pointing its way; rays along the same lines pointing the other way
    # (block edges leaving building corners both ways) say the frame's "feet" may not be feet
    opposed = (_residual_deg(v, g.mid, g.u) <= params.inlier_tol_deg) & ~inl
    w_in, w_opp = float(lines.w[inl].sum()), float(lines.w[opposed].sum())
    margin = (w_in - w_opp) / max(w_in + w_opp, 1e-12)
    if margin < params.min_orient_margin:
        return _none("pole shadows disagree on which way they point", params.max_confidence_ambiguous, method,
                     contested=True)
    if vote is not None:
        gv = _geometry(vote, norm, params)
        along = _residual_deg(v, gv.mid, gv.u) <= params.inlier_tol_deg
        vote_sign, vote_margin, _ = _orientation_vote(v, vote, along, norm)
        if vote_sign != sign or vote_margin < params.min_orient_margin:
            return _none("pole shadows disagree on which way they point", params.max_confidence_ambiguous, method,
                         contested=True)
    support = (1.0 - math.exp(-n_in / params.conf_cue_scale)) * margin * share
    return _final_estimate(g, lines, v, inl, finite, sign, n_in, support, norm, centre, scale, params, rng, method)


def _line_estimate(rgb: np.ndarray, params: ShadowParams) -> tuple[ShadowEstimate, list[float]]:
    """The line-based estimate alone, and the frame's structure axes."""
    found: dict = {}
    return _line_estimate_impl(rgb, params, found), found.get("axes", [])


def _line_estimate_impl(rgb: np.ndarray, params: ShadowParams, found: dict) -> ShadowEstimate:
    method = "shadow-edge lines + caster pairing + vanishing point"
    lines, n_seg, scale, centre = _shadow_lines(rgb, params)
    found["axes"] = lines.axes if lines is not None else []
    if lines is None or len(lines.w) < 2:
        return _none("no cast-shadow edges found", 0.0, method)
    norm, g, rng, v, inl, finite, sign, margin, n_or, n_in = _fit_family(lines, centre, params)
    rival = _rival_share(g, lines, inl, params, rng)
    if rival >= params.rival_max_share:
        return _none(f"competing shadow-line families (runner-up has {rival:.0%} of the winner's oriented weight)",
                     params.max_confidence_ambiguous, method)
    if n_in < params.min_inliers or n_or < params.min_oriented:
        return _none("too few consistent cues", min(0.1, params.max_confidence_ambiguous), method)
    if margin < params.min_orient_margin:
        return _none("shadow axis found but casters disagree on which way it points",
                     params.max_confidence_ambiguous, method)
    support = (1.0 - math.exp(-n_or / params.conf_cue_scale)) * margin
    return _final_estimate(g, lines, v, inl, finite, sign, n_in, support, norm, centre, scale, params, rng, method)


def _final_estimate(g, lines, v, inl, finite, sign, n_in, support, norm, centre, scale, params, rng,
                    method) -> ShadowEstimate:
    """Direction at the centre, sigma (bootstrap, floor, few-cue term) and confidence from a fitted family.

    ``support`` (0..1) says how strongly the cues back the fit; confidence falls
    with the uncertainty on top of it.
    """
    deg = _centre_direction(v, sign)
    boot = _bootstrap_sigma(g, inl, finite, sign, deg, params, rng)
    model = 0.0
    if not finite and n_in >= 3:
        # Parallel shadows are an assumption: lines far from the centre with a near vanishing
        # point bend towards it, and too few lines cannot tell. The centre direction the
        # finite point would give measures what the assumption may cost: at half that gap the
        # parallel fits' 1 sigma held the truth 54-60 % of the time, at twice it 63-71 %.
        near = _fit_vp(g.l[inl], g.w[inl])
        if g.above is not None and not _above_picture(near, g.above, params.horizon_roll_max_deg):
            # a point the horizon bound rules out is no alternative: the nearest one it allows is
            near = _fit_vp_on_row(g.l[inl], g.w[inl], g.above[0])
        alt = _centre_direction(near, 1.0)
        model = params.sigma_model_share * abs((alt - deg + 90.0) % 180.0 - 90.0)
    length = float(np.median(np.hypot(*(lines.q[inl] - lines.p[inl]).T)))
    sigma = math.sqrt(boot ** 2 + _floor_sigma(length, n_in, params) ** 2 + model ** 2)
    if sigma > params.max_sigma_deg:
        return _none(f"shadow direction too uncertain ({sigma:.0f} deg 1-sigma)",
                     min(0.1, params.max_confidence_ambiguous), method)
    conf = support / (1.0 + (sigma / params.conf_sigma_deg) ** 2)
    # The fitted sigma over-covers: on 523 frames of ray-cast shots the truth lay within it 79-84 %
    # of the time, finite-point fits more than parallel ones (whose model term is set for that).
    # The stated 1 sigma is calibrated to it (docs/shadows.md, "Calibration", "Parallel and finite
    # fits"); the decisions above keep the fitted one.
    sigma *= params.sigma_calibration
    vp = None
    if finite and abs(v[2]) > 1e-9:
        vp = (float((v[0] / v[2] * norm + centre[0]) / scale), float((v[1] / v[2] * norm + centre[1]) / scale))
    return ShadowEstimate(deg, sigma, float(np.clip(conf, 0.0, 1.0)),
                          method + (" (finite VP)" if finite else " (parallel)"),
                          _cues(lines, inl, centre, scale), vp, None)


def _floor_sigma(length_px: float, n_in: int, params: ShadowParams) -> float:
    """The sigma (deg) a fit of ``n_in`` cues of median length ``length_px`` (working px) has
    beyond their spread: a floor and a small-sample term, both angles of a fixed pixel error
    across the cues. Set in degrees, the floor over-covered the truth at 1280x720, where rays
    are twice as long (1 sigma held it 95 % of the time at 720p and 89 % at 640x480)."""
    floor = math.degrees(math.atan2(params.sigma_floor_px, max(length_px, 1.0)))
    few = math.degrees(math.atan2(params.sigma_few_lines_px, max(length_px, 1.0))) / math.sqrt(max(n_in, 1))
    return math.hypot(floor, few)


def _circ_median(deg: np.ndarray) -> float:
    """Circular median: the sample minimising the summed angular distance to the others."""
    d = np.abs((deg[:, None] - deg[None, :] + 180.0) % 360.0 - 180.0)
    return float(deg[d.sum(1).argmin()])


def _ang(a: np.ndarray, b: float) -> np.ndarray:
    return (a - b + 180.0) % 360.0 - 180.0


def combine_estimates(estimates: list[ShadowEstimate], params: ShadowParams) -> ShadowEstimate:
    """A segment's direction from several frames' estimates.

    Frames of one shot share the scene, so their errors are largely common: of
    the per-frame uncertainty only the share ``1 - combine_frame_correlation``
    averages down over the frames; where the frames scatter more than that
    share, their scatter stands for it.
    Frames far from the circular median (moving shadows, a passing object,
    a mis-detection) are dropped; if too few agree, no direction is given.
    A frame whose cues contradicted each other (``contested``) counts as a
    frame that does not agree: one frame's direction against two frames of the
    same view whose shadows disagree is no shot's direction.
    """
    method = "circular median over frames"
    ok = [e for e in estimates if e.direction_deg is not None]
    contested = sum(e.contested for e in estimates if e.direction_deg is None)
    if not ok:
        reasons = sorted({e.reason for e in estimates if e.reason})
        return _none("no frame had usable shadows" + (f" ({'; '.join(reasons)})" if reasons else ""),
                     0.0, method, contested=contested > 0)
    deg = np.array([e.direction_deg for e in ok])
    sig = np.array([e.uncertainty_deg for e in ok])
    med = _circ_median(deg)
    tol = np.maximum(params.combine_outlier_sigma * np.hypot(sig, np.median(sig)),
                     params.combine_outlier_min_deg)
    keep = np.abs(_ang(deg, med)) <= tol
    voters = len(ok) + contested
    if keep.sum() <= params.combine_min_kept_frac * voters:
        why = f"; {contested} found shadows that contradict each other" if contested else ""
        return _none(f"per-frame directions disagree ({keep.sum()} of {voters} frames agree{why})",
                     params.max_confidence_ambiguous, method, contested=True)
    if keep.sum() < params.combine_guided_min_frames and all(e.guided for e, k in zip(ok, keep) if k):
        return _none(f"{int(keep.sum())} frame(s) gave a direction, only from the feet's support (guided), "
                     f"fewer than {params.combine_guided_min_frames}",
                     params.max_confidence_ambiguous, method)
    dev = _ang(deg[keep], med)
    centre = (med + float(np.average(dev, weights=1.0 / sig[keep] ** 2))) % 360.0
    spread = float(np.sqrt(np.mean(_ang(deg[keep], centre) ** 2)))
    if spread > params.combine_max_spread_deg:
        return _none(f"per-frame directions spread {spread:.0f} deg", params.max_confidence_ambiguous, method,
                     contested=True)
    # A frame's error is part common to the shot (the same casters, the same geometry) and part its
    # own (noise, shake, compression): only the own part averages down over the frames. The frames'
    # scatter measures that own part: it replaces the model's share when larger (adding both
    # over-covered: 1 sigma held 78 % of 129 shots, 72 % this way; docs/shadows.md, "Calibration").
    n, s0, rho = int(keep.sum()), float(np.median(sig[keep])), params.combine_frame_correlation
    sigma = math.sqrt(s0 ** 2 * rho + max(s0 ** 2 * (1.0 - rho), spread ** 2) / n)
    # Agreement share scales the typical frame's confidence: dropped and contested frames are doubt.
    conf = float(np.median([e.confidence for e, k in zip(ok, keep) if k])) * keep.sum() / voters
    cues = [c for e, k in zip(ok, keep) if k for c in e.cues]
    return ShadowEstimate(centre, sigma, float(np.clip(conf, 0.0, 1.0)),
                          f"{method} ({int(keep.sum())} of {len(estimates)} frames)", cues, None, None)


# --------------------------------------------------------------------------- box sweep edges


def _axial_mode(ang: np.ndarray, wgt: np.ndarray, tol_deg: float) -> tuple[float, np.ndarray]:
    """The weighted mode of axial angles (degrees, mod 180) and the 1-degree histogram summed over
    +-``tol_deg`` it came from.

    The window with the most weight is found on the histogram; the mode is the weighted mean of
    the angles in it. The window's own index is not: a tight bundle fills several equal windows,
    the first of them is up to ``tol_deg`` off, and the bundle's edges then fell just outside
    the inlier tolerance (four edges at 165.1 deg, window at 161: none left, and the next step
    failed on an empty array).
    """
    hist = np.bincount(np.round(ang).astype(int) % 180, weights=wgt, minlength=180)
    k = int(round(tol_deg))
    win = np.array([np.roll(hist, i) for i in range(-k, k + 1)]).sum(0)
    top = float(win.argmax())
    dev = (ang - top + 90.0) % 180.0 - 90.0
    near = np.abs(dev) <= k + 0.5
    wsum = float(wgt[near].sum())
    shift = float((dev[near] * wgt[near]).sum()) / wsum if wsum > 0 else 0.0
    return (top + shift) % 180.0, win


def _box_sweep(frame: _Frame, params: ShadowParams) -> ShadowEstimate:
    """Direction from the sweep edges of box-building shadows (see module docs, step 6).

    A box's cast shadow is its roof outline swept along the shadow direction: besides edges
    parallel to the building's own (the structure grid), its boundary has edges running along
    the shadow direction from the building's corners. Shadow edges off the grid form the sweep
    family (axial mode); each one's base is the end whose continuation lands on an object that is
    neither shadow nor the lit ground beside it (the building), its tip the end that continues on
    lit ground. Needs a structure grid: without box buildings the cue stays silent.
    """
    method = "box-shadow sweep edges"
    work, scale = frame.work, frame.scale
    h, w = work.shape[:2]
    seg = _at_least(frame.seg, params.min_segment_frac * w)
    if len(seg) == 0:
        return _none("no segments", 0.0, method)
    img = work.astype(np.float32)
    samples = _side_samples(img, seg, params)
    is_shadow, contrast, dark, lit = _shadow_edge_test(samples, params)
    axes = _structure_axes(seg[~is_shadow], params)
    if not axes:
        return _none("no structure grid (no box buildings)", 0.0, method)
    sh, con, lit = seg[is_shadow], contrast[is_shadow], lit[is_shadow]
    # the image vertical is always an axis: a building's corner is a vertical edge with a darker
    # wall on one side, and where the grid did not take the vertical (sun41 of seed 0, sun39 of
    # seed 4000) such corners made the cue's only two claims on 180 ray-cast scenes, 88-91 deg off
    off = ~_near_axes(sh, axes + [90.0], params.box_grid_excl_deg)
    sh, con, lit = sh[off], con[off], lit[off]
    if len(sh) < params.box_min_edges:
        return _none("too few box-shadow sweep edges", 0.0, method)
    length = np.hypot(sh[:, 2] - sh[:, 0], sh[:, 3] - sh[:, 1])
    wgt = length * con
    ang = _axial_deg(sh)
    mode, win = _axial_mode(ang, wgt, params.inlier_tol_deg)
    dev = (ang - mode + 90.0) % 180.0 - 90.0
    inl = np.abs(dev) <= params.inlier_tol_deg
    if inl.sum() < params.box_min_edges:
        return _none("too few box-shadow sweep edges", 0.0, method)
    share = float(wgt[inl].sum() / max(wgt.sum(), 1e-9))
    rival = win.copy()
    for j in range(-params.box_rival_sep_deg, params.box_rival_sep_deg + 1):
        rival[(int(round(mode)) + j) % 180] = 0.0
    if rival.max() >= params.rival_max_share * win.max():
        return _none("competing off-grid shadow-edge families", min(0.1, params.max_confidence_ambiguous), method)
    # Base -> tip: probe beyond each end along the edge.
    th = np.radians(mode)
    u = np.array([math.cos(th), math.sin(th)], np.float32)
    idx = np.flatnonzero(inl)
    a_end = np.where(((sh[idx, 2:] - sh[idx, :2]) @ u)[:, None] >= 0, sh[idx, :2], sh[idx, 2:])  # low end along u
    b_end = np.where(((sh[idx, 2:] - sh[idx, :2]) @ u)[:, None] >= 0, sh[idx, 2:], sh[idx, :2])
    pa = a_end - params.box_end_px * u
    pb = b_end + params.box_end_px * u
    pts = np.concatenate([pa, pb]).astype(np.float32)
    col = cv2.remap(cv2.GaussianBlur(img, (0, 0), 1.0), pts[:, 0].reshape(1, -1), pts[:, 1].reshape(1, -1),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(-1, 3)
    ref = np.concatenate([lit[idx], lit[idx]])
    logd = np.log(np.maximum(col, 1.0) / np.maximum(ref, 1.0))
    obj = (np.abs(logd).max(-1) > params.box_object_tol) & (logd.mean(-1) > -params.box_object_tol)
    ground = np.abs(logd).max(-1) <= params.box_object_tol
    oa, ob = obj[:len(idx)], obj[len(idx):]
    ga, gb = ground[:len(idx)], ground[len(idx):]
    s = np.where(oa & gb, 1.0, np.where(ob & ga, -1.0, 0.0))       # +1: base at the low end, tip along +u
    vw = wgt[idx]
    n_or = int((s != 0).sum())
    if n_or < params.box_min_edges or n_or < params.box_min_oriented_share * len(idx):
        # a box town's sweep edges mostly start at a building (a quarter to a third of them seen
        # on the demo town); an off-grid family of texture, car and roof edges seldom does (3-12 %
        # on the ray-cast scenes where this cue was 67-120 deg wrong)
        return _none(f"sweep edges found but too few touch a building ({n_or} of {len(idx)})",
                     min(0.1, params.max_confidence_ambiguous), method)
    vote = float((vw * s).sum())
    margin = abs(vote) / float(vw[s != 0].sum())
    if margin < params.min_orient_margin:
        return _none("sweep edges disagree on which way they point", params.max_confidence_ambiguous, method)
    mean_dev = float(np.average(dev[idx], weights=vw))
    deg = (mode + mean_dev + (0.0 if vote > 0 else 180.0)) % 360.0
    spread = float(np.sqrt(np.average((dev[idx] - mean_dev) ** 2, weights=vw)))
    n_in = len(idx)
    # in degrees, as first set: the sample town's sweep edges are short (a pixel floor over
    # them gave 5 deg where the error is 0.3) and many; the ray-cast scenes give this cue no claim
    sigma = math.sqrt(spread ** 2 + params.box_sigma_floor_deg ** 2 + (params.box_sigma_few_deg / math.sqrt(n_in)) ** 2)
    conf = ((1.0 - math.exp(-n_or / params.conf_cue_scale)) * margin * share
            / (1.0 + (sigma / params.conf_sigma_deg) ** 2))
    cues = []
    for j, i in enumerate(idx):
        if s[j] == 0 or s[j] != math.copysign(1.0, vote):
            continue
        base, tip = (a_end[j], b_end[j]) if s[j] > 0 else (b_end[j], a_end[j])
        cues.append(ShadowCue((float(base[0] / scale), float(base[1] / scale)),
                              (float(tip[0] / scale), float(tip[1] / scale)), "box", float(vw[j])))
    return ShadowEstimate(deg, sigma, float(np.clip(conf, 0.0, 1.0)),
                          f"{method} ({n_in} edges, {n_or} oriented)", cues, None, None)
