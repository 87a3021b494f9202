"""Bird's-eye views of an episode: single frames (for reports and contact sheets) and mp4 video.

The map (drivable area, lanes, crossings) is drawn once per figure; each frame only moves the
boxes, trails and the view, so a 20 s episode encodes in a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import imageio.v2 as imageio  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402

from sim.atomic import atomic_path  # noqa: E402
from sim.engine import Episode  # noqa: E402
from sim.geometry import box_corners_xy  # noqa: E402
from sim.types.scenario import ActorKind, Scenario  # noqa: E402
from sim.types.state import ActorMode  # noqa: E402

KIND_COLORS = {ActorKind.VEHICLE: "#4c78a8", ActorKind.PEDESTRIAN: "#f58518", ActorKind.CYCLIST: "#54a24b",
               ActorKind.STATIC: "#9d755d"}
ADVERSARY_COLOR = "#e45756"
EGO_COLOR = "#2ca02c"
COLLISION_COLOR = "#d62728"


def _polygons_xy(geometry) -> list[np.ndarray]:
    geoms = getattr(geometry, "geoms", [geometry])
    return [np.asarray(g.exterior.coords) for g in geoms if not g.is_empty]


class BevPainter:
    """Draws frames of one episode on a reusable matplotlib figure (stateful: the figure)."""

    def __init__(self, scenario: Scenario, episode: Episode, size_px: int = 720, view_radius_m: float = 45.0):
        self.scenario, self.episode, self.view_radius_m = scenario, episode, view_radius_m
        dpi = 100
        self.fig = plt.figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
        self.ax = self.fig.add_axes([0, 0, 1, 1])
        self.ax.set_facecolor("#e8e8e8")
        self.ax.set_aspect("equal")
        self.ax.axis("off")
        road = scenario.map
        self.ax.add_collection(PolyCollection(_polygons_xy(road.drivable_area), facecolor="#bdbdbd",
                                              edgecolor="#9e9e9e", lw=0.5))
        for walk in road.walkways:
            self.ax.add_collection(PolyCollection(_polygons_xy(walk), facecolor="#d9d2c5", edgecolor="none"))
        for crossing in road.ped_crossings:
            self.ax.add_collection(PolyCollection(_polygons_xy(crossing), facecolor="#f0f0f0", edgecolor="#ffffff",
                                                  hatch="//", lw=0))
        lanes = [road.lanes.centerline(i) for i in range(road.lanes.num_lanes)]
        self.ax.add_collection(LineCollection(lanes, colors="#ffffff", linewidths=0.6, linestyles="dashed", alpha=0.8))
        self.ax.plot(scenario.route.centerline_xy[:, 0], scenario.route.centerline_xy[:, 1], color="#9ecae1", lw=3,
                     alpha=0.6, zorder=2)
        self.ax.plot(scenario.ego.xy[scenario.ego.valid, 0], scenario.ego.xy[scenario.ego.valid, 1], color="#555555",
                     lw=1, ls=":", zorder=3)
        self.actors = PolyCollection([], zorder=5, edgecolor="black", lw=0.5)
        self.ax.add_collection(self.actors)
        self.ego = PolyCollection([], zorder=6, facecolor=EGO_COLOR, edgecolor="black", lw=0.8)
        self.ax.add_collection(self.ego)
        (self.trail,) = self.ax.plot([], [], color=EGO_COLOR, lw=2, zorder=4)
        (self.plan,) = self.ax.plot([], [], color="#9467bd", lw=1.5, marker=".", ms=2, zorder=4)
        self.text = self.ax.text(0.01, 0.99, "", transform=self.ax.transAxes, va="top", ha="left", fontsize=9,
                                 family="monospace", zorder=10,
                                 bbox=dict(facecolor="white", alpha=0.85, edgecolor="none"))

    def frame(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 image of recorded state `index`."""
        sc, ep = self.scenario, self.episode
        p = sc.ego_params
        yaw = ep.ego_yaw_rad[index]
        center = ep.ego_xy[index] + p.rear_axle_to_center_m * np.array([np.cos(yaw), np.sin(yaw)])
        self.ego.set_verts([box_corners_xy(center, yaw, p.length_m, p.width_m)])
        self.ego.set_facecolor(COLLISION_COLOR if ep.collision[index] else EGO_COLOR)
        valid = ep.actor_valid[index]
        size = sc.actors.size_wlh_m[valid]
        boxes = box_corners_xy(ep.actor_xy[index, valid], ep.actor_yaw_rad[index, valid], size[:, 1], size[:, 0])
        colors = [ADVERSARY_COLOR if ep.actor_mode[i] == ActorMode.ADVERSARY
                  else KIND_COLORS[ActorKind(sc.actors.kind[i])]
                  for i in np.flatnonzero(valid)]
        self.actors.set_verts(list(boxes))
        self.actors.set_facecolor(colors)
        self.trail.set_data(ep.ego_xy[: index + 1, 0], ep.ego_xy[: index + 1, 1])
        if ep.plan_valid[index]:
            self.plan.set_data(ep.plan_xy[index, :, 0], ep.plan_xy[index, :, 1])
        else:
            self.plan.set_data([], [])
        r = self.view_radius_m
        self.ax.set_xlim(center[0] - r, center[0] + r)
        self.ax.set_ylim(center[1] - r, center[1] + r)
        ttc = ep.ttc_s[index]
        self.text.set_text(
            f"{ep.scenario_name}  {ep.policy_name}{'  reactive' if ep.reactive else ''}\n"
            f"t={(ep.t_us[index] - ep.t_us[0]) * 1e-6:5.1f}s  v={ep.ego_speed_mps[index]:5.2f} m/s  "
            f"TTC={'-' if not np.isfinite(ttc) else f'{ttc:.1f}s'}\n"
            f"route {ep.route_s_m[index] - ep.route_start_s_m:6.1f}/{ep.route_end_s_m - ep.route_start_s_m:.1f} m"
            f"{'  COLLISION' if ep.collision[index] else ''}{'  OFF-ROAD' if ep.off_road[index] else ''}")
        self.fig.canvas.draw()
        return np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        plt.close(self.fig)


def bev_frame(scenario: Scenario, episode: Episode, index: int, size_px: int = 480,
              view_radius_m: float = 40.0) -> np.ndarray:
    """One (H, W, 3) uint8 bird's-eye snapshot of recorded state `index`."""
    painter = BevPainter(scenario, episode, size_px, view_radius_m)
    try:
        return painter.frame(index)
    finally:
        painter.close()


def write_video_atomic(frames, path: str | Path, fps: int = 10) -> Path:
    """Encode (H, W, 3) uint8 frames to an H.264 mp4 at `path`, via a temporary file and rename."""
    with atomic_path(path, suffix=".mp4") as tmp:
        with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=7, macro_block_size=8,
                                ffmpeg_log_level="error", pixelformat="yuv420p") as writer:
            for frame in frames:
                writer.append_data(frame)
    return Path(path)


def write_bev_video(scenario: Scenario, episode: Episode, path: str | Path, fps: int = 10, size_px: int = 720) -> Path:
    """The episode's bird's-eye video as mp4 (one frame per recorded state)."""
    painter = BevPainter(scenario, episode, size_px)
    try:
        return write_video_atomic((painter.frame(i) for i in range(len(episode.step_index))), path, fps)
    finally:
        painter.close()
