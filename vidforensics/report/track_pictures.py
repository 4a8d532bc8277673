"""Evidence pictures for tracked objects: the trajectory on the frame, and position against time.

Drawn after the pass from the report's ``tracks[]`` plus one seek into the clip
per track, like the shadow pictures (:mod:`vidforensics.report.evidence`).
"""
from __future__ import annotations

import io

import cv2
import numpy as np

from vidforensics.report.schema import Track

_TRAIL = (255, 200, 0)    # amber: where the object was, frame by frame
_END = (255, 40, 40)      # red: where the track ended
_TEXT = (255, 255, 255)


def draw_track_overlay(rgb: np.ndarray, track: Track, caption: str) -> np.ndarray:
    """The track's last frame with every position of the track drawn as it appeared in its own frame.

    Positions are picture coordinates of their frames: with a moving camera the
    trail shows how the object crossed the picture, not its path in the scene
    (the plot does that).
    """
    img = np.ascontiguousarray(rgb.copy())
    h, w = img.shape[:2]
    thick = max(1, int(round(w / 640)))
    pts = np.array([[x, y] for _, x, y in track.points])
    for a, b in zip(pts[:-1], pts[1:]):
        cv2.line(img, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), _TRAIL, thick, cv2.LINE_AA)
    x0, y0 = np.round(pts[0]).astype(int)
    cv2.circle(img, (int(x0), int(y0)), 3 * thick + 2, _TRAIL, thick, cv2.LINE_AA)
    x1, y1 = np.round(pts[-1]).astype(int)
    r = max(6, int(2 * track.size_px)) + 2 * thick
    cv2.rectangle(img, (int(x1) - r, int(y1) - r), (int(x1) + r, int(y1) + r), _END, thick, cv2.LINE_AA)
    d = track.descent
    speed = "" if d.vy_px_s is None else f", vy {d.vy_px_s:.1f} +/- {d.vy_sigma_px_s or 0:.1f} px/s"
    lines = [caption, f"{track.object_kind}: {d.kind}{speed}; ends: {track.end.kind} at frame {track.end.frame}"]
    scale = 0.42 * max(1.0, w / 640)
    line_h = int(round(20 * scale / 0.42))
    banner = img[: line_h * len(lines) + 8].astype(np.float32)
    img[: line_h * len(lines) + 8] = (banner * 0.35).astype(np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(img, text, (8, line_h * (k + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT, thick, cv2.LINE_AA)
    return img


def plot_track(track: Track) -> bytes | None:
    """PNG bytes: scene position (camera motion removed) against time, with the constant-velocity
    and constant-acceleration least-squares fits; picture position against frame when the track
    has no scene positions (camera motion unknown); None when it has too few points."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib.figure import Figure

    from vidforensics.tracking.kinematics import fit_axis

    sp = np.array(track.scene_points, float)
    in_picture = len(sp) < 4
    if in_picture:
        # no scene positions (camera motion unknown: sky only): the picture positions against
        # the frame index, said to be that, so the evidence is still there to look at
        sp = np.array(track.points, float)
        if len(sp) < 4:
            return None
        t, x, y, sig = sp[:, 0], sp[:, 1], sp[:, 2], np.full(len(sp), 0.5)
    else:
        t, x, y, sig = sp[:, 1], sp[:, 2], sp[:, 3], np.maximum(sp[:, 4], 1e-3)
    tc = t - t.mean()
    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    axes = fig.subplots(2, 1, sharex=True)
    grid = np.linspace(tc.min(), tc.max(), 200)
    for ax, pos, label in ((axes[0], y, "y (px, down)"), (axes[1], x, "x (px, right)")):
        ax.errorbar(t, pos, yerr=sig, fmt=".", ms=3, color="0.2", ecolor="0.6", lw=0.6, label="measured")
        for model, style in (("cv", "-"), ("ca", "--")):
            f = fit_axis(tc, pos, sig, model)
            A = np.stack([np.ones_like(grid), grid] + ([0.5 * grid * grid] if model == "ca" else []), 1)
            name = "constant velocity" if model == "cv" else "constant acceleration"
            ax.plot(grid + t.mean(), A @ f.coef, style, lw=1.2, label=f"{name} (rms {f.rms_px:.2f} px)")
        ax.set_ylabel(label)
        ax.grid(True, lw=0.3)
    axes[0].invert_yaxis()  # down the picture is down the plot
    axes[0].legend(fontsize=7, loc="best")
    axes[1].set_xlabel("frame" if in_picture else "time (s, container timestamps)")
    d = track.descent
    fig.suptitle(f"track {track.id}, segment {track.segment}: {d.kind}"
                 + ("" if d.vy_px_s is None else f", vy {d.vy_px_s:.1f} px/s, ay {d.ay_px_s2 or 0:.1f} px/s^2")
                 + ("\npicture positions, camera motion included (it could not be measured)" if in_picture
                    else "\nscene positions in the pixels of the track's first frame"), fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: same bytes every run
    return buf.getvalue()

