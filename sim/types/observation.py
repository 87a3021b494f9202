"""What a policy sees at one step, and the protocols the closed loop is wired with.

The loop takes a renderer and a policy as plain protocols so that `sim` never imports
`render` or `policies_api`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from sim.types.scenario import DrivingCommand, Scenario
from sim.types.state import Action, EgoState, WorldState


@dataclass(frozen=True, eq=False)
class CameraImages:
    """Images of C cameras rendered at one step, all H x W.

    - names: (C,) str camera names.
    - rgb: (C, H, W, 3) uint8.
    - depth_m: (C, H, W) float32 expected depth along the camera z axis (0 where nothing).
    - alpha: (C, H, W) float32 accumulated opacity in [0, 1].
    - intrinsics: (C, 3, 3) K at H x W; pose_camera_to_ego: (C, 4, 4).
    """

    names: np.ndarray
    rgb: np.ndarray
    depth_m: np.ndarray
    alpha: np.ndarray
    intrinsics: np.ndarray
    pose_camera_to_ego: np.ndarray


@dataclass(frozen=True, eq=False)
class Observation:
    """What a policy receives at one step.

    - t_us: simulation time; step_index.
    - ego: EgoState (pose in global, velocity, acceleration, yaw rate).
    - driving_command: DrivingCommand.
    - route_xy_in_ego: (K, 2) route centerline points ahead, ego frame, metres.
    - images: CameraImages, or None when the loop has no renderer.
    - scenario / state: privileged access for in-process built-in policies (ground truth);
      remote policies get only what the session asked for.
    """

    t_us: int
    step_index: int
    ego: EgoState
    driving_command: DrivingCommand
    route_xy_in_ego: np.ndarray
    images: CameraImages | None = None
    scenario: Scenario | None = field(default=None, repr=False)
    state: WorldState | None = field(default=None, repr=False)


class Renderer(Protocol):
    """Renders the camera rig at the ego pose and actor poses of a world state.

    `before_camera(i)`, when given, is called before camera i is rendered (a renderer that
    renders the rig in one batch calls it once, with 0); it may raise to stop the rendering
    (a server stops there for a call whose deadline has passed).
    """

    def render(self, scenario: Scenario, state: WorldState,
               before_camera: Callable[[int], None] | None = None) -> CameraImages: ...


class Policy(Protocol):
    """A driving policy: one action per step. `reset` is called at the start of each episode."""

    name: str

    def reset(self, scenario: Scenario) -> None: ...

    def plan(self, observation: Observation) -> Action: ...
