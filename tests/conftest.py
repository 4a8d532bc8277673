"""Shared fixtures: real, small H.264 clips made with ``write_video`` (no mocked video).

Every clip is encoded once per session into its own folder (so a test can check
that nothing is written beside its input) and decoded by the real decoder in the
tests. Clips are tiny (160x120, <= 40 frames) to keep the suite fast.

The helpers at the bottom (``run_cli``, ``listing``, ``assert_valid_report``...)
are shared by ``test_bad_input.py`` and ``test_cli.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import jsonschema
import numpy as np
import pytest

from vidforensics.io import encode
from vidforensics.io.encode import write_video
from vidforensics.report.schema import json_schema

W, H = 160, 120
SHOT_LEN = 15  # frames per shot; two-shot clips have one hard cut at frame 15
FPS = 25


# --------------------------------------------------------------------------- clip content


def shot(seed: int, n: int, w: int = W, h: int = H) -> list[np.ndarray]:
    """``n`` RGB frames of one shot: coloured discs drifting over a flat background.

    Two shots with different seeds differ in background colour and layout, which
    gives an unambiguous hard cut between them.
    """
    rng = np.random.default_rng(seed)
    bg = rng.integers(40, 200, 3).tolist()
    discs = [(int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(8, 30)),
              rng.integers(0, 256, 3).tolist()) for _ in range(6)]
    frames = []
    for i in range(n):
        img = np.full((h, w, 3), bg, np.uint8)
        for k, (x, y, r, c) in enumerate(discs):
            cv2.circle(img, (x + i * (k % 3 - 1), y + i), r, c, -1)
        frames.append(img)
    return frames


def two_shots(seed: int = 1, n: int = SHOT_LEN, w: int = W, h: int = H) -> list[np.ndarray]:
    return shot(seed, n, w, h) + shot(seed + 100, n, w, h)


def vfr_times(n: int, seed: int = 0) -> list[float]:
    """Phone-like variable frame rate: intervals jitter between 33 ms and 50 ms."""
    rng = np.random.default_rng(seed)
    return [0.0] + [round(float(t), 6) for t in np.cumsum(rng.choice([0.033, 0.05], n - 1))]


# --------------------------------------------------------------------------- MP4 surgery


def mp4_boxes(data: bytes) -> dict[str, tuple[int, int]]:
    """Top-level MP4 boxes: ``{type: (offset, size)}`` (first of each type)."""
    boxes: dict[str, tuple[int, int]] = {}
    i = 0
    while i + 8 <= len(data):
        size = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8].decode("latin-1")
        header = 8
        if size == 1:
            size = int.from_bytes(data[i + 8:i + 16], "big")
            header = 16
        elif size == 0:
            size = len(data) - i
        boxes.setdefault(kind, (i, size))
        if size < header:
            break
        i += size
    return boxes


def remux_faststart(src: Path, dst: Path) -> None:
    """Stream-copy ``src`` to ``dst`` with the moov box in front (``movflags=+faststart``)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4",
                                           options={"movflags": "+faststart"}) as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        for pkt in inp.demux(ist):
            if pkt.dts is None:  # the demuxer's flush packet
                continue
            pkt.stream = ost
            out.mux(pkt)


def write_audio_only(path: Path, seconds: float = 1.0, rate: int = 16000) -> None:
    """An MP4/M4A holding a single AAC stream and no video."""
    n = int(seconds * rate)
    encode.write_audio_only(path, (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32), rate)


# --------------------------------------------------------------------------- session clips


@dataclass(frozen=True)
class Clips:
    """Paths of the session's clips; each lives alone in its own folder."""

    good: Path              # two shots, hard cut at frame 15, 30 frames, 160x120
    good_other: Path        # different content, same stem as ``good`` ("clip.mp4"), other folder
    long_two_shots: Path    # 40 frames (cut at 20), moov at the end (write_video's layout)
    faststart: Path         # ``long_two_shots`` remuxed with the moov in front
    vfr: Path               # two shots, variable frame rate
    vfr_times: tuple[float, ...]
    rotated: Path           # 160x120 coded, display matrix 90 degrees
    unicode_name: Path      # "clip with spaces ü 東京.mp4"
    not_video: Path
    empty: Path
    truncated_moov_end: Path
    truncated_faststart: Path
    audio_only: Path
    corrupt_middle: Path    # middle third of mdat overwritten with random bytes
    corrupt_all: Path       # every byte of mdat zeroed: no frame can be decoded
    corrupt_all_random: Path


def _alone(root: Path, name: str) -> Path:
    """A fresh folder for one input file."""
    d = root / (Path(name).stem.replace(" ", "_").encode("ascii", "ignore").decode() or "clip")
    d.mkdir()
    return d / name


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> Clips:
    root = tmp_path_factory.mktemp("clips")

    good = _alone(root, "clip.mp4")
    write_video(good, two_shots(1), FPS, gop=10)

    other_dir = root / "other"
    other_dir.mkdir()
    good_other = other_dir / "clip.mp4"
    write_video(good_other, two_shots(7), FPS, gop=10)

    long_clip = _alone(root, "long.mp4")
    write_video(long_clip, two_shots(2, n=20), FPS, gop=10)
    faststart = _alone(root, "faststart.mp4")
    remux_faststart(long_clip, faststart)

    times = vfr_times(2 * SHOT_LEN)
    vfr = _alone(root, "vfr.mp4")
    write_video(vfr, two_shots(3), FPS, times_s=times)

    rotated = _alone(root, "rotated.mp4")
    write_video(rotated, two_shots(4), FPS, rotation=90)

    uni = _alone(root, "clip with spaces ü 東京.mp4")
    shutil.copyfile(good, uni)

    not_video = _alone(root, "notes.mp4")
    not_video.write_text("This is a text file, not a video.\nSecond line.\n", encoding="utf-8")

    empty = _alone(root, "empty.mp4")
    empty.write_bytes(b"")

    data = long_clip.read_bytes()
    assert mp4_boxes(data)["moov"][0] > mp4_boxes(data)["mdat"][0], "write_video now writes faststart files"
    trunc_end = _alone(root, "truncated_moov_end.mp4")
    trunc_end.write_bytes(data[: int(len(data) * 0.6)])

    fdata = faststart.read_bytes()
    assert mp4_boxes(fdata)["moov"][0] < mp4_boxes(fdata)["mdat"][0], "faststart remux kept moov at the end"
    trunc_fs = _alone(root, "truncated_faststart.mp4")
    trunc_fs.write_bytes(fdata[: int(len(fdata) * 0.6)])

    audio = _alone(root, "voice.m4a")
    write_audio_only(audio)

    rng = np.random.default_rng(1234)
    off, size = mp4_boxes(data)["mdat"]
    body = off + 8, off + size
    third = (body[1] - body[0]) // 3
    mid = bytearray(data)
    mid[body[0] + third: body[0] + 2 * third] = rng.integers(0, 256, third, dtype=np.uint8).tobytes()
    corrupt_middle = _alone(root, "corrupt_middle.mp4")
    corrupt_middle.write_bytes(bytes(mid))

    zeros = bytearray(data)
    zeros[body[0]: body[1]] = bytes(body[1] - body[0])
    corrupt_all = _alone(root, "corrupt_all.mp4")
    corrupt_all.write_bytes(bytes(zeros))

    rnd = bytearray(data)
    rnd[body[0]: body[1]] = rng.integers(0, 256, body[1] - body[0], dtype=np.uint8).tobytes()
    corrupt_all_random = _alone(root, "corrupt_all_random.mp4")
    corrupt_all_random.write_bytes(bytes(rnd))

    return Clips(good=good, good_other=good_other, long_two_shots=long_clip, faststart=faststart, vfr=vfr,
                 vfr_times=tuple(times), rotated=rotated, unicode_name=uni, not_video=not_video, empty=empty,
                 truncated_moov_end=trunc_end, truncated_faststart=trunc_fs, audio_only=audio,
                 corrupt_middle=corrupt_middle, corrupt_all=corrupt_all, corrupt_all_random=corrupt_all_random)


@pytest.fixture(scope="session")
def validator():
    schema = json_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


# --------------------------------------------------------------------------- CLI helpers

CLI = [sys.executable, "-m", "vidforensics.cli"]
ERR_PREFIX = "vidforensics: error:"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def err_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    @property
    def out_lines(self) -> list[str]:
        return [ln for ln in self.stdout.splitlines() if ln.strip()]

    def __str__(self) -> str:  # shown by pytest when an assertion fails
        return f"rc={self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def run_cli(*args, cwd: Path | None = None, timeout: float = 60) -> CliResult:
    env = dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="200", NO_COLOR="1")
    proc = subprocess.run([*CLI, *map(str, args)], capture_output=True, cwd=cwd, env=env, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Everything in ``folder`` (recursive, hidden files too): relative name -> (size, mtime_ns)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def temp_leftovers(folder: Path) -> list[str]:
    """Hidden or temporary files left behind in an output folder."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.rglob("*")
                  if p.name.startswith(".") or p.suffix in (".tmp", ".part", ".partial") or "~" in p.name)


def assert_no_traceback(res: CliResult) -> None:
    assert "Traceback" not in res.stdout and "Traceback" not in res.stderr, str(res)


def assert_one_line_errors(res: CliResult, n_failing: int) -> None:
    """stderr holds exactly one ``vidforensics: error:`` line per failing clip and nothing else."""
    assert_no_traceback(res)
    lines = res.err_lines
    assert len(lines) == n_failing, f"expected {n_failing} error line(s)\n{res}"
    for ln in lines:
        assert ln.startswith(ERR_PREFIX), f"stderr line without {ERR_PREFIX!r}: {ln!r}\n{res}"


def load_report(path: Path, validator) -> dict:
    assert path.is_file(), f"no report at {path}; folder holds {sorted(os.listdir(path.parent)) if path.parent.exists() else 'nothing'}"
    data = json.loads(path.read_text(encoding="utf-8"))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, f"{path.name} does not validate: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])
    return data


def assert_valid_report(report, validator) -> dict:
    """A library ``Report`` validates against the shipped schema; return it as JSON data."""
    from vidforensics.report.schema import Report

    assert isinstance(report, Report)
    data = json.loads(report.model_dump_json())
    errors = list(validator.iter_errors(data))
    assert not errors, "; ".join(e.message for e in errors[:5])
    return data
