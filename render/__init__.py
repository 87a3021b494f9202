"""Gaussian-splatting rendering of the camera rig (gsplat on CUDA, own CPU rasterizer otherwise).

Modules, bottom up:
- `gaussians`: `GaussianScene` (stored INRIA parameters), activations, SH evaluation and
  rotation, `ActivatedGaussians` (the rasterizers' input), concatenation.
- `ply`: INRIA-layout PLY read/write (`load_ply`, `save_ply`, extras by name).
- `primitives`: surfaces made of flat Gaussians; `assets`: actor assets in box frames,
  their files (`save_actor_assets`, `load_actor_assets`) and per-frame placement
  (`ActorPlacement`, `placement_from_state`, `place_actors`).
- `procedural`: the street scene of a RoadMap (`build_street_scene`, `StreetSceneConfig`,
  `GroundHeight`, `region_around`) and `synthetic_road_map` for benchmarks.
- `rig`: nuScenes default rig, ego poses and world-to-camera view matrices.
- `cpu_rasterizer` (numba), `gsplat_backend` (CUDA), `torch_reference` (dense baseline);
  `backends.render_rig` picks one: `render_rig(scene, actor_placement, viewmats, Ks, width,
  height, backend="auto") -> RenderOutput(rgb, depth, alpha)`.
- `renderer.GaussianRenderer`: the closed loop's `sim.types.observation.Renderer`.
- `proxy_depth`: pyrender depth / semantic / instance channels of proxy meshes.
- `video`: per-camera and tiled rig mp4s.

Imports only small types from `sim`; never `policies_api`, `scenarios` or `tools`.
"""

# Bumped whenever a change alters rendered pixels: caches of rendered observations key on it.
RENDERER_VERSION = "splatsim-gaussian-renderer-1"
