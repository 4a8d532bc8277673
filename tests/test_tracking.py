"""The tracking stage on real generated clips through the real decoder (no mocked video).

Clips come from ``benchmarks/trackscenes.py`` (sky over real ground, exact truth),
are H.264-encoded with ``write_video`` and decoded by ``iter_frames``. Camera
motion is the generator's exact truth in the ``MotionSample`` shape, so these
tests measure the tracking stage alone (``benchmarks/tracking.py`` runs it with
the real camera-motion estimator).
"""
from __future__ import annotations

import dataclasses
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import trackscenes as S  # noqa: E402

from vidforensics.config import load_config  # noqa: E402
from vidforensics.io.decode import iter_frames  # noqa: E402
from vidforensics.motion import CameraMotionEstimator  # noqa: E402
from vidforensics.tracking.detect import Detections, Detector, gaussian_centroid, isolation, median_last  # noqa: E402
from vidforensics.tracking.difference import DifferenceDetector, combine  # noqa: E402
from vidforensics.tracking.kinematics import Scale, analyse  # noqa: E402
from vidforensics.tracking.stage import TrackingCollector, TrackingParams, spread  # noqa: E402
from vidforensics.tracking.track import (CON, ISO, NOI, REL, RX, RY, SIG, SNR, STILL, TEX, F, T, Track, X, Y,  # noqa: E402
                                         extend_back)
from vidforensics.tracking.track import SIZE as OBJ_SIZE  # noqa: E402  (SIZE here is the frame size)

SIZE = (640, 360)
FALLING = ("retarded", "free_fall")


@pytest.fixture(scope="module")
def params() -> TrackingParams:
    # only the [tracking] table: the stage's own parameters, as the pipeline gives them
    data = tomllib.loads((REPO / "pipelines" / "default.toml").read_text(encoding="utf-8"))
    return TrackingParams.model_validate(data["tracking"])


def _scene(name: str, objects: list[S.Obj], n: int = 75, camera: S.Camera | None = None, seed: int = 1,
           noise: float = 2.0) -> S.Scene:
    cam = camera or S.Camera(cx=640.0, cy=324.0, vx=25.0, vy=-4.0, seed=seed)
    shot = S.Shot(cam, "rocket", seed, horizon=0.62, cloud=0.4, objects=objects, n=n, m_per_px=0.5)
    return S.Scene(name, SIZE, [shot], noise=noise, crf=23, seed=seed)


def _retarded(x: float, y: float, vy: float = 30.0, canopy: bool = True, snr: float = 10.0) -> S.Obj:
    return S.Obj("retarded", -1.0, 1e9, x, y, 4.0, vy, 6.0, -snr * 2.0, v_open=vy, canopy=canopy, seed=3)


def _run(scene: S.Scene, folder: Path, params: TrackingParams, scale: Scale | None = None):
    path = folder / f"{scene.name}.mp4"
    truth = S.render(scene, path)
    col = TrackingCollector(params, scale=scale)
    for fr in iter_frames(path):
        col.process(fr, truth["motion"][fr.index])
    return col.finish([tuple(s) for s in truth["segments"]]), truth, scene


def _run_measured(scene: S.Scene, path: Path, params: TrackingParams):
    """As ``_run``, with the camera motion measured by the estimator (as the benchmark's ``--motion real``)."""
    truth = S.render(scene, path)
    est = CameraMotionEstimator(load_config("default").motion)
    col = TrackingCollector(params)
    for fr in iter_frames(path):
        col.process(fr, est.process(fr))
    return col.finish([tuple(s) for s in truth["segments"]]), truth


def _descending(results):
    return [r for r in results if r.descent.kind in FALLING]


def _match(result, truth_obj) -> float:
    """Share of the track's points within 8 px of the truth object (a canopy pulls the centre up) in the same frame."""
    pos = {f: (x, y) for f, x, y in truth_obj["frames"]}
    near = [f for f, x, y in result.points if f in pos and np.hypot(x - pos[f][0], y - pos[f][1]) <= 8.0]
    return len(near) / len(result.points)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tracking")


def test_parachute_is_retarded_with_its_speed(folder, params):
    # world (640, 200) is frame (~320, 56) at the start; 30 world px/s down at zoom 1
    scene = _scene("parachute", [_retarded(640.0, 200.0)])
    results, truth, scene = _run(scene, folder, params)
    desc = _descending(results)
    assert len(desc) == 1, [(r.object_kind, r.descent.kind, r.descent.reason) for r in results]
    r = desc[0]
    assert r.descent.kind == "retarded", r.descent.reason
    assert _match(r, truth["objects"][0]) > 0.9
    t0 = truth["times"][r.start_frame]
    tm = 0.5 * (t0 + truth["times"][r.end_frame])
    vy_true = S.scene_velocity(scene, 0, 0, t0, tm)[1]
    assert abs(r.descent.vy_px_s - vy_true) <= 0.03 * vy_true, (r.descent.vy_px_s, vy_true)
    rep = r.to_report()
    assert rep["points"][0][0] == r.start_frame and len(rep["points"][0]) == 3
    assert rep["descent"]["kind"] == "retarded" and rep["end"]["kind"] in ("clip_end", "left_frame", "lost", "impact")


def test_free_fall_is_free_fall(folder, params):
    # released at rest at t = 0.1 s, g = 40 world px/s^2 (e.g. 0.25 m per px): 38 px in 1.4 s ... 150 px at 2.9 s
    obj = S.Obj("free_fall", 0.1, 1e9, 560.0, 190.0, 6.0, 0.0, 6.0, -20.0, g=40.0)
    results, truth, _ = _run(_scene("freefall", [obj], seed=2), folder, params)
    desc = _descending(results)
    assert len(desc) == 1, [(r.object_kind, r.descent.kind, r.descent.reason) for r in results]
    assert desc[0].descent.kind == "free_fall", desc[0].descent.reason
    # with the scale: the acceleration in m/s^2 is about g
    scaled = _run(_scene("freefall_scaled", [obj], seed=2), folder, params, scale=Scale(m_per_px=9.80665 / 40.0))[0]
    m = [r for r in scaled if r.descent.kind == "free_fall"][0].descent
    assert abs(m.ay_m_s2 - 9.80665) < 4 * m.ay_m_s2_sigma + 0.5, (m.ay_m_s2, m.ay_m_s2_sigma)


def test_three_objects_counted_without_identity_switch(folder, params):
    objs = [_retarded(520.0, 190.0, vy=25.0, canopy=False), _retarded(640.0, 220.0, vy=32.0),
            _retarded(760.0, 180.0, vy=28.0, canopy=False)]
    results, truth, _ = _run(_scene("three", objs, seed=3), folder, params)
    desc = _descending(results)
    assert len(desc) == 3, [(r.object_kind, r.descent.kind, r.start_frame, r.end_frame) for r in results]
    owners = []
    for r in desc:
        shares = [_match(r, o) for o in truth["objects"]]
        assert max(shares) > 0.9, shares            # every point of a track is on one object: no switch
        owners.append(int(np.argmax(shares)))
    assert sorted(owners) == [0, 1, 2]
    assert spread(results)["descending"] == 3


def test_canopy_piece_joins_its_payload_track_once_that_is_bridged(folder, params):
    # benchmark clip recall 1016: the second object's payload track breaks off at frame ~64 and is
    # bridged to its continuation; the canopy's piece from frame 35 overlaps too few frames of
    # either half to be merged with it, but enough of the bridged whole (once: three tracks, then
    # two). Now one: the pieces that jump between the canopy's parts join too (comove_bounded_q),
    # and so do a payload piece and a canopy piece that share 20-30 % of their frames
    scene = S.random_scene(seed=1016, n_objects=2, snr=5.0, motion="pan")
    results, truth, _ = _run(scene, folder, params)
    obj = truth["objects"][1]
    pos = {f: (x, y) for f, x, y in obj["frames"]}
    reach = 8.0 + obj["params"]["size"]     # the canopy's centre is ~0.9 sizes above the payload's

    def share(r):
        return np.mean([f in pos and np.hypot(x - pos[f][0], y - pos[f][1]) <= reach for f, x, y in r.points])

    on_second = [r for r in results if share(r) > 0.9]
    assert len(on_second) == 1, [(r.start_frame, r.end_frame, share(r)) for r in results]
    assert max(r.end_frame for r in on_second) >= 95


def test_two_tracks_taking_turns_on_one_object_are_one(folder, params):
    # benchmark clip count 3008 with its camera motion measured (sky only, shaken and zoomed): two
    # tracks took turns on the first object frame by frame from frame 43, each coasting while the
    # other had the candidate, so they shared no frame; compared between each other's points
    # they are one track
    results, truth = _run_measured(S.random_scene(seed=3008, n_objects=5, snr=8.0, motion="all"),
                                   folder / "count 3008.mp4", params)
    obj = truth["objects"][0]
    pos = {f: (x, y) for f, x, y in obj["frames"]}
    on_first = [r for r in results
                if np.mean([f in pos and np.hypot(x - pos[f][0], y - pos[f][1]) <= 8.0 for f, x, y in r.points]) > 0.9]
    assert len(on_first) == 1, [(r.start_frame, r.end_frame, len(r.points)) for r in on_first]


def test_points_a_joined_piece_lends_are_reported_where_they_were_seen(folder, params):
    # benchmark clip count 2003 with its camera motion measured: the second object's track strays
    # ~8 px off it near its end, where a co-moving piece on the object itself is joined to it; the
    # piece's points filled the track's missing frames moved by the pieces' offset, 8 px off the
    # object (11 points). A point is where it was measured: on the object
    results, truth = _run_measured(S.random_scene(seed=2003, n_objects=3, snr=8.0, motion="all"),
                                   folder / "count 2003.mp4", params)
    shapes = [{f: (x, y, sh) for (f, x, y), sh in zip(o["frames"], o["shapes"])} for o in truth["objects"]]

    def on(oi, f, x, y):
        p = shapes[oi].get(f)
        return p is not None and S.footprint_distance(p[2], x - p[0], y - p[1]) <= 4.0

    shares = []
    for r in results:
        counts = [sum(on(oi, f, x, y) for f, x, y in r.points) for oi in range(len(shapes))]
        shares.append((r.start_frame, r.end_frame, max(counts) / len(r.points)))
    assert len(shares) >= 3 and min(s for _, _, s in shares) >= 0.95, shares


def test_erratic_bird_is_not_descending(folder, params):
    bird = S.Obj("bird", 0.0, 1e9, 500.0, 210.0, 60.0, 8.0, 6.0, -24.0, aspect=2.5, wiggle=10.0, seed=11)
    results, _, _ = _run(_scene("bird", [bird], seed=4), folder, params)
    assert _descending(results) == [], [(r.object_kind, r.descent.kind, r.descent.reason) for r in results]


def test_erratic_mover_is_not_reported_unless_the_camera_motion_is_unknown(folder, params):
    # a bird wandering 6 px about a slow drift: with the camera's motion measured its path is
    # erratic in the scene (a bird, an insect, or noise the tracker wandered over): not reported.
    # With every frame unregistered (sky only) the same path in the picture may be a falling
    # object shaken by a hand-held camera: reported, as what its picture path is (undecided)
    bird = S.Obj("bird", 0.0, 1e9, 500.0, 210.0, 15.0, 4.0, 6.0, -40.0, aspect=2.0, wiggle=6.0, seed=5)
    scene = _scene("erratic", [bird], seed=4)
    path = folder / "erratic.mp4"
    truth = S.render(scene, path)
    everything = params.model_copy(update={"report_kinds": params.report_kinds + ["erratic"]})
    for p, sky_only, want in ((everything, False, {"erratic"}), (params, False, set()), (params, True, {"erratic"})):
        col = TrackingCollector(p)
        for fr in iter_frames(path):
            m = truth["motion"][fr.index]
            col.process(fr, dataclasses.replace(m, reliable=False, reason="sky only") if sky_only else m)
        results = col.finish([tuple(s) for s in truth["segments"]])
        on_bird = [r for r in results if _match(r, truth["objects"][0]) > 0.8]
        assert {r.object_kind for r in on_bird} == want, (sky_only, [(r.object_kind, r.descent.reason) for r in results])
        assert _descending(results) == []


def test_a_track_along_the_pictures_lower_edge_is_ground(params):
    # sky only, a shaking camera: a feature of the ground at the picture's bottom edge wanders
    # 15 px in and out in the picture. Never above the bottom 8 %: the ground's edge, not reported.
    # The same path higher up in the picture is a mover (its kind from the path)
    rng = np.random.default_rng(3)
    n = 50
    t = np.arange(n) / 25.0
    path = np.c_[300 + 40 * t + rng.normal(0, 0.3, n), 7.5 * np.sin(2 * np.pi * 0.8 * t) + rng.normal(0, 0.3, n)]
    sig, res = np.full(n, 0.3), np.zeros(n)
    kinds = {}
    for name, y0 in (("edge", 350.0), ("sky", 200.0)):
        xy = path + [0.0, y0]
        kin = analyse(t, xy, sig, res, -15.0, 0.0, SIZE, params.kinematics, frame_xy=xy)
        kinds[name] = (kin.object_kind, kin.reason)
    assert kinds["edge"][0] == "clutter" and "bottom" in kinds["edge"][1], kinds
    assert kinds["sky"][0] != "clutter", kinds


def test_standing_texture_the_difference_image_sees_still_is_clutter(params):
    # a blob on a roof that slides 3 px/s down as a zoom changes its size (the bundled sample's town):
    # descending for the band-pass, but where the difference image searched the ground it saw nothing
    # move. On most of its points: clutter; on a third (an object passing over the ground for a while,
    # its band-pass points there near no moving candidate): not
    rng = np.random.default_rng(2)
    t = np.arange(40) / 25.0
    xy = np.c_[300 + 0.5 * t, 200 + 3.0 * t] + rng.normal(0, 0.1, (len(t), 2))
    sig, res = np.full(len(t), 0.1), np.zeros(len(t))
    kinds = {share: analyse(t, xy, sig, res, -15.0, 0.0, SIZE, params.kinematics, frame_xy=xy, still_share=share)
             for share in (0.9, 0.35)}
    assert kinds[0.9].object_kind == "clutter" and "difference image saw nothing move" in kinds[0.9].reason
    assert kinds[0.35].object_kind == "falling", kinds[0.35]


def test_band_pass_candidates_the_difference_image_searched_are_still_unless_something_moves_near():
    def dets(xy, size=4.0):
        n = len(xy)
        z = np.zeros(n)
        return Detections(xy=np.array(xy, float).reshape(-1, 2), sigma=z + 0.3, snr=z + 8, contrast=z - 10, noise=z + 2,
                          size=z + size, peak=z, texture=z + 1, isolation=z + 1, still=z)

    sky = dets([(100.0, 100.0), (200.0, 100.0), (300.0, 100.0)])
    moving = dets([(203.0, 101.0)])
    # searched at the first two (the third is over sky); a moving candidate next to the second
    out = combine(sky, moving, 4.0, 2.5, 3.0, np.array([True, True, False]))
    assert len(out) == 3 and out.still.tolist() == [1.0, 0.0, 0.0]   # (the moving one is the second's object)
    assert combine(sky, dets([]), 4.0, 2.5, 3.0, np.array([True, False, True])).still.tolist() == [1.0, 0.0, 1.0]
    assert combine(sky, moving, 4.0, 2.5, 3.0).still.tolist() == [0.0, 0.0, 0.0]   # no difference image


def test_a_small_speed_change_is_no_free_fall_without_a_scale(params):
    # 3 s at 25 fps, 0.2 px noise. A slow descender whose speed grows 60 % over the track (what a
    # zoom or a canopy's centre sliding along it fakes, 3 px/s^2 at 14.5 px/s; significant at 3
    # sigma) is not called a free fall without a scale; a fall released 0.5 s before the track,
    # whose speed grows 1.5x its mid-track speed, is
    rng = np.random.default_rng(5)
    t = np.arange(75) / 25.0
    sig, res = np.full(len(t), 0.2), np.zeros(len(t))
    kinds = {}
    for name, y in (("drift", 100 + 10 * t + 1.5 * t ** 2), ("fall", 100 + 10 * (t + 0.5) ** 2)):
        xy = np.c_[300 + 2 * t, y] + rng.normal(0, 0.2, (len(t), 2))
        kin = analyse(t, xy, sig, res, -15.0, 0.0, SIZE, params.kinematics, frame_xy=xy)
        kinds[name] = (kin.kind, kin.reason)
    assert kinds["drift"][0] == "inconclusive" and "speed changes by only" in kinds["drift"][1], kinds
    assert kinds["fall"][0] == "free_fall", kinds


def test_a_track_measured_on_a_third_of_its_frames_is_not_evident(params):
    # the same bright-enough measurements, once on every frame and once on every third
    # (the tracker coasting between noise that lines up now and then): only the first is evident
    def track(step: int) -> Track:
        tr = Track(id=0, run=0, first_to_ref=np.eye(3))
        for f in range(0, 60, step):
            row = [0.0] * (STILL + 1)
            row[F], row[T], row[X], row[Y], row[RX], row[RY] = f, f / 25.0, 300.0, 100.0 + f, 300.0, 100.0 + f
            row[SNR], row[CON], row[NOI], row[ISO], row[TEX] = 8.0, -10.0, 1.5, 1.0, 1.0
            tr.points.append(tuple(row))
        return tr

    col = TrackingCollector(params)
    assert col._evident(track(1))
    assert not col._evident(track(3))


def _synthetic_track(tid: int, frames, xy, snr: float = 8.0) -> Track:
    """A track of measured rows (reference = picture px, size 4, contrast -10 over noise 1.5)."""
    tr = Track(id=tid, run=0, first_to_ref=np.eye(3))
    for f, (x, y) in zip(frames, xy):
        row = [0.0] * (STILL + 1)
        row[F], row[T], row[X], row[Y], row[RX], row[RY] = f, f / 25.0, x, y, x, y
        row[SNR], row[CON], row[NOI], row[ISO], row[TEX], row[OBJ_SIZE], row[SIG], row[REL] = \
            snr, -10.0, 1.5, 1.0, 1.0, 4.0, 0.3, 1.0
        tr.points.append(tuple(row))
    return tr


def test_a_short_piece_beside_a_longer_track_joins_it_on_distance_alone(params):
    # a canopy's end followed for 0.8 s, 6-14 px above its payload's 3 s track (its offset flips
    # between the canopy's ends frame by frame: too scattered to pass as co-moving) is one object with
    # it; the same piece 40 px away, or beside a track that is not evident, stays on its own
    f = np.arange(75)
    host = np.c_[300 + 2.0 * f / 25, 100 + 20.0 * f / 25]
    g = np.arange(20, 40)
    flip = np.where(g % 2 == 0, -6.0, -14.0)

    def pieces(dx: float, host_snr: float = 8.0) -> int:
        col = TrackingCollector(params)
        a = _synthetic_track(0, f, host, snr=host_snr)
        b = _synthetic_track(1, g, host[g] + np.c_[np.full(len(g), dx), flip])
        return len(col._merge_comoving([(0, a), (0, b)], join_short=True))

    assert pieces(0.0) == 1
    assert pieces(40.0) == 2
    assert pieces(0.0, host_snr=3.0) == 2
    p = params.model_copy(deep=True)
    p.comove_short_s = 0.0   # (the scattered offset alone does not join them)
    assert len(TrackingCollector(p)._merge_comoving([(0, _synthetic_track(0, f, host)),
                                                    (0, _synthetic_track(1, g, host[g] + np.c_[np.zeros(len(g)), flip]))],
                                                   join_short=True)) == 2



def test_a_track_jumping_between_the_parts_of_one_object_joins_the_track_beside_it(params):
    # benchmark clip kind 4016 (offset 1000): one track follows a canopy for 3 s while another,
    # over 2.2 s of the same frames, jumps between the canopy's ends and its payload, 2, 5.5 and 9 px from
    # the first: too scattered to pass as a steady offset, but within the object's reach (2.5
    # sizes, 10 px) on most frames: one object, when both are evident. A piece
    # that crosses the track, or keeps 40 px away, stays on its own
    f = np.arange(75)
    host = np.c_[300 + 2.0 * f / 25, 100 + 20.0 * f / 25]
    g = np.arange(10, 65)
    jump = np.array([2.0, 5.5, 9.0])[g % 3]

    def pieces(offset: np.ndarray, snr: float = 8.0) -> int:
        col = TrackingCollector(params)
        a = _synthetic_track(0, f, host)
        b = _synthetic_track(1, g, host[g] + offset, snr=snr)
        return len(col._merge_comoving([(0, a), (0, b)], join_short=True))

    assert pieces(np.c_[np.zeros(len(g)), jump]) == 1
    assert pieces(np.c_[np.zeros(len(g)), jump], snr=3.0) == 2   # not evident: noise beside it
    assert pieces(np.c_[np.full(len(g), 40.0), jump]) == 2
    assert pieces(np.c_[np.linspace(-30.0, 30.0, len(g)), np.zeros(len(g))]) == 2


def test_a_payload_piece_and_a_canopy_piece_that_overlap_a_little_are_one_object(params):
    # benchmark clip recall 1016: the payload's track ends at frame 59, a track on the canopy 9 px
    # above it began at 45. They share 15 frames, 27 % of the shorter: the bridge does not take them
    # (at the canopy's offset their extrapolations disagree), and the co-moving comparison once
    # needed 30 % (now 20 %); two tracks on one object
    rng = np.random.default_rng(2)
    fa, fb = np.arange(0, 60), np.arange(45, 100)

    def path(f):
        return np.c_[200.0 + 0.1 * f, 50.0 + 0.8 * f]
    payload = _synthetic_track(0, fa, path(fa) + rng.normal(0, 0.3, (len(fa), 2)))
    canopy = _synthetic_track(1, fb, path(fb) + np.c_[3.0, -8.5] + rng.normal(0, 0.3, (len(fb), 2)))
    col = TrackingCollector(params)
    assert len(col._bridge([(0, payload), (0, canopy)])) == 2
    out = col._merge_comoving([(0, payload), (0, canopy)])
    assert [(int(tr.points[0][F]), int(tr.points[-1][F])) for _, tr in out] == [(0, 99)]


def test_track_does_not_cross_a_cut(folder, params):
    scene = S.cut_scene(21)
    results, truth, _ = _run(scene, folder, params)
    segs = truth["segments"]
    assert len(segs) == 2
    for r in results:
        s, e = segs[r.segment]
        assert all(s <= f < e for f, _, _ in r.points), (r.segment, r.points[0], r.points[-1])
    ends = [r for r in results if r.segment == 0 and r.end_frame == segs[0][1] - 1]
    assert all(r.end_kind == "cut" for r in ends)
    # each shot's object is found in its own segment
    assert {r.segment for r in _descending(results)} == {0, 1}


def test_deterministic(folder, params):
    scene = _scene("det", [_retarded(600.0, 200.0)], n=40, seed=5)
    path = folder / "det.mp4"
    truth = S.render(scene, path)
    outs = []
    for _ in range(2):
        col = TrackingCollector(params)
        for fr in iter_frames(path):
            col.process(fr, truth["motion"][fr.index])
        outs.append([r.to_report() for r in col.finish([tuple(s) for s in truth["segments"]])])
    assert outs[0] == outs[1] and outs[0]


def test_settling_during_the_pass_changes_nothing_and_lets_go_of_the_first_shot(folder, params):
    # the pipeline settles finished tracks during the pass (memory stays flat with the clip's length);
    # the report must be exactly the one made from every track at the end, with or without a scale
    scene = S.cut_scene(21)
    path = folder / "settle.mp4"
    truth = S.render(scene, path)
    segs = [tuple(s) for s in truth["segments"]]
    starts = [s for s, _ in segs]
    held, settling = TrackingCollector(params), TrackingCollector(params)
    lagging = TrackingCollector(params)   # boundaries known only 30 frames late, settled every 10 frames
    for fr in iter_frames(path):
        m = truth["motion"][fr.index]
        for col in (held, settling, lagging):
            col.process(fr, m)
        settling.settle(starts, float("inf"))
        if fr.index % 10 == 0:
            lagging.settle([s for s in starts if s < fr.index - 30], fr.index - 30)
    assert settling.held_rows() < held.held_rows()
    # the first shot is over: of its tracks only the pieces it will report are still held
    kept = [tr for seg, tr in settling._settled]
    assert kept and all(int(tr.points[-1][0]) < segs[0][1] for tr in kept)
    assert not [tr for tr in settling._ended if int(tr.points[0][0]) < segs[0][1]]
    for scale in (None, Scale(m_per_px=0.5)):
        want = [r.to_report() for r in held.finish(segs, scale=scale)]
        assert [r.to_report() for r in settling.finish(segs, scale=scale)] == want
        assert [r.to_report() for r in lagging.finish(segs, scale=scale)] == want
    assert _descending(held.finish(segs))


def test_isolation_tells_an_object_from_a_bump_on_a_plume():
    # sky at 180, dark things at 150: a 5 px object alone; the same with a second object 9 px to
    # its right (a canopy, a neighbour); a 5 px bump on the top edge of a large dark patch (smoke)
    sky = np.full((80, 240), 180.0)
    yy, xx = np.mgrid[:80, :240]
    sky[(yy - 40) ** 2 + (xx - 40) ** 2 <= 6] = 150.0
    sky[(yy - 40) ** 2 + (xx - 120) ** 2 <= 6] = 150.0
    sky[(yy - 40) ** 2 + (xx - 129) ** 2 <= 6] = 150.0
    sky[42:80, 170:240] = 150.0
    sky[(yy - 40) ** 2 + (xx - 199) ** 2 <= 6] = 150.0
    xy = np.array([[40.0, 40.0], [120.0, 40.0], [199.0, 40.0]])
    iso = isolation(sky.astype(np.uint8), xy, np.full(3, -1.0), np.full(3, 30.0), 10)
    assert iso[0] == pytest.approx(1.0) and iso[1] == pytest.approx(1.0)
    assert iso[2] < 0.2



def test_the_fast_per_candidate_statistics_agree_with_the_plain_ones():
    # median_last is np.median over the last axis; the separable centroid the (n, s, s) weighted one
    rng = np.random.default_rng(3)
    for k in (1, 2, 19, 56, 80):
        a = rng.integers(0, 255, (7, 4, k)).astype(np.float64)
        assert np.array_equal(median_last(a), np.median(a, axis=-1))
    n, s = 9, 15
    pos = np.clip(rng.normal(0, 1, (n, s, s)), 0, None)
    pos[:, 5:9, 9:12] += 20.0
    gx = np.arange(s)[None, :] + rng.integers(0, 100, (n, 1)).astype(float)
    gy = np.arange(s)[None, :] + rng.integers(0, 100, (n, 1)).astype(float)
    xy0 = np.stack([gx[:, 7], gy[:, 7]], axis=1)
    width = rng.uniform(0.8, 3.0, n)
    x, y = xy0[:, 0].copy(), xy0[:, 1].copy()
    for _ in range(3):
        w = (np.exp(-0.5 * ((gy - y[:, None]) / width[:, None]) ** 2)[:, :, None]
             * np.exp(-0.5 * ((gx - x[:, None]) / width[:, None]) ** 2)[:, None, :] * pos)
        x = (w.sum(axis=1) * gx).sum(axis=1) / w.sum(axis=(1, 2))
        y = (w.sum(axis=2) * gy).sum(axis=1) / w.sum(axis=(1, 2))
    fx, fy = gaussian_centroid(pos, gx, gy, xy0, width, 3, 7.0)
    assert np.allclose(fx, x, atol=1e-9) and np.allclose(fy, y, atol=1e-9)
    assert np.all(np.abs(fx - gx[:, 7]) > 0.1)   # it moved toward the blob at columns 9-11

@pytest.fixture(scope="module")
def ground_clip(folder) -> tuple[Path, dict]:
    """A dark parachute load (contrast -60 levels, like the seed case's bomb over the town) descending in
    front of a brick wall under a pan, from the clip's first frame."""
    obj = _retarded(640.0, 370.0, vy=30.0, canopy=False, snr=30.0)
    cam = S.Camera(cx=640.0, cy=324.0, vx=25.0, vy=-4.0, seed=8)
    shot = S.Shot(cam, "brick", 8, horizon=0.55, cloud=0.4, objects=[obj], n=75, m_per_px=0.5)
    path = folder / "ground_brick.mp4"
    return path, S.render(S.Scene("ground_brick", SIZE, [shot], noise=2.0, crf=23, seed=8), path)


def test_object_in_front_of_textured_ground_is_followed_by_the_difference_image(ground_clip, params):
    # the band-pass detector sees it only as ground clutter; the motion-compensated three-frame
    # difference cancels the wall. (In front of busier ground, where the surroundings vary by more than
    # clutter_noise_max levels, e.g. the astronaut still, it is still called clutter: a known limit, see
    # benchmarks/README.md.)
    path, truth = ground_clip
    frames = len(truth["objects"][0]["frames"])
    found = {}
    for enabled in (False, True):
        p = params.model_copy(deep=True)
        p.difference.enabled = enabled
        col = TrackingCollector(p)
        for fr in iter_frames(path):
            col.process(fr, truth["motion"][fr.index])
        results = col.finish([tuple(s) for s in truth["segments"]])
        found[enabled] = [r for r in results if _match(r, truth["objects"][0]) > 0.8]
    assert not found[False]
    assert found[True]
    best = max(found[True], key=lambda r: len(r.points))
    assert len(best.points) >= 0.6 * frames and best.descent.kind == "retarded", (len(best.points), best.descent)


def test_a_runs_first_frames_get_their_moving_candidates_late(ground_clip, params):
    # the difference image needs the frames lag and 2 lag back: a run's first 2 lag frames (here the
    # clip's; after a cut, the seed case's bomb) get theirs 2 lag frames later, against the frames after them
    path, truth = ground_clip
    det, dif = Detector(params.detect), DifferenceDetector(params.difference, params.detect)
    pos = {f: (x, y) for f, x, y in truth["objects"][0]["frames"]}
    two_lag = 2 * params.difference.lag_frames
    late_for = {}
    for fr in iter_frames(path):
        luma, m = fr.luma(), truth["motion"][fr.index]
        det.detect(luma)
        dif.detect(luma, m.to_ref, m.run, m.reliable, det.noise_blocks, det.work)
        late = dif.late()
        if late is not None and len(late):
            x, y = pos[fr.index - two_lag]
            late_for[fr.index - two_lag] = float(np.min(np.hypot(late.xy[:, 0] - x, late.xy[:, 1] - y)))
        if fr.index == 3 * two_lag:
            break
    assert sorted(late_for) == list(range(two_lag)), late_for
    assert max(late_for.values()) <= 1.5, late_for


def test_a_track_is_followed_back_through_candidates_found_late(params):
    # a track from frame 10 at (300, 100) + (20, 40) px/s; candidates of frame 9 (found late): one where
    # its motion leads back, one 6 px off. The first is prepended; from there, one 6 px off in frame 8 is not
    f = np.arange(10, 30)
    tr = _synthetic_track(0, f, np.c_[300 + 20.0 * (f - 10) / 25, 100 + 40.0 * (f - 10) / 25])
    tr.confirmed = True

    def dets(xy):
        z = np.zeros(len(xy))
        return Detections(xy=np.array(xy, float), sigma=z + 0.3, snr=z + 20, contrast=z - 30, noise=z + 2,
                          size=z + 4, peak=z, texture=z + 1, isolation=z + 1, still=z)

    assert extend_back(tr, 9, 9 / 25, dets([(306.0, 98.4), (299.2, 98.4)]), np.eye(3), 0.0, True, params.track)
    assert tr.points[0][F] == 9 and tr.points[0][X] == pytest.approx(299.2) and len(tr.points) == 21
    assert not extend_back(tr, 8, 8 / 25, dets([(298.4 + 6.0, 96.8)]), np.eye(3), 0.0, True, params.track)
    assert len(tr.points) == 21


def test_empty_sky_reports_no_descent(folder, params):
    # cloud, ground texture, sensor noise and H.264 only: no track may be reported as descending
    # (a few bright line-ups of noise still pass the report gate as sideways/erratic movers: a known limit)
    results, _, _ = _run(_scene("empty", [], seed=7, noise=3.0), folder, params)
    assert _descending(results) == [], [(r.object_kind, r.descent.kind, r.snr) for r in results]
    assert all(r.object_kind != "falling" for r in results)


def test_sky_only_track_is_undecided_without_scene_numbers(folder, params):
    # nothing but sky, and a camera that follows a parachute down (30 px/s each): the real
    # camera-motion estimator flags every frame texture-poor, the object hardly moves in the
    # picture, and its fall cannot be told from the camera's. It is still reported (an
    # investigator must see it), undecided, with no scene-motion numbers at all
    est = CameraMotionEstimator(load_config("default").motion)
    cam = S.Camera(cx=640.0, cy=324.0, vx=0.0, vy=30.0, seed=8)
    shot = S.Shot(cam, "rocket", 8, horizon=1.0, cloud=0.4, objects=[_retarded(640.0, 300.0)], n=75, m_per_px=0.5)
    path = folder / "sky only.mp4"
    truth = S.render(S.Scene("skyonly", SIZE, [shot], noise=2.0, crf=23, seed=8), path)
    col = TrackingCollector(params)
    for fr in iter_frames(path):
        m = est.process(fr)
        assert not m.reliable
        col.process(fr, m)
    results = col.finish([tuple(s) for s in truth["segments"]])
    assert _descending(results) == []
    # no verdict from the picture's motion, and every reason says why (cloud features move too)
    assert all("camera motion unreliable" in r.descent.reason and r.descent.kind == "inconclusive"
               for r in results if r.object_kind not in ("aircraft", "flare"))
    mine = [r for r in results if _match(r, truth["objects"][0]) > 0.9]
    assert len(mine) == 1, [(r.object_kind, r.descent.reason) for r in results]
    r = mine[0]
    # 'unresolved' where it hardly moves in the picture, 'falling' while the canopy still brakes
    assert r.object_kind in ("unresolved", "falling") and r.descent.kind == "inconclusive"
    assert "camera motion unreliable" in r.descent.reason
    d = r.to_report()["descent"]
    assert all(d[k] is None for k in ("vy_px_s", "ay_px_s2", "vx_px_s", "a_over_v_per_s", "release_before_first_s"))
    assert r.scene_points == [] and len(r.points) >= 0.8 * 75


def test_copied_blocks_are_drawn_but_never_fitted(folder, params):
    # a still camera over a faint object: x264 skips macroblocks, so the decoded picture shows the
    # object where it was for a frame or more. Those positions repeat the previous point exactly;
    # the track keeps them (flagged) but fits only real measurements, and never ends on one
    scene = S.random_scene(seed=1000, n_objects=1, snr=5.0, motion="static")
    results, truth, _ = _run(scene, folder, params)
    mine = [r for r in results if _match(r, truth["objects"][0]) > 0.9]
    assert mine, [(r.object_kind, r.start_frame, r.end_frame) for r in results]
    r = max(mine, key=lambda r: len(r.points))
    assert r.repeated_frames, "this clip's object is held by skipped blocks (benchmark clip 1000)"
    pts = {int(f): (x, y) for f, x, y in r.points}
    frames = sorted(pts)
    for f in r.repeated_frames:
        prev = frames[frames.index(f) - 1]
        assert np.allclose(pts[f], pts[prev], atol=1e-3)
    assert not set(r.repeated_frames) & {int(p[0]) for p in r.scene_points}
    assert r.points[-1][0] not in r.repeated_frames
    assert r.to_report()["repeated_frames"] == r.repeated_frames
