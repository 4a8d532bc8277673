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

_CUE = (255, 200, 0)      # amber: the cues
_ARROW = (255, 40, 40)    # red: the segment's direction
_TEXT = (255, 255, 255)


def evidence_folder(report: Report) -> str:
    """``evidence/<sha256[:16]>-<parameters hash[:8]>``, relative to the report's folder."""
    params = hashlib.sha256(json.dumps(report.parameters, sort_keys=True).encode()).hexdigest()[:8]
    return f"evidence/{report.input.sha256[:16]}-{params}"


def write_evidence(clip: Path, report: Report, out_dir: Path) -> list[Path]:
    """Draw the evidence pictures; set their paths in the report; return the files.

    Per segment with shadows ``segments[].shadow.evidence_png``; per track
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
    # a dark banner under the text: readable on any picture
    scale = 0.42 * max(1.0, w / 640)
    line_h = int(round(20 * scale / 0.42))
    max_chars = int(w / (9.5 * scale / 0.42))
    lines = [caption] + _wrap(label, max_chars)[:3]
    banner = img[: line_h * len(lines) + 8].astype(np.float32)
    img[: line_h * len(lines) + 8] = (banner * 0.35).astype(np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(img, text, (8, line_h * (k + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT, thick, cv2.LINE_AA)
    return img


def _wrap(text: str, width: int) -> list[str]:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return out + ([line] if line else [])
