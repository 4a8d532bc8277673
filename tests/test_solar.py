"""Sun position, camera projection and shadow chronolocation (no video needed).

The chronolocation cases have known answers by construction: pick a place and a
time, take the sun's shadow azimuth, push it through a camera into an image
direction with the forward projection, then ask ``time_windows`` to find the
time again.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from vidforensics import load_config
from vidforensics.solar import (
    CameraModel,
    SolarGeometryError,
    azimuth_rate_deg_per_min,
    check_filmed_at,
    delta_time_for_delta_azimuth,
    direction_interval_sigmas,
    ground_azimuth_to_image_direction,
    image_direction_to_ground_azimuth,
    implied_ground_azimuth,
    shadow_azimuth_from_sun,
    sun_position,
    time_windows,
)

UTC = timezone.utc

# the shipped values: one source, pipelines/default.toml
PARAMS = load_config("default").solar

# Kafranbel rooftop, ~2.8 km west of the Hass school (seed case), and the strike's day.
KAFRANBEL = (35.614, 36.561)
STRIKE_DAY = datetime(2016, 10, 26, tzinfo=UTC)
W, H = 1280, 720


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def wrap180(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


def image_direction_for(lat: float, lon: float, when: datetime, camera: CameraModel) -> float:
    sun_az, _ = sun_position(lat, lon, when)
    return ground_azimuth_to_image_direction(shadow_azimuth_from_sun(sun_az), camera)


# ---------------------------------------------------------------------------- sun

def test_astral_agrees_with_pvlib_spa():
    """Many places and dates: azimuth within 0.05 deg below 75 deg elevation, sky position within 0.05 deg."""
    rng = np.random.default_rng(7)
    worst_az = worst_sep = 0.0
    n_checked = 0
    for _ in range(25):
        lat, lon = rng.uniform(-65, 65), rng.uniform(-180, 180)
        secs = np.sort(rng.uniform(0, 45 * 365.25 * 86400, 80))
        times = pd.DatetimeIndex([pd.Timestamp("1990-01-01", tz="UTC") + pd.Timedelta(seconds=int(s))
                                  for s in secs])
        spa = pvlib_spa(times, lat, lon)
        for t, (p_az, p_el) in zip(times, spa):
            if p_el < PARAMS.min_sun_elevation_deg:
                continue
            a_az, a_el = sun_position(lat, lon, t.to_pydatetime())
            d_az = wrap180(a_az - p_az)
            sep = math.hypot(d_az * math.cos(math.radians(p_el)), a_el - p_el)
            worst_sep = max(worst_sep, sep)
            if p_el < 75:
                worst_az = max(worst_az, abs(d_az))
            n_checked += 1
    assert n_checked > 500
    assert worst_az < 0.05, worst_az
    assert worst_sep < 0.05, worst_sep


def pvlib_spa(times: pd.DatetimeIndex, lat: float, lon: float) -> list[tuple[float, float]]:
    import pvlib

    sp = pvlib.solarposition.get_solarposition(times, lat, lon, method="nrel_numpy")
    return list(zip(sp["azimuth"].to_numpy(), sp["apparent_elevation"].to_numpy()))


def test_shadow_azimuth_is_opposite_the_sun():
    assert shadow_azimuth_from_sun(10.0) == 190.0
    assert shadow_azimuth_from_sun(270.0) == 90.0
    assert shadow_azimuth_from_sun(180.0) == 0.0
    np.testing.assert_allclose(shadow_azimuth_from_sun(np.array([0.0, 359.0])), [180.0, 179.0])


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="no zone"):
        sun_position(0, 0, datetime(2016, 10, 26, 9, 30))


def test_azimuth_rate_races_near_tropical_summer_noon():
    """10 deg of shadow is ~30 min at Hass in October mid-morning but ~6 min near a tropical summer noon."""
    hass = delta_time_for_delta_azimuth(*KAFRANBEL, utc(2016, 10, 26, 7, 30), 10.0)
    tropics = delta_time_for_delta_azimuth(15.0, 0.0, utc(2016, 6, 21, 12, 2), 10.0)
    assert 20 < hass < 60          # naive 15 deg/h would say 40 min
    assert abs(tropics) < 8        # azimuth sweeps ~94 deg/h there (naive: 40 min)
    # The sun stands still in azimuth at lat 15N in June mid-morning: huge times per degree.
    assert abs(azimuth_rate_deg_per_min(15.0, 0.0, utc(2016, 6, 21, 8, 33), 60.0)) < 0.01


# --------------------------------------------------------------------- projection

CAMERAS = [
    CameraModel(heading_deg=h, pitch_deg=p, roll_deg=r, width=W, height=H, hfov_deg=60)
    for h in (0.0, 37.0, 90.0, 200.0, 333.0) for p in (3.0, 20.0, 60.0, 89.0) for r in (0.0, -7.0, 12.0)
]


@pytest.mark.parametrize("camera", CAMERAS, ids=lambda c: f"h{c.heading_deg:.0f}p{c.pitch_deg:.0f}r{c.roll_deg:.0f}")
def test_projection_round_trips(camera):
    for az in np.arange(0.0, 360.0, 15.0) + 0.5:
        d = ground_azimuth_to_image_direction(az, camera)
        assert abs(wrap180(image_direction_to_ground_azimuth(d, camera) - az)) < 1e-6
        back = image_direction_to_ground_azimuth(az, camera)
        assert abs(wrap180(ground_azimuth_to_image_direction(back, camera) - az)) < 1e-6
        # Off the image centre (the focal length matters there).
        px = (0.1 * W, 0.9 * H)
        d2 = ground_azimuth_to_image_direction(az, camera, at_px=px)
        assert abs(wrap180(image_direction_to_ground_azimuth(d2, camera, at_px=px) - az)) < 1e-6


def test_projection_conventions():
    """Looking east and down: north is to the left, away (east) is up the image, south right."""
    cam = CameraModel(heading_deg=90, pitch_deg=30, width=W, height=H)
    assert ground_azimuth_to_image_direction(0, cam) == pytest.approx(180)
    assert ground_azimuth_to_image_direction(90, cam) == pytest.approx(270)
    assert ground_azimuth_to_image_direction(180, cam) == pytest.approx(0, abs=1e-9)
    assert ground_azimuth_to_image_direction(270, cam) == pytest.approx(90)
    # Straight down (map view), north-up camera heading 0: image x = east, image y = south.
    top = CameraModel(heading_deg=0, pitch_deg=90, width=W, height=H)
    assert ground_azimuth_to_image_direction(90, top) == pytest.approx(0, abs=1e-6)
    assert ground_azimuth_to_image_direction(180, top) == pytest.approx(90)
    # Positive roll (camera turned clockwise) turns the scene counter-clockwise in the picture.
    rolled = CameraModel(heading_deg=0, pitch_deg=90, roll_deg=10, width=W, height=H)
    assert ground_azimuth_to_image_direction(90, rolled) == pytest.approx(350)


def test_focal_length_cancels_at_the_image_centre():
    a = CameraModel(heading_deg=30, pitch_deg=15, width=W, height=H, hfov_deg=20)
    b = a.model_copy(update={"hfov_deg": 90})
    assert ground_azimuth_to_image_direction(123, a) == pytest.approx(ground_azimuth_to_image_direction(123, b))
    px = (0.9 * W, 0.8 * H)
    assert abs(ground_azimuth_to_image_direction(123, a, px) - ground_azimuth_to_image_direction(123, b, px)) > 0.5


def test_camera_that_does_not_see_the_ground_is_refused():
    for pitch in (0.0, -5.0):
        cam = CameraModel(heading_deg=90, pitch_deg=pitch, width=W, height=H)
        with pytest.raises(SolarGeometryError, match="does not reach the ground"):
            image_direction_to_ground_azimuth(45.0, cam)
        with pytest.raises(SolarGeometryError):
            ground_azimuth_to_image_direction(45.0, cam)
    cam = CameraModel(heading_deg=90, pitch_deg=2, pitch_range_deg=(-10, 3), width=W, height=H)
    with pytest.raises(SolarGeometryError, match="of the camera draws"):
        implied_ground_azimuth(45.0, 2.0, cam, 1000, 0.95, 0, 0.5)


def test_low_camera_spreads_the_implied_azimuth():
    """Near the horizon the ground is seen edge-on: the same image uncertainty means far more on the ground."""
    steep = CameraModel(heading_deg=90, pitch_deg=45, width=W, height=H)
    shallow = steep.model_copy(update={"pitch_deg": 3.0})
    widths = []
    for cam in (steep, shallow):   # the same oblique shadow (60 deg off the view axis) seen by both
        d = ground_azimuth_to_image_direction(150.0, cam)
        widths.append(np.ptp(implied_ground_azimuth(d, 2.0, cam, 2000, 0.95, 0, 0.5).quantile_offsets(0.95)))
    assert widths[1] > 5 * widths[0]


def test_direction_error_has_the_measured_heavy_tails():
    """The stated 1 sigma holds 68 % of the draws either way; with the default Student t (5 dof) the 95 %
    interval is ~2.3 sigma wide on each side, not 1.96 (measured errors have such tails)."""
    cam = CameraModel(heading_deg=0, pitch_deg=90, width=W, height=H)   # straight down: image = ground, rotated
    half = {}
    for dof in (None, 5.0):
        imp = implied_ground_azimuth(30.0, 2.0, cam, 40000, 0.95, 0, 0.5, direction_dof=dof)
        d = np.abs(imp.offsets(imp.draws_deg))
        assert np.mean(d <= 2.0) == pytest.approx(0.6827, abs=0.01)
        half[dof] = np.percentile(d, 95) / 2.0
    assert half[None] == pytest.approx(1.96, abs=0.05)
    assert half[5.0] == pytest.approx(direction_interval_sigmas(0.95), abs=0.06)
    assert direction_interval_sigmas(0.95) == pytest.approx(2.571 / 1.111, abs=0.01)


# ----------------------------------------------------------------- chronolocation

def test_chronolocation_recovers_a_known_time_with_a_width_matching_sigma():
    lat, lon = KAFRANBEL
    truth = utc(2016, 10, 26, 9, 30)
    cam = CameraModel(heading_deg=60, pitch_deg=25, width=W, height=H)
    d = image_direction_for(lat, lon, truth, cam)
    sigma = 2.0
    ws = time_windows(lat, lon, STRIKE_DAY, STRIKE_DAY + timedelta(days=1), d, sigma, cam)
    assert len(ws) == 1
    w = ws[0]
    assert w.start_utc < truth < w.end_utc
    assert abs((w.best_utc - truth).total_seconds()) < 60
    assert w.start_limit == w.end_limit == "shadow_azimuth"
    # Predicted width: 95% of N(0, sigma) through the local Jacobians (image -> ground -> time).
    eps = 0.01
    dg = wrap180(image_direction_to_ground_azimuth(d + eps, cam) - image_direction_to_ground_azimuth(d - eps, cam))
    sigma_ground = abs(dg / (2 * eps)) * sigma
    rate = abs(azimuth_rate_deg_per_min(lat, lon, truth, 60.0))
    predicted = 2 * 1.96 * sigma_ground / rate
    assert w.minutes == pytest.approx(predicted, rel=0.15)
    assert w.sigma_minutes == pytest.approx(sigma_ground / rate, rel=0.15)


def test_chronolocation_carries_camera_uncertainty():
    lat, lon = KAFRANBEL
    truth = utc(2016, 10, 26, 7, 40)
    nominal = CameraModel(heading_deg=300, pitch_deg=10, width=W, height=H)
    d = image_direction_for(lat, lon, truth, nominal)
    day = (STRIKE_DAY, STRIKE_DAY + timedelta(days=1))
    tight = time_windows(lat, lon, *day, d, 1.0, nominal)
    loose_cam = nominal.model_copy(update={"heading_sigma_deg": 5.0, "pitch_range_deg": (5.0, 20.0),
                                           "roll_sigma_deg": 2.0})
    loose = time_windows(lat, lon, *day, d, 1.0, loose_cam)
    assert len(tight) == len(loose) == 1
    assert loose[0].start_utc < truth < loose[0].end_utc
    assert loose[0].minutes > 2 * tight[0].minutes


def test_two_windows_when_the_sun_passes_an_azimuth_twice():
    """15N at the June solstice: the sun's azimuth rises to ~72 deg then falls back before noon."""
    lat, lon = 15.0, 0.0
    truth = utc(2016, 6, 21, 6, 45)
    cam = CameraModel(heading_deg=250, pitch_deg=30, width=W, height=H)
    d = image_direction_for(lat, lon, truth, cam)
    day = utc(2016, 6, 21)
    ws = time_windows(lat, lon, day, day + timedelta(days=1), d, 0.3, cam)
    assert len(ws) == 2
    assert ws[0].start_utc < truth < ws[0].end_utc
    assert utc(2016, 6, 21, 9, 30) < ws[1].best_utc < utc(2016, 6, 21, 10, 30)
    # A wider sigma merges them into one window that holds both exact fits (best_utc alone would mislead).
    (merged,) = time_windows(lat, lon, day, day + timedelta(days=1), d, 3.0, cam)
    fits = merged.best_fit_times_utc
    assert len(fits) == 2
    assert abs((fits[0] - truth).total_seconds()) < 60
    assert abs((fits[1] - ws[1].best_utc).total_seconds()) < 60


def test_morning_or_evening_when_the_shadow_points_south_in_summer():
    """At 52N in June a south-pointing shadow needs the sun in the north: early morning or late evening."""
    lat, lon = 52.0, 0.0
    cam = CameraModel(heading_deg=180, heading_sigma_deg=30, pitch_deg=30, width=W, height=H)
    d = ground_azimuth_to_image_direction(180.0, cam)
    day = utc(2016, 6, 21)
    ws = time_windows(lat, lon, day, day + timedelta(days=1), d, 2.0, cam)
    assert len(ws) == 2
    morning, evening = ws
    assert morning.end_utc < utc(2016, 6, 21, 7) and evening.start_utc > utc(2016, 6, 21, 17)
    assert morning.start_limit == "sun_elevation" and evening.end_limit == "sun_elevation"
    # No window at all in winter: the sun never stands in the north there.
    winter = utc(2016, 12, 21)
    assert time_windows(lat, lon, winter, winter + timedelta(days=1), d, 2.0, cam) == []


def test_upload_time_truncates_windows():
    lat, lon = KAFRANBEL
    truth = utc(2016, 10, 26, 9, 30)
    cam = CameraModel(heading_deg=60, pitch_deg=25, width=W, height=H)
    d = image_direction_for(lat, lon, truth, cam)
    day = (STRIKE_DAY, STRIKE_DAY + timedelta(days=1))
    full = time_windows(lat, lon, *day, d, 2.0, cam)[0]
    cut = full.start_utc + (full.end_utc - full.start_utc) / 3
    w = time_windows(lat, lon, *day, d, 2.0, cam, upper_bound_utc=cut)
    assert len(w) == 1 and w[0].end_utc == cut and w[0].end_limit == "upper_bound"
    assert time_windows(lat, lon, *day, d, 2.0, cam, upper_bound_utc=full.start_utc - timedelta(minutes=5)) == []


# -------------------------------------------------------------------- filmed_at

def claim_at(when: datetime, **extra) -> dict:
    base = {"kind": "filmed_at", "latitude": KAFRANBEL[0], "longitude": KAFRANBEL[1],
            "time_utc": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "camera_heading_deg": 60.0,
            "camera_heading_sigma_deg": 3.0, "camera_pitch_range_deg": [20.0, 30.0], "segments": [1]}
    base.update(extra)
    return base


TRUTH = utc(2016, 10, 26, 9, 30)
SEED_CAM = CameraModel(heading_deg=60, pitch_deg=25, width=W, height=H)
SHADOW = {"direction_deg": image_direction_for(*KAFRANBEL, TRUTH, SEED_CAM), "uncertainty_deg": 3.0,
          "confidence": 0.8}


def test_filmed_at_consistent_with_margin_to_nearest_edge():
    c = check_filmed_at(claim_at(TRUTH), SHADOW, W, H, params=PARAMS)
    assert c["name"] == "filmed_at" and c["segments"] == [1]
    assert c["verdict"] == "consistent"
    (w,) = c["windows_utc"]
    start = datetime.fromisoformat(w["start_utc"])
    end = datetime.fromisoformat(w["end_utc"])
    expect = min((TRUTH - start).total_seconds(), (end - TRUTH).total_seconds()) / 60
    assert c["margin_minutes"] == pytest.approx(expect, abs=0.2)
    assert abs(wrap180(c["implied_shadow_azimuth_deg"] - c["shadow_azimuth_at_claim_deg"])) < 0.5
    assert c["sun_elevation_at_claim_deg"] > 30


def test_filmed_at_window_claim_overlapping_is_consistent():
    claim = claim_at(TRUTH)
    del claim["time_utc"]
    claim["window_utc"] = ["2016-10-26T10:00:00+03:00", "2016-10-26T13:00:00+03:00"]
    c = check_filmed_at(claim, SHADOW, W, H, params=PARAMS)
    assert c["verdict"] == "consistent"
    assert c["claimed"]["window_utc"] == ["2016-10-26T07:00:00Z", "2016-10-26T10:00:00Z"]


def test_filmed_at_far_from_every_window_is_inconsistent():
    c = check_filmed_at(claim_at(TRUTH + timedelta(hours=4)), SHADOW, W, H, params=PARAMS)
    assert c["verdict"] == "inconsistent"
    end = datetime.fromisoformat(c["windows_utc"][0]["end_utc"])
    assert c["margin_minutes"] == pytest.approx((TRUTH + timedelta(hours=4) - end).total_seconds() / 60, abs=0.2)


def test_filmed_at_just_outside_a_window_is_inconclusive():
    ok = check_filmed_at(claim_at(TRUTH), SHADOW, W, H, params=PARAMS)
    end = datetime.fromisoformat(ok["windows_utc"][0]["end_utc"])
    near = end + timedelta(minutes=PARAMS.time_tolerance_minutes / 2)
    c = check_filmed_at(claim_at(near), SHADOW, W, H, params=PARAMS)
    assert c["verdict"] == "inconclusive" and "tolerance" in c["evidence"]
    assert c["margin_minutes"] == pytest.approx(PARAMS.time_tolerance_minutes / 2, abs=0.2)


@pytest.mark.parametrize("shadow, needle", [
    ({"direction_deg": None, "uncertainty_deg": None, "confidence": 0.0, "reason": "no casters found"},
     "no casters found"),
    ({"direction_deg": 100.0, "uncertainty_deg": 5.0, "confidence": 0.1}, "confidence"),
])
def test_filmed_at_without_a_usable_direction_is_inconclusive(shadow, needle):
    c = check_filmed_at(claim_at(TRUTH), shadow, W, H, params=PARAMS)
    assert c["verdict"] == "inconclusive" and needle in c["evidence"]
    assert c["windows_utc"] == []


def test_filmed_at_night_is_inconclusive():
    c = check_filmed_at(claim_at(utc(2016, 10, 26, 22, 0)), SHADOW, W, H, params=PARAMS)
    assert c["verdict"] == "inconclusive" and "elevation" in c["evidence"]
    assert c["sun_elevation_at_claim_deg"] < 0


def test_filmed_at_camera_above_the_horizon_is_inconclusive():
    c = check_filmed_at(claim_at(TRUTH, camera_pitch_range_deg=[-10.0, -1.0]), SHADOW, W, H, params=PARAMS)
    assert c["verdict"] == "inconclusive" and "geometry" in c["evidence"]


def test_filmed_at_respects_the_upload_time():
    upload = utc(2016, 10, 26, 9, 37)   # the first RFS video's upload time
    c = check_filmed_at(claim_at(TRUTH), SHADOW, W, H, upload, params=PARAMS)
    assert c["verdict"] == "consistent"
    assert c["windows_utc"][-1]["end_utc"] == "2016-10-26T09:37:00Z"
    assert c["windows_utc"][-1]["end_limit"] == "upper_bound"
    assert c["margin_minutes"] == pytest.approx(7.0, abs=0.2)
    late = check_filmed_at(claim_at(utc(2016, 10, 26, 12, 0)), SHADOW, W, H, upload, params=PARAMS)
    assert late["verdict"] == "inconsistent" and "after the upload" in late["evidence"]


def test_a_shallow_view_cannot_date_footage():
    """The seed case's geometry: a rooftop 2.8 km from the town looks almost level, so a
    shadow direction in the image says little about the ground: inconclusive, not 'consistent'."""
    from vidforensics.claims import parse_claims

    claim = parse_claims({"claims": [{
        "kind": "filmed_at", "latitude": KAFRANBEL[0], "longitude": KAFRANBEL[1],
        "time_utc": "2016-10-26T09:00:00Z", "camera_heading_deg": 90.0, "camera_heading_sigma_deg": 5.0,
        "camera_pitch_range_deg": [0.2, 2.0]}]}).claims[0]
    sun_az, _ = sun_position(*KAFRANBEL, utc(2016, 10, 26, 9, 0))
    level = CameraModel(heading_deg=90.0, heading_sigma_deg=5.0, pitch_deg=1.0, width=1280, height=720)
    seen = ground_azimuth_to_image_direction(shadow_azimuth_from_sun(sun_az), level)
    out = check_filmed_at(claim, {"direction_deg": seen, "uncertainty_deg": 2.0, "confidence": 0.9},
                          1280, 720, params=PARAMS, segment=0)
    assert out["verdict"] == "inconclusive"
    assert "too shallow" in out["evidence"]
