"""Segment fingerprints: the technical look of each piece of a clip.

A fingerprint describes what a camera, an upscaler and an encoder leave in the
pixels (effective resolution, noise, block artefacts, letterbox bars, frame-rate
conversion by duplication or blending) plus a few scene statistics (brightness,
contrast, colour). Segments whose *source* features agree are grouped, so a
report can say "9 segments from 3 sources".

The collector sees every frame once, in decode order, and keeps only a few
floats per frame and per sampled frame, never pictures:

* every frame: cheap statistics on the ~160 px analysis image (``luma_small``):
  mean/std, difference to the previous frame, the residual of the "blend" test,
  chroma means. A few numpy operations, tens of microseconds.
* sampled frames only: full-resolution measures (effective resolution, noise,
  blockiness, sharpness, bars). A frame is sampled every ``sample_every`` frames
  and on the first frame after a large change of ``luma_small`` (a probable cut,
  so short segments still get a sample), under a token-bucket rate cap.

``summarize(start, end)`` then reduces the records of any frame interval with
robust statistics (medians over samples), so it can be called for each segment
after the cut detector has decided where the segments are.
"""
from __future__ import annotations

import math
from array import array
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.cluster.hierarchy import fcluster, linkage

from vidforensics.io.decode import Frame
from vidforensics.report.schema import Bars, Fingerprint

# Standard constants (not tuning parameters) -------------------------------------
# Immerkaer (1996): sigma = sqrt(pi/2) / 6 * mean |I * M| for the mask below.
_IMMERKAER_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_IMMERKAER_GAIN = math.sqrt(math.pi / 2.0) / 6.0
# Transform/block grid of MPEG-family codecs (H.264's 8x8 transform and
# macroblock edges, MPEG-2/JPEG DCT blocks) is aligned on multiples of 8.
_CODEC_BLOCK = 8
# BT.709 limited-range ("TV") YCbCr -> RGB, the usual matrix of HD H.264/HEVC.
_Y_OFFSET, _C_OFFSET = 16.0, 128.0
_Y_GAIN = 255.0 / 219.0
_C_GAIN = 255.0 / 224.0
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB


class FingerprintParams(BaseModel):
    """Every number the fingerprint stage uses (values: ``[fingerprint]`` in pipelines/default.toml)."""

    model_config = ConfigDict(extra="forbid")

    # --- sampling of full-resolution analysis
    sample_every: int
    sample_change_threshold: float
    sample_rate_max: float
    sample_burst: float
    # --- effective resolution (spectral cut-off per axis)
    effres_line_step: int
    effres_border_px: int
    effres_bands: int
    effres_fit_low: float
    effres_fit_high: float
    effres_top_bands: int
    effres_native_deficit_db: float
    effres_drop_fraction: float
    effres_min_scale: float
    effres_min_std: float
    effres_native_min_deficit_db: float
    effres_upscale_max_scale: float
    effres_min_upscaled_share: float
    # --- noise (Immerkaer per block, low percentile over blocks)
    noise_block_px: int
    noise_percentile: float
    noise_min_level: float
    noise_max_level: float
    # --- bars (letterbox / pillarbox)
    bar_max_level: float
    bar_max_std: float
    bar_max_fraction: float
    bar_line_step: int
    detail_line_step: int
    # --- per-frame temporal tests on luma_small
    dup_max_diff: float
    dup_rel_median: float
    blend_min_change: float
    blend_max_ratio: float
    # --- minimum data for a value to be reported
    min_samples_effres: int
    # --- source grouping
    group_tol_scale_log2: float
    group_tol_noise_log: float
    group_noise_floor: float
    group_tol_blockiness_log: float
    group_tol_bars_px: float
    group_tol_duplicate: float
    group_tol_blend: float
    group_distance: float
    group_sample_widen: float
    group_linkage: Literal["single", "average", "complete"]


class _Sample:
    """Full-resolution measures of one sampled frame (a few floats)."""

    __slots__ = ("index", "levels_w", "levels_h", "noise", "blockiness", "sharpness", "bars_v", "bars_h")

    def __init__(self, index, levels_w, levels_h, noise, blockiness, sharpness, bars_v, bars_h):
        self.index = index
        self.levels_w = levels_w  # band levels (dB) of the line spectrum along x, or None
        self.levels_h = levels_h  # ... along y
        self.noise = noise
        self.blockiness = blockiness
        self.sharpness = sharpness
        self.bars_v = bars_v  # (top, bottom) or None when the frame is too dark to tell
        self.bars_h = bars_h  # (left, right) or None


class FingerprintCollector:
    """Sees every frame once; summarises any frame interval afterwards.

    Parameters
    ----------
    params : FingerprintParams
        Stage parameters.
    width, height : int
        Display size of the clip (rotation applied), used to turn effective
        scales into effective pixel sizes.
    """

    def __init__(self, params: FingerprintParams, width: int, height: int):
        self.params = params
        self.width = int(width)
        self.height = int(height)
        # per-frame records, indexed by frame index; compact float arrays so an
        # hour of video costs a few MB, not Python-object lists
        self._mean = array("f")
        self._std = array("f")
        self._diff = array("f")  # mean |L_t - L_{t-1}| on luma_small (NaN for the first frame)
        self._blend_r = array("f")  # mean |L_t - (L_{t-1} + L_{t+1}) / 2|, filled one frame late
        self._blend_o = array("f")  # mean |L_{t+1} - L_{t-1}|, filled one frame late
        self._cb = array("f")
        self._cr = array("f")
        self._sat = array("f")
        self._samples: list[_Sample] = []
        self._prev: np.ndarray | None = None
        self._prev2: np.ndarray | None = None
        self._tokens = float(params.sample_burst)
        self._last_sample = -(10**9)
        self._pending_change = False
        self._window_cache: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ per frame
    def process(self, frame: Frame) -> None:
        """Record one decoded frame (called once per frame, in order)."""
        p = self.params
        idx = frame.index
        nan = math.nan
        while len(self._mean) < idx:  # a gap in indices: keep arrays aligned with frame numbers
            for a in (self._mean, self._std, self._diff, self._blend_r, self._blend_o, self._cb, self._cr, self._sat):
                a.append(nan)
            self._prev = self._prev2 = None
        ys = frame.luma_small
        # cv2 reductions: ~2-4 us each on the analysis image, numpy's are 3-10x slower
        m, sd = cv2.meanStdDev(ys)
        self._mean.append(float(m[0, 0]))
        self._std.append(float(sd[0, 0]))
        y = ys.astype(np.float32)
        npx = float(y.size)
        prev, prev2 = self._prev, self._prev2
        if prev is not None and prev.shape == y.shape:
            diff = cv2.norm(y, prev, cv2.NORM_L1) / npx
            if prev2 is not None and prev2.shape == y.shape:
                # blend test for the previous frame, now that its successor is known
                mid = cv2.addWeighted(prev2, 0.5, y, 0.5, 0.0)
                self._blend_r[idx - 1] = cv2.norm(prev, mid, cv2.NORM_L1) / npx
                self._blend_o[idx - 1] = cv2.norm(y, prev2, cv2.NORM_L1) / npx
        else:
            diff = nan
            prev = None
        self._diff.append(diff)
        self._blend_r.append(nan)
        self._blend_o.append(nan)
        c = frame.chroma_small
        cm = cv2.mean(c)
        self._cb.append(cm[0] - _C_OFFSET)
        self._cr.append(cm[1] - _C_OFFSET)
        # saturation as the L1 chroma magnitude |Cb - 128| + |Cr - 128|: 5 us
        # with cv2, where the Euclidean norm in numpy costs ~80 us per frame
        cm = cv2.mean(cv2.absdiff(c, (_C_OFFSET, _C_OFFSET, 0.0, 0.0)))
        self._sat.append(cm[0] + cm[1])
        self._prev2, self._prev = prev, y

        # sampling: periodic, or right after a big change (a probable cut), under
        # a token bucket so cuts in quick succession cannot blow the budget
        self._tokens = min(p.sample_burst, self._tokens + p.sample_rate_max)
        if diff == diff and diff > p.sample_change_threshold:
            self._pending_change = True
        due = idx - self._last_sample >= p.sample_every
        if (due or self._pending_change) and self._tokens >= 1.0:
            self._tokens -= 1.0
            self._last_sample = idx
            self._pending_change = False
            self._samples.append(self._analyse(frame))

    # ------------------------------------------------------ full-res, sampled only
    def _analyse(self, frame: Frame) -> _Sample:
        p = self.params
        y = frame.luma()
        h, w = y.shape
        bars_v, bars_h = self._bars(y)
        top, bottom = bars_v if bars_v is not None else (0, 0)
        left, right = bars_h if bars_h is not None else (0, 0)
        b = p.effres_border_px
        y0, y1 = top + b, h - bottom - b
        x0, x1 = left + b, w - right - b
        if y1 - y0 < 2 * p.effres_bands or x1 - x0 < 2 * p.effres_bands:
            return _Sample(frame.index, None, None, None, None, None, bars_v, bars_h)
        act = y[y0:y1, x0:x1]
        scale_h = self._band_levels(act, axis=0)
        scale_w = self._band_levels(act, axis=1)
        noise = self._noise(act)
        # neighbour steps on every other line (uint8 cv2 ops: full-res float
        # numpy would cost milliseconds per frame)
        s = p.detail_line_step
        dx = cv2.absdiff(act[::s, 1:], act[::s, :-1])
        dy = cv2.absdiff(act[1:, ::s], act[:-1, ::s])
        col_step = cv2.reduce(dx, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
        row_step = cv2.reduce(dy, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
        blockiness = self._blockiness(col_step, row_step, y0, x0)
        # mean gradient over contrast: edge crispness rather than scene contrast
        sd = float(cv2.meanStdDev(act)[1][0, 0])
        sharpness = float((col_step.mean() + row_step.mean()) / sd) if sd >= p.effres_min_std else None
        return _Sample(frame.index, scale_w, scale_h, noise, blockiness, sharpness, bars_v, bars_h)

    def _bars(self, y: np.ndarray) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """Dark, flat rows at top/bottom and columns at left/right of one frame.

        Returns ``None`` for an axis where the dark run covers most of the frame
        (a dark scene, not a bar): such a frame says nothing about bars.
        """
        p = self.params
        h, w = y.shape
        s = p.bar_line_step
        # area-shrink the other axis first: row/column statistics on a fraction of the pixels
        rows = cv2.resize(y, (max(1, w // s), h), interpolation=cv2.INTER_AREA).astype(np.float32)
        cols = cv2.resize(y, (w, max(1, h // s)), interpolation=cv2.INTER_AREA).astype(np.float32)
        out = []
        for lines_mean, lines_std, n in (
            (rows.mean(axis=1), rows.std(axis=1), h),
            (cols.mean(axis=0), cols.std(axis=0), w),
        ):
            dark = (lines_mean <= p.bar_max_level) & (lines_std <= p.bar_max_std)
            lead = int(np.argmin(dark)) if not dark.all() else n
            trail = int(np.argmin(dark[::-1])) if not dark.all() else n
            out.append(None if lead + trail >= p.bar_max_fraction * n else (lead, trail))
        return out[0], out[1]

    def _window(self, n: int) -> np.ndarray:
        w = self._window_cache.get(n)
        if w is None:
            w = np.hanning(n).astype(np.float32)
            self._window_cache[n] = w
        return w

    def _band_levels(self, act: np.ndarray, axis: int) -> np.ndarray | None:
        """Mean power (dB) of the line spectra along ``axis`` in ``effres_bands`` bands up to Nyquist.

        Only these few floats are kept per sampled frame; the effective-resolution
        decision is taken per segment on the median levels (see :func:`effective_scale`),
        which is far steadier than a per-frame decision on real footage.
        """
        p = self.params
        s = p.effres_line_step
        # lines along the analysed axis, as rows of a contiguous float array
        a = (act[:, ::s].T if axis == 0 else act[::s, :]).astype(np.float32)
        if float(cv2.meanStdDev(a)[1][0, 0]) < p.effres_min_std:
            return None  # textureless: no spectrum to read
        a -= cv2.reduce(a, 1, cv2.REDUCE_AVG)
        n = a.shape[1]
        a *= self._window(n)[None, :]
        spec = np.fft.rfft(a, axis=1)
        power = (spec.real**2 + spec.imag**2).mean(axis=0)[1:]  # bins k = 1..n//2, f = k / n
        nb = p.effres_bands
        k = np.arange(1, power.size + 1, dtype=np.float64) / (n / 2.0)  # fraction of Nyquist
        band = np.minimum((k * nb).astype(int), nb - 1)
        counts = np.bincount(band, minlength=nb)
        if (counts == 0).any():
            return None
        return (10.0 * np.log10(np.bincount(band, weights=power, minlength=nb) / counts + 1e-12)).astype(np.float32)

    def _noise(self, act: np.ndarray) -> float | None:
        """Luma noise sigma (8-bit levels): Immerkaer's estimator per block.

        Texture inflates the estimate, so we take a low percentile over blocks
        (the flattest parts of the picture); blocks near black or white are
        skipped because clipping hides noise.
        """
        p = self.params
        bs = p.noise_block_px
        h, w = act.shape
        hb, wb = h // bs, w // bs
        if hb * wb == 0:
            return None
        a = act[: hb * bs, : wb * bs]
        r = cv2.filter2D(a, cv2.CV_16S, _IMMERKAER_MASK.astype(np.int16).astype(np.float32),
                         borderType=cv2.BORDER_REPLICATE)
        # |response| saturating at 255 only affects strongly textured blocks,
        # which the low percentile ignores anyway
        r = cv2.convertScaleAbs(r)
        rb = cv2.resize(r, (wb, hb), interpolation=cv2.INTER_AREA).astype(np.float32)
        mb = cv2.resize(a, (wb, hb), interpolation=cv2.INTER_AREA)
        ok = (mb >= p.noise_min_level) & (mb <= p.noise_max_level)
        if not ok.any():
            return None
        return float(_IMMERKAER_GAIN * np.percentile(rb[ok], p.noise_percentile))

    def _blockiness(self, col_step: np.ndarray, row_step: np.ndarray, y0: int, x0: int) -> float | None:
        """Mean step across the codec's 8-pixel grid over the mean step elsewhere.

        1 means no visible grid; block-based coding at low bit rates raises it.
        The grid phase is taken from the frame origin, not the cropped area.
        """
        vals = []
        for g, origin in ((col_step, x0), (row_step, y0)):
            # g[i] is the step between positions origin+i and origin+i+1
            pos = (origin + np.arange(g.size) + 1) % _CODEC_BLOCK == 0
            if pos.any() and (~pos).any():
                other = float(g[~pos].mean())
                if other > 0:
                    vals.append(float(g[pos].mean()) / other)
        return float(np.mean(vals)) if vals else None

    # ------------------------------------------------------------------ summary
    def summarize(self, start_frame: int, end_frame: int) -> Fingerprint:
        """Fingerprint of frames ``[start_frame, end_frame)`` (one segment).

        Parameters
        ----------
        start_frame, end_frame : int
            Segment interval, end exclusive; clipped to the frames processed.

        Returns
        -------
        Fingerprint
            ``source_group`` is 0 here; :func:`group_sources` assigns it.
        """
        p = self.params
        n_total = len(self._mean)
        s, e = max(0, int(start_frame)), min(int(end_frame), n_total)
        samples = [x for x in self._samples if s <= x.index < e]
        fp: dict = {"frames_sampled": len(samples)}
        if e <= s:
            return Fingerprint(**fp)

        def med(vals):
            v = [x for x in vals if x is not None]
            return float(np.median(v)) if v else None

        lv = [x.levels_h for x in samples if x.levels_h is not None]
        lv += [x.levels_w for x in samples if x.levels_w is not None]
        scale = effective_scale(lv, p)
        if scale is not None:
            fp["effective_resolution"] = "native" if scale >= 1.0 else "upscaled"
            fp["effective_scale"] = round(scale, 4)
            fp["effective_height"] = int(round(scale * self.height))
            fp["effective_width"] = int(round(scale * self.width))
        for key, attr in (("noise_sigma", "noise"), ("blockiness", "blockiness"), ("sharpness", "sharpness")):
            v = med([getattr(x, attr) for x in samples])
            if v is not None:
                fp[key] = round(v, 4)
        # a bar must be present in every informative sample: take the minimum
        bv = [x.bars_v for x in samples if x.bars_v is not None]
        bh = [x.bars_h for x in samples if x.bars_h is not None]
        fp["bars"] = Bars(
            top=min(b[0] for b in bv) if bv else 0,
            bottom=min(b[1] for b in bv) if bv else 0,
            left=min(b[0] for b in bh) if bh else 0,
            right=min(b[1] for b in bh) if bh else 0,
        )

        # temporal tests, using only pairs/triples inside the segment
        d = np.frombuffer(self._diff, np.float32)[s + 1 : e]
        d = d[np.isfinite(d)]
        if d.size:
            # a repeat is (near) identical to its predecessor: far below both an
            # absolute ceiling and the segment's typical frame-to-frame change,
            # which for a static camera on a static scene is the temporal noise
            typical = float(np.median(d))
            dup = (d <= p.dup_max_diff) & (d <= p.dup_rel_median * typical)
            fp["duplicate_frame_ratio"] = round(float(dup.mean()), 4)
        r = np.frombuffer(self._blend_r, np.float32)[s + 1 : e - 1]
        o = np.frombuffer(self._blend_o, np.float32)[s + 1 : e - 1]
        ok = np.isfinite(r) & np.isfinite(o)
        if ok.any():
            r, o = r[ok], o[ok]
            blend = (o >= p.blend_min_change) & (r <= p.blend_max_ratio * o)
            fp["blended_frame_ratio"] = round(float(blend.mean()), 4)

        mean = np.frombuffer(self._mean, np.float32)[s:e]
        std = np.frombuffer(self._std, np.float32)[s:e]
        cb = np.frombuffer(self._cb, np.float32)[s:e]
        cr = np.frombuffer(self._cr, np.float32)[s:e]
        sat = np.frombuffer(self._sat, np.float32)[s:e]
        good = np.isfinite(mean)
        if good.any():
            ym, cbm, crm = float(mean[good].mean()), float(cb[good].mean()), float(cr[good].mean())
            fp["brightness_mean"] = round(ym, 3)
            fp["brightness_std"] = round(float(mean[good].std()), 3)  # flicker / exposure drift
            fp["contrast"] = round(float(std[good].mean()), 3)  # spatial luma spread
            fp["saturation_mean"] = round(float(sat[good].mean()), 3)  # |Cb-128|+|Cr-128|, 8-bit levels
            fp["color_mean_rgb"] = [round(v, 2) for v in _ycbcr_to_rgb(ym, cbm, crm)]
        return Fingerprint(**fp)


def spectral_cutoff(level: np.ndarray, params: FingerprintParams) -> tuple[float, float] | None:
    """Cut-off (fraction of Nyquist) and top-band deficit (dB) of one band-level curve.

    Natural pictures have a power-law spectrum. An upscaled picture follows
    that law up to its original Nyquist frequency, then falls to the floor left
    by noise, compression and the interpolation kernel's leakage. We fit the law
    on low frequencies (below any plausible cut-off), measure the deficit of the
    top bands against it (small for detailed native pictures), and place the
    cut-off where the spectrum crosses a level part-way between the law and the
    floor. Returns None when the curve is not a natural-picture spectrum.
    """
    p = params
    nb = level.size
    edges = np.linspace(0.0, 1.0, nb + 1)
    centre = 0.5 * (edges[:-1] + edges[1:])
    fit = (centre >= p.effres_fit_low) & (centre <= p.effres_fit_high)
    if fit.sum() < 2:
        return None
    slope, icpt = np.polyfit(np.log10(centre[fit]), level[fit], 1)
    if slope >= 0:
        return None  # flat noise or a pattern, not a natural picture
    trend = icpt + slope * np.log10(centre)
    top = slice(nb - p.effres_top_bands, nb)
    floor = float(level[top].mean())
    deficit = float(trend[top].mean()) - floor
    target = floor + p.effres_drop_fraction * (trend - floor)
    above = level >= target
    above[: int(np.argmax(fit))] = True  # the fit band itself is by definition "content"
    b = int(np.nonzero(above)[0].max())
    if b >= nb - 1:
        return 1.0, deficit
    e0 = level[b] - target[b]
    e1 = level[b + 1] - target[b + 1]
    frac = e0 / (e0 - e1) if e0 != e1 else 0.5
    cut = centre[b] + frac * (centre[b + 1] - centre[b])
    return float(min(1.0, max(p.effres_min_scale, cut))), deficit


def effective_scale(levels: list[np.ndarray], params: FingerprintParams) -> float | None:
    """Segment decision: 1.0 (native), a scale < 1 (upscaled) or None (inconclusive).

    ``levels`` are band-level curves of the segment's sampled frames, both axes
    pooled (upscalers scale both axes alike; pooling halves the variance).

    A hypothesis test with margins, because on real footage compression and
    soft content also pull the spectral cut-off down:

    * native: the median spectrum's top bands lie within
      ``effres_native_deficit_db`` of the power-law trend (detail up to Nyquist)
      but not above it by more than ``-effres_native_min_deficit_db`` (a top
      that is *above* the trend is a flat noise/compression floor, which an
      upscale re-encoded at full size also shows);
    * upscaled: the cut-off of the median spectrum is below
      ``effres_upscale_max_scale`` (measured on real native clips, which read up
      to ~0.6-0.8 when compressed or soft) *and* at least
      ``effres_min_upscaled_share`` of the individual curves agree;
    * otherwise inconclusive: the picture lacks the detail to tell.
    """
    p = params
    if len(levels) < p.min_samples_effres:
        return None
    med = spectral_cutoff(np.median(np.stack(levels), axis=0), p)
    if med is None:
        return None
    cut, deficit = med
    if deficit < p.effres_native_min_deficit_db:
        return None  # top bands above the trend: a flat noise/compression floor, not detail
    if deficit < p.effres_native_deficit_db:
        return 1.0
    if cut >= p.effres_upscale_max_scale:
        return None
    each = [spectral_cutoff(lv, p) for lv in levels]
    agree = [e is not None and e[0] < p.effres_upscale_max_scale for e in each]
    if float(np.mean(agree)) < p.effres_min_upscaled_share:
        return None
    return cut


def _ycbcr_to_rgb(y: float, cb: float, cr: float) -> list[float]:
    """BT.709 limited-range Y and centred Cb/Cr means -> RGB means (0..255).

    The conversion is affine, so the RGB mean equals the conversion of the
    YCbCr mean (up to clipping of saturated pixels).
    """
    yy = (y - _Y_OFFSET) * _Y_GAIN
    pb, pr = cb * _C_GAIN, cr * _C_GAIN
    r = yy + 2.0 * (1.0 - _KR) * pr
    b = yy + 2.0 * (1.0 - _KB) * pb
    g = (yy - _KR * r - _KB * b) / _KG
    return [float(min(255.0, max(0.0, v))) for v in (r, g, b)]


# ---------------------------------------------------------------------- grouping
def _features(fp: Fingerprint, params: FingerprintParams) -> list[float | None]:
    """Source-describing features, each divided by its tolerance (1 = just distinguishable)."""
    p = params

    def log2s(v):
        return None if v is None or v <= 0 else math.log2(v)

    noise = None if fp.noise_sigma is None else math.log(fp.noise_sigma + p.group_noise_floor)
    block = None if fp.blockiness is None or fp.blockiness <= 0 else math.log(fp.blockiness)
    b = fp.bars
    feats = [
        (log2s(fp.effective_scale), p.group_tol_scale_log2),
        (noise, p.group_tol_noise_log),
        (block, p.group_tol_blockiness_log),
        (float(b.top + b.bottom), p.group_tol_bars_px),
        (float(b.left + b.right), p.group_tol_bars_px),
        (fp.duplicate_frame_ratio, p.group_tol_duplicate),
        (fp.blended_frame_ratio, p.group_tol_blend),
    ]
    return [None if v is None else v / tol for v, tol in feats]


def group_sources(fingerprints: list[Fingerprint], params: FingerprintParams) -> list[int]:
    """Label segments that probably share a camera and an encode.

    Parameters
    ----------
    fingerprints : list of Fingerprint
        One per segment, in segment order.
    params : FingerprintParams
        Feature tolerances, distance threshold and linkage.

    Returns
    -------
    list of int
        0-based group per segment, numbered in order of first appearance.

    Notes
    -----
    Only features of the *source* are used (medians over the segment's sampled
    frames; an inconclusive effective resolution is unknown, not "different"),
    and the tolerance of a pair widens with the sampling error of its sparser
    segment. The features (effective resolution, noise, blockiness, bars,
    duplicate/blend ratios) are each scaled by a tolerance so one
    unit means "just distinguishable". A feature missing in either segment does
    not contribute (unknown is not evidence of difference). Hierarchical
    clustering with a distance threshold is deterministic for a given input.
    """
    n = len(fingerprints)
    if n == 0:
        return []
    if n == 1:
        return [0]
    feats = [_features(fp, params) for fp in fingerprints]
    # medians over few sampled frames are noisy: widen the tolerance of a pair by
    # the standard error of its sparser segment (one sample: 1 + widen)
    nsamp = [max(1, fp.frames_sampled) for fp in fingerprints]
    cond = []
    for i in range(n):
        for j in range(i + 1, n):
            acc = 0.0
            for a, b in zip(feats[i], feats[j]):
                if a is not None and b is not None:
                    acc += (a - b) ** 2
            widen = 1.0 + params.group_sample_widen / math.sqrt(min(nsamp[i], nsamp[j]))
            cond.append(math.sqrt(acc) / widen)
    z = linkage(np.asarray(cond, np.float64), method=params.group_linkage)
    raw = fcluster(z, t=params.group_distance, criterion="distance")
    relabel: dict[int, int] = {}
    return [relabel.setdefault(int(c), len(relabel)) for c in raw]
