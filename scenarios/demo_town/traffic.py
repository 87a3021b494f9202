"""The demo town's traffic model, run at 10 Hz while recording.

Vehicles drive along lane routes through the lane graph (seeded random turns at the
intersection; trucks and buses go straight). Longitudinal control is `sim.actors.idm.idm_acceleration`
against the nearest obstacle ahead along the vehicle's own path: another vehicle or a pedestrian
whose box reaches into the path's corridor, the stop line while waiting for the intersection, or
a crossing with a pedestrian near the vehicle's path.

The intersection has no signals. A vehicle that comes within stopping distance of its stop line
asks for its connector. Requests are served in order of priority (the avenue's straight and
right-turning traffic, then its left turns, then the minor north and south streets; a vehicle
that has waited PATIENCE_S counts as first priority, so nobody starves), then of arrival. A
request is granted when no vehicle holding a conflicting connector is still in the box, no request
served before it conflicts and waits, its exit lane has room and no pedestrian is in its way.
Connectors conflict when the areas swept by a large vehicle on them overlap and they come from
different lanes; a vehicle on a connector stops blocking another once it is past the area swept
on that one.

Pedestrians walk along the sidewalks and over the crossings. At the kerb they wait until no
vehicle will reach the crossing within a few seconds; vehicles wait while a pedestrian on a
crossing is in or near their path, and pedestrians stop short of a vehicle or a pedestrian in
their way.
"""

from __future__ import annotations

import numpy as np
from shapely.geometry import LineString

from scenarios.demo_town.conflicts import opposing_entry_s
from scenarios.demo_town.paths import (
    AgentPath,
    crossing_intervals,
    expand_route,
    pedestrian_route,
    polyline_path,
    random_route,
    stop_before_box_s,
    vehicle_path,
)
from scenarios.demo_town.scene_spec import BUS, CAR, PEDESTRIAN, TRUCK, ActorType, SceneSpec
from scenarios.demo_town.town import STOP_BEFORE_CROSSING_M, DemoTown
from sim.actors.idm import IDMParams, idm_acceleration
from sim.geometry import box_corners_xy, wrap_angle
from sim.types.scenario import DT_S, ActorKind, EgoParams

MAX_ANNOTATED_ACTORS = 40
LOOKAHEAD_STRIDE = 4  # samples between lookahead points (2 m)
LOOKAHEAD_POINTS = 36  # 72 m ahead: enough to stop from 14 m/s at IDM's comfortable decel
CORRIDOR_MARGIN_M = 0.4  # lateral clearance that still counts as "in my path"
DECISION_DECEL_MPS2 = 2.0  # a vehicle asks for the intersection once within this braking distance
DECISION_MARGIN_M = 8.0  # ... plus this
EXIT_ROOM_M = 5.0  # free space needed behind the last car on the exit lane
HARD_DECEL_MPS2 = 6.0  # a vehicle that cannot stop at this rate drives through an occupied crossing
SPAWN_CLEAR_M = 30.0  # a new vehicle enters only if nothing is this close to the lane start
SPAWN_TRUCK_SHARE = 0.1
PLACEMENT_MARGIN_M = 12.0  # initial bumper-to-bumper spacing, at least
PLACEMENT_STOP_CLEAR_M = 35.0  # no vehicle starts closer than this to its stop line
IDM_MAX_ACCEL_MPS2 = 2.0  # town driving pulls away from a stop briskly
MINOR_ROADS = ("south", "north")  # their traffic yields to the avenue's
PATIENCE_S = 4.0  # after waiting this long, a vehicle is served as if it had priority
PED_THREAT_TIME_S = 4.0  # a pedestrian waits while a vehicle would reach the crossing this soon
PED_THREAT_MARGIN_M = 3.0
PED_PROBE_M = 0.7  # pedestrians look this far ahead for vehicles in their way
PED_CLEARANCE_M = 0.3
PED_KERB_SETBACK_M = 0.8  # pedestrians wait this far short of the road edge
PED_YIELD_BAND_M = 1.5
WAIT_IN_BOX_MARGIN_M = 1.0  # vehicles wait for pedestrians on a crossing this close to their sides


class Traffic:
    """Mutable state of one scene while it is simulated; agent 0 is the ego. `simulate_scene`
    runs it and records a SceneRecording."""

    def __init__(self, town: DemoTown, conflicts: np.ndarray, spec: SceneSpec, rng: np.random.Generator):
        self.town, self.conflicts, self.spec, self.rng = town, conflicts, spec, rng
        self.idm = IDMParams(max_accel_mps2=IDM_MAX_ACCEL_MPS2)
        cap = MAX_ANNOTATED_ACTORS + 1
        self.paths: list[AgentPath] = []
        self.category: list[str] = []
        self.kind = np.zeros(cap, np.int8)
        self.size = np.zeros((cap, 3))  # width, length, height
        self.alive = np.zeros(cap, bool)
        self.s = np.zeros(cap)
        self.v = np.zeros(cap)
        self.connector = np.full(cap, -1)
        self.s_stop = np.full(cap, np.inf)  # front position to stop at for the intersection
        self.s_box = np.full(cap, np.inf)  # connector start / end on the path
        self.s_box_end = np.full(cap, np.inf)
        self.priority = np.zeros(cap, np.int8)  # at the intersection: 0 first, 2 last
        self.committed = np.zeros(cap, bool)
        self.released = np.zeros(cap, bool)
        self.arrival_step = np.full(cap, np.iinfo(np.int64).max)
        self.crossings = np.full((cap, len(town.crossings), 2), np.inf)
        # Where a vehicle's path is in the middle of each crossing, and its heading there.
        self.crossing_mid_xy = np.zeros((cap, len(town.crossings), 2))
        self.crossing_mid_yaw = np.zeros((cap, len(town.crossings)))
        self.ped_crossing = np.full(cap, -1)
        self.ped_started = np.zeros(cap, bool)
        self._stack()

    # ----- agents -------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        return len(self.paths)

    def _stack(self) -> None:
        """Concatenated path arrays so that positions and lookahead are vectorised over agents."""
        paths = self.paths or [AgentPath(np.zeros((2, 2)), np.zeros(2), 1.0, np.zeros(2))]  # keeps shapes valid
        self.counts = np.array([len(p.xy) for p in self.paths], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)[:self.n]
        self.spacing = np.array([p.spacing_m for p in self.paths])
        self.length = np.array([p.length_m for p in self.paths])
        self.all_xy = np.concatenate([p.xy for p in paths])
        self.all_yaw = np.concatenate([p.yaw_rad for p in paths])
        self.all_cap = np.concatenate([p.speed_cap_mps for p in paths])

    def _sample(self, actor: ActorType) -> tuple[np.ndarray, float]:
        r = self.rng
        size = np.array([r.uniform(*actor.width_m), r.uniform(*actor.length_m), r.uniform(*actor.height_m)])
        return size, float(r.uniform(*actor.desired_speed_mps))

    def add_vehicle(self, actor: ActorType, size_wlh_m: np.ndarray, lanes: tuple[int, ...], s_m: float,
                    speed_mps: float, desired_speed_mps: float) -> None:
        i = self.n
        path = vehicle_path(self.town, lanes, desired_speed_mps)
        self.paths.append(path)
        self.category.append(actor.category)
        self.kind[i], self.size[i] = actor.kind, size_wlh_m
        self.alive[i], self.s[i] = True, s_m
        self.v[i] = min(speed_mps, float(np.interp(s_m, np.arange(len(path.xy)) * path.spacing_m, path.speed_cap_mps)))
        self.crossings[i] = crossing_intervals(self.town, path)
        for k in np.flatnonzero(np.isfinite(self.crossings[i, :, 0])):
            mid = int(round(self.crossings[i, k].mean() / path.spacing_m))
            self.crossing_mid_xy[i, k], self.crossing_mid_yaw[i, k] = path.xy[mid], path.yaw_rad[mid]
        for r, lane_index in enumerate(lanes):
            if self.town.lanes[lane_index].is_connector:
                self.connector[i] = lane_index
                self.s_box[i], self.s_box_end[i] = path.lane_start_s_m[r], path.lane_start_s_m[r + 1]
                self.s_stop[i] = stop_before_box_s(path, self.crossings[i], self.s_box[i])
                minor = self.town.lanes[lanes[r - 1]].road in MINOR_ROADS
                self.priority[i] = 2 if minor else int(self.town.turn_of(lane_index) == "left")
        self._stack()

    def add_pedestrian(self, size_wlh_m: np.ndarray, route: LineString, crossing: int, speed_mps: float) -> None:
        i = self.n
        path = polyline_path(route, speed_mps)
        self.paths.append(path)
        self.category.append(PEDESTRIAN.category)
        self.kind[i], self.size[i] = ActorKind.PEDESTRIAN, size_wlh_m
        self.alive[i], self.s[i], self.v[i] = True, 0.0, speed_mps
        self.ped_crossing[i] = crossing
        if crossing >= 0:
            self.crossings[i, crossing] = crossing_intervals(self.town, path)[crossing]
            assert np.isfinite(self.crossings[i, crossing]).all(), "a crossing route must cross"
        self._stack()

    def place_initial(self) -> None:
        """Ego, its optional leader, vehicles spread over the lanes, pedestrians on the sidewalks."""
        town, spec, rng = self.town, self.spec, self.rng
        ego = EgoParams()
        ego_lanes = expand_route(town, spec.ego_lanes)
        self.add_vehicle(CAR, np.array([ego.width_m, ego.length_m, ego.height_m]), ego_lanes, spec.ego_start_s_m,
                         0.9 * spec.ego_desired_speed_mps, spec.ego_desired_speed_mps)
        if spec.ego_waits_in_box:  # its front stops a metre short of the oncoming traffic's path
            entry_m = opposing_entry_s(town, int(self.connector[0]), 0.5 * ego.width_m)
            self.s_stop[0] = self.s_box[0] + entry_m - WAIT_IN_BOX_MARGIN_M
        if spec.ego_leader is not None:
            actor, gap_m = spec.ego_leader
            size, desired = self._sample(actor)
            s_m = spec.ego_start_s_m + 0.5 * (ego.length_m + size[1]) + gap_m
            self.add_vehicle(actor, size, ego_lanes, s_m, 0.9 * desired, desired)
        regular = [i for i, lane in enumerate(town.lanes) if not lane.is_connector]
        weights = np.array([town.lanes[i].length_m for i in regular])
        todo = [CAR] * spec.num_cars + [TRUCK] * spec.num_trucks + [BUS] * spec.num_buses
        for actor in todo:
            size, desired = self._sample(actor)
            for _ in range(200):  # rejection sampling; the town has room for far more than we ask
                lane = regular[int(rng.choice(len(regular), p=weights / weights.sum()))]
                route = random_route(town, lane, actor, rng)
                s_m = float(rng.uniform(0.5 * size[1] + 1.0, town.lanes[lane].length_m - 0.5 * size[1] - 1.0))
                if self._placement_ok(route, s_m, size):
                    self.add_vehicle(actor, size, route, s_m, rng.uniform(0.7, 1.0) * desired, desired)
                    break
        for _ in range(spec.num_pedestrians):
            size, speed = self._sample(PEDESTRIAN)
            for _ in range(200):
                route, crossing = pedestrian_route(town, rng)
                start = np.array(route.coords[0])
                xy, _ = self.positions()
                peds = np.flatnonzero(self.alive[:self.n] & (self.kind[:self.n] == ActorKind.PEDESTRIAN))
                if np.all(np.linalg.norm(xy[peds] - start, axis=1) > 2.0):
                    self.add_pedestrian(size, route, crossing, speed)
                    break

    def _placement_ok(self, route: tuple[int, ...], s_m: float, size_wlh_m: np.ndarray) -> bool:
        path = vehicle_path(self.town, route, 1.0)
        idx = min(int(round(s_m / path.spacing_m)), len(path.xy) - 1)
        for r, lane_index in enumerate(route):
            if self.town.lanes[lane_index].is_connector:
                stop = stop_before_box_s(path, crossing_intervals(self.town, path), path.lane_start_s_m[r])
                if s_m + 0.5 * size_wlh_m[1] > stop - PLACEMENT_STOP_CLEAR_M:
                    return False
        xy, _ = self.positions()
        vehicles = np.flatnonzero(self.kind[:self.n] == ActorKind.VEHICLE)
        distance = np.linalg.norm(xy[vehicles] - path.xy[idx], axis=1)
        needed = 0.5 * (self.size[vehicles, 1] + size_wlh_m[1]) + PLACEMENT_MARGIN_M
        return bool(np.all(distance > needed))

    # ----- kinematics ---------------------------------------------------------------------------

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Box centres (n, 2) and headings (n,) of all agents (dead ones at their last place)."""
        if not self.n:
            return np.zeros((0, 2)), np.zeros(0)
        s = np.minimum(self.s[:self.n], self.length)
        f = s / self.spacing
        i0 = np.clip(np.floor(f).astype(np.int64), 0, self.counts - 2)
        frac = (f - i0)[:, None]
        g = self.offsets + i0
        xy = self.all_xy[g] * (1 - frac) + self.all_xy[g + 1] * frac
        yaw = self.all_yaw[g] * (1 - frac[:, 0]) + self.all_yaw[g + 1] * frac[:, 0]
        return xy, wrap_angle(yaw)

    def _leaders(self, vehicles: np.ndarray, others: np.ndarray, xy: np.ndarray, yaw: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Bumper gap (nv,) to the nearest agent ahead in each vehicle's path corridor, and that
        agent's speed along the path (pedestrians count as standing)."""
        nv = len(vehicles)
        gap = np.full(nv, np.inf)
        lead_speed = np.zeros(nv)
        if nv == 0 or len(others) < 2:
            return gap, lead_speed
        sp = self.spacing[vehicles]
        base = self.offsets[vehicles] + np.floor(self.s[vehicles] / sp).astype(np.int64)
        last = (self.offsets + self.counts - 1)[vehicles]
        window = np.minimum(base[:, None] + LOOKAHEAD_STRIDE * np.arange(LOOKAHEAD_POINTS)[None], last[:, None])
        w_xy, w_yaw = self.all_xy[window], self.all_yaw[window]
        w_s = (window - self.offsets[vehicles][:, None]) * sp[:, None]
        rel = xy[others][None, None] - w_xy[:, :, None]  # (nv, W, no, 2)
        nearest = np.argmin(np.einsum("vwod,vwod->vwo", rel, rel), axis=1)  # (nv, no)
        rows = np.arange(nv)[:, None]
        r = rel[rows, nearest, np.arange(len(others))[None]]
        h = w_yaw[rows, nearest]
        c, s = np.cos(h), np.sin(h)
        ahead = c * r[..., 0] + s * r[..., 1]
        along = w_s[rows, nearest] + ahead
        lateral = -s * r[..., 0] + c * r[..., 1]
        dyaw = yaw[others][None] - h
        w_o, l_o = self.size[others, 0][None], self.size[others, 1][None]
        ext_along = 0.5 * (np.abs(np.cos(dyaw)) * l_o + np.abs(np.sin(dyaw)) * w_o)
        ext_lateral = 0.5 * (np.abs(np.sin(dyaw)) * l_o + np.abs(np.cos(dyaw)) * w_o)
        s_i = self.s[vehicles][:, None]
        candidate = ((vehicles[:, None] != others[None])
                     & (np.abs(lateral) < 0.5 * self.size[vehicles, 0][:, None] + ext_lateral + CORRIDOR_MARGIN_M)
                     & (along > s_i) & (np.abs(ahead) <= LOOKAHEAD_STRIDE * sp[:, None]))
        gaps = np.where(candidate, along - ext_along - s_i - 0.5 * self.size[vehicles, 1][:, None], np.inf)
        best = np.argmin(gaps, axis=1)
        gap = gaps[np.arange(nv), best]
        lead = others[best]
        is_vehicle = self.kind[lead] == ActorKind.VEHICLE
        lead_speed = np.where(is_vehicle, np.maximum(self.v[lead] * np.cos(dyaw[np.arange(nv), best]), 0.0), 0.0)
        return gap, lead_speed

    def _grant_intersection(self, step: int, xy: np.ndarray, yaw: np.ndarray) -> None:
        """First come, first served; see the module docstring."""
        n = self.n
        front = self.s[:n] + 0.5 * self.size[:n, 1]
        rear = self.s[:n] - 0.5 * self.size[:n, 1]
        self.released[:n] |= self.committed[:n] & (rear > self.s_box_end[:n])
        reach = self.v[:n] ** 2 / (2 * DECISION_DECEL_MPS2) + DECISION_MARGIN_M
        asking = self.alive[:n] & (self.connector[:n] >= 0) & ~self.committed[:n] & (front >= self.s_stop[:n] - reach)
        self.arrival_step[:n] = np.where(asking, np.minimum(self.arrival_step[:n], step), self.arrival_step[:n])
        holding = list(np.flatnonzero(self.alive[:n] & self.committed[:n] & ~self.released[:n]))
        waiting: list[int] = []
        blocked_lanes: set[int] = set()
        patient = (step - self.arrival_step[:n]) * DT_S < PATIENCE_S
        priority = np.where(patient, self.priority[:n], 0)
        for i in sorted(np.flatnonzero(asking), key=lambda i: (priority[i], self.arrival_step[i], -front[i], i)):
            incoming = self.paths[i].lanes[self.paths[i].lanes.index(self.connector[i]) - 1]
            if incoming in blocked_lanes:  # only the first vehicle of a queue may go
                continue
            # Entering only to wait inside the box would hold up everyone else. Pedestrians can take
            # long to clear, so a vehicle waiting for them lets later arrivals go first.
            through = self.crossings[i, :, 0] < self.s_box_end[i] + self.size[i, 1]
            if np.any(self._crossing_blocked(np.array([i]), xy, yaw, count_approaching=True)[0] & through):
                blocked_lanes.add(incoming)
                continue
            c = self.connector[i]
            # Vehicles waiting ahead of the box block any conflicting connector; those inside it only
            # until their rear is past the conflict.
            progress = [self.s[j] - 0.5 * self.size[j, 1] - self.s_box[j] for j in holding + waiting]
            clash = any(p <= self.conflicts[self.connector[j], c] for j, p in zip(holding + waiting, progress))
            if clash or not self._exit_has_room(i):
                waiting.append(i)
                blocked_lanes.add(incoming)
            else:
                self.committed[i] = True
                holding.append(i)

    def _exit_has_room(self, i: int) -> bool:
        lanes = self.paths[i].lanes
        exit_lane = lanes[lanes.index(self.connector[i]) + 1]
        for j in np.flatnonzero(self.alive[:self.n] & (self.kind[:self.n] == ActorKind.VEHICLE)):
            if j == i or exit_lane not in self.paths[j].lanes:
                continue
            r = self.paths[j].lanes.index(exit_lane)
            start, end = self.paths[j].lane_start_s_m[r:r + 2]
            on_lane = self.s[j] + 0.5 * self.size[j, 1] > start and self.s[j] <= end
            if on_lane and self.s[j] - 0.5 * self.size[j, 1] - start < self.size[i, 1] + EXIT_ROOM_M:
                return False
        return True

    def _crossing_blocked(self, vehicles: np.ndarray, xy: np.ndarray, yaw: np.ndarray,
                          count_approaching: bool = False) -> np.ndarray:
        """(nv, num_crossings) bool: a pedestrian on the crossing is in, or within PED_YIELD_BAND_M
        of, the vehicle's path there; with count_approaching, also one still walking towards it."""
        n = self.n
        blocked = np.zeros((len(vehicles), len(self.town.crossings)), bool)
        for p in np.flatnonzero(self.alive[:n] & self.ped_started[:n]):
            k = self.ped_crossing[p]
            if self.s[p] - 0.5 * self.size[p, 1] >= self.crossings[p, k, 1]:
                continue  # across already
            rel = xy[p] - self.crossing_mid_xy[vehicles, k]
            path_yaw = self.crossing_mid_yaw[vehicles, k]
            lateral = np.cos(path_yaw) * rel[:, 1] - np.sin(path_yaw) * rel[:, 0]
            reach = 0.5 * (self.size[vehicles, 0] + self.size[p, 1]) + PED_YIELD_BAND_M
            in_way = np.abs(lateral) < reach
            if count_approaching:
                in_way |= lateral * np.sin(yaw[p] - path_yaw) < 0.0  # walking towards the path
            blocked[:, k] |= np.isfinite(self.crossings[vehicles, k, 0]) & in_way
        return blocked

    def _crossings_threatened(self) -> np.ndarray:
        """(num_crossings,) bool: a vehicle will be on the crossing within PED_THREAT_TIME_S, or is
        on it."""
        n = self.n
        a, b = self.crossings[:n, :, 0], self.crossings[:n, :, 1]
        front = (self.s[:n] + 0.5 * self.size[:n, 1])[:, None]
        rear = (self.s[:n] - 0.5 * self.size[:n, 1])[:, None]
        v = self.v[:n, None]
        soon = a - front < PED_THREAT_TIME_S * v + PED_THREAT_MARGIN_M
        # A vehicle granted the intersection will come through, however slowly it starts.
        granted = (self.committed[:n] & ~self.released[:n])[:, None]
        vehicle = (self.alive[:n] & (self.kind[:n] == ActorKind.VEHICLE))[:, None]
        coming = vehicle & np.isfinite(a) & (rear < b) & (soon | granted)
        # A vehicle waiting short of the crossing for the intersection yields to pedestrians.
        yielding = ~self.committed[:n, None] & (v < 0.5) & (front < a) & (a < self.s_box[:n, None])
        return np.any(coming & ~yielding, axis=0)

    def step(self, step: int) -> None:
        """Advance all agents by DT_S."""
        n = self.n
        xy, yaw = self.positions()
        self._grant_intersection(step, xy, yaw)
        vehicles = np.flatnonzero(self.alive[:n] & (self.kind[:n] == ActorKind.VEHICLE))
        others = np.flatnonzero(self.alive[:n])
        gap, lead_speed = self._leaders(vehicles, others, xy, yaw)
        front = self.s[vehicles] + 0.5 * self.size[vehicles, 1]
        v = self.v[vehicles]
        # The stop line, once the vehicle has asked for the intersection and is still waiting.
        asked = self.arrival_step[vehicles] < np.iinfo(np.int64).max
        # (a left-turner waiting inside the box stops at its waiting point there)
        waiting_until = np.maximum(self.s_box[vehicles], self.s_stop[vehicles])
        stop = np.where(asked & ~self.committed[vehicles] & (front < waiting_until),
                        np.maximum(self.s_stop[vehicles] - front, 0.0), np.inf)
        # Crossings with pedestrians in the way, unless too close to stop for them.
        before = self.crossings[vehicles, :, 0] - STOP_BEFORE_CROSSING_M - front[:, None]
        can_stop = (before >= v[:, None] ** 2 / (2 * HARD_DECEL_MPS2) - 0.5) | (v[:, None] < 1.0)
        yield_to = self._crossing_blocked(vehicles, xy, yaw) & (before > -0.5) & can_stop
        stop = np.minimum(stop, np.where(yield_to, np.maximum(before, 0.0), np.inf).min(axis=1))
        lead_speed = np.where(stop < gap, 0.0, lead_speed)
        gap = np.minimum(gap, stop)
        g = self.offsets[vehicles] + np.minimum(np.round(self.s[vehicles] / self.spacing[vehicles]).astype(np.int64),
                                                self.counts[vehicles] - 1)
        accel = idm_acceleration(v, gap, lead_speed, self.all_cap[g], self.idm)
        v_next = v + accel * DT_S
        stops = v_next < 0.0
        ds = np.where(stops, -v ** 2 / (2 * np.minimum(accel, -1e-9)), v * DT_S + 0.5 * accel * DT_S ** 2)
        self.s[vehicles] += ds
        self.v[vehicles] = np.maximum(v_next, 0.0)
        self._step_pedestrians(xy, yaw, vehicles)
        self.alive[:n] &= self.s[:n] < self.length

    def _step_pedestrians(self, xy: np.ndarray, yaw: np.ndarray, vehicles: np.ndarray) -> None:
        n = self.n
        peds = np.flatnonzero(self.alive[:n] & (self.kind[:n] == ActorKind.PEDESTRIAN))
        if not len(peds):
            return
        corners = box_corners_xy(xy[vehicles], yaw[vehicles], self.size[vehicles, 1] + 2 * PED_CLEARANCE_M,
                                 self.size[vehicles, 0] + 2 * PED_CLEARANCE_M)
        probes = xy[peds] + PED_PROBE_M * np.stack([np.cos(yaw[peds]), np.sin(yaw[peds])], axis=-1)
        held_up = _points_in_boxes(probes, corners).any(axis=1) | self._pedestrians_behind(peds, xy, yaw)
        threatened = self._crossings_threatened()
        for p, stopped in zip(peds, held_up):
            k = self.ped_crossing[p]
            kerb_s = self.crossings[p, k, 0] - PED_KERB_SETBACK_M if k >= 0 else np.inf
            if not self.ped_started[p] and self.s[p] >= kerb_s - 0.05:
                if threatened[k]:
                    self.v[p] = 0.0
                    continue
                self.ped_started[p] = True
            if stopped:
                self.v[p] = 0.0
                continue
            self.v[p] = self.paths[p].speed_cap_mps[0]
            s_next = self.s[p] + self.v[p] * DT_S
            if not self.ped_started[p]:
                s_next = min(s_next, kerb_s)  # walk up to the kerb, then decide
            self.s[p] = s_next

    def _pedestrians_behind(self, peds: np.ndarray, xy: np.ndarray, yaw: np.ndarray) -> np.ndarray:
        """(len(peds),) bool: another pedestrian, not coming the other way, is right in front.
        When two are in front of each other, the one added first goes on, so nobody waits forever."""
        rel = xy[peds][None] - xy[peds][:, None]  # [p, q]: q relative to p
        c, s = np.cos(yaw[peds])[:, None], np.sin(yaw[peds])[:, None]
        ahead = c * rel[..., 0] + s * rel[..., 1]
        lateral = -s * rel[..., 0] + c * rel[..., 1]
        length, width = self.size[peds, 1], self.size[peds, 0]
        blocking = ((ahead > 0) & (ahead < 0.5 * (length[:, None] + length[None]) + PED_PROBE_M)
                    & (np.abs(lateral) < 0.5 * (width[:, None] + width[None]) + 0.1)
                    & (np.cos(yaw[peds][None] - yaw[peds][:, None]) > -0.3))
        earlier = peds[None] < peds[:, None]
        return np.any(blocking & (~blocking.T | earlier), axis=1)

    def spawn(self, step: int, next_spawn_s: dict[int, float]) -> None:
        """Vehicles entering the town at its edge when due (next_spawn_s: entry lane -> time) and
        while the scene has room for more annotated actors."""
        town, rng = self.town, self.rng
        t_s = step * DT_S
        for lane, due_s in sorted(next_spawn_s.items()):
            if t_s < due_s or self.n >= MAX_ANNOTATED_ACTORS + 1:  # + 1: the ego is not annotated
                continue
            xy, _ = self.positions()
            start = np.array(town.lanes[lane].start_pose[:2])
            if np.any(np.linalg.norm(xy[self.alive[:self.n]] - start, axis=1) < SPAWN_CLEAR_M):
                continue  # try again next step
            actor = TRUCK if rng.random() < SPAWN_TRUCK_SHARE else CAR
            size, desired = self._sample(actor)
            self.add_vehicle(actor, size, random_route(town, lane, actor, rng), 0.5 * size[1],
                             0.9 * desired, desired)
            next_spawn_s[lane] = t_s + rng.exponential(self.spec.mean_spawn_interval_s)


def _points_in_boxes(points_xy: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(P, B) whether each of P points (P, 2) lies inside each of B boxes with corners (B, 4, 2),
    counter-clockwise."""
    edge = np.roll(corners, -1, axis=1) - corners
    rel = points_xy[:, None, None] - corners[None]
    return np.all(edge[..., 0] * rel[..., 1] - edge[..., 1] * rel[..., 0] >= 0.0, axis=-1)
