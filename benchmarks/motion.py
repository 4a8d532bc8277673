"""Camera-motion benchmark: drift, residual, sky flagging and speed of ``vidforensics.motion``.

Clips with exact ground-truth camera motion: a real background (a scikit-image
photograph enlarged and given seeded detail by ``clipgen.make_world``) seen by
a virtual camera whose every frame is an exact homography of that world (pan,
1.4x zoom over 4 s, roll, yaw with perspective, hand-held shake), plus moving
objects and smoke on some clips, sensor noise, and real H.264 (``write_video``).
A sky-only clip (smooth gradient and faint clouds) must be flagged unreliable.
Every clip is decoded by the real decoder (``iter_frames``) and each frame's
``to_ref`` is compared with the truth ``G_ref^-1 G_t`` (``G_t``: frame pixel ->
world pixel).

Measured, not asserted:

* **drift** at 4 s: the error of ``to_ref`` of the frame at 4.0 s at its corners
  and centre, in reference-frame px (``drift_px``); and the brief's wording, the
  reference frame's corners and centre mapped into the frame at 4 s with the
  inverse, in that frame's px (``drift_ref_corners_px``). Max and median over clips.
  Target: <= 0.5 px over 4 s with a 1.4x zoom.
* **worst frame**: the largest of those errors over every frame of the clip.
* **residual**: the estimator's own per-frame RMS residual (full-res px).
* **sky**: share of the sky-only clip's frames flagged ``reliable=False``.
* **cut**: whether a clip with one hard cut gets exactly one new run, at the cut.
* **speed**: per 720p and 360p clip, ``(pass with the estimator - pass without)
  / decode-only pass`` (same run, best of ``--reps``, ``cv2.setNumThreads(1)``
  as in the pipeline), and the estimator's own time per frame over the decode.

Run ``python benchmarks/motion.py --quick`` (under a minute) or without
``--quick`` for all clips. JSON goes to ``bench-out/motion.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import clipgen  # noqa: E402  (puts the repo on sys.path)
from timing import decode_only  # noqa: E402

from vidforensics.config import pipelines_dir  # noqa: E402
from vidforensics.io.decode import iter_frames  # noqa: E402
from vidforensics.io.encode import write_video  # noqa: E402
from vidforensics.motion import CameraMotionEstimator, MotionParams  # noqa: E402

FPS = 25
FOUR_S = 4 * FPS  # frame index at 4.0 s


@dataclass(frozen=True)
class MotionClip:
    """One synthetic clip: a virtual camera over a world picture.

    All motions are given for the frame at 4 s and interpolated (zoom
    geometrically) over ``frames``; pan speeds are in output px per frame at
    the reference size.
    """

    name: str
    size: tuple[int, int]
    frames: int = 110
    photo: str = "astronaut"
    seed: int = 0
    pan: tuple[float, float] = (0.0, 0.0)    # output px per frame
    zoom: float = 1.0                         # total zoom factor reached at 4 s
    roll_deg: float = 0.0                     # roll reached at 4 s
    yaw_deg: float = 0.0                      # yaw reached at 4 s (perspective: a true homography)
    hfov_deg: float = 60.0                    # for the yaw's perspective
    shake_px: float = 0.0                     # hand-held jitter amplitude, output px
    objects: bool = False                     # discs, a lorry and a small dark dot moving on their own
    smoke: bool = False                       # a growing grey smoke cloud over part of the frame
    sky: bool = False                         # sky only: gradient + faint clouds, no ground
    horizon: float = 0.0                      # share of the frame height at the bottom that is ground (sky clips)
    cut_at: int | None = None                 # hard cut to another world at this frame
    noise: float = 2.0                        # sensor noise sigma, levels
    crf: int = 23


def catalogue(quick: bool) -> list[MotionClip]:
    clips = []
    for res, (w, h) in (("720p", (1280, 720)), ("360p", (640, 360))):
        s = w / 1280
        clips += [
            MotionClip(f"pan_zoom_{res}", (w, h), photo="astronaut", seed=1, pan=(2.0 * s, 0.6 * s), zoom=1.4),
            MotionClip(f"zoom_roll_{res}", (w, h), photo="coffee", seed=2, pan=(-1.0 * s, 0.5 * s), zoom=1.4,
                       roll_deg=6.0),
            MotionClip(f"shake_zoom_{res}", (w, h), photo="chelsea", seed=3, pan=(1.0 * s, 0.0), zoom=1.4,
                       shake_px=8.0 * s),
            MotionClip(f"yaw_{res}", (w, h), photo="rocket", seed=4, yaw_deg=10.0, zoom=1.2, hfov_deg=60.0),
            MotionClip(f"objects_smoke_{res}", (w, h), photo="astronaut", seed=5, pan=(1.5 * s, -0.5 * s), zoom=1.4,
                       shake_px=3.0 * s, objects=True, smoke=True),
            MotionClip(f"sky_{res}", (w, h), seed=6, pan=(1.5 * s, 0.3 * s), shake_px=3.0 * s, sky=True,
                       objects=True),
            MotionClip(f"horizon_{res}", (w, h), photo="coffee", seed=7, pan=(1.5 * s, 0.0), shake_px=2.0 * s,
                       sky=True, horizon=0.25),
            MotionClip(f"cut_{res}", (w, h), photo="astronaut", seed=8, frames=60, pan=(1.0 * s, 0.0), zoom=1.2,
                       cut_at=30),
        ]
    if quick:
        keep = {"pan_zoom_720p", "shake_zoom_720p", "objects_smoke_720p", "sky_720p", "cut_360p", "pan_zoom_360p",
                "yaw_360p"}
        clips = [c for c in clips if c.name in keep]
    return clips


# ----------------------------------------------------------------------------- rendering
def _camera(spec: MotionClip, t: float, world_size: tuple[int, int]) -> np.ndarray:
    """``G_t``: output pixel -> world pixel, exactly (3x3)."""
    w, h = spec.size
    u = t / FOUR_S
    ww, wh = world_size
    scale_world = ww / (2.0 * w)            # world px per output px at zoom 1
    px, py = spec.pan
    cx = ww / 2 + scale_world * (px * (t - spec.frames / 2))
    cy = wh / 2 + scale_world * (py * (t - spec.frames / 2))
    roll = math.radians(spec.roll_deg) * u
    if spec.shake_px:
        rng = np.random.default_rng(spec.seed + 99)
        f = rng.uniform(0.05, 0.5, (3, 3))        # cycles per frame: a hand at 1-10 Hz
        ph = rng.uniform(0, 2 * math.pi, (3, 3))
        jit = np.sin(2 * math.pi * f * t + ph).sum(axis=1) / 1.7
        cx += scale_world * spec.shake_px * jit[0]
        cy += scale_world * spec.shake_px * jit[1]
        roll += math.radians(0.4) * jit[2] * spec.shake_px / 8.0
    zoom = spec.zoom ** u
    c = np.array([[1, 0, -(w - 1) / 2], [0, 1, -(h - 1) / 2], [0, 0, 1.0]])
    k = scale_world / zoom
    sim = np.array([[k * math.cos(roll), -k * math.sin(roll), cx],
                    [k * math.sin(roll), k * math.cos(roll), cy], [0, 0, 1.0]])
    persp = np.eye(3)
    if spec.yaw_deg:
        f = (w / 2) / math.tan(math.radians(spec.hfov_deg) / 2)
        kk = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
        a = math.radians(spec.yaw_deg) * u
        ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        persp = kk @ ry @ np.linalg.inv(kk)      # the ray through pixel u after the camera turned
    return sim @ c @ persp


def _sky_world(spec: MotionClip, ww: int, wh: int) -> np.ndarray:
    """Smooth blue gradient with faint soft clouds (and optionally ground at the bottom)."""
    rng = np.random.default_rng(spec.seed)
    yy = np.linspace(0, 1, wh, dtype=np.float32)[:, None]
    top, low = np.array([70, 120, 200], np.float32), np.array([170, 195, 225], np.float32)
    sky = top + (low - top) * yy[..., None] ** 0.8
    sky = np.broadcast_to(sky, (wh, ww, 3)).copy()
    clouds = rng.standard_normal((wh // 16 + 1, ww // 16 + 1)).astype(np.float32)
    clouds = cv2.resize(cv2.GaussianBlur(clouds, (0, 0), 2.0), (ww, wh), interpolation=cv2.INTER_CUBIC)
    clouds = np.clip(clouds / (clouds.std() + 1e-6), 0, None) * 5.0  # faint: a few levels
    sky += clouds[..., None]
    if spec.horizon:
        ground = clipgen.make_world(spec.photo, spec.seed, ww, wh).astype(np.float32)
        out_h = spec.size[1]
        # the ground fills the bottom of the frame over the whole pan (world y below the line)
        line = int(wh / 2 + (0.5 - spec.horizon) * out_h * (ww / (2.0 * spec.size[0])))
        sky[line:] = ground[line:]
    return np.clip(sky, 0, 255).astype(np.uint8)


def _world(spec: MotionClip, second: bool = False) -> np.ndarray:
    w, h = spec.size
    if spec.sky and not second:
        return _sky_world(spec, 2 * w, 2 * h)
    photo = "rocket" if second and spec.photo != "rocket" else ("coffee" if second else spec.photo)
    return clipgen.make_world(photo, spec.seed + (100 if second else 0), 2 * w, 2 * h)


def _overlay(spec: MotionClip, img: np.ndarray, t: int) -> np.ndarray:
    """Things that move on their own (outliers for the camera estimate), drawn in frame px; float32 out."""
    w, h = spec.size
    s = w / 1280
    rng = np.random.default_rng(spec.seed + 5)
    if spec.objects:
        for k in range(3):
            x0, y0 = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
            vx, vy = rng.uniform(-6, 6) * s, rng.uniform(-4, 4) * s
            col = tuple(int(v) for v in rng.integers(0, 256, 3))
            cv2.circle(img, (int((x0 + vx * t) % w), int((y0 + vy * t) % h)), int(30 * s), col, -1, cv2.LINE_AA)
        if not spec.sky:  # a lorry crossing: 8 % of the frame, textured
            lx = int((0.1 * w + 3.0 * s * t) % w)
            cv2.rectangle(img, (lx, int(0.6 * h)), (lx + int(0.3 * w), int(0.87 * h)), (90, 40, 40), -1)
            for k in range(6):
                cv2.putText(img, "CARGO"[k % 5], (lx + int(k * 0.05 * w), int(0.75 * h)), cv2.FONT_HERSHEY_SIMPLEX,
                            1.5 * s + 0.3, (230, 230, 60), 2)
        # the payload: a small dark dot descending slowly
        cv2.circle(img, (int(0.5 * w), int(0.2 * h + 1.2 * s * t)), max(2, int(4 * s)), (20, 20, 20), -1, cv2.LINE_AA)
    img = img.astype(np.float32)
    if spec.smoke and t >= 20:
        r = (40 + 4 * (t - 20)) * s
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = np.exp(-(((xx - 0.3 * w) ** 2 + (yy - 0.35 * h) ** 2) / (2 * r * r))) * 0.75
        img = img * (1 - a[..., None]) + np.array([150, 150, 150], np.float32) * a[..., None]
    return img


def render(spec: MotionClip, path: Path) -> dict:
    """Write the clip; return the truth: ``G_t`` per frame and the cut frame (if any)."""
    w, h = spec.size
    world = _world(spec)
    world2 = _world(spec, second=True) if spec.cut_at is not None else None
    rng = np.random.default_rng(spec.seed + 1234)
    gs = []

    def frames():
        for t in range(spec.frames):
            src = world2 if (spec.cut_at is not None and t >= spec.cut_at) else world
            g = _camera(spec, t, (src.shape[1], src.shape[0]))
            gs.append(g)
            img = cv2.warpPerspective(src, g, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                      borderMode=cv2.BORDER_REFLECT)
            img = _overlay(spec, img, t)
            if spec.noise:
                img += rng.standard_normal(img.shape, dtype=np.float32) * spec.noise
            yield np.clip(img, 0, 255).astype(np.uint8)

    write_video(path, frames(), FPS, crf=spec.crf, gop=50)
    return {"G": gs, "cut_at": spec.cut_at}


# ----------------------------------------------------------------------------- scoring
def _map(hm: np.ndarray, pts: np.ndarray) -> np.ndarray:
    q = np.c_[pts, np.ones(len(pts))] @ hm.T
    return q[:, :2] / q[:, 2:]


def _points(w: int, h: int) -> np.ndarray:
    return np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [(w - 1) / 2, (h - 1) / 2]], float)


def run_estimator(path: Path, params: MotionParams) -> tuple[list, float, dict]:
    est = CameraMotionEstimator(params)
    samples, spent = [], 0.0
    for frame in iter_frames(path):
        t0 = time.perf_counter()
        samples.append(est.process(frame))
        spent += time.perf_counter() - t0
    return samples, spent, est.summary()


def score(spec: MotionClip, truth: dict, samples: list) -> dict:
    w, h = spec.size
    pts = _points(w, h)
    G = truth["G"]
    errs, errs_inv = [], []
    for s in samples:
        tr = np.linalg.inv(G[s.ref_index]) @ G[s.index]
        tr /= tr[2, 2]
        e = float(np.max(np.linalg.norm(_map(s.to_ref, pts) - _map(tr, pts), axis=1)))
        ei = float(np.max(np.linalg.norm(_map(np.linalg.inv(s.to_ref), pts) - _map(np.linalg.inv(tr), pts), axis=1)))
        errs.append(e if s.reliable else math.nan)
        errs_inv.append(ei if s.reliable else math.nan)
    res = np.array([s.residual_px for s in samples], float)
    runs = sorted({s.run for s in samples})
    run_starts = [s.index for s in samples if s.index == s.ref_index]
    out = {
        "frames": len(samples),
        "runs": len(runs),
        "run_starts": run_starts,
        "reliable_share": round(float(np.mean([s.reliable for s in samples])), 4),
        "reasons": sorted({s.reason for s in samples if s.reason}),
        "median_residual_px": _r(np.nanmedian(res)) if np.isfinite(res).any() else None,
        "max_residual_px": _r(np.nanmax(res)) if np.isfinite(res).any() else None,
    }
    if spec.sky and not spec.horizon:
        out["sky_flagged_share"] = round(float(np.mean([not s.reliable for s in samples])), 4)
        return out
    if spec.cut_at is not None:
        out["cut_found"] = run_starts == [0, spec.cut_at]
    fin = [e for e in errs if math.isfinite(e)]
    out["worst_frame_px"] = _r(max(fin)) if fin else None
    if len(samples) > FOUR_S and spec.cut_at is None:
        out["drift_px"] = _r(errs[FOUR_S])
        out["drift_ref_corners_px"] = _r(errs_inv[FOUR_S])
        out["frame_4s_reliable"] = samples[FOUR_S].reliable
        out["frame_4s_run"] = samples[FOUR_S].run
    return out


def _r(v) -> float | None:
    v = float(v)
    return round(v, 4) if math.isfinite(v) else None


def speed(path: Path, params: MotionParams, reps: int) -> dict:
    """Best-of-``reps`` wall times, interleaved: decode only, the pass alone, the pass with motion."""
    best = {"decode": math.inf, "pass": math.inf, "motion": math.inf}
    for _ in range(reps):
        t0 = time.perf_counter()
        n = decode_only(path)
        best["decode"] = min(best["decode"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        for f in iter_frames(path):
            f.luma()
        best["pass"] = min(best["pass"], time.perf_counter() - t0)
        est = CameraMotionEstimator(params)
        t0 = time.perf_counter()
        for f in iter_frames(path):
            est.process(f)
        best["motion"] = min(best["motion"], time.perf_counter() - t0)
    return {"frames": n, "decode_ms_per_frame": round(1000 * best["decode"] / n, 3),
            "motion_over_decode": round((best["motion"] - best["pass"]) / best["decode"], 3),
            "pass_with_motion_over_decode": round(best["motion"] / best["decode"], 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="7 clips, 2 speed reps: under a minute")
    ap.add_argument("--reps", type=int, default=None, help="speed repetitions (best of)")
    ap.add_argument("--out", type=Path, default=clipgen.REPO / "bench-out" / "motion.json")
    ap.add_argument("--clips-dir", type=Path, default=clipgen.REPO / "bench-out" / "motion-clips")
    args = ap.parse_args(argv)
    reps = args.reps or (2 if args.quick else 3)
    cv2.setNumThreads(1)  # as analyze() does
    # only [motion] is read, so another stage's half-edited table does not stop the run
    params = MotionParams(**tomllib.loads((pipelines_dir() / "default.toml").read_text())["motion"])
    args.clips_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for spec in catalogue(args.quick):
        path = args.clips_dir / f"{spec.name}.mp4"
        truth = render(spec, path)
        samples, spent, summary = run_estimator(path, params)
        row = {"clip": spec.name, **score(spec, truth, samples)}
        row["estimator_ms_per_frame"] = round(1000 * spent / len(samples), 3)
        if spec.name.startswith(("pan_zoom", "shake_zoom", "objects_smoke")):
            row["speed"] = speed(path, params, reps)
        row["summary"] = summary
        row["spec"] = asdict(spec)
        results.append(row)
        _print_row(row)
    agg = aggregate(results)
    _print_agg(agg)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"aggregate": agg, "clips": results}, indent=1, default=str))
    print(f"\nwrote {args.out}")
    return 0


def aggregate(results: list[dict]) -> dict:
    drift = [r["drift_px"] for r in results if r.get("drift_px") is not None]
    drift_inv = [r["drift_ref_corners_px"] for r in results if r.get("drift_ref_corners_px") is not None]
    unreliable_4s = [r["clip"] for r in results if r.get("frame_4s_reliable") is False]
    res = [r["median_residual_px"] for r in results if r.get("median_residual_px") is not None]
    sky = [r["sky_flagged_share"] for r in results if "sky_flagged_share" in r]
    cuts = [r["cut_found"] for r in results if "cut_found" in r]
    out = {
        "drift_px_max": max(drift) if drift else None,
        "drift_px_median": _r(np.median(drift)) if drift else None,
        "drift_ref_corners_px_max": max(drift_inv) if drift_inv else None,
        "drift_ref_corners_px_median": _r(np.median(drift_inv)) if drift_inv else None,
        "frame_4s_unreliable": unreliable_4s,
        "worst_frame_px_max": max((r["worst_frame_px"] for r in results if r.get("worst_frame_px") is not None),
                                  default=None),
        "residual_px_median_of_clips": _r(np.median(res)) if res else None,
        "sky_flagged_share_min": min(sky) if sky else None,
        "cuts_found": f"{sum(cuts)}/{len(cuts)}",
        "horizon_reliable_share": [r["reliable_share"] for r in results if r["clip"].startswith("horizon")],
    }
    for res_name in ("720p", "360p"):
        sp = [r["speed"] for r in results if "speed" in r and r["clip"].endswith(res_name)]
        if sp:
            out[f"motion_over_decode_{res_name}"] = _r(np.median([s["motion_over_decode"] for s in sp]))
            out[f"decode_ms_per_frame_{res_name}"] = _r(np.median([s["decode_ms_per_frame"] for s in sp]))
        est = [r["estimator_ms_per_frame"] for r in results if r["clip"].endswith(res_name)]
        if est:
            out[f"estimator_ms_per_frame_{res_name}"] = _r(np.median(est))
    return out


def _print_row(r: dict) -> None:
    bits = [f"{r['clip']:<20}", f"runs {r['runs']}", f"reliable {r['reliable_share']:.2f}"]
    for k, lab in (("drift_px", "drift@4s"), ("drift_ref_corners_px", "ref-corners@4s"), ("worst_frame_px", "worst"),
                   ("median_residual_px", "resid med"), ("max_residual_px", "max")):
        if r.get(k) is not None:
            bits.append(f"{lab} {r[k]:.3f}")
    if "sky_flagged_share" in r:
        bits.append(f"sky flagged {r['sky_flagged_share']:.2f}")
    if "cut_found" in r:
        bits.append(f"cut {'found' if r['cut_found'] else 'MISSED'} (runs at {r['run_starts']})")
    bits.append(f"{r['estimator_ms_per_frame']:.2f} ms/f")
    if "speed" in r:
        bits.append(f"motion/decode {r['speed']['motion_over_decode']:.3f}")
    print("  ".join(bits), flush=True)


def _print_agg(a: dict) -> None:
    print("\n--- camera motion ---")
    print(f"drift at 4 s (frame corners+centre in ref px): max {a['drift_px_max']}  median {a['drift_px_median']}"
          f"   [target <= 0.5 px over 4 s with a 1.4x zoom]")
    print(f"drift at 4 s (ref corners+centre in frame px): max {a['drift_ref_corners_px_max']}  "
          f"median {a['drift_ref_corners_px_median']}")
    print(f"worst frame of any clip: {a['worst_frame_px_max']} px;  frame at 4 s unreliable in: "
          f"{a['frame_4s_unreliable'] or 'none'}")
    print(f"per-frame residual, median of clip medians: {a['residual_px_median_of_clips']} px")
    print(f"sky-only frames flagged unreliable: {a['sky_flagged_share_min']} (min over sky clips)   "
          f"horizon clips reliable share: {a['horizon_reliable_share']}")
    print(f"cuts starting a new run exactly at the cut: {a['cuts_found']}")
    for res in ("720p", "360p"):
        if f"motion_over_decode_{res}" in a:
            print(f"speed {res}: motion costs {a[f'motion_over_decode_{res}']}x a decode-only pass "
                  f"(decode {a[f'decode_ms_per_frame_{res}']} ms/frame; estimator "
                  f"{a.get(f'estimator_ms_per_frame_{res}')} ms/frame in process())   [target well under 0.3x at 720p]")


if __name__ == "__main__":
    raise SystemExit(main())
