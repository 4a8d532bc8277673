"""Container and stream facts, file hash, and the platform's sidecar metadata.

Probing reads headers and the packet index only; it never decodes pictures.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidforensics.errors import InputError, reason
from vidforensics.report.schema import AudioStream, InputInfo, SourceClaims

_SIDECAR_KEYS = ("webpage_url", "uploader", "channel", "timestamp", "upload_date", "title",
                 "duration", "epoch")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _frac(x) -> str | None:
    return None if not x else f"{Fraction(x).numerator}/{Fraction(x).denominator}"


def _str_tags(meta) -> dict[str, str]:
    return {str(k): str(v) for k, v in sorted(dict(meta or {}).items())}


@dataclass
class ProbeInfo:
    """Probe result: the report's ``input`` block plus what the decoder needs."""

    input: InputInfo
    declared_vfr: bool | None


def find_sidecar(path: Path) -> Path | None:
    """yt-dlp writes ``<stem>.info.json`` beside the media; pair by stem."""
    cand = path.with_name(path.stem + ".info.json")
    return cand if cand.is_file() else None


def read_sidecar(sidecar: Path) -> SourceClaims:
    raw = sidecar.read_bytes()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    vals = {}
    for k in _SIDECAR_KEYS:
        v = data.get(k)
        if k in ("timestamp", "epoch") and v is not None:
            try:
                v = int(v)
            except (TypeError, ValueError):
                v = None
        elif k == "duration" and v is not None:
            try:
                v = float(v)
            except (TypeError, ValueError):
                v = None
        elif v is not None:
            v = str(v)
        vals[k] = v
    return SourceClaims(info_json_path=str(sidecar), info_json_sha256=hashlib.sha256(raw).hexdigest(),
                        **vals)


def open_media(path: str | Path) -> "av.container.InputContainer":
    """Open ``path`` for probing and decoding, or say in one line why it cannot be.

    Raises
    ------
    InputError
        Missing, not a regular file, empty, or not a media file FFmpeg can read.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if not path.is_file():
        raise InputError(f"not a regular file: {path}")
    if path.stat().st_size == 0:
        raise InputError("empty file (0 bytes)")
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"not a readable media file ({reason(exc)})") from exc


def probe(path: str | Path, *, container=None, max_width: int = 7680, max_height: int = 4320) -> ProbeInfo:
    """Read container facts of ``path`` without decoding pictures.

    Parameters
    ----------
    container : av container, optional
        ``path`` already opened with :func:`open_media` (left open, so the decoder
        can use it: opening probes the streams, which costs as much as decoding a
        few frames). Opened and closed here when not given.

    Raises
    ------
    InputError
        Missing, empty, not media, no video stream, or larger than the limits.
    """
    path = Path(path)
    if container is None:
        with open_media(path) as own:
            return probe(path, container=own, max_width=max_width, max_height=max_height)
    size = path.stat().st_size
    digest = sha256_file(path)
    audio = [
        AudioStream(
            index=s.index,
            codec=s.codec_context.name if s.codec_context else None,
            sample_rate=getattr(s, "sample_rate", None) or None,
            channels=getattr(s.codec_context, "channels", None) or None,
            duration_s=float(s.duration * s.time_base) if s.duration and s.time_base else None,
        )
        for s in container.streams.audio
    ]
    if not container.streams.video:
        kinds = f"{len(audio)} audio stream(s)" if audio else "no streams"
        raise InputError(f"no video stream ({kinds})")
    vs = container.streams.video[0]
    cc = vs.codec_context
    coded_w, coded_h = int(cc.width or 0), int(cc.height or 0)
    if coded_w <= 0 or coded_h <= 0:
        raise InputError("video stream has no picture size")
    # orientation-agnostic: a portrait phone video may use the landscape limits turned
    if max(coded_w, coded_h) > max(max_width, max_height) or min(coded_w, coded_h) > min(max_width, max_height):
        raise InputError(
            f"picture {coded_w}x{coded_h} exceeds the configured limit {max_width}x{max_height}"
        )
    rotation = _stream_rotation(vs)
    disp_w, disp_h = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    tags = _str_tags(container.metadata)
    stags = _str_tags(vs.metadata)
    duration = float(container.duration / av.time_base) if container.duration else None
    declared_vfr = _index_vfr(vs)
    keyframes = sum(1 for e in (vs.index_entries or []) if e.is_keyframe) or None
    info = InputInfo(
        path=str(path),
        file_name=path.name,
        size_bytes=size,
        sha256=digest,
        container=container.format.name,
        codec=cc.name,
        profile=cc.profile if isinstance(cc.profile, str) else None,
        pixel_format=cc.format.name if cc.format else None,
        width=disp_w,
        height=disp_h,
        coded_width=coded_w,
        coded_height=coded_h,
        rotation_deg=rotation,
        avg_frame_rate=_frac(vs.average_rate),
        real_frame_rate=_frac(vs.base_rate),
        variable_frame_rate=declared_vfr,
        frame_count_declared=int(vs.frames) if vs.frames else None,
        duration_s=duration,
        bit_rate=int(container.bit_rate) if container.bit_rate else None,
        creation_time=tags.get("creation_time") or stags.get("creation_time"),
        encoder=tags.get("encoder") or stags.get("encoder"),
        tags={**{f"format.{k}": v for k, v in tags.items()}, **{f"video.{k}": v for k, v in stags.items()}},
        audio_streams=audio,
        keyframe_count=keyframes,
    )
    sidecar = find_sidecar(path)
    if sidecar is not None:
        info.source = read_sidecar(sidecar)
    return ProbeInfo(input=info, declared_vfr=declared_vfr)


def _stream_rotation(vs) -> int:
    """Display rotation from the stream's display matrix side data (0 when absent)."""
    rot = 0
    try:
        import numpy as np  # local: only here

        sd = vs.side_data if hasattr(vs, "side_data") else None
        if sd:
            for k, v in dict(sd).items():
                if "DISPLAYMATRIX" in str(k).upper():
                    m = np.frombuffer(bytes(v), dtype=np.int32)[:9].astype(float).reshape(3, 3)
                    # FFmpeg av_display_rotation_get: atan2(m[1], m[0]) in 16.16, sign flipped
                    ang = -np.degrees(np.arctan2(m[0, 1] / 65536.0, m[0, 0] / 65536.0))
                    rot = int(round(ang / 90.0)) * 90 % 360
    except Exception:  # side data layout differs between PyAV versions; decode gets it per frame
        rot = 0
    if not rot:
        r = dict(vs.metadata or {}).get("rotate")
        if r:
            try:
                rot = (-int(r)) % 360  # legacy tag is clockwise
            except ValueError:
                rot = 0
    return rot


def _index_vfr(vs) -> bool | None:
    """Variable frame rate from the packet index (None when there is no index)."""
    entries = vs.index_entries
    if not entries or len(entries) < 3:
        return None
    ts = sorted(e.timestamp for e in entries)
    deltas = [b - a for a, b in zip(ts, ts[1:]) if b > a]
    if not deltas:
        return None
    deltas.sort()
    med = deltas[len(deltas) // 2]
    return any(abs(d - med) > 0.02 * med + 1 for d in deltas)


def basic_input(path: str | Path) -> InputInfo | None:
    """The identity of a file we could not probe: name, size and hash when readable."""
    path = Path(path)
    try:
        if not path.is_file():
            return None
        return InputInfo(path=str(path), file_name=path.name, size_bytes=path.stat().st_size,
                         sha256=sha256_file(path))
    except OSError:
        return None
