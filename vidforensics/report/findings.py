"""Plain-language findings drawn from a report's measurements.

Each finding says one thing an investigator can quote and points at its
evidence (segments, frames, numbers). Findings only restate measurements; they
add no new analysis.
"""
from __future__ import annotations

from collections import Counter

from vidforensics.report.schema import Evidence, Finding, Report, Segment

_KIND_WORDS = {"cut": "hard cut", "jump_cut": "jump cut", "dissolve": "dissolve", "fade": "fade"}


def derive_findings(report: Report) -> list[Finding]:
    out: list[Finding] = []
    segs = report.segments
    if not segs:
        return out
    out.append(_structure(report))
    for s in segs[1:]:
        if s.boundary.kind == "jump_cut":
            out.append(_jump_cut(s))
    out.extend(_resolution_mismatch(segs, report.input.height if report.input else None))
    if report.input and report.input.variable_frame_rate:
        iv = report.input.frame_interval_s or {}
        out.append(Finding(
            severity="info", kind="variable_frame_rate",
            summary=(f"Variable frame rate: frame intervals range {iv.get('min', 0) * 1000:.1f}"
                     f"-{iv.get('max', 0) * 1000:.1f} ms; times in this report come from the container "
                     "timestamps, not from frame numbers."),
            evidence=Evidence(values={"frame_interval_s": iv})))
    gaps = [s for s in segs[1:] if "timestamp_gap" in s.boundary.signals]
    for s in gaps:
        out.append(Finding(
            severity="notice", kind="timestamp_gap",
            summary=(f"The container timestamps jump by {s.boundary.measurements.get('timestamp_gap_s', 0):.3f} s "
                     f"at frame {s.start_frame} ({s.start_s:.2f} s), where the picture also changes: "
                     "frames were probably removed there."),
            evidence=Evidence(segments=[s.index], frames=[s.start_frame],
                              values={"timestamp_gap_s": s.boundary.measurements.get("timestamp_gap_s")})))
    for c in report.checks:
        if c.verdict == "inconclusive":
            continue
        out.append(Finding(
            severity="warning" if c.verdict == "inconsistent" else "info",
            kind=f"{c.name}_{c.verdict}", summary=c.summary,
            evidence=Evidence(segments=c.segments, values=c.measurements)))
    out.extend(_descents(report))
    if report.status == "partial":
        out.append(Finding(severity="warning", kind="incomplete_input",
                           summary="The file could not be read to the end; the report covers only "
                                   f"the first {report.input.frame_count if report.input else '?'} frames.",
                           evidence=Evidence(values={"missing": report.missing})))
    return out


def _structure(report: Report) -> Finding:
    segs = report.segments
    kinds = Counter(s.boundary.kind for s in segs[1:])
    groups = sorted({s.fingerprint.source_group for s in segs if s.fingerprint is not None})
    parts = [f"{n} {_KIND_WORDS[k]}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items())]
    boundaries = ", ".join(parts) if parts else "no boundary found"
    src = f" from {len(groups)} probable source{'s' if len(groups) != 1 else ''}" if groups else ""
    summary = (f"{len(segs)} segment{'s' if len(segs) != 1 else ''}{src} ({boundaries}).")
    if len(segs) == 1:
        summary = "One continuous segment: no cut, splice or transition was found."
        if groups:
            summary = summary[:-1] + ", one technical source."
    return Finding(
        severity="info", kind="segment_structure", summary=summary,
        evidence=Evidence(segments=[s.index for s in segs], frames=[s.start_frame for s in segs[1:]],
                          values={"boundaries": dict(sorted(kinds.items())), "source_groups": len(groups)}))


def _jump_cut(s: Segment) -> Finding:
    m = s.boundary.measurements
    zoom = m.get("zoom_jump")
    shift = m.get("shift_jump_frac")
    if "zoom_jump" in s.boundary.signals and zoom:
        what = f"the view of the same place is suddenly {'closer' if zoom > 1 else 'wider'} ({zoom:.2f}x zoom in one frame)"
    elif shift is not None:
        what = f"the view jumps {shift * 100:.0f}% of the frame width off the camera's steady motion"
    else:
        what = "the camera motion breaks off without a change of scene"
    return Finding(
        severity="warning", kind="jump_cut",
        summary=(f"Jump cut at {s.start_s:.2f} s (frame {s.start_frame}): {what}. Frames were removed here, "
                 "or two takes of the same place were joined."),
        evidence=Evidence(segments=[s.index - 1, s.index], frames=[s.start_frame - 1, s.start_frame],
                          values={k: v for k, v in m.items()}))


def _resolution_mismatch(segs: list[Segment], height: int | None) -> list[Finding]:
    out = []
    if not height:
        return out
    for s in segs:
        fp = s.fingerprint
        if fp is None or fp.effective_resolution != "upscaled" or fp.effective_height is None:
            continue
        if fp.effective_height < 0.8 * height:
            out.append(Finding(
                severity="notice", kind="upscaled_segment",
                summary=(f"Segment {s.index} ({s.start_s:.2f}-{s.end_s:.2f} s) carries detail of about "
                         f"{fp.effective_height} lines in a {height}-line picture: it was probably "
                         "upscaled from a lower-resolution source (or is strongly blurred)."),
                evidence=Evidence(segments=[s.index], frames=[s.start_frame],
                                  values={"effective_height": fp.effective_height, "height": height})))
    return out


_DESCENT_WORDS = {"retarded": "descending slowly at a steady speed, as under a parachute (retarded)",
                  "free_fall": "falling with growing speed from a recent release (free fall)"}


def _descents(report: Report) -> list[Finding]:
    """One finding per object whose descent was decided, one for objects whose scene motion is
    unknown, and their count and spread when several were decided."""
    out = []
    decided = [t for t in report.tracks if t.descent.kind in _DESCENT_WORDS]
    for t in decided:
        d = t.descent
        metric = ""
        if d.metric is not None and d.metric.vy_m_s is not None:
            metric = f" ({d.metric.vy_m_s:.1f} +/- {d.metric.vy_sigma_m_s or 0:.1f} m/s at the given scale)"
        out.append(Finding(
            severity="notice", kind=f"descent_{d.kind}",
            summary=(f"Object {t.id} in segment {t.segment} ({t.start.time_s:.2f}-{t.end.time_s:.2f} s) is "
                     f"{_DESCENT_WORDS[d.kind]}: {d.vy_px_s:.1f} +/- {d.vy_sigma_px_s or 0:.1f} px/s down, "
                     f"acceleration {d.ay_px_s2 or 0:.1f} +/- {d.ay_sigma_px_s2 or 0:.1f} px/s^2 in the scene{metric}; "
                     f"the track ends: {t.end.kind} at frame {t.end.frame}."),
            evidence=Evidence(segments=[t.segment], frames=[t.start.frame, t.end.frame],
                              values={"track": t.id, "vy_px_s": d.vy_px_s, "ay_px_s2": d.ay_px_s2,
                                      "criterion": d.criterion.model_dump()})))
    # moving objects whose scene motion cannot be measured (sky only: the camera's own motion is
    # unknown) are said once, so that "no descent found" is not read as "nothing fell"
    blind = [t for t in report.tracks if t.descent.kind == "inconclusive" and t.descent.vy_px_s is None
             and t.object_kind in ("falling", "unresolved") and t.descent.reason.startswith("camera motion unreliable")]
    if blind:
        out.append(Finding(
            severity="notice", kind="objects_motion_unresolved",
            summary=(f"{len(blind)} moving object(s) seen where the picture shows only sky (tracks "
                     f"{', '.join(str(t.id) for t in blind)}): the camera's motion cannot be measured there, "
                     f"so whether and how they descend is not decided."),
            evidence=Evidence(segments=sorted({t.segment for t in blind}),
                              frames=sorted({t.start.frame for t in blind}),
                              values={"tracks": [t.id for t in blind]})))
    spread = report.camera_motion.descending_spread if report.camera_motion else {}
    if len(decided) >= 2:
        out.append(Finding(
            severity="notice", kind="several_descending_objects",
            summary=(f"{len(decided)} objects were seen descending; their tracks end between "
                     f"{min(t.end.time_s for t in decided):.2f} and {max(t.end.time_s for t in decided):.2f} s."),
            evidence=Evidence(segments=sorted({t.segment for t in decided}),
                              frames=sorted(t.end.frame for t in decided), values=spread)))
    return out
