"""Conditioning of the adversary model, all in the actor's frame at the planning time.

The actor frame: origin at the actor's box centre, x along its heading, y to its left.
Everything the denoiser sees is expressed there and scaled to O(1):

- history `hist` (HIST_STEPS, HIST_DIM): the actor's own last 1 s (10 steps, the last one is
  now): x/10, y/10, cos dyaw, sin dyaw, speed/10, valid, time (s, <= 0).
- `scalars` (SCALAR_DIM,): speed/10, length/5, width/2.5 of the actor now.
- neighbours `neigh` (NUM_NEIGHBOURS, NEIGH_DIM): slot 0 is the ego, then the other actors
  within NEIGHBOUR_RADIUS_M that come closest to the actor (`closest_approach_m`: now, or in
  their futures against its constant-velocity path, so a car about to cross its path ranks
  above a parked one beside it): x/30, y/30, cos, sin, vx/10, vy/10 (actor frame),
  length/5, width/2.5, then their future box centres at NEIGH_FUTURE_STEPS (every 0.5 s up
  to 4 s) as x/30, y/30, valid for each, then is_ego, valid (`neighbour_futures` decodes the
  futures). The futures let the model time its own motion against traffic (an intersection
  it would otherwise enter while a replayed actor drives through): in training they are the
  logged futures (or, for a share of the windows, constant-velocity forecasts,
  `constant_velocity_futures`); when planning they are what the simulator expects of each
  actor (its log when it replays, constant velocity otherwise, the ego's predicted path).
- lanes `lanes` (NUM_LANE_CHUNKS, CHUNK_POINTS, LANE_DIM): the nearest lane-centerline chunks
  (every lane resampled at 2 m and cut into 18 m chunks, points in driving direction; chunks
  ahead of the actor count as nearer than chunks behind): x/30, y/30, cos, sin of the lane
  heading, valid.
- road probes `road` (NUM_ROAD_PROBES,): the signed distance to the drivable area's edge
  (drivable.py; + inside), clipped to +-4 m and divided by 4, at a fan of points ahead and
  to the sides (ROAD_PROBE_ANGLES_DEG x ROAD_PROBE_RANGES_M): where the road ends, which lane
  centerlines alone do not say (kerbs at intersection corners, road edges).

`LaneChunks` caches a map's chunks once per RoadMap (weakly keyed).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch

from sim.geometry import global_to_local_xy, resample_polyline
from sim.types.roadmap import RoadMap

HIST_STEPS = 10
FUTURE_STEPS = 40
HIST_DIM = 7
SCALAR_DIM = 3
NUM_NEIGHBOURS = 12
NEIGH_FUTURE_STEPS = (5, 10, 15, 20, 25, 30, 35, 40)  # 0.1 s steps after now: every 0.5 s to 4 s
NEIGH_STATE_DIM = 8  # x, y, cos, sin, vx, vy, length, width
NEIGH_DIM = NEIGH_STATE_DIM + 3 * len(NEIGH_FUTURE_STEPS) + 2  # + futures (x, y, valid) + is_ego, valid
NUM_LANE_CHUNKS = 16
CHUNK_POINTS = 10
CHUNK_SPACING_M = 2.0
LANE_DIM = 5
NEIGHBOUR_RADIUS_M = 60.0
LANE_RADIUS_M = 60.0
EGO_LENGTH_WIDTH_M = (4.6, 1.85)

ROAD_PROBE_ANGLES_DEG = (-90.0, -60.0, -35.0, -15.0, 0.0, 15.0, 35.0, 60.0, 90.0)
ROAD_PROBE_RANGES_M = (3.0, 7.0, 12.0, 19.0, 28.0, 40.0)
NUM_ROAD_PROBES = len(ROAD_PROBE_ANGLES_DEG) * len(ROAD_PROBE_RANGES_M)
_PROBE_LOCAL = np.array([[r * np.cos(np.radians(a)), r * np.sin(np.radians(a))]
                         for a in ROAD_PROBE_ANGLES_DEG for r in ROAD_PROBE_RANGES_M])

FEATURE_KEYS = ("hist", "scalars", "neigh", "lanes", "road")


@dataclass(frozen=True, eq=False)
class LaneChunks:
    """A map's lane centerlines cut into chunks. C chunks of CHUNK_POINTS points.

    xy: (C, P, 2) global; heading_rad: (C, P); valid: (C, P) bool; lane: (C,) lane index.
    """

    xy: np.ndarray
    heading_rad: np.ndarray
    valid: np.ndarray
    lane: np.ndarray


_CHUNK_CACHE: weakref.WeakKeyDictionary[RoadMap, LaneChunks] = weakref.WeakKeyDictionary()


def lane_chunks(road: RoadMap) -> LaneChunks:
    """The map's lane chunks (computed once per RoadMap object)."""
    cached = _CHUNK_CACHE.get(road)
    if cached is not None:
        return cached
    xy, heading, valid, lane_of = [], [], [], []
    step = CHUNK_POINTS - 1
    for lane in range(road.lanes.num_lanes):
        line = resample_polyline(road.lanes.centerline(lane), CHUNK_SPACING_M)
        if len(line) < 2:
            continue
        d = np.diff(line, axis=0)
        h = np.arctan2(d[:, 1], d[:, 0])
        h = np.concatenate([h, h[-1:]])
        for start in range(0, max(len(line) - 1, 1), step):
            pts = line[start:start + CHUNK_POINTS]
            hh = h[start:start + CHUNK_POINTS]
            n = len(pts)
            if n < 2:
                continue
            p = np.zeros((CHUNK_POINTS, 2))
            q = np.zeros(CHUNK_POINTS)
            v = np.zeros(CHUNK_POINTS, bool)
            p[:n], q[:n], v[:n] = pts, hh, True
            p[n:], q[n:] = pts[-1], hh[-1]
            xy.append(p)
            heading.append(q)
            valid.append(v)
            lane_of.append(lane)
    if xy:
        chunks = LaneChunks(np.array(xy), np.array(heading), np.array(valid), np.array(lane_of, np.int64))
    else:
        chunks = LaneChunks(np.zeros((0, CHUNK_POINTS, 2)), np.zeros((0, CHUNK_POINTS)),
                            np.zeros((0, CHUNK_POINTS), bool), np.zeros(0, np.int64))
    _CHUNK_CACHE[road] = chunks
    return chunks


def nearest_chunks(chunks: LaneChunks, origin_xy: np.ndarray, origin_yaw_rad: float, count: int,
                   radius_m: float = LANE_RADIUS_M) -> np.ndarray:
    """Indices of up to `count` chunks nearest to the actor (ahead counts half the distance of
    behind), within radius_m; ordered nearest first."""
    if len(chunks.xy) == 0:
        return np.zeros(0, np.int64)
    local = global_to_local_xy(chunks.xy, origin_xy, origin_yaw_rad)  # (C, P, 2)
    behind = np.where(local[..., 0] < 0.0, 2.0, 1.0)
    d = np.hypot(local[..., 0] * behind, local[..., 1])
    d = np.where(chunks.valid, d, np.inf).min(axis=1)
    order = np.argsort(d, kind="stable")
    order = order[d[order] <= radius_m]
    return order[:count]


def actor_features(road: RoadMap, origin_xy: np.ndarray, origin_yaw_rad: float,
                   hist_xy: np.ndarray, hist_yaw_rad: np.ndarray, hist_valid: np.ndarray,
                   speed_mps: float, length_width_m: tuple[float, float],
                   ego_center_xy: np.ndarray, ego_yaw_rad: float, ego_speed_mps: float,
                   others_xy: np.ndarray, others_yaw_rad: np.ndarray, others_velocity_xy: np.ndarray,
                   others_length_width_m: np.ndarray, ego_future_xy: np.ndarray, others_future_xy: np.ndarray,
                   others_future_valid: np.ndarray) -> dict[str, np.ndarray]:
    """The model's conditioning for one actor (see the module docstring).

    hist_*: (HIST_STEPS, ...) the actor's last poses, global, oldest first, the last = now.
    ego_*: the ego's body-box centre, heading and speed now. others_*: (N, ...) the other
    present actors now (the actor itself excluded), global; velocities (N, 2) global.
    ego_future_xy (F, 2), others_future_xy (N, F, 2) and others_future_valid (N, F): expected
    box centres at 0.1 .. F * 0.1 s, global (F >= max(NEIGH_FUTURE_STEPS)).
    """
    c, s = np.cos(origin_yaw_rad), np.sin(origin_yaw_rad)
    hist = np.zeros((HIST_STEPS, HIST_DIM), np.float32)
    hl = global_to_local_xy(hist_xy, origin_xy, origin_yaw_rad)
    dyaw = hist_yaw_rad - origin_yaw_rad
    speed_hist = np.zeros(HIST_STEPS)
    if HIST_STEPS > 1:
        step = np.linalg.norm(np.diff(hist_xy, axis=0), axis=1) / 0.1
        ok = hist_valid[1:] & hist_valid[:-1]
        speed_hist[1:] = np.where(ok, step, 0.0)
        speed_hist[0] = speed_hist[1]
    speed_hist[-1] = speed_mps
    hist[:, 0:2] = hl / 10.0
    hist[:, 2] = np.cos(dyaw)
    hist[:, 3] = np.sin(dyaw)
    hist[:, 4] = speed_hist / 10.0
    hist[:, 5] = hist_valid
    hist[:, 6] = (np.arange(HIST_STEPS) - (HIST_STEPS - 1)) * 0.1
    hist[~hist_valid, :5] = 0.0
    scalars = np.array([speed_mps / 10.0, length_width_m[0] / 5.0, length_width_m[1] / 2.5], np.float32)

    neigh = np.zeros((NUM_NEIGHBOURS, NEIGH_DIM), np.float32)

    at = np.array(NEIGH_FUTURE_STEPS) - 1  # indices into the 0.1 s future arrays

    def fill(slot, xy, yaw, vel, lw, future_xy, future_valid, is_ego):
        p = global_to_local_xy(xy, origin_xy, origin_yaw_rad)
        v = np.array([c * vel[0] + s * vel[1], -s * vel[0] + c * vel[1]])
        fut = np.zeros((len(at), 3))
        fut[:, :2] = global_to_local_xy(future_xy[at], origin_xy, origin_yaw_rad) / 30.0
        fut[:, 2] = future_valid[at]
        fut[~future_valid[at], :2] = 0.0
        neigh[slot] = [p[0] / 30.0, p[1] / 30.0, np.cos(yaw - origin_yaw_rad), np.sin(yaw - origin_yaw_rad),
                       v[0] / 10.0, v[1] / 10.0, lw[0] / 5.0, lw[1] / 2.5, *fut.ravel(), float(is_ego), 1.0]

    if np.linalg.norm(ego_center_xy - origin_xy) <= NEIGHBOUR_RADIUS_M:
        fill(0, ego_center_xy, ego_yaw_rad, ego_speed_mps * np.array([np.cos(ego_yaw_rad), np.sin(ego_yaw_rad)]),
             EGO_LENGTH_WIDTH_M, ego_future_xy, np.ones(len(ego_future_xy), bool), True)
    if len(others_xy):
        d = np.linalg.norm(others_xy - origin_xy, axis=1)
        order = np.argsort(closest_approach_m(origin_xy, origin_yaw_rad, speed_mps, others_xy,
                                              others_future_xy[:, at], others_future_valid[:, at]), kind="stable")
        order = order[d[order] <= NEIGHBOUR_RADIUS_M][:NUM_NEIGHBOURS - 1]
        for slot, j in enumerate(order, start=1):
            fill(slot, others_xy[j], others_yaw_rad[j], others_velocity_xy[j], others_length_width_m[j],
                 others_future_xy[j], others_future_valid[j], False)

    lanes = np.zeros((NUM_LANE_CHUNKS, CHUNK_POINTS, LANE_DIM), np.float32)
    chunks = lane_chunks(road)
    idx = nearest_chunks(chunks, origin_xy, origin_yaw_rad, NUM_LANE_CHUNKS)
    if len(idx):
        p = global_to_local_xy(chunks.xy[idx], origin_xy, origin_yaw_rad)
        h = chunks.heading_rad[idx] - origin_yaw_rad
        v = chunks.valid[idx]
        lanes[:len(idx), :, 0:2] = p / 30.0
        lanes[:len(idx), :, 2] = np.cos(h)
        lanes[:len(idx), :, 3] = np.sin(h)
        lanes[:len(idx), :, 4] = v
        lanes[:len(idx)][~v] = 0.0
    return {"hist": hist, "scalars": scalars, "neigh": neigh, "lanes": lanes,
            "road": road_probes(road, origin_xy, origin_yaw_rad)}


def closest_approach_m(origin_xy: np.ndarray, origin_yaw_rad: float, speed_mps: float, others_xy: np.ndarray,
                       others_future_xy: np.ndarray, others_future_valid: np.ndarray) -> np.ndarray:
    """(N,) how close each other actor comes to the actor: the least of its distance now and
    its distances at the NEIGH_FUTURE_STEPS times to where the actor would be at constant
    velocity. others_future_xy (N, S, 2) and others_future_valid (N, S) at those times."""
    t_s = np.array(NEIGH_FUTURE_STEPS) * 0.1
    own = origin_xy + speed_mps * t_s[:, None] * np.array([np.cos(origin_yaw_rad), np.sin(origin_yaw_rad)])
    ahead = np.linalg.norm(others_future_xy - own, axis=-1)
    ahead = np.where(others_future_valid, ahead, np.inf).min(axis=1, initial=np.inf)
    return np.minimum(np.linalg.norm(others_xy - origin_xy, axis=1), ahead)


def road_probes(road: RoadMap, origin_xy: np.ndarray, origin_yaw_rad: float) -> np.ndarray:
    """(NUM_ROAD_PROBES,) float32 clipped, scaled signed distances at the probe fan."""
    from scenarios.adversary.drivable import sample_window, sdf_window

    c, s = np.cos(origin_yaw_rad), np.sin(origin_yaw_rad)
    pts = origin_xy + _PROBE_LOCAL @ np.array([[c, s], [-s, c]])
    sd = sample_window(sdf_window(road, origin_xy), pts)
    return (np.clip(sd, -4.0, 4.0) / 4.0).astype(np.float32)


def constant_velocity_futures(neigh: torch.Tensor) -> torch.Tensor:
    """Neighbour features (..., NUM_NEIGHBOURS, NEIGH_DIM) with the future columns replaced by
    constant-velocity forecasts from each slot's current position and velocity (valid where the
    slot is): what the planner knows of a reactive actor, taught in training (see train.py)."""
    t_s = torch.tensor(NEIGH_FUTURE_STEPS, dtype=neigh.dtype) * 0.1
    # Positions are scaled by 1/30 and velocities by 1/10: x/30 + (vx/10) * 10 * t / 30.
    xy = neigh[..., None, 0:2] + neigh[..., None, 4:6] * t_s[:, None] / 3.0  # (..., K, len(t_s), 2)
    valid = neigh[..., -1:, None].expand(*xy.shape[:-1], 1)
    fut = torch.cat([xy * valid, valid], -1).flatten(-2)
    return torch.cat([neigh[..., :NEIGH_STATE_DIM], fut, neigh[..., NEIGH_DIM - 2:]], -1)


def neighbour_futures(neigh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decode neighbour features (..., NUM_NEIGHBOURS, NEIGH_DIM): future box centres
    (..., NUM_NEIGHBOURS, len(NEIGH_FUTURE_STEPS), 2) in the actor frame (m), their validity
    (same without the last axis, bool) and each slot's length and width (..., NUM_NEIGHBOURS, 2) (m)."""
    fut = neigh[..., NEIGH_STATE_DIM:NEIGH_DIM - 2].unflatten(-1, (len(NEIGH_FUTURE_STEPS), 3))
    valid = (fut[..., 2] > 0.5) & (neigh[..., -1:] > 0.5)
    return fut[..., :2] * 30.0, valid, neigh[..., 6:8] * torch.tensor([5.0, 2.5], dtype=neigh.dtype)


def stack_features(items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Batch per-actor features: each key gets a leading batch axis."""
    return {k: np.stack([it[k] for it in items]) for k in FEATURE_KEYS}
