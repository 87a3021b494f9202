"""Pseudo-simulation scores of policies on one scenario (NAVSIM v2).

For each frame of the scenario (`sim.scoring.stage_two.select_frames`):

1. stage one: the observation at the logged pose (frame k and k - 0.5 s) is rendered by the
   Gaussian renderer, the policy plans, `score_proposal` scores the plan at the logged ego;
2. stage two: the N start states 4 s later (`stage_two_starts`: by default the 3.5 s / 4 s states of
   a fixed family of rollouts from the frame) are rendered with the actors where the log has
   them then, the policy plans from each, and each plan is scored
   with `score_proposal(..., ego_state=start)` after the history that led to the start (HC);
3. the stage-two scores are weighted by the distance of each start to the end of the stage-one
   plan and combined (`sim.scoring.pseudo_sim`).

In both stages the actors of each plan's rollout are `settings.traffic`: reactive IDM vehicles
(NAVSIM v2) or the log replayed (`sim.scoring.traffic`).

Every observation is rendered once (`evaluation.observation_cache`). The policy is reset before
every plan: pseudo-simulation frames are independent observations (NAVSIM asks its agents once
per scene).
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from evaluation.observation_cache import ObservationCache, default_renderer_factory, slug, street_config_key
from evaluation.settings import ScoreSettings
from sim.engine import SimContext, observe, prepare, route_arclength
from sim.errors import ConfigError
from sim.geometry import local_to_global_xy
from sim.scoring.epdms import EPDMSResult, ScoringData, action_to_proposal, logged_ego_state, score_proposal
from sim.scoring.pseudo_sim import (
    FrameScore,
    PseudoSimAggregate,
    aggregate_frames,
    combine_frame,
    score_group_results,
    vanished_warnings,
    with_extended_comfort,
)
from sim.scoring.stage_two import select_frames, stage_two_starts
from sim.scoring.traffic import Traffic
from sim.types.observation import CameraImages, Observation
from sim.types.scenario import Scenario
from sim.types.state import EgoState, WorldState


@dataclass
class PolicyScenarioScore:
    """One policy on one scenario: the traffic its plans were scored against, its frames (pure
    FrameScores), the JSON details of every frame (starts, every stage-one and stage-two result),
    warnings and timings."""

    policy: str
    scene: str
    traffic: Traffic
    frames: list[FrameScore]
    details: list[dict]
    warnings: list[str]
    timings: dict

    def summary(self) -> PseudoSimAggregate:
        return aggregate_frames(self.frames)

    def frame_dicts(self) -> list[dict]:
        """Each frame's score with its details (pseudo_sim.json's "frames")."""
        return [{**f.to_json(), **d} for f, d in zip(self.frames, self.details)]

    def to_json(self) -> dict:
        return {"policy": self.policy, "scene": self.scene, "traffic": self.traffic.value,
                "summary": self.summary().to_json(),
                "frames": self.frame_dicts(), "warnings": self.warnings, "timings": self.timings}


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
        self.cache = ObservationCache(root, scenario, settings.render, backend, street_config_key())
        self.frames = select_frames(self.context, settings.frames)
        if not self.frames:
            raise ConfigError(f"scenario {scenario.name!r} ({scenario.duration_s:.1f} s) is too short for "
                              f"pseudo-simulation: a frame needs {settings.frames.previous_offset_s:g} s before it and "
                              f"{2 * settings.frames.horizon_s:g} s after it logged")
        self.starts = {k: stage_two_starts(self.data, k, settings.stage_two, settings.frames, epdms=settings.epdms)
                       for k in self.frames}
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
        rel = f"img/obs/{slug(self.scenario.name)}/{name}.png"
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
                s1[tag] = score_proposal(self.data, step, xy, yaw, previous_proposal=s1.get("prev"), config=cfg,
                                         traffic=self.settings.traffic)
                t_score += time.perf_counter() - t1
                t_plan += t1 - t0
                ends[tag] = local_to_global_xy(xy[-1], ego.xy, ego.yaw_rad)
                if tag == "now" and thumbs:
                    s1_thumb = self.thumbnail(f"f{k:04d}-stage1", obs.images)
            s1["prev"] = with_extended_comfort(s1["prev"], s1["now"].ec, cfg)
            # stage two: each start at 3.5 s, then at 4 s
            s2 = {"now": [], "prev": []}
            start_rows = st.to_dicts()
            for i in range(len(st)):
                pair = {}
                for tag, group in (("prev", st.prev), ("now", st.now)):
                    ego = group.ego(i)
                    obs = self.observation(group.step, ego)
                    t0 = time.perf_counter()
                    xy, yaw = self.plan(policy, obs)
                    t1 = time.perf_counter()
                    pair[tag] = score_proposal(self.data, group.step, xy, yaw, ego_state=ego,
                                               previous_proposal=pair.get("prev"), config=cfg,
                                               history=group.history[i], traffic=self.settings.traffic)
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
                            "stage_one_thumbnail": s1_thumb, "starts": start_rows,
                            "starts_dropped_off_road": st.dropped, "starts_merged": st.merged})
            warnings += vanished_warnings([frame], f"policy {name}, scene {self.scenario.name}", ps)
        timings = {"wall_s": round(time.perf_counter() - t_start, 3), "plan_s": round(t_plan, 3),
                   "score_s": round(t_score, 3), "render_s": round(self.render_s - render_before, 3)}
        return PolicyScenarioScore(name, self.scenario.name, self.settings.traffic, frames, details, warnings,
                                   timings)


def _result_dict(r: EPDMSResult) -> dict:
    d = r.to_json()
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
