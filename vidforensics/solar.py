"""Sun position, camera geometry and shadow-based chronolocation.

What this module turns into a time-of-day test:

1. ``direction_deg`` of a cast shadow in the image (the shadow estimator's
   convention: ``atan2(dy, dx)`` in pixel coordinates, x right, y down, of the
   vector from a vertical caster's base toward its shadow's tip, evaluated at
   the image centre);
2. a pinhole camera (heading, down-tilt, roll, focal length, each uncertain)
   that maps that image direction onto a direction on flat ground;
3. the sun, whose azimuth + 180 deg is the shadow's ground azimuth.

Angles are degrees. Azimuths are clockwise from true north in [0, 360). Times
are timezone-aware UTC ``datetime`` objects.

Geometry (world frame East-North-Up). A camera with heading ``h`` (azimuth of
the optical axis), down-tilt ``p`` and roll ``r`` has forward axis
``f = (sin h cos p, cos h cos p, -sin p)``; with ``r = 0`` its image x axis is
``(cos h, -sin h, 0)`` and its image y axis (down) is ``f x right``. Positive
roll turns the camera clockwise as seen by its operator (the image x axis tips
down), so the scene appears turned counter-clockwise in the picture. The
caster stands on flat ground at the point the pixel ray hits; the image
direction of a ground direction there is the derivative of the projection,
which is linear in the ground direction and independent of camera height.
At the image centre it does not depend on the focal length either: the focal
length range only matters for measurements away from the centre (``at_px``).

When the ray through the measured pixel does not reach the ground (down-tilt
<= 0 at the centre) the shadow cannot lie on flat ground there: the direct
functions raise :class:`SolarGeometryError`; the Monte Carlo conditions on the
measurement and drops such camera draws (reporting the share it kept).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Sequence

import numpy as np
from astral import Observer
from astral.sun import azimuth as _astral_azimuth
from astral.sun import elevation as _astral_elevation
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vidforensics.errors import VidforensicsError

FULL_TURN = 360.0
HALF_TURN = 180.0
SECONDS_PER_MINUTE = 60.0
# Measured shadow-direction errors are heavier-tailed than a normal: the 95th percentile of
# |error| / (1 sigma) is 2.0-2.4, not 1.96 / 0.99 (docs/shadows.md, "Calibration"). A Student t
# with 5 degrees of freedom, scaled so that +-1 sigma holds 68.27 %, has that ratio (2.3).
DIRECTION_ERROR_DOF = 5.0


class SolarGeometryError(VidforensicsError):
    """The camera geometry cannot map an image direction onto the ground."""


class SolarParams(BaseModel):
    """Every number the solar checks use (values: ``[solar]`` in pipelines/default.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_sun_elevation_deg: float = Field(description="sun lower than this never explains a shadow")
    interval_coverage: float = Field(gt=0, lt=1, description="share of implied-azimuth draws a window admits")
    sigma_coverage: float = Field(gt=0, lt=1, description="central share whose half-span is the best-fit sigma")
    n_draws: int = Field(gt=0, description="Monte Carlo draws over image angle and camera")
    seed: int = Field(description="Monte Carlo seed (reports are reproducible)")
    step_s: float = Field(gt=0, description="time grid of the window search, seconds")
    edge_tolerance_s: float = Field(gt=0, description="window edges are refined to this, seconds")
    window_samples: int = Field(ge=3, description="samples inside a window for its best time and sigma")
    search_half_window_h: float = Field(gt=0, description="filmed_at searches the claim +- this many hours")
    min_confidence: float = Field(ge=0, le=1, description="shadow confidence below this: inconclusive")
    time_tolerance_minutes: float = Field(ge=0, description="a gap this small is inconclusive, not inconsistent")
    min_valid_draw_share: float = Field(gt=0, le=1, description="camera draws that must see ground at the centre")
    default_pitch_range_deg: tuple[float, float] = Field(description="down-tilt range when a claim gives none")
    default_roll_sigma_deg: float = Field(ge=0, description="roll sigma when a claim gives none")
    rate_step_s: float = Field(gt=0, description="half-step of the azimuth-rate derivative, seconds")
    max_informative_interval_deg: float  # implied ground-azimuth interval wider than this: inconclusive
    direction_error_dof: Optional[float] = Field(
        DIRECTION_ERROR_DOF, gt=0, description="Student-t degrees of freedom of the image-direction error "
        "(its 1 sigma holds 68.27 %); null: normal")


def default_params() -> SolarParams:
    """``[solar]`` of pipelines/default.toml (ConfigError if absent or invalid)."""
    import tomllib

    from pydantic import ValidationError

    from vidforensics.config import pipelines_dir
    from vidforensics.errors import ConfigError

    path = pipelines_dir() / "default.toml"
    section = tomllib.loads(path.read_text(encoding="utf-8")).get("solar")
    if section is None:
        raise ConfigError(f"{path.name} has no [solar] section")
    try:
        return SolarParams.model_validate(section)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"[solar] in {path.name}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _wrap360(a: Any) -> Any:
    r = np.mod(a, FULL_TURN)
    return np.where(r >= FULL_TURN, r - FULL_TURN, r)


def _wrap180(a: Any) -> Any:
    """Signed angle difference in [-180, 180)."""
    return np.mod(np.asarray(a) + HALF_TURN, FULL_TURN) - HALF_TURN


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None or when.tzinfo.utcoffset(when) is None:
        raise ValueError(f"time {when.isoformat()} has no zone: pass an aware UTC datetime")
    return when.astimezone(timezone.utc)


def iso_z(when: datetime) -> str:
    """``2016-10-26T09:30:00Z`` (whole seconds)."""
    return _utc(when).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- sun

def sun_position(lat: float, lon: float, when_utc: datetime) -> tuple[float, float]:
    """Sun azimuth and apparent elevation.

    Parameters
    ----------
    lat, lon : float
        Observer latitude and longitude, degrees (north, east positive).
    when_utc : datetime
        Timezone-aware time.

    Returns
    -------
    azimuth_deg : float
        Clockwise from true north, [0, 360).
    elevation_deg : float
        Above the horizon, with astral's atmospheric refraction.
    """
    obs = Observer(latitude=lat, longitude=lon)
    t = _utc(when_utc)
    return float(_wrap360(float(_astral_azimuth(obs, t)))), float(_astral_elevation(obs, t))


def _sun_series(lat: float, lon: float, times: Sequence[datetime]) -> tuple[np.ndarray, np.ndarray]:
    obs = Observer(latitude=lat, longitude=lon)
    az = np.fromiter((_astral_azimuth(obs, t) for t in times), float, len(times))
    el = np.fromiter((_astral_elevation(obs, t) for t in times), float, len(times))
    return _wrap360(az), el


def shadow_azimuth_from_sun(sun_azimuth: Any) -> Any:
    """Ground azimuth of a vertical caster's shadow: sun azimuth + 180, mod 360."""
    out = _wrap360(np.asarray(sun_azimuth, dtype=float) + HALF_TURN)
    return out if np.ndim(out) else float(out)


def azimuth_rate_deg_per_min(lat: float, lon: float, when_utc: datetime, half_step_s: float) -> float:
    """Local rate of change of the sun's azimuth (degrees per minute, central difference)."""
    t = _utc(when_utc)
    d = timedelta(seconds=half_step_s)
    a0, _ = sun_position(lat, lon, t - d)
    a1, _ = sun_position(lat, lon, t + d)
    return float(_wrap180(a1 - a0)) / (2.0 * half_step_s / SECONDS_PER_MINUTE)


def delta_time_for_delta_azimuth(lat: float, lon: float, when_utc: datetime, delta_deg: float,
                                 half_step_s: float = SECONDS_PER_MINUTE) -> float:
    """Minutes of clock time that a shadow-azimuth difference implies, at this place and time.

    Uses the local azimuth rate (linearisation): valid while ``delta_deg`` is
    small against the curvature of the sun's path. The rate is far from
    15 deg/h: near noon at low latitudes in summer the azimuth races (a large
    difference of direction is a few minutes), near the horizon it crawls.
    ``delta_deg`` must be a difference of *ground* azimuths (map image
    directions through the camera first).

    Returns
    -------
    float
        Signed minutes (positive when a later time gives the larger azimuth);
        ``inf`` if the azimuth is stationary.
    """
    rate = azimuth_rate_deg_per_min(lat, lon, when_utc, half_step_s)
    if rate == 0.0:
        return math.copysign(math.inf, delta_deg) if delta_deg else 0.0
    return float(delta_deg) / rate


# ------------------------------------------------------------------------ camera

class CameraModel(BaseModel):
    """A pinhole camera looking at flat ground, with its uncertainties.

    ``pitch_deg`` is the down-tilt of the optical axis (positive = looking
    down). A ``*_range`` is sampled uniformly by the Monte Carlo, a ``*_sigma``
    as a normal around the nominal value; a range wins over a sigma.
    Focal length: ``focal_px`` or ``hfov_deg`` (horizontal field of view), with
    optional ranges; it is only needed off the image centre.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    heading_deg: float
    heading_sigma_deg: float = Field(0.0, ge=0)
    pitch_deg: float
    pitch_range_deg: Optional[tuple[float, float]] = None
    pitch_sigma_deg: float = Field(0.0, ge=0)
    focal_px: Optional[float] = Field(None, gt=0)
    focal_range_px: Optional[tuple[float, float]] = None
    hfov_deg: Optional[float] = Field(None, gt=0, lt=180)
    hfov_range_deg: Optional[tuple[float, float]] = None
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    roll_deg: float = 0.0
    roll_sigma_deg: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _ranges(self) -> "CameraModel":
        for name in ("pitch_range_deg", "focal_range_px", "hfov_range_deg"):
            r = getattr(self, name)
            if r is not None and r[0] > r[1]:
                raise ValueError(f"{name} must be (low, high), got {r}")
        return self

    @property
    def centre(self) -> tuple[float, float]:
        return self.width / 2.0, self.height / 2.0

    def hfov_to_focal(self, hfov_deg: Any) -> Any:
        return (self.width / 2.0) / np.tan(np.radians(np.asarray(hfov_deg, dtype=float)) / 2.0)

    def focal(self) -> Optional[float]:
        """Nominal focal length in pixels (``None`` if neither focal nor field of view is known)."""
        if self.focal_px is not None:
            return self.focal_px
        if self.hfov_deg is not None:
            return float(self.hfov_to_focal(self.hfov_deg))
        if self.focal_range_px is not None:
            return float(np.mean(self.focal_range_px))
        if self.hfov_range_deg is not None:
            return float(self.hfov_to_focal(np.mean(self.hfov_range_deg)))
        return None


def _axes(heading: Any, pitch: Any, roll: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World (E, N, U) vectors of the camera's right, down and forward axes (last dim 3)."""
    h, p, r = (np.radians(np.asarray(x, dtype=float)) for x in (heading, pitch, roll))
    h, p, r = np.broadcast_arrays(h, p, r)
    fwd = np.stack([np.sin(h) * np.cos(p), np.cos(h) * np.cos(p), -np.sin(p)], axis=-1)
    right0 = np.stack([np.cos(h), -np.sin(h), np.zeros_like(h)], axis=-1)
    down0 = np.cross(fwd, right0)
    c, s = np.cos(r)[..., None], np.sin(r)[..., None]
    right = c * right0 + s * down0
    down = c * down0 - s * right0
    return right, down, fwd


def _ground_jacobian(heading: Any, pitch: Any, roll: Any, nx: Any, ny: Any) -> tuple[np.ndarray, np.ndarray]:
    """2x2 map from a ground direction (E, N) to the image direction (dx, dy) at a pixel.

    ``nx, ny`` are normalised image coordinates ``(u - cx) / f``. Returns the
    matrices (..., 2, 2) and a boolean mask: does the pixel's ray hit the ground?
    The map is defined up to a positive factor (camera height and focal length
    cancel in the direction).
    """
    right, down, fwd = _axes(heading, pitch, roll)
    nx = np.asarray(nx, dtype=float)[..., None]
    ny = np.asarray(ny, dtype=float)[..., None]
    ray = fwd + nx * right + ny * down
    hits = ray[..., 2] < 0.0
    # Ground point relative to the camera, height 1: X = t * ray, t = 1 / -ray_U.
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(hits, 1.0 / -ray[..., 2], np.nan)[..., None]
    x_cam = t * nx  # camera coords of X: (x, y, z) = t * (nx, ny, 1)
    y_cam = t * ny
    z_cam = t * np.ones_like(nx)
    # d(u)/ds ~ (s.right * z - x * s.fwd), d(v)/ds ~ (s.down * z - y * s.fwd): keep E, N columns.
    row_u = z_cam * right[..., :2] - x_cam * fwd[..., :2]
    row_v = z_cam * down[..., :2] - y_cam * fwd[..., :2]
    return np.stack([row_u, row_v], axis=-2), hits


def _normalised(camera: CameraModel, at_px: Optional[tuple[float, float]], focal: Any = None) -> tuple[Any, Any]:
    if at_px is None:
        return 0.0, 0.0
    cx, cy = camera.centre
    if (at_px[0], at_px[1]) == (cx, cy):
        return 0.0, 0.0
    f = camera.focal() if focal is None else focal
    if f is None:
        raise SolarGeometryError("a direction measured off the image centre needs focal_px or hfov_deg")
    return (at_px[0] - cx) / np.asarray(f), (at_px[1] - cy) / np.asarray(f)


def ground_azimuth_to_image_direction(azimuth_deg: float, camera: CameraModel,
                                      at_px: Optional[tuple[float, float]] = None) -> float:
    """Image direction (``atan2(dy, dx)``, degrees [0, 360)) of a ground direction.

    Parameters
    ----------
    azimuth_deg : float
        Ground azimuth of the shadow (caster base -> tip), clockwise from north.
    camera : CameraModel
        Nominal values are used (no uncertainty).
    at_px : (x, y), optional
        Pixel where the caster's base is seen; default: the image centre.

    Raises
    ------
    SolarGeometryError
        If the pixel's ray does not reach the ground (down-tilt <= 0 at the centre).
    """
    jac = _nominal_jacobian(camera, at_px)
    a = math.radians(azimuth_deg)
    d = jac @ np.array([math.sin(a), math.cos(a)])
    return float(_wrap360(math.degrees(math.atan2(d[1], d[0]))))


def _nominal_jacobian(camera: CameraModel, at_px: Optional[tuple[float, float]]) -> np.ndarray:
    """Ground (east, north) -> image (x, y) Jacobian at a pixel, for the nominal camera."""
    nx, ny = _normalised(camera, at_px)
    jac, hits = _ground_jacobian(camera.heading_deg, camera.pitch_deg, camera.roll_deg, nx, ny)
    if not bool(hits):
        raise SolarGeometryError(
            f"the ray through the measured pixel does not reach the ground (pitch {camera.pitch_deg} deg): "
            "a shadow there cannot lie on flat ground")
    return jac


def _invert(direction_deg: Any, jac: np.ndarray) -> np.ndarray:
    th = np.radians(np.asarray(direction_deg, dtype=float))
    img = np.stack([np.cos(th), np.sin(th)], axis=-1)[..., None]
    with np.errstate(invalid="ignore"):
        ground = np.linalg.solve(jac, img)[..., 0]
    return _wrap360(np.degrees(np.arctan2(ground[..., 0], ground[..., 1])))


def image_direction_to_ground_azimuth(direction_deg: float, camera: CameraModel,
                                      at_px: Optional[tuple[float, float]] = None) -> float:
    """Ground azimuth of a shadow whose image direction is ``direction_deg``.

    Inverse of :func:`ground_azimuth_to_image_direction` (nominal camera).

    Raises
    ------
    SolarGeometryError
        If the pixel's ray does not reach the ground (down-tilt <= 0 at the centre).
    """
    jac = _nominal_jacobian(camera, at_px)
    return float(_invert(direction_deg, jac))


@dataclass(frozen=True)
class ImpliedAzimuth:
    """The ground azimuth a measured image direction implies, with its Monte Carlo spread.

    ``lo_deg``/``hi_deg`` are signed offsets from ``nominal_deg`` bounding the
    central ``coverage`` of the draws (``lo <= 0 <= hi`` is not guaranteed for
    skewed distributions).
    """

    nominal_deg: float
    lo_deg: float
    hi_deg: float
    coverage: float
    draws_deg: np.ndarray
    valid_share: float

    @property
    def interval_deg(self) -> tuple[float, float]:
        """Absolute azimuths (start, end), clockwise from start to end."""
        return (float((self.nominal_deg + self.lo_deg) % FULL_TURN),
                float((self.nominal_deg + self.hi_deg) % FULL_TURN))

    def offsets(self, azimuth_deg: Any) -> Any:
        return _wrap180(np.asarray(azimuth_deg, dtype=float) - self.nominal_deg)

    def contains(self, azimuth_deg: Any) -> Any:
        d = self.offsets(azimuth_deg)
        return (d >= self.lo_deg) & (d <= self.hi_deg)

    def quantile_offsets(self, coverage: float) -> tuple[float, float]:
        d = self.offsets(self.draws_deg)
        tail = (1.0 - coverage) / 2.0
        return float(np.quantile(d, tail)), float(np.quantile(d, 1.0 - tail))


def _draw(rng: np.random.Generator, nominal: float, sigma: float, rng_range: Optional[tuple[float, float]],
          n: int) -> np.ndarray:
    if rng_range is not None:
        return rng.uniform(rng_range[0], rng_range[1], n)
    if sigma > 0:
        return rng.normal(nominal, sigma, n)
    return np.full(n, float(nominal))


_ONE_SIGMA_P = 0.5 + 0.6827 / 2.0   # the quantile that +-1 sigma reaches (68.27 % inside)


def _t_quantile(dof: float, p: float) -> float:
    from scipy.special import stdtrit  # the Student-t quantile; scipy comes with scikit-image

    return float(stdtrit(dof, p))


def direction_interval_sigmas(coverage: float, dof: float = DIRECTION_ERROR_DOF) -> float:
    """Half-width, in stated sigmas, of the central ``coverage`` interval of a shadow direction's
    error (Student t with ``dof`` degrees of freedom whose +-1 sigma holds 68.27 %): 2.31 for 95 %."""
    return _t_quantile(dof, 0.5 + coverage / 2.0) / _t_quantile(dof, _ONE_SIGMA_P)


def _direction_draws(rng: np.random.Generator, direction_deg: float, sigma_deg: float, dof: Optional[float],
                     n: int) -> np.ndarray:
    """Image-direction draws: normal, or Student t scaled so that +-sigma holds 68.27 % of them."""
    if sigma_deg <= 0:
        return np.full(n, float(direction_deg))
    if dof is None:
        return rng.normal(direction_deg, sigma_deg, n)
    return direction_deg + sigma_deg * rng.standard_t(dof, n) / _t_quantile(dof, _ONE_SIGMA_P)


def implied_ground_azimuth(direction_deg: float, direction_sigma_deg: float, camera: CameraModel,
                           n_draws: int, coverage: float, seed: int, min_valid_share: float,
                           at_px: Optional[tuple[float, float]] = None, *,
                           direction_dof: Optional[float] = DIRECTION_ERROR_DOF) -> ImpliedAzimuth:
    """Monte Carlo of the shadow's ground azimuth over image angle and camera uncertainty.

    Each draw takes the image direction from a Student t with ``direction_dof``
    degrees of freedom around ``direction_deg``, scaled so that +-sigma holds
    68.27 % of the draws (``None``: a normal), heading ~
    N(heading, sigma), roll ~ N(roll, sigma), down-tilt and focal length from
    their range (uniform) or sigma (normal), and maps the direction to the
    ground. Draws whose ray misses the ground are dropped (the measurement says
    the shadow is on the ground there).

    Raises
    ------
    SolarGeometryError
        If the nominal camera or too many draws (share < ``min_valid_share``)
        do not see the ground at the measured pixel.
    """
    nominal = image_direction_to_ground_azimuth(direction_deg, camera, at_px)
    rng = np.random.default_rng(seed)
    theta = _direction_draws(rng, direction_deg, direction_sigma_deg, direction_dof, n_draws)
    heading = _draw(rng, camera.heading_deg, camera.heading_sigma_deg, None, n_draws)
    pitch = _draw(rng, camera.pitch_deg, camera.pitch_sigma_deg, camera.pitch_range_deg, n_draws)
    roll = _draw(rng, camera.roll_deg, camera.roll_sigma_deg, None, n_draws)
    focal: Any = None
    if at_px is not None and camera.focal() is not None:
        if camera.focal_range_px is not None:
            focal = rng.uniform(*camera.focal_range_px, n_draws)
        elif camera.hfov_range_deg is not None:
            focal = camera.hfov_to_focal(rng.uniform(*camera.hfov_range_deg, n_draws))
        else:
            focal = np.full(n_draws, camera.focal())
    nx, ny = _normalised(camera, at_px, focal)
    jac, hits = _ground_jacobian(heading, pitch, roll, nx, ny)
    share = float(np.mean(hits))
    if share < min_valid_share:
        raise SolarGeometryError(
            f"only {share:.0%} of the camera draws see the ground at the measured pixel "
            f"(pitch {camera.pitch_deg} deg, range {camera.pitch_range_deg}): the image direction cannot be "
            "mapped onto the ground")
    draws = _invert(theta[hits], jac[hits])
    d = _wrap180(draws - nominal)
    tail = (1.0 - coverage) / 2.0
    lo, hi = float(np.quantile(d, tail)), float(np.quantile(d, 1.0 - tail))
    return ImpliedAzimuth(nominal, min(lo, 0.0), max(hi, 0.0), coverage, draws, share)


# ---------------------------------------------------------------- chronolocation

@dataclass(frozen=True)
class Window:
    """A UTC interval during which the sun explains the measured shadow.

    ``start_limit``/``end_limit`` say what ends the window: ``shadow_azimuth``
    (the shadow leaves the implied-azimuth interval), ``sun_elevation`` (the sun
    is below the minimum), ``upper_bound`` (upload time) or ``search`` (the
    searched range). ``best_utc`` is where the shadow azimuth is closest to the
    nominal implied one (``best_residual_deg`` away); ``best_fit_times_utc``
    lists every time in the window at which the sun gives exactly that azimuth:
    more than one where the sun's azimuth turns back (low latitudes, summer),
    and then ``best_utc`` alone is not a date of the footage. ``sigma_minutes`` is half
    the span of times whose shadow azimuth lies in the central
    ``sigma_coverage`` of the draws (a 1-sigma-like half-width).
    """

    start_utc: datetime
    end_utc: datetime
    best_utc: datetime
    sigma_minutes: float
    best_residual_deg: float
    start_limit: str
    end_limit: str
    best_fit_times_utc: tuple[datetime, ...] = ()

    @property
    def minutes(self) -> float:
        return (self.end_utc - self.start_utc).total_seconds() / SECONDS_PER_MINUTE

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_utc": iso_z(self.start_utc),
            "end_utc": iso_z(self.end_utc),
            "best_utc": iso_z(self.best_utc),
            "sigma_minutes": round(self.sigma_minutes, 1),
            "best_residual_deg": round(self.best_residual_deg, 2),
            "start_limit": self.start_limit,
            "end_limit": self.end_limit,
            "best_fit_times_utc": [iso_z(t) for t in self.best_fit_times_utc],
        }


def _consistent(lat: float, lon: float, times: Sequence[datetime], implied: ImpliedAzimuth,
                min_elevation_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    az, el = _sun_series(lat, lon, times)
    shadow = _wrap360(az + HALF_TURN)
    ok_el = el > min_elevation_deg
    ok_az = implied.contains(shadow)
    return ok_el & ok_az, ok_el, shadow


def _refine_edge(lat: float, lon: float, t_out: datetime, t_in: datetime, implied: ImpliedAzimuth,
                 min_elevation_deg: float, tol_s: float) -> tuple[datetime, str]:
    """Bisect between a non-consistent and a consistent time; say which condition fails outside."""
    while abs((t_in - t_out).total_seconds()) > tol_s:
        mid = t_out + (t_in - t_out) / 2
        ok, _, _ = _consistent(lat, lon, [mid], implied, min_elevation_deg)
        if ok[0]:
            t_in = mid
        else:
            t_out = mid
    _, ok_el, _ = _consistent(lat, lon, [t_out], implied, min_elevation_deg)
    return t_in, ("shadow_azimuth" if ok_el[0] else "sun_elevation")


def _best_and_sigma(lat: float, lon: float, start: datetime, end: datetime, implied: ImpliedAzimuth,
                    sigma_coverage: float, samples: int) -> tuple[datetime, float, float, list[datetime]]:
    """Best-fit time, 1-sigma-like half-width, residual and every crossing of the nominal azimuth."""
    span = (end - start).total_seconds()
    times = [start + timedelta(seconds=span * k / (samples - 1)) for k in range(samples)]
    az, _ = _sun_series(lat, lon, times)
    off = implied.offsets(_wrap360(az + HALF_TURN))
    k = int(np.argmin(np.abs(off)))
    crossings: list[datetime] = []
    for i in range(samples - 1):
        a, b = off[i], off[i + 1]
        if a == 0.0:
            crossings.append(times[i])
        elif a * b < 0 and abs(b - a) < HALF_TURN:   # a sign change, not the +-180 wrap
            crossings.append(times[i] + (times[i + 1] - times[i]) * float(a / (a - b)))
    if off[-1] == 0.0:
        crossings.append(times[-1])
    best = min(crossings, key=lambda t: abs((t - times[k]).total_seconds())) if crossings else times[k]
    q_lo, q_hi = implied.quantile_offsets(sigma_coverage)
    inside = np.flatnonzero((off >= q_lo) & (off <= q_hi))
    sigma = 0.0 if inside.size == 0 else (
        (times[inside[-1]] - times[inside[0]]).total_seconds() / 2.0 / SECONDS_PER_MINUTE)
    return best, float(sigma), float(abs(off[k])), crossings or [times[k]]


def windows_for_azimuth(lat: float, lon: float, start_utc: datetime, end_utc: datetime, implied: ImpliedAzimuth,
                        *, step_s: float, min_elevation_deg: float, edge_tolerance_s: float,
                        sigma_coverage: float, window_samples: int,
                        upper_bound_utc: Optional[datetime] = None) -> list[Window]:
    """Windows for an already computed implied-azimuth distribution (see :func:`time_windows`)."""
    start, end = _utc(start_utc), _utc(end_utc)
    truncated = False
    if upper_bound_utc is not None and _utc(upper_bound_utc) < end:
        end, truncated = _utc(upper_bound_utc), True
    if end <= start:
        return []
    n = int(math.floor((end - start).total_seconds() / step_s))
    times = [start + timedelta(seconds=k * step_s) for k in range(n + 1)]
    if times[-1] < end:
        times.append(end)
    ok, _, _ = _consistent(lat, lon, times, implied, min_elevation_deg)
    windows: list[Window] = []
    k = 0
    while k < len(times):
        if not ok[k]:
            k += 1
            continue
        j = k
        while j + 1 < len(times) and ok[j + 1]:
            j += 1
        if k == 0:
            w_start, s_lim = times[0], "search"
        else:
            w_start, s_lim = _refine_edge(lat, lon, times[k - 1], times[k], implied, min_elevation_deg,
                                          edge_tolerance_s)
        if j == len(times) - 1:
            w_end, e_lim = times[-1], ("upper_bound" if truncated else "search")
        else:
            w_end, e_lim = _refine_edge(lat, lon, times[j + 1], times[j], implied, min_elevation_deg,
                                        edge_tolerance_s)
        best, sigma, resid, fits = _best_and_sigma(lat, lon, w_start, w_end, implied, sigma_coverage,
                                                   window_samples)
        windows.append(Window(w_start, w_end, best, sigma, resid, s_lim, e_lim, tuple(fits)))
        k = j + 1
    return windows


def time_windows(lat: float, lon: float, start_utc: datetime, end_utc: datetime, image_direction_deg: float,
                 direction_sigma_deg: float, camera: CameraModel, step_s: float = 60.0, n_draws: int = 4000, *,
                 upper_bound_utc: Optional[datetime] = None, min_elevation_deg: float = 2.0,
                 coverage: float = 0.95, sigma_coverage: float = 0.6827, seed: int = 0,
                 edge_tolerance_s: float = 5.0, window_samples: int = 241, min_valid_share: float = 0.5,
                 at_px: Optional[tuple[float, float]] = None,
                 direction_dof: Optional[float] = DIRECTION_ERROR_DOF) -> list[Window]:
    """UTC intervals in which the sun explains a measured image shadow direction.

    The image direction (with 1-sigma ``direction_sigma_deg``) is mapped onto
    the ground through the camera, by Monte Carlo over image angle, heading,
    roll, down-tilt and focal length. A time is consistent when the sun is
    higher than ``min_elevation_deg`` and its shadow azimuth (sun + 180) lies
    in the central ``coverage`` interval of the implied ground azimuths.
    Consecutive consistent grid times form a window; its edges are refined by
    bisection to ``edge_tolerance_s``. The sun's azimuth does not move at
    15 deg/h, nor monotonically: a day can hold no window, one, or two (at low
    latitudes in summer the sun passes the same azimuth twice in a morning;
    wide intervals can admit both early morning and late evening).

    Parameters
    ----------
    lat, lon : float
        Where the camera stands (degrees).
    start_utc, end_utc : datetime
        Range searched (aware); several days are fine (uncertain date).
    image_direction_deg, direction_sigma_deg : float
        Measured shadow direction at the image centre (``atan2(dy, dx)``, pixel
        axes) and its 1-sigma uncertainty.
    camera : CameraModel
        Camera with its uncertainties.
    step_s : float
        Time grid, seconds (windows shorter than this can be missed).
    n_draws : int
        Monte Carlo draws.
    upper_bound_utc : datetime, optional
        Nothing after this (e.g. the platform's upload time) can be the filming time.
    min_elevation_deg, coverage, sigma_coverage, seed, edge_tolerance_s, window_samples, min_valid_share
        See :class:`SolarParams`.
    at_px : (x, y), optional
        Pixel of the caster's base if not the image centre.
    direction_dof : float or None
        Tails of the direction error: Student t with this many degrees of
        freedom (``None``: normal). See :func:`implied_ground_azimuth`.

    Returns
    -------
    list[Window]
        In time order (empty: no time in the range fits).
    """
    implied = implied_ground_azimuth(image_direction_deg, direction_sigma_deg, camera, n_draws, coverage, seed,
                                     min_valid_share, at_px, direction_dof=direction_dof)
    return windows_for_azimuth(lat, lon, start_utc, end_utc, implied, step_s=step_s,
                               min_elevation_deg=min_elevation_deg, edge_tolerance_s=edge_tolerance_s,
                               sigma_coverage=sigma_coverage, window_samples=window_samples,
                               upper_bound_utc=upper_bound_utc)


# ----------------------------------------------------------------- filmed_at

def camera_from_claim(claim: Any, image_width: int, image_height: int, params: SolarParams) -> CameraModel:
    """The :class:`CameraModel` a ``filmed_at`` claim describes (defaults from ``params``)."""
    pitch_range = claim.camera_pitch_range_deg
    pitch = claim.camera_pitch_deg
    if pitch is None and pitch_range is None:
        pitch_range = list(params.default_pitch_range_deg)
    if pitch is None:
        pitch = float(np.mean(pitch_range))
    return CameraModel(
        heading_deg=claim.camera_heading_deg,
        heading_sigma_deg=claim.camera_heading_sigma_deg,
        pitch_deg=pitch,
        pitch_range_deg=tuple(pitch_range) if pitch_range is not None else None,
        pitch_sigma_deg=claim.camera_pitch_sigma_deg or 0.0,
        focal_px=claim.focal_px, focal_range_px=claim.focal_range_px,
        hfov_deg=claim.hfov_deg, hfov_range_deg=claim.hfov_range_deg,
        width=image_width, height=image_height,
        roll_deg=claim.camera_roll_deg or 0.0,
        roll_sigma_deg=(claim.camera_roll_sigma_deg if claim.camera_roll_sigma_deg is not None
                        else params.default_roll_sigma_deg),
    )


def _get(shadow: Any, key: str) -> Any:
    return shadow.get(key) if isinstance(shadow, dict) else getattr(shadow, key, None)


def _minutes(d: timedelta) -> float:
    return d.total_seconds() / SECONDS_PER_MINUTE


def _fmt_local(t: datetime) -> str:
    return t.strftime("%H:%M")


def check_filmed_at(claim: Any, segment_shadow: Any, image_width: int, image_height: int,
                    upload_time_utc: Optional[datetime] = None, *, params: Optional[SolarParams] = None,
                    segment: Optional[int] = None) -> dict[str, Any]:
    """The report's ``checks[]`` entry testing a ``filmed_at`` claim against one segment's shadow.

    Parameters
    ----------
    claim : FilmedAtClaim or dict
        Place, claimed time or window, camera heading (and optional pitch, roll, field of view).
    segment_shadow : dict or ShadowEstimate
        ``direction_deg`` (None if not measured), ``uncertainty_deg`` (1 sigma),
        ``confidence`` (0..1), optionally ``reason``.
    image_width, image_height : int
        Frame size in pixels (the image centre is where the direction is measured).
    upload_time_utc : datetime, optional
        Platform upload time: an upper bound on the filming time.
    params : SolarParams, optional
        Thresholds; default: ``[solar]`` of pipelines/default.toml.
    segment : int, optional
        Segment index to report (default: the claim's first segment, else 0).

    Returns
    -------
    dict
        ``verdict`` is ``consistent`` (the claim overlaps a window; margin =
        minutes from the deepest claimed point to the nearest window edge),
        ``inconsistent`` (every window is more than ``time_tolerance_minutes``
        away, margin = that gap; or the claim is after the upload) or
        ``inconclusive`` (no direction, low confidence, sun down at the claimed
        time, unusable camera geometry, or a gap within the tolerance).
    """
    from vidforensics.claims import FilmedAtClaim  # claims does not import solar

    if params is None:
        params = default_params()
    if isinstance(claim, dict):
        claim = FilmedAtClaim.model_validate(claim)
    c0, c1 = claim.claimed_interval
    seg = segment if segment is not None else (claim.segments[0] if claim.segments else 0)
    mid = c0 + (c1 - c0) / 2
    sun_az, sun_el = sun_position(claim.latitude, claim.longitude, mid)
    claimed: dict[str, Any] = {"latitude": claim.latitude, "longitude": claim.longitude,
                               "camera_heading_deg": claim.camera_heading_deg,
                               "camera_heading_sigma_deg": claim.camera_heading_sigma_deg}
    if claim.time_utc is not None:
        claimed["time_utc"] = iso_z(claim.time_utc)
    else:
        claimed["window_utc"] = [iso_z(c0), iso_z(c1)]
    direction = _get(segment_shadow, "direction_deg")
    sigma = _get(segment_shadow, "uncertainty_deg")
    confidence = _get(segment_shadow, "confidence") or 0.0
    out: dict[str, Any] = {
        "name": "filmed_at", "segments": [seg], "verdict": "inconclusive", "claimed": claimed,
        "windows_utc": [], "margin_minutes": None,
        "measured_direction_deg": None if direction is None else round(float(direction), 2),
        "measured_uncertainty_deg": None if sigma is None else round(float(sigma), 2),
        "shadow_confidence": round(float(confidence), 3),
        "implied_shadow_azimuth_deg": None, "implied_shadow_azimuth_interval_deg": None,
        "sun_azimuth_at_claim_deg": round(sun_az, 2), "sun_elevation_at_claim_deg": round(sun_el, 2),
        "shadow_azimuth_at_claim_deg": round(float(shadow_azimuth_from_sun(sun_az)), 2),
        "upload_time_utc": None if upload_time_utc is None else iso_z(upload_time_utc),
        "search_utc": None, "camera_draws_valid_share": None,
        "evidence": "",
    }

    if upload_time_utc is not None and c0 > _utc(upload_time_utc):
        gap = _minutes(c0 - _utc(upload_time_utc))
        out.update(verdict="inconsistent", margin_minutes=round(gap, 1),
                   evidence=f"the claimed time is {gap:.0f} min after the upload ({iso_z(upload_time_utc)})")
        return out
    if direction is None:
        why = _get(segment_shadow, "reason") or "no shadow direction measured"
        out["evidence"] = f"no shadow direction for segment {seg}: {why}"
        return out
    if confidence < params.min_confidence:
        out["evidence"] = (f"shadow direction confidence {confidence:.2f} is below {params.min_confidence:.2f}: "
                           "not enough to test a time")
        return out
    if upload_time_utc is not None and c1 > _utc(upload_time_utc):
        c1 = _utc(upload_time_utc)

    # Is the sun up at some point of the claim?
    n_claim = max(2, int(math.ceil((c1 - c0).total_seconds() / params.step_s)) + 1)
    claim_times = [c0 + (c1 - c0) * (k / (n_claim - 1)) for k in range(n_claim)]
    _, claim_el = _sun_series(claim.latitude, claim.longitude, claim_times)
    if not np.any(claim_el > params.min_sun_elevation_deg):
        out["evidence"] = (f"the sun is at {sun_el:.1f} deg elevation at the claimed time (needs > "
                           f"{params.min_sun_elevation_deg:.0f}): a shadow there is not from the sun "
                           "(artificial light?) and cannot date the footage")
        return out

    try:
        camera = camera_from_claim(claim, image_width, image_height, params)
        implied = implied_ground_azimuth(float(direction), float(sigma or 0.0), camera, params.n_draws,
                                         params.interval_coverage, params.seed, params.min_valid_draw_share,
                                         direction_dof=params.direction_error_dof)
    except (SolarGeometryError, ValueError) as exc:
        out["evidence"] = f"camera geometry unusable: {' '.join(str(exc).split())}"
        return out
    lo, hi = implied.interval_deg
    out["implied_shadow_azimuth_deg"] = round(implied.nominal_deg, 2)
    out["implied_shadow_azimuth_interval_deg"] = [round(lo, 2), round(hi, 2)]
    out["camera_draws_valid_share"] = round(implied.valid_share, 3)
    width = (hi - lo) % 360.0
    if width > params.max_informative_interval_deg:
        # e.g. a near-horizontal camera sees the ground edge-on: one image degree is many
        # on the ground, and almost any time of day "fits"; saying consistent would mislead
        out.update(evidence=f"the measured direction constrains the shadow's ground azimuth only to "
                            f"{lo:.0f}-{hi:.0f} deg ({width:.0f} deg wide, {params.interval_coverage:.0%}): "
                            "the view is too shallow or the heading too uncertain to date the footage")
        return out
    search = timedelta(hours=params.search_half_window_h)
    windows = windows_for_azimuth(
        claim.latitude, claim.longitude, c0 - search, c1 + search, implied, step_s=params.step_s,
        min_elevation_deg=params.min_sun_elevation_deg, edge_tolerance_s=params.edge_tolerance_s,
        sigma_coverage=params.sigma_coverage, window_samples=params.window_samples,
        upper_bound_utc=upload_time_utc)
    out["windows_utc"] = [w.to_dict() for w in windows]
    out["search_utc"] = [iso_z(c0 - search), iso_z(c1 + search if upload_time_utc is None
                                                     else min(c1 + search, _utc(upload_time_utc)))]
    spread = f"implied shadow azimuth {implied.nominal_deg:.0f} deg ({lo:.0f}-{hi:.0f}, " \
             f"{params.interval_coverage:.0%})"
    at_claim = f"at the claimed time the shadow would point to {shadow_azimuth_from_sun(sun_az):.0f} deg"
    win_text = ", ".join(f"{_fmt_local(w.start_utc)}-{_fmt_local(w.end_utc)}Z" for w in windows) or "none"

    overlaps = [w for w in windows if w.start_utc <= c1 and w.end_utc >= c0]
    if overlaps:
        best = 0.0
        for w in overlaps:
            a, b = max(c0, w.start_utc), min(c1, w.end_utc)
            centre = w.start_utc + (w.end_utc - w.start_utc) / 2
            t = min(max(centre, a), b)
            best = max(best, min(_minutes(t - w.start_utc), _minutes(w.end_utc - t)))
        out.update(verdict="consistent", margin_minutes=round(best, 1),
                   evidence=f"{spread}; {at_claim}; the claim lies inside a consistent window "
                            f"({win_text}), {best:.0f} min from its nearest edge")
        return out
    if not windows:
        out.update(verdict="inconsistent",
                   evidence=f"{spread}; {at_claim}; no time within +-{params.search_half_window_h:.0f} h of the "
                            "claim has the sun where this shadow implies")
        return out
    gaps = [_minutes(w.start_utc - c1) if w.start_utc > c1 else _minutes(c0 - w.end_utc) for w in windows]
    gap = min(gaps)
    out["margin_minutes"] = round(gap, 1)
    if gap > params.time_tolerance_minutes:
        out.update(verdict="inconsistent",
                   evidence=f"{spread}; {at_claim}; the nearest consistent window ({win_text}) is {gap:.0f} min "
                            "from the claim")
    else:
        out.update(evidence=f"{spread}; {at_claim}; the claim misses the nearest consistent window "
                            f"({win_text}) by {gap:.0f} min, within the {params.time_tolerance_minutes:.0f} min "
                            "tolerance")
    return out
