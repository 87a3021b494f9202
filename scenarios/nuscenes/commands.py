"""NAVSIM-style driving commands along a route (the rule is documented on DrivingCommandConfig)."""

from __future__ import annotations

import numpy as np

from scenarios.nuscenes.config import DrivingCommandConfig
from sim.geometry import global_to_local_xy, interpolate_polyline, project_to_polyline, wrap_angle
from sim.types.scenario import DrivingCommand


def driving_commands(centerline_xy: np.ndarray, ego_xy: np.ndarray, ego_yaw_rad: np.ndarray,
                     config: DrivingCommandConfig) -> np.ndarray:
    """(T,) int8 DrivingCommand at each ego step, by the rule documented on DrivingCommandConfig.

    centerline_xy: (Q, 2) route, global metres; ego_xy: (T, 2) global metres; ego_yaw_rad: (T,).
    """
    commands = np.full(len(ego_xy), DrivingCommand.STRAIGHT, dtype=np.int8)
    if len(centerline_xy) < 2:
        return commands
    s_ego, _, _ = project_to_polyline(ego_xy, centerline_xy)
    target_xy, target_heading = interpolate_polyline(centerline_xy, s_ego + config.lookahead_m)
    lateral_m = global_to_local_xy(target_xy, ego_xy, ego_yaw_rad)[:, 1]
    turn_rad = wrap_angle(target_heading - ego_yaw_rad)
    turning = np.abs(turn_rad) > config.heading_threshold_rad
    left = np.where(turning, turn_rad > 0, lateral_m > config.lateral_threshold_m)
    right = np.where(turning, turn_rad < 0, lateral_m < -config.lateral_threshold_m)
    commands[left] = DrivingCommand.LEFT
    commands[right] = DrivingCommand.RIGHT
    return commands
