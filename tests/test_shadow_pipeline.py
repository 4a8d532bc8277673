"""The shadow stage through the pipeline and the CLI, on the seed-case sample."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from vidforensics import analyze, load_config
from vidforensics.claims import ClaimsError, load_claims
from vidforensics.report.schema import json_schema
from vidforensics.report.write import report_json

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CLIP = SAMPLES / "hass-demo.mp4"
TRUTH = json.loads((SAMPLES / "hass-demo.truth.json").read_text())


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vidforensics.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def report():
    return analyze(CLIP, load_config("shadows"))


def test_no_segment_gets_a_confidently_wrong_direction(report):
    """The evidence rule: a direction the footage cannot support is null, never a confident guess."""
    for seg, truth in zip(report.segments, TRUTH["segments"]):
        sh = seg.shadow
        assert sh is not None and sh.frames_used is not None
        if sh.direction_deg is None:
            assert sh.reason and sh.confidence <= 0.3
            continue
        err = abs((sh.direction_deg - truth["shadow_direction_deg"] + 180) % 360 - 180)
        assert sh.confidence <= 0.3 or err <= max(5.0, 3 * sh.uncertainty_deg), (sh.direction_deg, sh.confidence)


def test_the_zoomed_segment_gets_the_drawn_shadow_direction(report):
    """Segment 1 (the town zoomed in): its box buildings' sweep edges, confirmed by the region cue."""
    sh, truth = report.segments[1].shadow, TRUTH["segments"][1]
    assert sh.direction_deg is not None, sh.reason
    err = abs((sh.direction_deg - truth["shadow_direction_deg"] + 180) % 360 - 180)
    assert err <= max(3.0, 2 * sh.uncertainty_deg) and sh.confidence > 0.3
    assert "box-shadow sweep edges" in sh.method or len(sh.frames_used) >= 2


@pytest.mark.xfail(strict=True, reason="issue 3: in the wide segment the town's buildings are small: too few "
                                       "sweep edges start at a building for the box cue, and the pole cue's "
                                       "rays disagree; docs/shadows.md")
def test_each_segment_gets_the_drawn_shadow_direction(report):
    for seg, truth in zip(report.segments, TRUTH["segments"]):
        sh = seg.shadow
        assert sh.direction_deg is not None, sh.reason
        err = abs((sh.direction_deg - truth["shadow_direction_deg"] + 180) % 360 - 180)
        assert err <= max(5.0, 3 * sh.uncertainty_deg)


def test_same_place_segments_are_checked_for_same_time(report):
    """Both segments show one town under one sun: they register and are never called 'inconsistent'.

    The smoke rising in segment 1 changes two places, so the shadow-change test
    cannot call the shadows unchanged either: 'inconclusive' is the honest answer.
    """
    [check] = [c for c in report.checks if c.name == "same_time_of_day"]
    assert check.segments == [0, 1]
    assert check.verdict in ("consistent", "inconclusive"), check.summary
    m = check.measurements
    assert m["registration"]["agreement"] >= load_config("shadows").shadow_compare.min_agreement
    assert m["shadow_change"]["changed_places"] < load_config("shadows").shadow_compare.change_moved_min_places
    jsonschema.validate(json.loads(report_json(report)), json_schema())


def test_segments_showing_one_place_register(report):
    """The compare step finds the homography between the wide and the zoomed view of the town."""
    from vidforensics.io.decode import read_frame
    from vidforensics.shadows.register import best_registration, prepare_view

    cp = load_config("shadows").shadow_compare
    views = {}
    for seg in report.segments:
        frames = [seg.start_frame + (seg.end_frame - seg.start_frame) * k // 4 for k in (1, 2, 3)]
        views[seg.index] = [prepare_view(seg.index, f, read_frame(CLIP, f, f / 25.0), cp) for f in frames]
    found = best_registration(views[0], views[1], cp, lambda v: read_frame(CLIP, v.frame, v.frame / 25.0))
    assert found is not None and found[0].inliers >= 25 and found[0].agreement >= cp.min_agreement
    # segment 1 is the same town zoomed in (2x at the cut; the two shots zoom during the segments)
    H = found[0].homography
    scale = float(np.sqrt(abs(np.linalg.det(H[:2, :2]))))
    assert 1.2 < scale < 3.0


def test_registration_prepares_only_the_views_it_tries(report):
    """Pairs of sampled pictures are tried in time order and the first verified one ends the
    search: the later pictures are never read back nor matched (a seek each beyond the pass's
    memory budget)."""
    from vidforensics.io.decode import read_frame
    from vidforensics.shadows.checks import _Views
    from vidforensics.shadows.register import best_registration, prepare_view

    cp = load_config("shadows").shadow_compare
    made = []

    def make(segment):
        def view(f):
            made.append((segment, f))
            return prepare_view(segment, f, read_frame(CLIP, f, f / 25.0), cp)
        return view

    views = {seg.index: _Views([seg.start_frame + (seg.end_frame - seg.start_frame) * k // 4 for k in (1, 2, 3)],
                               make(seg.index)) for seg in report.segments}
    found = best_registration(views[0], views[1], cp, lambda v: read_frame(CLIP, v.frame, v.frame / 25.0))
    assert found is not None and found[0].agreement >= cp.min_agreement
    a, b = found[1], found[2]
    assert (0, a.frame) in made and (1, b.frame) in made
    assert len(made) < 6 and len(made) == len(set(made))   # none prepared twice, not all prepared
    assert views[0][0] is views[0][0]


def test_cli_writes_evidence_pictures_and_tests_claims(tmp_path):
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"claims": [{"kind": "same_time_of_day", "segments": [0, 1]}]}))
    out = tmp_path / "out"
    r = _cli("analyze", CLIP, "--out", out, "--pipeline", "shadows", "--claims", claims, "-q")
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "hass-demo.json").read_text())
    pngs = [s["shadow"]["evidence_png"] for s in rep["segments"]]
    assert all(p and (out / p).is_file() for p in pngs)
    assert rep["checks"][0]["name"] == "same_time_of_day" and rep["checks"][0]["segments"] == [0, 1]
    assert rep["checks"][0]["verdict"] != "inconsistent"


@pytest.mark.parametrize("text, needle", [
    ("{not json", "not valid JSON"),
    ('{"claims": [{"kind": "filmed_on_mars"}]}', "unknown claim kind"),
    ('{"claims": [{"kind": "filmed_at", "latitude": 95, "longitude": 36, "time_utc": "2016-10-26T09:30:00Z"}]}',
     "latitude"),
    ('{"claims": [{"kind": "filmed_at", "latitude": 35.5, "longitude": 36.6, "time_utc": "2016-10-26T09:30:00"}]}',
     "zone"),
])
def test_bad_claims_give_one_line(tmp_path, text, needle):
    claims = tmp_path / "claims.json"
    claims.write_text(text)
    with pytest.raises(ClaimsError) as err:
        load_claims(claims)
    assert needle in str(err.value) and "\n" not in str(err.value)
    r = _cli("analyze", CLIP, "--out", tmp_path / "out", "--pipeline", "shadows", "--claims", claims)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr
    assert "Traceback" not in r.stderr


def test_claims_naming_missing_segments_are_refused(tmp_path):
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"claims": [{"kind": "same_time_of_day", "segments": [0, 7]}]}))
    r = _cli("analyze", CLIP, "--out", tmp_path / "out", "--pipeline", "shadows", "--claims", claims)
    assert r.returncode == 2 and "7" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_claims_need_the_shadow_stage(tmp_path):
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"claims": [{"kind": "same_time_of_day", "segments": "all"}]}))
    r = _cli("analyze", CLIP, "--out", tmp_path / "out", "--claims", claims)
    assert r.returncode == 2 and "--pipeline shadows" in r.stderr


def test_checks_do_not_depend_on_kept_pictures(report):
    """Kept sampled pictures only spare seeks: with none kept, every picture is read back from the
    clip and the checks come out the same."""
    cfg = load_config("shadows")
    cfg = cfg.model_copy(update={"shadow_sampling": cfg.shadow_sampling.model_copy(update={"keep_pictures_mb": 0.0})})
    again = analyze(CLIP, cfg)
    assert report.checks and [c.model_dump() for c in again.checks] == [c.model_dump() for c in report.checks]
