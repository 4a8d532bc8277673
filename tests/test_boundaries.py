"""Boundary detection on generated clips with exact truth (the benchmark's generators, small).

These check behaviour on one clip of each kind; ``benchmarks/cuts.py`` measures how well
over many.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from vidforensics import analyze, load_config
from vidforensics.io.encode import write_video

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import clipgen  # noqa: E402

SIZE = (320, 180)


def _run(tmp_path, timeline, name, crf=22):
    path = tmp_path / f"{name}.mp4"
    write_video(path, timeline.frames(), 25, crf=crf)
    report = analyze(path, load_config("cuts"))
    assert report.status == "ok"
    return report, timeline.truth()


def _found(report):
    return [(s.boundary.kind, s.boundary.frame, s.boundary.first_frame, s.boundary.last_frame)
            for s in report.segments[1:]]


def test_hard_cuts_frame_exact(tmp_path):
    report, truth = _run(tmp_path, clipgen.hard_cuts(SIZE, seed=3, n_cuts=3), "cuts")
    assert [(k, f) for k, f, _, _ in _found(report)] == [("cut", t["frame"]) for t in truth["transitions"]]


@pytest.mark.parametrize("kwargs", [dict(speed=3.0, removed=60), dict(speed=2.0, removed=15)])
def test_pan_with_frames_removed_is_a_jump_cut(tmp_path, kwargs):
    report, truth = _run(tmp_path, clipgen.jump_cut(SIZE, seed=7, **kwargs), "jump")
    assert [(k, f) for k, f, _, _ in _found(report)] == [("jump_cut", truth["transitions"][0]["frame"])]
    assert "pan_jump" in report.segments[1].boundary.signals


def test_sudden_zoom_on_the_same_place_is_a_jump_cut(tmp_path):
    report, truth = _run(tmp_path, clipgen.zoom_jump(SIZE, seed=11, factor=1.5), "zoom")
    (kind, frame, _, _), = _found(report)
    assert (kind, frame) == ("jump_cut", truth["transitions"][0]["frame"])
    assert report.segments[1].boundary.measurements["zoom_jump"] == pytest.approx(1.5, rel=0.05)


def test_dissolve_is_an_interval(tmp_path):
    report, truth = _run(tmp_path, clipgen.dissolve(SIZE, seed=5, length=20), "dissolve")
    (kind, _, first, last), = _found(report)
    t_first, t_last = truth["transitions"][0]["frames"]
    assert kind == "dissolve"
    assert abs(first - t_first) <= 4 and abs(last - t_last) <= 4


def test_fade_out_and_in(tmp_path):
    report, truth = _run(tmp_path, clipgen.fades(SIZE, seed=2, out_len=12, in_len=12), "fades")
    found = [(k, a, b) for k, _, a, b in _found(report)]
    expected = [("fade", *t["frames"]) for t in truth["transitions"]]
    assert len(found) == len(expected)
    for (k, a, b), (tk, ta, tb) in zip(found, expected):
        assert k == tk and abs(a - ta) <= 1 and abs(b - tb) <= 1


@pytest.mark.parametrize("kind", ["flash", "explosion", "smoke", "pan40", "shake"])
def test_traps_are_not_boundaries(tmp_path, kind):
    report, _ = _run(tmp_path, clipgen.trap(SIZE, seed=13, kind=kind), f"trap-{kind}")
    assert _found(report) == []


def test_phase_shift_is_unbiased_on_awkward_sizes():
    """cv2.phaseCorrelate is biased on odd sizes; the detector's shifts must not be."""
    from vidforensics.cuts.boundaries import CutDetector
    from vidforensics.io.decode import iter_frames

    rng = np.random.default_rng(0)
    world = (rng.random((400, 600)) * 255).astype(np.float32)
    world = np.clip(np.repeat(np.repeat(world[::4, ::4], 4, 0), 4, 1), 0, 255)
    frames = [np.repeat(world[50:50 + 270, 40 + 4 * i:40 + 4 * i + 480, None], 3, 2).astype(np.uint8)
              for i in range(12)]
    # 480x270 -> analysis 160x90: half size 80x45 would be odd
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "pan.mp4"
        write_video(path, frames, 25, crf=10)
        det = CutDetector(load_config("cuts").cuts)
        shifts = []
        for f in iter_frames(path, analysis_width=160):
            det.process(f)
            shifts.append(det._window[-1].shift)
    dx = np.array([s[0] for s in shifts[1:]])
    dy = np.array([s[1] for s in shifts[1:]])
    # 4 px per frame at 480 wide = -4/3 px at 160 (content moves left)
    assert np.median(dx) == pytest.approx(-4 / 3, abs=0.25)
    assert np.median(np.abs(dy)) < 0.25


@pytest.mark.parametrize("clip", ["pyscenedetect/goldeneye-vfr-drop3.mp4", "pyscenedetect/fades.mp4"])
def test_boundaries_called_final_during_the_pass_never_change(clip):
    # other stages settle their per-segment work during the pass on final_boundaries(): what it calls
    # final must be exactly what finish() reports below that frame (cuts, fades; fades.mp4 has both)
    from vidforensics.cuts.boundaries import CutDetector
    from vidforensics.io.decode import iter_frames
    cfg = load_config("cuts")
    det = CutDetector(cfg.cuts)
    seen = []
    for fr in iter_frames(Path(__file__).resolve().parent / "data" / "peer-oracles" / clip,
                          analysis_width=cfg.decode.analysis_width):
        det.process(fr)
        seen.append(det.final_boundaries())
    final = [b.frame for b in det.finish()]
    assert final, "the clip has boundaries"
    for frames, before in seen:
        assert frames == [f for f in final if f < before], (before, frames)
    # and it does not lag far behind: the detector's window (96 frames) and a boundary just before it
    assert seen[-1][1] >= len(seen) - 110, seen[-1][1]
