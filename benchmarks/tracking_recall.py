#!/usr/bin/env python3
"""Where SNR-5 objects are lost: per object frame, below the detector's threshold or in the tracking.

Usage::

    python benchmarks/tracking_recall.py [--seed-offset 0 1000 2000] [--jobs 2] [--stack 12]

Renders the ``recall`` clips of ``benchmarks/tracking.py`` (same seeds: 1-3 falling
objects drawn at SNR 5, H.264 at crf 23) and runs them through the real decoder, camera
motion and tracking stage. For every frame of every falling object it records:

- the *decoded* band-pass SNR at the object (the detector's own band-pass over its local
  noise, the strongest dark response within one work pixel of the truth): what H.264 left;
- whether the detector gave a candidate on it (within 4 px of what was drawn, the
  benchmark's rule, ``trackscenes.footprint_distance``);
- whether a reported track has a point on it that frame.

and prints them by SNR bin. With ``--stack K`` it also asks what a track-before-detect
could recover: for objects whose frames are mostly below the threshold, the band-pass SNR
maps of K frames are moved into the reference frame with the generator's exact camera
motion and summed along the object's *true* velocity (the best any velocity search
could do; divided by sqrt(K)); printed against the same stack's tail over the sky (the
1-in-10^4 and 1-in-10^5 pixel values where the local noise is sky-like), which is what a
detection threshold on the stack would have to clear before multiplying by the number of
velocities searched. Numbers feed benchmarks/README.md, "Where SNR-5 objects are lost".
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracking as B  # noqa: E402
import trackscenes as S  # noqa: E402

from vidforensics.io.decode import iter_frames  # noqa: E402
from vidforensics.tracking.detect import Detector, band_pass, block_map, local_noise, work_image  # noqa: E402

MATCH_PX = 4.0
FALLING = ("retarded", "free_fall")
BINS = [-np.inf, 1, 2, 3, 4, 4.5, 5, 6, 8, 12, np.inf]


def _snr_map(luma: np.ndarray, p) -> tuple[np.ndarray, np.ndarray, float]:
    """Dark-polarity band-pass SNR (work px), the local noise per work px, and full px per work px."""
    work, k = work_image(luma, p.work_width)
    band = band_pass(work, p.background_levels)
    noise = block_map(local_noise(np.abs(band), p.noise_block, p.noise_floor), p.noise_block, band.shape)
    return -band / noise, noise, k


def clip_job(args) -> dict:
    kw, out_dir, stack = args
    cv2.setNumThreads(1)
    scene = S.random_scene(size=S.SD, **kw)
    path = Path(out_dir) / f"recall_{kw['seed']}.mp4"
    truth = S.render(scene, path)
    cfg = B.load_config()
    p = cfg.tracking.detect
    detector = Detector(p)
    from vidforensics.motion import CameraMotionEstimator
    from vidforensics.tracking.stage import TrackingCollector
    est = CameraMotionEstimator(cfg.motion)
    col = TrackingCollector(cfg.tracking)
    at: dict[int, list] = {}
    for i, o in enumerate(truth["objects"]):
        if o["kind"] in FALLING:
            for (f, x, y), sh in zip(o["frames"], o["shapes"]):
                at.setdefault(f, []).append((i, x, y, sh))
    rows: dict[tuple[int, int], dict] = {}
    for fr in iter_frames(path, analysis_width=cfg.decode.analysis_width):
        col.process(fr, est.process(fr))
        luma = fr.luma()
        dets = detector.detect(luma)
        snr, _, k = _snr_map(luma, p)
        for i, x, y, sh in at.get(fr.index, []):
            ix, iy = int(round((x + 0.5) / k - 0.5)), int(round((y + 0.5) / k - 0.5))
            win = snr[max(0, iy - 1):iy + 2, max(0, ix - 1):ix + 2]
            hit = any(S.footprint_distance(sh, float(dx) - x, float(dy) - y) <= MATCH_PX for dx, dy in dets.xy)
            rows[(i, fr.index)] = {"obj": i, "frame": fr.index, "snr": float(win.max()) if win.size else 0.0,
                                   "detected": hit, "covered": False}
    for r in col.finish([tuple(s) for s in truth["segments"]]):
        for f, x, y in r.points:
            for i, tx, ty, sh in at.get(f, []):
                if S.footprint_distance(sh, x - tx, y - ty) <= MATCH_PX:
                    rows[(i, f)]["covered"] = True
    out = {"seed": kw["seed"], "motion": kw["motion"], "rows": list(rows.values()), "stacks": []}
    if stack:
        for i, o in enumerate(truth["objects"]):
            mine = [r for r in rows.values() if r["obj"] == i]
            if o["kind"] in FALLING and len(mine) >= 2 * stack and np.mean([r["snr"] < p.snr_min for r in mine]) >= 0.5:
                out["stacks"].append({"obj": i, **_stack(path, truth, o, p, stack)})
    return out


def _stack(path: Path, truth: dict, o: dict, p, K: int) -> dict:
    """Median over the object's frames of: its single-frame SNR, its K-frame stack along its true
    velocity, and that stack's 1e-4 and 1e-5 tails over the sky."""
    pos = {f: (x, y) for f, x, y in o["frames"]}
    maps: list[np.ndarray] = []
    ref: dict[int, tuple[float, float]] = {}
    single, stacked, q4, q5 = [], [], [], []
    for fr in iter_frames(path):
        snr, noise, k = _snr_map(fr.luma(), p)
        h, w = snr.shape
        to_work = np.array([[k, 0, (k - 1) / 2], [0, k, (k - 1) / 2], [0, 0, 1.0]])
        H = np.linalg.inv(to_work) @ truth["motion"][fr.index].to_ref @ to_work
        m = cv2.warpPerspective(snr.astype(np.float32), H, (w, h), flags=cv2.INTER_LINEAR, borderValue=np.nan)
        sky = cv2.warpPerspective(noise.astype(np.float32), H, (w, h), flags=cv2.INTER_NEAREST, borderValue=np.nan)
        maps = (maps + [m])[-K:]
        if fr.index in pos:
            q = truth["motion"][fr.index].to_ref @ np.array([*pos[fr.index], 1.0])
            ref[fr.index] = ((q[0] / q[2] + 0.5) / k - 0.5, (q[1] / q[2] + 0.5) / k - 0.5)
        fs = np.arange(fr.index - K + 1, fr.index + 1)
        if len(maps) < K or not all(f in ref for f in fs):
            continue
        v = np.polyfit(fs - fr.index, np.array([ref[f] for f in fs]), 1)[0]   # work px per frame
        acc, n = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
        for f, mp in zip(fs, maps):
            d = f - fr.index
            sh = cv2.warpAffine(mp, np.float32([[1, 0, -v[0] * d], [0, 1, -v[1] * d]]), (w, h),
                                flags=cv2.INTER_LINEAR, borderValue=np.nan)
            ok = np.isfinite(sh)
            acc[ok] += sh[ok]
            n += ok
        S_ = np.where(n == K, acc / np.sqrt(K), np.nan)
        x, y = ref[fr.index]
        ix, iy = int(round(x)), int(round(y))
        if not (1 <= ix < w - 1 and 1 <= iy < h - 1):
            continue
        flat = np.isfinite(S_) & np.isfinite(sky) & (sky <= 2.0 * np.nanmedian(sky))
        here_1, here_k = m[iy - 1:iy + 2, ix - 1:ix + 2], S_[iy - 1:iy + 2, ix - 1:ix + 2]
        if flat.sum() < 1000 or not (np.isfinite(here_1).all() and np.isfinite(here_k).all()):
            continue   # too little sky, or the object's stack runs off the reference frame
        single.append(float(here_1.max()))
        stacked.append(float(here_k.max()))
        t4, t5 = np.quantile(S_[flat], [1 - 1e-4, 1 - 1e-5])
        q4.append(float(t4))
        q5.append(float(t5))
    med = (lambda a: float(np.median(a)) if a else float("nan"))
    return {"frames": len(single), "single": med(single), "stacked": med(stacked), "sky_1e4": med(q4),
            "sky_1e5": med(q5), "above_1e4": float(np.mean(np.array(stacked) > np.array(q4))) if q4 else float("nan")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed-offset", type=int, nargs="+", default=[0, 1000, 2000])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--stack", type=int, default=0, help="frames to stack along the true velocity (0: no stacking)")
    ap.add_argument("--out", default=str(S.REPO / "bench-out" / "tracking-clips"))
    a = ap.parse_args(argv)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    jobs = [(kw, a.out, a.stack) for off in a.seed_offset for cat, kw in B.catalogue(False, off) if cat == "recall"]
    if a.jobs > 1:
        import multiprocessing as mp
        with ProcessPoolExecutor(a.jobs, mp_context=mp.get_context("fork")) as ex:
            clips = list(ex.map(clip_job, jobs))
    else:
        clips = [clip_job(j) for j in jobs]
    rows = [r for c in clips for r in c["rows"]]
    snr = np.array([r["snr"] for r in rows])
    det = np.array([r["detected"] for r in rows])
    cov = np.array([r["covered"] for r in rows])
    thr = B.load_config().tracking.detect.snr_min
    print(f"{len(clips)} recall clips, {len(rows)} frames of falling objects; detector threshold SNR {thr}")
    print(f"covered by a reported track: {cov.mean():.3f}; detected: {det.mean():.3f}; "
          f"covered where detected: {cov[det].mean():.3f}")
    print(f"below the threshold: {(snr < thr).mean():.3f} of frames; lost there (not detected): "
          f"{(~det & (snr < thr)).sum()}; detected but not in a reported track: {(det & ~cov).sum()}")
    print("\ndecoded SNR   frames  detected  covered")
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = (snr >= lo) & (snr < hi)
        if m.any():
            print(f"  [{lo:>4}, {hi:>4})  {m.sum():6d}    {det[m].mean():.2f}     {cov[m].mean():.2f}")
    stacks = [(c["seed"], s) for c in clips for s in c["stacks"]]
    if stacks:
        print(f"\n{a.stack}-frame stack along the true velocity (medians over each object's frames):")
        print("  clip obj frames  single  stacked  sky 1e-4  sky 1e-5  stacked above sky 1e-4")
        for seed, s in stacks:
            print(f"  {seed:4d} {s['obj']:3d} {s['frames']:6d}  {s['single']:6.1f}  {s['stacked']:7.1f}  "
                  f"{s['sky_1e4']:8.1f}  {s['sky_1e5']:8.1f}  {s['above_1e4']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
