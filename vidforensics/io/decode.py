"""One streaming decode pass: every stage sees each frame once.

The reader yields :class:`Frame` objects in decode (= presentation) order. Each
carries the container timestamp, picture type and key-frame flag, a small
analysis-size luma/chroma image that is always computed (cheap: integer
decimation of the decoded planes, no colour conversion), and lazy accessors for
the full-resolution picture, which only the stages that need it pay for.

Nothing here keeps frames: memory stays flat whatever the clip length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from vidforensics.errors import DecodeError, reason
from vidforensics.io.heap import keep_freed_buffers

# Planar YUV layouts we can read straight from the decoder's planes.
_PLANAR_YUV = {
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
    "yuv420p10le", "yuv422p10le", "yuv444p10le",
}
_PICT_TYPES = {1: "I", 2: "P", 3: "B", 4: "S", 5: "SI", 6: "SP", 7: "BI"}


def _plane(frame: av.VideoFrame, i: int) -> np.ndarray:
    """Return plane ``i`` as a 2-D array view (no copy), 8-bit."""
    p = frame.planes[i]
    bps = 2 if frame.format.name.endswith("10le") else 1
    dtype = np.uint16 if bps == 2 else np.uint8
    a = np.frombuffer(p, dtype).reshape(p.height, p.line_size // bps)[:, : p.width]
    if bps == 2:
        a = (a >> 2).astype(np.uint8)
    return a


def _shrink(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale to ``size`` (w, h) fast.

    Integer pre-decimation then an area filter: cv2's INTER_AREA is ~6x slower on
    non-integer ratios of a full HD plane, which would cost more than decoding.
    """
    w, h = size
    step = max(1, min(a.shape[1] // (2 * w), a.shape[0] // (2 * h)))
    if step > 1:
        a = a[::step, ::step]
    return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)


def _rotate(a: np.ndarray, rotation: int) -> np.ndarray:
    # FFmpeg's display-matrix rotation is counter-clockwise degrees, as is np.rot90.
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(a, k)) if k else a


def analysis_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """Small analysis image size (w, h) for a display size, keeping aspect."""
    w = max(16, min(width, target_width))
    h = max(8, int(round(height * w / max(width, 1))))
    return w, h


@dataclass(slots=True)
class Frame:
    """One decoded frame as the stages see it.

    Attributes
    ----------
    index : int
        0-based position in decode order.
    time_s : float
        Presentation time from the container timestamps (the authority on
        variable-frame-rate files); NaN when the container has none.
    pict_type : str
        Encoder picture type: ``"I"``, ``"P"``, ``"B"`` or ``"?"``.
    key_frame : bool
        Whether the decoder flagged the frame as a key frame.
    luma_small : ndarray, uint8, (h, w)
        Analysis-size luma, display orientation.
    chroma_small : ndarray, uint8, (h, w, 2)
        Analysis-size Cb/Cr, display orientation.
    """

    index: int
    time_s: float
    pict_type: str
    key_frame: bool
    luma_small: np.ndarray
    chroma_small: np.ndarray
    rotation: int
    _av: av.VideoFrame = field(repr=False)
    _rgb: np.ndarray | None = field(default=None, repr=False)
    _luma: np.ndarray | None = field(default=None, repr=False)

    @property
    def width(self) -> int:
        return self.luma().shape[1]

    @property
    def height(self) -> int:
        return self.luma().shape[0]

    def luma(self) -> np.ndarray:
        """Full-resolution 8-bit luma, display orientation (a view; do not modify)."""
        if self._luma is None:
            if self._av.format.name in _PLANAR_YUV:
                y = _plane(self._av, 0)
            else:
                y = self._av.to_ndarray(format="gray")
            self._luma = _rotate(y, self.rotation)
        return self._luma

    def rgb(self) -> np.ndarray:
        """Full-resolution RGB24 picture, display orientation (cached)."""
        if self._rgb is None:
            self._rgb = _rotate(self._av.to_ndarray(format="rgb24"), self.rotation)
        return self._rgb


def iter_frames(
    source: "str | Path | av.container.InputContainer",
    *,
    analysis_width: int = 160,
    threads: bool = True,
    rotation: int | None = None,
) -> Iterator[Frame]:
    """Decode the first video stream of ``source`` once, in order.

    Parameters
    ----------
    source : path-like or av container
        Media file, or one already opened (which is left open).
    analysis_width : int
        Width of ``Frame.luma_small`` (height follows the display aspect).
    threads : bool
        Let FFmpeg decode with frame/slice threads.
    rotation : int, optional
        Display rotation to apply (degrees counter-clockwise). ``None`` reads it
        from each decoded frame's display matrix.

    Raises
    ------
    DecodeError
        When the container cannot be opened or has no video stream. Errors in
        the middle of the stream (truncated downloads) end the iteration with a
        ``DecodeError`` carrying how many frames were decoded; callers decide
        whether that is a partial result.
    """
    keep_freed_buffers()   # each frame's arrays reuse the last one's pages (see io/heap.py)
    if isinstance(source, (str, Path)):
        try:
            container = av.open(str(source))
        except (av.FFmpegError, OSError) as exc:  # not media, unreadable
            raise DecodeError(f"cannot open as media: {reason(exc)}", frames_decoded=0) from exc
        with container:
            yield from _decode(container, analysis_width, threads, rotation)
    else:
        yield from _decode(source, analysis_width, threads, rotation)


def _decode(container, analysis_width: int, threads: bool, rotation: int | None) -> Iterator[Frame]:
    if not container.streams.video:
        raise DecodeError("no video stream", frames_decoded=0)
    stream = container.streams.video[0]
    if threads:
        stream.thread_type = "AUTO"
    size: tuple[int, int] | None = None
    index = 0
    try:
        for avf in container.decode(stream):
            rot = int(avf.rotation or 0) if rotation is None else rotation
            rot = int(round(rot / 90.0)) * 90 % 360
            if avf.format.name not in _PLANAR_YUV:
                avf = avf.reformat(format="yuv420p")
            y, u, v = _plane(avf, 0), _plane(avf, 1), _plane(avf, 2)
            if size is None:
                dw, dh = (y.shape[0], y.shape[1]) if rot in (90, 270) else (y.shape[1], y.shape[0])
                size = analysis_size(dw, dh, analysis_width)
            # shrink in coded orientation, then rotate the small images
            csize = (size[1], size[0]) if rot in (90, 270) else size
            ys = _rotate(_shrink(y, csize), rot)
            uv = cv2.merge([_shrink(u, csize), _shrink(v, csize)])
            uv = _rotate(uv, rot)
            t = float(avf.time) if avf.time is not None else math.nan
            yield Frame(
                index=index,
                time_s=t,
                pict_type=_PICT_TYPES.get(int(avf.pict_type or 0), "?"),
                key_frame=bool(avf.key_frame),
                luma_small=ys,
                chroma_small=uv,
                rotation=rot,
                _av=avf,
            )
            index += 1
    except av.FFmpegError as exc:
        raise DecodeError(f"decoding stopped after {index} frames: {reason(exc)}",
                          frames_decoded=index) from exc



def read_frame(path: str | Path, index: int, time_s: float) -> np.ndarray:
    """The full-resolution RGB picture of one frame, for evidence images after the pass.

    Seeks to the key frame before ``time_s`` and decodes forward to the frame with
    that presentation time, so memory stays flat however long the clip (the one
    analysis pass never keeps pictures). Without timestamps it counts ``index``
    frames from the start.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if math.isfinite(time_s) and stream.time_base:
            container.seek(max(0, int(time_s / stream.time_base) - 1), stream=stream, backward=True)
            best = None
            for avf in container.decode(stream):
                t = float(avf.time) if avf.time is not None else math.nan
                if best is None or abs(t - time_s) < best[0]:
                    best = (abs(t - time_s), avf)
                if t >= time_s - 1e-6:
                    break
            avf = best[1]
        else:
            for i, avf in enumerate(container.decode(stream)):
                if i >= index:
                    break
        return _rotate(avf.to_ndarray(format="rgb24"), int(round((avf.rotation or 0) / 90.0)) * 90 % 360)
