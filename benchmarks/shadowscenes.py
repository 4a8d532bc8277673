"""Exact, fast ray-cast outdoor scenes with cast shadows, for the shadow benchmark.

A scene is a textured ground plane (soil, grass, asphalt roads with painted
lines, paving joints) carrying buildings with flat roofs and windows, poles and
masts, satellite dishes (a tilted disc on a short stand, on the ground or on
roofs), cars/walls (boxes) and people-like slabs, seen by a pinhole camera and
lit by a sun (warm, with a small disc: soft shadow edges) and a sky (bluish,
with a few ambient-occlusion rays), or by the sky alone (``overcast``).

Rendering: one Embree ray per sub-pixel (``supersample`` x ``supersample`` per
pixel) through ``trimesh.ray.ray_pyembree``; the ground is intersected
analytically; each visible point casts one shadow ray toward a point of the sun
disc (jittered per sub-pixel) and ``ao_samples`` sky-visibility rays.

Ground truth is exact geometry, not read from the picture:

* ``direction_deg``: the image-plane direction, ``atan2(dy, dx)`` in pixels
  (x right, y down), degrees in [0, 360), of the vector from a vertical
  caster's base toward its shadow's tip, for a caster standing at the ground
  point seen at the image centre; it is the derivative of the projection of
  ``P + t s`` at ``t = 0`` (``P`` the ground point under the centre, ``s`` the
  horizontal unit vector pointing away from the sun's azimuth).
* ``vanishing_point``: the image of the point at infinity in direction ``s``
  (the shadow vanishing point; every ground shadow of a vertical caster lies
  on a line through it), with ``vp_in_front`` saying whether the shadows run
  toward it (True) or away from it.

World frame: x east, y north, z up, metres; azimuths clockwise from north.

Usage::

    from shadowscenes import SceneSpec, random_spec, render_scene, render_clip
    rgb, truth = render_scene(random_spec(seed=3))
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
import trimesh
from trimesh.ray.ray_pyembree import RayMeshIntersector

SUN_RADIUS_DEG = 0.267


# ----------------------------------------------------------------------------- spec
@dataclass
class SceneSpec:
    """Everything that defines one rendered scene (all angles in degrees).

    Attributes
    ----------
    seed : seeds the scene content, textures and noise.
    width, height : image size in pixels.
    hfov_deg : horizontal field of view (telephoto 10-20, wide 50-70).
    cam_heading_deg : azimuth of the optical axis, clockwise from north.
    cam_pitch_deg : tilt below the horizon (> 0, so the centre sees the ground).
    cam_roll_deg : rotation about the optical axis (positive: image turns clockwise).
    cam_distance_m : distance from the camera to the ground point at the image centre.
    sun_azimuth_deg, sun_elevation_deg : the sun's position.
    overcast : no direct sun: sky light only, no crisp shadows.
    n_buildings, n_poles, n_dishes, n_boxes, n_people : scene content (None: drawn from seed).
    supersample : rays per pixel per axis (2: 2x2).
    ao_samples : sky-visibility rays per sub-pixel (None: 1 sunny, 4 overcast).
    soft_shadows : jitter shadow rays over the sun disc.
    noise_sigma : sensor noise, 8-bit levels (applied by :func:`degrade`).
    blur_sigma : optical blur in pixels (Gaussian).
    jpeg_quality : 0 for none, else JPEG re-compression quality.
    visibility_m : meteorological visibility for aerial haze.
    """

    seed: int = 0
    width: int = 640
    height: int = 480
    hfov_deg: float = 60.0
    cam_heading_deg: float = 0.0
    cam_pitch_deg: float = 25.0
    cam_roll_deg: float = 0.0
    cam_distance_m: float = 40.0
    sun_azimuth_deg: float = 135.0
    sun_elevation_deg: float = 40.0
    overcast: bool = False
    n_buildings: int | None = None
    n_poles: int | None = None
    n_dishes: int | None = None
    n_boxes: int | None = None
    n_people: int | None = None
    supersample: int = 2
    ao_samples: int | None = None
    soft_shadows: bool = True
    noise_sigma: float = 2.0
    blur_sigma: float = 0.6
    jpeg_quality: int = 0
    visibility_m: float = 8000.0
    tone_key: float = 0.80       # auto-exposure: the 99th-percentile luminance maps to this
    tone_gamma: float = 2.2      # the camera's tone curve, x ** (1 / tone_gamma)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def focal_px(self) -> float:
        """Focal length in pixels from the horizontal field of view."""
        return 0.5 * self.width / math.tan(math.radians(self.hfov_deg) / 2)


def random_spec(seed: int, *, kind: str | None = None, overcast: bool = False, **over: Any) -> SceneSpec:
    """Draw a plausible scene spec from a seed.

    Parameters
    ----------
    seed : the seed (scene content, camera, sun, degradations).
    kind : ``"tele"`` (hfov 10-20 deg, distant, shallow pitch, rooftop height) or
        ``"wide"`` (hfov 50-70 deg, near, steeper pitch); None: either.
    overcast : sky light only.
    **over : any :class:`SceneSpec` field to force.
    """
    rng = np.random.default_rng(seed + 7_000_003)
    if kind is None:
        kind = "tele" if rng.random() < 0.5 else "wide"
    if kind == "tele":
        hfov = rng.uniform(10, 20)
        dist = rng.uniform(150, 500)
        pitch = rng.uniform(3, 12)
    else:
        hfov = rng.uniform(50, 70)
        dist = rng.uniform(25, 70)
        pitch = rng.uniform(15, 40)
    spec = SceneSpec(
        seed=seed, hfov_deg=hfov, cam_heading_deg=rng.uniform(0, 360), cam_pitch_deg=pitch,
        cam_roll_deg=rng.normal(0, 1.5), cam_distance_m=dist,
        sun_azimuth_deg=rng.uniform(0, 360), sun_elevation_deg=rng.uniform(15, 70),
        overcast=overcast, noise_sigma=rng.uniform(1, 4), blur_sigma=rng.uniform(0.3, 1.0),
        jpeg_quality=int(rng.choice([0, 60, 75, 90])), visibility_m=rng.uniform(3000, 15000),
        extra={"kind": kind},
    )
    return replace(spec, **over)


# ----------------------------------------------------------------------------- camera
@dataclass
class Camera:
    """Pinhole camera: centre ``C``, orthonormal ``right``, ``down``, ``fwd``, focal ``f``, principal point."""

    C: np.ndarray
    right: np.ndarray
    down: np.ndarray
    fwd: np.ndarray
    f: float
    cx: float
    cy: float

    @property
    def R(self) -> np.ndarray:
        """World-to-camera rotation (rows: right, down, forward)."""
        return np.stack([self.right, self.down, self.fwd])

    def project(self, X: np.ndarray) -> np.ndarray:
        """Project world points (..., 3) to pixels (..., 2) (no visibility test)."""
        Xc = (np.asarray(X, float) - self.C) @ self.R.T
        return np.stack([self.cx + self.f * Xc[..., 0] / Xc[..., 2],
                         self.cy + self.f * Xc[..., 1] / Xc[..., 2]], -1)

    def ray(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Unit world directions of the rays through pixels (u, v)."""
        d = (self.fwd[None] + ((u - self.cx) / self.f)[:, None] * self.right[None]
             + ((v - self.cy) / self.f)[:, None] * self.down[None])
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    def rotated(self, R_rel: np.ndarray) -> "Camera":
        """The same centre, rotated by ``R_rel`` in camera coordinates (new R = R_rel @ R)."""
        Rn = R_rel @ self.R
        return replace(self, right=Rn[0], down=Rn[1], fwd=Rn[2])

    def K(self) -> np.ndarray:
        return np.array([[self.f, 0, self.cx], [0, self.f, self.cy], [0, 0, 1.0]])


def make_camera(spec: SceneSpec, margin: int = 0) -> Camera:
    """The spec's camera, looking at the world origin (the ground point under the image centre).

    ``margin`` widens the canvas by that many pixels on every side (same focal
    length, centre kept): used to render once and warp for shaken clips.
    """
    h, p, r = (math.radians(a) for a in (spec.cam_heading_deg, spec.cam_pitch_deg, spec.cam_roll_deg))
    fwd = np.array([math.sin(h) * math.cos(p), math.cos(h) * math.cos(p), -math.sin(p)])
    right = np.array([math.cos(h), -math.sin(h), 0.0])
    down = np.cross(fwd, right)
    # roll: rotate right/down about fwd (positive = the picture turns clockwise on screen)
    cr, sr = math.cos(r), math.sin(r)
    right, down = cr * right + sr * down, -sr * right + cr * down
    C = -spec.cam_distance_m * fwd
    return Camera(C=C, right=right, down=down, fwd=fwd, f=spec.focal_px,
                  cx=spec.width / 2 + margin, cy=spec.height / 2 + margin)


def sun_vector(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector toward the sun (x east, y north, z up)."""
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.sin(a) * math.cos(e), math.cos(a) * math.cos(e), math.sin(e)])


def shadow_ground_direction(azimuth_deg: float) -> np.ndarray:
    """Horizontal unit vector along which a vertical caster's shadow runs (away from the sun)."""
    a = math.radians(azimuth_deg)
    return -np.array([math.sin(a), math.cos(a), 0.0])


def centre_ground_point(cam: Camera) -> np.ndarray:
    """The ground point (z = 0) seen at the principal point."""
    if cam.fwd[2] >= 0:
        raise ValueError("the image centre does not see the ground (pitch <= 0)")
    return cam.C - cam.C[2] / cam.fwd[2] * cam.fwd


def image_shadow_direction(cam: Camera, sun_azimuth_deg: float, at: tuple[float, float] | None = None) -> float:
    """Exact image-plane shadow direction (deg, [0, 360), atan2(dy, dx), y down) at a pixel.

    The ground point ``P`` seen at pixel ``at`` (default: the principal point),
    and the derivative of ``project(P + t s)`` at ``t = 0``.
    """
    if at is None:
        P = centre_ground_point(cam)
    else:
        d = cam.ray(np.array([at[0]], float), np.array([at[1]], float))[0]
        P = cam.C - cam.C[2] / d[2] * d
    s = shadow_ground_direction(sun_azimuth_deg)
    Xc = cam.R @ (P - cam.C)
    a = cam.R @ s
    dx = a[0] * Xc[2] - Xc[0] * a[2]
    dy = a[1] * Xc[2] - Xc[1] * a[2]
    return float(math.degrees(math.atan2(dy, dx)) % 360.0)


def shadow_vanishing_point(cam: Camera, sun_azimuth_deg: float) -> tuple[tuple[float, float] | None, bool]:
    """The shadow vanishing point and whether shadows run toward it (it lies ahead of the camera)."""
    a = cam.R @ shadow_ground_direction(sun_azimuth_deg)
    if abs(a[2]) < 1e-12:
        return None, True
    return (float(cam.cx + cam.f * a[0] / a[2]), float(cam.cy + cam.f * a[1] / a[2])), bool(a[2] > 0)


def truth_for_camera(cam: Camera, spec: SceneSpec) -> dict[str, Any]:
    """The geometric truth of a camera + sun (no picture needed)."""
    vp, ahead = shadow_vanishing_point(cam, spec.sun_azimuth_deg)
    P = centre_ground_point(cam)
    return {
        "direction_deg": image_shadow_direction(cam, spec.sun_azimuth_deg),
        "vanishing_point": vp,
        "vp_in_front": ahead,
        "centre_ground_point": P.tolist(),
        "camera": {"position": cam.C.tolist(), "right": cam.right.tolist(), "down": cam.down.tolist(),
                   "forward": cam.fwd.tolist(), "focal_px": cam.f, "cx": cam.cx, "cy": cam.cy,
                   "heading_deg": spec.cam_heading_deg, "pitch_deg": spec.cam_pitch_deg,
                   "roll_deg": spec.cam_roll_deg, "hfov_deg": spec.hfov_deg},
        "sun_azimuth_deg": spec.sun_azimuth_deg,
        "sun_elevation_deg": spec.sun_elevation_deg,
        "overcast": spec.overcast,
    }


# ----------------------------------------------------------------------------- textures
class _Noise:
    """Tiling value noise sampled bilinearly in world metres."""

    def __init__(self, rng: np.random.Generator, cell_m: float, n: int = 64):
        self.g = rng.random((n, n)).astype(np.float32)
        self.cell = cell_m
        self.n = n
        self.off = rng.uniform(0, n * cell_m, 2)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u = (x + np.float32(self.off[0])).astype(np.float32) * np.float32(1 / self.cell)
        v = (y + np.float32(self.off[1])).astype(np.float32) * np.float32(1 / self.cell)
        fi = np.floor(u)
        fj = np.floor(v)
        fu = u - fi
        fv = v - fj
        fu = fu * fu * (3 - 2 * fu)
        fv = fv * fv * (3 - 2 * fv)
        m = self.n - 1                      # n is a power of two
        i0 = fi.astype(np.int32) & m
        j0 = fj.astype(np.int32) & m
        i1 = (i0 + 1) & m
        j1 = (j0 + 1) & m
        g = self.g
        a = g[j0, i0] + (g[j0, i1] - g[j0, i0]) * fu
        b = g[j1, i0] + (g[j1, i1] - g[j1, i0]) * fu
        return a + (b - a) * fv


def _fbm(noises: list[_Noise], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    acc = np.zeros(x.shape, np.float32)
    w = 0.0
    for k, nz in enumerate(noises):
        amp = 0.55 ** k
        acc += amp * nz(x, y)
        w += amp
    return acc / w


GROUND_MATERIALS = {
    "soil": (0.42, 0.34, 0.24),
    "dry_grass": (0.40, 0.38, 0.20),
    "grass": (0.16, 0.26, 0.09),
    "concrete": (0.46, 0.45, 0.42),
    "sand": (0.56, 0.48, 0.34),
}


class _Ground:
    """Procedural ground albedo: material patches, grain, roads with painted lines, paving joints."""

    def __init__(self, rng: np.random.Generator, extent_m: float):
        mats = list(GROUND_MATERIALS)
        pick = rng.choice(len(mats), 2, replace=False)
        self.c1 = np.array(GROUND_MATERIALS[mats[pick[0]]], np.float32)
        self.c2 = np.array(GROUND_MATERIALS[mats[pick[1]]], np.float32)
        big = max(4.0, extent_m / 6)
        self.patch = [_Noise(rng, big), _Noise(rng, big / 2.3), _Noise(rng, big / 5.1)]
        self.grain = [_Noise(rng, 0.9), _Noise(rng, 0.37), _Noise(rng, 0.13)]
        self.roads = []
        for _ in range(int(rng.integers(0, 3))):
            ang = rng.uniform(0, np.pi)
            off = rng.uniform(-0.4, 0.4) * extent_m
            width = rng.uniform(5, 10)
            self.roads.append((np.array([math.cos(ang), math.sin(ang)]), off, width, rng.uniform(0, 10)))
        self.paving = None
        if rng.random() < 0.5:
            ang = rng.uniform(0, np.pi)
            self.paving = (np.array([math.cos(ang), math.sin(ang)]), rng.uniform(0.8, 2.5),
                           rng.uniform(-0.3, 0.3) * extent_m, rng.uniform(0.2, 0.5) * extent_m)

    def albedo(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        m = _fbm(self.patch, x, y)
        m = np.clip((m - 0.5) * 4 + 0.5, 0, 1)[:, None]
        col = self.c1[None] * (1 - m) + self.c2[None] * m
        g = _fbm(self.grain, x, y)
        col = col * (0.78 + 0.44 * g)[:, None]
        if self.paving is not None:
            d, step, off, rad = self.paving
            u = x * d[0] + y * d[1]
            v = -x * d[1] + y * d[0]
            inside = np.hypot(u - off, v) < rad
            joint = (np.abs(((u / step) + 0.5) % 1 - 0.5) * step < 0.03) | (np.abs(((v / step) + 0.5) % 1 - 0.5) * step < 0.03)
            col[inside] = np.float32([0.5, 0.49, 0.46]) * (0.9 + 0.2 * g[inside, None])
            col[inside & joint] *= 0.55
        for d, off, width, phase in self.roads:
            # signed distance across the road, position along it
            across = -x * d[1] + y * d[0] - off
            along = x * d[0] + y * d[1]
            on = np.abs(across) < width / 2
            col[on] = np.float32([0.13, 0.13, 0.14]) * (0.85 + 0.3 * g[on, None])
            edge = on & (np.abs(np.abs(across) - (width / 2 - 0.4)) < 0.08)
            centre = on & (np.abs(across) < 0.07) & (((along + phase) % 6.0) < 3.0)
            col[edge | centre] = np.float32([0.75, 0.74, 0.70])
        return col


# ----------------------------------------------------------------------------- scene content
@dataclass
class _Scene:
    mesh: trimesh.Trimesh
    face_obj: np.ndarray       # object index per face
    obj_kind: list[str]
    obj_albedo: np.ndarray     # (n_obj, 3)
    obj_caster: np.ndarray     # bool: a vertical caster standing on the ground
    ground: _Ground
    obj_info: list[dict]


def _box(w, d, h, x, y, z0, yaw):
    m = trimesh.creation.box((w, d, h))
    T = trimesh.transformations.rotation_matrix(yaw, [0, 0, 1])
    T[:3, 3] = [x, y, z0 + h / 2]
    m.apply_transform(T)
    return m


def _cyl(r, h, x, y, z0, sections=10):
    m = trimesh.creation.cylinder(radius=r, height=h, sections=sections)
    m.apply_translation([x, y, z0 + h / 2])
    return m


def _dish(rng, x, y, z0, scale):
    """A disc (the reflector) on a short stand, tilted toward a random azimuth."""
    R = rng.uniform(0.35, 0.9) * scale
    stand_h = rng.uniform(0.5, 1.4) * scale
    parts = [_cyl(0.04 * scale + 0.02, stand_h, x, y, z0, 6)]
    disc = trimesh.creation.cylinder(radius=R, height=0.06 * scale, sections=18)
    tilt = math.radians(rng.uniform(30, 65))
    az = rng.uniform(0, 2 * np.pi)
    T = trimesh.transformations.rotation_matrix(tilt, [math.cos(az), math.sin(az), 0])
    T[:3, 3] = [x, y, z0 + stand_h + 0.15 * R]
    disc.apply_transform(T)
    parts.append(disc)
    return trimesh.util.concatenate(parts)


def _sample_ground_points(cam: Camera, spec: SceneSpec, rng, n, max_dist, margin=0.08):
    """Ground points seen at random pixels (uniform in the image), nearer than ``max_dist`` to the camera."""
    out = []
    tries = 0
    while len(out) < n and tries < 50 * max(n, 1):
        tries += 1
        u = rng.uniform(-margin, 1 + margin) * (cam.cx * 2)
        v = rng.uniform(0.05, 1 + margin) * (cam.cy * 2)
        d = cam.ray(np.array([u]), np.array([v]))[0]
        if d[2] > -1e-3:
            continue
        t = -cam.C[2] / d[2]
        if t > max_dist or t < 0.25 * spec.cam_distance_m:
            continue
        out.append(cam.C + t * d)
    return out


def build_scene(spec: SceneSpec, cam: Camera) -> _Scene:
    """Place the objects of a spec in world space (seeded), as one mesh with per-face object ids."""
    rng = np.random.default_rng(spec.seed)
    dist = spec.cam_distance_m
    tele = spec.hfov_deg < 35
    scale = 1.0
    n_b = spec.n_buildings if spec.n_buildings is not None else int(rng.integers(2, 7))
    n_p = spec.n_poles if spec.n_poles is not None else int(rng.integers(3, 11))
    n_d = spec.n_dishes if spec.n_dishes is not None else int(rng.integers(1, 6))
    n_x = spec.n_boxes if spec.n_boxes is not None else int(rng.integers(2, 7))
    n_h = spec.n_people if spec.n_people is not None else int(rng.integers(0, 7))
    max_dist = 2.2 * dist
    pts = _sample_ground_points(cam, spec, rng, n_b + n_p + n_d + n_x + n_h + 20, max_dist)
    parts, kinds, albedo, caster, info = [], [], [], [], []
    footprints: list[tuple[float, float, float]] = []
    roofs: list[tuple[float, float, float, float]] = []
    cam_xy = cam.C[:2]

    def free(x, y, r, near=0.0):
        if np.hypot(x - cam_xy[0], y - cam_xy[1]) < max(r + 3, near):
            return False
        return all(np.hypot(x - a, y - b) > r + c for a, b, c in footprints)

    def add(mesh, kind, col, is_caster, **meta):
        parts.append(mesh)
        kinds.append(kind)
        albedo.append(col)
        caster.append(is_caster)
        info.append({"kind": kind, **meta})

    if spec.extra.get("centre_pole"):  # a vertical pole standing on the centre ground point (for checks)
        hp = float(spec.extra.get("centre_pole_height", 0.12 * dist))
        add(_cyl(0.004 * dist, hp, 0.0, 0.0, 0.0, 12), "pole", np.array([0.3, 0.3, 0.3]), True, xy=[0.0, 0.0], height=hp)
        footprints.append((0.0, 0.0, 0.05 * dist + 1))
    it = iter(pts)
    for _ in range(n_b):
        for p in it:
            w, d = rng.uniform(6, 22, 2) * (1.4 if tele else 0.8)
            h = rng.uniform(3, 14) * (1.0 if tele else 0.8)
            if free(p[0], p[1], 0.5 * math.hypot(w, d), near=0.7 * dist):
                break
        else:
            break
        yaw = rng.uniform(0, np.pi)
        col = np.array([0.55, 0.5, 0.42]) * rng.uniform(0.7, 1.3) + rng.normal(0, 0.04, 3)
        add(_box(w, d, h, p[0], p[1], 0, yaw), "building", np.clip(col, 0.1, 0.8), True,
            xy=[float(p[0]), float(p[1])], size=[w, d, h], yaw=yaw)
        footprints.append((p[0], p[1], 0.5 * math.hypot(w, d)))
        roofs.append((p[0], p[1], h, 0.3 * min(w, d)))
        if rng.random() < 0.5:  # parapet / roof box
            add(_box(w * 0.3, d * 0.3, rng.uniform(1, 2.5), p[0], p[1], h, yaw), "rooftop", np.clip(col * 0.9, 0, 1), False)
    for _ in range(n_p):
        for p in it:
            if free(p[0], p[1], 0.5):
                break
        else:
            break
        h = rng.uniform(4, 12)
        r = rng.uniform(0.06, 0.18) * (1.6 if tele else 1.0)
        col = np.array([0.35, 0.35, 0.36]) * rng.uniform(0.6, 1.6)
        if rng.random() < 0.3:
            m = _box(2 * r, 2 * r, h, p[0], p[1], 0, rng.uniform(0, np.pi))
        else:
            m = _cyl(r, h, p[0], p[1], 0, 8)
        add(m, "pole", np.clip(col, 0, 0.8), True, xy=[float(p[0]), float(p[1])], height=h, radius=r)
        footprints.append((p[0], p[1], 0.5))
    for _ in range(n_d):
        col = np.array([0.75, 0.75, 0.73]) * rng.uniform(0.8, 1.1)
        if roofs and rng.random() < 0.5:
            x, y, z0, rad = roofs[int(rng.integers(len(roofs)))]
            ang = rng.uniform(0, 2 * np.pi)
            x, y = x + rad * math.cos(ang) * rng.random(), y + rad * math.sin(ang) * rng.random()
            add(_dish(rng, x, y, z0, 1.3 if tele else 1.0), "dish", col, False, xy=[float(x), float(y)], z0=z0)
            continue
        for p in it:
            if free(p[0], p[1], 1.2):
                break
        else:
            break
        add(_dish(rng, p[0], p[1], 0, 1.3 if tele else 1.0), "dish", col, True, xy=[float(p[0]), float(p[1])], z0=0.0)
        footprints.append((p[0], p[1], 1.2))
    for _ in range(n_x):
        for p in it:
            if free(p[0], p[1], 2.5):
                break
        else:
            break
        if rng.random() < 0.6:  # car
            w, d, h = 4.4, 1.8, 1.45
        else:  # wall segment
            w, d, h = rng.uniform(4, 12), 0.3, rng.uniform(1.5, 2.5)
        col = np.clip(rng.uniform(0.1, 0.8, 3), 0, 1)
        add(_box(w, d, h, p[0], p[1], 0, rng.uniform(0, np.pi)), "box", col, True, xy=[float(p[0]), float(p[1])], size=[w, d, h])
        footprints.append((p[0], p[1], 0.5 * math.hypot(w, d)))
    for _ in range(n_h):
        for p in it:
            if free(p[0], p[1], 0.5):
                break
        else:
            break
        col = np.clip(rng.uniform(0.1, 0.6, 3), 0, 1)
        add(_box(0.5, 0.28, rng.uniform(1.55, 1.85), p[0], p[1], 0, rng.uniform(0, np.pi)), "person", col, True,
            xy=[float(p[0]), float(p[1])])
        footprints.append((p[0], p[1], 0.5))
    if not parts:  # keep Embree happy: a tiny box far below the ground
        parts.append(_box(0.1, 0.1, 0.1, 0, 0, -1000, 0))
        kinds.append("dummy")
        albedo.append(np.zeros(3))
        caster.append(False)
        info.append({"kind": "dummy"})
    face_obj = np.concatenate([np.full(len(m.faces), i) for i, m in enumerate(parts)])
    mesh = trimesh.util.concatenate(parts)
    extent = max(40.0, 2 * dist * math.tan(math.radians(spec.hfov_deg)))
    return _Scene(mesh, face_obj, kinds, np.array(albedo, np.float32), np.array(caster), _Ground(rng, extent), info)


# ----------------------------------------------------------------------------- rendering
def _cosine_local(m: int, rng) -> np.ndarray:
    """``m`` cosine-weighted directions about +z (float32)."""
    u1 = rng.random(m, dtype=np.float32)
    phi = rng.random(m, dtype=np.float32) * np.float32(2 * np.pi)
    r = np.sqrt(u1)
    return np.stack([r * np.cos(phi), r * np.sin(phi), np.sqrt(1 - u1)], 1)


def _cosine_dirs(n: np.ndarray, rng) -> np.ndarray:
    """One cosine-weighted random direction per normal."""
    local = _cosine_local(len(n), rng)
    a = np.zeros_like(n)
    horiz = np.abs(n[:, 2]) < 0.9
    a[horiz, 2] = 1
    a[~horiz, 0] = 1
    t = np.cross(n, a)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    b = np.cross(n, t)
    return local[:, :1] * t + local[:, 1:2] * b + local[:, 2:3] * n


def _light(spec: SceneSpec):
    e = spec.sun_elevation_deg
    warm = float(np.clip((30 - e) / 25, 0, 1))   # lower sun: warmer and weaker
    sun = np.array([1.0, 0.93 - 0.10 * warm, 0.82 - 0.22 * warm], np.float32) * (3.2 - 0.6 * warm)
    if spec.overcast:
        return np.zeros(3, np.float32), np.array([0.95, 0.97, 1.0], np.float32) * 1.2
    sky = np.array([0.42, 0.55, 0.85], np.float32) * 0.55
    return sun, sky


def _plane_t(mesh_n, mesh_v0, tri, O, d):
    """Distance along rays (O, d) to the planes of the hit triangles ``tri``."""
    nh = mesh_n[tri]
    return np.einsum("ij,ij->i", nh, mesh_v0[tri] - O) / np.einsum("ij,ij->i", nh, d)


def hazed(col: np.ndarray, dist: np.ndarray, spec: SceneSpec) -> np.ndarray:
    """Linear colours ``col`` (..., 3) seen through aerial haze over distances ``dist`` (...,) in metres
    (extinction 1.5 / visibility; inf: the haze colour itself)."""
    haze = np.float32([0.70, 0.76, 0.86]) if not spec.overcast else np.float32([0.78, 0.8, 0.83])
    fog = (1 - np.exp(-1.5 * dist / spec.visibility_m)).astype(np.float32)[..., None]
    return col * (1 - fog) + haze * (fog * 1.2)


def render_linear(spec: SceneSpec, cam: Camera, scene: _Scene | None = None,
                  width: int | None = None, height: int | None = None) -> tuple[np.ndarray, dict]:
    """Render linear RGB (float32, H x W x 3) and per-pixel facts (shadow mask, object ids, sky).

    ``width``/``height`` override the canvas size (for margins); the camera's
    principal point must match.
    """
    W = width or spec.width
    H = height or spec.height
    scene = scene or build_scene(spec, cam)
    ss = max(1, int(spec.supersample))
    rng = np.random.default_rng(spec.seed + 911)
    f32 = np.float32
    off = ((np.arange(ss) + 0.5) / ss).astype(f32)
    vv, uu = np.meshgrid(np.arange(H, dtype=f32), np.arange(W, dtype=f32), indexing="ij")
    u = np.broadcast_to(uu[:, :, None, None] + off[None, None, None, :], (H, W, ss, ss)).reshape(-1)
    v = np.broadcast_to(vv[:, :, None, None] + off[None, None, :, None], (H, W, ss, ss)).reshape(-1)
    N = u.size
    Rm = cam.R.astype(f32)
    d = np.empty((N, 3), f32)
    xs = (u - f32(cam.cx)) / f32(cam.f)
    ys = (v - f32(cam.cy)) / f32(cam.f)
    for k in range(3):
        d[:, k] = Rm[2, k] + xs * Rm[0, k] + ys * Rm[1, k]
    d /= np.sqrt(1 + xs * xs + ys * ys)[:, None]
    C = cam.C.astype(f32)
    rmi = RayMeshIntersector(scene.mesh)
    tri = rmi.intersects_first(np.broadcast_to(C, d.shape), d)
    fn = scene.mesh.face_normals.astype(f32)
    v0 = scene.mesh.triangles[:, 0].astype(f32)
    hit = np.nonzero(tri >= 0)[0]
    t_obj = _plane_t(fn, v0, tri[hit], C[None], d[hit])
    dz = d[:, 2]
    t = np.full(N, np.inf, f32)
    gmask = dz < -1e-7
    t[gmask] = -C[2] / dz[gmask]
    closer = t_obj < t[hit]
    obj_i = hit[closer]
    t[obj_i] = t_obj[closer]
    on_obj = np.zeros(N, bool)
    on_obj[obj_i] = True
    on_gnd = gmask & ~on_obj
    sky_px = ~on_obj & ~on_gnd
    gnd_i = np.nonzero(on_gnd)[0]
    si = np.nonzero(~sky_px)[0]                      # surfaces: ground and objects
    ts = t[si]
    X = C[None] + ts[:, None] * d[si]
    n = np.zeros((len(si), 3), f32)
    n[:, 2] = 1
    is_obj_s = on_obj[si]
    oloc = np.nonzero(is_obj_s)[0]                   # object rows within si
    gloc = np.nonzero(~is_obj_s)[0]
    otri = tri[si[oloc]]
    no = fn[otri]
    flip = np.einsum("ij,ij->i", no, d[si[oloc]]) > 0
    no[flip] *= -1
    n[oloc] = no
    alb = np.empty((len(si), 3), f32)
    alb[gloc] = scene.ground.albedo(X[gloc, 0], X[gloc, 1])
    obj = scene.face_obj[otri]
    alb[oloc] = scene.obj_albedo[obj]
    is_b = np.array([k == "building" for k in scene.obj_kind])[obj]
    wall = is_b & (np.abs(no[:, 2]) < 0.5)
    if wall.any():
        wi = oloc[wall]
        hor = X[wi, 0] * -n[wi, 1] + X[wi, 1] * n[wi, 0]
        fh = (hor / 3.2) % 1
        fz = (X[wi, 2] / 3.0) % 1
        win = (fh > 0.35) & (fh < 0.75) & (fz > 0.35) & (fz < 0.8) & (X[wi, 2] > 1)
        alb[wi[win]] *= 0.35
    if len(oloc):
        gr = _fbm(scene.ground.grain[:2], X[oloc, 0] + 3.1 * X[oloc, 2], X[oloc, 1] - 1.7 * X[oloc, 2])
        alb[oloc] *= (0.88 + 0.24 * gr)[:, None]
    sun_rgb, sky_rgb = _light(spec)
    L0 = sun_vector(spec.sun_azimuth_deg, spec.sun_elevation_deg).astype(f32)
    Xo = X + (2e-3 + 2e-5 * ts)[:, None] * n
    lit = np.zeros(len(si), f32)
    if not spec.overcast:
        ndl = n @ L0
        fi = np.nonzero(ndl > 0)[0]
        if spec.soft_shadows:
            a_ = np.cross(L0, np.array([0, 0, 1], f32))
            a_ /= np.linalg.norm(a_)
            b_ = np.cross(L0, a_)
            rr = f32(math.radians(SUN_RADIUS_DEG)) * np.sqrt(rng.random(len(fi), dtype=f32))
            ph = rng.random(len(fi), dtype=f32) * f32(2 * np.pi)
            L = L0[None] + (rr * np.cos(ph))[:, None] * a_[None] + (rr * np.sin(ph))[:, None] * b_[None]
        else:
            L = np.broadcast_to(L0, (len(fi), 3))
        blocked = rmi.intersects_any(Xo[fi], L)
        lit[fi] = np.where(blocked, 0, ndl[fi])
    # which object casts each visible ground shadow (the truth's visible shadows per caster)
    caster = np.full(N, -1, np.int64)
    if not spec.overcast:
        dark = gloc[lit[gloc] == 0]
        tri_s = rmi.intersects_first(Xo[dark], np.broadcast_to(L0, (len(dark), 3)))
        hit_s = tri_s >= 0
        caster[si[dark[hit_s]]] = scene.face_obj[tri_s[hit_s]]
    # sky light with ambient occlusion (blockers within max(30 m, 0.3 x distance) count)
    ao_n = spec.ao_samples if spec.ao_samples is not None else (4 if spec.overcast else 1)
    skyvis = np.ones(len(si), f32)
    if ao_n > 0:
        acc = np.zeros(len(si), f32)
        reach = np.maximum(30.0, 0.3 * ts)
        for _ in range(ao_n):
            dd = np.empty((len(si), 3), f32)
            dd[gloc] = _cosine_local(len(gloc), rng)
            if len(oloc):
                dd[oloc] = _cosine_dirs(n[oloc], rng)
            tr = rmi.intersects_first(Xo, dd)
            io = np.nonzero(tr >= 0)[0]
            th = _plane_t(fn, v0, tr[io], Xo[io], dd[io])
            occ = np.zeros(len(si), bool)
            occ[io] = th < reach[io]
            acc += ~occ
        skyvis = acc / ao_n
    nz = n[:, 2]
    sky_w = (0.55 + 0.45 * nz) * skyvis
    E = lit[:, None] * sun_rgb[None] + sky_w[:, None] * sky_rgb[None]
    if not spec.overcast:
        E += (np.float32([0.40, 0.36, 0.30]) * 0.35 * (1.0 + 2 * math.sin(math.radians(spec.sun_elevation_deg))))[None] \
            * (0.5 - 0.5 * nz)[:, None]
    col = np.empty((N, 3), f32)
    col[si] = alb * E
    # sky: gradient, brighter toward the horizon and around the sun
    sk = np.nonzero(sky_px)[0]
    elev = np.clip(d[sk, 2], 0, 1)
    if spec.overcast:
        base = np.float32([0.80, 0.82, 0.86])[None] * (1.0 + 0.2 * elev[:, None])
    else:
        hz = np.float32([0.78, 0.84, 0.95])
        zen = np.float32([0.30, 0.48, 0.85])
        w = np.sqrt(elev)[:, None]
        base = hz[None] * (1 - w) + zen[None] * w
        cosg = np.clip(d[sk] @ L0, -1, 1)
        base = base + np.float32([1.0, 0.9, 0.7])[None] * (0.35 * np.maximum(cosg, 0) ** 32)[:, None]
    col[sk] = base * 1.25
    col[si] = hazed(col[si], ts, spec)
    col = col.reshape(H, W, ss * ss, 3).mean(axis=2)
    shadowed = np.zeros(N, bool)
    if not spec.overcast:
        shadowed[si[gloc]] = lit[gloc] == 0
    ids = np.full(N, -1, np.int64)
    ids[si[oloc]] = obj
    facts = {
        "ground_shadow": shadowed.reshape(H, W, ss * ss).mean(-1),
        "object_id": ids.reshape(H, W, ss * ss)[:, :, 0],
        "shadow_caster": caster.reshape(H, W, ss * ss)[:, :, 0],
        "sky": sky_px.reshape(H, W, ss * ss).mean(-1),
    }
    return col, facts


def tonemap(lin: np.ndarray, key: float = 0.80, gamma: float = 2.2) -> np.ndarray:
    """Auto-exposure (99th percentile luminance to ``key``), a 1/``gamma`` tone curve, 8-bit."""
    lum = lin @ np.float32([0.2126, 0.7152, 0.0722])
    ref = float(np.percentile(lum, 99)) + 1e-6
    x = np.clip(lin * (key / ref), 0, 1)
    return (np.power(x, 1 / gamma) * 255 + 0.5).astype(np.uint8)


def degrade(rgb: np.ndarray, spec: SceneSpec, rng: np.random.Generator | None = None) -> np.ndarray:
    """Optical blur, sensor noise (8-bit levels) and optional JPEG re-compression."""
    rng = rng or np.random.default_rng(spec.seed + 17)
    x = rgb.astype(np.float32)
    if spec.blur_sigma > 0:
        x = cv2.GaussianBlur(x, (0, 0), spec.blur_sigma)
    if spec.noise_sigma > 0:
        x = x + rng.normal(0, spec.noise_sigma, x.shape).astype(np.float32)
    out = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    if spec.jpeg_quality:
        ok, buf = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(spec.jpeg_quality)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    return out


SHADOW_VISIBLE_SHARE = 50 / (640 * 480)   # share of the picture a caster's visible shadow covers to count


def _scene_truth(spec, cam, scene, facts) -> dict[str, Any]:
    truth = truth_for_camera(cam, spec)
    ids = facts["object_id"]
    counts = np.bincount(ids[ids >= 0].ravel(), minlength=len(scene.obj_kind))
    vis = [i for i in range(len(scene.obj_kind)) if scene.obj_caster[i] and counts[i] >= 15]
    # a visible caster's shadow is visible when enough of it falls on ground in view (not hidden
    # behind its caster or another object, not out of the picture): 50 px at 640x480
    sc = facts["shadow_caster"]
    shadow_px = np.bincount(sc[sc >= 0].ravel(), minlength=len(scene.obj_kind))
    min_px = SHADOW_VISIBLE_SHARE * ids.size
    vis_sh = [i for i in vis if shadow_px[i] >= min_px]
    truth.update({
        "casters_visible": len(vis) > 0 and not spec.overcast,
        "n_casters_visible": len(vis),
        "n_shadows_visible": len(vis_sh),   # none when overcast: no ground sample has a caster
        "shadows_visible_by_kind": {k: sum(1 for i in vis_sh if scene.obj_kind[i] == k)
                                    for k in sorted({scene.obj_kind[i] for i in vis_sh})},
        "visible_kinds": sorted({scene.obj_kind[i] for i in vis}),
        "ground_shadow_share": float(facts["ground_shadow"].mean()),
        "sky_share": float(facts["sky"].mean()),
        "objects": scene.obj_info,
        "spec": {k: v for k, v in asdict(spec).items()},
    })
    return truth


def render_scene(spec: SceneSpec, *, degrade_image: bool = True, content_from: SceneSpec | None = None,
                 noise_seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one scene.

    Parameters
    ----------
    spec : the scene (camera, sun, degradations).
    degrade_image : apply blur, noise and JPEG (as in the spec).
    content_from : place the objects as for this spec's camera (same seed gives
        the same world), so that a zoomed or re-aimed shot of the same place, or
        the same place under another sun, shows the same objects.
    noise_seed : seed of the sensor noise (default: from ``spec.seed``).

    Returns
    -------
    rgb : (H, W, 3) uint8.
    truth : dict with ``direction_deg`` (exact image-plane shadow direction at the
        image centre), ``vanishing_point``, ``vp_in_front``, ``sun_azimuth_deg``,
        ``sun_elevation_deg``, ``camera``, ``casters_visible``,
        ``n_casters_visible``, ``n_shadows_visible`` (visible casters whose shadow shows
        on the ground in view), ``ground_shadow_share``, ``overcast``, ``spec``.
    """
    cam = make_camera(spec)
    scene = build_scene(content_from or spec, make_camera(content_from) if content_from else cam)
    lin, facts = render_linear(spec, cam, scene)
    rgb = tonemap(lin, spec.tone_key, spec.tone_gamma)
    if degrade_image:
        rgb = degrade(rgb, spec, None if noise_seed is None else np.random.default_rng(noise_seed))
    return rgb, _scene_truth(spec, cam, scene, facts)


def _rot(axis: np.ndarray, ang: float) -> np.ndarray:
    return trimesh.transformations.rotation_matrix(ang, axis)[:3, :3]


def shake_rotations(n_frames: int, shake_px: float, f: float, width: int, seed: int) -> list[np.ndarray]:
    """Smooth hand-held shake: small camera-frame rotations whose image motion is about ``shake_px``."""
    rng = np.random.default_rng(seed + 4242)
    t = np.arange(n_frames)
    out = []
    comps = []
    for _ in range(3):
        sig = np.zeros(n_frames)
        for _k in range(4):
            per = rng.uniform(6, 40)
            sig += rng.normal() * np.sin(2 * np.pi * t / per + rng.uniform(0, 2 * np.pi))
        comps.append(sig / 2.0)
    for i in range(n_frames):
        yaw = comps[0][i] * shake_px / f          # about camera y (down): horizontal motion
        pit = comps[1][i] * shake_px / f          # about camera x (right): vertical motion
        rol = comps[2][i] * 0.5 * shake_px / (width / 2)
        R = _rot(np.array([0, 1.0, 0]), yaw) @ _rot(np.array([1.0, 0, 0]), pit) @ _rot(np.array([0, 0, 1.0]), rol)
        out.append(R)
    return out


def clip_frames(spec: SceneSpec, n_frames: int, shake_px: float, *, content_from: SceneSpec | None = None,
                noise_seed: int | None = None,
                frame_indices: Sequence[int] | None = None) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Frames of a hand-held shot of the scene and their exact per-frame truth.

    The scene is rendered once on a canvas widened by a margin, and every frame
    is the exact homography ``K R_i K_margin^-1`` of it (a camera rotating about
    its centre changes the picture by exactly that homography), so each
    frame's truth is recomputed exactly from its rotated camera. Blur, noise
    (fresh per frame) and the spec's degradations are applied per frame.
    ``frame_indices`` keeps only those frames of the ``n_frames`` long shake (a
    stage's sparse samples of one shot) without warping the frames between.

    Returns
    -------
    frames : list of (H, W, 3) uint8 (:func:`iter_clip_frames` yields them one by one).
    truth : the unshaken camera's scene truth plus ``frames`` (per frame:
        ``direction_deg``, ``vanishing_point``, ``vp_in_front``) and
        ``max_deviation_deg`` (largest per-frame departure from the unshaken direction).
    """
    frames, truth = iter_clip_frames(spec, n_frames, shake_px, content_from=content_from, noise_seed=noise_seed,
                                     frame_indices=frame_indices)
    return list(frames), truth


def iter_clip_frames(spec: SceneSpec, n_frames: int, shake_px: float, *, content_from: SceneSpec | None = None,
                     noise_seed: int | None = None,
                     frame_indices: Sequence[int] | None = None) -> tuple[Iterator[np.ndarray], dict[str, Any]]:
    """:func:`clip_frames` with the frames made one at a time (long HD clips in flat memory)."""
    W, H = spec.width, spec.height
    margin = int(math.ceil(4 * shake_px)) + 8
    cam_m = make_camera(spec, margin=margin)
    cam0 = make_camera(spec)
    scene = build_scene(content_from or spec, make_camera(content_from) if content_from else cam0)
    lin, facts = render_linear(spec, cam_m, scene, W + 2 * margin, H + 2 * margin)
    base = tonemap(lin, spec.tone_key, spec.tone_gamma)
    truth0 = _scene_truth(spec, cam0, scene, {k: v[margin:-margin, margin:-margin] for k, v in facts.items()})
    Rs = shake_rotations(n_frames, shake_px, cam0.f, W, spec.seed)
    if frame_indices is not None:
        Rs = [Rs[i] for i in frame_indices]
    Kb_inv = np.linalg.inv(cam_m.K())
    per = []
    for R in Rs:
        cam_i = cam0.rotated(R)
        vp, ahead = shadow_vanishing_point(cam_i, spec.sun_azimuth_deg)
        per.append({"direction_deg": image_shadow_direction(cam_i, spec.sun_azimuth_deg),
                    "vanishing_point": vp, "vp_in_front": ahead})
    dev = [abs(circ_diff(p["direction_deg"], truth0["direction_deg"])) for p in per]
    truth = {**truth0, "frames": per, "max_deviation_deg": float(max(dev) if dev else 0.0),
             "n_frames": n_frames, "shake_px": shake_px,
             "frame_indices": list(frame_indices) if frame_indices is not None else None}

    def frames() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(spec.seed + 99 if noise_seed is None else noise_seed)
        for R in Rs:
            Hm = cam0.K() @ R @ Kb_inv
            img = cv2.warpPerspective(base, Hm, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            yield degrade(img, spec, rng)
    return frames(), truth


def render_clip(spec: SceneSpec, n_frames: int, shake_px: float, path: str | Path, crf: int = 23,
                fps: float = 25, **kw: Any) -> dict[str, Any]:
    """Write a short hand-held H.264 clip of the scene (see :func:`clip_frames`); return its truth.

    ``kw`` goes to :func:`clip_frames` (``content_from``, ``noise_seed``).
    """
    from vidforensics.io.encode import write_video

    frames, truth = clip_frames(spec, n_frames, shake_px, **kw)
    write_video(path, frames, fps, crf=crf)
    return {**truth, "crf": crf, "path": str(path)}


def circ_diff(a: float, b: float) -> float:
    """Signed smallest difference a - b in degrees, in (-180, 180]."""
    return float((a - b + 180.0) % 360.0 - 180.0)


if __name__ == "__main__":  # quick look: python benchmarks/shadowscenes.py [seed] [out.png]
    import sys
    import time

    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    t0 = time.perf_counter()
    img, tr = render_scene(random_spec(seed))
    print(f"{time.perf_counter() - t0:.2f} s  dir={tr['direction_deg']:.1f}  casters={tr['n_casters_visible']}  "
          f"shadow share={tr['ground_shadow_share']:.3f}  kind={tr['spec']['extra']['kind']}")
    cv2.imwrite(sys.argv[2] if len(sys.argv) > 2 else f"/tmp/scene{seed}.png", img[:, :, ::-1])
