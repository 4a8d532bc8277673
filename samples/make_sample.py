#!/usr/bin/env python3
"""Render the bundled demo clip ``hass-demo.mp4`` and its exact ground truth.

The clip is the 2016 Hass air-strike video (see ``README.md`` in this folder)
in miniature, rendered synthetically so that every property the pipeline
measures is known exactly:

* segment 1 starts on sky, clouds and the skyline, then zooms out and pans
  down to show the town;
* a hard cut to segment 2, the same town zoomed in 2x further, with a rising
  smoke plume and a small dark object (a parachute-retarded bomb) descending
  at constant velocity until it explodes (a flash, then a second plume: an
  event inside the shot, not a cut);
* one sun direction for the whole clip, so every cast shadow points the same
  way in both segments ("same time of day").

How it is built: one large top-down-ish oblique "world" image is painted once
(buildings as extruded boxes, poles, satellite dishes, a water tower, trees,
each casting a geometric shadow along one fixed image direction). Every frame
is an exact affine resample of that world by a virtual camera (zoom + pan +
hand-held shake, translation only, so directions in the world are directions
in the frame). Smoke, the bomb and the flash are drawn per frame in frame
coordinates at positions projected from the world, then sensor noise is
added. Everything random comes from one seeded generator, and the encoder runs
single-threaded with fixed options, so two runs give byte-identical files.

Run ``python samples/make_sample.py`` (``--help`` for options). It writes the
clip, ``hass-demo.truth.json`` and ``hass-demo-contact.png`` next to itself,
then decodes the clip again and checks it.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np

# Single-threaded OpenCV: no dependence of the pixels on the machine's core count.
cv2.setNumThreads(1)

Color = tuple[int, int, int]  # BGR, as OpenCV paints


@dataclass(frozen=True)
class Scene:
    """Every parameter of the clip. Units: world px, frame px, frames, seconds.

    A camera state is ``(zoom, cx, cy)``: frame pixel ``(x, y)`` shows world
    point ``(cx + (x - W/2) / zoom, cy + (y - H/2) / zoom)``, where ``W, H`` is
    the frame size and pixel centres sit at integer coordinates (OpenCV's
    convention). ``zoom`` is frame px per world px.
    """

    seed: int = 20161026  # the day of the Hass strike
    name: str = "hass-demo"
    width: int = 640
    height: int = 360
    fps: int = 25
    n_frames: int = 240
    cut_frame: int = 110  # first frame of segment 2

    # World canvas and layout.
    world_w: int = 3840
    world_h: int = 2160
    horizon_y: int = 640
    far_scale: float = 0.45  # object size at the horizon relative to the bottom edge (fake depth)

    # Sun. Shadow vector (caster base -> shadow tip) in image coordinates,
    # x right, y down: 35 deg = pointing right and somewhat down.
    shadow_deg: float = 35.0
    shadow_per_height: float = 0.9  # shadow length / caster height
    wall_per_height: float = 0.35  # visible front-wall height / caster height (oblique view)
    shadow_keep: float = 0.42  # fraction of light left inside a shadow

    # Camera. Segment 1 eases from the first to the second state; segment 2
    # zooms in at a constant log rate. Zoom ratio at the cut: 0.5 / 0.25 = 2.
    seg1_start: tuple[float, float, float] = (0.50, 1880.0, 560.0)
    seg1_end: tuple[float, float, float] = (0.25, 1920.0, 1390.0)
    seg2_start: tuple[float, float, float] = (0.50, 2010.0, 1300.0)
    seg2_end: tuple[float, float, float] = (0.58, 2030.0, 1330.0)
    shake_px: tuple[float, float] = (1.0, 1.5)  # hand-held jitter amplitude per segment, frame px
    shake_hz: tuple[float, float] = (0.3, 1.6)  # range of the jitter's sinusoid frequencies
    noise_sigma: float = 2.0  # sensor noise, 8-bit levels, per RGB channel

    # Smoke from the first bomb (dropped between the two shots), world coords.
    plume_xy: tuple[float, float] = (2050.0, 1430.0)
    plume_age_s: float = 6.0  # plume already this old at the first frame of segment 2
    wind: float = 20.0  # world px/s to the right: the smoke leans away from the bomb's path

    # The descending bomb. Velocity in frame px/s at the zoom of its first frame.
    bomb_first_frame: int = 110
    bomb_impact_frame: int = 202
    bomb_impact_offset: tuple[float, float] = (-60.0, 12.0)  # from plume_xy, world px
    bomb_velocity: tuple[float, float] = (-6.0, 40.0)
    bomb_axes: tuple[float, float] = (3.0, 1.7)  # semi-axes, frame px (6 x 3.4 px)
    bomb_bgr: Color = (38, 36, 34)

    # Explosion: per-frame flash intensity from the impact frame on.
    flash_profile: tuple[float, ...] = (0.65, 1.0, 0.75, 0.5, 0.3, 0.15, 0.06)
    flash_lift: float = 22.0  # global brightening at full flash, levels (auto-exposure lag)

    # Encoder (fixed options + one thread => byte-identical output).
    crf: int = 19
    preset: str = "medium"


# --------------------------------------------------------------------------- geometry


def shadow_vector(sc: Scene, height: float) -> np.ndarray:
    """Image-plane offset from a caster's base to its shadow tip, world px."""
    a = math.radians(sc.shadow_deg)
    return sc.shadow_per_height * height * np.array([math.cos(a), math.sin(a)])


def depth_scale(sc: Scene, y: float) -> float:
    """Size factor for an object standing at world row ``y`` (smaller far away)."""
    t = np.clip((y - sc.horizon_y) / (sc.world_h - sc.horizon_y), 0.0, 1.0)
    return float(sc.far_scale + (1.0 - sc.far_scale) * t)


def rect(x: float, y: float, w: float, h: float) -> np.ndarray:
    """Corners of an axis-aligned rectangle, clockwise from top-left."""
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], float)


def swept(poly: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Convex hull of a polygon and its translate: the shadow of a prism."""
    pts = np.vstack([poly, poly + offset]).astype(np.float32)
    return cv2.convexHull(pts).reshape(-1, 2).astype(float)


def ellipse_poly(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> np.ndarray:
    """Polygon approximating an axis-aligned ellipse."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


# --------------------------------------------------------------------------- painting

_SUB = 4  # fixed-point bits for sub-pixel polygon corners (OpenCV ``shift``)


def _fixed(poly: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(poly) * (1 << _SUB)).astype(np.int32).reshape(-1, 1, 2)


def fill(img: np.ndarray, poly: np.ndarray, color: Color) -> None:
    """Fill a polygon with anti-aliased, sub-pixel edges."""
    cv2.fillPoly(img, [_fixed(poly)], color, cv2.LINE_AA, _SUB)


def line(img: np.ndarray, p: np.ndarray, q: np.ndarray, color, thickness: int) -> None:
    """Anti-aliased line between two sub-pixel points."""
    cv2.line(img, tuple(_fixed(p).ravel()), tuple(_fixed(q).ravel()), color, thickness, cv2.LINE_AA, _SUB)


def shade(img: np.ndarray, polys: list[np.ndarray], keep: float, lines=()) -> None:
    """Darken the union of polygons (and thick lines) to ``keep`` of its light.

    Works on the union's bounding box only, and never darkens twice where
    shadows overlap (one sun, one shadow).
    """
    pts = np.vstack([p for p in polys] + [np.vstack(seg[:2]) for seg in lines])
    pad = 4 + max([seg[2] for seg in lines], default=0)
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + pad, [img.shape[1], img.shape[0]])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    off = np.array([x0, y0])
    for p in polys:
        fill(mask, p - off, 255)
    for p, q, t in lines:
        line(mask, p - off, q - off, 255, t)
    a = mask.astype(np.float32)[..., None] / 255.0
    roi = img[y0:y1, x0:x1].astype(np.float32)
    # Shadows are lit by the blue sky only: darker and slightly bluish.
    tint = np.array([1.08, 1.0, 0.92], np.float32) * keep
    img[y0:y1, x0:x1] = np.clip(roi * (1 - a + a * tint), 0, 255).astype(np.uint8)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Value noise in [0, 1]: random grid of ``cell`` px, bicubic-upsampled."""
    small = rng.random((h // cell + 3, w // cell + 3)).astype(np.float32)
    big = cv2.resize(small, ((w // cell + 3) * cell, (h // cell + 3) * cell), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[cell : cell + h, cell : cell + w], 0, 1)


def fractal_noise(rng: np.random.Generator, h: int, w: int, cells=(256, 96, 32, 12)) -> np.ndarray:
    """Sum of value-noise octaves, normalised to [0, 1]."""
    acc = sum(smooth_noise(rng, h, w, c) * (c / cells[0]) ** 0.5 for c in cells)
    return (acc - acc.min()) / (acc.max() - acc.min())


# --------------------------------------------------------------------------- world

ROOF_COLORS: tuple[Color, ...] = (
    (196, 212, 224),  # light limestone
    (150, 184, 212),  # ochre
    (172, 196, 210),  # sand
    (186, 198, 202),  # grey concrete
    (210, 222, 228),  # whitewash
)


def paint_sky(sc: Scene, img: np.ndarray, rng: np.random.Generator) -> None:
    """Sky gradient, soft clouds and a hazy line of hills above the horizon."""
    hy = sc.horizon_y
    t = np.linspace(0, 1, hy, dtype=np.float32)[:, None, None]
    top, low = np.array([196, 150, 112], np.float32), np.array([226, 214, 200], np.float32)
    sky = top * (1 - t) + low * t
    sky = np.repeat(sky, sc.world_w, axis=1)
    n = fractal_noise(rng, hy, sc.world_w, cells=(320, 140, 48, 16))
    # More cloud cover high up; a soft threshold keeps the edges fluffy.
    cover = np.clip((n - 0.52 + 0.12 * (1 - t[..., 0])) * 5.0, 0, 1)[..., None]
    shade_under = 1.0 - 0.18 * np.clip((n - 0.6) * 4, 0, 1)[..., None]  # greyer cloud bellies
    cloud = np.array([246, 246, 244], np.float32) * shade_under
    img[:hy] = np.clip(sky * (1 - cover) + cloud * cover, 0, 255).astype(np.uint8)
    # Distant hills: a wavy band just above the horizon.
    xs = np.arange(0, sc.world_w + 16, 16, dtype=float)
    ridge = hy - 18 - 26 * smooth_noise(rng, 1, len(xs) * 40, 40)[0, ::40][: len(xs)]
    poly = np.vstack([np.stack([xs, ridge], 1), [[sc.world_w, hy + 2], [0, hy + 2]]])
    fill(img, poly, (178, 186, 188))


def paint_ground(sc: Scene, img: np.ndarray, rng: np.random.Generator) -> None:
    """Dusty tan ground with large patches and fine grain below the horizon."""
    h, w = sc.world_h - sc.horizon_y, sc.world_w
    base = np.array([128, 164, 190], np.float32)
    patches = fractal_noise(rng, h, w)[..., None] - 0.5
    grain = rng.normal(0, 5.0, (h, w, 1)).astype(np.float32)
    ground = base * (1 + 0.16 * patches) + grain
    img[sc.horizon_y :] = np.clip(ground, 0, 255).astype(np.uint8)


def street_lines(sc: Scene, rng: np.random.Generator) -> tuple[list[float], list[float]]:
    """Rows and columns of the street grid (rows get denser towards the horizon)."""
    rows, y = [], float(sc.horizon_y + 30)
    while y < sc.world_h:
        rows.append(y)
        y += 190 * depth_scale(sc, y) * rng.uniform(0.8, 1.2)
    cols = list(np.cumsum(rng.uniform(210, 330, 20)) - 60)
    return rows, [c for c in cols if c < sc.world_w]


def paint_streets(sc: Scene, img: np.ndarray, rows: list[float], cols: list[float]) -> None:
    """Pale unpaved streets along the grid."""
    color = (170, 188, 200)
    for y in rows:
        fill(img, rect(0, y, sc.world_w, 26 * depth_scale(sc, y)), color)
    for x in cols:
        fill(img, rect(x, sc.horizon_y, 22, sc.world_h - sc.horizon_y), color)


@dataclass
class Caster:
    """Something standing on the ground: paints its shadow, then itself."""

    sort_y: float  # painter's order: farther (smaller y) first
    x: float  # horizontal position of its base
    shadow: Callable[[list, list], None]  # appends ground-shadow polygons / lines
    draw: Callable[[np.ndarray], None]


def building(sc: Scene, rng: np.random.Generator, x: float, y: float, w: float, d: float, h: float) -> Caster:
    """A flat-roofed box with roof clutter (dishes, stair-houses, tanks).

    ``(x, y, w, d)`` is the footprint on the ground, ``h`` the height. In the
    oblique view the roof is the footprint lifted by ``h * wall_per_height``
    and only the front (lower) wall is visible.
    """
    s = depth_scale(sc, y + d)
    lift = h * sc.wall_per_height
    roof_color = ROOF_COLORS[rng.integers(len(ROOF_COLORS))]
    wall_color = tuple(int(c * 0.74) for c in roof_color)
    footprint = rect(x, y, w, d)
    items = roof_items(sc, rng, x, y - lift, w, d, s)
    n_windows = int(w // (14 * s)) if lift > 9 * s else 0

    def shadow(polys, lines):
        polys.append(swept(footprint, shadow_vector(sc, h)))

    def draw(img):
        fill(img, np.array([[x, y + d], [x + w, y + d], [x + w, y + d - lift], [x, y + d - lift]]), wall_color)
        for i in range(n_windows):  # a row of dark windows on the front wall
            wx = x + (i + 0.5) * w / n_windows - 2.5 * s
            fill(img, rect(wx, y + d - lift * 0.7, 5 * s, lift * 0.35), (70, 80, 88))
        fill(img, rect(x, y - lift, w, d), roof_color)
        line(img, np.array([x, y - lift + d]), np.array([x + w, y - lift + d]), (120, 130, 136), 1)  # parapet
        for it in items:
            it(img)

    return Caster(y + d, x + w / 2, shadow, draw)


def roof_items(sc: Scene, rng: np.random.Generator, rx, ry, w, d, s) -> list[Callable]:
    """Satellite dishes and small boxes on a roof, each with its shadow on the roof.

    Items are kept far enough from the roof's right and lower edges that their
    shadows stay on the roof.
    """
    out: list[Callable] = []
    if w < 40 * s or d < 34 * s:
        return out
    if rng.random() < 0.55:  # satellite dish on a short stand
        stand, r = 9 * s, 7.5 * s
        sv = shadow_vector(sc, stand + r)
        px = rx + rng.uniform(r + 3, w - r - 3 - sv[0])
        py = ry + rng.uniform(r + 3, d - r - 3 - sv[1])
        out.append(lambda img, px=px, py=py, r=r, sv=sv, stand=stand: draw_dish(sc, img, px, py, r, stand, sv))
    if rng.random() < 0.6:  # stair-house or water tank: a small box
        bw, bd, bh = rng.uniform(10, 18) * s, rng.uniform(8, 14) * s, rng.uniform(8, 16) * s
        sv = shadow_vector(sc, bh)
        px = rx + rng.uniform(2, max(3, w - bw - sv[0] - 2))
        py = ry + rng.uniform(2 + bh * sc.wall_per_height, max(3 + bh, d - bd - sv[1] - 2))
        out.append(lambda img, px=px, py=py, bw=bw, bd=bd, bh=bh, sv=sv: draw_roof_box(sc, img, px, py, bw, bd, bh, sv))
    return out


def draw_dish(sc: Scene, img, px, py, r, stand, sv) -> None:
    """A dish: dark elliptical shadow on the roof, a stand, a bright disc."""
    shade(img, [ellipse_poly(px + sv[0], py + sv[1], r, r * 0.7)], sc.shadow_keep,
          lines=[(np.array([px, py]), np.array([px, py]) + sv * 0.6, 2)])
    top = py - stand * sc.wall_per_height
    line(img, np.array([px, py]), np.array([px, top]), (90, 90, 90), 2)
    fill(img, ellipse_poly(px, top - r * 0.3, r, r * 0.8), (232, 234, 236))
    fill(img, ellipse_poly(px + r * 0.25, top - r * 0.2, r * 0.55, r * 0.45), (200, 204, 206))


def draw_roof_box(sc: Scene, img, px, py, bw, bd, bh, sv) -> None:
    """A small box on a roof: shadow on the roof, front wall, top."""
    lift = bh * sc.wall_per_height
    shade(img, [swept(rect(px, py, bw, bd), sv)], sc.shadow_keep)
    front = np.array([[px, py + bd], [px + bw, py + bd], [px + bw, py + bd - lift], [px, py + bd - lift]])
    fill(img, front, (140, 150, 156))
    fill(img, rect(px, py - lift, bw, bd), (205, 214, 220))


def pole(sc: Scene, x: float, y: float, h: float) -> Caster:
    """A thin mast: a line up from its base, a thin shadow line on the ground."""
    s = depth_scale(sc, y)
    base, top = np.array([x, y]), np.array([x, y - h * sc.wall_per_height * 2.2])
    tip = base + shadow_vector(sc, h)
    width = max(2, int(round(4 * s)))

    def shadow(polys, lines):
        lines.append((base, tip, width + 1))

    def draw(img):
        line(img, base, top, (60, 64, 70), width)
        fill(img, ellipse_poly(top[0], top[1], width * 1.2, width * 1.2), (40, 44, 200))  # red beacon

    return Caster(y, x, shadow, draw)


def tree(sc: Scene, rng: np.random.Generator, x: float, y: float) -> Caster:
    """A round olive-green crown on a short trunk."""
    s = depth_scale(sc, y)
    r, h = rng.uniform(9, 15) * s, rng.uniform(22, 34) * s
    cy = y - h * sc.wall_per_height
    sv = shadow_vector(sc, h)

    def shadow(polys, lines):
        polys.append(ellipse_poly(x + sv[0], y + sv[1], r, r * 0.8))
        lines.append((np.array([x, y]), np.array([x, y]) + sv * 0.8, 2))

    def draw(img):
        fill(img, ellipse_poly(x, cy, r, r * 0.85), (52, 92, 78))
        fill(img, ellipse_poly(x - r * 0.3, cy - r * 0.3, r * 0.5, r * 0.4), (70, 118, 100))

    return Caster(y, x, shadow, draw)


def water_tower(sc: Scene, x: float, y: float) -> Caster:
    """Four legs and a cylindrical tank; the shadow is the legs plus the tank."""
    s = depth_scale(sc, y)
    h, r, tank_h = 150 * s, 34 * s, 40 * s
    lift = h * sc.wall_per_height * 2.2
    legs = [np.array([x + dx * r * 0.7, y]) for dx in (-1, -0.35, 0.35, 1)]

    def shadow(polys, lines):
        for leg in legs:
            lines.append((leg, leg + shadow_vector(sc, h), 3))
        c = np.array([x, y]) + shadow_vector(sc, h)
        polys.append(swept(ellipse_poly(c[0], c[1], r, r * 0.6), shadow_vector(sc, tank_h)))

    def draw(img):
        for leg in legs:
            line(img, leg, leg - [0, lift], (80, 84, 90), 3)
        top = y - lift - tank_h * 0.8
        fill(img, rect(x - r, top, 2 * r, tank_h * 0.8), (150, 156, 160))
        fill(img, ellipse_poly(x, top, r, r * 0.35), (200, 204, 208))
        fill(img, rect(x - r, top, r * 0.5, tank_h * 0.8), (185, 190, 194))  # sunlit left side

    return Caster(y, x, shadow, draw)


def town(sc: Scene, rng: np.random.Generator, rows: list[float], cols: list[float]) -> list[Caster]:
    """Lay out buildings in the street blocks, plus masts, trees and a water tower."""
    casters: list[Caster] = []
    for y0, y1 in zip(rows[:-1] + [rows[-1]], rows[1:] + [sc.world_h + 40]):
        s = depth_scale(sc, y0)
        y0 += 26 * s + 6 * s
        for x0, x1 in zip([-40.0] + cols, cols + [sc.world_w + 40.0]):
            x = x0 + 30
            while x < x1 - 40 * s:
                w = rng.uniform(55, 130) * s
                if rng.random() < 0.82:
                    d = min(rng.uniform(0.5, 0.95) * (y1 - y0), rng.uniform(60, 140) * s)
                    yy = y0 + rng.uniform(0, max(1.0, (y1 - y0) - d - 8 * s))
                    ww = min(w, x1 - 8 - x)
                    casters.append(building(sc, rng, x, yy, ww, d, rng.uniform(20, 64) * s))
                elif rng.random() < 0.5:
                    casters.append(tree(sc, rng, x + w / 2, y0 + (y1 - y0) * 0.6))
                x += w + rng.uniform(8, 30) * s
    school(sc, rng, casters)
    for _ in range(14):
        x, y = rng.uniform(100, sc.world_w - 100), rng.uniform(sc.horizon_y + 80, sc.world_h - 40)
        casters.append(pole(sc, x, y, rng.uniform(130, 230) * depth_scale(sc, y)))
    casters.append(water_tower(sc, sc.plume_xy[0] + 330, sc.plume_xy[1] - 240))
    return sorted(casters, key=lambda c: c.sort_y)


def school(sc: Scene, rng: np.random.Generator, casters: list[Caster]) -> None:
    """The target: a large school complex of long blocks around the plume site."""
    px, py = sc.plume_xy
    # Clear whatever the grid put here, then add the long school blocks.
    casters[:] = [c for c in casters if not (abs(c.sort_y - py) < 160 and abs(c.x - px) < 260)]
    for dx, dy, w, d, h in ((-190, -120, 260, 70, 55), (110, -110, 90, 200, 50), (-200, 40, 150, 60, 45)):
        casters.append(building(sc, rng, px + dx, py + dy, w, d, h))



def render_world(sc: Scene, rng: np.random.Generator) -> np.ndarray:
    """Paint the whole world image once (BGR uint8, ``world_h x world_w``)."""
    img = np.zeros((sc.world_h, sc.world_w, 3), np.uint8)
    paint_sky(sc, img, rng)
    paint_ground(sc, img, rng)
    rows, cols = street_lines(sc, rng)
    paint_streets(sc, img, rows, cols)
    casters = town(sc, rng, rows, cols)
    polys, lines = [], []
    for c in casters:
        c.shadow(polys, lines)
    shade(img, polys, sc.shadow_keep, lines)  # all ground shadows at once: no double darkening
    for c in casters:
        c.draw(img)
    add_haze(sc, img)
    return img


def add_haze(sc: Scene, img: np.ndarray) -> None:
    """Aerial perspective: the town fades towards the sky colour near the horizon."""
    y = np.arange(sc.horizon_y - 60, sc.world_h, dtype=np.float32)
    a = np.clip(1 - (y - sc.horizon_y + 60) / 700.0, 0, 1) ** 1.6 * 0.55
    band = img[sc.horizon_y - 60 :].astype(np.float32)
    haze = np.array([214, 206, 198], np.float32)
    img[sc.horizon_y - 60 :] = (band * (1 - a[:, None, None]) + haze * a[:, None, None]).astype(np.uint8)


# --------------------------------------------------------------------------- camera


def smoothstep(t: np.ndarray) -> np.ndarray:
    """Ease-in-out on [0, 1], so segment 1's move starts and ends gently."""
    return t * t * (3 - 2 * t)


def camera_path(sc: Scene, rng: np.random.Generator) -> np.ndarray:
    """Per-frame camera states ``(zoom, cx, cy)``, shake included.

    Zoom is interpolated geometrically (constant ratio per frame looks like a
    steady zoom). Shake is a sum of slow sinusoids in frame px, folded into the
    world centre so that the returned states are exact.
    """
    n1, n2 = sc.cut_frame, sc.n_frames - sc.cut_frame
    out = []
    for (a, b, n, amp, ease) in ((sc.seg1_start, sc.seg1_end, n1, sc.shake_px[0], True),
                                 (sc.seg2_start, sc.seg2_end, n2, sc.shake_px[1], False)):
        t = np.linspace(0, 1, n)
        e = smoothstep(t) if ease else t
        zoom = a[0] * (b[0] / a[0]) ** e
        cx, cy = a[1] + (b[1] - a[1]) * e, a[2] + (b[2] - a[2]) * e
        jx, jy = shake(rng, n, sc.fps, amp, sc.shake_hz), shake(rng, n, sc.fps, amp, sc.shake_hz)
        out.append(np.stack([zoom, cx - jx / zoom, cy - jy / zoom], axis=1))
    return np.vstack(out)


def shake(rng: np.random.Generator, n: int, fps: int, amp: float, hz: tuple[float, float]) -> np.ndarray:
    """Smooth hand-held jitter: three sinusoids with random frequency and phase."""
    t = np.arange(n) / fps
    f, ph, w = rng.uniform(*hz, 3), rng.uniform(0, 2 * np.pi, 3), rng.uniform(0.5, 1.0, 3)
    return amp * (w[:, None] * np.sin(2 * np.pi * f[:, None] * t + ph[:, None])).sum(0) / w.sum()


def project(sc: Scene, cam: np.ndarray, xy) -> np.ndarray:
    """World point(s) -> frame pixel coordinates for camera state ``cam``."""
    z, cx, cy = cam
    xy = np.asarray(xy, float)
    return np.stack([z * (xy[..., 0] - cx) + sc.width / 2, z * (xy[..., 1] - cy) + sc.height / 2], -1)


def view(sc: Scene, world: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """Resample the world for one camera state (float32 BGR frame).

    Down-scaling by ``1/zoom`` would alias the fine texture, so the needed
    crop is first low-pass filtered with a Gaussian matched to the scale, then
    warped bilinearly with sub-pixel accuracy.
    """
    z, cx, cy = cam
    sigma = 0.5 * math.sqrt(max(0.0, 1 / z**2 - 1))
    pad = int(3 * sigma) + 4
    x0 = int(math.floor(cx - sc.width / 2 / z)) - pad
    y0 = int(math.floor(cy - sc.height / 2 / z)) - pad
    x1 = int(math.ceil(cx + sc.width / 2 / z)) + pad
    y1 = int(math.ceil(cy + sc.height / 2 / z)) + pad
    assert x0 >= 0 and y0 >= 0 and x1 <= sc.world_w and y1 <= sc.world_h, "camera left the world"
    crop = world[y0:y1, x0:x1].astype(np.float32)
    if sigma > 0.05:
        crop = cv2.GaussianBlur(crop, (0, 0), sigma)
    m = np.array([[z, 0, z * (x0 - cx) + sc.width / 2], [0, z, z * (y0 - cy) + sc.height / 2]])
    return cv2.warpAffine(crop, m, (sc.width, sc.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


# --------------------------------------------------------------------------- smoke, bomb, flash


@dataclass(frozen=True)
class Puff:
    """One soft smoke blob, in world coordinates, born at ``t0`` seconds."""

    t0: float
    x: float
    y: float
    rise: float  # world px/s upwards
    drift: float  # world px/s sideways (wind)
    r0: float
    grow: float  # radius growth, world px/s
    alpha: float
    life: float  # e-folding time of its opacity, s
    bgr: Color


def plume(rng, x, y, t_from, t_to, every, rise, r0, grow, alpha, bgr, wind, life=9.0) -> list[Puff]:
    """A column of puffs emitted from ``(x, y)`` between two times."""
    ts = np.arange(t_from, t_to, every)
    return [Puff(float(t), x + rng.normal(0, r0 * 0.3), y, rise * rng.uniform(0.8, 1.2), wind + rng.normal(0, 2),
                 r0, grow * rng.uniform(0.8, 1.2), alpha, life, bgr) for t in ts]


def smoke_puffs(sc: Scene, rng: np.random.Generator) -> list[Puff]:
    """Plume 1 (already rising when segment 2 starts) and plume 2 (after the impact).

    Times are seconds from the first frame of segment 2.
    """
    t_end = (sc.n_frames - sc.cut_frame) / sc.fps
    t_hit = (sc.bomb_impact_frame - sc.cut_frame) / sc.fps
    px, py = sc.plume_xy
    ix, iy = px + sc.bomb_impact_offset[0], py + sc.bomb_impact_offset[1]
    first = plume(rng, px, py, -sc.plume_age_s, t_end, 0.12, 30.0, 18.0, 10.0, 0.5, (146, 152, 158), sc.wind)
    second = plume(rng, ix, iy, t_hit + 0.04, t_end, 0.04, 80.0, 24.0, 40.0, 0.6, (98, 106, 114), sc.wind, life=6.0)
    return first + second


def draw_puffs(sc: Scene, frame: np.ndarray, cam: np.ndarray, puffs: list[Puff], t: float) -> None:
    """Composite every live puff as a Gaussian blob, oldest first."""
    for p in puffs:
        age = t - p.t0
        if age < 0:
            continue
        r = (p.r0 + p.grow * age) * cam[0]
        c = project(sc, cam, (p.x + p.drift * age, p.y - p.rise * age))
        a = p.alpha * math.exp(-age / p.life) * min(1.0, age / 0.3 + 0.2)
        blob(frame, c, r, a, np.array(p.bgr, np.float32))


def blob(frame: np.ndarray, c: np.ndarray, r: float, a: float, bgr: np.ndarray) -> None:
    """Alpha-blend a Gaussian blob of radius ``r`` (sigma = r/2) at sub-pixel ``c``."""
    h, w = frame.shape[:2]
    x0, x1 = max(0, int(c[0] - 1.6 * r)), min(w, int(c[0] + 1.6 * r) + 1)
    y0, y1 = max(0, int(c[1] - 1.6 * r)), min(h, int(c[1] + 1.6 * r) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    g = a * np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * (r / 2) ** 2))[..., None]
    frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - g) + bgr * g


def bomb_track(sc: Scene, cams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions of the bomb per frame (constant world velocity).

    The velocity is specified in frame px/s at the zoom of the bomb's first
    frame; dividing by that zoom gives the world velocity. The bomb reaches
    the impact point exactly at ``bomb_impact_frame``.

    Returns
    -------
    frames : (n,) int array, ``bomb_first_frame .. bomb_impact_frame`` inclusive
    world : (n, 2) float array of world positions
    """
    v_world = np.array(sc.bomb_velocity) / cams[sc.bomb_first_frame, 0]
    impact = np.array(sc.plume_xy) + np.array(sc.bomb_impact_offset)
    frames = np.arange(sc.bomb_first_frame, sc.bomb_impact_frame + 1)
    world = impact - v_world * ((sc.bomb_impact_frame - frames) / sc.fps)[:, None]
    return frames, world


def draw_bomb(sc: Scene, frame: np.ndarray, c: np.ndarray, heading: np.ndarray) -> None:
    """A small dark ellipse, long axis along its motion, 4x4 supersampled."""
    a, b = sc.bomb_axes
    u = heading / np.linalg.norm(heading)
    x0, y0 = int(c[0]) - 5, int(c[1]) - 5
    ss = (np.arange(4) + 0.5) / 4 - 0.5
    yy, xx = np.mgrid[0:11, 0:11].astype(np.float32)
    cover = np.zeros((11, 11), np.float32)
    for dy in ss:
        for dx in ss:
            rx, ry = x0 + xx + dx - c[0], y0 + yy + dy - c[1]
            along, across = rx * u[0] + ry * u[1], -rx * u[1] + ry * u[0]
            cover += ((along / a) ** 2 + (across / b) ** 2 <= 1.0)
    cover = (cover / 16)[..., None]
    frame[y0 : y0 + 11, x0 : x0 + 11] = frame[y0 : y0 + 11, x0 : x0 + 11] * (1 - cover) + np.array(sc.bomb_bgr) * cover


def draw_flash(sc: Scene, frame: np.ndarray, c: np.ndarray, k: int, zoom: float) -> None:
    """Explosion flash ``k`` frames after impact: a hot core and a global lift."""
    if k >= len(sc.flash_profile):
        return
    s = sc.flash_profile[k]
    blob(frame, c, (40 + 28 * k) * zoom, min(1.0, 1.2 * s), np.array([170, 225, 255], np.float32))
    blob(frame, c, (16 + 10 * k) * zoom, s, np.array([235, 250, 255], np.float32))
    frame += sc.flash_lift * s


# --------------------------------------------------------------------------- frames and encoding


def build(sc: Scene):
    """Paint the world and plan the clip: camera path, smoke and bomb track.

    All scene randomness is drawn here from one generator, in a fixed order.

    Returns
    -------
    world : painted world image
    cams : (n_frames, 3) camera states ``(zoom, cx, cy)``
    puffs : smoke puffs
    bomb : ``(frames, world_positions)`` from :func:`bomb_track`
    """
    rng = np.random.default_rng(sc.seed)
    world = render_world(sc, rng)
    cams = camera_path(sc, rng)
    puffs = smoke_puffs(sc, rng)
    return world, cams, puffs, bomb_track(sc, cams)


def render_frames(sc: Scene, world, cams, puffs, bomb):
    """Yield ``(index, RGB uint8 frame)`` for the whole clip.

    Sensor noise comes from its own seeded stream, so changing the noise never
    moves anything in the scene.
    """
    noise_rng = np.random.default_rng([sc.seed, 1])
    b_frames, b_world = bomb
    impact = b_world[-1]
    for i in range(sc.n_frames):
        cam = cams[i]
        frame = view(sc, world, cam)
        if i >= sc.cut_frame:  # the first bomb fell between the shots: smoke only in segment 2
            draw_puffs(sc, frame, cam, puffs, (i - sc.cut_frame) / sc.fps)
            if b_frames[0] <= i < sc.bomb_impact_frame:
                draw_bomb(sc, frame, project(sc, cam, b_world[i - b_frames[0]]), np.array(sc.bomb_velocity))
            if i >= sc.bomb_impact_frame:
                draw_flash(sc, frame, project(sc, cam, impact), i - sc.bomb_impact_frame, cam[0])
        frame += noise_rng.normal(0, sc.noise_sigma, frame.shape).astype(np.float32)
        yield i, cv2.cvtColor(np.clip(np.round(frame), 0, 255).astype(np.uint8), cv2.COLOR_BGR2RGB)


def encode(sc: Scene, frames, path: Path) -> None:
    """H.264 yuv420p MP4 with fixed libx264 options, one thread, +faststart."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        st = out.add_stream("libx264", rate=sc.fps)
        st.width, st.height, st.pix_fmt = sc.width, sc.height, "yuv420p"
        st.codec_context.thread_count = 1
        st.options = {"crf": str(sc.crf), "preset": sc.preset, "threads": "1",
                      "x264-params": "threads=1:lookahead-threads=1:sliced-threads=0:keyint=250:min-keyint=25"}
        for i, rgb in frames:
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            vf.pts = i
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)


# --------------------------------------------------------------------------- truth


def truth(sc: Scene, path: Path, cams: np.ndarray, bomb) -> dict:
    """The exact ground truth, as written to ``<name>.truth.json``."""
    b_frames, b_world = bomb
    inside = []
    for f, w in zip(b_frames, b_world):
        if f >= sc.bomb_impact_frame:
            break
        x, y = project(sc, cams[f], w)
        if 0 <= x < sc.width and 0 <= y < sc.height:
            inside.append([int(f), round(float(x), 3), round(float(y), 3)])
    impact_xy = project(sc, cams[sc.bomb_impact_frame], b_world[-1])
    z0 = cams[sc.bomb_first_frame, 0]
    v_world = np.array(sc.bomb_velocity) / z0
    flash_frames = [sc.bomb_impact_frame + k for k in range(len(sc.flash_profile))]
    segs = [(0, sc.cut_frame), (sc.cut_frame, sc.n_frames)]
    r3 = lambda v: round(float(v), 6)
    return {
        "clip": path.name,
        "generator": "samples/make_sample.py",
        "seed": sc.seed,
        "width": sc.width,
        "height": sc.height,
        "fps": sc.fps,
        "frame_count": sc.n_frames,
        "duration_s": sc.n_frames / sc.fps,
        "conventions": {
            "frames": "0-based; ranges are [start, end)",
            "pixels": "frame pixel coordinates, x right, y down, pixel centres at integers",
            "zoom": "frame px per world px; camera [frame, zoom, cx, cy] maps world (X, Y) to "
                    "frame (zoom*(X-cx)+width/2, zoom*(Y-cy)+height/2); shake is included",
            "shadow_direction_deg": "atan2(dy, dx) of the vector from a caster's base to its shadow tip, "
                                    "image plane, in [0, 360)",
        },
        "boundaries": [
            {"kind": "start", "frame": 0, "time_s": 0.0},
            {"kind": "jump_cut", "frame": sc.cut_frame, "time_s": sc.cut_frame / sc.fps, "same_place": True,
             "zoom_ratio": r3(cams[sc.cut_frame, 0] / cams[sc.cut_frame - 1, 0]),
             "note": "the same place, suddenly zoomed in further: a jump cut in vidforensics' taxonomy "
                     "(the seed case's 'cut around half-way through')"},
        ],
        "segments": [
            {"index": k, "start_frame": a, "end_frame": b,
             "zoom_first": r3(cams[a, 0]), "zoom_last": r3(cams[b - 1, 0]),
             "camera_move": ["zoom out + pan down from sky/clouds to the town", "slow zoom in on the smoke"][k],
             "shadow_direction_deg": sc.shadow_deg,
             "shadow_length_per_height": sc.shadow_per_height,
             "sky_visible": k == 0, "smoke_visible": k == 1}
            for k, (a, b) in enumerate(segs)
        ],
        "same_time_of_day": True,
        "descending_objects": [{
            "id": 0,
            "kind": "bomb under parachute",
            "motion": "constant_velocity",
            "first_frame": int(b_frames[0]),
            "last_frame": inside[-1][0],
            "size_px": [2 * sc.bomb_axes[0], 2 * sc.bomb_axes[1]],
            "velocity_px_s": {"vx": sc.bomb_velocity[0], "vy": sc.bomb_velocity[1],
                              "note": "scene-relative (world) velocity expressed in frame px/s "
                                      f"at the zoom of the first frame ({r3(z0)})"},
            "velocity_world_px_s": [r3(v_world[0]), r3(v_world[1])],
            "positions": inside,
            "positions_note": "[frame, x, y] of the object's centre while inside the frame; frame-space "
                              "motion also carries the camera's zoom and shake (see camera)",
            "impact": {"frame": sc.bomb_impact_frame, "x": round(float(impact_xy[0]), 3),
                       "y": round(float(impact_xy[1]), 3)},
        }],
        "events": [{
            "kind": "explosion", "frames": flash_frames, "is_cut": False,
            "x": round(float(impact_xy[0]), 3), "y": round(float(impact_xy[1]), 3),
            "note": "flash, then a second plume, inside the second segment; global brightness lift up to "
                    f"{sc.flash_lift} levels",
        }],
        "noise_sigma": sc.noise_sigma,
        "camera": [[i, r3(c[0]), round(float(c[1]), 4), round(float(c[2]), 4)] for i, c in enumerate(cams)],
        "scene": dataclasses.asdict(sc),
    }


# --------------------------------------------------------------------------- checks and contact sheet


def decode_all(path: Path) -> list[np.ndarray]:
    """Decode every frame (RGB) with PyAV."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def verify(sc: Scene, path: Path, frames: list[np.ndarray]) -> dict:
    """Check frame count, size, duration, file size and that the cut is real."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        duration = float(c.duration / av.time_base) if c.duration else float(vs.duration * vs.time_base)
        codec, pix = vs.codec_context.name, vs.codec_context.pix_fmt
    size = path.stat().st_size
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in frames]
    diffs = np.array([np.abs(grey[i] - grey[i - 1]).mean() for i in range(1, len(grey))])
    cut = diffs[sc.cut_frame - 1]
    others = np.delete(diffs, sc.cut_frame - 1)
    rep = {"frames": len(frames), "size": list(frames[0].shape[1::-1]), "duration_s": round(duration, 3),
           "codec": codec, "pix_fmt": pix, "bytes": size, "cut_mad": round(float(cut), 2),
           "median_mad": round(float(np.median(others)), 2), "max_other_mad": round(float(others.max()), 2),
           "flash_mad": round(float(diffs[sc.bomb_impact_frame - 1]), 2)}
    assert len(frames) == sc.n_frames, rep
    assert tuple(rep["size"]) == (sc.width, sc.height), rep
    assert abs(duration - sc.n_frames / sc.fps) < 0.05, rep
    assert codec == "h264" and pix == "yuv420p", rep
    assert size < 2_000_000, rep
    assert cut > 4 * np.median(others) and cut > others.max(), rep
    return rep


def contact_sheet(sc: Scene, frames: list[np.ndarray], path: Path) -> None:
    """Four frames from each segment, half size, labelled, one row per segment."""
    picks = [np.linspace(a, b - 1, 4).round().astype(int) for a, b in ((0, sc.cut_frame), (sc.cut_frame, sc.n_frames))]
    picks[1][2] = sc.bomb_impact_frame - 20  # show the bomb in flight
    picks[1][3] = sc.bomb_impact_frame + 1  # and the flash
    tw, th = sc.width * 2 // 5, sc.height * 2 // 5
    rows = []
    for k, idx in enumerate(picks):
        tiles = []
        for i in idx:
            t = cv2.resize(cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR), (tw, th), interpolation=cv2.INTER_AREA)
            label = f"seg {k + 1}  frame {i}"
            cv2.rectangle(t, (0, 0), (118, 17), (0, 0, 0), -1)
            cv2.putText(t, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(cv2.copyMakeBorder(t, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255)))
        rows.append(np.hstack(tiles))
    sheet = np.vstack(rows) & 0xFC  # drop 2 low bits: invisible, and keeps the PNG small
    cv2.imwrite(str(path), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def dump_json(obj: dict) -> str:
    """Indented JSON with short lists of numbers (positions, camera rows) kept on one line."""
    text = json.dumps(obj, indent=1)
    flat = lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]"
    return re.sub(r"\[\s+([-+\d.eE,\s]+?)\s+\]", flat, text) + "\n"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent,
                    help="where to write the clip, truth and contact sheet (default: this folder)")
    ap.add_argument("--world-png", type=Path, help="also save the painted world image here (debugging)")
    args = ap.parse_args()
    sc = Scene()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    mp4 = args.out_dir / f"{sc.name}.mp4"
    world, cams, puffs, bomb = build(sc)
    if args.world_png:
        cv2.imwrite(str(args.world_png), world)
    encode(sc, render_frames(sc, world, cams, puffs, bomb), mp4)
    tr = truth(sc, mp4, cams, bomb)
    (args.out_dir / f"{sc.name}.truth.json").write_text(dump_json(tr))
    decoded = decode_all(mp4)
    contact_sheet(sc, decoded, args.out_dir / f"{sc.name}-contact.png")
    print(json.dumps(verify(sc, mp4, decoded)))
    for p in sorted(args.out_dir.glob(f"{sc.name}*")):
        print(f"{sha256(p)}  {p.stat().st_size:>9}  {p.name}")


if __name__ == "__main__":
    main()
