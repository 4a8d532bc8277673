"""Bad inputs: every case gives a report (library) and a one-line message (CLI), never a traceback.

Each test drives both ``vidforensics.analyze(path, "cuts")`` and the CLI
(``python -m vidforensics.cli analyze``) on a real encoded (or deliberately
broken) file, and checks the exit code, stderr, the report file against the
shipped JSON Schema, that the input's folder is untouched and that no temporary
file is left in the output folder.
"""
from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest

from conftest import (assert_no_traceback, assert_one_line_errors, assert_valid_report, listing,
                      load_report, run_cli, temp_leftovers)
from vidforensics import analyze
from vidforensics.errors import OutputError
from vidforensics.io.probe import sha256_file
from vidforensics.report.write import write_report

TIME_TOL = 1e-4  # timestamps go through a 1/90000 s time base


def run_case(clip: Path, out: Path, validator, *, allowed: set[str], pipeline: str | Path = "cuts",
             message_has: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Analyse ``clip`` with the library and with the CLI; check everything common to all cases.

    Returns the library report and the CLI's report file, both as JSON data.
    """
    # library: returns a Report, never raises
    try:
        report = analyze(clip, pipeline if isinstance(pipeline, str) else str(pipeline))
    except Exception as exc:  # pragma: no cover - this is the failure being tested for
        pytest.fail(f"analyze() raised {type(exc).__name__}: {exc}")
    lib = assert_valid_report(report, validator)
    assert lib["status"] in allowed, f"library status {lib['status']!r} not in {allowed}: {lib['error']}"
    if lib["status"] == "error":
        assert lib["error"] and lib["error"]["message"], "an error report must say why"
        msg = lib["error"]["message"]
        assert "\n" not in msg, f"multi-line error message: {msg!r}"
        for word in message_has:
            assert word.lower() in msg.lower(), f"{word!r} not in error message {msg!r}"
    if lib["status"] == "partial":
        assert lib["missing"], "a partial report must say what is missing"

    # CLI
    before = listing(clip.parent)
    res = run_cli("analyze", clip, "--out", out, "--pipeline", pipeline)
    assert listing(clip.parent) == before, f"the input's folder changed\n{res}"
    assert_no_traceback(res)

    target = out / f"{clip.stem}.json"
    cli = load_report(target, validator)
    assert cli["status"] == lib["status"], f"CLI status {cli['status']} != library status {lib['status']}"
    assert cli["error"] == lib["error"]
    assert len(cli["segments"]) == len(lib["segments"])
    if cli["input"] is not None and clip.stat().st_size:
        assert cli["input"]["sha256"] == sha256_file(clip)

    failing = cli["status"] == "error"
    assert res.returncode == (1 if failing else 0), str(res)
    assert_one_line_errors(res, 1 if failing else 0)
    if failing:
        assert clip.name in res.err_lines[0], f"the error line does not name the clip\n{res}"
    else:
        assert len(res.out_lines) == 1 and clip.name in res.out_lines[0], str(res)

    assert sorted(os.listdir(out)) == [target.name], f"unexpected files in --out: {sorted(os.listdir(out))}"
    assert temp_leftovers(out) == []
    return lib, cli


# ---------------------------------------------------------------------------- cases


def test_not_a_video(clips, tmp_path, validator):
    lib, _ = run_case(clips.not_video, tmp_path / "out", validator, allowed={"error"},
                      message_has=("not a readable media",))
    assert lib["error"]["stage"] == "probe"
    assert lib["input"]["sha256"] == sha256_file(clips.not_video)  # identity of what we could not read


def test_zero_bytes(clips, tmp_path, validator):
    lib, _ = run_case(clips.empty, tmp_path / "out", validator, allowed={"error"}, message_has=("empty",))
    assert lib["input"]["size_bytes"] == 0


def test_truncated_moov_at_end(clips, tmp_path, validator):
    """write_video puts the moov last: 60% of the file has no index and cannot be opened."""
    run_case(clips.truncated_moov_end, tmp_path / "out", validator, allowed={"error"})


def test_truncated_faststart(clips, tmp_path, validator):
    """moov in front: 60% of the file opens, decodes part-way and must not claim to be complete."""
    lib, _ = run_case(clips.truncated_faststart, tmp_path / "out", validator, allowed={"partial", "error"})
    if lib["status"] == "partial":
        inp = lib["input"]
        assert 0 < inp["frame_count"] < inp["frame_count_declared"] == 40
        assert any("40" in m for m in lib["missing"]), lib["missing"]


def test_audio_only(clips, tmp_path, validator):
    lib, _ = run_case(clips.audio_only, tmp_path / "out", validator, allowed={"error"}, message_has=("no video",))
    assert lib["error"]["stage"] == "probe"


def test_corrupt_middle_of_mdat(clips, tmp_path, validator):
    """Garbage in the middle of the video packets: the frames before it are still reported."""
    lib, _ = run_case(clips.corrupt_middle, tmp_path / "out", validator, allowed={"ok", "partial"})
    assert lib["input"]["frame_count"] >= 1
    assert lib["segments"] and lib["segments"][0]["start_frame"] == 0
    assert lib["segments"][-1]["end_frame"] == lib["input"]["frame_count"]


@pytest.mark.parametrize("which", ["corrupt_all", "corrupt_all_random"])
def test_every_frame_corrupt(clips, tmp_path, validator, which):
    """A valid container whose every video packet is garbage: no decodable frame."""
    lib, _ = run_case(getattr(clips, which), tmp_path / "out", validator, allowed={"error"},
                      message_has=("no decodable video frame",))
    assert lib["error"]["stage"] == "decode"
    assert lib["segments"] == []


@pytest.mark.parametrize("limits", ["max_width = 100", "max_width = 100\nmax_height = 100"],
                         ids=["width-only", "width-and-height"])
def test_dimensions_over_limit(clips, tmp_path, validator, limits):
    """A 160x120 clip against ``[limits] max_width = 100`` from a pipeline file."""
    toml = tmp_path / "small-limits.toml"
    toml.write_text(f'name = "small-limits"\nstages = ["cuts"]\n\n[limits]\n{limits}\n', encoding="utf-8")
    lib, _ = run_case(clips.good, tmp_path / "out", validator, allowed={"error"}, pipeline=toml,
                      message_has=("exceeds",))
    assert lib["parameters"]["limits"]["max_width"] == 100


def test_variable_frame_rate(clips, tmp_path, validator):
    times = clips.vfr_times
    # the cut at frame 15 is far from where a constant rate would put it
    assert abs(times[15] - 15 / 25) > 0.01
    lib, cli = run_case(clips.vfr, tmp_path / "out", validator, allowed={"ok"})
    for rep in (lib, cli):
        inp = rep["input"]
        assert inp["variable_frame_rate"] is True
        assert inp["frame_count"] == len(times)
        assert inp["frame_interval_s"]["min"] == pytest.approx(0.033, abs=TIME_TOL)
        assert inp["frame_interval_s"]["max"] == pytest.approx(0.05, abs=TIME_TOL)
        segs = rep["segments"]
        for seg in segs:
            assert seg["start_s"] == pytest.approx(times[seg["start_frame"]], abs=TIME_TOL)
            assert seg["boundary"]["time_s"] == pytest.approx(times[seg["boundary"]["frame"]], abs=TIME_TOL)
            if seg["end_frame"] < len(times):
                assert seg["end_s"] == pytest.approx(times[seg["end_frame"]], abs=TIME_TOL)
        med = statistics.median(b - a for a, b in zip(times, times[1:]))
        assert segs[-1]["end_s"] == pytest.approx(times[-1] + med, abs=TIME_TOL)
        cut = [s for s in segs if s["start_frame"] == 15]
        assert cut, f"no segment starts at the cut (frame 15): {[(s['start_frame'], s['end_frame']) for s in segs]}"
        assert cut[0]["start_s"] == pytest.approx(times[15], abs=TIME_TOL)


def test_rotated_phone_video(clips, tmp_path, validator):
    lib, cli = run_case(clips.rotated, tmp_path / "out", validator, allowed={"ok"})
    for rep in (lib, cli):
        inp = rep["input"]
        assert inp["rotation_deg"] == 90
        assert (inp["coded_width"], inp["coded_height"]) == (160, 120)
        assert (inp["width"], inp["height"]) == (120, 160), "width/height must be in display orientation"


def test_unicode_and_spaces_in_name(clips, tmp_path, validator):
    clip = clips.unicode_name
    assert clip.name == "clip with spaces ü 東京.mp4"
    lib, cli = run_case(clip, tmp_path / "out dir ü", validator, allowed={"ok"})
    assert cli["input"]["file_name"] == clip.name
    assert Path(cli["input"]["path"]) == clip.resolve()
    assert (tmp_path / "out dir ü" / "clip with spaces ü 東京.json").is_file()


def test_missing_file(tmp_path, validator):
    clip = tmp_path / "in" / "does-not-exist.mp4"
    clip.parent.mkdir()
    run_case(clip, tmp_path / "out", validator, allowed={"error"}, message_has=("no such file",))


def _assert_unwritable(clip: Path, out: Path, res, validator) -> None:
    assert_no_traceback(res)
    assert res.returncode in (1, 2), str(res)
    assert_one_line_errors(res, 1)
    assert str(out.name) in res.stderr or str(out.parent) in res.stderr, f"the message should name the folder\n{res}"


def test_unwritable_output_under_a_file(clips, tmp_path, validator):
    """--out below a regular file cannot be created (works as root, unlike chmod)."""
    afile = tmp_path / "afile"
    afile.write_text("I am a file\n")
    out = afile / "sub"

    report = analyze(clips.good, "cuts")  # the analysis itself is fine
    assert report.status == "ok"
    with pytest.raises(OutputError):
        write_report(report, out, clips.good.stem)  # a clear OutputError, not a bare OSError

    before = listing(clips.good.parent)
    res = run_cli("analyze", clips.good, "--out", out, "--pipeline", "cuts")
    assert listing(clips.good.parent) == before
    _assert_unwritable(clips.good, out, res, validator)
    assert afile.read_text() == "I am a file\n"
    assert sorted(os.listdir(tmp_path)) == ["afile"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
@pytest.mark.parametrize("sub", [False, True], ids=["readonly-dir", "subdir-of-readonly-dir"])
def test_unwritable_output_chmod(clips, tmp_path, validator, sub):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        out = ro / "sub" if sub else ro
        res = run_cli("analyze", clips.good, "--out", out, "--pipeline", "cuts")
        _assert_unwritable(clips.good, out, res, validator)
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)


def test_same_stem_in_two_folders(clips, tmp_path, validator):
    a, b = clips.good, clips.good_other
    assert a.name == b.name and a.parent != b.parent and sha256_file(a) != sha256_file(b)
    out = tmp_path / "out"
    before_a, before_b = listing(a.parent), listing(b.parent)
    res = run_cli("analyze", a, b, "--out", out, "--pipeline", "cuts")
    assert listing(a.parent) == before_a and listing(b.parent) == before_b
    assert res.returncode == 0, str(res)
    assert_one_line_errors(res, 0)
    names = sorted(os.listdir(out))
    assert len(names) == 2 and "clip.json" in names, names
    reports = {n: load_report(out / n, validator) for n in names}
    by_hash = {r["input"]["sha256"]: r for r in reports.values()}
    assert set(by_hash) == {sha256_file(a), sha256_file(b)}, "one report overwrote the other"
    assert by_hash[sha256_file(a)]["input"]["path"] == str(a.resolve())
    assert by_hash[sha256_file(b)]["input"]["path"] == str(b.resolve())
    other = next(n for n in names if n != "clip.json")
    assert other.startswith("clip-") and other.endswith(".json")
    assert temp_leftovers(out) == []
    # the library gives the same two reports
    for clip in (a, b):
        lib = assert_valid_report(analyze(clip, "cuts"), validator)
        assert lib == by_hash[sha256_file(clip)]

    # a second run is idempotent: still two reports, neither replaced
    blobs = {n: (out / n).read_bytes() for n in names}
    res2 = run_cli("analyze", b, a, "--out", out, "--pipeline", "cuts", "--quiet")
    assert res2.returncode == 0, str(res2)
    assert {n: (out / n).read_bytes() for n in sorted(os.listdir(out))} == blobs


@pytest.mark.parametrize("size", [(2, 2), (16, 16)])
def test_tiny_picture_through_every_frame_stage(tmp_path, validator, size):
    # a 2x2 or 16x16 picture: smaller than a detector block, a fit patch or the sky's phase
    # correlation window. The tracking pipeline (camera motion, detection) reports nothing found,
    # never an internal error (a 2x2 clip once stopped it in the detector's noise map)
    from conftest import FPS, two_shots
    from vidforensics.io.encode import write_video

    clip = tmp_path / "in" / "tiny.mp4"
    clip.parent.mkdir()
    write_video(clip, two_shots(5, w=size[0], h=size[1]), FPS)
    lib, cli = run_case(clip, tmp_path / "out", validator, allowed={"ok"}, pipeline="tracking")
    assert cli["tracks"] == []
