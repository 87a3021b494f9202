"""Frames to reconstruct from: camera images with their poses, intrinsics and the actors' boxes.

A `FrameSet` is read from a nuScenes-layout dataroot that has its camera images
(`frames_from_nuscenes`, given the devkit's `NuScenes` object, e.g. `NuScenesSource.nusc`, and
the scene's `ActorTracks` for the boxes), or made by rendering a Gaussian scene with known
cameras (`frames_from_renders`, the self-check). `render` may not import `scenarios`, so the
devkit object and the tracks are passed in by the caller (`evaluation.reconstruction`).

Poses: a camera image's world-to-camera view matrix is
inv(pose_ego_to_global(ego_pose of that sample_data) @ pose_camera_to_ego(its calibrated_sensor)),
OpenCV camera axes. Actor boxes at the image's timestamp are interpolated from the scenario's
10 Hz tracks (themselves interpolated from the 2 Hz keyframe annotations: linear position,
shortest-arc yaw); an actor is present in a frame when both bracketing grid steps are valid.
Images are resized to the requested resolution (Lanczos) and K scaled with them; lens
distortion is not modelled (nuScenes' camera images are already undistorted).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sim.errors import DatasetError
from sim.geometry import invert_pose, pose_from_xy_yaw, pose_matrix, rotation_matrix_from_quaternion, wrap_angle
from sim.types.scenario import ActorTracks, CameraRig


@dataclass(frozen=True, eq=False)
class ActorInfo:
    """The M actors of a frame set (nuScenes box convention).

    - instance_tokens: (M,) str; category: (M,) str; kind: (M,) int8 ActorKind.
    - size_wlh_m: (M, 3) box width, length, height (nuScenes order), metres.
    """

    instance_tokens: np.ndarray
    category: np.ndarray
    kind: np.ndarray
    size_wlh_m: np.ndarray

    @property
    def num_actors(self) -> int:
        return len(self.instance_tokens)

    @staticmethod
    def none() -> "ActorInfo":
        return ActorInfo(np.zeros(0, dtype=object), np.zeros(0, dtype=object), np.zeros(0, np.int8), np.zeros((0, 3)))

    @staticmethod
    def of_tracks(actors: ActorTracks) -> "ActorInfo":
        return ActorInfo(np.asarray(actors.instance_tokens, dtype=object).copy(),
                         np.asarray(actors.category, dtype=object).copy(), np.asarray(actors.kind, np.int8).copy(),
                         np.asarray(actors.size_wlh_m, np.float64).reshape(-1, 3).copy())


@dataclass(frozen=True, eq=False)
class FrameSet:
    """F camera images of one scene with everything needed to fit to them. M actors.

    - images: (F, H, W, 3) float32 rgb in [0, 1].
    - viewmats: (F, 4, 4) float64 world-to-camera (OpenCV axes); Ks: (F, 3, 3) for W x H.
    - pose_ego_to_global: (F, 4, 4) ego pose at each image; pose_camera_to_ego: (F, 4, 4).
    - camera_names: (F,) str; t_us: (F,) int64 image timestamps; filenames: (F,) str (the
      source image, "" for rendered frames).
    - actors: ActorInfo; actor_pose_box_to_world: (F, M, 4, 4) float64 box poses at each image
      (box frame: x forward, y left, z up, origin at the box centre); actor_present: (F, M) bool.
    """

    images: np.ndarray
    viewmats: np.ndarray
    Ks: np.ndarray
    pose_ego_to_global: np.ndarray
    pose_camera_to_ego: np.ndarray
    camera_names: np.ndarray
    t_us: np.ndarray
    filenames: np.ndarray
    actors: ActorInfo
    actor_pose_box_to_world: np.ndarray
    actor_present: np.ndarray

    def __post_init__(self) -> None:
        f = self.images.shape[0]
        m = self.actors.num_actors
        checks = {"viewmats": (f, 4, 4), "Ks": (f, 3, 3), "pose_ego_to_global": (f, 4, 4),
                  "pose_camera_to_ego": (f, 4, 4), "camera_names": (f,), "t_us": (f,), "filenames": (f,),
                  "actor_pose_box_to_world": (f, m, 4, 4), "actor_present": (f, m)}
        for name, shape in checks.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"FrameSet.{name} has shape {getattr(self, name).shape}, expected {shape}")

    @property
    def num_frames(self) -> int:
        return int(self.images.shape[0])

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    def subset(self, index: np.ndarray) -> "FrameSet":
        index = np.asarray(index)
        return replace(self, images=self.images[index], viewmats=self.viewmats[index], Ks=self.Ks[index],
                       pose_ego_to_global=self.pose_ego_to_global[index],
                       pose_camera_to_ego=self.pose_camera_to_ego[index], camera_names=self.camera_names[index],
                       t_us=self.t_us[index], filenames=self.filenames[index],
                       actor_pose_box_to_world=self.actor_pose_box_to_world[index],
                       actor_present=self.actor_present[index])

    def camera_centres(self) -> np.ndarray:
        """(F, 3) camera centres in the world."""
        return invert_pose(self.viewmats)[:, :3, 3]

    def shifted_viewmats(self, lateral_m: float) -> np.ndarray:
        """(F, 4, 4) view matrices of the same cameras with the ego moved `lateral_m` to its left
        (ego +y; negative: right): the novel views of a lane change."""
        shift = np.eye(4)
        shift[1, 3] = lateral_m
        return invert_pose(self.pose_ego_to_global @ shift @ self.pose_camera_to_ego)


def holdout_split(num_frames: int, every: int, t_us: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) frame indices: every `every`-th frame (starting at every // 2) is held out,
    as the 3DGS evaluation protocol does with every 8th image; every <= 1 holds none out. With
    t_us (num_frames,) the count runs over distinct times, so every camera of a held-out time is
    held out (both images of a stereo pair)."""
    index = np.arange(num_frames)
    if every <= 1 or num_frames < 2:
        return index, index[:0]
    rank = index if t_us is None else np.unique(np.asarray(t_us), return_inverse=True)[1].reshape(-1)
    test = (rank % every) == (every // 2)
    return index[~test], index[test]


def boxes_at(actors: ActorTracks, t_grid_us: np.ndarray, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Actor boxes at times t_us (F,), from tracks on the grid t_grid_us (T,).

    Returns pose_box_to_world (F, M, 4, 4) and present (F, M): linear position and shortest-arc
    yaw between the bracketing grid steps; present when both are valid (the time lies inside the
    annotated span).
    """
    grid = np.asarray(t_grid_us, np.int64)
    t = np.asarray(t_us, np.int64)
    m = actors.num_actors
    if m == 0 or len(grid) == 0:
        return np.zeros((len(t), m, 4, 4)), np.zeros((len(t), m), bool)
    hi = np.clip(np.searchsorted(grid, t, side="left"), 0, len(grid) - 1)
    lo = np.clip(hi - 1, 0, len(grid) - 1)
    exact = grid[hi] == t
    lo = np.where(exact, hi, lo)
    span = (grid[hi] - grid[lo]).astype(np.float64)
    w = np.where(span > 0, (t - grid[lo]) / np.where(span > 0, span, 1.0), 0.0)
    w = np.clip(w, 0.0, 1.0)[None, :]  # (1, F)
    xy = actors.xy[:, lo] * (1 - w[..., None]) + actors.xy[:, hi] * w[..., None]  # (M, F, 2)
    z = actors.z[:, lo] * (1 - w) + actors.z[:, hi] * w
    yaw0 = actors.yaw_rad[:, lo]
    yaw = wrap_angle(yaw0 + wrap_angle(actors.yaw_rad[:, hi] - yaw0) * w)
    present = actors.valid[:, lo] & actors.valid[:, hi]
    inside = (t >= grid[0]) & (t <= grid[-1])
    present &= inside[None, :]
    poses = pose_from_xy_yaw(xy[..., 0], xy[..., 1], yaw, z)  # (M, F, 4, 4)
    return np.ascontiguousarray(np.swapaxes(poses, 0, 1)), np.ascontiguousarray(present.T)


def box_masks(viewmat: np.ndarray, K: np.ndarray, width: int, height: int, pose_box_to_world: np.ndarray,
              size_wlh_m: np.ndarray, present: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
    """(M, H, W) bool: pixels whose ray (through the pixel centre) hits actor m's box.

    An exact ray-box (slab) test in each box frame; boxes grown by margin_m on every side;
    absent actors get an empty mask.
    """
    m = len(present)
    out = np.zeros((m, height, width), bool)
    if m == 0 or not np.any(present):
        return out
    cam_to_world = invert_pose(viewmat)
    origin = cam_to_world[:3, 3]
    half = np.stack([size_wlh_m[:, 1], size_wlh_m[:, 0], size_wlh_m[:, 2]], -1) / 2.0 + margin_m  # (M, 3) l, w, h
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], np.float64)
    for j in np.flatnonzero(present):
        # pixels to test: the projected corners' bounding box (the whole image when a corner is
        # behind the camera); boxes wholly behind the camera or off the image are skipped
        corners = (signs * half[j]) @ pose_box_to_world[j, :3, :3].T + pose_box_to_world[j, :3, 3]
        cam = corners @ viewmat[:3, :3].T + viewmat[:3, 3]
        if np.all(cam[:, 2] <= 1e-6):
            continue
        x0, y0, x1, y1 = 0, 0, width, height
        if np.all(cam[:, 2] > 1e-6):
            u = K[0, 0] * cam[:, 0] / cam[:, 2] + K[0, 2]
            v = K[1, 1] * cam[:, 1] / cam[:, 2] + K[1, 2]
            x0, x1 = max(0, int(np.floor(u.min())) - 1), min(width, int(np.ceil(u.max())) + 1)
            y0, y1 = max(0, int(np.floor(v.min())) - 1), min(height, int(np.ceil(v.max())) + 1)
            if x0 >= x1 or y0 >= y1:
                continue
        px, py = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        dirs_cam = np.stack([(px - K[0, 2]) / K[0, 0], (py - K[1, 2]) / K[1, 1], np.ones_like(px)], -1).reshape(-1, 3)
        world_to_box = invert_pose(pose_box_to_world[j])
        o = world_to_box[:3, :3] @ origin + world_to_box[:3, 3]
        d = dirs_cam @ (world_to_box[:3, :3] @ cam_to_world[:3, :3]).T
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            t1 = (-half[j] - o) * inv
            t2 = (half[j] - o) * inv
        # rays parallel to a slab: inside it for all t, or never
        parallel = d == 0
        inside_slab = np.abs(o) <= half[j]
        t1 = np.where(parallel, np.where(inside_slab, -np.inf, np.inf), t1)
        t2 = np.where(parallel, np.where(inside_slab, np.inf, -np.inf), t2)
        t_near = np.max(np.minimum(t1, t2), axis=1)
        t_far = np.min(np.maximum(t1, t2), axis=1)
        out[j, y0:y1, x0:x1] = (t_far >= np.maximum(t_near, 0.0)).reshape(y1 - y0, x1 - x0)
    return out


def actor_masks(frames: FrameSet, margin_m: float = 0.1) -> np.ndarray:
    """(F, H, W) bool: pixels covered by any present actor's projected box in each frame."""
    out = np.zeros((frames.num_frames, frames.height, frames.width), bool)
    for f in range(frames.num_frames):
        if frames.actors.num_actors:
            out[f] = box_masks(frames.viewmats[f], frames.Ks[f], frames.width, frames.height,
                               frames.actor_pose_box_to_world[f], frames.actors.size_wlh_m,
                               frames.actor_present[f], margin_m).any(axis=0)
    return out


# ---- nuScenes-layout dataroots ---------------------------------------------------------------


@dataclass(frozen=True)
class CameraRecord:
    """One camera image of a scene as the tables describe it (the file may be absent)."""

    token: str
    channel: str
    path: Path
    t_us: int
    pose_ego_to_global: np.ndarray
    pose_camera_to_ego: np.ndarray
    K: np.ndarray
    width_px: int
    height_px: int
    is_key_frame: bool


def _pose(record: dict) -> np.ndarray:
    return pose_matrix(rotation_matrix_from_quaternion(np.asarray(record["rotation"], np.float64)),
                       np.asarray(record["translation"], np.float64))


def _scene_sample_tokens(nusc, scene_token: str) -> set[str]:
    return {s["token"] for s in nusc.sample if s["scene_token"] == scene_token}


def camera_records(nusc, scene_token: str, cameras: list[str] | None = None,
                   keyframes_only: bool = False) -> list[CameraRecord]:
    """The camera images of a scene (keyframes and sweeps) in time order, for the named channels
    (all CAM_* channels when None); each with its ego pose, calibration and file path."""
    samples = _scene_sample_tokens(nusc, scene_token)
    dataroot = Path(nusc.dataroot)
    out = []
    for sd in nusc.sample_data:
        if sd["sample_token"] not in samples or sd.get("sensor_modality") != "camera":
            continue
        if cameras is not None and sd["channel"] not in cameras:
            continue
        if keyframes_only and not sd.get("is_key_frame", False):
            continue
        cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        ego = nusc.get("ego_pose", sd["ego_pose_token"])
        k = np.asarray(cs.get("camera_intrinsic") or [], np.float64)
        if k.shape != (3, 3):
            raise DatasetError(f"{dataroot / nusc.version / 'calibrated_sensor.json'}: record {cs['token']} "
                               f"({sd['channel']}) has camera_intrinsic of shape {k.shape}, not 3x3: add the "
                               "camera's K")
        out.append(CameraRecord(sd["token"], sd["channel"], dataroot / sd["filename"], int(sd["timestamp"]),
                                _pose(ego), _pose(cs), k, int(sd.get("width") or 0), int(sd.get("height") or 0),
                                bool(sd.get("is_key_frame", False))))
    out.sort(key=lambda r: (r.t_us, r.channel))
    return out


def check_images_exist(records: list[CameraRecord], dataroot: Path, scene_name: str) -> None:
    """A DatasetError naming the first missing image file (and how many are missing)."""
    missing = [r for r in records if not r.path.is_file()]
    if not missing:
        return
    first = missing[0]
    if len(missing) == len(records):
        what = (f"the dataroot {dataroot} has no camera images (none of the {len(records)} camera image files "
                f"of scene {scene_name!r} exist)")
    else:
        what = f"{len(missing)} of the {len(records)} camera image files of scene {scene_name!r} are missing"
    raise DatasetError(
        f"{first.path}: camera image of sample_data {first.token} ({first.channel}) is missing: {what}. "
        "Reconstruction fits to the camera images: put the dataset's samples/CAM_* and sweeps/CAM_* files under "
        "the dataroot (the demo town and the converted logs in shared/data ship tables and maps only), or pass "
        "--cameras to use the channels that have images.")


def _load_image(path: Path, width: int, height: int) -> tuple[np.ndarray, int, int]:
    """(H, W, 3) float32 image resized to width x height, and its original size."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w0, h0 = im.size
            if (w0, h0) != (width, height):
                im = im.resize((width, height), Image.Resampling.LANCZOS)
            return np.asarray(im, np.float32) / 255.0, w0, h0
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the camera image ({exc}): restore the file") from exc


def frames_from_nuscenes(nusc, scene_name: str, actors: ActorTracks, t_grid_us: np.ndarray, width: int, height: int,
                         cameras: list[str] | None = None, every: int = 1, max_frames: int | None = None,
                         keyframes_only: bool = False) -> FrameSet:
    """The camera images of a scene as a FrameSet at width x height.

    nusc: the devkit's NuScenes object; actors, t_grid_us: the scene's tracks and 10 Hz grid
    (from the scenario); cameras: channels (default all); every: keep every n-th image per
    channel; max_frames: keep at most this many, evenly spread. Raises DatasetError naming the
    first missing image file.
    """
    scenes = [s for s in nusc.scene if s["name"] == scene_name]
    if not scenes:
        raise DatasetError(f"scene {scene_name!r} is not in {Path(nusc.dataroot) / nusc.version / 'scene.json'}")
    records = camera_records(nusc, scenes[0]["token"], cameras, keyframes_only)
    if not records:
        which = ", ".join(cameras) if cameras else "any CAM_* channel"
        raise DatasetError(f"{Path(nusc.dataroot) / nusc.version / 'sample_data.json'}: scene {scene_name!r} has no "
                           f"camera sample_data for {which}: nothing to reconstruct from")
    by_channel: dict[str, list[CameraRecord]] = {}
    for r in records:
        by_channel.setdefault(r.channel, []).append(r)
    kept = [r for rs in by_channel.values() for r in rs[::max(every, 1)]]
    kept.sort(key=lambda r: (r.t_us, r.channel))
    if max_frames is not None and len(kept) > max_frames:
        kept = [kept[i] for i in np.linspace(0, len(kept) - 1, max_frames).round().astype(int)]
    check_images_exist(kept, Path(nusc.dataroot), scene_name)
    images, ks = [], []
    for r in kept:
        img, w0, h0 = _load_image(r.path, width, height)
        # K is calibrated for the sample_data's width x height (the image's own size when the
        # record has none), whatever size the file on disk has
        k = r.K.copy()
        k[0] *= width / (r.width_px or w0)
        k[1] *= height / (r.height_px or h0)
        images.append(img)
        ks.append(k)
    pose_ego = np.stack([r.pose_ego_to_global for r in kept])
    pose_cam = np.stack([r.pose_camera_to_ego for r in kept])
    t_us = np.array([r.t_us for r in kept], np.int64)
    box_poses, present = boxes_at(actors, t_grid_us, t_us)
    return FrameSet(
        images=np.stack(images).astype(np.float32), viewmats=invert_pose(pose_ego @ pose_cam), Ks=np.stack(ks),
        pose_ego_to_global=pose_ego, pose_camera_to_ego=pose_cam,
        camera_names=np.array([r.channel for r in kept], dtype=object), t_us=t_us,
        filenames=np.array([str(r.path) for r in kept], dtype=object), actors=ActorInfo.of_tracks(actors),
        actor_pose_box_to_world=box_poses, actor_present=present)


def lidar_points(nusc, scene_name: str, max_sweeps: int = 40, min_range_m: float = 2.5,
                 max_range_m: float = 80.0) -> tuple[np.ndarray, np.ndarray] | None:
    """LIDAR_TOP points of a scene in the global frame, or None when no sweep file exists.

    Reads up to max_sweeps evenly spread sweeps (nuScenes' .pcd.bin: float32 x, y, z,
    intensity, ring), drops returns closer than min_range_m (the ego's own body) or farther than
    max_range_m. Returns points (P, 3) global and their sweep timestamps (P,) int64.
    """
    scenes = [s for s in nusc.scene if s["name"] == scene_name]
    if not scenes:
        return None
    samples = _scene_sample_tokens(nusc, scenes[0]["token"])
    dataroot = Path(nusc.dataroot)
    records = [sd for sd in nusc.sample_data if sd["sample_token"] in samples and sd.get("channel") == "LIDAR_TOP"
               and (dataroot / sd["filename"]).is_file()]
    if not records:
        return None
    records.sort(key=lambda sd: sd["timestamp"])
    if len(records) > max_sweeps:
        records = [records[i] for i in np.linspace(0, len(records) - 1, max_sweeps).round().astype(int)]
    points, times = [], []
    for sd in records:
        path = dataroot / sd["filename"]
        raw = np.fromfile(path, dtype=np.float32)
        if raw.size % 5:
            raise DatasetError(f"{path}: {raw.size} float32 values is not a whole number of nuScenes lidar "
                               "points (x, y, z, intensity, ring): restore the sweep file")
        xyz = raw.reshape(-1, 5)[:, :3].astype(np.float64)
        rng_m = np.linalg.norm(xyz, axis=1)
        xyz = xyz[(rng_m >= min_range_m) & (rng_m <= max_range_m)]
        cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        ego = nusc.get("ego_pose", sd["ego_pose_token"])
        pose = _pose(ego) @ _pose(cs)
        points.append(xyz @ pose[:3, :3].T + pose[:3, 3])
        times.append(np.full(len(xyz), int(sd["timestamp"]), np.int64))
    return np.concatenate(points), np.concatenate(times)


# ---- synthetic frames ------------------------------------------------------------------------


def frames_from_renders(background, rig: CameraRig, poses_ego_to_global: np.ndarray, t_us: np.ndarray,
                        width: int, height: int, sky=None, actor_assets=None, actors: ActorTracks | None = None,
                        t_grid_us: np.ndarray | None = None, backend: str = "cpu") -> FrameSet:
    """Frames rendered from a known Gaussian scene with `render.backends.render_rig`.

    background: GaussianScene (global frame); rig: cameras (scaled to width x height here);
    poses_ego_to_global: (S, 4, 4) ego poses at times t_us (S,); every camera of the rig at every
    pose makes a frame. actor_assets (ActorAssets, in the order of `actors`) and actors (tracks on
    t_grid_us) add moving actors. sky: the background (a SkyGradient, an rgb or None).
    """
    from render.assets import ActorPlacement
    from render.backends import render_rig
    from render.gaussians import activate

    rig = rig.scaled(width, height)
    static = activate(background)
    info = ActorInfo.of_tracks(actors) if actors is not None else ActorInfo.none()
    box_poses, present = (boxes_at(actors, t_grid_us, t_us) if actors is not None
                          else (np.zeros((len(t_us), 0, 4, 4)), np.zeros((len(t_us), 0), bool)))
    images, viewmats, ks, pose_ego, pose_cam, names, times, frame_boxes, frame_present = ([] for _ in range(9))
    for s, pose in enumerate(np.asarray(poses_ego_to_global, np.float64)):
        views = invert_pose(pose[None] @ rig.pose_camera_to_ego)
        placement = None
        if actor_assets is not None and info.num_actors:
            placement = ActorPlacement(actor_assets.assets, box_poses[s], present[s], actor_assets.packed)
        out = render_rig(static, placement, views, rig.intrinsics, width, height, backend=backend, background=sky)
        for c in range(rig.num_cameras):
            images.append(np.clip(out.rgb[c], 0.0, 1.0))
            viewmats.append(views[c])
            ks.append(rig.intrinsics[c])
            pose_ego.append(pose)
            pose_cam.append(rig.pose_camera_to_ego[c])
            names.append(str(rig.names[c]))
            times.append(int(t_us[s]))
            frame_boxes.append(box_poses[s])
            frame_present.append(present[s])
    m = info.num_actors
    return FrameSet(
        images=np.stack(images).astype(np.float32), viewmats=np.stack(viewmats), Ks=np.stack(ks),
        pose_ego_to_global=np.stack(pose_ego), pose_camera_to_ego=np.stack(pose_cam),
        camera_names=np.array(names, dtype=object), t_us=np.array(times, np.int64),
        filenames=np.array([""] * len(images), dtype=object), actors=info,
        actor_pose_box_to_world=np.stack(frame_boxes).reshape(len(images), m, 4, 4),
        actor_present=np.stack(frame_present).reshape(len(images), m))
