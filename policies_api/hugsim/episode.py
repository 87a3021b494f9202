"""The HUGSIM benchmark's environment over splatsim: scenes one after another, each a splatsim
closed-loop episode advanced 0.25 s per HUGSIM action, with HUGSIM's observation and info
dictionaries and its end rules.

Not thread-safe by itself: `policies_api.hugsim.server` serialises calls.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policies_api.catalog import ScenarioCatalog
from policies_api.hugsim import convert
from policies_api.renderer_factory import RendererFactory
from render.rig import NUSCENES_CAMERA_NAMES, pose_ego_to_global, viewmats_world_to_camera
from scenarios.demo_town.nuscenes_tables import LIDAR_TRANSLATION_M, LIDAR_YAW_RAD
from sim.atomic import write_bytes_atomic
from sim.engine import EngineConfig, EpisodeRecorder
from sim.geometry import project_point_kernel
from sim.metrics import episode_metrics
from sim.types.scenario import DT_S, Scenario

log = logging.getLogger("splatsim.hugsim")

# nuScenes' LIDAR_TOP placement (the demo rig writes the same), for cam_params' l2c.
POSE_LIDAR_TO_EGO = convert.lidar_to_ego(LIDAR_TRANSLATION_M, LIDAR_YAW_RAD)


@dataclass(frozen=True)
class HugsimEnvConfig:
    """What the served benchmark runs.

    - scenes: scenario names, driven in this order (one HUGSIM "scene" each).
    - width_px, height_px: image size of the six cameras (HUGSIM's nuScenes rig: 800 x 450).
    - semantic: render the semantic channel from proxy meshes (needs headless OpenGL); off: all 255.
    - reactive: IDM actors instead of log replay.
    - step_limit: a scene ends once more actions than this were taken (web_server.py: 400).
    - max_route_distance_m: a scene ends when the ego is farther than this from the route
      (hug_sim.py: 10 m).
    - route_complete_fraction: the share of the logged route that completes it (hug_sim.py's
      route_completion divides by 0.9 of the route).
    - out_dir: where each finished scene's metrics.json goes (None: kept in memory only).
    """

    scenes: tuple[str, ...]
    width_px: int = 800
    height_px: int = 450
    semantic: bool = True
    reactive: bool = False
    step_limit: int = 400
    max_route_distance_m: float = 10.0
    route_complete_fraction: float = 0.9
    out_dir: Path | None = None


@dataclass
class _Scene:
    index: int
    scenario: Scenario
    recorder: EpisodeRecorder
    renderer: object
    proxy: object | None
    frame: convert.SceneFrame
    t0_us: int
    actions: int = 0
    render_s: float = 0.0
    wall_start_s: float = field(default_factory=time.perf_counter)
    obs: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


class HugsimEnvironment:
    """HUGSIM's EnvHandler over splatsim: `reset`, `state`, `execute(plan)`; `done` after the
    last scene, `scene_done` after any. `results` holds one summary per finished scene."""

    def __init__(self, catalog: ScenarioCatalog, config: HugsimEnvConfig, renderer_factory: RendererFactory,
                 proxy_factory=None):
        self.catalog = catalog
        self.config = config
        self.renderer_factory = renderer_factory
        self.proxy_factory = proxy_factory
        self.engine_config = EngineConfig(reactive=config.reactive)
        self.results: list[dict] = []
        self.done = False
        self.scene_done = False
        self._scene: _Scene | None = None

    def reset(self) -> None:
        """Back to the first scene (HUGSIM's POST /reset)."""
        self.results, self.done, self.scene_done = [], False, False
        self._start_scene(0)

    def state(self) -> dict:
        """{"obs", "info"} of the current state."""
        return {"obs": self._scene.obs, "info": self._scene.info}

    def execute(self, plan_xr_yf: np.ndarray) -> None:
        """One HUGSIM action: track the plan for 0.25 s (2 or 3 engine steps), then HUGSIM's end
        rules; a finished scene moves on to the next one (scene_done) or ends the run (done)."""
        sc = self._scene
        rec = sc.recorder
        action = convert.plan_to_action(plan_xr_yf)
        steer_before_rad, t_before_us = rec.state.ego.steer_rad, rec.state.t_us
        for j in range(convert.engine_steps_of_action(sc.actions, DT_S)):
            if rec.done:
                break
            rec.advance(action if j == 0 else None)
        sc.actions += 1
        elapsed_s = max((rec.state.t_us - t_before_us) * 1e-6, DT_S)
        self._observe(sc, (rec.state.ego.steer_rad - steer_before_rad) / elapsed_s)
        rc, distance_m = self._route_completion(sc)
        collision = bool(rec.checks.collision)
        sc.info["rc"], sc.info["collision"] = rc, collision
        end = ("collision" if collision else "off_route" if distance_m > self.config.max_route_distance_m
               else "route_complete" if rc >= 1.0 else "step_limit" if sc.actions > self.config.step_limit
               else str(rec.end_reason) if rec.done else None)
        self.scene_done = end is not None
        if end is None:
            return
        self._finish_scene(sc, end, rc)
        if sc.index + 1 < len(self.config.scenes):
            self._start_scene(sc.index + 1)
        else:
            self.done = True

    def close(self) -> None:
        if self._scene is not None:
            self._close_scene(self._scene)
            self._scene = None

    # ---- scenes ---------------------------------------------------------------------------------

    def _start_scene(self, index: int) -> None:
        if self._scene is not None:
            self._close_scene(self._scene)
            self._scene = None
        cfg, name = self.config, self.config.scenes[index]
        scenario = self.catalog.scenario(name)
        recorder = EpisodeRecorder(self.catalog.context(name, self.engine_config))
        renderer = self.renderer_factory(scenario, list(NUSCENES_CAMERA_NAMES), cfg.width_px, cfg.height_px)
        proxy = self.proxy_factory(scenario, cfg.width_px, cfg.height_px) if self.proxy_factory else None
        ego = recorder.state.ego
        frame = convert.SceneFrame(ego.xy, float(ego.yaw_rad), self._ego_z(scenario, recorder.state.step_index))
        self._scene = _Scene(index, scenario, recorder, renderer, proxy, frame, recorder.state.t_us)
        self._observe(self._scene, 0.0)
        log.info("scene %d: %s", index, name)

    def _close_scene(self, sc: _Scene) -> None:
        for part in (sc.renderer, sc.proxy):
            close = getattr(part, "close", None)
            if callable(close):
                close()

    def _finish_scene(self, sc: _Scene, end: str, rc: float) -> None:
        wall_s = time.perf_counter() - sc.wall_start_s
        metrics = episode_metrics(sc.recorder.episode("hugsim-client", wall_s, 0.0, sc.render_s)).to_json()
        summary = {"scene": sc.scenario.name, "hugsim_end": end, "actions": sc.actions, "rc": rc,
                   "collision": bool(sc.info["collision"]), "metrics": metrics}
        self.results.append(summary)
        log.info("scene %s ended: %s after %d actions", sc.scenario.name, end, sc.actions)
        if self.config.out_dir is not None:
            folder = Path(self.config.out_dir) / sc.scenario.name
            folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(folder / "metrics.json",
                               json.dumps(summary, indent=2, sort_keys=True, default=float).encode())

    # ---- observation and info -------------------------------------------------------------------

    @staticmethod
    def _ego_z(scenario: Scenario, step_index: int) -> float:
        return float(scenario.ego.z[int(np.clip(step_index, 0, scenario.num_steps - 1))])

    def _route_completion(self, sc: _Scene) -> tuple[float, float]:
        """HUGSIM's rc (progress over route_complete_fraction of the logged route) and the
        distance from the route, metres."""
        ctx, rec = sc.recorder.context, sc.recorder
        span_m = (ctx.route_end_s_m - ctx.route_start_s_m) * self.config.route_complete_fraction
        rc = (rec.route_s_m - ctx.route_start_s_m) / span_m if span_m > 1.0 else 0.0
        _, lateral_m, _ = project_point_kernel(ctx.route_xy, ctx.route_s_m, rec.state.ego.x_m, rec.state.ego.y_m)
        return float(rc), abs(float(lateral_m))

    def _observe(self, sc: _Scene, steer_rate_radps: float) -> None:
        t0 = time.perf_counter()
        scenario, state = sc.scenario, sc.recorder.state
        images = sc.renderer.render(scenario, state)
        k = int(np.clip(state.step_index, 0, scenario.num_steps - 1))
        if sc.proxy is not None:
            semantic = self._semantic(sc, images)
        else:
            semantic = np.full(images.rgb.shape[:3], convert.SEMANTIC_UNKNOWN, np.uint8)
        sc.render_s += time.perf_counter() - t0
        names = [str(n) for n in images.names]
        sc.obs = {"rgb": {n: images.rgb[i] for i, n in enumerate(names)},
                  "semantic": {n: semantic[i] for i, n in enumerate(names)},
                  "depth": {n: images.depth_m[i] for i, n in enumerate(names)}}
        ego, p, frame = state.ego, scenario.ego_params, sc.frame
        ego_xyz = frame.xyz(ego.xy[None], np.array([self._ego_z(scenario, k)]))[0]
        ego_yaw = float(frame.yaw(ego.yaw_rad))
        pos, rot = convert.ego_pos_rot(ego_xyz, ego_yaw)
        act, tracks = state.actors, scenario.actors
        rows = np.flatnonzero(act.valid)
        command = sc.recorder.observe(None).driving_command
        sc.info = {
            "ego_pos": pos, "ego_rot": rot, "ego_velo": float(ego.speed_mps),
            "ego_steer": -float(ego.steer_rad),  # HUGSIM steers right for positive angles (convert's docstring)
            "accelerate": float(ego.accel_mps2), "steer_rate": -float(steer_rate_radps),
            "timestamp": (state.t_us - sc.t0_us) / 1e6,
            "command": convert.COMMAND_OF_DRIVING_COMMAND[command],
            # the box's position is the plan origin (the rear axle), as web_server.py's traj_transform_to_global
            # reads it; w, l, h are splatsim's body box
            "ego_box": convert.boxes_record(ego_xyz[None], np.array([[p.width_m, p.length_m, p.height_m]]),
                                            np.array([ego_yaw]))[0],
            "obj_boxes": convert.boxes_record(frame.xyz(act.xy[rows], tracks.z[rows, k]), tracks.size_wlh_m[rows],
                                              np.atleast_1d(frame.yaw(act.yaw_rad[rows]))),
            "cam_params": convert.cam_params(images.names, images.intrinsics, images.pose_camera_to_ego,
                                             images.rgb.shape[2], images.rgb.shape[1], POSE_LIDAR_TO_EGO),
        }

    def _semantic(self, sc: _Scene, images) -> np.ndarray:
        scenario, state = sc.scenario, sc.recorder.state
        k = int(np.clip(state.step_index, 0, scenario.num_steps - 1))
        act, tracks = state.actors, scenario.actors
        views = viewmats_world_to_camera(pose_ego_to_global(scenario, state), images.pose_camera_to_ego)
        centers = np.column_stack([act.xy, tracks.z[:, k]])
        out = sc.proxy.render(views, images.intrinsics, centers, act.yaw_rad, tracks.size_wlh_m, tracks.kind,
                              act.valid)
        return convert.CITYSCAPES_ID_OF_PROXY_CLASS[out.semantic]


def proxy_semantic_factory():
    """Proxy-mesh renderers per scene (render.proxy_depth), or None with the reason when headless
    OpenGL is unavailable here."""
    from render.proxy_depth import ProxyRenderer, proxy_unavailable_reason
    from render.renderer import ground_height_of

    reason = proxy_unavailable_reason()
    if reason is not None:
        return None, reason

    def factory(scenario: Scenario, width_px: int, height_px: int):
        return ProxyRenderer(scenario.map, width_px, height_px, ground_height_of(scenario))

    return factory, None
