"""The forensic report: typed models that are also the shipped JSON Schema.

``vidforensics schema`` prints ``Report.model_json_schema()``; tests validate
every report they produce against it, so code and schema cannot drift apart.
Bump ``SCHEMA_VERSION`` on any change an existing reader would notice.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.4"

BoundaryKind = Literal["start", "cut", "dissolve", "fade", "jump_cut"]
Status = Literal["ok", "partial", "error"]
Severity = Literal["info", "notice", "warning"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tool(_Model):
    name: str = "vidforensics"
    version: str
    libraries: dict[str, str] = Field(
        default_factory=dict,
        description="Versions of Python, FFmpeg (in PyAV) and the libraries that computed the report: "
                    "the same input, settings and libraries give the same report")


class SourceClaims(_Model):
    """What the hosting platform says about the clip (yt-dlp ``.info.json``).

    These are claims by the platform about the upload, not facts about when or
    where the footage was filmed. ``timestamp`` is an upper bound on filming time.
    """

    info_json_path: str
    info_json_sha256: str
    webpage_url: Optional[str] = None
    uploader: Optional[str] = None
    channel: Optional[str] = None
    timestamp: Optional[int] = Field(None, description="upload time, Unix seconds (platform claim)")
    upload_date: Optional[str] = Field(None, description="YYYYMMDD (platform claim)")
    title: Optional[str] = None
    duration: Optional[float] = None
    epoch: Optional[int] = Field(None, description="when yt-dlp fetched the metadata, Unix seconds")


class AudioStream(_Model):
    index: int
    codec: Optional[str] = None
    sample_rate: Optional[int] = None
    channels: Optional[int] = None
    duration_s: Optional[float] = None


class InputInfo(_Model):
    """Facts about the file and its container, before any analysis."""

    path: str = Field(description="the path as given to the tool (identity is the sha256)")
    file_name: str
    size_bytes: int
    sha256: str
    container: Optional[str] = None
    codec: Optional[str] = None
    profile: Optional[str] = None
    pixel_format: Optional[str] = None
    width: Optional[int] = Field(None, description="display width, rotation applied")
    height: Optional[int] = Field(None, description="display height, rotation applied")
    coded_width: Optional[int] = None
    coded_height: Optional[int] = None
    rotation_deg: int = Field(0, description="display rotation, degrees counter-clockwise")
    fps: Optional[float] = Field(None, description="decoded frames / decoded time span")
    avg_frame_rate: Optional[str] = None
    real_frame_rate: Optional[str] = Field(None, description="FFmpeg r_frame_rate (base rate)")
    variable_frame_rate: Optional[bool] = None
    frame_interval_s: Optional[dict[str, float]] = Field(
        None, description="min / median / max interval between decoded frames"
    )
    frame_count: Optional[int] = Field(None, description="frames actually decoded")
    frame_count_declared: Optional[int] = None
    duration_s: Optional[float] = None
    bit_rate: Optional[int] = None
    creation_time: Optional[str] = None
    encoder: Optional[str] = None
    tags: dict[str, str] = Field(default_factory=dict)
    audio_streams: list[AudioStream] = Field(default_factory=list)
    keyframe_count: Optional[int] = None
    source: Optional[SourceClaims] = None


class Boundary(_Model):
    """How a segment begins.

    For a hard or jump cut, ``frame`` is the first frame of the new segment. For a
    gradual transition (dissolve, fade), ``first_frame``..``last_frame`` is the
    transition interval and ``frame`` the frame where the new segment starts.
    """

    kind: BoundaryKind
    frame: int
    time_s: float
    score: float = Field(ge=0.0, le=1.0)
    signals: list[str] = Field(default_factory=list)
    first_frame: Optional[int] = None
    last_frame: Optional[int] = None
    measurements: dict[str, float] = Field(default_factory=dict)


class Bars(_Model):
    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0


class Fingerprint(_Model):
    """Technical look of a segment: what an encode and a camera leave behind."""

    frames_sampled: int
    effective_resolution: Literal["native", "upscaled", "inconclusive"] = Field(
        "inconclusive", description="verdict of the spectral test; effective_* are null when inconclusive")
    effective_width: Optional[int] = None
    effective_height: Optional[int] = None
    effective_scale: Optional[float] = Field(None, description="effective / coded size (1 = native)")
    noise_sigma: Optional[float] = Field(None, description="luma noise, 8-bit levels")
    blockiness: Optional[float] = Field(None, description="8x8 grid edge excess, 1 = none")
    sharpness: Optional[float] = None
    bars: Bars = Field(default_factory=Bars)
    duplicate_frame_ratio: Optional[float] = None
    blended_frame_ratio: Optional[float] = None
    brightness_mean: Optional[float] = None
    brightness_std: Optional[float] = None
    contrast: Optional[float] = None
    saturation_mean: Optional[float] = None
    color_mean_rgb: Optional[list[float]] = None
    source_group: int = 0


class ShadowCueOut(_Model):
    base: list[float]
    tip: list[float]
    kind: str = Field(description="what the cue is: pole (a caster's shadow stripe, darker than the ground on both "
                                  "sides), pole-faint (a faint stripe of steady darkness), shadow-outline (a broad "
                                  "shadow's bluish edge leaving its caster's corner), box (a building shadow's edge), "
                                  "edge (a shadow line)")


class Shadow(_Model):
    """Dominant cast-shadow direction of a segment, in the image plane.

    ``direction_deg`` is the direction from a caster's base toward its shadow's tip,
    ``atan2(dy, dx)`` in pixel coordinates (x right, y down), in [0, 360), at the
    image centre of the segment's evidence frame; null when the footage cannot
    support one (``reason`` says why).
    """

    direction_deg: Optional[float] = None
    uncertainty_deg: Optional[float] = Field(
        None, description="1 sigma, calibrated to hold the truth ~68 % of the time; the errors have heavier "
                          "tails than a normal: +-2.3 sigma holds 95 % (Student t, 5 degrees of freedom)")
    confidence: float = Field(0.0, ge=0.0, le=1.0)
    cues: int = Field(0, description="caster/shadow pairs and shadow lines used")
    frames_used: list[int] = Field(default_factory=list,
                                   description="sampled frames whose own estimate gave a direction; the segment's "
                                               "direction may still be refused when other sampled frames' shadows "
                                               "contradicted it (reason)")
    method: str
    reason: Optional[str] = None
    vanishing_point: Optional[list[float]] = None
    evidence_frame: Optional[int] = None
    evidence_cues: list[ShadowCueOut] = Field(default_factory=list,
                                              description="the evidence frame's strongest cues, pixels")
    evidence_png: Optional[str] = Field(None, description="path relative to the report's folder")


class Segment(_Model):
    index: int
    start_frame: int = Field(description="0-based, inclusive")
    end_frame: int = Field(description="exclusive")
    start_s: float
    end_s: float
    boundary: Boundary
    fingerprint: Optional[Fingerprint] = None
    shadow: Optional[Shadow] = None


class Evidence(_Model):
    segments: list[int] = Field(default_factory=list)
    frames: list[int] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)


class Finding(_Model):
    severity: Severity
    kind: str
    summary: str
    evidence: Evidence


class Check(_Model):
    """A test of a claim about the clip (``same_time_of_day``, ``filmed_at``)."""

    name: str
    segments: list[int]
    verdict: Literal["consistent", "inconsistent", "inconclusive"]
    summary: str
    measurements: dict[str, Any] = Field(default_factory=dict)
    evidence_png: Optional[str] = Field(None, description="path relative to the report's folder")


class DescentCriterion(_Model):
    name: str
    f: Optional[float] = None
    p: Optional[float] = None
    bic_cv: Optional[float] = None
    bic_ca: Optional[float] = None


class DescentMetric(_Model):
    """The descent in metres, from a scale the investigator gave (``--scale``)."""

    m_per_px: Optional[float] = None
    vy_m_s: Optional[float] = None
    vy_sigma_m_s: Optional[float] = None
    ay_m_s2: Optional[float] = None
    ay_sigma_m_s2: Optional[float] = None


class Descent(_Model):
    """How a tracked object moves in the scene (camera motion removed), at the zoom of its first frame.

    ``vy_px_s`` is positive downwards. Without a scale, free fall shows as an
    acceleration over velocity of about 1/(time since release); under a canopy
    the acceleration is about 0. ``inconclusive`` when the signal is too small for
    the camera-motion and position errors (``reason`` says which).
    """

    kind: Literal["retarded", "free_fall", "not_descending", "inconclusive"]
    model: Optional[Literal["cv", "ca"]] = Field(None, description="constant velocity or constant acceleration")
    reason: Optional[str] = None
    vy_px_s: Optional[float] = None
    vy_sigma_px_s: Optional[float] = None
    ay_px_s2: Optional[float] = None
    ay_sigma_px_s2: Optional[float] = None
    vx_px_s: Optional[float] = None
    a_over_v_per_s: Optional[float] = None
    a_over_v_sigma: Optional[float] = None
    release_before_first_s: Optional[float] = None
    criterion: DescentCriterion
    duration_s: Optional[float] = None
    points_used: int = 0
    residual_px: Optional[float] = None
    motion_residual_px: Optional[float] = None
    metric: Optional[DescentMetric] = None


class TrackStart(_Model):
    frame: int
    time_s: float


class TrackEnd(_Model):
    kind: Literal["impact", "left_frame", "lost", "cut", "clip_end"]
    frame: int
    time_s: float
    x: float
    y: float


class Track(_Model):
    """One small object followed frame to frame (a bomb, a canopy, an aircraft, a flare, a bird)."""

    id: int
    segment: int
    object_kind: str = Field(description="falling, aircraft, flare, sideways, unresolved (moves in the picture; the camera's motion is unknown, so how it moves in the scene is too); erratic only where the camera's motion is unknown (its path in the picture: a bird's, or a falling object's under a shaking hand; an erratic path in the scene is a bird's or an insect's and is not reported)")
    points: list[tuple[int, float, float]] = Field(description="[frame, x, y] in that frame's pixel coordinates")
    repeated_frames: list[int] = Field(
        default_factory=list, description="frames whose point repeats the previous one to 0.001 px: H.264 showed "
                                          "a block copied from an earlier frame there; drawn, never fitted")
    scene_points: list[tuple[int, float, float, float, float]] = Field(
        default_factory=list, description="[frame, time_s, x, y, sigma_px]: the positions the descent was fitted "
                                          "to, camera motion removed, in the pixels of the track's first frame")
    descent: Descent
    size_px: float
    contrast: float
    snr: float
    noise: float = Field(description="luma noise sigma around the object, 8-bit levels")
    start: TrackStart
    end: TrackEnd
    evidence_png: Optional[str] = Field(None, description="trajectory overlay, path relative to the report's folder")
    plot_png: Optional[str] = Field(None, description="position against time with both fitted models")


class CameraMotion(_Model):
    """Global camera motion from the shared decode pass (``vidforensics.motion``).

    A run is a stretch of frames registered to one reference frame; a cut or an
    unregistrable frame starts the next. Frames where camera motion cannot be
    separated from object motion (sky only, texture-poor) are not reliable.
    """

    frames: int = 0
    reliable_share: float = 0.0
    work_factor: int = Field(1, description="full-resolution pixels per working pixel")
    runs: list[dict[str, Any]] = Field(default_factory=list,
                                       description="per run: reference and frames, reliable share, residuals (px), "
                                                   "keyframes, models chosen, why frames were unreliable")
    descending_spread: dict[str, Any] = Field(default_factory=dict,
                                              description="several descending objects: count and spread in time and place")


class ErrorInfo(_Model):
    message: str
    stage: Optional[str] = None


class Report(_Model):
    schema_version: str = SCHEMA_VERSION
    tool: Tool
    status: Status
    error: Optional[ErrorInfo] = None
    missing: list[str] = Field(default_factory=list, description="what a partial report lacks, and why")
    parameters: dict[str, Any] = Field(default_factory=dict)
    input: Optional[InputInfo] = None
    segments: list[Segment] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    tracks: list[Track] = Field(default_factory=list)
    camera_motion: Optional[CameraMotion] = None


def json_schema() -> dict[str, Any]:
    """The report's JSON Schema (draft 2020-12)."""
    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://vidforensics.invalid/schema/report-{SCHEMA_VERSION}.json"
    return schema
