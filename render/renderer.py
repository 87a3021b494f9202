"""`GaussianRenderer`: the `sim.types.observation.Renderer` of the closed loop.

It holds the static background scene (activated once), one asset per actor (matched to the
scenario's actors by instance token; built procedurally for actors without one), the camera
rig at the output resolution, the backend and the background sky. Each `render(scenario,
state)` places the actors at the state's poses and renders all cameras at the ego pose.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from render.assets import ActorAssets, asset_for_actor, build_actor_assets, placement_from_state
from render.backends import RenderOutput, SkyGradient, render_rig, resolve_backend
from render.gaussians import ActivatedGaussians, GaussianScene, activate
from render.procedural import GroundHeight, StreetSceneConfig, build_street_scene, region_around
from render.rig import pose_ego_to_global, rig_for_scenario, viewmats_world_to_camera
from sim.types.observation import CameraImages
from sim.types.scenario import CameraRig, Scenario
from sim.types.state import WorldState


def ground_height_of(scenario: Scenario) -> GroundHeight:
    """Ground heights sampled from the ego log (z under the rear axle at its valid steps)."""
    valid = np.asarray(scenario.ego.valid, bool)
    return GroundHeight(scenario.ego.xy[valid], scenario.ego.z[valid])


def build_scenario_street(scenario: Scenario, config: StreetSceneConfig = StreetSceneConfig()) -> GaussianScene:
    """The procedural street around a scenario's ego path (config.scenario_radius_m), ground
    heights from its ego log."""
    xy = scenario.ego.xy[np.asarray(scenario.ego.valid, bool)]
    region = region_around(xy, config.scenario_radius_m) if len(xy) else None
    return build_street_scene(scenario.map, config, ground_height_of(scenario), region)


class GaussianRenderer:
    """Renders a scenario's camera rig from a Gaussian background plus per-actor assets.

    background: static scene, global frame; assets: actor assets (box frames);
    rig: cameras with intrinsics for width_px x height_px; backend: "auto", "cpu", "gsplat" or
    "torch"; sky: background behind the splats (None: black).
    """

    def __init__(self, background: GaussianScene, assets: ActorAssets, rig: CameraRig, width_px: int,
                 height_px: int, backend: str = "auto", sky: SkyGradient | None = SkyGradient(),
                 asset_seed: int = 0) -> None:
        self.background: ActivatedGaussians = activate(background)
        self.assets = assets
        self.rig = rig
        self.width_px = int(width_px)
        self.height_px = int(height_px)
        self.backend = resolve_backend(backend)
        self.sky = sky
        self.asset_seed = asset_seed
        self._matched: tuple[object, ActorAssets] | None = None  # (the ActorTracks matched, assets)

    @staticmethod
    def for_scenario(scenario: Scenario, width_px: int = 480, height_px: int = 270,
                     camera_names: list[str] | None = None, backend: str = "auto",
                     config: StreetSceneConfig = StreetSceneConfig(), background: GaussianScene | None = None,
                     assets: ActorAssets | None = None) -> "GaussianRenderer":
        """A renderer for a scenario: the procedural street of its map (unless `background` is
        given), procedural actor assets (unless `assets` is given), its rig (or nuScenes')."""
        if background is None:
            background = build_scenario_street(scenario, config)
        if assets is None:
            assets = build_actor_assets(scenario.actors, seed=config.seed)
        rig = rig_for_scenario(scenario, width_px, height_px, camera_names)
        return GaussianRenderer(background, assets, rig, width_px, height_px, backend, asset_seed=config.seed)

    def _assets_for(self, scenario: Scenario) -> ActorAssets:
        """Assets in the order of the scenario's actors (by instance token), built where missing."""
        actors = scenario.actors
        if self._matched is not None and self._matched[0] is actors:
            return self._matched[1]
        tokens = [str(t) for t in actors.instance_tokens]
        if tokens == [str(t) for t in self.assets.instance_tokens]:
            matched = self.assets
        else:
            index = {str(t): i for i, t in enumerate(self.assets.instance_tokens)}
            scenes = tuple(
                self.assets.assets[index[t]] if t in index else
                asset_for_actor(int(actors.kind[i]), str(actors.category[i]), actors.size_wlh_m[i],
                                np.random.default_rng([self.asset_seed, i]))
                for i, t in enumerate(tokens))
            matched = ActorAssets(np.asarray(actors.instance_tokens), np.asarray(actors.category),
                                  np.asarray(actors.kind, np.int8), np.asarray(actors.size_wlh_m, np.float64), scenes)
        self._matched = (actors, matched)
        return matched

    def render_output_at(self, scenario: Scenario, step_index: int, pose_ego_to_global: np.ndarray,
                         actor_xy_m: np.ndarray, actor_yaw_rad: np.ndarray, actor_valid: np.ndarray) -> RenderOutput:
        """All cameras for an ego pose (4, 4) and actor box centres (N, 2), yaws (N,), valid (N,)
        at a step (actor heights come from the log near that step)."""
        placement = placement_from_state(self._assets_for(scenario), scenario.actors, actor_xy_m, actor_yaw_rad,
                                         actor_valid, step_index)
        viewmats = viewmats_world_to_camera(pose_ego_to_global, self.rig.pose_camera_to_ego)
        return render_rig(self.background, placement, viewmats, self.rig.intrinsics, self.width_px, self.height_px,
                          backend=self.backend, background=self.sky)

    def render_output(self, scenario: Scenario, state: WorldState) -> RenderOutput:
        """All cameras at a world state: float rgb, expected depth and alpha."""
        return self.render_output_at(scenario, state.step_index, pose_ego_to_global(scenario, state),
                                     state.actors.xy, state.actors.yaw_rad, state.actors.valid)

    def images(self, out: RenderOutput) -> CameraImages:
        """CameraImages (uint8 rgb, depth 0 where nothing was hit) of a render output."""
        return CameraImages(names=np.asarray(self.rig.names).copy(), rgb=out.rgb_uint8(),
                            depth_m=np.where(out.alpha > 0, out.depth, 0.0).astype(np.float32),
                            alpha=out.alpha.astype(np.float32), intrinsics=self.rig.intrinsics.copy(),
                            pose_camera_to_ego=self.rig.pose_camera_to_ego.copy())

    def render(self, scenario: Scenario, state: WorldState,
               before_camera: Callable[[int], None] | None = None) -> CameraImages:
        """All cameras at a world state. With `before_camera`, the CPU backends render one camera
        at a time and call it before each; gsplat renders the rig in one batch (called once)."""
        if before_camera is None or self.backend == "gsplat" or self.rig.num_cameras == 1:
            if before_camera is not None:
                before_camera(0)
            return self.images(self.render_output(scenario, state))
        placement = placement_from_state(self._assets_for(scenario), scenario.actors, state.actors.xy,
                                         state.actors.yaw_rad, state.actors.valid, state.step_index)
        viewmats = viewmats_world_to_camera(pose_ego_to_global(scenario, state), self.rig.pose_camera_to_ego)
        outputs = []
        for i in range(self.rig.num_cameras):
            before_camera(i)
            outputs.append(render_rig(self.background, placement, viewmats[i:i + 1], self.rig.intrinsics[i:i + 1],
                                      self.width_px, self.height_px, backend=self.backend, background=self.sky))
        return self.images(RenderOutput(rgb=np.concatenate([o.rgb for o in outputs]),
                                        depth=np.concatenate([o.depth for o in outputs]),
                                        alpha=np.concatenate([o.alpha for o in outputs])))
