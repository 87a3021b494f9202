"""Training samples from logged tracks: (conditioning, future controls) per actor and time.

A sample is a vehicle at step k with a valid log over [k - HIST_STEPS + 1, k + FUTURE_STEPS].
Its target is the FUTURE_STEPS unicycle controls that reproduce the logged future from its
logged state at k (position, heading, and the speed the engine replays: |velocity|). The
controls come from a batched least-squares fit (Adam on the rollout error plus a small
smoothness term): tracks interpolated from 2 Hz keyframes have piecewise-constant velocity, so
finite differences alone would give impulsive accelerations that no driver produces.

Parked cars would dominate a log; windows in which the actor moves less than
`min_motion_m` are kept only one in `static_keep_every`.

The fit dominates the cost of preparing a training run (minutes for a few dozen scenes), so
`cached_scene_samples` keeps each scene's windows in a cache folder, keyed by everything they
depend on (the scene's tracks and map, the sample settings, the feature layout): a second run
on the same logs, e.g. with other loss weights, starts training at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import shapely
import torch

from scenarios.adversary.dynamics import (
    ControlLimits,
    controls_from_states,
    unicycle_rollout,
)
from scenarios.adversary.features import (
    CHUNK_POINTS,
    FEATURE_KEYS,
    FUTURE_STEPS,
    HIST_STEPS,
    NEIGH_DIM,
    NUM_LANE_CHUNKS,
    NUM_NEIGHBOURS,
    NUM_ROAD_PROBES,
    actor_features,
    stack_features,
)
from sim.atomic import write_bytes_atomic
from sim.types.scenario import ActorKind, Scenario

# Bump when scene_samples or the features change what they compute for the same inputs and
# the same layout (the layout constants are part of the cache key already).
SAMPLES_FORMAT = 1


@dataclass(frozen=True)
class SampleConfig:
    """Which windows become samples.

    - stride_steps: step between consecutive windows of one actor.
    - min_motion_m: windows moving less than this (history + future) count as static.
    - static_keep_every: keep one static window in this many.
    - fit_iterations, fit_lr: the control fit's Adam iterations and step size.
    - smooth_accel, smooth_yaw_rate: weights of squared control differences in the fit.
    """

    stride_steps: int = 2
    min_motion_m: float = 1.0
    static_keep_every: int = 8
    fit_iterations: int = 200
    fit_lr: float = 0.05
    smooth_accel: float = 0.02
    smooth_yaw_rate: float = 2.0


@dataclass(frozen=True, eq=False)
class SampleSet:
    """S samples. features: dict of (S, ...) float32 arrays (features.FEATURE_KEYS);
    controls: (S, F, 2) float32 a, w; state0: (S, 4) float32 (0, 0, 0, v) in the actor frame;
    future_xy: (S, F, 2) float32 logged future in the actor frame; scene: (S,) str;
    fit_error_m: (S,) mean position error of the fitted controls."""

    features: dict[str, np.ndarray]
    controls: np.ndarray
    state0: np.ndarray
    future_xy: np.ndarray
    scene: np.ndarray
    fit_error_m: np.ndarray

    def __len__(self) -> int:
        return len(self.controls)

    def subset(self, mask: np.ndarray) -> SampleSet:
        return SampleSet({k: v[mask] for k, v in self.features.items()}, self.controls[mask], self.state0[mask],
                         self.future_xy[mask], self.scene[mask], self.fit_error_m[mask])

    @staticmethod
    def concat(sets: list[SampleSet]) -> SampleSet:
        sets = [s for s in sets if len(s)]
        if not sets:
            raise ValueError("no samples")
        return SampleSet({k: np.concatenate([s.features[k] for s in sets]) for k in FEATURE_KEYS},
                         np.concatenate([s.controls for s in sets]), np.concatenate([s.state0 for s in sets]),
                         np.concatenate([s.future_xy for s in sets]), np.concatenate([s.scene for s in sets]),
                         np.concatenate([s.fit_error_m for s in sets]))


def ego_center_track(scenario: Scenario) -> np.ndarray:
    """(T, 2) the logged ego's body-box centre."""
    p = scenario.ego_params
    return scenario.ego.xy + p.rear_axle_to_center_m * np.stack([np.cos(scenario.ego.yaw_rad),
                                                                 np.sin(scenario.ego.yaw_rad)], -1)


def scene_samples(scenario: Scenario, scene_id: str, config: SampleConfig = SampleConfig()) -> SampleSet:
    """Every training window of one scenario's vehicles, with fitted controls."""
    a = scenario.actors
    t_total = scenario.num_steps
    speed = np.linalg.norm(a.velocity_xy_mps, axis=-1)
    ego_c = ego_center_track(scenario)
    feats, xy0, yaw0, v0, fut_xy, fut_yaw = [], [], [], [], [], []
    for i in np.flatnonzero(a.kind == ActorKind.VEHICLE):
        static_count = 0
        for k in range(HIST_STEPS - 1, t_total - FUTURE_STEPS, config.stride_steps):
            lo, hi = k - HIST_STEPS + 1, k + FUTURE_STEPS + 1
            if not a.valid[i, k:hi].all():
                continue
            path = a.xy[i, lo:hi][a.valid[i, lo:hi]]
            if np.linalg.norm(np.diff(path, axis=0), axis=1).sum() < config.min_motion_m:
                static_count += 1
                if (static_count - 1) % config.static_keep_every:
                    continue
            others = np.flatnonzero(a.valid[:, k] & (np.arange(a.num_actors) != i))
            hv = a.valid[i, lo:k + 1]
            feats.append(actor_features(
                scenario.map, a.xy[i, k], float(a.yaw_rad[i, k]), a.xy[i, lo:k + 1], a.yaw_rad[i, lo:k + 1], hv,
                float(speed[i, k]), (float(a.size_wlh_m[i, 1]), float(a.size_wlh_m[i, 0])),
                ego_c[k], float(scenario.ego.yaw_rad[k]), float(max(scenario.ego.speed_mps[k], 0.0)),
                a.xy[others, k], a.yaw_rad[others, k], a.velocity_xy_mps[others, k],
                a.size_wlh_m[others][:, [1, 0]], ego_c[k + 1:hi], a.xy[others, k + 1:hi], a.valid[others, k + 1:hi]))
            xy0.append(a.xy[i, k])
            yaw0.append(a.yaw_rad[i, k])
            v0.append(speed[i, k])
            fut_xy.append(a.xy[i, k + 1:hi])
            fut_yaw.append(a.yaw_rad[i, k + 1:hi])
    n = len(feats)
    if n == 0:
        return SampleSet({k: np.zeros((0,)) for k in FEATURE_KEYS}, np.zeros((0, FUTURE_STEPS, 2), np.float32),
                         np.zeros((0, 4), np.float32), np.zeros((0, FUTURE_STEPS, 2), np.float32),
                         np.zeros(0, str), np.zeros(0))
    xy0, yaw0, v0 = np.array(xy0), np.array(yaw0), np.array(v0)
    fut_xy, fut_yaw = np.array(fut_xy), np.array(fut_yaw)
    # Everything in each actor's frame at k.
    c, s = np.cos(yaw0)[:, None], np.sin(yaw0)[:, None]
    d = fut_xy - xy0[:, None]
    local = np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)
    local_yaw = np.unwrap(np.concatenate([np.zeros((n, 1)), fut_yaw - yaw0[:, None]], 1), axis=1)[:, 1:]
    state0 = np.stack([np.zeros(n), np.zeros(n), np.zeros(n), v0], -1)
    controls, err = fit_controls(state0, local, local_yaw, config)
    return SampleSet(stack_features(feats), controls.astype(np.float32), state0.astype(np.float32),
                     local.astype(np.float32), np.full(n, scene_id), err)


def scene_fingerprint(scenario: Scenario) -> str:
    """sha256 of what a scene's windows are computed from: its tracks, the ego's and the map."""
    h = hashlib.sha256()
    a, e = scenario.actors, scenario.ego
    for arr in (a.xy, a.yaw_rad, a.valid, a.velocity_xy_mps, a.size_wlh_m, a.kind, e.xy, e.yaw_rad, e.speed_mps):
        h.update(np.ascontiguousarray(arr).tobytes())
    seg = scenario.map.lanes.segments
    h.update(np.ascontiguousarray(seg.start_xy).tobytes())
    h.update(np.ascontiguousarray(seg.end_xy).tobytes())
    h.update(shapely.to_wkb(scenario.map.drivable_area))
    return h.hexdigest()


def cached_scene_samples(scenario: Scenario, scene_id: str, config: SampleConfig, cache_dir: str | Path | None
                         ) -> SampleSet:
    """`scene_samples`, read from / written to cache_dir when one is given (see the module docstring)."""
    if cache_dir is None:
        return scene_samples(scenario, scene_id, config)
    layout = [FEATURE_KEYS, FUTURE_STEPS, HIST_STEPS, NEIGH_DIM, NUM_NEIGHBOURS, NUM_LANE_CHUNKS, CHUNK_POINTS,
              NUM_ROAD_PROBES]
    key = hashlib.sha256(json.dumps([SAMPLES_FORMAT, scene_id, asdict(config), layout,
                                     scene_fingerprint(scenario)]).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"{scene_id.replace('/', '__')}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return SampleSet({k: z[f"feature_{k}"] for k in FEATURE_KEYS}, z["controls"], z["state0"],
                                 z["future_xy"], z["scene"], z["fit_error_m"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable (e.g. copied in truncated): extract afresh and replace it
    out = scene_samples(scenario, scene_id, config)
    buf = io.BytesIO()
    np.savez(buf, controls=out.controls, state0=out.state0, future_xy=out.future_xy, scene=out.scene.astype(str),
             fit_error_m=out.fit_error_m, **{f"feature_{k}": v for k, v in out.features.items()})
    write_bytes_atomic(path, buf.getvalue())
    return out


def fit_controls(state0: np.ndarray, target_xy: np.ndarray, target_yaw: np.ndarray,
                 config: SampleConfig = SampleConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Controls (S, F, 2) whose rollouts from state0 (S, 4) follow target_xy (S, F, 2) and
    target_yaw (S, F), smoothly; and the mean position error (S,) in metres. Deterministic."""
    s0 = torch.as_tensor(state0, dtype=torch.float32)
    txy = torch.as_tensor(target_xy, dtype=torch.float32)
    tyaw = torch.as_tensor(target_yaw, dtype=torch.float32)
    # Seed: finite differences of a lightly smoothed track.
    speeds = np.concatenate([state0[:, 3:4], np.linalg.norm(np.diff(np.concatenate(
        [np.zeros((len(state0), 1, 2)), target_xy], 1), axis=1), axis=-1) / 0.1], 1)
    yaws = np.concatenate([np.zeros((len(state0), 1)), target_yaw], 1)
    init = controls_from_states(np.zeros(speeds.shape + (2,)), yaws, _smooth(speeds, 5))
    init[..., 0] = np.clip(init[..., 0], -ControlLimits().max_decel_mps2, ControlLimits().max_accel_mps2)
    u = torch.tensor(init, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([u], lr=config.fit_lr)
    for _ in range(config.fit_iterations):
        opt.zero_grad()
        roll = unicycle_rollout(s0, u)
        pos = ((roll[..., :2] - txy) ** 2).sum(-1).mean(-1)
        yaw = 4.0 * ((roll[..., 2] - tyaw) ** 2).mean(-1)
        smooth = config.smooth_accel * (torch.diff(u[..., 0], dim=-1) ** 2).sum(-1) \
            + config.smooth_yaw_rate * (torch.diff(u[..., 1], dim=-1) ** 2).sum(-1)
        loss = (pos + yaw + smooth).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        limits = ControlLimits()
        u_final = torch.stack([u[..., 0].clamp(-limits.max_decel_mps2, limits.max_accel_mps2),
                               u[..., 1].clamp(-limits.max_yaw_rate_radps, limits.max_yaw_rate_radps)], -1)
        roll = unicycle_rollout(s0, u_final)
        err = torch.linalg.norm(roll[..., :2] - txy, dim=-1).mean(-1)
    return u_final.numpy(), err.numpy()


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along the last axis with edge padding."""
    pad = width // 2
    xp = np.concatenate([np.repeat(x[..., :1], pad, -1), x, np.repeat(x[..., -1:], pad, -1)], -1)
    kernel = np.ones(width) / width
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, xp)
