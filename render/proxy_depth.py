"""Ground-truth channels from proxy meshes with pyrender: depth, semantic class, instance id.

Proxy meshes: the map's drivable area as a triangulated ground mesh (heights from a
`GroundHeight`) and one box per visible actor. They are rendered headless for the same
cameras as the splats (OpenCV K and world-to-camera view matrices, converted to pyrender's
IntrinsicsCamera and OpenGL camera axes), giving z-depth, a semantic class per pixel and
the actor index per pixel. They serve as extra ground-truth channels and to check the
splatted depth.

Headless OpenGL: pyrender is imported with PYOPENGL_PLATFORM set to the first platform that
can open an offscreen context, "egl" (Mesa's EGL, llvmpipe without a GPU) then "osmesa",
probed once in a subprocess (a broken GL stack can crash the process that tries it).
`proxy_unavailable_reason()` says why neither works; then the Debian packages
`libegl1 libegl-mesa0 libgl1-mesa-dri` (EGL) or `libosmesa6` (OSMesa) provide one.
"""

from __future__ import annotations

import enum
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry import MultiPolygon

from render.procedural import GroundHeight
from sim.geometry import invert_pose, pose_from_xy_yaw
from sim.types.roadmap import RoadMap

PLATFORMS = ("egl", "osmesa")
_OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # camera axes: x right, y down, z forward -> y up, z back


class ProxyClass(enum.IntEnum):
    """Semantic class of a proxy pixel."""

    NONE = 0
    ROAD = 1
    VEHICLE = 2
    PEDESTRIAN = 3
    CYCLIST = 4
    STATIC = 5


_CLASS_OF_KIND = (ProxyClass.VEHICLE, ProxyClass.PEDESTRIAN, ProxyClass.CYCLIST, ProxyClass.STATIC)  # by ActorKind

_PROBE = """
import pyrender, numpy as np
r = pyrender.OffscreenRenderer(8, 8)
s = pyrender.Scene()
s.add(pyrender.IntrinsicsCamera(8, 8, 4, 4), pose=np.eye(4))
r.render(s, flags=pyrender.RenderFlags.DEPTH_ONLY)
r.delete()
"""


@lru_cache(maxsize=1)
def _probe_platforms() -> tuple[str | None, str]:
    """(the first working platform, or None; what each attempt said)."""
    notes = []
    forced = os.environ.get("PYOPENGL_PLATFORM")
    for platform in ((forced,) if forced else PLATFORMS):
        env = dict(os.environ, PYOPENGL_PLATFORM=platform)
        try:
            done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            notes.append(f"{platform}: timed out")
            continue
        if done.returncode == 0:
            return platform, ""
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        notes.append(f"{platform}: {last}")
    return None, "; ".join(notes)


def proxy_unavailable_reason() -> str | None:
    """None when headless pyrender works here, otherwise why not (per platform tried)."""
    platform, notes = _probe_platforms()
    if platform is not None:
        return None
    return (f"no headless OpenGL for pyrender ({notes}); install Debian's libegl1 libegl-mesa0 libgl1-mesa-dri "
            "(EGL) or libosmesa6 (OSMesa)")


def _pyrender():
    platform, _ = _probe_platforms()
    reason = proxy_unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)
    if "OpenGL" not in sys.modules:
        os.environ["PYOPENGL_PLATFORM"] = platform
    import pyrender

    return pyrender


def ground_mesh(road_map: RoadMap, ground_height: GroundHeight | None = None, spacing_m: float = 2.0):
    """The drivable area as a trimesh: boundary and interior points, Delaunay, triangles inside."""
    import trimesh

    z_of = ground_height if ground_height is not None else GroundHeight()
    area = road_map.drivable_area
    polys = area.geoms if isinstance(area, MultiPolygon) else [area]
    vertices, faces = [], []
    for poly in polys:
        if poly.is_empty:
            continue
        dense = shapely.segmentize(poly, spacing_m / 2)
        boundary = np.concatenate([np.asarray(r.coords)[:-1] for r in [dense.exterior, *dense.interiors]])
        x0, y0, x1, y1 = poly.bounds
        gx, gy = np.meshgrid(np.arange(x0, x1, spacing_m), np.arange(y0, y1, spacing_m))
        grid = np.column_stack([gx.ravel(), gy.ravel()])
        grid = grid[shapely.contains_xy(poly.buffer(-0.25 * spacing_m), grid[:, 0], grid[:, 1])]
        pts = np.concatenate([boundary, grid])
        tris = shapely.get_parts(shapely.delaunay_triangles(shapely.multipoints(pts)))
        centroids = shapely.get_coordinates(shapely.centroid(tris))
        tris = tris[shapely.contains_xy(poly, centroids[:, 0], centroids[:, 1])]
        corners = shapely.get_coordinates(shapely.get_exterior_ring(tris)).reshape(-1, 4, 2)[:, :3]
        base = sum(len(v) for v in vertices)
        flat = corners.reshape(-1, 2)
        vertices.append(np.column_stack([flat, z_of(flat)]))
        f = base + np.arange(len(flat)).reshape(-1, 3)
        # face up (+z): counter-clockwise seen from above
        cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        faces.append(np.where((cross < 0)[:, None], f[:, [0, 2, 1]], f))
    if not vertices:
        return trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64))
    return trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=False)


@dataclass(frozen=True, eq=False)
class ProxyOutput:
    """Proxy channels of C cameras at H x W.

    - depth: (C, H, W) float32 z-depth along the camera axis, metres; 0 where no mesh.
    - semantic: (C, H, W) uint8 ProxyClass.
    - instance: (C, H, W) int32 actor index (into the boxes rendered); -1 for ground and nothing.
    """

    depth: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray


class ProxyRenderer:
    """Renders the ground mesh of a map and actor boxes with pyrender, offscreen, at width x height."""

    def __init__(self, road_map: RoadMap, width_px: int, height_px: int,
                 ground_height: GroundHeight | None = None) -> None:
        self._pyrender = _pyrender()
        self.width_px, self.height_px = int(width_px), int(height_px)
        self._ground = self._pyrender.Mesh.from_trimesh(ground_mesh(road_map, ground_height), smooth=False)
        self._renderer = self._pyrender.OffscreenRenderer(self.width_px, self.height_px)

    def render(self, viewmats_world_to_camera: np.ndarray, Ks: np.ndarray, box_center_xyz: np.ndarray,
               box_yaw_rad: np.ndarray, box_size_wlh_m: np.ndarray, box_kind: np.ndarray,
               box_visible: np.ndarray) -> ProxyOutput:
        """Proxy channels for C cameras and M actor boxes (centre (M, 3) global, yaw (M,),
        size (M, 3) width-length-height, ActorKind (M,), visible (M,))."""
        import trimesh

        pr = self._pyrender
        scene = pr.Scene(bg_color=np.zeros(4), ambient_light=np.ones(3))
        seg = {scene.add(self._ground): (0, 0, 1)}  # colour-coded id 1<<16 = the ground
        instance_class = {}
        for i in np.flatnonzero(np.asarray(box_visible, bool)):
            width_m, length_m, height_m = (float(v) for v in box_size_wlh_m[i])
            mesh = pr.Mesh.from_trimesh(trimesh.creation.box(extents=(length_m, width_m, height_m)), smooth=False)
            c = box_center_xyz[i]
            node = scene.add(mesh, pose=pose_from_xy_yaw(c[0], c[1], box_yaw_rad[i], c[2]))
            code = int(i) + 1
            seg[node] = (code & 255, (code >> 8) & 255, 0)
            instance_class[int(i)] = _CLASS_OF_KIND[int(box_kind[i])]
        num = len(Ks)
        depth = np.zeros((num, self.height_px, self.width_px), np.float32)
        semantic = np.zeros(depth.shape, np.uint8)
        instance = np.full(depth.shape, -1, np.int32)
        lut = np.zeros(1 << 16, np.uint8)
        for i, cls in instance_class.items():
            lut[i + 1] = cls
        for c in range(num):
            k = Ks[c]
            cam = pr.IntrinsicsCamera(k[0, 0], k[1, 1], k[0, 2], k[1, 2], znear=0.05, zfar=2000.0)
            cam_node = scene.add(cam, pose=invert_pose(viewmats_world_to_camera[c]) @ _OPENGL_FROM_OPENCV)
            color, d = self._renderer.render(scene, flags=pr.RenderFlags.SEG, seg_node_map=seg)
            scene.remove_node(cam_node)
            color = color.astype(np.int64)
            code = color[..., 0] | (color[..., 1] << 8)
            is_ground = color[..., 2] > 0
            depth[c] = d
            instance[c] = np.where(is_ground | (code == 0), -1, code - 1)
            semantic[c] = np.where(is_ground, ProxyClass.ROAD, lut[code])
        return ProxyOutput(depth, semantic, instance)

    def close(self) -> None:
        self._renderer.delete()
