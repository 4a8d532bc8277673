"""Named stage configurations (``pipelines/*.toml``).

``pipelines/default.toml`` holds every parameter with its value; another
pipeline file overrides only what it changes. The numbers live in the TOML
files, not in the code: the models below only give them types and bounds.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from vidforensics.cuts.boundaries import CutParams
from vidforensics.cuts.fingerprint import FingerprintParams
from vidforensics.errors import ConfigError
from vidforensics.motion import MotionParams
from vidforensics.shadows.compare import CompareParams
from vidforensics.shadows.estimate import ShadowParams
from vidforensics.shadows.stage import ShadowSamplingParams
from vidforensics.solar import SolarParams
from vidforensics.tracking.stage import TrackingParams


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LimitsParams(_Strict):
    max_width: int
    max_height: int


class DecodeParams(_Strict):
    analysis_width: int
    threads: bool


class Config(_Strict):
    """A resolved pipeline: which stages run, and every parameter they use."""

    name: str
    description: str = ""
    stages: list[str]
    limits: LimitsParams
    decode: DecodeParams
    cuts: CutParams
    fingerprint: FingerprintParams
    shadows: ShadowParams
    shadow_sampling: ShadowSamplingParams
    shadow_compare: CompareParams
    solar: SolarParams
    tracking: TrackingParams
    motion: MotionParams


KNOWN_STAGES = ("cuts", "fingerprint", "shadows", "tracking")


def pipelines_dir() -> Path:
    """Where the named pipelines live: inside an installed wheel, or the source tree."""
    here = Path(__file__).resolve().parent
    for cand in (here / "pipelines", here.parent / "pipelines"):
        if (cand / "default.toml").is_file():
            return cand
    raise ConfigError("pipelines/default.toml not found: the installation is incomplete")


def available_pipelines() -> list[str]:
    return sorted(p.stem for p in pipelines_dir().glob("*.toml"))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"pipeline file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"pipeline file {path.name} is not valid TOML: {exc}") from None


def load_config(name_or_path: str | Path = "default") -> Config:
    """Load a named pipeline (``"cuts"``) or a TOML file, over the defaults."""
    base = _read_toml(pipelines_dir() / "default.toml")
    spec = str(name_or_path)
    if spec.endswith(".toml") or "/" in spec or Path(spec).is_file():
        over = _read_toml(Path(spec))
    elif spec == "default":
        over = {}
    else:
        path = pipelines_dir() / f"{spec}.toml"
        if not path.is_file():
            raise ConfigError(f"unknown pipeline {spec!r}; available: {', '.join(available_pipelines())}")
        over = _read_toml(path)
    try:
        cfg = Config.model_validate(_merge(base, over))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"invalid pipeline {spec!r}: {loc}: {err['msg']}") from None
    unknown = [s for s in cfg.stages if s not in KNOWN_STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown} in pipeline {spec!r}; known: {list(KNOWN_STAGES)}")
    return cfg
