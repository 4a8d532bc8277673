"""Evidence pictures a person can read: one PNG per segment with its shadow cues, and per
tracked object its trajectory on the frame and its position against time.

Drawn after the pass from the report alone plus one seek into the clip per
segment (the pass keeps no pictures). Names are derived from the input's hash
and the parameters, so the same input and settings give the same files, and
two inputs never share a folder.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import cv2
import numpy as np

from vidforensics.errors import OutputError
from vidforensics.io.decode import read_frame
from vidforensics.report.schema import Report
from vidforensics.report.track_pictures import draw_track_overlay, plot_track
from vidforensics.shadows.compare import CompareParams, ShadowChange, shadow_change
from vidforensics.shadows.register import warp_onto

_CUE = (255, 200, 0)      # amber: the cues
_ARROW = (255, 40, 40)    # red: the segment's direction
_TEXT = (255, 255, 255)
_APPEARED = (255, 40, 40)   # red: shadow in the later segment only
_VANISHED = (40, 120, 255)  # blue: shadow in the earlier segment only


def evidence_folder(report: Report) -> str:
    """``evidence/<sha256[:16]>-<parameters hash[:8]>``, relative to the report's folder."""
    params = hashlib.sha256(json.dumps(report.parameters, sort_keys=True).encode()).hexdigest()[:8]
    return f"evidence/{report.input.sha256[:16]}-{params}"


def write_evidence(clip: Path, report: Report, out_dir: Path) -> list[Path]:
    """Draw the evidence pictures; set their paths in the report; return the files.

    Per segment with shadows ``segments[].shadow.evidence_png``; per same-time check with a shadow
    comparison ``checks[].evidence_png``; per track
    ``tracks[].evidence_png`` (trajectory on its last frame) and ``tracks[].plot_png``.
    """
    if report.input is None or report.status == "error":
        return []
    folder = evidence_folder(report)
    written = []
    for seg in report.segments:
        sh = seg.shadow
        if sh is None or sh.evidence_frame is None:
            continue
        t = _frame_time(report, sh.evidence_frame, seg)
        rgb = read_frame(clip, sh.evidence_frame, t)
        img = draw_shadow_evidence(rgb, sh, f"segment {seg.index}, frame {sh.evidence_frame}")
        sh.evidence_png = f"{folder}/segment-{seg.index:03d}-shadow.png"
        written.append(_write(out_dir / sh.evidence_png, _png(img)))
    for k, check in enumerate(report.checks):
        m = check.measurements
        if "shadow_change" not in m:
            continue
        # redrawn from the report: the registration and parameters it records give the same masks
        cp = CompareParams(**report.parameters["shadow_compare"])
        i, j = check.segments
        fi, fj = m["registration"]["frames"]
        pi = read_frame(clip, fi, _frame_time(report, fi, report.segments[i]))
        pj = read_frame(clip, fj, _frame_time(report, fj, report.segments[j]))
        H = np.array(m["registration"]["homography"], np.float64)
        change = shadow_change(pi, pj, H, i, j, cp)
        other = pj if change.compared_in == i else pi
        warped, cover = warp_onto(change.picture, other, change.warp)
        warped[~cover] = 40.0   # outside what both pictures show (and the edges left out of the comparison)
        img = draw_shadow_change(change, np.clip(warped, 0, 255).astype(np.uint8), check)
        check.evidence_png = f"{folder}/check-{k:03d}-same-time-{i}-{j}.png"
        written.append(_write(out_dir / check.evidence_png, _png(img)))
    for tr in report.tracks:
        rgb = read_frame(clip, tr.end.frame, tr.end.time_s)
        img = draw_track_overlay(rgb, tr, f"track {tr.id}, segment {tr.segment}, frames {tr.start.frame}-{tr.end.frame}")
        tr.evidence_png = f"{folder}/track-{tr.id:03d}.png"
        written.append(_write(out_dir / tr.evidence_png, _png(img)))
        plot = plot_track(tr)
        if plot is not None:
            tr.plot_png = f"{folder}/track-{tr.id:03d}-plot.png"
            written.append(_write(out_dir / tr.plot_png, plot))
    return written


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", rgb[:, :, ::-1])
    return buf.tobytes()


def _write(target: Path, data: bytes) -> Path:
    """Write atomically (a reader never sees half a picture)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".png.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    except OSError as exc:
        raise OutputError(f"cannot write evidence picture {target}: {exc.strerror or exc}") from None
    return target


def _frame_time(report: Report, index: int, seg) -> float:
    fps = report.input.fps or 0.0
    # exact for constant rate; for VFR the seek lands on the nearest frame and read_frame checks times
    return seg.start_s + (index - seg.start_frame) / fps if fps else math.nan


def draw_shadow_evidence(rgb: np.ndarray, shadow, caption: str) -> np.ndarray:
    """The frame with each cue (caster base -> shadow tip) and the segment's direction arrow."""
    img = np.ascontiguousarray(rgb.copy())
    h, w = img.shape[:2]
    thick = max(1, int(round(w / 640)))
    for cue in shadow.evidence_cues:
        b = tuple(int(round(v)) for v in cue.base)
        t = tuple(int(round(v)) for v in cue.tip)
        cv2.line(img, b, t, _CUE, thick, cv2.LINE_AA)
        cv2.circle(img, b, 2 * thick + 1, _CUE, thick, cv2.LINE_AA)
    if shadow.direction_deg is not None:
        c = (w / 2, h / 2)
        L = 0.18 * min(w, h)
        a = math.radians(shadow.direction_deg)
        tip = (int(round(c[0] + L * math.cos(a))), int(round(c[1] + L * math.sin(a))))
        cv2.arrowedLine(img, (int(c[0]), int(c[1])), tip, _ARROW, 2 * thick + 1, cv2.LINE_AA, tipLength=0.25)
        label = (f"shadow {shadow.direction_deg:.1f} deg +/- {shadow.uncertainty_deg or 0:.1f}, "
                 f"confidence {shadow.confidence:.2f}, {shadow.cues} cues")
    else:
        label = f"no shadow direction: {shadow.reason}"
    return _banner(img, caption, label)


def _banner(img: np.ndarray, caption: str, label: str, max_lines: int = 3) -> np.ndarray:
    """Caption and wrapped label on a dark banner at the top: readable on any picture."""
    w = img.shape[1]
    thick = max(1, int(round(w / 640)))
    scale = 0.42 * max(1.0, w / 640)
    line_h = int(round(20 * scale / 0.42))
    max_chars = int(w / (9.5 * scale / 0.42))
    lines = [caption] + _wrap(label, max_chars)[:max_lines]
    banner = img[: line_h * len(lines) + 8].astype(np.float32)
    img[: line_h * len(lines) + 8] = (banner * 0.35).astype(np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(img, text, (8, line_h * (k + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT, thick, cv2.LINE_AA)
    return img


def draw_shadow_change(change: ShadowChange, other_warped: np.ndarray, check) -> np.ndarray:
    """Three panels in the compared picture's pixels: that picture, the other segment's picture
    registered onto it, and the changes (red: in shadow only in the later segment; blue: only in the
    earlier one)."""
    ref = np.ascontiguousarray(change.picture)
    overlay = ref.copy()
    overlay[change.appeared] = _APPEARED
    overlay[change.vanished] = _VANISHED
    overlay = cv2.addWeighted(ref, 0.35, overlay, 0.65, 0)
    i, j = check.segments
    frames = check.measurements["registration"]["frames"]
    other = j if change.compared_in == i else i
    f_ref, f_other = (frames[0], frames[1]) if change.compared_in == i else (frames[1], frames[0])
    a = _banner(ref.copy(), f"segment {change.compared_in}, frame {f_ref}", "as filmed", 1)
    b = _banner(np.ascontiguousarray(other_warped), f"segment {other}, frame {f_other}",
                f"registered onto segment {change.compared_in} (agreement "
                f"{check.measurements['registration']['agreement']})", 1)
    c = _banner(overlay, f"same_time_of_day {check.verdict}: red appeared, blue vanished",
                f"changed at {change.changed_places} places, {100 * change.changed_share:.1f} % of "
                f"{change.shadow_places} shadow areas", 2)
    return np.hstack([a, b, c])


def _wrap(text: str, width: int) -> list[str]:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return out + ([line] if line else [])
