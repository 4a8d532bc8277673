"""Command line: a thin layer over :func:`vidforensics.analyze`.

Exit codes: 0 every clip analysed (``ok`` or ``partial``), 1 any clip failed
(the others still get their reports), 2 usage errors.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from vidforensics import __version__
from vidforensics.claims import ClaimsError, load_claims
from vidforensics.config import available_pipelines, load_config
from vidforensics.errors import ConfigError, OutputError, VidforensicsError
from vidforensics.pipeline import analyze
from vidforensics.provenance import tool_info
from vidforensics.report.schema import ErrorInfo, Report, json_schema
from vidforensics.report.evidence import write_evidence
from vidforensics.report.write import check_out_dir, write_report

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Forensic analysis of downloaded video: one JSON report per clip.")


def _fail(message: str, code: int) -> None:
    typer.echo(f"vidforensics: error: {message}", err=True)
    raise typer.Exit(code)


def _run_one(clip: Path, cfg, claims, scale, show_progress: bool) -> Report:
    if not show_progress:
        return _safe_analyze(clip, cfg, claims, scale, None)
    with typer.progressbar(length=1, label=clip.name[:40], file=sys.stderr) as bar:
        state = {"done": 0}

        def progress(done: int, total: int | None) -> None:
            if total and bar.length != total:
                bar.length = total
            bar.update(done - state["done"])
            state["done"] = done

        return _safe_analyze(clip, cfg, claims, scale, progress)


def _safe_analyze(clip: Path, cfg, claims, scale, progress) -> Report:
    try:
        return analyze(clip, cfg, claims=claims, scale=scale, progress=progress)
    except ClaimsError:
        raise  # the claims file is wrong for this clip: a usage error, said once in analyze_cmd
    except Exception as exc:  # a bug must still leave a report and a one-line message, not a traceback
        return Report(tool=tool_info(), status="error",
                      error=ErrorInfo(message=f"internal error ({type(exc).__name__}: {exc})"[:300]),
                      parameters=cfg.model_dump(mode="json"))


@app.command("analyze")
def analyze_cmd(
    clips: List[Path] = typer.Argument(..., help="Clips to analyse."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the reports (not an input's folder)."),
    pipeline: str = typer.Option("default", "--pipeline", "-p", help="Pipeline name or TOML file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no per-clip lines."),
    claims_file: Optional[Path] = typer.Option(None, "--claims", "-c",
                                               help="JSON claims to test (same_time_of_day, filmed_at)."),
    scale_items: Optional[List[str]] = typer.Option(
        None, "--scale", help="Metric scale for tracked descents, KEY=VALUE (repeatable): m_per_px, "
                              "or distance_m with focal_px, or object_length_m; rel_sigma (relative 1 sigma)."),
) -> None:
    """Analyse CLIPS and write one JSON report per clip into --out."""
    try:
        cfg = load_config(pipeline)
        check_out_dir(out, clips)
        claims = load_claims(claims_file) if claims_file is not None else None
        if claims is not None and "shadows" not in cfg.stages:
            raise ConfigError(f"--claims needs the shadow stage, which pipeline '{cfg.name}' does not run: "
                              "use --pipeline shadows")
        scale = _parse_scale(scale_items) if scale_items else None
        if scale is not None and "tracking" not in cfg.stages:
            raise ConfigError(f"--scale needs the tracking stage, which pipeline '{cfg.name}' does not run: "
                              "use --pipeline tracking")
    except (ConfigError, OutputError, ClaimsError) as exc:
        _fail(str(exc), 2)
    show_progress = not quiet and sys.stderr.isatty()
    failed = 0
    for clip in clips:
        try:
            report = _run_one(clip, cfg, claims, scale, show_progress)
        except ClaimsError as exc:
            _fail(f"{clip.name}: {exc}", 2)
        try:
            write_evidence(clip, report, out)
            target = write_report(report, out, clip.stem or "clip")
        except OutputError as exc:
            typer.echo(f"vidforensics: error: {clip.name}: {exc}", err=True)
            failed += 1
            continue
        if report.status == "error":
            failed += 1
            typer.echo(f"vidforensics: error: {clip.name}: {report.error.message} (report: {target})", err=True)
        elif not quiet:
            segs = len(report.segments)
            note = f" [partial: {report.missing[0]}]" if report.status == "partial" and report.missing else ""
            typer.echo(f"{clip.name}: {segs} segment{'s' if segs != 1 else ''} -> {target}{note}")
    raise typer.Exit(1 if failed else 0)


def _parse_scale(items: list[str]):
    """``["m_per_px=0.05", "rel_sigma=0.1"]`` -> Scale; a one-line ConfigError when it is not one."""
    from pydantic import ValidationError

    from vidforensics.tracking.kinematics import Scale

    values: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--scale {item!r}: expected KEY=VALUE (m_per_px=0.05)")
        try:
            values[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--scale {item!r}: {value!r} is not a number") from None
        if not values[key.strip()] > 0 and key.strip() != "rel_sigma":
            raise ConfigError(f"--scale {item!r}: must be positive")
    try:
        scale = Scale(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"--scale: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    if scale.resolve(1.0) is None or (scale.distance_m is None) != (scale.focal_px is None):
        raise ConfigError("--scale: give m_per_px, or distance_m and focal_px, or object_length_m")
    return scale


@app.command("schema")
def schema_cmd() -> None:
    """Print the report's JSON Schema."""
    typer.echo(json.dumps(json_schema(), indent=2))


@app.command("pipelines")
def pipelines_cmd() -> None:
    """List the named pipelines."""
    try:
        for name in available_pipelines():
            typer.echo(f"{name}: {load_config(name).description}")
    except ConfigError as exc:
        _fail(str(exc), 2)


@app.command("export")
def export_cmd(
    clip: Path = typer.Argument(..., help="The clip the report was made from."),
    segment: int = typer.Option(..., "--segment", "-s", help="Segment index (from the report)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the evidence clip."),
    report_file: Optional[Path] = typer.Option(None, "--report", "-r", help="Report JSON; analysed anew if absent."),
    pipeline: str = typer.Option("default", "--pipeline", "-p"),
) -> None:
    """Write one segment of CLIP as its own evidence clip (frame-exact) with provenance."""
    from vidforensics.export import export_segment  # ffmpeg-python only loads for this command

    try:
        check_out_dir(out, [clip])
        if report_file is not None:
            try:
                report = Report.model_validate_json(report_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                _fail(f"cannot read report {report_file}: {str(exc).splitlines()[0][:200]}", 2)
        else:
            report = analyze(clip, load_config(pipeline))
        target = export_segment(clip, report, segment, out)
    except (ConfigError, OutputError) as exc:
        _fail(str(exc), 2)
    except VidforensicsError as exc:
        _fail(str(exc), 1)
    typer.echo(str(target))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"vidforensics {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                      callback=_print_version)) -> None:
    """Forensic analysis of downloaded video: one JSON report per clip."""


if __name__ == "__main__":
    app()
