"""Initial Gaussians of a reconstruction, and the split of Gaussians between background and actors.

What the log has decides the initial points (`initial_points`):
- lidar: LIDAR_TOP sweep points where the sweep files exist (`data.lidar_points`);
- otherwise the map: random points on the drivable surface near the ego's path, points on
  vertical bands beside the road (facades, trees, parked things: the map has no buildings),
  and points on a far cylinder around the path (distant buildings and vegetation) — all at
  the ground height of the ego log.
Each point takes the median colour of the training images it projects into (front of the
camera, inside the image); points no image sees are dropped.

Actors: every point inside an actor's box at the point's time (lidar: the sweep's time; map
points: any frame) and more than `ground_clearance_m` above the box bottom belongs to that
actor and is moved into its box frame (`assign_to_boxes`); boxes with no such point get
points on their surface (`box_surface_points`). `split_scene` does the same to a finished
GaussianScene (the hand-checked test case).

Gaussians from points follow the 3DGS initialisation: isotropic, scale = root mean squared
distance to the 3 nearest neighbours, identity rotation, opacity 0.1, SH DC from the colour.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from render.gaussians import GaussianScene, rgb_to_sh0
from render.reconstruct.data import FrameSet
from sim.geometry import invert_pose


@dataclass(frozen=True)
class InitConfig:
    """How the initial points are made. Lengths in metres.

    - max_background_points: lidar or map points kept for the background (random subset).
    - road_points, roadside_points, far_points: counts of map-based points of each kind.
    - path_radius_m: map points are made within this distance of the ego's path.
    - roadside_offset_m: (min, max) distance of roadside bands from the drivable area's edge.
    - roadside_height_m: roadside bands span the ground up to this height.
    - far_radius_m: radius of the far cylinder around the path's centre (None: 1.5 x the
      path's extent + path_radius_m); far_height_m: its height above the ground.
    - actor_points_per_m2: points per square metre of box surface for actors without points
      (at least 30, at most 400 per actor).
    - ground_clearance_m: points less than this above a box's bottom stay in the background
      (the road under a car).
    - box_margin_m: boxes are grown by this on every side when assigning points.
    - init_opacity: opacity of every initial Gaussian; max_init_scale_m: scale cap.
    - seed: random stream of every sample.
    """

    max_background_points: int = 200_000
    road_points: int = 60_000
    roadside_points: int = 60_000
    far_points: int = 20_000
    path_radius_m: float = 60.0
    roadside_offset_m: tuple[float, float] = (2.0, 12.0)
    roadside_height_m: float = 12.0
    far_radius_m: float | None = None
    far_height_m: float = 40.0
    actor_points_per_m2: float = 20.0
    ground_clearance_m: float = 0.1
    box_margin_m: float = 0.1
    init_opacity: float = 0.1
    max_init_scale_m: float = 3.0
    seed: int = 0

    def with_budget(self, points: int) -> "InitConfig":
        """The same settings for about `points` background points: lidar subsampled to it, map
        points split 40 % road, 40 % roadside, 20 % far."""
        from dataclasses import replace

        return replace(self, max_background_points=points, road_points=int(0.4 * points),
                       roadside_points=int(0.4 * points), far_points=int(0.2 * points))


@dataclass(frozen=True, eq=False)
class InitialScene:
    """The initial Gaussians: background (global frame) and one set per actor (its box frame).

    - background: GaussianScene; actors: list of M GaussianScene (possibly empty);
    - source: "lidar", "map", "stereo", "depth" or "given" (what the points came from).
    """

    background: GaussianScene
    actors: list[GaussianScene] = field(default_factory=list)
    source: str = "given"


def gaussians_from_points(xyz: np.ndarray, rgb: np.ndarray, sh_degree: int = 0, opacity: float = 0.1,
                          max_scale_m: float = 3.0, min_scale_m: float = 1e-3) -> GaussianScene:
    """3DGS initialisation of points (P, 3) with colours (P, 3) in [0, 1] (see the module docstring)."""
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    p = len(xyz)
    if p == 0:
        return GaussianScene.empty(sh_degree)
    if p > 1:
        k = min(4, p)
        dist, _ = cKDTree(xyz).query(xyz, k=k)
        scale = np.sqrt(np.mean(dist[:, 1:] ** 2, axis=1))
    else:
        scale = np.full(1, 0.1)
    scale = np.clip(scale, min_scale_m, max_scale_m)
    sh = np.zeros((p, (sh_degree + 1) ** 2, 3), np.float32)
    sh[:, 0] = rgb_to_sh0(np.clip(rgb, 0.0, 1.0))
    quats = np.zeros((p, 4), np.float32)
    quats[:, 0] = 1.0
    logit = np.log(opacity / (1.0 - opacity))
    return GaussianScene(means=xyz.astype(np.float32), quats_wxyz=quats,
                         log_scales=np.repeat(np.log(scale)[:, None], 3, axis=1).astype(np.float32),
                         opacity_logits=np.full(p, logit, np.float32), sh=sh)


def points_in_box(points_box: np.ndarray, size_wlh_m: np.ndarray, margin_m: float = 0.0,
                  ground_clearance_m: float = 0.0) -> np.ndarray:
    """(P,) bool: box-frame points (P, 3) inside a box of size (w, l, h) grown by margin_m,
    excluding the bottom ground_clearance_m."""
    half = np.array([size_wlh_m[1], size_wlh_m[0], size_wlh_m[2]]) / 2.0 + margin_m
    inside = np.all(np.abs(points_box) <= half, axis=1)
    return inside & (points_box[:, 2] >= -size_wlh_m[2] / 2.0 + ground_clearance_m)


def assign_to_boxes(points: np.ndarray, pose_box_to_world: np.ndarray, size_wlh_m: np.ndarray, present: np.ndarray,
                    margin_m: float = 0.0, ground_clearance_m: float = 0.0) -> np.ndarray:
    """(P,) int: the actor whose box (M poses (M, 4, 4), sizes (M, 3), present (M,)) holds each
    world point (P, 3), -1 for none; a point in several boxes goes to the one whose centre is nearest."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    owner = np.full(len(points), -1, np.int64)
    best = np.full(len(points), np.inf)
    for j in np.flatnonzero(np.asarray(present, bool)):
        to_box = invert_pose(pose_box_to_world[j])
        local = points @ to_box[:3, :3].T + to_box[:3, 3]
        inside = points_in_box(local, size_wlh_m[j], margin_m, ground_clearance_m)
        dist = np.linalg.norm(local, axis=1)
        take = inside & (dist < best)
        owner[take] = j
        best[take] = dist[take]
    return owner


def split_scene(scene: GaussianScene, pose_box_to_world: np.ndarray, size_wlh_m: np.ndarray, present: np.ndarray,
                margin_m: float = 0.0, ground_clearance_m: float = 0.0) -> tuple[GaussianScene, list[GaussianScene]]:
    """A global-frame scene split into the background and one asset per actor, each in its box
    frame (means, rotations and view-dependent SH moved by the inverse box pose)."""
    owner = assign_to_boxes(scene.means, pose_box_to_world, size_wlh_m, present, margin_m, ground_clearance_m)
    actors = [scene.subset(owner == j).transformed(invert_pose(pose_box_to_world[j]))
              for j in range(len(size_wlh_m))]
    return scene.subset(owner < 0), actors


def box_surface_points(size_wlh_m: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 3) points spread over the surface of a box (box frame), by face area."""
    half = np.array([size_wlh_m[1], size_wlh_m[0], size_wlh_m[2]]) / 2.0
    areas = np.array([half[1] * half[2], half[1] * half[2], half[0] * half[2], half[0] * half[2],
                      half[0] * half[1], half[0] * half[1]])
    face = rng.choice(6, size=count, p=areas / areas.sum())
    pts = rng.uniform(-1.0, 1.0, (count, 3)) * half
    axis = face // 2
    sign = np.where(face % 2 == 0, 1.0, -1.0)
    pts[np.arange(count), axis] = sign * half[axis]
    return pts


def colors_from_frames(points: np.ndarray, frames: FrameSet, index: np.ndarray | None = None,
                       max_frames: int = 64, point_times_us: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Median colour (P, 3) of the images each world point (P, 3) projects into, and (P,) bool
    seen. index: the frames to use (training frames); point_times_us: only frames within 0.3 s of
    each point's time count (points of moving things)."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    index = np.arange(frames.num_frames) if index is None else np.asarray(index)
    if len(index) > max_frames:
        index = index[np.linspace(0, len(index) - 1, max_frames).round().astype(int)]
    samples = np.full((len(index), len(points), 3), np.nan, np.float32)
    for n, f in enumerate(index):
        cam = points @ frames.viewmats[f, :3, :3].T + frames.viewmats[f, :3, 3]
        z = cam[:, 2]
        k = frames.Ks[f]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = k[0, 0] * cam[:, 0] / z + k[0, 2]
            v = k[1, 1] * cam[:, 1] / z + k[1, 2]
        ok = (z > 0.2) & (u >= 0) & (u < frames.width) & (v >= 0) & (v < frames.height)
        if point_times_us is not None:
            ok &= np.abs(point_times_us - frames.t_us[f]) <= 300_000
        idx = np.flatnonzero(ok)
        samples[n, idx] = frames.images[f, v[idx].astype(int), u[idx].astype(int)]
    seen = np.any(np.isfinite(samples[..., 0]), axis=0)
    rgb = np.full((len(points), 3), 0.5, np.float32)
    if seen.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rgb[seen] = np.nanmedian(samples[:, seen], axis=0)
    return rgb, seen


def map_points(road_map, path_xyz: np.ndarray, config: InitConfig, rng: np.random.Generator) -> np.ndarray:
    """(P, 3) map-based initial points (see the module docstring) around a path (S, 3) of ground points."""
    import shapely
    from shapely.geometry import LineString, Point

    from render.procedural import GroundHeight

    path_xyz = np.asarray(path_xyz, np.float64).reshape(-1, 3)
    ground = GroundHeight(path_xyz[:, :2], path_xyz[:, 2])
    path = Point(*path_xyz[0, :2]) if len(path_xyz) == 1 else LineString(path_xyz[:, :2])
    region = path.buffer(config.path_radius_m)
    drivable = road_map.drivable_area.intersection(region) if road_map is not None else region.buffer(0)
    if drivable.is_empty:
        drivable = path.buffer(6.0)
    shapely.prepare(drivable)

    def sample_in(geometry, n: int) -> np.ndarray:
        if n <= 0 or geometry.is_empty:
            return np.zeros((0, 2))
        x0, y0, x1, y1 = geometry.bounds
        out = []
        have = 0
        for _ in range(50):
            xy = rng.uniform((x0, y0), (x1, y1), (max(4 * n, 1000), 2))
            xy = xy[shapely.contains_xy(geometry, xy[:, 0], xy[:, 1])]
            out.append(xy)
            have += len(xy)
            if have >= n:
                break
        xy = np.concatenate(out)[:n]
        return xy

    road = sample_in(drivable, config.road_points)
    road_xyz = np.column_stack([road, ground(road)]) if len(road) else np.zeros((0, 3))
    lo, hi = config.roadside_offset_m
    band = drivable.buffer(hi).difference(drivable.buffer(lo)).intersection(region)
    side = sample_in(band, config.roadside_points)
    side_z = ground(side) + rng.uniform(0.0, config.roadside_height_m, len(side)) if len(side) else np.zeros(0)
    side_xyz = np.column_stack([side, side_z]) if len(side) else np.zeros((0, 3))
    centre = path_xyz[:, :2].mean(axis=0)
    extent = float(np.max(np.linalg.norm(path_xyz[:, :2] - centre, axis=1))) if len(path_xyz) else 0.0
    radius = config.far_radius_m if config.far_radius_m is not None else 1.5 * extent + config.path_radius_m
    angle = rng.uniform(0, 2 * np.pi, config.far_points)
    far_xy = centre + radius * np.column_stack([np.cos(angle), np.sin(angle)])
    far_z = float(np.median(path_xyz[:, 2])) + rng.uniform(0.0, config.far_height_m, config.far_points)
    far_xyz = np.column_stack([far_xy, far_z])
    return np.concatenate([road_xyz, side_xyz, far_xyz])


def initial_scene(frames: FrameSet, train_index: np.ndarray, config: InitConfig = InitConfig(), sh_degree: int = 0,
                  lidar: tuple[np.ndarray, np.ndarray] | None = None, road_map=None,
                  points: tuple[np.ndarray, np.ndarray] | None = None, points_source: str = "depth") -> InitialScene:
    """The initial background and actor Gaussians of a frame set.

    lidar: (points (P, 3) global, times (P,) us) from `data.lidar_points`; else `points`
    (given (P, 3) points and (P,) times, e.g. back-projected depth); else map-based points of
    road_map around the ego path. Colours come from the training frames. points_source names
    the given points in `InitialScene.source` (e.g. "stereo").
    """
    rng = np.random.default_rng(config.seed)
    if lidar is not None:
        xyz, times, source = lidar[0], lidar[1], "lidar"
    elif points is not None:
        xyz, times, source = points[0], points[1], points_source
    else:
        path = frames.pose_ego_to_global[:, :3, 3]
        xyz = map_points(road_map, path, config, rng)
        times, source = None, "map"
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    if len(xyz) > config.max_background_points:
        pick = rng.choice(len(xyz), config.max_background_points, replace=False)
        xyz = xyz[pick]
        times = None if times is None else np.asarray(times)[pick]
    m = frames.actors.num_actors
    size = frames.actors.size_wlh_m
    owner = np.full(len(xyz), -1, np.int64)
    local = np.zeros_like(xyz)
    if m:
        if times is not None:
            # each point against the boxes at the frame nearest its time
            frame_of = np.abs(np.asarray(times)[:, None] - frames.t_us[None, :]).argmin(axis=1)
            for f in np.unique(frame_of):
                sel = np.flatnonzero(frame_of == f)
                o = assign_to_boxes(xyz[sel], frames.actor_pose_box_to_world[f], size, frames.actor_present[f],
                                    config.box_margin_m, config.ground_clearance_m)
                owner[sel] = o
                for j in np.unique(o[o >= 0]):
                    to_box = invert_pose(frames.actor_pose_box_to_world[f, j])
                    s = sel[o == j]
                    local[s] = xyz[s] @ to_box[:3, :3].T + to_box[:3, 3]
        else:
            # map points have no time: test them against the boxes of up to 32 training frames
            # spread over the log (a parked car's box is the same in all of them)
            frames_used = np.asarray(train_index)
            if len(frames_used) > 32:
                frames_used = frames_used[np.linspace(0, len(frames_used) - 1, 32).round().astype(int)]
            for f in frames_used:
                free = np.flatnonzero(owner < 0)
                o = assign_to_boxes(xyz[free], frames.actor_pose_box_to_world[f], size, frames.actor_present[f],
                                    config.box_margin_m, config.ground_clearance_m)
                owner[free] = o
    rgb, seen = colors_from_frames(xyz, frames, train_index,
                                   point_times_us=None if times is None else np.asarray(times))
    keep_bg = (owner < 0) & seen
    background = gaussians_from_points(xyz[keep_bg], rgb[keep_bg], sh_degree, config.init_opacity,
                                       config.max_init_scale_m)
    actors = []
    for j in range(m):
        present_frames = [f for f in train_index if frames.actor_present[f, j]]
        pts = local[(owner == j) & seen] if times is not None else np.zeros((0, 3))
        if len(pts) < 30 and present_frames:
            half = np.array([size[j, 1], size[j, 0], size[j, 2]]) / 2.0
            area = 8.0 * (half[0] * half[1] + half[1] * half[2] + half[0] * half[2])
            count = int(np.clip(area * config.actor_points_per_m2, 30, 400))
            pts = np.concatenate([pts, box_surface_points(size[j], count, rng)])
        if not present_frames or len(pts) == 0:
            actors.append(GaussianScene.empty(sh_degree))
            continue
        # colour: the point in the world at each frame the actor is present in
        colors = np.full((len(pts), 3), np.nan, np.float32)
        samples = []
        for f in present_frames[:: max(1, len(present_frames) // 16)]:
            pose = frames.actor_pose_box_to_world[f, j]
            world = pts @ pose[:3, :3].T + pose[:3, 3]
            c, s = colors_from_frames(world, frames, np.array([f]))
            c[~s] = np.nan
            samples.append(c)
        if samples:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: points no frame sees
                colors = np.nanmedian(np.stack(samples), axis=0)
        colors = np.where(np.isfinite(colors), colors, 0.5)
        actors.append(gaussians_from_points(pts, colors, sh_degree, config.init_opacity, config.max_init_scale_m))
    return InitialScene(background=background, actors=actors, source=source)
