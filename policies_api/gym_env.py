"""`splatsim/ClosedLoop-v0`: the closed loop as a Gymnasium environment, over gRPC.

    import gymnasium as gym, policies_api                        # the import registers the id
    env = gym.make("splatsim/ClosedLoop-v0", target="127.0.0.1:50051",
                   scenarios=["scene-demo-0000"], cameras=["CAM_FRONT"])
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

Spaces:
- action: Box (8, 3) float32: ego-frame poses (x m, y m, yaw rad) at 0.5, 1.0, .. 4.0 s after
  the observation; x in [-20, 120], y in [-60, 60], yaw in [-pi, pi].
- observation: Dict
  - "ego": Box (7,) float64: x_m, y_m, yaw_rad (global), speed_mps, accel_mps2, yaw_rate_radps,
    steer_rad.
  - "route": Box (route_points, 2) float64: route centerline ahead in the ego frame, metres,
    2 m apart; padded with its last point near the route's end.
  - "command": Discrete(3): the DrivingCommand (0 left, 1 straight, 2 right).
  - "images": Box (C, H, W, 3) uint8, only when cameras are requested.
- reward: route progress of the step in metres, minus `collision_penalty` for each new
  at-fault collision and `off_road_penalty` for each step off the drivable area.
- terminated: the ego reached its route's end; truncated: the scenario (or max_steps) ended.
- info: the step's metrics, events, end_reason and, at the end, "episode_metrics".

`reset(seed=...)` picks the scenario from `scenarios` with the seeded generator (the engine
itself is deterministic, so the same seed gives the same episode).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from policies_api.client import RemoteSimulator, StepResult
from policies_api.convert import trajectory_from_poses
from sim.types.observation import Observation

PLAN_POSES = 8
PLAN_DT_S = 0.5
ROUTE_SPACING_M = 2.0


class ClosedLoopEnv(gym.Env):
    """A Gymnasium env whose every step is one Step call on a splatsim server.

    - target: the server ("HOST:PORT" or "unix:PATH").
    - scenarios: scenario names to draw from at reset (default: every scenario of the server).
    - cameras, width, height, encoding: images in the observation (none by default).
    - reactive: actors follow the IDM and react to the ego.
    - max_steps: most steps per episode (default: to the scenario's end).
    - route_points: waypoints in obs["route"].
    - collision_penalty, off_road_penalty: reward shaping (see the module docstring).
    - timeout_s: deadline of each call.
    """

    metadata = {"render_modes": []}

    def __init__(self, target: str, scenarios: list[str] | None = None, cameras: list[str] | tuple[str, ...] = (),
                 width: int = 480, height: int = 270, encoding: str = "raw", reactive: bool = False,
                 max_steps: int | None = None, route_points: int = 20, collision_penalty: float = 10.0,
                 off_road_penalty: float = 1.0, timeout_s: float = 30.0):
        super().__init__()
        self.sim = RemoteSimulator(target, timeout_s=timeout_s)
        self.scenarios = list(scenarios) if scenarios else [s["name"] for s in self.sim.list_scenarios()]
        if not self.scenarios:
            raise ValueError(f"the server at {target} serves no scenarios")
        self.cameras = list(cameras)
        self.session_options = dict(cameras=self.cameras, width=width, height=height, encoding=encoding,
                                    reactive=reactive, max_steps=max_steps, policy_name="gymnasium")
        self.route_points = route_points
        self.collision_penalty = collision_penalty
        self.off_road_penalty = off_road_penalty
        big = np.finfo(np.float64).max
        obs_spaces = {
            "ego": spaces.Box(-big, big, shape=(7,), dtype=np.float64),
            "route": spaces.Box(-big, big, shape=(route_points, 2), dtype=np.float64),
            "command": spaces.Discrete(3),
        }
        if self.cameras:
            obs_spaces["images"] = spaces.Box(0, 255, shape=(len(self.cameras), height, width, 3), dtype=np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)
        low = np.tile(np.array([-20.0, -60.0, -math.pi], np.float32), (PLAN_POSES, 1))
        high = np.tile(np.array([120.0, 60.0, math.pi], np.float32), (PLAN_POSES, 1))
        self.action_space = spaces.Box(low, high, dtype=np.float32)
        self._last_route_s: float | None = None
        self._done = True

    def _obs(self, obs: Observation) -> dict:
        e = obs.ego
        route = np.asarray(obs.route_xy_in_ego, np.float64)
        if len(route) == 0:
            route = np.zeros((1, 2))
        padded = np.empty((self.route_points, 2))
        n = min(len(route), self.route_points)
        padded[:n] = route[:n]
        padded[n:] = route[n - 1]
        out = {"ego": np.array([e.x_m, e.y_m, e.yaw_rad, e.speed_mps, e.accel_mps2, e.yaw_rate_radps, e.steer_rad],
                               np.float64),
               "route": padded,
               "command": int(obs.driving_command)}
        if self.cameras:
            out["images"] = np.ascontiguousarray(obs.images.rgb, dtype=np.uint8) if obs.images is not None else \
                np.zeros(self.observation_space["images"].shape, np.uint8)
        return out

    @staticmethod
    def _info(result: StepResult) -> dict:
        m = result.metrics
        info = {"t_us": result.observation.t_us, "step_index": result.observation.step_index,
                "collision": m.collision, "at_fault_collision": m.at_fault_collision, "off_road": m.off_road,
                "ttc_s": m.ttc_s, "route_progress_m": m.route_progress_m, "route_completion": m.route_completion,
                "events": result.events, "end_reason": result.end_reason}
        if result.episode_metrics is not None:
            info["episode_metrics"] = result.episode_metrics
        return info

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        name = options.get("scenario") or self.scenarios[int(self.np_random.integers(len(self.scenarios)))]
        obs = self.sim.reset(name, **self.session_options)
        self._last_route_s = self.sim.last_result.metrics.route_s_m
        self._done = self.sim.last_result.done
        return self._obs(obs), self._info(self.sim.last_result)

    def step(self, action):
        if self._done:
            raise gym.error.ResetNeeded("the episode is over: call reset()")
        poses = np.asarray(action, dtype=np.float64).reshape(PLAN_POSES, 3)
        result = self.sim.step(trajectory_from_poses(poses, PLAN_DT_S))
        m = result.metrics
        reward = m.route_s_m - self._last_route_s
        self._last_route_s = m.route_s_m
        if m.at_fault_collision:
            reward -= self.collision_penalty
        if m.off_road:
            reward -= self.off_road_penalty
        self._done = result.done
        terminated = result.done and not result.truncated
        truncated = result.done and result.truncated
        return self._obs(result.observation), float(reward), terminated, truncated, self._info(result)

    def close(self):
        sim = getattr(self, "sim", None)
        if sim is not None:
            sim.close()
            self.sim = None
        super().close()
