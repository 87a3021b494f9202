"""Stop controls inferred from the logged ego: where the human waited at an intersection for a
signal or a stop sign that the map does not carry.

Our maps (nuScenes map expansion, the AV2 logs converted to it) have no traffic-light states and
no stop signs, so NAVSIM's TLC could never fail and the EP reference (PDM-Closed, which stops at
red lights) would drive through junctions where the human waits. nuPlan itself derives its
traffic-light states from how vehicles move in the logs; we do the same from the one vehicle
whose intent we know, the logged ego:

A stop control is inferred where the logged ego stands still (speed below stopped_speed_mps)
for at least min_stop_s, with nothing in its path within clear_gap_m when it comes to rest (no
actor ahead in its corridor: the stop is not queueing or yielding to something we can see), and
its front bumper within max_connector_gap_m of the start of a lane connector on its route (the
stop is at the entry of a junction). The stop line is placed line_margin_m beyond the front
bumper's furthest point during the stop. It is red from the start of the log until the step the
ego drives off (the first step after the stop above the stopped speed).

Users: the EP reference planner stops for a line that is red at the frame (PDM-Closed treats the
red lights of the frame as static obstacles for the whole horizon), so a human who waits for a
light is not scored against a reference that drives through it. TLC is 0 for a trajectory whose
front bumper crosses a line while it is red (`red_light_crossing`) only when score_red_lines
is set: policies do not observe the inferred lines (the maps and the wire carry no signal
states), and NAVSIM scores TLC as 1 where the map has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StopControlConfig:
    """How stop controls are inferred from the logged ego (see the module docstring).

    - enabled: infer them at all (False: no stop lines; the reference planner drives through).
    - score_red_lines: TLC is 0 for crossing an inferred line while it is red (default off: no
      policy can see the lines; NAVSIM's TLC is 1 without signal states).
    - stopped_speed_mps: below this the ego stands still.
    - min_stop_s: shortest standstill that counts.
    - clear_gap_m: nothing may be ahead in the ego's path within this gap from its front bumper
      when it comes to rest; corridor_margin_m widens the path beyond both vehicles' half widths.
    - max_connector_gap_m: the front bumper at rest is at most this far before (or anywhere
      inside) a lane connector of the route.
    - line_margin_m: the line lies this far beyond the furthest front bumper of the stop.
    """

    enabled: bool = True
    score_red_lines: bool = False
    stopped_speed_mps: float = 0.3
    min_stop_s: float = 1.0
    clear_gap_m: float = 12.0
    corridor_margin_m: float = 0.5
    max_connector_gap_m: float = 10.0
    line_margin_m: float = 1.0


@dataclass(frozen=True, eq=False)
class StopControls:
    """K stop lines on the route.

    line_s_m: (K,) route arclength of each line (the scorer's extended route);
    red_until_step: (K,) the first step at which the line no longer holds (the logged ego drives
    off); each line is red at every earlier step of the log.
    """

    line_s_m: np.ndarray
    red_until_step: np.ndarray

    def __len__(self) -> int:
        return len(self.line_s_m)

    def red_at(self, step_index: int) -> np.ndarray:
        """(K',) arclengths of the lines red at a step."""
        return self.line_s_m[self.red_until_step > step_index]

    def red_steps_from(self, step_index: int) -> np.ndarray:
        """(K,) how many steps from step_index on each line stays red (0: already green)."""
        return np.maximum(self.red_until_step - step_index, 0)


NO_STOP_CONTROLS = StopControls(np.zeros(0), np.zeros(0, np.int64))


def infer_stop_controls(speed_mps: np.ndarray, valid: np.ndarray, front_s_m: np.ndarray, xy: np.ndarray,
                        yaw_rad: np.ndarray, ego_half_length_m: float, ego_half_width_m: float,
                        actor_xy: np.ndarray, actor_valid: np.ndarray, actor_half_length_m: np.ndarray,
                        actor_half_width_m: np.ndarray, connector_s_m: np.ndarray, dt_s: float,
                        config: StopControlConfig = StopControlConfig()) -> StopControls:
    """Stop controls of a log (see the module docstring).

    Logged ego, per step (T,): speed_mps, valid, front_s_m (front bumper's route arclength),
    xy (T, 2) box centre, yaw_rad. Actors, time-major: actor_xy (T, N, 2), actor_valid (T, N);
    half sizes (N,). connector_s_m: (C, 2) route arclength [start, end] of the route's lane
    connectors.
    """
    if not config.enabled:
        return NO_STOP_CONTROLS
    stopped = np.asarray(valid, bool) & (np.asarray(speed_mps) < config.stopped_speed_mps)
    min_steps = max(int(round(config.min_stop_s / dt_s)), 1)
    lines, until = [], []
    for start, stop in _runs(stopped):
        if stop - start < min_steps or stop >= len(stopped) or not valid[stop]:
            continue  # too short, or the log ends before the ego drives off: no release time
        front = float(np.max(front_s_m[start:stop]))
        if not _near_connector(float(front_s_m[start]), connector_s_m, config.max_connector_gap_m):
            continue
        if _path_blocked(xy[start], float(yaw_rad[start]), ego_half_length_m, ego_half_width_m, actor_xy[start],
                         actor_valid[start], actor_half_length_m, actor_half_width_m, config):
            continue
        lines.append(front + config.line_margin_m)
        until.append(stop)
    if not lines:
        return NO_STOP_CONTROLS
    return StopControls(np.array(lines), np.array(until, np.int64))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges where mask is True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _near_connector(front_s: float, connector_s_m: np.ndarray, max_gap_m: float) -> bool:
    for s_start, s_end in np.asarray(connector_s_m).reshape(-1, 2):
        if s_start - max_gap_m <= front_s <= s_end:
            return True
    return False


def _path_blocked(center_xy: np.ndarray, yaw: float, ego_hl: float, ego_hw: float, actor_xy: np.ndarray,
                  actor_valid: np.ndarray, actor_hl: np.ndarray, actor_hw: np.ndarray,
                  config: StopControlConfig) -> bool:
    """Whether an actor is ahead of the ego within clear_gap_m of its front bumper and in its
    corridor (actor extents taken as their larger half size: their heading does not matter)."""
    rel = actor_xy - center_xy
    c, s = np.cos(yaw), np.sin(yaw)
    lon = rel[:, 0] * c + rel[:, 1] * s
    lat = -rel[:, 0] * s + rel[:, 1] * c
    reach = np.maximum(actor_hl, actor_hw)
    ahead = (lon > 0.0) & (lon - reach - ego_hl < config.clear_gap_m)
    beside = np.abs(lat) < ego_hw + reach + config.corridor_margin_m
    return bool(np.any(actor_valid & ahead & beside))


def red_light_crossing(front_s_m: np.ndarray, controls: StopControls, step_index: int) -> int:
    """Index of the first state (front bumper arclengths (n,) from step_index on) that is beyond
    a line still red at that state, having been before it at the window's start; -1 if none."""
    if len(controls) == 0:
        return -1
    red_steps = controls.red_steps_from(step_index)
    first = -1
    for line, red in zip(controls.line_s_m, red_steps):
        if red == 0 or front_s_m[0] > line:
            continue
        beyond = np.flatnonzero(front_s_m[:red] > line)
        if len(beyond) and (first < 0 or beyond[0] < first):
            first = int(beyond[0])
    return first
