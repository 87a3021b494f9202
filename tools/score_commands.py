"""`splatsim score`: pseudo-simulation scores of policies (NAVSIM v2), at scale.

For each scenario and each of its frames (`sim.scoring.stage_two.select_frames`):

1. stage one: the observation at the logged pose (frame k and k - 0.5 s) is rendered by the
   Gaussian renderer, the policy plans, `score_proposal` scores the plan at the logged ego;
2. stage two: the N start states around the log 4 s later (`stage_two_starts`) are rendered with
   the actors where the log has them then, the policy plans from each, and each plan is scored
   with `score_proposal(..., ego_state=start)`;
3. the stage-two scores are weighted by the distance of each start to the end of the stage-one
   plan and combined (`sim.scoring.pseudo_sim`).

Observations are cached on disk, one compressed npz per observation (written atomically), keyed
by the scenario's name and content hash, the step and ego pose, the cameras, image size, render
backend, procedural-street settings and RENDERER_VERSION: scoring a second policy re-renders
nothing, and a warm run never builds a renderer. Scenarios go to Ray workers with
`--workers N` (a local Ray with N CPUs) or `--ray-address ADDR`; each task scores every policy on
one scenario with its own renderer. Outputs: DIR/pseudo_sim.json, DIR/report.md + report.html and
DIR/img/ (PNG thumbnails of the front camera of the stage-two observations).

Policies: the built-ins (expert, constant-velocity, idm), the degraded variants
(`sim.policies.degraded`: noisy, laggy, over-cautious, aggressive) and remote stacks
(grpc://HOST:PORT, unix://PATH). The policy is reset before every plan: pseudo-simulation frames
are independent observations (NAVSIM asks its agents once per scene).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np
import typer

from policies_api.resolve import check_policy_names, resolve_policy
from sim.atomic import atomic_path, write_bytes_atomic, write_json_atomic
from sim.engine import SimContext, observe, prepare, route_arclength
from sim.errors import ConfigError
from sim.geometry import local_to_global_xy, wrap_angle
from sim.scoring.epdms import (
    EPDMSConfig,
    EPDMSResult,
    ScoringData,
    action_to_proposal,
    logged_ego_state,
    score_proposal,
)
from sim.scoring.pseudo_sim import (
    FrameScore,
    PseudoSimConfig,
    aggregate_frames,
    combine_frame,
    score_group_results,
    vanished_warnings,
    with_extended_comfort,
)
from sim.scoring.stage_two import FrameConfig, StageTwoConfig, select_frames, stage_two_starts
from sim.types.observation import CameraImages, Observation
from sim.types.scenario import Scenario
from sim.types.state import EgoState, WorldState


def _renderer_version() -> str:
    """render.RENDERER_VERSION: bumped whenever rendered pixels change."""
    import render

    return render.RENDERER_VERSION


RENDERER_VERSION = _renderer_version()
CACHE_FORMAT = 1


# ---- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderSettings:
    """What the policies see. cameras: names (the scenario's rig, or nuScenes'); width, height:
    pixels per camera; backend: "cpu" | "gsplat" | "torch" | "auto"."""

    cameras: tuple[str, ...] = ("CAM_FRONT",)
    width: int = 240
    height: int = 135
    backend: str = "cpu"


@dataclass(frozen=True)
class ScoreSettings:
    """Everything a pseudo-simulation run depends on.

    - render, frames, stage_two, pseudo, epdms: sub-configs.
    - cache_dir: observation cache folder (None: no disk cache, observations kept in memory for
      the scenario only).
    - thumbnails: "first" (the first frame of each scenario), "all" or "none": front-camera PNGs
      of the stage-one and stage-two ("now") observations.
    - seed: seed of the degraded policies.
    """

    render: RenderSettings = RenderSettings()
    frames: FrameConfig = FrameConfig()
    stage_two: StageTwoConfig = StageTwoConfig()
    pseudo: PseudoSimConfig = PseudoSimConfig()
    epdms: EPDMSConfig = EPDMSConfig()
    cache_dir: str | None = None
    thumbnails: str = "first"
    seed: int = 0

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "epdms":
                value = {"config": "default" if value == EPDMSConfig() else "custom"}
            elif dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class ScenarioRef:
    """Where a scenario comes from: a nuScenes-layout dataroot + version + scene, or a scenario
    file. Workers load it themselves (small and picklable)."""

    scene: str
    dataroot: str | None = None
    version: str = "v1.0-mini"
    scenario_file: str | None = None

    def load(self) -> Scenario:
        if self.scenario_file:
            from scenarios.scenario_file import load_scenario_file

            return load_scenario_file(self.scenario_file)
        from scenarios.nuscenes_adapter import load_scenario

        return load_scenario(self.dataroot, self.scene, self.version)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_scenarios(dataroots: Sequence[Path], scenes: Sequence[str], version: str = "v1.0-mini",
                      scenario_files: Sequence[Path] = ()) -> list[ScenarioRef]:
    """The scenarios named on the command line: every scene of each dataroot, or only `scenes`
    (comma-separated values are split); plus scenario files."""
    from scenarios.nuscenes_adapter import list_scenes

    wanted = [s.strip() for item in scenes for s in str(item).split(",") if s.strip()]
    refs: list[ScenarioRef] = []
    found: set[str] = set()
    for root in dataroots:
        names = [info.name for info in list_scenes(root, version)]
        for name in names:
            if not wanted or name in wanted:
                refs.append(ScenarioRef(name, str(root), version))
                found.add(name)
    missing = [s for s in wanted if s not in found]
    if missing:
        raise ConfigError(f"scene(s) {', '.join(missing)} not found in {', '.join(str(d) for d in dataroots)} "
                          f"(version {version}); list them with `splatsim data info --dataroot DIR`")
    for path in scenario_files:
        refs.append(ScenarioRef(Path(path).name, scenario_file=str(path)))
    if not refs:
        raise ConfigError("no scenario to score: pass --dataroot DIR (and optionally --scenes) or --scenario-file")
    return refs


# ---- the observation cache ----------------------------------------------------------------------------


def scenario_content_hash(scenario: Scenario) -> str:
    """sha256 of everything in a scenario that rendering and scoring read (name, time grid, ego
    log, actor tracks, rig, route, map lanes and drivable area)."""
    import shapely

    h = hashlib.sha256(scenario.name.encode())

    def add(name: str, value) -> None:
        a = np.asarray(value)
        if a.dtype.hasobject:
            a = a.astype(str)
        a = np.ascontiguousarray(a)
        h.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        h.update(a.tobytes())

    add("t_us", scenario.t_us)
    for group in ("ego", "actors", "cameras", "route"):
        obj = getattr(scenario, group)
        for f in dataclasses.fields(obj):
            add(f"{group}.{f.name}", getattr(obj, f.name))
    for f in dataclasses.fields(scenario.map.lanes):
        add(f"lanes.{f.name}", getattr(scenario.map.lanes, f.name))
    h.update(shapely.to_wkb(scenario.map.drivable_area))
    h.update(repr(dataclasses.asdict(scenario.ego_params)).encode())
    return h.hexdigest()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:80] or "x"


class ObservationCache:
    """Rendered observations of one scenario, on disk (npz per observation) and in memory.

    Counters: hits (disk or memory), misses, renders (renderer calls), corrupt (unreadable files
    that were re-rendered)."""

    def __init__(self, root: Path | None, scenario: Scenario, render: RenderSettings, backend: str,
                 street_config: str):
        self.root = Path(root) if root is not None else None
        self.scenario_hash = scenario_content_hash(scenario)
        self.render = render
        self.backend = backend
        self.street_config = street_config
        self.folder = (self.root / _slug(RENDERER_VERSION) / f"{_slug(scenario.name)}-{self.scenario_hash[:16]}"
                       if self.root is not None else None)
        self.memory: dict[str, CameraImages] = {}
        self.hits = self.misses = self.renders = self.corrupt = 0

    def key(self, step: int, ego: EgoState) -> str:
        spec = {"format": CACHE_FORMAT, "renderer": RENDERER_VERSION, "scenario": self.scenario_hash, "step": int(step),
                "pose": [f"{ego.x_m:.5f}", f"{ego.y_m:.5f}", f"{float(wrap_angle(ego.yaw_rad)):.6f}"],
                "cameras": list(self.render.cameras), "width": self.render.width, "height": self.render.height,
                "backend": self.backend, "street": self.street_config}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]

    def path(self, key: str) -> Path | None:
        return self.folder / f"{key}.npz" if self.folder is not None else None

    def get(self, key: str) -> CameraImages | None:
        if key in self.memory:
            self.hits += 1
            return self.memory[key]
        path = self.path(key)
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    images = CameraImages(names=z["names"], rgb=z["rgb"], depth_m=z["depth_m"].astype(np.float32),
                                          alpha=z["alpha"].astype(np.float32), intrinsics=z["intrinsics"],
                                          pose_camera_to_ego=z["pose_camera_to_ego"])
                self.memory[key] = images
                self.hits += 1
                return images
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                self.corrupt += 1
        self.misses += 1
        return None

    def put(self, key: str, images: CameraImages) -> None:
        self.memory[key] = images
        path = self.path(key)
        if path is None:
            return
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, names=np.asarray(images.names, dtype=str), rgb=images.rgb,
                                depth_m=images.depth_m.astype(np.float16), alpha=images.alpha.astype(np.float16),
                                intrinsics=images.intrinsics, pose_camera_to_ego=images.pose_camera_to_ego)

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "renders": self.renders, "corrupt": self.corrupt,
                "folder": str(self.folder) if self.folder is not None else None}


def default_renderer_factory(render: RenderSettings) -> Callable[[Scenario], object]:
    """Builds the Gaussian renderer of a scenario (procedural street, procedural actor assets)."""

    def build(scenario: Scenario):
        from render.renderer import GaussianRenderer

        return GaussianRenderer.for_scenario(scenario, render.width, render.height, list(render.cameras),
                                             render.backend)

    return build


def _street_config_key() -> str:
    from render.procedural import StreetSceneConfig

    return repr(StreetSceneConfig())


# ---- one scenario -------------------------------------------------------------------------------------


@dataclass
class PolicyScenarioScore:
    """One policy on one scenario: its frames (pure FrameScores), the JSON details of every frame
    (starts, every stage-one and stage-two result), warnings and timings."""

    policy: str
    scene: str
    frames: list[FrameScore]
    details: list[dict]
    warnings: list[str]
    timings: dict

    def summary(self) -> dict:
        return aggregate_frames(self.frames).to_json()

    def to_dict(self) -> dict:
        frames = []
        for f, d in zip(self.frames, self.details):
            frames.append({**f.to_json(), **d})
        return {"policy": self.policy, "scene": self.scene, "summary": self.summary(), "frames": frames,
                "warnings": self.warnings, "timings": self.timings}


class ScenarioScorer:
    """Scores policies on one scenario, rendering each observation once (cache)."""

    def __init__(self, scenario: Scenario, settings: ScoreSettings,
                 renderer_factory: Callable[[Scenario], object] | None = None, context: SimContext | None = None):
        self.scenario = scenario
        self.settings = settings
        self.context = context if context is not None else prepare(scenario)
        self.data = ScoringData.build(self.context)
        self._factory = renderer_factory or default_renderer_factory(settings.render)
        self._renderer = None
        backend = settings.render.backend
        if backend == "auto":
            from render.backends import resolve_backend

            backend = resolve_backend("auto")
        root = Path(settings.cache_dir) if settings.cache_dir else None
        self.cache = ObservationCache(root, scenario, settings.render, backend, _street_config_key())
        self.frames = select_frames(self.context, settings.frames)
        if not self.frames:
            raise ConfigError(f"scenario {scenario.name!r} ({scenario.duration_s:.1f} s) is too short for "
                              f"pseudo-simulation: a frame needs {settings.frames.previous_offset_s:g} s before it and "
                              f"{2 * settings.frames.horizon_s:g} s after it logged")
        self.starts = {k: stage_two_starts(self.data, k, settings.stage_two, settings.frames) for k in self.frames}
        self.render_s = 0.0
        self.thumbnails: dict[str, bytes] = {}

    # -- observations --

    @property
    def renderer(self):
        if self._renderer is None:
            t0 = time.perf_counter()
            self._renderer = self._factory(self.scenario)
            self.render_s += time.perf_counter() - t0
        return self._renderer

    def world_state(self, step: int, ego: EgoState) -> WorldState:
        from sim.actors.behaviour import initial_actor_state

        actors = initial_actor_state(self.scenario.actors, self.context.paths, step, False)
        return WorldState(step_index=int(step), t_us=int(self.scenario.t_us[step]), ego=ego, actors=actors)

    def images(self, state: WorldState) -> CameraImages:
        key = self.cache.key(state.step_index, state.ego)
        images = self.cache.get(key)
        if images is None:
            renderer = self.renderer
            t0 = time.perf_counter()
            images = renderer.render(self.scenario, state)
            self.render_s += time.perf_counter() - t0
            self.cache.renders += 1
            self.cache.put(key, images)
        return images

    def observation(self, step: int, ego: EgoState) -> Observation:
        state = self.world_state(step, ego)
        hint = float(self.data.log_ego.route_s_m[step] - self.data.route.offset_m)
        route_s = route_arclength(self.context.route_xy, self.context.route_s_m, ego.xy, hint, 1e9)
        obs = observe(self.context, state, route_s)
        return dataclasses.replace(obs, images=self.images(state))

    def prerender(self) -> None:
        """Render (or load) every observation the scenario's frames need."""
        p = self.settings.frames.previous_offset_steps
        for k in self.frames:
            self.images(self.world_state(k, logged_ego_state(self.data, k)))
            self.images(self.world_state(k - p, logged_ego_state(self.data, k - p)))
            st = self.starts[k]
            for g in (st.now, st.prev):
                for i in range(len(g)):
                    self.images(self.world_state(g.step, g.ego(i)))

    def thumbnail(self, name: str, images: CameraImages) -> str:
        names = [str(n) for n in images.names]
        c = names.index("CAM_FRONT") if "CAM_FRONT" in names else 0
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.asarray(images.rgb[c], np.uint8)).save(buf, format="PNG", optimize=True)
        rel = f"img/obs/{_slug(self.scenario.name)}/{name}.png"
        self.thumbnails[rel] = buf.getvalue()
        return rel

    # -- policies --

    def plan(self, policy, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        policy.reset(self.scenario)
        action = policy.plan(obs)
        return action_to_proposal(action, obs.ego, self.scenario.ego_params, self.settings.epdms)

    def score_policy(self, policy, name: str | None = None) -> PolicyScenarioScore:
        """Stage one, stage two and the combination on every frame, for one policy object."""
        name = name or getattr(policy, "name", "policy")
        cfg, ps = self.settings.epdms, self.settings.pseudo
        p = self.settings.frames.previous_offset_steps
        frames, details, warnings = [], [], []
        t_plan = t_score = 0.0
        render_before = self.render_s
        t_start = time.perf_counter()
        for fi, k in enumerate(self.frames):
            st = self.starts[k]
            thumbs = self.settings.thumbnails == "all" or (self.settings.thumbnails == "first" and fi == 0)
            # stage one: k - 0.5 s, then k (EC between them, given to both)
            s1, ends, s1_thumb = {}, {}, None
            for tag, step in (("prev", k - p), ("now", k)):
                ego = logged_ego_state(self.data, step)
                obs = self.observation(step, ego)
                t0 = time.perf_counter()
                xy, yaw = self.plan(policy, obs)
                t1 = time.perf_counter()
                s1[tag] = score_proposal(self.data, step, xy, yaw, previous_proposal=s1.get("prev"), config=cfg)
                t_score += time.perf_counter() - t1
                t_plan += t1 - t0
                ends[tag] = local_to_global_xy(xy[-1], ego.xy, ego.yaw_rad)
                if tag == "now" and thumbs:
                    s1_thumb = self.thumbnail(f"f{k:04d}-stage1", obs.images)
            s1["prev"] = with_extended_comfort(s1["prev"], s1["now"].ec, cfg)
            # stage two: each start at 3.5 s, then at 4 s
            s2 = {"now": [], "prev": []}
            start_rows = st.to_dicts()
            for i in range(len(st.offsets)):
                pair = {}
                for tag, group in (("prev", st.prev), ("now", st.now)):
                    ego = group.ego(i)
                    obs = self.observation(group.step, ego)
                    t0 = time.perf_counter()
                    xy, yaw = self.plan(policy, obs)
                    t1 = time.perf_counter()
                    pair[tag] = score_proposal(self.data, group.step, xy, yaw, ego_state=ego,
                                               previous_proposal=pair.get("prev"), config=cfg)
                    t_score += time.perf_counter() - t1
                    t_plan += t1 - t0
                    if tag == "now" and thumbs:
                        start_rows[i]["thumbnail"] = self.thumbnail(f"f{k:04d}-start{i:02d}", obs.images)
                    start_rows[i][f"plan_end_{tag}_xy"] = [round(float(v), 3) for v in
                                                           local_to_global_xy(xy[-1], ego.xy, ego.yaw_rad)]
                pair["prev"] = with_extended_comfort(pair["prev"], pair["now"].ec, cfg)
                for tag in ("now", "prev"):
                    s2[tag].append(pair[tag])
                    start_rows[i][f"stage_two_{tag}"] = _result_dict(pair[tag])
            now = score_group_results(s1["now"], ends["now"], st.now.xy, s2["now"], ps)
            prev = score_group_results(s1["prev"], ends["prev"], st.prev.xy, s2["prev"], ps)
            frame = combine_frame(k, now, prev, ps)
            frames.append(frame)
            details.append({"t_s": round(k * 0.1, 2), "stage_one": {t: _result_dict(r) for t, r in s1.items()},
                            "stage_one_thumbnail": s1_thumb, "starts": start_rows, "starts_dropped_off_road": st.dropped})
            warnings += vanished_warnings([frame], f"policy {name}, scene {self.scenario.name}", ps)
        timings = {"wall_s": round(time.perf_counter() - t_start, 3), "plan_s": round(t_plan, 3),
                   "score_s": round(t_score, 3), "render_s": round(self.render_s - render_before, 3)}
        return PolicyScenarioScore(name, self.scenario.name, frames, details, warnings, timings)


def _result_dict(r: EPDMSResult) -> dict:
    d = r.to_json()
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


# ---- tasks (one per scenario; in-process or on Ray workers) --------------------------------------------


@dataclass(frozen=True)
class ScenarioTask:
    """Score `policies` on one scenario; with closed_loop, also run each in the closed loop."""

    ref: ScenarioRef
    policies: tuple[str, ...]
    settings: ScoreSettings
    closed_loop: bool = False
    closed_loop_reactive: bool = False
    closed_loop_replan_steps: int = 1


def run_scenario_task(task: ScenarioTask, renderer_factory: Callable[[Scenario], object] | None = None) -> dict:
    """One task: {"ref", "scene", "scores": {policy: PolicyScenarioScore}, "closed_loop": {policy:
    dict}, "thumbnails": {relpath: png bytes}, "cache": stats, "starts": [...], "wall_s"}."""
    t0 = time.perf_counter()
    scenario = task.ref.load()
    scorer = ScenarioScorer(scenario, task.settings, renderer_factory)
    scores, closed = {}, {}
    for name in task.policies:
        policy = resolve_policy(name, task.settings.seed)
        try:
            scores[name] = scorer.score_policy(policy, name)
        finally:
            if hasattr(policy, "close"):
                policy.close()
        if task.closed_loop:
            closed[name] = closed_loop_scores(scenario, name, task.settings, scorer, task.closed_loop_reactive,
                                              task.closed_loop_replan_steps)
    return {"ref": task.ref, "scene": scenario.name, "scores": scores, "closed_loop": closed,
            "thumbnails": scorer.thumbnails, "cache": scorer.cache.stats(), "frames": list(scorer.frames),
            "wall_s": round(time.perf_counter() - t0, 3)}


def closed_loop_span(frames: Sequence[int], settings: ScoreSettings, num_steps: int) -> int:
    """Steps of the closed loop that covers what pseudo-simulation looks at: from step 0 to the
    last frame's stage-two horizon (last frame + 2 x 4 s), within the log."""
    return int(min(max(frames) + 2 * settings.frames.horizon_steps, num_steps - 1))


def closed_loop_scores(scenario: Scenario, policy_name: str, settings: ScoreSettings, scorer: ScenarioScorer,
                       reactive: bool = False, replan_every_steps: int = 1) -> dict:
    """The policy in the closed loop from the log's start over the span its frames cover
    (`closed_loop_span`), scored with `episode_scores`. Remote policies see rendered cameras;
    the privileged built-ins need none."""
    from policies_api.remote_policy import is_remote_policy_name
    from sim.engine import EngineConfig, run_episode
    from sim.policies.registry import is_degraded_policy_name
    from sim.scoring.episode_scores import episode_scores

    steps = closed_loop_span(scorer.frames, settings, scenario.num_steps)
    context = prepare(scenario, EngineConfig(reactive=reactive, max_steps=steps, replan_every_steps=replan_every_steps))
    policy = resolve_policy(policy_name, settings.seed)
    renderer = scorer.renderer if is_remote_policy_name(policy_name) else None
    t0 = time.perf_counter()
    try:
        episode = run_episode(context, policy, renderer)
    finally:
        if hasattr(policy, "close"):
            policy.close()
    scores = episode_scores(episode, ScoringData.build(context)).to_json()
    return {"policy": policy_name, "degraded": is_degraded_policy_name(policy_name), "steps": int(episode.num_steps),
            "end_reason": episode.end_reason, "reactive": reactive,
            "replan_every_steps": replan_every_steps, "epdms_mean": scores["epdms_mean"],
            "subscores_mean": scores["subscores_mean"], "route_completion": scores["route_completion"],
            "at_fault_collisions": scores["at_fault_collisions"],
            "hd_score": scores["hugsim"]["hd_score"], "driving_score": scores["bench2drive"]["driving_score"],
            "neuroncap": scores["neuroncap"]["score"], "wall_s": round(time.perf_counter() - t0, 3)}


def run_tasks(tasks: Sequence[ScenarioTask], workers: int | None = None, ray_address: str | None = None,
              progress: bool = True, desc: str = "scenarios",
              renderer_factory: Callable[[Scenario], object] | None = None) -> list[dict]:
    """Run tasks in-process (workers None/0, no address) or on Ray, with a progress bar; results
    in task order."""
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit="scenario", disable=not progress, file=sys.stderr)
    try:
        if not workers and not ray_address:
            out = []
            for task in tasks:
                bar.set_postfix_str(task.ref.scene)
                out.append(run_scenario_task(task, renderer_factory))
                bar.update(1)
            return out
        import ray

        started = False
        if not ray.is_initialized():
            if ray_address:
                ray.init(address=ray_address, log_to_driver=False)
            else:
                ray.init(num_cpus=int(workers), include_dashboard=False, log_to_driver=False)
            started = True
        try:
            remote = ray.remote(num_cpus=1, max_retries=1)(run_scenario_task)
            refs = [remote.remote(t) for t in tasks]
            index = {r: i for i, r in enumerate(refs)}
            results: list[dict | None] = [None] * len(refs)
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for r in done:
                    results[index[r]] = ray.get(r)
                    bar.set_postfix_str(results[index[r]]["scene"])
                    bar.update(1)
            return results  # type: ignore[return-value]
        finally:
            if started:
                ray.shutdown()
    finally:
        bar.close()


# ---- the run -----------------------------------------------------------------------------------------


def score_scenarios(refs: Sequence[ScenarioRef], policies: Sequence[str], settings: ScoreSettings, out: Path | None,
                    workers: int | None = None, ray_address: str | None = None, progress: bool = True,
                    renderer_factory: Callable[[Scenario], object] | None = None, report: bool = True) -> dict:
    """Score every policy on every scenario; write DIR/pseudo_sim.json, the thumbnails and the
    report when `out` is given; return the JSON document."""
    if not policies:
        raise ConfigError("name at least one --policy")
    check_policy_names(policies)
    t0 = time.perf_counter()
    tasks = [ScenarioTask(ref, tuple(policies), settings) for ref in refs]
    results = run_tasks(tasks, workers, ray_address, progress, "pseudo-sim", renderer_factory)
    wall = time.perf_counter() - t0
    doc = build_document(results, policies, settings, wall, workers, ray_address)
    if out is not None:
        out = Path(out)
        write_outputs(results, doc, out, report)
    return doc


def build_document(results: list[dict], policies: Sequence[str], settings: ScoreSettings, wall_s: float,
                   workers: int | None, ray_address: str | None) -> dict:
    """The JSON document of a run (pseudo_sim.json)."""
    from tools.machine import machine_info

    per_policy = {}
    warnings = []
    for name in policies:
        rows = [r["scores"][name] for r in results]
        frames = [f for row in rows for f in row.frames]
        agg = aggregate_frames(frames).to_json()
        agg["scenarios"] = len(rows)
        agg["score_mean_over_scenarios"] = _mean([row.summary()["score"] for row in rows])
        agg["stage_one_mean_over_scenarios"] = _mean([row.summary()["stage_one_epdms"] for row in rows])
        per_policy[name] = {"aggregate": agg, "scenarios": [row.to_dict() for row in rows]}
        for row in rows:
            warnings += row.warnings
    cache = {k: sum(r["cache"][k] for r in results) for k in ("hits", "misses", "renders", "corrupt")}
    n = len(results)
    return {
        "kind": "splatsim-pseudo-sim",
        "version": 1,
        "renderer_version": RENDERER_VERSION,
        "settings": settings.to_dict(),
        "scenarios": [{"scene": r["scene"], **r["ref"].to_dict(), "frames": r["frames"], "cache": r["cache"],
                       "wall_s": r["wall_s"]} for r in results],
        "policies": per_policy,
        "weights_vanished": any(p["aggregate"]["groups_weights_vanished"] for p in per_policy.values()),
        "warnings": warnings,
        "cache": cache,
        "throughput": {"wall_s": round(wall_s, 3), "scenarios": n,
                       "scenarios_per_minute": round(60.0 * n / wall_s, 3) if wall_s > 0 else None,
                       "workers": workers, "ray_address": ray_address},
        "machine": machine_info(),
    }


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.mean(vals)), 6) if vals else None


def write_outputs(results: list[dict], doc: dict, out: Path, report: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        for rel, data in r["thumbnails"].items():
            write_bytes_atomic(out / rel, data)
    write_json_atomic(out / "pseudo_sim.json", doc)
    if report:
        from tools.pseudo_sim_report import write_score_report

        write_score_report(doc, out)


# ---- the command ------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("SPLATSIM_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME")
                                                           or os.path.expanduser("~/.cache"), "splatsim")
    return Path(base) / "observations"


def settings_from_options(cameras: Sequence[str], width: int, height: int, backend: str, frames: int, stride_s: float,
                          first_frame_s: float, lateral: Sequence[float], longitudinal: Sequence[float],
                          heading: Sequence[float], speed: Sequence[float], sample_starts: int, sigma2: float,
                          on_vanished: str, cache: Path | None, no_cache: bool, thumbnails: str, seed: int
                          ) -> ScoreSettings:
    if width < 16 or height < 16:
        raise ConfigError(f"--width/--height must be at least 16 pixels, got {width}x{height}")
    if thumbnails not in ("first", "all", "none"):
        raise ConfigError(f"--thumbnails must be first, all or none, got {thumbnails!r}")
    if frames < 1:
        raise ConfigError(f"--frames must be >= 1, got {frames}")
    stage_two = StageTwoConfig(
        mode="sample" if sample_starts else "grid", num_samples=max(sample_starts, 1), seed=seed,
        lateral_offsets_m=tuple(lateral) or (0.0,), longitudinal_offsets_m=tuple(longitudinal) or (0.0,),
        heading_offsets_rad=tuple(heading) or (0.0,), speed_offsets_mps=tuple(speed) or (0.0,))
    cache_dir = None if no_cache else str(cache if cache is not None else default_cache_dir())
    return ScoreSettings(render=RenderSettings(tuple(cameras) or ("CAM_FRONT",), width, height, backend),
                         frames=FrameConfig(first_frame_s=first_frame_s, stride_s=stride_s, max_frames=frames),
                         stage_two=stage_two, pseudo=PseudoSimConfig(sigma_squared_m2=sigma2, on_vanished=on_vanished),
                         cache_dir=cache_dir, thumbnails=thumbnails, seed=seed)


POLICY_HELP = ("expert | constant-velocity | idm | noisy | laggy | over-cautious | aggressive | grpc://HOST:PORT | "
               "unix://PATH (repeatable).")

COMMON_OPTIONS = dict(
    dataroot=typer.Option([], "--dataroot", help="nuScenes-layout dataroot (repeatable)."),
    version=typer.Option("v1.0-mini", help="Dataset version folder under each dataroot."),
    scenes=typer.Option([], "--scenes", help="Scene names (repeatable or comma-separated); default: every scene."),
    scenario_file=typer.Option([], "--scenario-file", help="Scenario file(s) (repeatable)."),
    cameras=typer.Option(["CAM_FRONT"], "--cameras", help="Cameras the policy sees (repeatable)."),
    width=typer.Option(240, help="Image width per camera, pixels."),
    height=typer.Option(135, help="Image height per camera, pixels."),
    backend=typer.Option("cpu", help="Render backend: cpu | gsplat | torch | auto."),
    frames=typer.Option(3, help="Most frames per scenario."),
    stride_s=typer.Option(2.0, help="Seconds between frames."),
    first_frame_s=typer.Option(0.5, help="Time of the first frame (>= 0.5 s, its -0.5 s frame must be logged)."),
    lateral=typer.Option([-1.0, 0.0, 1.0], "--lateral", help="Stage-two lateral offsets, m (repeatable)."),
    longitudinal=typer.Option([-4.0, 0.0, 4.0], "--longitudinal", help="Stage-two longitudinal offsets, m (repeatable)."),
    heading=typer.Option([0.0], "--heading", help="Stage-two heading offsets, rad (repeatable)."),
    speed=typer.Option([0.0], "--speed", help="Stage-two speed offsets, m/s (repeatable; added to the log's speed "
                                                "and 0.5 /s x the longitudinal offset)."),
    sample_starts=typer.Option(0, help="Draw this many random stage-two starts instead of the grid (0: grid)."),
    sigma2=typer.Option(0.1, "--sigma2", help="sigma^2 of the proximity weights, m^2 (NAVSIM: 0.1)."),
    on_vanished=typer.Option("uniform", help="When all weights vanish: uniform (NAVSIM) | nearest | nan. "
                                             "Always flagged."),
    cache=typer.Option(None, help="Observation cache folder (default: $SPLATSIM_CACHE or ~/.cache/splatsim)."),
    no_cache=typer.Option(False, "--no-cache", help="Do not read or write the observation cache."),
    workers=typer.Option(None, help="Local Ray with N CPUs (one scenario per task)."),
    ray_address=typer.Option(None, help="Address of a running Ray cluster (e.g. auto or ray://HOST:10001)."),
    seed=typer.Option(0, help="Seed of the degraded policies and of sampled starts."),
    thumbnails=typer.Option("first", help="Front-camera PNGs of observations: first (frame) | all | none."),
)


def score_command(
    dataroot: List[Path] = COMMON_OPTIONS["dataroot"],
    version: str = COMMON_OPTIONS["version"],
    scenes: List[str] = COMMON_OPTIONS["scenes"],
    scenario_file: List[Path] = COMMON_OPTIONS["scenario_file"],
    policy: List[str] = typer.Option(["idm"], "--policy", help=POLICY_HELP),
    cameras: List[str] = COMMON_OPTIONS["cameras"],
    width: int = COMMON_OPTIONS["width"],
    height: int = COMMON_OPTIONS["height"],
    backend: str = COMMON_OPTIONS["backend"],
    frames: int = COMMON_OPTIONS["frames"],
    stride_s: float = COMMON_OPTIONS["stride_s"],
    first_frame_s: float = COMMON_OPTIONS["first_frame_s"],
    lateral: List[float] = COMMON_OPTIONS["lateral"],
    longitudinal: List[float] = COMMON_OPTIONS["longitudinal"],
    heading: List[float] = COMMON_OPTIONS["heading"],
    speed: List[float] = COMMON_OPTIONS["speed"],
    sample_starts: int = COMMON_OPTIONS["sample_starts"],
    sigma2: float = COMMON_OPTIONS["sigma2"],
    on_vanished: str = COMMON_OPTIONS["on_vanished"],
    cache: Optional[Path] = COMMON_OPTIONS["cache"],
    no_cache: bool = COMMON_OPTIONS["no_cache"],
    workers: Optional[int] = COMMON_OPTIONS["workers"],
    ray_address: Optional[str] = COMMON_OPTIONS["ray_address"],
    seed: int = COMMON_OPTIONS["seed"],
    thumbnails: str = COMMON_OPTIONS["thumbnails"],
    out: Path = typer.Option(..., "--out", help="Output folder: pseudo_sim.json, report.md/html, img/."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-policy aggregates as JSON to stdout."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Pseudo-simulation (NAVSIM v2) scores of policies: stage one from the logged frames, stage two
    from rendered start states 4 s later, weighted by proximity to each plan's end."""
    from rich.console import Console

    console = Console(stderr=True)
    settings = settings_from_options(cameras, width, height, backend, frames, stride_s, first_frame_s, lateral,
                                     longitudinal, heading, speed, sample_starts, sigma2, on_vanished, cache, no_cache,
                                     thumbnails, seed)
    refs = resolve_scenarios(dataroot, scenes, version, scenario_file)
    doc = score_scenarios(refs, policy, settings, out, workers, ray_address, progress)
    for line in doc["warnings"]:
        console.print(f"[bold yellow]{line}[/]", highlight=False)
    if doc["weights_vanished"]:
        console.print(f"[bold yellow]WARNING weights_vanished: {len(doc['warnings'])} group(s) had vanished stage-two "
                      f"weights (see {out / 'report.md'})[/]", highlight=False)
    summary = {name: p["aggregate"] for name, p in doc["policies"].items()}
    if as_json:
        print(json.dumps({"policies": summary, "weights_vanished": doc["weights_vanished"], "cache": doc["cache"],
                          "throughput": doc["throughput"], "out": str(out)}, indent=2, sort_keys=True))
    else:
        for name, agg in summary.items():
            console.print(f"{name:>18}: pseudo-sim EPDMS={_f(agg['score'])} stage one={_f(agg['stage_one_epdms'])} "
                          f"stage two={_f(agg['stage_two_epdms_weighted'])} frames={agg['frames']} "
                          f"vanished groups={agg['groups_weights_vanished']}/{agg['groups']}", highlight=False)
        t = doc["throughput"]
        console.print(f"[green]wrote[/] {out / 'pseudo_sim.json'} and {out / 'report.md'}: {t['scenarios']} scenario(s) "
                      f"in {t['wall_s']:.1f} s ({t['scenarios_per_minute']} / min); cache {doc['cache']}",
                      highlight=False)


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


__all__ = ["RENDERER_VERSION", "RenderSettings", "ScoreSettings", "ScenarioRef", "ScenarioScorer", "ObservationCache",
           "ScenarioTask", "run_scenario_task", "run_tasks", "score_scenarios", "score_command", "resolve_scenarios",
           "make_score_policy", "scenario_content_hash", "closed_loop_scores"]
