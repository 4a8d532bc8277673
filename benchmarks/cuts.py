#!/usr/bin/env python3
"""Cut-detection benchmark: accuracy, trap false alarms, effective height, speed.

Usage::

    python benchmarks/cuts.py [--out bench-out/cuts.json] [--quick]

Generates (or reuses) the clips of :mod:`clipgen` next to the JSON output,
runs every clip through vidforensics (the ``cuts`` and ``default`` pipelines),
PySceneDetect (``ContentDetector`` and ``AdaptiveDetector`` with defaults) and a
decode-only pass, all in this one process and run, scores everything with one
matcher, prints the tables and writes every number to the JSON file.
See ``benchmarks/README.md`` for what each number means.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import av
import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clipgen  # noqa: E402
from timing import decode_only  # noqa: E402

from vidforensics import __version__, analyze, load_config  # noqa: E402
from vidforensics.errors import ConfigError  # noqa: E402

POINT_KINDS = ("cut", "jump_cut")
GRADUAL_KINDS = ("dissolve", "fade")
KINDS = POINT_KINDS + GRADUAL_KINDS
TOLERANCES = (0, 1, 2)
TARGETS = {
    "cut_f1": 0.97, "jump_recall": 0.90, "gradual_recall": 0.85, "trap_fp_per10": 1.0,
    "upscaled_height_err_pct": 10.0, "cuts_vs_decode": 1.3,
}
PUBLISHED = [
    ("PySceneDetect detect-adaptive, BBC Planet Earth", "F1 91.6", "frame-exact"),
    ("TransNetV2 (Soucek & Lokoc 2020), BBC Planet Earth", "F1 96.2", "+-2 frames"),
]


# ----------------------------------------------------------------------------- detections
def det(kind: str, first: int, last: int | None = None) -> dict:
    """A detection (or truth) as an inclusive frame interval with a kind."""
    return {"kind": kind, "first": int(first), "last": int(first if last is None else last)}


def truth_events(truth: dict) -> list[dict]:
    """Truth transitions as intervals: a cut is [frame, frame], a gradual one its ``frames``."""
    out = []
    for t in truth.get("transitions", []):
        if "frames" in t:
            out.append(det(t["kind"], *t["frames"]))
        else:
            out.append(det(t["kind"], t["frame"]))
    return out


def report_events(report) -> list[dict]:
    """vidforensics boundaries (every segment start but the first) as intervals."""
    out = []
    for seg in report.segments[1:]:
        b = seg.boundary
        first = b.first_frame if b.first_frame is not None else b.frame
        last = b.last_frame if b.last_frame is not None else b.frame
        out.append(det(b.kind, first, last))
    return out


def run_vidforensics(path: Path, cfg) -> tuple[list[dict], object]:
    rep = analyze(path, cfg)
    if rep.status == "error":
        raise RuntimeError(f"{path.name}: {rep.error.message}")
    return report_events(rep), rep


def run_scenedetect(path: Path, which: str) -> list[dict]:
    """PySceneDetect 0.7 with default parameters and its default (OpenCV) backend.

    A scene start after the first is a cut at that frame; it reports no kinds.
    """
    import scenedetect

    detector = scenedetect.ContentDetector() if which == "content" else scenedetect.AdaptiveDetector()
    scenes = scenedetect.detect(str(path), detector)
    # ``frame_num`` in 0.7 (``get_frames()`` is deprecated there); both 0-based
    return [det("cut", getattr(s[0], "frame_num", None) or s[0].get_frames()) for s in scenes[1:]]




# ----------------------------------------------------------------------------- matching
def gap(a: dict, b: dict) -> int:
    """Frames between two inclusive intervals (0 when they overlap or touch)."""
    return max(0, a["first"] - b["last"], b["first"] - a["last"])


def allowed(t: dict, tol: int) -> int:
    # a cut is placed to within ``tol`` frames; a gradual transition is found
    # when the intervals overlap (its ends are scored separately, in frames)
    return tol if t["kind"] in POINT_KINDS else 0


def match(truths: list[dict], dets: list[dict], tol: int) -> list[tuple[int, int]]:
    """One-to-one matching (Hungarian) of truths to detections within tolerance.

    The cost is the interval gap plus a small centre distance, so among
    admissible pairs the closest win; pairs beyond tolerance are never matched.
    """
    if not truths or not dets:
        return []
    big = 1e6
    cost = np.full((len(truths), len(dets)), big)
    for i, t in enumerate(truths):
        for j, d in enumerate(dets):
            g = gap(t, d)
            if g <= allowed(t, tol):
                ct, cd = (t["first"] + t["last"]) / 2, (d["first"] + d["last"]) / 2
                cost[i, j] = g + 0.01 * abs(ct - cd)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if cost[i, j] < big]


def prf(tp: int, n_det: int, n_truth: int) -> dict:
    p = tp / n_det if n_det else None
    r = tp / n_truth if n_truth else None
    f = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else (0.0 if p == 0 or r == 0 else None)
    return {"tp": tp, "det": n_det, "truth": n_truth, "precision": p, "recall": r, "f1": f}


def score(clips: list[dict], system: str, tol: int) -> dict:
    """Precision/recall/F1 per truth kind, "any kind" and "kind correct".

    any kind: all truths of a clip are matched against all its detections; a
    kind's recall is the share of its truths matched by anything; its precision
    counts the detections matched to it plus the unmatched detections that
    *claim* that kind (false alarms, including those on trap clips).
    kind correct: truths of kind K are matched only against detections of kind K.
    Gradual kinds are matched by overlap whatever ``tol``; their start and end
    errors (frames) are averaged over the "any kind" matches.
    """
    any_tp, any_fp, n_truth, n_det_kind = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    kind_tp = defaultdict(int)
    start_err, end_err = defaultdict(list), defaultdict(list)
    all_tp = all_det = all_truth = 0
    for c in clips:
        truths, dets = c["truth_events"], c["detections"][system]
        for t in truths:
            n_truth[t["kind"]] += 1
        for d in dets:
            n_det_kind[d["kind"]] += 1
        pairs = match(truths, dets, tol)
        matched_d = {j for _, j in pairs}
        for i, j in pairs:
            k = truths[i]["kind"]
            any_tp[k] += 1
            if k in GRADUAL_KINDS:
                start_err[k].append(abs(dets[j]["first"] - truths[i]["first"]))
                end_err[k].append(abs(dets[j]["last"] - truths[i]["last"]))
        for j, d in enumerate(dets):
            if j not in matched_d:
                any_fp[d["kind"]] += 1
        all_tp, all_det, all_truth = all_tp + len(pairs), all_det + len(dets), all_truth + len(truths)
        for k in KINDS:
            tk = [t for t in truths if t["kind"] == k]
            dk = [d for d in dets if d["kind"] == k]
            kind_tp[k] += len(match(tk, dk, tol))
    out = {"tolerance": tol, "all": prf(all_tp, all_det, all_truth), "any_kind": {}, "kind_correct": {}}
    for k in KINDS:
        out["any_kind"][k] = prf(any_tp[k], any_tp[k] + any_fp[k], n_truth[k])
        out["kind_correct"][k] = prf(kind_tp[k], n_det_kind[k], n_truth[k])
        if k in GRADUAL_KINDS:
            out["any_kind"][k]["mean_abs_start_err"] = float(np.mean(start_err[k])) if start_err[k] else None
            out["any_kind"][k]["mean_abs_end_err"] = float(np.mean(end_err[k])) if end_err[k] else None
    return out


def misses_and_false_alarms(clip: dict, system: str, tol: int = 1) -> dict:
    """What one system got wrong on one clip: unmatched truths, unmatched and mis-kinded detections."""
    truths, dets = clip["truth_events"], clip["detections"][system]
    pairs = match(truths, dets, tol)
    mt, md = {i for i, _ in pairs}, {j for _, j in pairs}
    return {"missed": [truths[i] for i in range(len(truths)) if i not in mt],
            "false": [dets[j] for j in range(len(dets)) if j not in md],
            "wrong_kind": [(truths[i], dets[j]) for i, j in pairs if truths[i]["kind"] != dets[j]["kind"]]}


# ----------------------------------------------------------------------------- effective height
def height_errors(clips: list[dict]) -> dict:
    """Effective-height error of every truth segment, from the default pipeline's report.

    Each truth segment is paired with the reported segment that overlaps it
    most (so a missed cut shows up here too, as a mixed segment).
    """
    rows = []
    for c in clips:
        segs = c.get("fingerprint_segments")
        for ts in c["truth"].get("segments", []):
            if ts.get("effective_height") is None:
                continue
            if ts["effective_height"] < c["truth"]["height"]:
                kind = "upscaled"
            elif c["category"] == "upscale":
                kind = "native"        # whole-pixel camera moves: native beyond doubt
            else:
                kind = "native_resampled"  # sub-pixel pans/zooms: bilinear resampling softens the top octave
            row = {"clip": c["name"], "start": ts["start"], "end": ts["end"], "kind": kind,
                   "truth": ts["effective_height"], "found": None, "err_pct": None}
            if segs:
                best = max(segs, key=lambda s: min(s["end"], ts["end"]) - max(s["start"], ts["start"]))
                if best["effective_height"] is not None:
                    row["found"] = best["effective_height"]
                    row["err_pct"] = 100 * abs(best["effective_height"] - ts["effective_height"]) / ts["effective_height"]
            rows.append(row)
    summary = {}
    for kind in ("upscaled", "native", "native_resampled"):
        errs = [r["err_pct"] for r in rows if r["kind"] == kind and r["err_pct"] is not None]
        n = sum(1 for r in rows if r["kind"] == kind)
        summary[kind] = {"segments": n, "measured": len(errs),
                         "mean_err_pct": float(np.mean(errs)) if errs else None,
                         "max_err_pct": float(np.max(errs)) if errs else None,
                         "within_10pct": (sum(e <= 10 for e in errs) / len(errs)) if errs else None}
    return {"summary": summary, "segments": rows}


# ----------------------------------------------------------------------------- runs
def load_configs(wait_s: float) -> tuple[object, object | None]:
    """The ``cuts`` and ``default`` pipelines; ``default`` may be None if it does not load.

    ``[fingerprint]`` may be mid-edit in a working tree; retry for ``wait_s``
    seconds before giving up on the default pipeline (the cut stage alone is
    still benchmarked).
    """
    cuts = load_config("cuts")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return cuts, load_config("default")
        except ConfigError as exc:
            if time.monotonic() >= deadline:
                print(f"warning: default pipeline unavailable ({exc}); fingerprint and full-pipeline "
                      "numbers will be n/a", file=sys.stderr)
                return cuts, None
            time.sleep(20)


def timed(fn: Callable, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def run_all(clips: list[dict], cfg_cuts, cfg_default, reps: int) -> None:
    """Run every system on every clip ``reps`` times, interleaved, keeping the minimum time.

    Interleaving per clip (decode, cuts, default, PySceneDetect, then again)
    means that page cache, CPU frequency and other load affect each system
    alike. Runs are sequential: parallel runs would make the timings meaningless.
    """
    systems: dict[str, Callable] = {
        "decode": lambda p: (decode_only(p), None),
        "vidforensics": lambda p: run_vidforensics(p, cfg_cuts),
        "psd_content": lambda p: (run_scenedetect(p, "content"), None),
        "psd_adaptive": lambda p: (run_scenedetect(p, "adaptive"), None),
    }
    if cfg_default is not None:
        systems["default_pipeline"] = lambda p: run_vidforensics(p, cfg_default)
    for k, c in enumerate(clips):
        c["times"], c["detections"] = {}, {}
        for rep in range(reps):
            for name, fn in systems.items():
                dt, out = timed(fn, c["path"])
                c["times"][name] = min(dt, c["times"].get(name, float("inf")))
                if rep == 0 and name != "decode":
                    c["detections"][name] = out[0]
                    if name == "default_pipeline":
                        c["fingerprint_segments"] = [
                            {"start": s.start_frame, "end": s.end_frame,
                             "effective_height": s.fingerprint.effective_height if s.fingerprint else None}
                            for s in out[1].segments]
        # the default pipeline runs the same cut stage: its boundaries should agree
        if "default_pipeline" in c["detections"] and c["detections"]["default_pipeline"] != c["detections"]["vidforensics"]:
            c["default_disagrees"] = True
        print(f"  [{k + 1}/{len(clips)}] {c['name']}: " +
              ", ".join(f"{n} {t:.2f}s" for n, t in c["times"].items()), flush=True)


def speed_summary(clips: list[dict]) -> dict:
    out = {}
    for subset, sel in (("all", clips), ("720p", [c for c in clips if c["truth"]["height"] >= 720])):
        tot = defaultdict(float)
        frames = sum(c["truth"]["frames"] for c in sel)
        for c in sel:
            for n, t in c["times"].items():
                tot[n] += t
        r = {"clips": len(sel), "frames": frames, "seconds": dict(tot),
             "fps": {n: frames / t for n, t in tot.items() if t > 0}}
        dec = tot.get("decode")
        if dec:
            r["cuts_vs_decode"] = tot["vidforensics"] / dec
            r["psd_content_vs_decode"] = tot["psd_content"] / dec
            r["psd_adaptive_vs_decode"] = tot["psd_adaptive"] / dec
            if "default_pipeline" in tot:
                r["default_vs_decode"] = tot["default_pipeline"] / dec
        r["cuts_vs_psd_content"] = tot["vidforensics"] / tot["psd_content"]
        out[subset] = r
    return out


# ----------------------------------------------------------------------------- peer oracles
def peer_oracles(cfg_cuts) -> list[dict]:
    """Run the peer-oracle clips with their published truth; pass = every truth
    found with the right kind (cuts +-1 frame, gradual by overlap) and nothing else."""
    truth_path = clipgen.PEER_DIR / "truth.json"
    if not truth_path.exists():
        truth_path = clipgen.SHARED_PEER_DIR / "truth.json"
    if not truth_path.exists():
        return []
    rows = []
    for rel, t in json.loads(truth_path.read_text()).items():
        path = clipgen.peer_oracle_path(rel)
        if path is None:
            rows.append({"clip": rel, "error": "clip not found"})
            continue
        found, _ = run_vidforensics(path, cfg_cuts)
        psd = run_scenedetect(path, "content")
        row = {"clip": rel, "found": found, "psd_content": psd}
        if "transitions" not in t:
            row["scored"] = False
            row["note"] = t.get("note", "")
        else:
            truths = truth_events(t)
            clip = {"truth_events": truths, "detections": {"v": found, "p": psd}}
            mk = misses_and_false_alarms(clip, "v", tol=1)
            mp = misses_and_false_alarms(clip, "p", tol=1)
            row.update(scored=True, truth=truths, missed=mk["missed"], false=mk["false"],
                       wrong_kind=mk["wrong_kind"],
                       passed=not (mk["missed"] or mk["false"] or mk["wrong_kind"]),
                       psd_passed=not (mp["missed"] or mp["false"]))
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- printing
def fmt(v, nd=3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    cells = [[fmt(x) for x in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths)))


def ev(e: dict) -> str:
    k = {"cut": "C", "jump_cut": "J", "dissolve": "D", "fade": "F"}.get(e["kind"], e["kind"])
    return f"{k}{e['first']}" if e["first"] == e["last"] else f"{k}{e['first']}-{e['last']}"


def print_accuracy(scores: dict, systems: list[str]) -> None:
    for system in systems:
        rows = []
        for mode in ("any_kind", "kind_correct"):
            if system.startswith("psd") and mode == "kind_correct":
                continue  # PySceneDetect reports no kinds
            for k in KINDS:
                tols = TOLERANCES if k in POINT_KINDS else (0,)
                for tol in tols:
                    s = scores[system][tol][mode][k]
                    if not s["truth"]:
                        continue
                    rows.append([mode, k, f"+-{tol}" if k in POINT_KINDS else "overlap", s["truth"], s["det"],
                                 s["tp"], s["precision"], s["recall"], s["f1"],
                                 s.get("mean_abs_start_err"), s.get("mean_abs_end_err")])
        for tol in TOLERANCES:
            a = scores[system][tol]["all"]
            rows.append(["any_kind", "ALL", f"+-{tol}", a["truth"], a["det"], a["tp"], a["precision"], a["recall"],
                         a["f1"], None, None])
        print_table(["mode", "kind", "tol", "truth", "det", "tp", "P", "R", "F1", "|start err|", "|end err|"], rows,
                    title=f"Accuracy: {system} (synthetic set, trap clips included in precision)")


def print_per_kind_recall(scores: dict, systems: list[str]) -> None:
    rows = []
    for k in KINDS:
        row = [k]
        for system in systems:
            for tol in (0, 2):
                row.append(scores[system][tol]["any_kind"][k]["recall"])
        rows.append(row)
    a = ["ALL F1"] + [scores[s][t]["all"]["f1"] for s in systems for t in (0, 2)]
    rows.append(a)
    hdr = ["truth kind"] + [f"{s} R@{t}" for s in systems for t in (0, 2)]
    print_table(hdr, rows, title="Boundary found regardless of kind: recall per truth kind (gradual: overlap)")


def print_failures(clips: list[dict], system: str) -> list[dict]:
    rows, out = [], []
    for c in clips:
        e = misses_and_false_alarms(c, system, tol=1)
        if e["missed"] or e["false"] or e["wrong_kind"]:
            rows.append([c["name"], " ".join(ev(t) for t in c["truth_events"]) or "-",
                         " ".join(ev(d) for d in c["detections"][system]) or "-",
                         " ".join(ev(t) for t in e["missed"]) or "-", " ".join(ev(d) for d in e["false"]) or "-",
                         " ".join(f"{ev(t)}->{d['kind']}" for t, d in e["wrong_kind"]) or "-"])
            out.append({"clip": c["name"], **e})
    print_table(["clip", "truth", "found", "missed", "false", "wrong kind"], rows,
                title=f"Clips with an error ({system}, cuts +-1, gradual overlap; C=cut J=jump D=dissolve F=fade)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench-out/cuts.json", help="JSON of all numbers (default %(default)s)")
    ap.add_argument("--clips", default=None, help="clip cache folder (default: <out dir>/clips)")
    ap.add_argument("--quick", action="store_true", help="about 10 clips, one timing run")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="shift every seed: 0 is the set the detector was tuned on; others are held out")
    ap.add_argument("--reps", type=int, default=None, help="timing runs per clip and system (default 2, quick 1)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes for clip generation")
    ap.add_argument("--wait-config", type=float, default=0.0,
                    help="seconds to keep retrying if the default pipeline does not load")
    args = ap.parse_args(argv)
    out = Path(args.out)
    clip_dir = Path(args.clips) if args.clips else out.parent / "clips"
    reps = args.reps or (1 if args.quick else 2)

    cfg_cuts, cfg_default = load_configs(args.wait_config)
    specs = clipgen.catalogue(quick=args.quick, seed_offset=args.seed_offset)
    t0 = time.perf_counter()
    truths = clipgen.build_all(specs, clip_dir, processes=args.jobs)
    gen_s = time.perf_counter() - t0
    print(f"{len(specs)} clips in {clip_dir} ({gen_s:.1f} s to generate or check)")

    clips = [{"name": t["name"], "category": t["category"], "path": clip_dir / f"{t['name']}.mp4", "truth": t,
              "truth_events": truth_events(t)} for t in truths]
    footage = [("bigbuckbunny.mp4", "trap_bigbuckbunny_720p")]
    for fname, name in footage:
        p = clipgen.footage_path(fname)
        clips.append({"name": name, "category": "trap", "path": p, "truth_events": [],
                      "truth": {"name": name, "frames": decode_only(p), "height": 720, "transitions": [],
                                "segments": []}})

    print(f"running {reps}x: decode-only, vidforensics cuts, default pipeline, PySceneDetect content/adaptive")
    run_all(clips, cfg_cuts, cfg_default, reps)

    systems = ["vidforensics", "psd_content", "psd_adaptive"]
    scored = [c for c in clips]
    scores = {s: {tol: score(scored, s, tol) for tol in TOLERANCES} for s in systems}
    traps = [c for c in clips if c["category"] == "trap"]
    trap_fp = {s: sum(len(c["detections"][s]) for c in traps) for s in systems}
    heights = height_errors(clips) if cfg_default is not None else None
    speed = speed_summary(clips)
    peers = peer_oracles(cfg_cuts)

    # ------------------------------------------------------------------ print
    print(f"\nvidforensics {__version__}; {len(clips)} clips, {sum(c['truth']['frames'] for c in clips)} frames; "
          f"{sum(len(c['truth_events']) for c in clips)} true boundaries; {len(traps)} trap clips")
    print_accuracy(scores, systems)
    print_per_kind_recall(scores, systems)
    print_table(["system", "trap clips", "false boundaries", "per 10 trap clips", "target"],
                [[s, len(traps), trap_fp[s], 10 * trap_fp[s] / max(len(traps), 1), f"<= {TARGETS['trap_fp_per10']:g}"]
                 for s in systems], title="Trap clips (no boundary inside)")
    trap_rows = [[c["name"], " ".join(ev(d) for d in c["detections"]["vidforensics"]) or "-",
                  " ".join(ev(d) for d in c["detections"]["psd_content"]) or "-",
                  " ".join(ev(d) for d in c["detections"]["psd_adaptive"]) or "-"] for c in traps]
    print_table(["trap clip", "vidforensics", "psd_content", "psd_adaptive"], trap_rows)
    failures = print_failures([c for c in clips if c["category"] != "trap"], "vidforensics")

    if heights is None:
        print("\nEffective height: n/a (default pipeline unavailable)")
    else:
        hs = heights["summary"]
        print_table(["segments", "count", "measured", "mean err %", "max err %", "within 10%", "target"],
                    [[k, v["segments"], v["measured"], v["mean_err_pct"], v["max_err_pct"], v["within_10pct"],
                      "<= 10 %" if k == "upscaled" else "-"] for k, v in hs.items()],
                    title="Effective height (default pipeline, segments[].fingerprint.effective_height)")
        up = [r for r in heights["segments"] if r["kind"] != "native_resampled"]
        print_table(["clip", "frames", "kind", "truth", "found", "err %"],
                    [[r["clip"], f"{r['start']}-{r['end']}", r["kind"], r["truth"], r["found"], r["err_pct"]]
                     for r in up], title="Segments of the upscale clips")

    srows = []
    for subset, r in speed.items():
        for n, t in r["seconds"].items():
            srows.append([subset, n, r["frames"], t, r["fps"].get(n), t / r["seconds"]["decode"]])
    print_table(["subset", "system", "frames", "seconds", "fps", "x decode"], srows,
                title=f"Speed (sum over clips of the min of {reps} interleaved runs; {os.cpu_count()} CPUs)")

    print("\nPeer oracles (vidforensics cuts pipeline; PySceneDetect detect-content for comparison)")
    prow = []
    for r in peers:
        if "error" in r:
            prow.append([r["clip"], "-", r["error"], "-", "-", "-"])
            continue
        truth = " ".join(ev(t) for t in r.get("truth", [])) if r["scored"] else "(not scored)"
        verdict = ("PASS" if r["passed"] else "FAIL") if r["scored"] else "-"
        pverdict = ("PASS" if r["psd_passed"] else "FAIL") if r["scored"] else "-"
        prow.append([r["clip"], truth or "(none)", " ".join(ev(d) for d in r["found"]) or "(none)", verdict,
                     " ".join(ev(d) for d in r["psd_content"]) or "(none)", pverdict])
    print_table(["clip", "truth", "vidforensics", "", "psd_content", ""], prow)

    s1 = scores["vidforensics"][1]
    grad_any = [s1["any_kind"][k] for k in GRADUAL_KINDS]
    grad_kind = [s1["kind_correct"][k] for k in GRADUAL_KINDS]

    def pooled_recall(rows):
        n = sum(r["truth"] for r in rows)
        return sum(r["tp"] for r in rows) / n if n else None

    up = heights["summary"]["upscaled"]["mean_err_pct"] if heights else None
    a = speed["all"]
    targets = [
        ("hard-cut F1", "+-1, kind correct", s1["kind_correct"]["cut"]["f1"], ">=", TARGETS["cut_f1"]),
        ("hard-cut F1", "+-1, any kind", s1["any_kind"]["cut"]["f1"], ">=", TARGETS["cut_f1"]),
        ("jump-cut recall", "+-1, kind correct", s1["kind_correct"]["jump_cut"]["recall"], ">=", TARGETS["jump_recall"]),
        ("jump-cut recall", "+-1, any kind", s1["any_kind"]["jump_cut"]["recall"], ">=", TARGETS["jump_recall"]),
        ("dissolve+fade recall", "overlap, kind correct", pooled_recall(grad_kind), ">=", TARGETS["gradual_recall"]),
        ("dissolve+fade recall", "overlap, any kind", pooled_recall(grad_any), ">=", TARGETS["gradual_recall"]),
        ("false boundaries / 10 traps", "", 10 * trap_fp["vidforensics"] / max(len(traps), 1), "<=",
         TARGETS["trap_fp_per10"]),
        ("eff. height err, upscaled (mean %)", "", up, "<=", TARGETS["upscaled_height_err_pct"]),
        ("cut stage / decode-only", "all clips", a.get("cuts_vs_decode"), "<=", TARGETS["cuts_vs_decode"]),
        ("cut stage / decode-only", "720p", speed["720p"].get("cuts_vs_decode"), "<=", TARGETS["cuts_vs_decode"]),
        ("cut stage / PySceneDetect content", "all clips", a.get("cuts_vs_psd_content"), "<", 1.0),
        ("cut stage / PySceneDetect content", "720p", speed["720p"].get("cuts_vs_psd_content"), "<", 1.0),
        ("default pipeline / decode-only", "all clips (no target)", a.get("default_vs_decode"), "", None),
    ]
    trows = []
    for name, basis, v, op, tgt in targets:
        ok = "-" if v is None or tgt is None else (
            "yes" if (v >= tgt if op == ">=" else v <= tgt if op == "<=" else v < tgt) else "NO")
        trows.append([name, basis, v, f"{op} {tgt:g}" if tgt is not None else "", ok])
    print_table(["metric", "basis", "value", "target", "met"], trows, title="Targets")
    print("\nPublished reference points (other data sets, context only):")
    for name, val, tol in PUBLISHED:
        print(f"  {name}: {val} ({tol})")

    # ------------------------------------------------------------------ JSON
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "vidforensics_version": __version__,
        "environment": {"python": platform.python_version(), "cpus": os.cpu_count(), "pyav": av.__version__,
                        "scenedetect": __import__("scenedetect").__version__, "platform": platform.platform()},
        "quick": args.quick, "reps": reps, "generation_s": gen_s,
        "clips": [{k: (str(v) if k == "path" else v) for k, v in c.items()} for c in clips],
        "scores": {s: {str(t): v for t, v in d.items()} for s, d in scores.items()},
        "trap_false_boundaries": trap_fp, "trap_clips": len(traps),
        "failures_vidforensics": failures, "effective_height": heights, "speed": speed, "peer_oracles": peers,
        "targets": [dict(zip(["metric", "basis", "value", "op", "target"], t)) for t in targets],
        "published_reference": PUBLISHED,
    }
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
