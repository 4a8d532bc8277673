"""Multi-object tracking of point candidates in camera-motion-compensated coordinates.

Each track is a constant-acceleration Kalman filter per axis (position,
velocity, acceleration; white-jerk process noise) in the *reference* pixel
coordinates of the current camera-motion run, where the background stands
still and what moves, moves in the scene. Time steps are container timestamps,
so a variable frame rate or a dropped frame is a longer step, not a wrong speed.

Association is by point distance, never by box overlap: the Mahalanobis
distance of each candidate from each track's predicted position (innovation
covariance = predicted position covariance + measurement noise), gated at a
chi-square quantile, assigned one-to-one with ``scipy.optimize.linear_sum_assignment``.
A 3 px object moves by more than its own size between frames, so box-overlap
trackers lose it; a gate that grows with the prediction's uncertainty keeps it
through a short occlusion or a dropped frame (re-acquisition).

A candidate at exactly (``repeat_px``) a track's last frame position is a
block H.264 copied from an earlier frame, not a measurement: it is consumed and
the track coasts. A new candidate starts a *tentative* track; it is confirmed after
``confirm_hits`` measurements within its first ``confirm_window`` frames (k of
n), otherwise dropped (compression noise rarely repeats at one predicted
place). A confirmed track coasts on its prediction for up to ``max_coast_s``
unseen and then ends ("lost"); it ends at once when its prediction leaves the
picture ("left_frame"), and every track ends when the camera-motion run
changes (a cut or an unregistrable frame: a new reference, "cut").
Candidates found after the fact for earlier frames (the difference image's for
a run's first frames) extend a track backwards (``extend_back``).

The state of all tracks is held as arrays and every step is vectorised, so the
cost per frame stays small with dozens of live tracks (static clutter included).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.optimize import linear_sum_assignment

from vidforensics.tracking.detect import Detections

# columns of Track.points (see Track), written by _row
F, T, X, Y, RX, RY, SIG, SNR, CON, NOI, SIZE, PEAK, RES, REL, TEX, ISO, REP, STILL = range(18)

_BIG = 1e9


class TrackParams(BaseModel):
    """Tracker; values in ``[tracking.track]``."""

    model_config = ConfigDict(extra="forbid")

    jerk_psd: float            # white-jerk spectral density, (px/s^3)^2 s: how fast acceleration may change
    init_speed_sigma: float    # prior sigma of a new track's speed, px/s (aircraft are fast)
    init_accel_sigma: float    # prior sigma of a new track's acceleration, px/s^2
    gate_chi2: float           # Mahalanobis gate on the 2-D innovation (chi-square, 2 dof)
    gate_min_px: float         # the gate never shrinks below this radius (px, reference coordinates)
    confirm_hits: int          # k of the k-of-n confirmation
    confirm_window: int        # n of the k-of-n confirmation (frames since birth)
    max_coast_s: float         # a confirmed track survives this long unseen (occlusion, dropped frames)
    motion_sigma_k: float      # the camera-motion residual (px) adds this many times itself to the measurement sigma
    edge_margin_px: float      # a prediction this far outside the picture has left it
    repeat_px: float           # a candidate within this of the track's last frame position is a copied block: a miss
    repeat_coast_s: float      # ... but it keeps the track alive (the object is there, frozen) up to this long unmeasured


@dataclass
class Track:
    """One track's record (everything the stage needs afterwards).

    ``points`` rows: frame, time_s, x, y (frame px), rx, ry (reference px), sigma (reference px),
    snr, contrast, noise, size, peak, motion residual (px), motion reliable (0/1), texture,
    isolation, repeat (1: the candidate repeated the previous point's frame position, a copied
    block: shown where the picture shows it, never a measurement), still (1: the difference image
    saw nothing move there, ``Detections.still``); the module's ``F`` ... ``STILL`` name the
    columns. Once the track has ended, the tracking stage may hold them as one ``(n, 18)`` array
    instead.
    """

    id: int
    run: int
    first_to_ref: np.ndarray
    points: list[tuple] = field(default_factory=list)
    confirmed: bool = False
    end_kind: str | None = None
    end_frame: int | None = None
    borrowed: set[int] = field(default_factory=set)   # frames whose point came from a co-moving piece (picture px as measured, reference px moved)


class Tracker:
    """Point tracker for one clip: call :meth:`step` once per frame, then :meth:`close`."""

    def __init__(self, params: TrackParams):
        self.p = params
        self._next_id = 0
        self.done: list[Track] = []
        self._reset(-1)

    def _reset(self, run: int) -> None:
        self.run = run
        self.X = np.zeros((0, 2, 3))          # per track, per axis: position, velocity, acceleration
        self.P = np.zeros((0, 2, 3, 3))
        self.t_last = np.zeros(0)                # time of the last measurement
        self.t_alive = np.zeros(0)               # ... or of the last repeat of it (a frozen block)
        self.born = np.zeros(0, np.int64)     # frame of birth
        self.hits = np.zeros(0, np.int64)
        self.last_seen = np.zeros(0, np.int64)
        self.live: list[Track] = []

    # ------------------------------------------------------------------ filter maths
    def _predict(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        dt = np.maximum(t - self.t_last, 0.0)
        n = len(dt)
        F = np.zeros((n, 3, 3))
        F[:, 0, 0] = F[:, 1, 1] = F[:, 2, 2] = 1.0
        F[:, 0, 1] = F[:, 1, 2] = dt
        F[:, 0, 2] = 0.5 * dt * dt
        q = self.p.jerk_psd
        Q = q * np.stack([np.stack([dt ** 5 / 20, dt ** 4 / 8, dt ** 3 / 6], -1),
                          np.stack([dt ** 4 / 8, dt ** 3 / 3, dt ** 2 / 2], -1),
                          np.stack([dt ** 3 / 6, dt ** 2 / 2, dt], -1)], -2)
        Xp = np.einsum("nij,naj->nai", F, self.X)
        Pp = np.einsum("nij,najk,nlk->nail", F, self.P, F) + Q[:, None]
        return Xp, Pp

    # ------------------------------------------------------------------ per frame
    def step(self, frame: int, t: float, dets: Detections, to_ref: np.ndarray, frame_size: tuple[int, int],
             run: int, residual_px: float, reliable: bool) -> None:
        """Advance every track to this frame and associate its candidates.

        Parameters
        ----------
        frame, t : frame index and container time (s)
        dets : candidates in this frame's pixel coordinates
        to_ref : 3x3 map of this frame's pixels to the run's reference pixels
        frame_size : (width, height)
        run : camera-motion run; a new run ends every track
        residual_px, reliable : camera-motion quality of this frame
        """
        p = self.p
        if run != self.run:
            self._close_all("cut", frame - 1)
            self._reset(run)
        m = len(dets)
        ref, r_sig, scale = _in_reference(dets, to_ref, residual_px, p)
        n = len(self.live)
        assigned = np.full(n, -1)
        if n:
            Xp, Pp = self._predict(t)
            if m:
                S = Pp[:, :, 0, 0][:, None, :] + (r_sig ** 2)[None, :, None]          # (n, m, 2)
                S = np.maximum(S, (p.gate_min_px * scale) ** 2 / p.gate_chi2)
                nu = ref[None, :, :] - Xp[:, None, :, 0]
                d2 = (nu * nu / S).sum(-1)
                cost = np.where(d2 <= p.gate_chi2, d2, _BIG)
                rows, cols = linear_sum_assignment(cost)
                ok = cost[rows, cols] < _BIG
                assigned[rows[ok]] = cols[ok]
            # a candidate at exactly the track's last frame position is H.264 re-showing a skipped
            # block (the object where it was, or its stale ghost after it moved on; a repeated
            # frame): no new measurement. It is consumed (no track is born on it) and keeps the
            # track alive for up to repeat_coast_s, but the track coasts on its prediction, so it
            # re-acquires the object when the block is coded again, instead of sitting on a ghost
            upd = np.flatnonzero(assigned >= 0)
            if upd.size:
                last = np.array([self.live[i].points[-1][X:Y + 1] for i in upd])
                rep = np.abs(dets.xy[assigned[upd]] - last).max(axis=1) <= p.repeat_px
                self.t_alive[upd[rep]] = t
                for i in upd[rep]:
                    # within a short freeze the picture shows it there (kept, flagged); a longer one
                    # is a stale ghost: consumed, not drawn
                    if t - self.t_last[i] <= p.max_coast_s:
                        self.live[i].points.append(_row(frame, t, dets, int(assigned[i]), ref, r_sig, residual_px,
                                                        reliable, repeat=True))
                upd = upd[~rep]
            if upd.size:
                j = assigned[upd]
                Pu = Pp[upd]
                Xu = Xp[upd]
                Sj = Pu[:, :, 0, 0] + (r_sig[j] ** 2)[:, None]                       # (k, 2)
                K = Pu[:, :, :, 0] / Sj[:, :, None]                                   # (k, 2, 3)
                nu = ref[j] - Xu[:, :, 0]
                self.X[upd] = Xu + K * nu[:, :, None]
                self.P[upd] = Pu - K[:, :, :, None] * Pu[:, :, 0, None, :]
                self.t_last[upd] = t
                self.t_alive[upd] = t
                self.hits[upd] += 1
                self.last_seen[upd] = frame
                for i, jj in zip(upd, j):
                    self.live[i].points.append(_row(frame, t, dets, int(jj), ref, r_sig, residual_px, reliable))
            self._retire(frame, t, Xp, to_ref, frame_size)
        taken = np.zeros(m, bool)
        taken[assigned[assigned >= 0]] = True
        free = np.flatnonzero(~taken)
        if free.size:
            self._birth(frame, t, dets, ref, r_sig, free, to_ref, residual_px, reliable)

    def _retire(self, frame: int, t: float, Xp: np.ndarray, to_ref: np.ndarray, frame_size: tuple[int, int]) -> None:
        p = self.p
        age = frame - self.born + 1
        tent = np.array([not tr.confirmed for tr in self.live])
        newly = tent & (self.hits >= p.confirm_hits)
        for i in np.flatnonzero(newly):
            self.live[i].confirmed = True
        tent &= ~newly
        # a tentative track that can no longer reach k hits within its window is noise
        dead_tent = tent & (self.hits + np.maximum(p.confirm_window - age, 0) < p.confirm_hits)
        lost = ~tent & (((t - self.t_alive) > p.max_coast_s) | ((t - self.t_last) > p.repeat_coast_s))
        # where the prediction is in this frame's pixels: out of the picture = left the frame
        inv = np.linalg.inv(to_ref)
        hom = np.c_[Xp[:, :, 0], np.ones(len(Xp))] @ inv.T
        fx, fy = hom[:, 0] / hom[:, 2], hom[:, 1] / hom[:, 2]
        w, h = frame_size
        mg = p.edge_margin_px
        out = (fx < -mg) | (fy < -mg) | (fx > w - 1 + mg) | (fy > h - 1 + mg)
        out &= self.last_seen < frame
        end = dead_tent | lost | out
        if not end.any():
            return
        for i in np.flatnonzero(end):
            tr = self.live[i]
            if tr.confirmed:
                _trim_repeats(tr)
                tr.end_kind = "left_frame" if out[i] and not lost[i] else "lost"
                tr.end_frame = int(self.last_seen[i])
                self.done.append(tr)
        keep = ~end
        self._keep(keep)

    def _keep(self, keep: np.ndarray) -> None:
        self.X, self.P, self.t_last, self.t_alive = self.X[keep], self.P[keep], self.t_last[keep], self.t_alive[keep]
        self.born, self.hits, self.last_seen = self.born[keep], self.hits[keep], self.last_seen[keep]
        self.live = [tr for tr, k in zip(self.live, keep) if k]

    def _birth(self, frame: int, t: float, dets: Detections, ref: np.ndarray, r_sig: np.ndarray, idx: np.ndarray,
               to_ref: np.ndarray, residual_px: float, reliable: bool) -> None:
        p = self.p
        k = len(idx)
        X = np.zeros((k, 2, 3))
        X[:, :, 0] = ref[idx]
        P = np.zeros((k, 2, 3, 3))
        P[:, :, 0, 0] = (r_sig[idx] ** 2)[:, None]
        P[:, :, 1, 1] = p.init_speed_sigma ** 2
        P[:, :, 2, 2] = p.init_accel_sigma ** 2
        self.X = np.concatenate([self.X, X])
        self.P = np.concatenate([self.P, P])
        self.t_last = np.concatenate([self.t_last, np.full(k, t)])
        self.t_alive = np.concatenate([self.t_alive, np.full(k, t)])
        self.born = np.concatenate([self.born, np.full(k, frame)])
        self.hits = np.concatenate([self.hits, np.ones(k, np.int64)])
        self.last_seen = np.concatenate([self.last_seen, np.full(k, frame)])
        for j in idx:
            tr = Track(id=self._next_id, run=self.run, first_to_ref=to_ref.copy())
            self._next_id += 1
            tr.points.append(_row(frame, t, dets, int(j), ref, r_sig, residual_px, reliable))
            self.live.append(tr)

    def _close_all(self, kind: str, frame: int) -> None:
        for i, tr in enumerate(self.live):
            if tr.confirmed or self.hits[i] >= self.p.confirm_hits:
                tr.confirmed = True
                _trim_repeats(tr)
                tr.end_kind = kind
                tr.end_frame = int(self.last_seen[i])
                self.done.append(tr)
        self.live = []

    def close(self, last_frame: int) -> list[Track]:
        """End every live track (the clip ended) and return all confirmed tracks, by id."""
        self._close_all("clip_end", last_frame)
        self._reset(self.run)
        return sorted(self.done, key=lambda tr: tr.id)


def _in_reference(dets: Detections, to_ref: np.ndarray, residual_px: float,
                  params: TrackParams) -> tuple[np.ndarray, np.ndarray, float]:
    """Candidates' positions in reference px, their sigma there (the camera-motion residual added
    ``motion_sigma_k`` times) and the frame's scale to reference px."""
    if len(dets):
        hom = np.c_[dets.xy, np.ones(len(dets))] @ to_ref.T
        ref = hom[:, :2] / hom[:, 2:3]
    else:
        ref = np.zeros((0, 2))
    scale = float(np.sqrt(abs(np.linalg.det(to_ref[:2, :2]))))
    return ref, np.hypot(dets.sigma, params.motion_sigma_k * residual_px) * scale, scale


def _row(frame: int, t: float, dets: Detections, j: int, ref: np.ndarray, r_sig: np.ndarray, residual_px: float,
         reliable: bool, repeat: bool = False) -> tuple:
    """One ``Track.points`` row for candidate ``j``."""
    return (frame, t, float(dets.xy[j, 0]), float(dets.xy[j, 1]), float(ref[j, 0]), float(ref[j, 1]),
            float(r_sig[j]), float(dets.snr[j]), float(dets.contrast[j]), float(dets.noise[j]), float(dets.size[j]),
            float(dets.peak[j]), float(residual_px), float(reliable), float(dets.texture[j]),
            float(dets.isolation[j]), float(repeat), float(dets.still[j]))


def extend_back(tr: Track, frame: int, t: float, dets: Detections, to_ref: np.ndarray, residual_px: float,
                reliable: bool, params: TrackParams, fit_points: int = 10) -> bool:
    """Prepend the candidate of an earlier frame (before the track's first point) that its motion leads back to.

    For candidates found only after the fact (a run's first frames, see
    ``DifferenceDetector.late``). The track's first ``fit_points`` measured points are
    fitted with constant velocity (reference px) and extrapolated back to ``t``; the
    candidate nearest that, within the tracker's gate (chi-square ``gate_chi2`` on the
    fit's prediction and scatter plus the candidate's sigma, at least ``gate_min_px``),
    becomes the first point. Returns whether there was one.
    """
    if not len(dets):
        return False
    held = isinstance(tr.points, np.ndarray)
    a = np.array([r for r in (tr.points.tolist() if held else tr.points) if not r[REP]][:fit_points])
    if len(a) < 3:
        return False
    dt = a[:, T] - t
    A = np.c_[np.ones(len(a)), dt]
    coef = np.linalg.lstsq(A, a[:, [RX, RY]], rcond=None)[0]          # row 0: the position at t
    s2 = np.sum((a[:, [RX, RY]] - A @ coef) ** 2, axis=0) / max(len(a) - 2, 1)
    lever = 1.0 / len(a) + dt.mean() ** 2 / max(float(np.sum((dt - dt.mean()) ** 2)), 1e-12)
    ref, r_sig, scale = _in_reference(dets, to_ref, residual_px, params)
    S = np.maximum(s2[None, :] * (1.0 + lever) + (r_sig ** 2)[:, None], (params.gate_min_px * scale) ** 2 / params.gate_chi2)
    d2 = (((ref - coef[0]) ** 2) / S).sum(axis=1)
    j = int(np.argmin(d2))
    if d2[j] > params.gate_chi2:
        return False
    row = _row(frame, t, dets, j, ref, r_sig, residual_px, reliable)
    tr.points = np.vstack([np.array(row)[None, :], tr.points]) if held else [row] + tr.points
    tr.first_to_ref = np.asarray(to_ref, float).copy()
    return True


def _trim_repeats(tr: Track) -> None:
    """A track ends at its last measurement: repeats after it show only where it was."""
    while len(tr.points) > 1 and tr.points[-1][REP]:
        tr.points.pop()
