"""nuScenes-layout datasets -> `sim.types.scenario.Scenario`, on nuscenes-devkit 1.2.

A dataroot holds `<dataroot>/<version>/*.json` tables and `<dataroot>/maps/expansion/<map>.json`
vector maps (and the `map` table's PNG masks, which `NuScenes()` insists on). Sensor files may be
absent: only tables and maps are read.

What a scenario is made of:
- the time grid: 10 Hz (`sim.types.scenario.STEP_US`) from the scene's first to its last ego pose;
- the ego log: every LIDAR_TOP ego pose of the scene (sweeps and keyframes, about 10 Hz), or the
  keyframes' poses (2 Hz) when the scene has no LIDAR_TOP, interpolated onto the grid;
- actor tracks: each instance's 2 Hz annotations interpolated onto the grid, valid only inside
  its annotated span;
- the map around the scene as a `RoadMap` (lanes and lane connectors in one `LaneGraph`);
- the camera rig from the CAM_* calibrations;
- the route: the lanes the ego drove, and a NAVSIM-style driving command at each step.

Interpolation everywhere is linear in position and shortest-arc in yaw.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from nuscenes.map_expansion.arcline_path_utils import discretize_lane
from nuscenes.map_expansion.map_api import NuScenesMap
from nuscenes.map_expansion.map_api import locations as DEVKIT_MAP_NAMES
from nuscenes.nuscenes import NuScenes
from shapely.geometry import MultiPolygon, Polygon

from sim.errors import DatasetError
from sim.geometry import (
    global_to_local_xy,
    interpolate_polyline,
    polyline_arclength,
    pose_matrix,
    project_to_polyline,
    rotation_matrix_from_quaternion,
    wrap_angle,
    yaw_from_quaternion,
)
from sim.types.roadmap import LaneGraph, RoadMap
from sim.types.scenario import (
    DT_S,
    STEP_US,
    ActorKind,
    ActorTracks,
    CameraRig,
    DrivingCommand,
    EgoLog,
    Route,
    Scenario,
)

# The tables NuScenes() opens; all must exist.
TABLE_NAMES = ("category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose",
               "log", "scene", "sample", "sample_data", "sample_annotation", "map")
# The map-expansion format whose layers this adapter reads (the one nuscenes-devkit 1.2 ships for).
MAP_EXPANSION_VERSION = "1.3"
# nuScenes' six cameras clockwise from the front; any other CAM_* channel (AV2's side cameras)
# follows in name order.
CAMERA_ORDER = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")
DEFAULT_IMAGE_WIDTH_PX, DEFAULT_IMAGE_HEIGHT_PX = 1600, 900  # nuScenes' camera size
EGO_POSE_CHANNEL = "LIDAR_TOP"  # the 10 Hz channel whose sweeps carry ego poses
SOURCE_NAME = "nuscenes"

# Token links that NuScenes() follows while building its reverse index:
# (table, field, table the field points into). Used only to explain a KeyError.
_INDEXED_LINKS = (
    ("sample_annotation", "instance_token", "instance"),
    ("instance", "category_token", "category"),
    ("sample_data", "calibrated_sensor_token", "calibrated_sensor"),
    ("calibrated_sensor", "sensor_token", "sensor"),
    ("sample_data", "sample_token", "sample"),
    ("sample_annotation", "sample_token", "sample"),
)


@dataclass(frozen=True)
class DrivingCommandConfig:
    """How the NAVSIM-style driving command is derived at each step.

    Rule: project the ego onto the route centerline, take the point `lookahead_m` further along
    the route, and express it in the ego frame. If the route's heading there differs from the
    ego's yaw by more than `heading_threshold_rad`, the command is LEFT (the route turns
    counter-clockwise) or RIGHT; otherwise, if that point lies more than `lateral_threshold_m`
    to the left (right) of the ego, LEFT (RIGHT) (bends that end within the lookahead);
    otherwise STRAIGHT. Lookahead by distance along the route, not by time, gives a stopped
    ego the command of the manoeuvre it is waiting to make. The ego's yaw (not its lane's
    heading) is the reference because map lanes are polylines with kinks of ~10 deg between
    pieces, which at 20 m would read as a 3.5 m offset; a lane change mostly reads STRAIGHT,
    since by the time the route ahead lies in the next lane the ego already points there.

    - lookahead_m: distance along the route ahead of the ego's projection.
    - lateral_threshold_m: lateral offset of the lookahead point, ego frame.
    - heading_threshold_rad: heading change of the route at the lookahead point.
    """

    lookahead_m: float = 20.0
    lateral_threshold_m: float = 2.5
    heading_threshold_rad: float = math.radians(30.0)


@dataclass(frozen=True)
class RouteConfig:
    """How the ego's logged path is turned into a lane route.

    - min_run_steps: a lane the ego is matched to for fewer consecutive steps is treated as
      matching noise, and dropped, unless connectivity links it to the lanes before and after
      (a short connector crossed quickly is real).
    - max_bridge_lanes: between two consecutive matched lanes, up to this many lanes the ego
      drove through without being matched to them (short connectors) are filled in from the
      lane graph's successor links.
    - match_chunk_points: ego poses matched per nearest-lane query; bounds the query's memory
      (points x map segments) on large maps.
    - command: the driving command rule.
    """

    min_run_steps: int = 3
    max_bridge_lanes: int = 3
    match_chunk_points: int = 64
    command: DrivingCommandConfig = field(default_factory=DrivingCommandConfig)


@dataclass(frozen=True)
class AdapterConfig:
    """Settings of the nuScenes adapter.

    - lane_resolution_m: spacing of the points on discretised lane centerlines.
    - default_lane_width_m: width of a lane whose record has no polygon.
    - max_annotation_gap_s: an actor is invalid between consecutive annotations further apart
      than this (it was out of view; interpolating across would invent motion).
    - timestamp_tolerance_us: a grid time this close outside a span of poses (the ego's last
      pose, an actor's first or last annotation) still counts as inside it, with the boundary
      pose: sensor timestamps jitter by ~1 ms around the 10 Hz grid (the real logs' last sweep
      is 0.2 ms short of the grid). This absorbs jitter; it is not extrapolation.
    - crop_min_canvas_m2: maps whose canvas is larger than this (nuScenes' city maps) are cut to
      the scene's region; smaller maps (AV2 log maps, the demo town) are kept whole.
    - crop_margin_m: margin around the ego's and the actors' positions kept when cropping.
    - route: how the ego's route and driving commands are derived.
    """

    lane_resolution_m: float = 0.5
    default_lane_width_m: float = 3.5
    max_annotation_gap_s: float = 1.5
    timestamp_tolerance_us: int = 2_000
    crop_min_canvas_m2: float = 1.0e6
    crop_margin_m: float = 50.0
    route: RouteConfig = field(default_factory=RouteConfig)


@dataclass(frozen=True)
class SceneInfo:
    """A scene of a dataroot, without loading it.

    - name, token, description: the scene record's.
    - duration_s: time from the first to the last ego pose the scenario is built from.
    - num_actors: annotated instances in the scene.
    - map_name: the log's location, i.e. the map file's name.
    - num_ego_poses: ego poses the ego log is built from (LIDAR_TOP sweeps, else keyframes).
    """

    name: str
    token: str
    description: str
    duration_s: float
    num_actors: int
    map_name: str
    num_ego_poses: int


def actor_kind(category: str) -> ActorKind:
    """The ActorKind of a nuScenes category name; a DatasetError for names outside the taxonomy."""
    if category in ("vehicle.bicycle", "vehicle.motorcycle"):
        return ActorKind.CYCLIST
    if category.startswith("vehicle."):
        return ActorKind.VEHICLE
    if category.startswith("human.") or category.split(".")[0] == "animal":
        return ActorKind.PEDESTRIAN
    if category.startswith(("movable_object.", "static_object.")):
        return ActorKind.STATIC
    raise DatasetError(f"category {category!r} is not in the nuScenes taxonomy (vehicle.*, human.*, animal, "
                       "movable_object.*, static_object.*): rename it in category.json to a nuScenes category")


def interpolate_track(t_src_us: np.ndarray, xyz: np.ndarray, yaw_rad: np.ndarray,
                      t_grid_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poses at grid times: linear position, shortest-arc yaw; clamped outside the source span.

    t_src_us: (S,) increasing int64; xyz: (S, 3) global metres; yaw_rad: (S,); t_grid_us: (T,).
    Returns xyz (T, 3) and yaw_rad (T,) wrapped to [-pi, pi).
    """
    # Relative times keep float64 exact (absolute timestamps are ~1e15 us).
    t_src = (np.asarray(t_src_us, np.int64) - t_grid_us[0]).astype(np.float64)
    t_grid = (np.asarray(t_grid_us, np.int64) - t_grid_us[0]).astype(np.float64)
    xyz_out = np.stack([np.interp(t_grid, t_src, xyz[:, k]) for k in range(3)], axis=-1)
    # unwrap makes each consecutive step the shortest arc, so linear interpolation follows it.
    yaw_out = wrap_angle(np.interp(t_grid, t_src, np.unwrap(yaw_rad)))
    return xyz_out, yaw_out


def finite_difference_velocity(xy: np.ndarray, valid: np.ndarray, dt_s: float) -> np.ndarray:
    """Velocities (..., T, 2) of positions (..., T, 2) on a uniform grid.

    Central differences where both neighbours are valid, one-sided at the ends of a valid span,
    zero at isolated or invalid steps.
    """
    if xy.shape[-2] < 2:
        return np.zeros(xy.shape, dtype=np.float64)
    step = np.diff(xy, axis=-2) / dt_s  # (..., T-1, 2): velocity between t and t+1
    step_ok = valid[..., 1:] & valid[..., :-1]
    fwd = np.zeros(xy.shape, dtype=np.float64)
    bwd = np.zeros(xy.shape, dtype=np.float64)
    has_fwd = np.zeros(valid.shape, bool)
    has_bwd = np.zeros(valid.shape, bool)
    fwd[..., :-1, :], has_fwd[..., :-1] = step, step_ok
    bwd[..., 1:, :], has_bwd[..., 1:] = step, step_ok
    both = has_fwd & has_bwd
    v = np.where(both[..., None], 0.5 * (fwd + bwd), np.where(has_fwd[..., None], fwd, bwd))
    return np.where((valid & (has_fwd | has_bwd))[..., None], v, 0.0)


def annotated_span_mask(t_ann_us: np.ndarray, t_grid_us: np.ndarray, max_gap_us: int, tolerance_us: int) -> np.ndarray:
    """(T,) bool: grid times inside an actor's annotated span, not inside a gap > max_gap_us.

    t_ann_us: (A,) increasing annotation times. Grid times within tolerance_us of an annotation
    count as annotated.
    """
    t_ann = np.asarray(t_ann_us, np.int64)
    nearest = np.abs(t_grid_us[:, None] - t_ann[None, :]).min(axis=1)
    near_annotation = nearest <= tolerance_us
    inside = (t_grid_us >= t_ann[0]) & (t_grid_us <= t_ann[-1])
    if len(t_ann) > 1:
        before = np.clip(np.searchsorted(t_ann, t_grid_us, side="right") - 1, 0, len(t_ann) - 2)
        inside &= np.diff(t_ann)[before] <= max_gap_us
    return inside | near_annotation


class NuScenesSource:
    """One dataroot's tables and maps, loaded once and shared by every scene loaded from it.

    Construction loads and checks the tables (a DatasetError names what is wrong); maps are
    loaded on first use and cached by name, as are discretised lane centerlines and, for maps
    kept whole, the RoadMap itself.
    """

    def __init__(self, dataroot: str | Path, version: str = "v1.0-mini", config: AdapterConfig | None = None):
        self.dataroot = Path(dataroot).resolve()
        self.version = version
        self.config = config or AdapterConfig()
        self.nusc = _load_tables(self.dataroot, version)
        self._scenes_by_name = {s["name"]: s for s in self.nusc.scene}
        self._samples_by_scene: dict[str, list[dict]] = defaultdict(list)
        for sample in self.nusc.sample:
            self._samples_by_scene[sample["scene_token"]].append(sample)
        for samples in self._samples_by_scene.values():
            samples.sort(key=lambda s: s["timestamp"])
        scene_of_sample = {s["token"]: s["scene_token"] for s in self.nusc.sample}
        self._ego_pose_sample_data: dict[str, list[dict]] = defaultdict(list)
        for sd in self.nusc.sample_data:
            if sd["channel"] != EGO_POSE_CHANNEL:
                continue
            if sd["sample_token"] not in scene_of_sample:
                raise self._link_error("sample_data", sd["token"], "sample_token", "sample", sd["sample_token"])
            self._ego_pose_sample_data[scene_of_sample[sd["sample_token"]]].append(sd)
        self._maps: dict[str, NuScenesMap] = {}
        self._centerlines: dict[tuple[str, str], np.ndarray | None] = {}
        self._whole_maps: dict[str, RoadMap] = {}

    # ---- public API -------------------------------------------------------------------------

    @property
    def scene_names(self) -> list[str]:
        return [s["name"] for s in self.nusc.scene]

    def list_scenes(self) -> list[SceneInfo]:
        infos = []
        for scene in self.nusc.scene:
            t_us, _, _ = self._ego_poses(scene)
            instances = {self._record("sample_annotation", a, "sample", s["token"], "anns")["instance_token"]
                         for s in self._samples_by_scene[scene["token"]] for a in s["anns"]}
            infos.append(SceneInfo(
                name=scene["name"], token=scene["token"], description=scene.get("description", ""),
                duration_s=(int(t_us[-1]) - int(t_us[0])) * 1e-6, num_actors=len(instances),
                map_name=self._log(scene)["location"], num_ego_poses=len(t_us)))
        return infos

    def load_scenario(self, scene_name: str) -> Scenario:
        scene = self._scene(scene_name)
        log = self._log(scene)
        t_pose_us, xyz_pose, q_pose = self._ego_poses(scene)
        span_us = t_pose_us[-1] - t_pose_us[0] + self.config.timestamp_tolerance_us
        num_steps = int(span_us // STEP_US) + 1
        t_us = t_pose_us[0] + STEP_US * np.arange(num_steps, dtype=np.int64)
        ego = _ego_log(t_pose_us, xyz_pose, q_pose, t_us)
        actors = self._actor_tracks(scene, t_us)
        road_map = self._road_map(log["location"], ego, actors)
        return Scenario(
            name=scene["name"],
            t_us=t_us,
            map=road_map,
            ego=ego,
            actors=actors,
            cameras=self._camera_rig(scene),
            route=build_route(road_map, ego, self.config.route),
            metadata={
                "source": SOURCE_NAME,
                "dataroot": str(self.dataroot),
                "version": self.version,
                "scene_token": scene["token"],
                "log_token": log["token"],
                "logfile": str(log.get("logfile", "")),
                "location": log["location"],
            },
        )

    # ---- records ----------------------------------------------------------------------------

    def _table_path(self, table: str) -> Path:
        return self.dataroot / self.version / f"{table}.json"

    def _link_error(self, table: str, token: str, field_name: str, target: str, missing: str) -> DatasetError:
        return DatasetError(
            f"{self._table_path(table)}: record {token} has {field_name} {missing!r}, which is not in "
            f"{self._table_path(target)}. The dataset is inconsistent: repair the link or re-export it.")

    def _record(self, table: str, token: str, referrer_table: str, referrer_token: str, field_name: str) -> dict:
        """nusc.get with a DatasetError naming the referring record when the token is dangling."""
        try:
            return self.nusc.get(table, token)
        except KeyError:
            raise self._link_error(referrer_table, referrer_token, field_name, table, token) from None

    def _scene(self, scene_name: str) -> dict:
        try:
            return self._scenes_by_name[scene_name]
        except KeyError:
            raise DatasetError(
                f"scene {scene_name!r} is not in {self._table_path('scene')}; available scenes: "
                f"{', '.join(self.scene_names) or '(none)'}") from None

    def _log(self, scene: dict) -> dict:
        return self._record("log", scene["log_token"], "scene", scene["token"], "log_token")

    def _samples(self, scene: dict) -> list[dict]:
        samples = self._samples_by_scene.get(scene["token"])
        if not samples:
            raise DatasetError(f"{self._table_path('scene')}: scene {scene['name']!r} ({scene['token']}) has no "
                               f"samples in {self._table_path('sample')}: the scene cannot be replayed")
        return samples

    # ---- ego --------------------------------------------------------------------------------

    def _ego_poses(self, scene: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The scene's ego poses sorted by time: t_us (S,) int64, xyz (S, 3), q_wxyz (S, 4)."""
        sample_data = self._ego_pose_sample_data.get(scene["token"])
        if not sample_data:
            # No LIDAR_TOP: one pose per keyframe, from the sample_data closest to the sample time.
            sample_data = []
            for sample in self._samples(scene):
                records = [self._record("sample_data", token, "sample", sample["token"], "data")
                           for token in sample["data"].values()]
                if records:
                    sample_data.append(min(records, key=lambda sd: abs(sd["timestamp"] - sample["timestamp"])))
        poses = [self._record("ego_pose", sd["ego_pose_token"], "sample_data", sd["token"], "ego_pose_token")
                 for sd in sample_data]
        if not poses:
            raise DatasetError(f"{self._table_path('sample_data')}: scene {scene['name']!r} has no sample_data "
                               "with an ego pose: the ego cannot be replayed")
        t_us = np.array([p["timestamp"] for p in poses], dtype=np.int64)
        t_us, first = np.unique(t_us, return_index=True)  # sorted; repeated timestamps kept once
        xyz = np.array([poses[i]["translation"] for i in first], dtype=np.float64)
        q = np.array([poses[i]["rotation"] for i in first], dtype=np.float64)
        return t_us, xyz, q

    # ---- actors -----------------------------------------------------------------------------

    def _actor_tracks(self, scene: dict, t_us: np.ndarray) -> ActorTracks:
        annotations: dict[str, list[tuple[int, dict]]] = defaultdict(list)  # first-seen order
        for sample in self._samples(scene):
            for token in sample["anns"]:
                ann = self._record("sample_annotation", token, "sample", sample["token"], "anns")
                annotations[ann["instance_token"]].append((sample["timestamp"], ann))
        cfg = self.config
        max_gap_us = int(round(cfg.max_annotation_gap_s * 1e6))
        tokens, categories, sizes, xyzs, yaws, valids = [], [], [], [], [], []
        for instance_token, anns in annotations.items():
            anns.sort(key=lambda item: item[0])
            t_ann = np.array([t for t, _ in anns], dtype=np.int64)
            t_ann, first = np.unique(t_ann, return_index=True)
            records = [anns[i][1] for i in first]
            valid = annotated_span_mask(t_ann, t_us, max_gap_us, cfg.timestamp_tolerance_us)
            if not valid.any():  # annotated only between two grid steps: nothing to replay
                continue
            xyz = np.array([r["translation"] for r in records], dtype=np.float64)
            yaw = yaw_from_quaternion(np.array([r["rotation"] for r in records], dtype=np.float64))
            xyz_grid, yaw_grid = interpolate_track(t_ann, xyz, yaw, t_us)
            instance = self._record("instance", instance_token, "sample_annotation", records[0]["token"],
                                    "instance_token")
            category = self._record("category", instance["category_token"], "instance", instance_token,
                                    "category_token")["name"]
            tokens.append(instance_token)
            categories.append(category)
            # Box sizes are constant per instance in nuScenes; the median absorbs per-frame jitter
            # of converted datasets.
            sizes.append(np.median(np.array([r["size"] for r in records], dtype=np.float64), axis=0))
            xyzs.append(xyz_grid)
            yaws.append(yaw_grid)
            valids.append(valid)
        num_steps = len(t_us)
        xyz = np.array(xyzs, dtype=np.float64).reshape(len(tokens), num_steps, 3)
        valid = np.array(valids, dtype=bool).reshape(len(tokens), num_steps)
        return ActorTracks(
            instance_tokens=np.array(tokens, dtype=str),
            category=np.array(categories, dtype=str),
            kind=np.array([actor_kind(c) for c in categories], dtype=np.int8),
            size_wlh_m=np.array(sizes, dtype=np.float64).reshape(len(tokens), 3),
            xy=xyz[..., :2].copy(),
            z=xyz[..., 2].copy(),
            yaw_rad=np.array(yaws, dtype=np.float64).reshape(len(tokens), num_steps),
            velocity_xy_mps=finite_difference_velocity(xyz[..., :2], valid, DT_S),
            valid=valid,
        )

    # ---- cameras ----------------------------------------------------------------------------

    def _camera_rig(self, scene: dict) -> CameraRig:
        first_keyframe: dict[str, dict] = {}  # camera channel -> its first keyframe sample_data
        seen: set[str] = set()
        for sample in self._samples(scene):
            for channel, token in sample["data"].items():
                if channel not in seen:
                    seen.add(channel)
                    sd = self._record("sample_data", token, "sample", sample["token"], "data")
                    if sd["sensor_modality"] == "camera":
                        first_keyframe[channel] = sd
        names = [c for c in CAMERA_ORDER if c in first_keyframe]
        names += sorted(set(first_keyframe) - set(CAMERA_ORDER))
        intrinsics, poses, widths, heights = [], [], [], []
        for name in names:
            sd = first_keyframe[name]
            cs = self._record("calibrated_sensor", sd["calibrated_sensor_token"], "sample_data", sd["token"],
                              "calibrated_sensor_token")
            k = np.asarray(cs.get("camera_intrinsic") or [], dtype=np.float64)
            if k.shape != (3, 3):
                raise DatasetError(f"{self._table_path('calibrated_sensor')}: record {cs['token']} ({name}) has "
                                   f"camera_intrinsic of shape {k.shape}, not 3x3: add the camera's K")
            intrinsics.append(k)
            poses.append(pose_matrix(rotation_matrix_from_quaternion(np.asarray(cs["rotation"], np.float64)),
                                     np.asarray(cs["translation"], np.float64)))
            # sample_data without image sizes (0 or absent) get nuScenes' size.
            widths.append(sd.get("width") or DEFAULT_IMAGE_WIDTH_PX)
            heights.append(sd.get("height") or DEFAULT_IMAGE_HEIGHT_PX)
        num_cameras = len(names)
        return CameraRig(
            names=np.array(names, dtype=str),
            intrinsics=np.array(intrinsics, dtype=np.float64).reshape(num_cameras, 3, 3),
            pose_camera_to_ego=np.array(poses, dtype=np.float64).reshape(num_cameras, 4, 4),
            width_px=np.array(widths, dtype=np.int64),
            height_px=np.array(heights, dtype=np.int64),
        )

    # ---- map --------------------------------------------------------------------------------

    def _map(self, location: str) -> NuScenesMap:
        if location in self._maps:
            return self._maps[location]
        path = self.dataroot / "maps" / "expansion" / f"{location}.json"
        if location not in DEVKIT_MAP_NAMES:
            raise DatasetError(f"{self._table_path('log')}: location {location!r} is not a map nuscenes-devkit 1.2 "
                               f"can load ({', '.join(DEVKIT_MAP_NAMES)}): name the log's location and its map "
                               "file after one of them")
        if not path.is_file():
            raise DatasetError(f"map file {path} is missing (the log's location is {location!r}): put the "
                               f"nuScenes map expansion v{MAP_EXPANSION_VERSION} JSON files into "
                               f"{self.dataroot / 'maps' / 'expansion'}")
        try:
            nmap = NuScenesMap(dataroot=str(self.dataroot), map_name=location)
        except Exception as err:  # noqa: BLE001 - the devkit raises bare Exception/KeyError/JSON errors
            raise _map_load_error(path, err) from None
        if nmap.version != MAP_EXPANSION_VERSION:
            raise _map_version_error(path, nmap.version)
        self._maps[location] = nmap
        return nmap

    def _centerline(self, location: str, nmap: NuScenesMap, token: str) -> np.ndarray | None:
        """Discretised centerline (P, 2) of a lane or connector; None without an arcline path."""
        key = (location, token)
        if key not in self._centerlines:
            poses = np.array(discretize_lane(nmap.arcline_path_3.get(token, []), self.config.lane_resolution_m),
                             dtype=np.float64).reshape(-1, 3)
            # Consecutive arcline pieces share their end points: drop the repeats.
            keep = np.ones(len(poses), bool)
            keep[1:] = np.linalg.norm(np.diff(poses[:, :2], axis=0), axis=1) > 1e-6
            xy = poses[keep, :2]
            self._centerlines[key] = xy if len(xy) >= 2 else None
        return self._centerlines[key]

    def _road_map(self, location: str, ego: EgoLog, actors: ActorTracks) -> RoadMap:
        nmap = self._map(location)
        width_m, height_m = nmap.canvas_edge
        if width_m * height_m <= self.config.crop_min_canvas_m2:
            if location not in self._whole_maps:
                self._whole_maps[location] = self._build_road_map(location, nmap, None)
            return self._whole_maps[location]
        xy = np.concatenate([ego.xy[ego.valid], actors.xy[actors.valid]])
        margin = self.config.crop_margin_m
        patch = (*(xy.min(axis=0) - margin), *(xy.max(axis=0) + margin))
        return self._build_road_map(location, nmap, patch)

    def _build_road_map(self, location: str, nmap: NuScenesMap,
                        patch: tuple[float, float, float, float] | None) -> RoadMap:
        """The map, whole (patch None) or the records intersecting patch (x_min, y_min, x_max, y_max)."""
        layers = ("drivable_area", "lane", "lane_connector", "ped_crossing", "walkway")
        map_path = self.dataroot / "maps" / "expansion" / f"{location}.json"
        try:
            if patch is None:
                selected = {layer: [r["token"] for r in getattr(nmap, layer)] for layer in layers}
            else:
                selected = nmap.get_records_in_patch(patch, list(layers), mode="intersect")
            drivable = [nmap.extract_polygon(token) for record_token in selected["drivable_area"]
                        for token in nmap.get("drivable_area", record_token)["polygon_tokens"]]
            drivable_area = _polygonal(shapely.union_all([shapely.make_valid(p) for p in drivable]))
            if patch is not None:
                drivable_area = _polygonal(drivable_area.intersection(shapely.box(*patch)))
            lanes = self._lane_graph(location, nmap, selected["lane"], selected["lane_connector"])
            ped_crossings = tuple(nmap.extract_polygon(nmap.get("ped_crossing", t)["polygon_token"])
                                  for t in selected["ped_crossing"])
            walkways = tuple(nmap.extract_polygon(nmap.get("walkway", t)["polygon_token"]) for t in selected["walkway"])
        except KeyError as err:
            raise DatasetError(f"{map_path}: a record refers to {err.args[0]!r}, which the map does not hold (a "
                               "broken node, polygon or record link): repair or re-download the map") from None
        return RoadMap(name=location, drivable_area=drivable_area, lanes=lanes, ped_crossings=ped_crossings,
                       walkways=walkways)

    def _lane_graph(self, location: str, nmap: NuScenesMap, lane_tokens: list[str],
                    connector_tokens: list[str]) -> LaneGraph:
        tokens, lines, widths, is_connector = [], [], [], []
        for layer, layer_tokens in (("lane", lane_tokens), ("lane_connector", connector_tokens)):
            for token in layer_tokens:
                line = self._centerline(location, nmap, token)
                if line is None:  # no arcline path: nothing to drive along
                    continue
                polygon_token = nmap.get(layer, token).get("polygon_token")
                area_m2 = nmap.extract_polygon(polygon_token).area if polygon_token else 0.0
                length_m = polyline_arclength(line)[-1]
                # Mean width = area / length; records without a polygon get the default.
                widths.append(area_m2 / length_m if area_m2 > 0 else self.config.default_lane_width_m)
                tokens.append(token)
                lines.append(line)
                is_connector.append(layer == "lane_connector")
        index = {token: i for i, token in enumerate(tokens)}
        successors = [[index[t] for t in nmap.connectivity.get(token, {}).get("outgoing", []) if t in index]
                      for token in tokens]
        return LaneGraph(
            tokens=np.array(tokens, dtype=str),
            centerline_xy=np.concatenate(lines) if lines else np.zeros((0, 2)),
            offsets=np.concatenate([[0], np.cumsum([len(line) for line in lines])]).astype(np.int64),
            width_m=np.array(widths, dtype=np.float64),
            is_connector=np.array(is_connector, dtype=bool),
            successor_offsets=np.concatenate([[0], np.cumsum([len(s) for s in successors])]).astype(np.int64),
            successor_indices=np.array([i for s in successors for i in s], dtype=np.int64),
        )


def list_scenes(dataroot: str | Path, version: str = "v1.0-mini") -> list[SceneInfo]:
    """The scenes of a nuScenes-layout dataroot."""
    return NuScenesSource(dataroot, version).list_scenes()


def load_scenario(dataroot: str | Path, scene_name: str, version: str = "v1.0-mini",
                  config: AdapterConfig | None = None) -> Scenario:
    """One scene as a Scenario. Loading many scenes? Use one NuScenesSource for all of them."""
    return NuScenesSource(dataroot, version, config).load_scenario(scene_name)


# ---- route ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LaneRun:
    """Consecutive ego steps matched to one lane: lane index, step count, arclength on the lane at
    the first and last of those steps."""

    lane: int
    num_steps: int
    s_enter_m: float
    s_exit_m: float


def build_route(road_map: RoadMap, ego: EgoLog, config: RouteConfig) -> Route:
    """The lanes the ego drove, the route centerline and the driving command at each step.

    Each valid ego pose is matched to a lane (nearest, heading-aware); runs of the same lane are
    collapsed; short runs that break connectivity are dropped as matching noise; lanes the ego
    crossed without being matched are filled in from successor links. Where consecutive lanes
    are not linked (a lane change), the centerline leaves the first lane where the ego last was
    on it and joins the next where the ego first was on it, so it follows the ego. Without any
    matched lane, the centerline is the ego's own path.
    """
    lanes = road_map.lanes
    steps = np.flatnonzero(ego.valid)
    chunk = config.match_chunk_points
    matched_lane, matched_s = [], []
    for start in range(0, len(steps), chunk):
        idx = steps[start:start + chunk]
        match = road_map.nearest_lane(ego.xy[idx], ego.yaw_rad[idx])
        matched_lane.append(match.lane)
        matched_s.append(match.s_m)
    lane_per_step = np.concatenate(matched_lane) if matched_lane else np.zeros(0, np.int64)
    s_per_step = np.concatenate(matched_s) if matched_s else np.zeros(0)
    on_lane = lane_per_step >= 0
    runs = _drop_noise_runs(_lane_runs(lane_per_step[on_lane], s_per_step[on_lane]), lanes, config)

    # Per route lane: (lane, arclength where its piece starts, where it ends); None: the lane's end.
    legs: list[tuple[int, float | None, float | None]] = []
    for i, run in enumerate(runs):
        if i == 0:
            legs.append((run.lane, None, None))
            continue
        path = _lane_path(lanes, runs[i - 1].lane, run.lane, config.max_bridge_lanes)
        if path is None:  # not linked: a lane change; cut the previous leg where the ego left it
            prev_lane, prev_start, _ = legs[-1]
            legs[-1] = (prev_lane, prev_start, runs[i - 1].s_exit_m)
            legs.append((run.lane, run.s_enter_m, None))
        else:  # linked: whole lanes, including any the ego crossed unmatched
            legs.extend((lane, None, None) for lane in path[1:])
    pieces = [_polyline_between(lanes.centerline(lane), 0.0 if s_start is None else s_start,
                                lanes.lane_length_m[lane] if s_end is None else s_end)
              for lane, s_start, s_end in legs]
    centerline = _drop_repeated_points(np.concatenate(pieces) if pieces else ego.xy[ego.valid])
    return Route(
        lane_indices=np.array([lane for lane, _, _ in legs], dtype=np.int64),
        centerline_xy=centerline,
        driving_command=driving_commands(centerline, ego.xy, ego.yaw_rad, config.command),
    )


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


def _lane_runs(lane_per_step: np.ndarray, s_per_step: np.ndarray) -> list[_LaneRun]:
    if len(lane_per_step) == 0:
        return []
    starts = np.flatnonzero(np.concatenate([[True], lane_per_step[1:] != lane_per_step[:-1]]))
    ends = np.concatenate([starts[1:], [len(lane_per_step)]])
    return [_LaneRun(int(lane_per_step[a]), int(b - a), float(s_per_step[a]), float(s_per_step[b - 1]))
            for a, b in zip(starts, ends)]


def _drop_noise_runs(runs: list[_LaneRun], lanes: LaneGraph, config: RouteConfig) -> list[_LaneRun]:
    """Remove short runs not linked to both neighbours, merging neighbours that become equal."""
    def linked(a: _LaneRun | None, b: _LaneRun | None) -> bool:
        return a is None or b is None or _lane_path(lanes, a.lane, b.lane, config.max_bridge_lanes) is not None

    runs = list(runs)
    changed = True
    while changed and len(runs) > 1:
        changed = False
        for i, run in enumerate(runs):
            prev = runs[i - 1] if i > 0 else None
            nxt = runs[i + 1] if i + 1 < len(runs) else None
            if run.num_steps >= config.min_run_steps or (linked(prev, run) and linked(run, nxt)):
                continue
            if prev is not None and nxt is not None and prev.lane == nxt.lane:
                merged = _LaneRun(prev.lane, prev.num_steps + nxt.num_steps, prev.s_enter_m, nxt.s_exit_m)
                runs[i - 1:i + 2] = [merged]
            else:
                del runs[i]
            changed = True
            break
    return runs


def _lane_path(lanes: LaneGraph, start: int, goal: int, max_bridge_lanes: int) -> list[int] | None:
    """Shortest successor path [start, ..., goal] with at most max_bridge_lanes lanes between; None if none."""
    if start == goal:
        return [start]
    frontier, parent = [start], {start: start}
    for _ in range(max_bridge_lanes + 1):
        next_frontier = []
        for lane in frontier:
            for nxt in lanes.successors(lane):
                nxt = int(nxt)
                if nxt in parent:
                    continue
                parent[nxt] = lane
                if nxt == goal:
                    path = [goal]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1]
                next_frontier.append(nxt)
        frontier = next_frontier
    return None


def _polyline_between(line: np.ndarray, s_start_m: float, s_end_m: float) -> np.ndarray:
    """The part of a polyline (P, 2) between two arclengths, end points interpolated."""
    s = polyline_arclength(line)
    s_end_m = max(s_end_m, s_start_m)
    ends, _ = interpolate_polyline(line, np.array([s_start_m, s_end_m]))
    inner = line[(s > s_start_m) & (s < s_end_m)]
    return np.concatenate([ends[:1], inner, ends[1:]])


def _drop_repeated_points(xy: np.ndarray, tolerance_m: float = 1e-3) -> np.ndarray:
    """Polyline (P, 2) without points repeating their predecessor (lane ends meet at shared nodes)."""
    if len(xy) < 2:
        return np.asarray(xy, dtype=np.float64)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(xy, axis=0), axis=1) > tolerance_m])
    return xy[keep]


# ---- ego log ----------------------------------------------------------------------------------


def _ego_log(t_pose_us: np.ndarray, xyz_pose: np.ndarray, q_pose: np.ndarray, t_us: np.ndarray) -> EgoLog:
    xyz, yaw = interpolate_track(t_pose_us, xyz_pose, yaw_from_quaternion(q_pose), t_us)
    valid = np.ones(len(t_us), dtype=bool)
    velocity = finite_difference_velocity(xyz[:, :2], valid, DT_S)
    # Signed speed: the velocity's component along the heading (negative when reversing).
    speed = velocity[:, 0] * np.cos(yaw) + velocity[:, 1] * np.sin(yaw)
    return EgoLog(xy=xyz[:, :2].copy(), z=xyz[:, 2].copy(), yaw_rad=yaw, speed_mps=speed, valid=valid)


# ---- loading and its errors -------------------------------------------------------------------


def _load_tables(dataroot: Path, version: str) -> NuScenes:
    table_root = dataroot / version
    if not dataroot.is_dir():
        raise DatasetError(f"dataroot {dataroot} does not exist: pass the folder that contains {version}/ and maps/")
    missing = [str(table_root / f"{t}.json") for t in TABLE_NAMES if not (table_root / f"{t}.json").is_file()]
    if missing:
        # A folder of dataroots (like ../shared/data/nuscenes-real) is a common mix-up: name them.
        below = sorted(str(p.parent) for p in dataroot.glob(f"*/{version}"))[:5]
        hint = f" Dataroots below it: {', '.join(below)}." if below else ""
        raise DatasetError(f"{dataroot} is not a nuScenes dataroot for version {version!r}: missing "
                           f"{', '.join(missing)}. Pass the dataroot that contains {version}/ (and maps/), "
                           f"or the right version.{hint}")
    # NuScenes() asserts that every map record's PNG mask exists; check first to name the file.
    for record in _read_table(table_root, "map"):
        png = dataroot / str(record.get("filename", ""))
        if not png.is_file():
            raise DatasetError(f"{table_root / 'map.json'}: record {record.get('token')} names the map mask {png}, "
                               "which is missing. nuscenes-devkit needs it to load the tables: restore the "
                               "maps/*.png files of the dataset.")
    try:
        return NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    except json.JSONDecodeError:
        for table in TABLE_NAMES:
            _read_table(table_root, table)  # raises the DatasetError naming the broken table
        raise
    except KeyError as err:
        raise _broken_link_error(table_root, err.args[0] if err.args else "") from None
    except Exception as err:  # noqa: BLE001 - the devkit signals bad records with bare Exception/AssertionError
        raise DatasetError(f"nuscenes-devkit could not load the tables in {table_root}: "
                           f"{type(err).__name__}: {err}. Repair or re-export the dataset.") from None


def _read_table(table_root: Path, table: str) -> list[dict]:
    path = table_root / f"{table}.json"
    try:
        with open(path) as f:
            records = json.load(f)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path} is not valid JSON ({err}): restore the file from the dataset") from None
    if not isinstance(records, list):
        raise DatasetError(f"{path} holds a {type(records).__name__}, not a list of records: restore the file")
    return records


def _broken_link_error(table_root: Path, missing: str) -> DatasetError:
    """Explain the KeyError NuScenes() raised while indexing: which record links to what."""
    for table, field_name, target in _INDEXED_LINKS:
        for record in _read_table(table_root, table):
            if record.get(field_name) == missing:
                return DatasetError(
                    f"{table_root / (table + '.json')}: record {record.get('token')} has {field_name} {missing!r}, "
                    f"which is not in {table_root / (target + '.json')}. The dataset is inconsistent: repair "
                    "the link or re-export it.")
    if any(log.get("token") == missing for log in _read_table(table_root, "log")):
        return DatasetError(f"{table_root / 'log.json'}: log {missing!r} is in no log_tokens list of "
                            f"{table_root / 'map.json'}: add it to its map record")
    return DatasetError(f"{table_root}: nuscenes-devkit looked up {missing!r} while indexing the tables and no "
                        "table holds it (a broken token link or a record missing a field): repair or re-export "
                        "the dataset")


def _map_version_error(path: Path, version: str) -> DatasetError:
    return DatasetError(f"{path} is map expansion version {version!r}; nuscenes-devkit 1.2 and this adapter read "
                        f"version {MAP_EXPANSION_VERSION!r}: download the v{MAP_EXPANSION_VERSION} map expansion "
                        "or re-convert the map")


def _map_load_error(path: Path, err: Exception) -> DatasetError:
    """Explain why NuScenesMap() failed on a map file that exists."""
    try:
        with open(path) as f:
            content = json.load(f)
    except json.JSONDecodeError as json_err:
        return DatasetError(f"{path} is not valid JSON ({json_err}): restore the map file")
    version = content.get("version", "1.0") if isinstance(content, dict) else None
    if version != MAP_EXPANSION_VERSION:
        return _map_version_error(path, str(version))
    if isinstance(err, KeyError):
        return DatasetError(f"{path}: the map lacks {err.args[0]!r} (a layer or a record a link points to): "
                            "repair or re-download the map")
    return DatasetError(f"nuscenes-devkit could not load {path}: {type(err).__name__}: {err}")


def _polygonal(geometry: shapely.Geometry) -> Polygon | MultiPolygon:
    """The polygonal part of a geometry (unions and clips can add stray lines and points)."""
    if isinstance(geometry, (Polygon, MultiPolygon)):
        return geometry
    parts = [p for p in shapely.get_parts(geometry) if isinstance(p, (Polygon, MultiPolygon))]
    polygons = [q for p in parts for q in (p.geoms if isinstance(p, MultiPolygon) else [p])]
    return MultiPolygon(polygons) if polygons else Polygon()
