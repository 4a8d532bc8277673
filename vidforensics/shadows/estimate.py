"""Image-plane cast-shadow direction from one frame (INTERFACE STUB: being implemented).

Conventions (the report's): ``direction_deg`` is the direction from a caster's
base toward its shadow's tip, ``atan2(dy, dx)`` in pixel coordinates (x right,
y down), degrees in [0, 360), evaluated at the image centre.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict


class ShadowParams(BaseModel):
    """Every number the shadow estimator uses (values: ``[shadows]`` in pipelines/default.toml)."""

    model_config = ConfigDict(extra="forbid")
    analysis_width: int


@dataclass
class ShadowCue:
    """One caster/shadow pair: base and tip in full-frame pixel coordinates."""

    base: tuple[float, float]
    tip: tuple[float, float]
    kind: str          # "pole", "edge", "blob", ...
    weight: float


@dataclass
class ShadowEstimate:
    direction_deg: float | None
    uncertainty_deg: float | None     # 1-sigma
    confidence: float                 # 0..1
    method: str
    cues: list[ShadowCue] = field(default_factory=list)
    vanishing_point: tuple[float, float] | None = None
    reason: str | None = None         # why direction_deg is None


def estimate_shadow_direction(rgb: np.ndarray, params: ShadowParams) -> ShadowEstimate:
    return ShadowEstimate(None, None, 0.0, "stub", reason="not implemented")


def combine_estimates(estimates: list[ShadowEstimate], params: ShadowParams) -> ShadowEstimate:
    return ShadowEstimate(None, None, 0.0, "stub", reason="not implemented")
