"""The bundled seed-case sample: a town, a jump to the same place 2x closer, a flash that is no cut."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from vidforensics import analyze, load_config
from vidforensics.report.schema import json_schema
from vidforensics.report.write import report_json

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CLIP = SAMPLES / "hass-demo.mp4"
TRUTH = json.loads((SAMPLES / "hass-demo.truth.json").read_text())


@pytest.fixture(scope="module")
def report():
    return analyze(CLIP, load_config("default"))


def test_sample_is_small_and_committed():
    assert CLIP.stat().st_size < 2 * 1024 * 1024


def test_sample_report_finds_the_zoom_jump_and_not_the_flash(report):
    assert report.status == "ok"
    assert report.input.frame_count == TRUTH["frame_count"]
    truth = [b for b in TRUTH["boundaries"] if b["kind"] != "start"]
    found = [s.boundary for s in report.segments[1:]]
    assert [b.frame for b in found] == [b["frame"] for b in truth]
    jump = found[0]
    assert jump.kind == "jump_cut" and "zoom_jump" in jump.signals
    assert jump.measurements["zoom_jump"] == pytest.approx(truth[0]["zoom_ratio"], rel=0.05)
    flash = [e for e in TRUTH["events"] if e["kind"] == "explosion"][0]
    assert not any(flash["frames"][0] - 1 <= b.frame <= flash["frames"][-1] + 1 for b in found)
    assert any(f.kind == "jump_cut" and jump.frame in f.evidence.frames for f in report.findings)


def test_sample_report_validates_and_is_deterministic(report):
    doc = json.loads(report_json(report))
    jsonschema.validate(doc, json_schema())
    again = analyze(CLIP, load_config("default"))
    assert report_json(again) == report_json(report)


def test_committed_sample_report_is_current(report):
    """samples/hass-demo.report.json is what the README's demo command writes today."""
    committed = json.loads((SAMPLES / "hass-demo.report.json").read_text())
    fresh = json.loads(report_json(report))
    committed["input"].pop("path"), fresh["input"].pop("path")
    # constraints.txt pins the libraries, not the interpreter's patch release
    committed["tool"]["libraries"].pop("python"), fresh["tool"]["libraries"].pop("python")
    assert fresh == committed, "re-run: vidforensics analyze samples/hass-demo.mp4 --out DIR, copy DIR/hass-demo.json"
