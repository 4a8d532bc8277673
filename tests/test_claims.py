"""Claims files: valid files parse; every bad input is one line naming the problem."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from vidforensics.claims import (
    Claims,
    ClaimsError,
    FilmedAtClaim,
    SameTimeOfDayClaim,
    load_claims,
    parse_claims,
    resolve_segments,
    validate_segments,
)
from vidforensics.errors import VidforensicsError

FILMED = {"kind": "filmed_at", "latitude": 35.614, "longitude": 36.561, "time_utc": "2016-10-26T09:30:00Z",
          "camera_heading_deg": 90, "camera_heading_sigma_deg": 10}


def write(tmp_path, data) -> str:
    p = tmp_path / "claims.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(p)


def bad(tmp_path, data) -> str:
    with pytest.raises(ClaimsError) as info:
        load_claims(write(tmp_path, data))
    msg = str(info.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    return msg


def test_valid_file_parses(tmp_path):
    doc = {"claims": [
        {"kind": "same_time_of_day", "segments": [0, 1]},
        {"kind": "same_time_of_day", "segments": "all"},
        dict(FILMED, segments=[1], camera_pitch_deg=10, camera_pitch_range_deg=[2, 20], hfov_deg=60,
             hfov_range_deg=[40, 70]),
        {k: v for k, v in FILMED.items() if k != "time_utc"}
        | {"window_utc": ["2016-10-26T11:00:00+03:00", "2016-10-26T12:41:00Z"], "focal_px": 1000,
           "focal_range_px": [800, 1400], "camera_roll_deg": -2, "camera_roll_sigma_deg": 1},
    ]}
    claims = load_claims(write(tmp_path, doc))
    assert isinstance(claims, Claims) and len(claims.claims) == 4
    a, b, c, d = claims.claims
    assert isinstance(a, SameTimeOfDayClaim) and a.segments == [0, 1]
    assert b.segments == "all" and resolve_segments(b, 3) == [0, 1, 2]
    assert isinstance(c, FilmedAtClaim)
    assert c.time_utc == datetime(2016, 10, 26, 9, 30, tzinfo=timezone.utc)
    assert c.claimed_interval == (c.time_utc, c.time_utc)
    assert d.window_utc[0] == datetime(2016, 10, 26, 8, 0, tzinfo=timezone.utc)   # +03:00 -> UTC
    assert resolve_segments(d, 2) == [0, 1]
    validate_segments(claims, 2)
    assert load_claims(write(tmp_path, {"claims": []})).claims == []


def test_claims_error_is_a_vidforensics_error():
    assert issubclass(ClaimsError, VidforensicsError)


def test_not_json_names_line_and_column(tmp_path):
    msg = bad(tmp_path, '{"claims": [\n  {"kind": "filmed_at",}\n]}')
    assert "not valid JSON" in msg and "line 2" in msg and "column" in msg


def test_missing_file(tmp_path):
    with pytest.raises(ClaimsError, match="not found"):
        load_claims(tmp_path / "nope.json")


@pytest.mark.parametrize("data, needle", [
    ([], "top level must be an object"),
    ({"claim": []}, "unknown top-level key"),
    ({"claims": {}}, "must be a list"),
    ({"claims": [3]}, "claims[0]: a claim must be an object"),
])
def test_bad_shape(tmp_path, data, needle):
    assert needle in bad(tmp_path, data)


def test_unknown_kind_lists_known(tmp_path):
    msg = bad(tmp_path, {"claims": [{"kind": "same_place", "segments": [0, 1]}]})
    assert "unknown claim kind 'same_place'" in msg and "filmed_at" in msg and "same_time_of_day" in msg
    assert "known kinds" in bad(tmp_path, {"claims": [{"segments": [0, 1]}]})


@pytest.mark.parametrize("field, value, needle", [
    ("latitude", 95.0, "latitude 95.0 out of range [-90, 90]"),
    ("latitude", -90.5, "latitude -90.5 out of range"),
    ("longitude", 181.0, "longitude 181.0 out of range [-180, 180]"),
    ("camera_heading_deg", 360.0, "heading 360.0 out of range [0, 360)"),
    ("camera_heading_deg", -5, "heading -5.0 out of range"),
    ("camera_heading_sigma_deg", -1, "sigma must be in [0, 180]"),
    ("camera_pitch_range_deg", [20, 2], "must be [low, high]"),
    ("hfov_deg", 190, "hfov_deg 190.0 out of range"),
    ("time_utc", "2016-10-26T09:30:00", "time has no zone: write Z or +03:00"),
    ("time_utc", "26/10/2016 09:30", "not an ISO-8601 time"),
    ("segments", [-1], "segment indices must be >= 0"),
    ("camera_heading", 90, "camera_heading: unknown field"),
])
def test_bad_filmed_at_field(tmp_path, field, value, needle):
    msg = bad(tmp_path, {"claims": [dict(FILMED, **{field: value})]})
    assert needle in msg, msg
    assert msg.startswith("claims.json: claims[0] (filmed_at): ")
    assert field in msg


def test_missing_heading(tmp_path):
    doc = {k: v for k, v in FILMED.items() if k != "camera_heading_deg"}
    assert "camera_heading_deg: required field is missing" in bad(tmp_path, {"claims": [doc]})


def test_window_end_before_start(tmp_path):
    doc = {k: v for k, v in FILMED.items() if k != "time_utc"}
    doc["window_utc"] = ["2016-10-26T12:00:00Z", "2016-10-26T11:00:00Z"]
    msg = bad(tmp_path, {"claims": [doc]})
    assert "window end 2016-10-26T11:00:00Z is before its start 2016-10-26T12:00:00Z" in msg
    doc["window_utc"] = ["2016-10-26T11:00:00Z", "2016-10-26T12:00:00"]
    assert "time has no zone" in bad(tmp_path, {"claims": [doc]})


def test_time_and_window_exclusive(tmp_path):
    doc = dict(FILMED, window_utc=["2016-10-26T11:00:00Z", "2016-10-26T12:00:00Z"])
    assert "exactly one of time_utc or window_utc" in bad(tmp_path, {"claims": [doc]})
    doc = {k: v for k, v in FILMED.items() if k != "time_utc"}
    assert "exactly one of time_utc or window_utc" in bad(tmp_path, {"claims": [doc]})


@pytest.mark.parametrize("segments, needle", [
    ([0], "at least two segments"),
    ([0, 0], "listed twice"),
    ("some", 'or "all"'),
    ([0, -2], "integers >= 0"),
])
def test_bad_same_time_of_day_segments(tmp_path, segments, needle):
    msg = bad(tmp_path, {"claims": [{"kind": "same_time_of_day", "segments": segments}]})
    assert needle in msg and "claims[0] (same_time_of_day): segments" in msg


def test_segment_that_does_not_exist(tmp_path):
    claims = load_claims(write(tmp_path, {"claims": [
        {"kind": "same_time_of_day", "segments": [0, 1]}, dict(FILMED, segments=[3])]}))
    validate_segments(claims, 4)
    with pytest.raises(ClaimsError) as info:
        validate_segments(claims, 2)
    msg = str(info.value)
    assert msg == "claims[1] (filmed_at): segment 3 does not exist: the video has 2 segments (0-1)"
    with pytest.raises(ClaimsError, match="segment 1 does not exist: the video has 1 segment \\(0-0\\)"):
        validate_segments(claims, 1)


def test_parse_claims_accepts_decoded_json():
    claims = parse_claims({"claims": [FILMED]})
    assert claims.claims[0].camera_heading_deg == 90
