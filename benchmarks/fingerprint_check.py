"""Accuracy of effective-resolution estimation on generated H.264 clips, and cost.

Builds photograph-mosaic pans (see tests/test_fingerprint.py) at several native
heights, upscales them to 1280x720 with several kernels, encodes with libx264,
decodes with ``iter_frames`` and prints the estimated effective height per clip,
the relative error, and the cost of ``process()`` and of one sampled frame.

Usage::

    python benchmarks/fingerprint_check.py [--crf 23] [--set effres_drop_fraction=0.55 ...]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vidforensics.cuts.fingerprint import FingerprintCollector, FingerprintParams
from vidforensics.io.decode import iter_frames

_spec = importlib.util.spec_from_file_location(
    "test_fingerprint", Path(__file__).resolve().parents[1] / "tests" / "test_fingerprint.py")
T = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(T)

CASES = {
    "native720": dict(native_h=720),
    "native720+noise3": dict(native_h=720, noise=3.0),
    "360 cubic": dict(native_h=360),
    "360 bilinear": dict(native_h=360, interp=cv2.INTER_LINEAR),
    "360 cubic+noise3": dict(native_h=360, noise=3.0),
    "360 cubic letterbox": dict(native_h=360, bars=90),
    "480 cubic": dict(native_h=480),
    "540 lanczos": dict(native_h=540, interp=cv2.INTER_LANCZOS4),
    "576 area": dict(native_h=576, interp=cv2.INTER_AREA),
    "240 cubic": dict(native_h=240),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crf", type=int, default=23)
    ap.add_argument("--frames", type=int, default=36)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], help="override a parameter: key=json_value")
    a = ap.parse_args()
    cfg = dict(T.FINGERPRINT_TOML)
    for kv in a.set:
        k, v = kv.split("=", 1)
        cfg[k] = json.loads(v)
    params = FingerprintParams(**cfg)
    tmp = Path(tempfile.mkdtemp())
    errs: dict[str, list[float]] = {}
    print(f"{'case':22s} seed  est_h  est_w  err_h%")
    for seed in range(a.seeds):
        for name, kw in CASES.items():
            path = T.encode(tmp / "c.mp4", T.pan(a.frames, seed=seed, **kw), crf=a.crf)
            col, n = T.collect(path, params)
            fp = col.summarize(0, n)
            true_h = kw["native_h"]
            err = None if fp.effective_height is None else 100.0 * (fp.effective_height - true_h) / true_h
            errs.setdefault(name, []).append(np.nan if err is None else err)
            print(f"{name:22s} {seed:4d}  {fp.effective_height!s:>5}  {fp.effective_width!s:>5}  "
                  f"{'n/a' if err is None else f'{err:+.1f}':>6}")
    print("\nmean |error| % per case:")
    for name, e in errs.items():
        print(f"  {name:22s} {np.nanmean(np.abs(e)):5.1f}   worst {np.nanmax(np.abs(e)):5.1f}")

    # cost: per-frame path (no full-res sample) and one sampled frame
    frames = list(iter_frames(T.encode(tmp / "t.mp4", T.pan(60, seed=0), crf=a.crf)))
    col = FingerprintCollector(params, T.W, T.H)
    col._tokens = -1e12  # no tokens: no full-res sampling
    t = time.perf_counter()
    for f in frames:
        col.process(f)
    per_frame = (time.perf_counter() - t) / len(frames)
    for f in frames:
        f.luma()  # exclude the (lazy, cached) plane access from the analysis cost
    t = time.perf_counter()
    for f in frames:
        col._analyse(f)
    per_sample = (time.perf_counter() - t) / len(frames)
    t = time.perf_counter()
    nd = sum(1 for _ in iter_frames(tmp / "t.mp4"))
    decode = (time.perf_counter() - t) / nd
    print(f"\nprocess(): {per_frame * 1e6:.0f} us/frame; sampled frame analysis: {per_sample * 1e3:.2f} ms "
          f"(1280x720); decode-only: {decode * 1e3:.2f} ms/frame; "
          f"average overhead at 1 sample per {params.sample_every} frames: "
          f"{100 * (per_frame + per_sample / params.sample_every) / decode:.0f}% of decode")


if __name__ == "__main__":
    main()
