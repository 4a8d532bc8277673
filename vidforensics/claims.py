"""Investigator claims to test against the video (``claims.json``).

A claims file says what someone asserts about the footage, for the pipeline to
check against what it measures::

    {"claims": [
      {"kind": "same_time_of_day", "segments": [0, 1]},
      {"kind": "filmed_at", "latitude": 35.61, "longitude": 36.58,
       "time_utc": "2016-10-26T09:30:00Z",
       "camera_heading_deg": 90, "camera_heading_sigma_deg": 10,
       "camera_pitch_range_deg": [2, 15], "segments": [1]}
    ]}

Times must carry a zone (``Z`` or ``+03:00``): a local time without one is
ambiguous by hours, which is exactly the quantity being tested. Every problem
with the file is one :class:`ClaimsError` whose message is a single line naming
the claim and the field.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from vidforensics.errors import VidforensicsError


class ClaimsError(VidforensicsError):
    """The claims file cannot be used: the message (one line) names the problem."""


def _parse_utc(value: Any) -> Any:
    """ISO-8601 text with a zone -> aware UTC datetime; a naive time is refused."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO-8601 time: {value!r} (write e.g. 2016-10-26T09:30:00Z)") from None
    else:
        raise ValueError(f"a time must be a string like 2016-10-26T09:30:00Z, got {value!r}")
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError(f"time has no zone: write Z or +03:00 (got {value!r})")
    return dt.astimezone(timezone.utc)


def _check_pair(value: Optional[list[float]], name: str) -> Optional[list[float]]:
    if value is not None and value[0] > value[1]:
        raise ValueError(f"{name} must be [low, high], got {value}")
    return value


class _Claim(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SameTimeOfDayClaim(_Claim):
    """The listed segments (or all) were filmed at the same time of day.

    ``latitude``/``longitude``/``time_utc`` are optional: with them, a difference
    of shadow direction can be turned into a difference of time.
    """

    kind: Literal["same_time_of_day"]
    segments: Union[list[int], Literal["all"]]
    latitude: Optional[float] = None
    longitude: Optional[float] = None
    time_utc: Optional[datetime] = None

    @field_validator("segments", mode="before")
    @classmethod
    def _segments(cls, v: Any) -> Any:
        if isinstance(v, str) and v != "all":
            raise ValueError(f'segments must be a list of indices or "all", got {v!r}')
        if isinstance(v, list):
            if len(v) < 2:
                raise ValueError(f"same_time_of_day needs at least two segments, got {v}")
            if any(not isinstance(i, int) or isinstance(i, bool) or i < 0 for i in v):
                raise ValueError(f"segment indices must be integers >= 0, got {v}")
            if len(set(v)) != len(v):
                raise ValueError(f"a segment is listed twice in {v}")
        return v

    @field_validator("latitude")
    @classmethod
    def _lat(cls, v: Optional[float]) -> Optional[float]:
        return _check_lat(v)

    @field_validator("longitude")
    @classmethod
    def _lon(cls, v: Optional[float]) -> Optional[float]:
        return _check_lon(v)

    @field_validator("time_utc", mode="before")
    @classmethod
    def _time(cls, v: Any) -> Any:
        return None if v is None else _parse_utc(v)


def _check_lat(v: Optional[float]) -> Optional[float]:
    if v is not None and not -90.0 <= v <= 90.0:
        raise ValueError(f"latitude {v} out of range [-90, 90]")
    return v


def _check_lon(v: Optional[float]) -> Optional[float]:
    if v is not None and not -180.0 <= v <= 180.0:
        raise ValueError(f"longitude {v} out of range [-180, 180]")
    return v


class FilmedAtClaim(_Claim):
    """The footage was filmed at this place, at ``time_utc`` or within ``window_utc``.

    The camera's heading (azimuth of the optical axis, degrees clockwise from
    north) and its 1-sigma uncertainty are required: without them an image
    direction cannot be turned into a direction on the ground. Pitch (down-tilt,
    positive = looking down), roll and field of view are optional; a range is
    sampled uniformly, a sigma as a normal.
    """

    kind: Literal["filmed_at"]
    latitude: float
    longitude: float
    time_utc: Optional[datetime] = None
    window_utc: Optional[list[datetime]] = None
    camera_heading_deg: float
    camera_heading_sigma_deg: float
    camera_pitch_deg: Optional[float] = None
    camera_pitch_range_deg: Optional[list[float]] = None
    camera_pitch_sigma_deg: Optional[float] = None
    camera_roll_deg: Optional[float] = None
    camera_roll_sigma_deg: Optional[float] = None
    hfov_deg: Optional[float] = None
    hfov_range_deg: Optional[list[float]] = None
    focal_px: Optional[float] = None
    focal_range_px: Optional[list[float]] = None
    segments: Optional[list[int]] = None

    @field_validator("latitude")
    @classmethod
    def _lat(cls, v: float) -> float:
        return _check_lat(v)

    @field_validator("longitude")
    @classmethod
    def _lon(cls, v: float) -> float:
        return _check_lon(v)

    @field_validator("time_utc", mode="before")
    @classmethod
    def _time(cls, v: Any) -> Any:
        return None if v is None else _parse_utc(v)

    @field_validator("window_utc", mode="before")
    @classmethod
    def _window(cls, v: Any) -> Any:
        if v is None:
            return None
        if not isinstance(v, list) or len(v) != 2:
            raise ValueError(f"window_utc must be [start, end], got {v!r}")
        start, end = (_parse_utc(x) for x in v)
        if end < start:
            raise ValueError(f"window end {v[1]} is before its start {v[0]}")
        return [start, end]

    @field_validator("camera_heading_deg")
    @classmethod
    def _heading(cls, v: float) -> float:
        if not 0.0 <= v < 360.0:
            raise ValueError(f"heading {v} out of range [0, 360) (degrees clockwise from north)")
        return v

    @field_validator("camera_heading_sigma_deg", "camera_pitch_sigma_deg", "camera_roll_sigma_deg")
    @classmethod
    def _sigma(cls, v: Optional[float]) -> Optional[float]:
        if v is not None and not 0.0 <= v <= 180.0:
            raise ValueError(f"a sigma must be in [0, 180] degrees, got {v}")
        return v

    @field_validator("camera_pitch_deg")
    @classmethod
    def _pitch(cls, v: Optional[float]) -> Optional[float]:
        if v is not None and not -90.0 <= v <= 90.0:
            raise ValueError(f"pitch {v} out of range [-90, 90] (positive = looking down)")
        return v

    @field_validator("camera_pitch_range_deg")
    @classmethod
    def _pitch_range(cls, v: Optional[list[float]]) -> Optional[list[float]]:
        if v is not None and (len(v) != 2 or not all(-90.0 <= x <= 90.0 for x in v)):
            raise ValueError(f"camera_pitch_range_deg must be [low, high] within [-90, 90], got {v}")
        return _check_pair(v, "camera_pitch_range_deg")

    @field_validator("camera_roll_deg")
    @classmethod
    def _roll(cls, v: Optional[float]) -> Optional[float]:
        if v is not None and not -180.0 <= v <= 180.0:
            raise ValueError(f"roll {v} out of range [-180, 180]")
        return v

    @field_validator("hfov_deg")
    @classmethod
    def _hfov(cls, v: Optional[float]) -> Optional[float]:
        if v is not None and not 0.0 < v < 180.0:
            raise ValueError(f"hfov_deg {v} out of range (0, 180)")
        return v

    @field_validator("hfov_range_deg")
    @classmethod
    def _hfov_range(cls, v: Optional[list[float]]) -> Optional[list[float]]:
        if v is not None and (len(v) != 2 or not all(0.0 < x < 180.0 for x in v)):
            raise ValueError(f"hfov_range_deg must be [low, high] within (0, 180), got {v}")
        return _check_pair(v, "hfov_range_deg")

    @field_validator("focal_px")
    @classmethod
    def _focal(cls, v: Optional[float]) -> Optional[float]:
        if v is not None and not v > 0.0:
            raise ValueError(f"focal_px must be > 0, got {v}")
        return v

    @field_validator("focal_range_px")
    @classmethod
    def _focal_range(cls, v: Optional[list[float]]) -> Optional[list[float]]:
        if v is not None and (len(v) != 2 or not all(x > 0.0 for x in v)):
            raise ValueError(f"focal_range_px must be [low, high], both > 0, got {v}")
        return _check_pair(v, "focal_range_px")

    @field_validator("segments")
    @classmethod
    def _segs(cls, v: Optional[list[int]]) -> Optional[list[int]]:
        if v is not None:
            if not v:
                raise ValueError("segments is empty: leave it out to mean every segment")
            if any(i < 0 for i in v):
                raise ValueError(f"segment indices must be >= 0, got {v}")
        return v

    @model_validator(mode="after")
    def _when(self) -> "FilmedAtClaim":
        if (self.time_utc is None) == (self.window_utc is None):
            raise ValueError("give exactly one of time_utc or window_utc")
        if self.hfov_deg is not None and self.focal_px is not None:
            raise ValueError("give hfov_deg or focal_px, not both")
        return self

    @property
    def claimed_interval(self) -> tuple[datetime, datetime]:
        """(start, end) in UTC; equal for a single claimed time."""
        if self.time_utc is not None:
            return self.time_utc, self.time_utc
        assert self.window_utc is not None
        return self.window_utc[0], self.window_utc[1]


Claim = Union[SameTimeOfDayClaim, FilmedAtClaim]
CLAIM_KINDS: dict[str, type[_Claim]] = {
    "filmed_at": FilmedAtClaim,
    "same_time_of_day": SameTimeOfDayClaim,
}


class Claims(BaseModel):
    """A parsed claims file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    claims: list[Claim]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _explain(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first pydantic error as ``field: problem``."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err["type"] == "extra_forbidden":
        known = ", ".join(k for k in model.model_fields if k != "kind")
        msg = f"unknown field; known fields: {known}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif "input" in err and err["type"] not in ("value_error",):
        msg = f"{msg} (got {err['input']!r})"
    return f"{loc}: {msg}" if loc else msg


def parse_claims(data: Any, source: str = "claims") -> Claims:
    """Validate already-decoded JSON; raises :class:`ClaimsError` (one line)."""
    if not isinstance(data, dict):
        raise ClaimsError(f"{source}: the top level must be an object {{\"claims\": [...]}}, got {type(data).__name__}")
    extra = sorted(set(data) - {"claims"})
    if extra:
        raise ClaimsError(f"{source}: unknown top-level key(s) {extra}; expected only \"claims\"")
    items = data.get("claims")
    if not isinstance(items, list):
        raise ClaimsError(f"{source}: \"claims\" must be a list of claim objects")
    parsed: list[Claim] = []
    for i, item in enumerate(items):
        where = f"{source}: claims[{i}]"
        if not isinstance(item, dict):
            raise ClaimsError(f"{where}: a claim must be an object, got {type(item).__name__}")
        kind = item.get("kind")
        model = CLAIM_KINDS.get(kind) if isinstance(kind, str) else None
        if model is None:
            what = "has no \"kind\"" if kind is None else f"unknown claim kind {kind!r}"
            raise ClaimsError(f"{where}: {what}; known kinds: {', '.join(sorted(CLAIM_KINDS))}")
        try:
            parsed.append(model.model_validate(item))
        except ValidationError as exc:
            raise ClaimsError(_one_line(f"{where} ({kind}): {_explain(exc, model)}")) from None
    return Claims(claims=parsed)


def load_claims(path: str | Path) -> Claims:
    """Read and validate a claims JSON file.

    Raises
    ------
    ClaimsError
        One line naming the problem: unreadable file, invalid JSON (with line
        and column), unknown claim kind, out-of-range place or heading, a time
        without a zone, a window that ends before it starts, ...
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClaimsError(f"claims file not found: {p}") from None
    except UnicodeDecodeError:
        raise ClaimsError(f"claims file {p.name} is not UTF-8 text") from None
    except OSError as exc:
        raise ClaimsError(_one_line(f"claims file {p} cannot be read: {exc.strerror or exc}")) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClaimsError(_one_line(
            f"claims file {p.name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")) from None
    return parse_claims(data, source=p.name)


def validate_segments(claims: Claims, n_segments: int) -> None:
    """Check that every segment a claim names exists in a video of ``n_segments``.

    Raises
    ------
    ClaimsError
        Naming the claim, the bad index and how many segments there are.
    """
    for i, claim in enumerate(claims.claims):
        segs = claim.segments
        if segs is None or segs == "all":
            continue
        for s in segs:
            if not 0 <= s < n_segments:
                have = "no segments" if n_segments == 0 else (
                    f"{n_segments} segment{'s' if n_segments != 1 else ''} (0-{n_segments - 1})")
                raise ClaimsError(f"claims[{i}] ({claim.kind}): segment {s} does not exist: the video has {have}")


def resolve_segments(claim: Claim, n_segments: int) -> list[int]:
    """The segment indices a claim applies to (``"all"``/absent = every segment)."""
    segs = claim.segments
    if segs is None or segs == "all":
        return list(range(n_segments))
    return list(segs)
