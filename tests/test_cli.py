"""The command line: sub-commands, exit codes, quiet mode, determinism, segment export.

Everything runs ``python -m vidforensics.cli`` as a subprocess on real clips.
"""
from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

import av
import jsonschema
import numpy as np
import pytest

from conftest import (assert_no_traceback, assert_one_line_errors, listing, load_report, run_cli,
                      temp_leftovers)
from vidforensics import analyze
from vidforensics.io.probe import sha256_file
from vidforensics.report.schema import json_schema
from vidforensics.report.write import report_json


# ---------------------------------------------------------------------------- schema / pipelines / version


def test_schema_prints_valid_json_schema(clips, tmp_path):
    res = run_cli("schema")
    assert res.returncode == 0, str(res)
    assert_no_traceback(res)
    schema = json.loads(res.stdout)
    cls = jsonschema.validators.validator_for(schema)
    assert cls is jsonschema.Draft202012Validator
    cls.check_schema(schema)
    assert schema == json_schema()
    # a real report validates against the printed schema
    cls(schema).validate(json.loads(report_json(analyze(clips.good, "cuts"))))
    with pytest.raises(jsonschema.ValidationError):
        cls(schema).validate({"status": "fine"})


def test_pipelines_lists_default_and_cuts():
    res = run_cli("pipelines")
    assert res.returncode == 0, str(res)
    assert_no_traceback(res)
    names = {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip() for ln in res.out_lines if ":" in ln}
    assert {"default", "cuts"} <= set(names), res.stdout
    assert names["default"] and names["cuts"], "each pipeline has a description"


def test_version():
    res = run_cli("--version")
    assert_no_traceback(res)
    assert res.returncode == 0, str(res)
    assert res.stdout.strip() == f"vidforensics {version('vidforensics')}", str(res)


# ---------------------------------------------------------------------------- usage errors (exit 2)


def test_usage_unknown_pipeline(clips, tmp_path):
    out = tmp_path / "out"
    res = run_cli("analyze", clips.good, "--out", out, "--pipeline", "no-such-pipeline")
    assert res.returncode == 2, str(res)
    assert_one_line_errors(res, 1)
    assert "no-such-pipeline" in res.stderr
    assert listing(out) == {}


def test_usage_missing_out(clips):
    before = listing(clips.good.parent)
    res = run_cli("analyze", clips.good)
    assert res.returncode == 2, str(res)
    assert_no_traceback(res)
    assert "--out" in res.stderr, str(res)
    assert res.stdout == ""
    assert listing(clips.good.parent) == before


def test_usage_out_is_the_inputs_folder(clips):
    folder = clips.good.parent
    before = listing(folder)
    res = run_cli("analyze", clips.good, "--out", folder, "--pipeline", "cuts")
    assert res.returncode == 2, str(res)
    assert_one_line_errors(res, 1)
    assert listing(folder) == before, "a report was written beside the evidence"


@pytest.mark.parametrize("text", ['name = "x"\n[limits]\nmax_widht = 100\n', "this is = not = toml\n"],
                         ids=["unknown-key", "not-toml"])
def test_usage_invalid_pipeline_file(clips, tmp_path, text):
    toml = tmp_path / "broken.toml"
    toml.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    res = run_cli("analyze", clips.good, "--out", out, "--pipeline", toml)
    assert res.returncode == 2, str(res)
    assert_one_line_errors(res, 1)
    assert listing(out) == {}


# ---------------------------------------------------------------------------- exit codes, quiet, determinism


def test_exit_0_when_all_clips_succeed(clips, tmp_path, validator):
    out = tmp_path / "out"
    res = run_cli("analyze", clips.good, clips.rotated, "--out", out, "--pipeline", "cuts")
    assert res.returncode == 0, str(res)
    assert_one_line_errors(res, 0)
    assert len(res.out_lines) == 2
    for clip in (clips.good, clips.rotated):
        assert load_report(out / f"{clip.stem}.json", validator)["status"] == "ok"
    assert sorted(os.listdir(out)) == ["clip.json", "rotated.json"]


def test_exit_1_when_any_clip_fails_and_the_others_get_reports(clips, tmp_path, validator):
    out = tmp_path / "out"
    res = run_cli("analyze", clips.not_video, clips.good, clips.empty, "--out", out, "--pipeline", "cuts")
    assert res.returncode == 1, str(res)
    assert_one_line_errors(res, 2)
    assert clips.not_video.name in res.err_lines[0] and clips.empty.name in res.err_lines[1]
    assert load_report(out / "clip.json", validator)["status"] == "ok"
    assert load_report(out / "notes.json", validator)["status"] == "error"
    assert load_report(out / "empty.json", validator)["status"] == "error"
    assert sorted(os.listdir(out)) == ["clip.json", "empty.json", "notes.json"]
    assert temp_leftovers(out) == []


def test_quiet_prints_nothing_on_success(clips, tmp_path, validator):
    out = tmp_path / "out"
    res = run_cli("analyze", clips.good, "--out", out, "--pipeline", "cuts", "--quiet")
    assert res.returncode == 0, str(res)
    assert res.stdout == "" and res.stderr == "", str(res)
    load_report(out / "clip.json", validator)


def test_quiet_still_reports_failures(clips, tmp_path):
    res = run_cli("analyze", clips.empty, "--out", tmp_path / "out", "--pipeline", "cuts", "-q")
    assert res.returncode == 1, str(res)
    assert res.stdout == ""
    assert_one_line_errors(res, 1)


def test_same_clip_twice_is_deterministic(clips, tmp_path, validator):
    out = tmp_path / "out"
    first = run_cli("analyze", clips.good, "--out", out, "--pipeline", "cuts", "-q")
    assert first.returncode == 0, str(first)
    target = out / "clip.json"
    blob = target.read_bytes()
    second = run_cli("analyze", clips.good, "--out", out, "--pipeline", "cuts", "-q")
    assert second.returncode == 0, str(second)
    assert sorted(os.listdir(out)) == ["clip.json"], "re-running made a second report"
    assert target.read_bytes() == blob
    # the library's canonical JSON is the very same text
    assert report_json(analyze(clips.good, "cuts")).encode("utf-8") == blob
    load_report(target, validator)


# ---------------------------------------------------------------------------- export


def _decode_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


@pytest.fixture(scope="module")
def source_frames(clips):
    return _decode_rgb(clips.good)


@pytest.mark.parametrize("with_report", [False, True], ids=["analysed-anew", "from-report-file"])
def test_export_segment(clips, tmp_path, source_frames, with_report):
    clip = clips.good
    report = analyze(clip, "cuts")
    assert report.status == "ok" and len(report.segments) >= 2, [(s.start_frame, s.end_frame) for s in report.segments]
    seg = report.segments[1]
    args = ["export", clip, "--segment", 1, "--out", tmp_path / "ev", "--pipeline", "cuts"]
    if with_report:
        rep_file = tmp_path / "rep" / "clip.json"
        rep_file.parent.mkdir()
        rep_file.write_text(report_json(report), encoding="utf-8")
        args += ["--report", rep_file]

    before = listing(clip.parent)
    res = run_cli(*args)
    assert listing(clip.parent) == before, "export wrote beside the evidence"
    assert_no_traceback(res)
    assert res.returncode == 0, str(res)
    assert res.stderr.strip() == ""
    out = tmp_path / "ev"
    video = out / "clip-segment001.mp4"
    assert res.stdout.strip() == str(video)
    assert sorted(os.listdir(out)) == ["clip-segment001.json", "clip-segment001.mp4"]

    frames = _decode_rgb(video)  # playable: PyAV decodes it
    assert len(frames) == seg.end_frame - seg.start_frame
    # frame-exact: the first exported frame is the segment's first frame, not its neighbour
    first = frames[0].astype(float)
    d_start = np.abs(first - source_frames[seg.start_frame]).mean()
    d_prev = np.abs(first - source_frames[seg.start_frame - 1]).mean()
    assert d_start < 5 < d_prev, (d_start, d_prev)

    prov = json.loads((out / "clip-segment001.json").read_text(encoding="utf-8"))
    assert prov["source"]["sha256"] == sha256_file(clip)
    assert prov["source"]["file_name"] == clip.name
    assert (prov["segment"], prov["start_frame"], prov["end_frame"]) == (1, seg.start_frame, seg.end_frame)
    assert prov["output"]["sha256"] == sha256_file(video)
    assert temp_leftovers(out) == []


@pytest.mark.parametrize("segment", [99, -1])
def test_export_refuses_missing_segment(clips, tmp_path, segment):
    out = tmp_path / "ev"
    before = listing(clips.good.parent)
    res = run_cli("export", clips.good, "--segment", segment, "--out", out, "--pipeline", "cuts")
    assert res.returncode == 1, str(res)
    assert_one_line_errors(res, 1)
    assert "segment" in res.err_lines[0]
    assert res.stdout.strip() == ""
    assert listing(out) == {}, "a refused export left files"
    assert listing(clips.good.parent) == before


def test_export_refuses_the_inputs_folder(clips):
    folder = clips.good.parent
    before = listing(folder)
    res = run_cli("export", clips.good, "--segment", 0, "--out", folder, "--pipeline", "cuts")
    assert res.returncode == 2, str(res)
    assert_one_line_errors(res, 1)
    assert listing(folder) == before


def test_export_twice_does_not_overwrite(clips, tmp_path):
    out = tmp_path / "ev"
    args = ["export", clips.good, "--segment", 0, "--out", out, "--pipeline", "cuts"]
    first = run_cli(*args)
    assert first.returncode == 0, str(first)
    blobs = {n: (out / n).read_bytes() for n in os.listdir(out)}
    second = run_cli(*args)
    assert second.returncode in (1, 2), str(second)
    assert_one_line_errors(second, 1)
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == blobs, "evidence was overwritten"


def test_export_unwritable_out(clips, tmp_path):
    """--out below a regular file: one line, no traceback (as for analyze)."""
    afile = tmp_path / "afile"
    afile.write_text("I am a file\n")
    res = run_cli("export", clips.good, "--segment", 0, "--out", afile / "sub", "--pipeline", "cuts")
    assert_no_traceback(res)
    assert res.returncode in (1, 2), str(res)
    assert_one_line_errors(res, 1)
    assert sorted(os.listdir(tmp_path)) == ["afile"]
