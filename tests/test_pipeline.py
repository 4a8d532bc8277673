"""The pipeline as a whole: provenance, the platform's sidecar claims, flat memory."""
from __future__ import annotations

import hashlib
import json
import tracemalloc

import numpy as np

from vidforensics import analyze, load_config
from vidforensics.io.encode import write_video


def _pan_clip(path, n, size=(160, 96)):
    rng = np.random.default_rng(1)
    world = (rng.random((size[1], size[0] * 4, 3)) * 255).astype(np.uint8)
    frames = (np.roll(world, -i, axis=1)[:, : size[0]] for i in range(n))
    write_video(path, frames, 25, crf=30, preset="ultrafast")


def test_report_carries_hash_version_parameters_and_sidecar_claims(tmp_path):
    clip = tmp_path / "strike video.mp4"
    _pan_clip(clip, 30)
    info = {"webpage_url": "https://example.invalid/watch?v=abc", "uploader": "RFS Media Office",
            "channel": "RFS", "timestamp": 1477474620, "upload_date": "20161026", "title": "Su-24",
            "duration": 1.2, "epoch": 1477500000, "formats": ["not copied"]}
    sidecar = tmp_path / "strike video.info.json"
    sidecar.write_text(json.dumps(info))
    report = analyze(clip, load_config("cuts"))
    assert report.input.sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert report.tool.name == "vidforensics" and report.tool.version
    # the libraries that computed it, as installed (a reader can rebuild the same stack)
    import av
    import cv2
    libs = report.tool.libraries
    assert libs["opencv-python"].startswith(cv2.__version__.split("-")[0]) and libs["av"] == av.__version__
    assert libs["ffmpeg"] == str(av.ffmpeg_version_info) and libs["numpy"] == np.__version__
    assert report.parameters["cuts"]["structure_ratio"] == load_config("cuts").cuts.structure_ratio
    src = report.input.source
    assert src.info_json_sha256 == hashlib.sha256(sidecar.read_bytes()).hexdigest()
    assert (src.uploader, src.timestamp, src.upload_date, src.webpage_url) == (
        "RFS Media Office", 1477474620, "20161026", info["webpage_url"])


def test_memory_stays_flat_as_clips_get_longer(tmp_path):
    short, long_ = tmp_path / "short.mp4", tmp_path / "long.mp4"
    _pan_clip(short, 100)
    _pan_clip(long_, 1000)
    cfg = load_config("default")
    peaks = []
    for clip in (short, long_):
        analyze(clip, cfg)  # warm caches (imports, FFT plans) outside the measurement
        tracemalloc.start()
        analyze(clip, cfg)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # 10x the frames may cost a few small numbers per frame, never frames
    assert peaks[1] < peaks[0] + 1000 * 200, peaks


def _specks_shots_clip(path, n_shots, shot=40, size=(256, 144)):
    """Shots of a panning grey sky with dark specks fixed in the scene: each shot's specks are
    tracked (static clutter, never reported) and end with it."""
    def frames():
        for k in range(n_shots):
            rng = np.random.default_rng(k)
            world = (150 + rng.integers(0, 20, (size[1], 2 * size[0], 1))).astype(np.uint8).repeat(3, axis=2)
            for x, y in rng.integers(8, [2 * size[0] - 8, size[1] - 8], (40, 2)):
                world[y - 1:y + 2, x - 1:x + 2] = 90
            for i in range(shot):
                yield np.roll(world, -i, axis=1)[:, : size[0]]
    write_video(path, frames(), 25, crf=30, preset="ultrafast")


def test_tracking_memory_stays_flat_as_shots_add_up(tmp_path):
    # the tracking stage settles each shot's tracks during the pass instead of holding every
    # track to the end (before: +3.5 MB for the 9 extra shots here, ~10 KB a frame)
    short, long_ = tmp_path / "short.mp4", tmp_path / "long.mp4"
    _specks_shots_clip(short, 3)
    _specks_shots_clip(long_, 12)
    cfg = load_config("tracking")
    analyze(short, cfg)  # warm caches
    peaks = []
    for clip in (short, long_):
        tracemalloc.start()
        analyze(clip, cfg)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    extra_frames = 9 * 40
    assert peaks[1] < peaks[0] + extra_frames * 2000, peaks
