"""Physically based renders of the shadow-benchmark scenes (Mitsuba 3, CPU path tracer).

The same world as :mod:`shadowscenes` (one ``SceneSpec`` gives the same camera,
objects, ground albedo, sun and truth), with the light transport done by
Mitsuba 3's ``path`` integrator (``scalar_rgb`` variant): a few bounces of
global illumination (light bounced off the ground onto walls and into
shadows, coloured inter-reflections, sky occlusion by the real geometry) in
place of the ray-cast renderer's one shadow ray, one sky-visibility ray and
fake bounce term.

What comes from :mod:`shadowscenes` (nothing of it is re-implemented here):
``make_camera`` (the pinhole camera), ``build_scene`` (the objects as trimesh
meshes, with per-object albedo), ``_Ground.albedo`` (the procedural ground),
``_light`` (sun and sky colours), ``sun_vector``, ``tonemap``, ``degrade``
and the truth (``render_linear``'s per-pixel facts, computed without its sky
rays, then ``_scene_truth``: the dict is the one ``render_scene`` returns).

What Mitsuba renders:

* every object as its own triangle mesh with a ``diffuse`` BSDF of the
  object's albedo (flat face normals; no window pattern or grain);
* the ground: a mesh that is the back-projection onto z = 0 of a pixel grid
  over the image plus a margin (so its UV is the pixel position), with a
  ``bitmap`` texture holding the ground albedo at the ground point seen by each
  texel (2 texels per pixel per axis); points beyond ``3 x visibility`` (and
  texels above the horizon) are clamped to that ring; below it, a large plane
  with the mean albedo closes the lower hemisphere;
* the sun as a ``directional`` emitter (delta light: hard shadow edges, the
  0.27 deg disc is not modelled) along ``sun_vector``, irradiance ``pi x`` the
  ray-cast sun colour, and the sky as a ``constant`` emitter of the ray-cast sky
  colour (so a lit horizontal albedo-1 surface gets the same irradiance as in
  the ray-cast renderer); overcast: the sky only;
* a ``perspective`` sensor whose ``to_world`` columns are (-right, -down,
  forward, C) of ``make_camera`` and whose horizontal field of view is the
  spec's (principal point at the image centre, box pixel filter), so that
  ``Camera.project`` lands on the same pixels.

Aerial haze uses the per-pixel distance from an ``aov`` depth channel and the
ray-cast renderer's formula (extinction 1.5 / visibility); visible sky is the
haze colour, as the ray-cast sky near the horizon.

Needs ``pip install -e '.[pbr]'`` (mitsuba >= 3.5).
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

import shadowscenes as S

VARIANT = "scalar_rgb"   # llvm_ad_rgb aborts on this machine's LLVM 15 (instruction selection error)
DEFAULT_SPP = 16
MAX_DEPTH = 4            # camera ray + 3 bounces


def _mi():
    import mitsuba as mi
    if mi.variant() != VARIANT:
        mi.set_variant(VARIANT)
    return mi


def _write_ply(path: Path, V: np.ndarray, F: np.ndarray, uv: np.ndarray | None = None) -> None:
    """A mesh (and its texture coordinates) as PLY, written by trimesh, for Mitsuba's ``ply`` shape."""
    visual = trimesh.visual.TextureVisuals(uv=uv) if uv is not None else None
    trimesh.Trimesh(V, F, visual=visual, process=False).export(path, file_type="ply")


def _ground_points(cam: S.Camera, u: np.ndarray, v: np.ndarray, dmax: float) -> np.ndarray:
    """Ground points (z = 0) seen at pixels (u, v); rays that miss it within ``dmax`` (horizontal) are clamped there."""
    d = cam.ray(u.ravel().astype(float), v.ravel().astype(float))
    h = np.linalg.norm(d[:, :2], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d[:, 2] < -1e-9, -cam.C[2] / d[:, 2], np.inf)
    hit = t * h < dmax
    P = np.empty_like(d)
    P[hit] = cam.C[None] + t[hit, None] * d[hit]
    far = ~hit
    P[far, :2] = cam.C[None, :2] + dmax * d[far, :2] / np.maximum(h[far, None], 1e-9)
    P[:, 2] = 0.0
    return P


def _ground_mesh(cam: S.Camera, W: int, H: int, scene, dmax: float, margin: float = 0.15,
                 step: int = 8, tex_per_px: int = 2):
    """The visible ground as a back-projected pixel-grid mesh, its UVs and its albedo texture."""
    mx, my = int(margin * W), int(margin * H)
    gu = np.arange(-mx, W + mx + 1, step, dtype=float)
    gv = np.arange(-my, H + my + 1, step, dtype=float)
    uu, vv = np.meshgrid(gu, gv)
    V = _ground_points(cam, uu, vv, dmax)
    cw, ch = W + 2 * mx, H + 2 * my
    uv = np.stack([(uu.ravel() + mx) / cw, (vv.ravel() + my) / ch], 1)
    nu, nv = len(gu), len(gv)
    idx = np.arange(nu * nv).reshape(nv, nu)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    # winding with +z normals (image y runs down, so the grid is mirrored on the ground)
    F = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    n = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    flip = n[:, 2] < 0
    F[flip] = F[flip][:, [0, 2, 1]]
    # texture: albedo at the ground point seen at each texel centre
    tw, th = cw * tex_per_px, ch * tex_per_px
    tu = (np.arange(tw) + 0.5) / tex_per_px - mx
    tv = (np.arange(th) + 0.5) / tex_per_px - my
    TU, TV = np.meshgrid(tu, tv)
    P = _ground_points(cam, TU, TV, dmax)
    tex = scene.ground.albedo(P[:, 0].astype(np.float32), P[:, 1].astype(np.float32)).reshape(th, tw, 3)
    return V, F, uv, np.ascontiguousarray(tex, np.float32)


def _to_world(cam: S.Camera):
    mi = _mi()
    M = np.eye(4)
    M[:3, 0], M[:3, 1], M[:3, 2], M[:3, 3] = -cam.right, -cam.down, cam.fwd, cam.C
    return mi.ScalarTransform4f(M.tolist())


def scene_dict(spec: S.SceneSpec, cam: S.Camera, scene, tmp: Path, spp: int = DEFAULT_SPP,
               max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The Mitsuba scene description of one spec (PLY meshes written into ``tmp``)."""
    mi = _mi()
    W, H = spec.width, spec.height
    dmax = 3.0 * spec.visibility_m
    sun_rgb, sky_rgb = S._light(spec)
    d: dict[str, Any] = {
        "type": "scene",
        "integrator": {"type": "aov", "aovs": "dd.y:depth",
                       "image": {"type": "path", "max_depth": int(max_depth), "rr_depth": int(max_depth) + 1}},
        "sensor": {"type": "perspective", "fov_axis": "x", "fov": float(spec.hfov_deg),
                   "near_clip": 0.05, "far_clip": 10 * dmax, "to_world": _to_world(cam),
                   "film": {"type": "hdrfilm", "width": W, "height": H, "rfilter": {"type": "box"},
                            "pixel_format": "rgb"},
                   "sampler": {"type": "stratified", "sample_count": int(spp)}},
        "sky": {"type": "constant", "radiance": {"type": "rgb", "value": [float(x) for x in sky_rgb]}},
    }
    if not spec.overcast:
        L = S.sun_vector(spec.sun_azimuth_deg, spec.sun_elevation_deg)
        d["sun"] = {"type": "directional", "direction": [float(x) for x in -L],
                    "irradiance": {"type": "rgb", "value": [float(math.pi * x) for x in sun_rgb]}}
    V, F, uv, tex = _ground_mesh(cam, W, H, scene, dmax)
    _write_ply(tmp / "ground.ply", V, F, uv)
    d["ground"] = {"type": "ply", "filename": str(tmp / "ground.ply"), "face_normals": True,
                   "bsdf": {"type": "diffuse", "reflectance": {
                       "type": "bitmap", "bitmap": mi.Bitmap(tex), "raw": True,
                       "filter_type": "bilinear", "wrap_mode": "clamp"}}}
    big = 2.0 * dmax
    base = np.array([[-big, -big, -0.05], [big, -big, -0.05], [big, big, -0.05], [-big, big, -0.05]]) + [*cam.C[:2], 0]
    _write_ply(tmp / "base.ply", base, np.array([[0, 1, 2], [0, 2, 3]]))
    d["base"] = {"type": "ply", "filename": str(tmp / "base.ply"), "face_normals": True,
                 "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [float(x) for x in tex.reshape(-1, 3).mean(0)]}}}
    mesh = scene.mesh
    for i, kind in enumerate(scene.obj_kind):
        if kind == "dummy":
            continue
        fi = np.nonzero(scene.face_obj == i)[0]
        Fo = mesh.faces[fi]
        used, inv = np.unique(Fo.ravel(), return_inverse=True)
        p = tmp / f"obj{i:03d}.ply"
        _write_ply(p, mesh.vertices[used], inv.reshape(-1, 3))
        d[f"obj{i:03d}"] = {"type": "ply", "filename": str(p), "face_normals": True,
                            "bsdf": {"type": "diffuse", "reflectance": {
                                "type": "rgb", "value": [float(x) for x in scene.obj_albedo[i]]}}}
    return d


def render_pbr_linear(spec: S.SceneSpec, cam: S.Camera, scene, spp: int = DEFAULT_SPP,
                      max_depth: int = MAX_DEPTH) -> tuple[np.ndarray, np.ndarray]:
    """Linear RGB (H x W x 3, float32, the ray-cast renderer's scale) with haze, and the per-pixel distance (0: sky)."""
    mi = _mi()
    with tempfile.TemporaryDirectory(prefix="pbrscene-") as tmp:
        sc = mi.load_dict(scene_dict(spec, cam, scene, Path(tmp), spp, max_depth))
        out = np.array(mi.render(sc, seed=int(spec.seed) & 0x7FFFFFFF), dtype=np.float32)
    col, depth = out[:, :, :3], out[:, :, -1]
    sky = depth <= 0
    col = S.hazed(col, np.where(sky, np.inf, depth), spec)
    return np.nan_to_num(col).astype(np.float32), depth


def render_pbr(spec: S.SceneSpec, spp: int = DEFAULT_SPP, *, max_depth: int = MAX_DEPTH, degrade_image: bool = True,
               noise_seed: int | None = None, stats: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one scene with Mitsuba; return the RGB uint8 picture and :func:`shadowscenes.render_scene`'s truth.

    The truth's per-pixel facts (visible casters, shadow share, sky share) come
    from :func:`shadowscenes.render_linear` on the same camera and scene with
    no sky rays (the geometry is the same, so they are the same as
    ``render_scene``'s). ``stats``, if given, receives the spp, bounces and times (s).
    """
    cam = S.make_camera(spec)
    scene = S.build_scene(spec, cam)
    t0 = time.perf_counter()
    lin, _ = render_pbr_linear(spec, cam, scene, spp, max_depth)
    t_render = time.perf_counter() - t0
    rgb = S.tonemap(lin, spec.tone_key, spec.tone_gamma)
    if degrade_image:
        rgb = S.degrade(rgb, spec, None if noise_seed is None else np.random.default_rng(noise_seed))
    _, facts = S.render_linear(replace(spec, ao_samples=0), cam, scene)
    truth = S._scene_truth(spec, cam, scene, facts)
    if stats is not None:
        stats.update({"renderer": f"mitsuba {VARIANT} path", "spp": int(spp), "max_depth": int(max_depth),
                      "render_s": t_render, "total_s": time.perf_counter() - t0})
    return rgb, truth
