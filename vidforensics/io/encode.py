"""Writing test, sample and benchmark clips in-process with PyAV.

Analysis never encodes; this exists so that tests, benchmarks and the bundled
sample make real H.264 files with exact ground truth through one code path.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import av
import numpy as np


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float | Fraction = 25,
    *,
    crf: int = 20,
    preset: str = "veryfast",
    gop: int | None = None,
    times_s: Sequence[float] | None = None,
    rotation: int = 0,
    audio: np.ndarray | None = None,
    audio_rate: int = 16000,
    deterministic: bool = True,
) -> int:
    """Encode RGB frames to an H.264/MP4 file; return the number of frames written.

    Parameters
    ----------
    frames : iterable of (H, W, 3) uint8 RGB arrays (H and W even)
    fps : nominal frame rate
    crf, preset, gop : x264 quality, speed and key-frame interval (None: x264's default)
    times_s : optional presentation time of each frame (variable frame rate);
        the time base is then 1/90000 s.
    rotation : display rotation in degrees counter-clockwise, written into the
        stream's display matrix as phones do.
    audio : optional mono float32 samples in [-1, 1], encoded as AAC.
    deterministic : one encoder thread, so the same input gives the same bytes.
    """
    fps = Fraction(fps).limit_denominator(100000)
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.pix_fmt = "yuv420p"
        opts = {"crf": str(crf), "preset": preset}
        if gop is not None:
            opts.update({"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"})
        if deterministic:
            opts["threads"] = "1"
        vs.options = opts
        if times_s is not None:
            vs.codec_context.time_base = Fraction(1, 90000)
        if rotation:
            vs.set_display_rotation(rotation)
        ast = None
        if audio is not None:
            ast = out.add_stream("aac", rate=audio_rate)
            ast.layout = "mono"
        n = 0
        for i, img in enumerate(frames):
            if n == 0:
                vs.width, vs.height = img.shape[1], img.shape[0]
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            if times_s is not None:
                vf.pts = int(round(times_s[i] * 90000))
                vf.time_base = Fraction(1, 90000)
            else:
                vf.pts = i
                vf.time_base = 1 / fps
            for pkt in vs.encode(vf):
                out.mux(pkt)
            n += 1
        for pkt in vs.encode():
            out.mux(pkt)
        if ast is not None:
            _encode_audio(out, ast, audio, audio_rate)
    return n


def _encode_audio(out, stream, audio: np.ndarray, rate: int) -> None:
    samples = np.asarray(audio, dtype=np.float32).reshape(1, -1)
    for k in range(0, samples.shape[1], 1024):
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024]), format="fltp", layout="mono")
        af.sample_rate = rate
        af.pts = k
        for pkt in stream.encode(af):
            out.mux(pkt)
    for pkt in stream.encode():
        out.mux(pkt)


def write_audio_only(path: str | Path, audio: np.ndarray, rate: int = 16000) -> None:
    """An MP4 holding one mono AAC stream and no video (a bad input the tests need)."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        _encode_audio(out, stream, audio, rate)
