"""World state of the closed loop at one 10 Hz step, the actions that advance it, and why an episode ends."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class ActorMode(enum.IntEnum):
    """How an actor moves in the closed loop."""

    REPLAY = 0  # follows its logged track, ignores the ego (non-reactive)
    IDM = 1  # follows its lane with the intelligent driver model, reacts to leaders and the ego
    ADVERSARY = 2  # follows a plan from an injected ActorPlanner, re-planned every 0.5 s


class EndReason(str, enum.Enum):
    """Why a closed-loop episode ended. The values are what metrics.json and episode files hold."""

    ROUTE_COMPLETE = "route_complete"  # the ego reached the end of its route (EngineConfig.stop_at_route_end)
    SCENARIO_END = "scenario_end"  # the scenario's last logged step
    MAX_STEPS = "max_steps"  # EngineConfig.max_steps were taken
    POLICY_TERMINATED = "policy_terminated"  # the policy ended the episode (sim.errors.PolicyTerminated)

    # As enum.StrEnum (Python 3.11+) does: str() and f-strings give the value, not "EndReason.MAX_STEPS".
    __str__ = str.__str__
    __format__ = str.__format__


@dataclass(frozen=True)
class EgoState:
    """The ego at one step. Pose of the rear axle in the global frame.

    x_m, y_m, yaw_rad: pose; speed_mps: longitudinal speed; accel_mps2: actual longitudinal
    acceleration (after the actuator lag); steer_rad: actual front-wheel angle; yaw_rate_radps.
    """

    x_m: float
    y_m: float
    yaw_rad: float
    speed_mps: float
    accel_mps2: float
    steer_rad: float
    yaw_rate_radps: float

    @property
    def xy(self) -> np.ndarray:
        return np.array([self.x_m, self.y_m])


@dataclass(frozen=True, eq=False)
class ActorState:
    """All actors at one step. N actors (the scenario's actors, same order).

    - xy: (N, 2) box centre, global metres; yaw_rad: (N,); speed_mps: (N,) along heading.
    - valid: (N,) bool: present in the world at this step.
    - mode: (N,) int8 ActorMode.
    - path_s_m: (N,) arclength of an IDM actor along its path (see `sim.actors.behaviour.ActorPaths`).
    - plan_xy: (N, H, 2) and plan_yaw_rad: (N, H): the current plan of ADVERSARY actors, global
      poses at 10 Hz; row k applies at step plan_step[n] + k. H is 0 when no actor has a plan.
    - plan_step: (N,) int64.
    """

    xy: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray
    valid: np.ndarray
    mode: np.ndarray
    path_s_m: np.ndarray
    plan_xy: np.ndarray
    plan_yaw_rad: np.ndarray
    plan_step: np.ndarray


@dataclass(frozen=True, eq=False)
class WorldState:
    """The closed-loop world at step `step_index` (time `t_us` on the scenario's grid)."""

    step_index: int
    t_us: int
    ego: EgoState
    actors: ActorState


@dataclass(frozen=True, eq=False)
class TrajectoryAction:
    """A planned ego trajectory, tracked by the engine's tracker.

    - xy_in_ego: (K, 2) poses in the ego frame of the state it was planned from, metres.
    - yaw_in_ego_rad: (K,) headings in that frame.
    - t_offset_s: (K,) increasing times after the planning state, seconds (e.g. 0.5 .. 4.0).
    """

    xy_in_ego: np.ndarray
    yaw_in_ego_rad: np.ndarray
    t_offset_s: np.ndarray


@dataclass(frozen=True)
class ControlAction:
    """Direct controls: commanded longitudinal acceleration and front-wheel angle."""

    accel_mps2: float
    steer_rad: float


Action = TrajectoryAction | ControlAction
