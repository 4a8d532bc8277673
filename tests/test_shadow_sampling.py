"""Which frames the shadow stage estimates, on real decoded clips (the estimator itself runs on a thread)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidforensics import load_config
from vidforensics.io.decode import iter_frames
from vidforensics.io.encode import write_video
from vidforensics.io.probe import open_media
from vidforensics.shadows.stage import ShadowCollector

FPS = 25
W, H = 192, 128


def _texture(seed: int, w: int, h: int, block: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // block, w // block, 3), dtype=np.uint8)
    return np.kron(small, np.ones((block, block, 1), np.uint8))


def _collect(path, cfg) -> ShadowCollector:
    col = ShadowCollector(cfg.shadows, cfg.shadow_sampling)
    with open_media(path) as c:
        for f in iter_frames(c, analysis_width=cfg.decode.analysis_width, threads=True):
            col.process(f)
    return col


@pytest.fixture(scope="module")
def cfg():
    return load_config("shadows")


def test_a_still_shot_is_sampled_at_growing_gaps(tmp_path, cfg):
    img = _texture(0, W, H)
    path = tmp_path / "still.mp4"
    write_video(path, (img for _ in range(20 * FPS)), FPS)
    col = _collect(path, cfg)
    s = cfg.shadow_sampling
    frames = [x.index for x in col._samples]
    gaps = np.diff(frames) / FPS
    # 0, 2, 6 s: each gap interval_growth times the last, then no more of the same view
    assert len(frames) == s.max_per_view == 3, frames
    assert frames[0] <= s.settle_frames + 1
    assert gaps == pytest.approx([s.every_s * s.interval_growth ** k for k in range(2)], abs=1.5 / FPS)
    shadow = col.summarize(0, 20 * FPS)    # waits for the worker thread
    assert shadow.direction_deg is None and shadow.reason   # noise has no cast shadows
    assert all(x.estimate is not None for x in col._samples)
    # the shadow benchmark's segment set estimates these very frames of its hand-held shots
    assert _benchmark().stage_sample_frames(FPS) == frames


def test_a_shot_outvoted_by_contradicting_frames_publishes_no_direction_and_no_vanishing_point(tmp_path, cfg):
    """The stage benchmark's zoomed shot (seed 2000): one sampled frame claimed 196 deg with a
    vanishing point, the other two found rays that contradict each other. The shot reports no
    direction and no vanishing point; the frame that had one is still named, and its cues drawn."""
    from vidforensics.shadows.estimate import ShadowCue, ShadowEstimate

    img = _texture(1, W, H)
    path = tmp_path / "still.mp4"
    write_video(path, (img for _ in range(10 * FPS)), FPS)
    col = _collect(path, cfg)
    col._finish()
    assert len(col._samples) == 3
    lone = ShadowEstimate(196.0, 1.7, 0.27, "pole rays", [ShadowCue((10.0, 20.0), (40.0, 30.0), "pole-faint", 1.0)],
                          (500.0, -300.0))
    contested = ShadowEstimate(None, None, 0.1, "pole rays", reason="pole shadows disagree (2 of 6 consistent)",
                               contested=True)
    for x, e in zip(col._samples, (contested, lone, contested)):
        x.estimate = e
    shadow = col.summarize(0, 10 * FPS)
    assert shadow.direction_deg is None and "contradict" in shadow.reason
    assert shadow.vanishing_point is None
    assert shadow.frames_used == [col._samples[1].index] == [shadow.evidence_frame]
    assert [c.kind for c in shadow.evidence_cues] == ["pole-faint"]


def _benchmark():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import shadows
    return shadows


def test_a_pan_is_sampled_every_few_seconds(tmp_path, cfg):
    # soft 32 px blobs: a 3 px step changes a frame by a few levels (calm, as a real pan is),
    # 2 s of panning (150 px) shows another view
    big = cv2.GaussianBlur(_texture(1, W * 6, H, block=32), (0, 0), 6)

    def pan():
        for i in range(12 * FPS):
            x = 3 * i   # 3 px a frame: calm frame to frame, another view after a few seconds
            yield big[:, x:x + W]
    path = tmp_path / "pan.mp4"
    write_video(path, pan(), FPS)
    col = _collect(path, cfg)
    gaps = np.diff([x.index for x in col._samples]) / FPS
    # the view keeps changing, so the gap never grows
    assert len(gaps) >= 4 and np.all(gaps == pytest.approx(cfg.shadow_sampling.every_s, abs=1.5 / FPS)), gaps


def test_a_new_shot_is_sampled_soon_after_the_cut(tmp_path, cfg):
    a, b = _texture(2, W, H), _texture(3, W, H)
    path = tmp_path / "cut.mp4"
    write_video(path, [a] * (10 * FPS) + [b] * (3 * FPS), FPS)
    col = _collect(path, cfg)
    after = [x.index for x in col._samples if x.index >= 10 * FPS]
    assert after and after[0] <= 10 * FPS + cfg.shadow_sampling.settle_frames + 1


def test_a_failed_pass_leaves_no_estimator_thread(tmp_path, cfg):
    import threading

    from vidforensics import analyze

    path = tmp_path / "still.mp4"
    write_video(path, (_texture(4, W, H) for _ in range(4 * FPS)), FPS)

    def interrupt(done, _total):
        if done == 3 * FPS:
            raise KeyboardInterrupt   # the user pressed Ctrl-C part-way
    with pytest.raises(KeyboardInterrupt):
        analyze(path, cfg, progress=interrupt)
    workers = [t for t in threading.enumerate() if t.name.startswith("vidforensics-shadows")]
    for t in workers:
        t.join(timeout=10)   # the estimate under way finishes; queued ones are dropped
    assert not any(t.is_alive() for t in workers)


def test_sampled_pictures_are_kept_within_their_budget(tmp_path, cfg):
    """The pass keeps sampled frames for the checks (they spare a seek each) while its memory
    budget lasts; a kept picture is the frame a seek reads back, and beyond the budget the
    collector says so (None) rather than keeping more."""
    from vidforensics.io.decode import read_frame

    path = tmp_path / "cut.mp4"
    write_video(path, [_texture(5, W, H)] * (8 * FPS) + [_texture(6, W, H)] * (8 * FPS), FPS)
    col = _collect(path, cfg)
    idx = [x.index for x in col._samples]
    assert len(idx) >= 4
    for i in idx:
        assert np.array_equal(col.picture(i), read_frame(path, i, i / FPS))
    two = 2 * W * H * 3 / 2 ** 20
    tight = cfg.model_copy(update={"shadow_sampling": cfg.shadow_sampling.model_copy(
        update={"keep_pictures_mb": two})})
    col = _collect(path, tight)
    kept = [x.index for x in col._samples if col.picture(x.index) is not None]
    assert kept == idx[:2]
    assert col.picture(10 ** 6) is None
