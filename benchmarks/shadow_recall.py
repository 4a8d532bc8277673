#!/usr/bin/env python3
"""Where the pole shadows are lost: per-caster recall of the pole-ray estimator.

Usage::

    python benchmarks/shadow_recall.py [--seed-offset N] [--scenes 60] [--jobs 2]

Renders the sunny single-frame scenes of ``benchmarks/shadows.py`` (same seeds) and, for
every pole and person whose base projects inside the picture (occluded ones included: the
truth says which shadows are visible, not which casters), follows the estimator's own
intermediate results (caster feet, ray lengths per direction, the foot's chosen ray) to
say where it was lost. A foot counts when one lies within ``FOOT_PX`` of the projected
base; a ray is right when it leaves within ``RAY_DEG`` of the true image direction at
the foot. Also prints how many distinct rays per frame are true, against the shadows the
renderer counts as visible. Numbers feed docs/shadows.md, "Where the pole shadows are lost".
"""
from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shadows as B  # noqa: E402
import shadowscenes as S  # noqa: E402

FOOT_PX = 8.0    # a detected foot this close to the projected base is the caster's
RAY_DEG = 6.0    # a ray this close to the true direction at the foot is right
TRUE_DEG = 5.0   # a distinct ray this close to the true direction counts as a true ray


def _project(cam: dict, xyz) -> np.ndarray | None:
    d = np.asarray(xyz, float) - np.asarray(cam["position"])
    z = d @ np.asarray(cam["forward"])
    if z <= 0:
        return None
    return np.array([cam["cx"] + cam["focal_px"] * (d @ np.asarray(cam["right"])) / z,
                     cam["cy"] + cam["focal_px"] * (d @ np.asarray(cam["down"])) / z])


def _true_dir(truth: dict, at: np.ndarray) -> float:
    """Image direction (deg) of the cast shadow at pixel ``at``, from the shadows' vanishing point."""
    vp = np.asarray(truth["vanishing_point"])
    deg = math.degrees(math.atan2(vp[1] - at[1], vp[0] - at[0])) % 360.0
    return deg if truth["vp_in_front"] else (deg + 180.0) % 360.0


def _diff(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def scene_recall(spec) -> tuple[list[tuple[str, str]], int, int]:
    """(kind, outcome) per pole and person in frame; true distinct rays; visible shadows."""
    from vidforensics import load_config
    import vidforensics.shadows.estimate as E

    P = load_config("default").shadows
    rgb, truth = S.render_scene(spec)
    h, w = rgb.shape[:2]
    frame = E._prepare(rgb, P)
    feet, ups = E._caster_feet(frame.grey, P, frame.seg)
    th = np.arange(0.0, 360.0, P.ray_step_deg)
    if len(feet):
        u = np.broadcast_to(np.stack([np.cos(np.radians(th)), np.sin(np.radians(th))], 1).astype(np.float32),
                            (len(feet), len(th), 2))
        st = E._stripe_lengths(frame.work, feet, ups, u, P)
        keep, best, Lb = E._foot_shadows(st.L, w, P)
    out = []
    for o in truth["objects"]:
        if o["kind"] not in ("pole", "person"):
            continue
        base = _project(truth["camera"], [o["xy"][0], o["xy"][1], 0.0])
        if base is None or not (5 <= base[0] < w - 5 and 5 <= base[1] < h - 5):
            continue
        want = _true_dir(truth, base)
        dist = np.hypot(*(feet - base).T) if len(feet) else np.array([np.inf])
        m = int(dist.argmin())
        if dist[m] > FOOT_PX:
            out.append((o["kind"], "no caster foot"))
        elif keep[m]:
            right = _diff(th[best[m]], want) <= RAY_DEG
            out.append((o["kind"], "foot and right ray" if right else "foot, ray in another direction"))
        else:
            a = int(round(want / P.ray_step_deg)) % len(th)
            L_true = max(st.L[m, (a + k) % len(th)] for k in (-1, 0, 1)) * P.ray_step_px
            if L_true < P.ray_min_len_frac * w:
                out.append((o["kind"], "foot, true ray too short or not a stripe"))
            else:
                out.append((o["kind"], "foot, true ray outvoted"))
    lines, _, centre = E._pole_rays(frame, P)
    n_true = 0
    if lines is not None:
        cc = np.asarray(centre)
        for p, q in zip(lines.p, lines.q):
            ang = math.degrees(math.atan2(q[1] - p[1], q[0] - p[0])) % 360.0
            n_true += _diff(ang, _true_dir(truth, p + cc)) <= TRUE_DEG
    return out, n_true, int(truth["n_shadows_visible"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed-offset", type=int, default=0)
    ap.add_argument("--scenes", type=int, default=60, help="sunny scenes of the benchmark's single-frame set")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    specs = [sc["spec"] for sc in B.singles(False, args.seed_offset) if sc["group"] == "sunny"][: args.scenes]
    with ProcessPoolExecutor(args.jobs) as ex:
        results = list(ex.map(scene_recall, specs))
    print(f"pole-shadow recall, seed offset {args.seed_offset}, {len(specs)} sunny scenes "
          f"(foot within {FOOT_PX:.0f} px, ray within {RAY_DEG:.0f} deg)")
    for kind in ("pole", "person"):
        c = Counter(outcome for rows, _, _ in results for k, outcome in rows if k == kind)
        n = sum(c.values())
        print(f"  {kind}s in frame: {n}")
        for outcome, k in c.most_common():
            print(f"    {outcome:42s} {k:5d}  {100 * k / max(n, 1):5.1f} %")
    seen = [(t, v) for _, t, v in results if v > 0]
    true_rays = np.array([t for t, _ in seen])
    print(f"  scenes with a visible shadow: {len(seen)}; true distinct rays per frame {true_rays.mean():.2f} "
          f"for {np.mean([v for _, v in seen]):.2f} visible shadows; frames with >= 3 true rays "
          f"{100 * np.mean(true_rays >= 3):.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
