"""Writing reports: atomic, never overwriting a different report, never beside the input."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from vidforensics.errors import OutputError
from vidforensics.report.schema import Report


def report_json(report: Report) -> str:
    """Canonical JSON text: same report, same bytes (sorted keys are not used, field order is the schema's)."""
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def check_out_dir(out_dir: Path, inputs: list[Path]) -> None:
    """Refuse an output folder that is an input's folder: evidence folders stay untouched."""
    out = out_dir.resolve()
    for p in inputs:
        if p.parent.resolve() == out:
            raise OutputError(f"refusing to write reports into the input's folder {out}; choose another --out")


def write_report(report: Report, out_dir: Path, stem: str) -> Path:
    """Write ``<out_dir>/<stem>.json`` atomically and return its path.

    If that name holds a different report already (another clip with the same
    name, or other settings), the report goes to ``<stem>-<sha8>.json`` and then
    ``<stem>-<sha8>-2.json``..., so no report is ever lost or overwritten. A name
    holding the very same bytes is reused (re-running is idempotent).
    """
    text = report_json(report).encode("utf-8")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") from None
    sha8 = report.input.sha256[:8] if report.input else "nohash"
    names = [f"{stem}.json", f"{stem}-{sha8}.json"] + [f"{stem}-{sha8}-{i}.json" for i in range(2, 1000)]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vidforensics-", suffix=".tmp", dir=out_dir)
    except OSError as exc:
        raise OutputError(f"cannot write in {out_dir}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        for name in names:
            target = out_dir / name
            try:
                os.link(tmp, target)  # atomic, and fails rather than replace an existing file
                return target
            except FileExistsError:
                try:
                    if target.read_bytes() == text:
                        return target
                except OSError:
                    pass
        raise OutputError(f"too many reports named {stem}*.json in {out_dir}")
    except OSError as exc:
        raise OutputError(f"cannot write report in {out_dir}: {exc.strerror or exc}") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
