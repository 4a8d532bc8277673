"""Write one segment of a clip as its own evidence clip, with a provenance record.

This is the one place that runs the ffmpeg program: the binary shipped in the
imageio-ffmpeg wheel, driven through ffmpeg-python. Analysis never shells out.
"""
from __future__ import annotations

import json
from pathlib import Path

import ffmpeg
import imageio_ffmpeg

from vidforensics import __version__
from vidforensics.errors import OutputError, VidforensicsError
from vidforensics.io.probe import sha256_file
from vidforensics.report.schema import Report, Segment


def export_segment(clip: Path, report: Report, segment: int, out_dir: Path, *, crf: int = 10) -> Path:
    """Re-encode frames ``[start_frame, end_frame)`` of ``segment`` to ``out_dir``.

    Frame-exact trimming needs a re-encode (a stream copy can only start on a key
    frame). The copy is near-lossless (x264 CRF ``crf``); the provenance JSON beside
    it records the source hash, the frame range and the exact command.
    """
    if report.input is None or report.status == "error":
        raise VidforensicsError(f"no usable analysis of {clip.name}: cannot export segments")
    if report.input.sha256 != sha256_file(clip):
        raise VidforensicsError("the report was made from a different file (SHA-256 differs)")
    if not 0 <= segment < len(report.segments):
        raise VidforensicsError(f"segment {segment} does not exist; the clip has {len(report.segments)} "
                                f"(0-{len(report.segments) - 1})")
    seg: Segment = report.segments[segment]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") from None
    stem = f"{clip.stem}-segment{segment:03d}"
    target = out_dir / f"{stem}.mp4"
    if target.exists():
        raise OutputError(f"{target} exists already; not overwriting evidence")
    src = ffmpeg.input(str(clip))
    video = src.video.trim(start_frame=seg.start_frame, end_frame=seg.end_frame).setpts("PTS-STARTPTS")
    streams = [video]
    if report.input.audio_streams:
        streams.append(src.audio.filter("atrim", start=seg.start_s, end=seg.end_s).filter("asetpts", "PTS-STARTPTS"))
    out = ffmpeg.output(*streams, str(target), vcodec="libx264", crf=crf, preset="medium", pix_fmt="yuv420p",
                        movflags="+faststart", map_metadata=-1, fps_mode="passthrough")
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    args = out.compile(cmd=exe)
    try:
        out.run(cmd=exe, quiet=True, overwrite_output=False)
    except ffmpeg.Error as exc:
        tail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or ["ffmpeg failed"]
        target.unlink(missing_ok=True)
        raise VidforensicsError(f"export failed: {tail[0][:200]}") from None
    provenance = {
        "tool": {"name": "vidforensics", "version": __version__},
        "source": {"file_name": clip.name, "sha256": report.input.sha256},
        "segment": segment, "start_frame": seg.start_frame, "end_frame": seg.end_frame,
        "start_s": seg.start_s, "end_s": seg.end_s,
        "output": {"file_name": target.name, "sha256": sha256_file(target)},
        "command": [Path(args[0]).name] + args[1:],
    }
    (out_dir / f"{stem}.json").write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    return target
