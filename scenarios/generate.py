"""Batch generation of safety-critical scenarios from ordinary logs, on Ray.

For every requested scene and variant (a work item):
1. pick the adversary (scenarios.adversary.selection: the nearest plausible vehicle for the
   collision type; variant v tries the v-th best candidate first);
2. run the closed loop from the candidate's start step: the reference ego (expert replay by
   default, or any built-in policy) against the adversary, which re-plans every 0.5 s with
   guided diffusion (scenarios.adversary.planner); other actors replay their logs (or run
   the IDM with `reactive`);
3. keep the variant when it is safety-critical (contact with the ego, or adversary TTC below
   the threshold) and realistic (adversary not off-road, no contact with non-ego actors,
   bounded acceleration and jerk: scenarios.adversary.realism); otherwise try the next
   candidate / seed, up to `attempts_per_variant`;
4. write the kept scenario as a scenario file: the source scene cropped to the episode, the
   adversary's realised trajectory as its track, the adversary settings in `metadata`.

Output folder:
- `<item>.scenario.npz`: kept scenarios (scenarios.scenario_file format);
- `thumbs/<item>.png`: a bird's-eye snapshot at the critical moment (when a snapshot function
  is given; `tools` passes render.bev.bev_frame, since scenarios may not import render);
- `records/<item>.json`: one record per finished work item, kept or not, written last;
- `summary.json` and `contact_sheet.png`, rebuilt from the records at the end of every run.

Resuming: a work item is done when its record exists, so a killed run started again skips
finished items and redoes only the rest (redoing an item is deterministic: same bytes).
`settings.json` pins what decides an item's result (seed, type, policy, checkpoint, planner,
realism, ...); resuming a folder with other settings is refused (more scenes or variants, other
workers are fine).
Every file is written to a temporary name in its folder and renamed, so no reader ever sees a
half-written file; temporaries a killed run left behind (".*.tmp") are deleted at start.

Execution: `workers=0` runs in this process; otherwise on Ray, on a local Ray with `workers`
CPUs when no address is given, else on the cluster at `ray_address` ("auto" = the running
one). The driver loads the scenes and ships them to the tasks through the object store, so
workers need no access to the dataroot; only the driver writes files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from scenarios.adversary.guidance import COLLISION_TYPES
from scenarios.adversary.model import (
    DEFAULT_CHECKPOINT,
    AdversaryModel,
    load_checkpoint,
)
from scenarios.adversary.planner import AdversaryPlanner, PlannerConfig
from scenarios.adversary.realism import Outcome, RealismConfig, adversary_outcome
from scenarios.adversary.selection import Candidate, SelectionConfig, select_candidates
from scenarios.scenario_file import SCENARIO_SUFFIX, load_scenario_file, save_scenario
from sim.atomic import write_bytes_atomic
from sim.engine import EngineConfig, initial_state, prepare, run_episode
from sim.errors import ConfigError, ScenarioFileError
from sim.fanout import fan_out
from sim.policies.builtin import BUILTIN_POLICIES
from sim.policies.registry import make_policy
from sim.types.observation import Policy
from sim.types.scenario import ActorTracks, Route, Scenario
from sim.types.state import ActorMode

RECORDS_DIR = "records"
THUMBS_DIR = "thumbs"
SUMMARY_NAME = "summary.json"
SETTINGS_NAME = "settings.json"
# Settings that may change between a run and its resumption (they do not change any item's result).
# (policy_factory is how `policy` is built, not a setting: the name pins the ego.)
_RESUMABLE_FIELDS = ("dataroots", "out_dir", "scenes", "per_scene", "workers", "ray_address", "max_items",
                     "contact_sheet_size_px", "policy_factory")
CONTACT_SHEET_NAME = "contact_sheet.png"
GENERATOR_NAME = "splatsim.generate"

Snapshot = Callable[[Scenario, object, int], np.ndarray]


@dataclass(frozen=True)
class GenerateConfig:
    """Batch generation settings.

    - dataroots: nuScenes-layout dataroots; version: their table folder.
    - out_dir: output folder (created; an existing one is resumed).
    - scenes: scene names to use (all scenes of the dataroots when empty).
    - per_scene: work items (variants) per scene; each keeps at most one scenario.
    - collision_type: "rear-end" | "cut-in" | "head-on" | "any".
    - policy: the reference ego: "expert" (log replay), "idm", "constant-velocity", or any name
      `policy_factory` resolves.
    - policy_factory: builds the ego from `policy` in each worker (picklable; None: the built-in
      registry). The command line injects `policies_api.resolve`, so that remote stacks
      (grpc://, egodriver://) face the adversary without this layer importing the gRPC clients.
    - seed: base seed; every item's seed derives from it, the scene and the variant.
    - workers: local Ray CPUs (0: run in this process); ray_address: a Ray cluster ("auto").
    - checkpoint: adversary model (None: the shipped default).
    - planner: sampling settings (its collision_type and seed are set per item).
    - realism: what counts as critical and realistic. selection: candidate filter.
    - episode_steps: closed-loop length after the takeover (0.1 s steps).
    - attempts_per_variant: candidates / seeds tried before an item is given up.
    - candidates_per_scene: how many of the best candidates variants cycle through.
    - reactive: other vehicles follow the IDM instead of replaying their logs.
    - max_items: stop after this many items (None: all); a later run resumes.
    - contact_sheet_size_px: thumbnail size.
    """

    dataroots: tuple[str, ...]
    out_dir: str
    version: str = "v1.0-mini"
    scenes: tuple[str, ...] = ()
    per_scene: int = 4
    collision_type: str = "any"
    policy: str = "expert"
    seed: int = 0
    workers: int = 2
    ray_address: str | None = None
    checkpoint: str | None = None
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    realism: RealismConfig = field(default_factory=RealismConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    episode_steps: int = 80
    attempts_per_variant: int = 3
    candidates_per_scene: int = 3
    reactive: bool = False
    max_items: int | None = None
    contact_sheet_size_px: int = 360
    policy_factory: Callable[[str], Policy] | None = field(default=None, compare=False)

    def ego_policy(self) -> Policy:
        """A fresh reference ego."""
        return (self.policy_factory or make_policy)(self.policy)

    def __post_init__(self):
        if self.collision_type not in COLLISION_TYPES:
            raise ConfigError(f"--collision-type {self.collision_type!r} is not one of {', '.join(COLLISION_TYPES)}")
        if self.policy_factory is None and self.policy not in BUILTIN_POLICIES:
            raise ConfigError(f"--policy {self.policy!r} is not one of {', '.join(BUILTIN_POLICIES)}")
        if self.per_scene < 1 or self.attempts_per_variant < 1 or self.workers < 0 or self.episode_steps < 10:
            raise ConfigError("per_scene and attempts_per_variant must be >= 1, workers >= 0, episode_steps >= 10")


@dataclass(frozen=True)
class WorkItem:
    """One variant of one scene. candidates: the scene's best candidates (may be empty)."""

    item_id: str
    dataroot: str
    scene_name: str
    variant: int
    collision_type: str
    seed: int
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True, eq=False)
class ItemResult:
    """What a worker sends back: the record, and the scenario and thumbnail when kept."""

    item_id: str
    record: dict
    scenario: Scenario | None
    thumbnail: np.ndarray | None


# ---- naming, seeds, atomic files ----------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def item_id(dataroot: str, scene_name: str, collision_type: str, variant: int) -> str:
    return f"{_slug(Path(dataroot).resolve().name)}__{_slug(scene_name)}__{collision_type}__v{variant:03d}"


def item_seed(seed: int, dataroot: str, scene_name: str, collision_type: str, variant: int) -> int:
    key = f"{seed}:{Path(dataroot).resolve().name}:{scene_name}:{collision_type}:{variant}"
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def write_json_atomic(path: Path, obj) -> Path:
    return write_bytes_atomic(path, (json.dumps(obj, indent=1, sort_keys=True, default=_json_default,
                                                allow_nan=False) + "\n").encode())


def write_png_atomic(path: Path, image: np.ndarray) -> Path:
    import io

    import imageio.v2 as imageio

    buffer = io.BytesIO()
    imageio.imwrite(buffer, np.asarray(image, np.uint8), format="png")
    return write_bytes_atomic(path, buffer.getvalue())


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def clean_temporaries(out_dir: Path) -> list[Path]:
    """Delete the temporary files a killed run left (".<name>.<random>.tmp"); returns them."""
    removed = []
    for folder in (out_dir, out_dir / RECORDS_DIR, out_dir / THUMBS_DIR):
        if folder.is_dir():
            for p in folder.glob(".*.tmp"):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def record_path(out_dir: Path, iid: str) -> Path:
    return out_dir / RECORDS_DIR / f"{iid}.json"


def load_record(out_dir: Path, iid: str) -> dict | None:
    """An item's record if the item is finished (record readable and its files present)."""
    path = record_path(out_dir, iid)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("kept") and not (out_dir / record.get("scenario_file", "")).is_file():
        return None
    return record


# ---- the generated scenario ---------------------------------------------------------------------


def exact_velocity(speed: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(S, 2) velocities along yaw whose row norms, as the engine computes them
    (np.linalg.norm(..., axis=1)), equal `speed` bit for bit where a few ulps of nudging allow,
    so a replayed track reproduces the closed loop's speeds exactly."""
    v = np.stack([speed * np.cos(yaw), speed * np.sin(yaw)], -1)
    for k in range(len(v)):
        target = speed[k]
        for _ in range(16):
            got = np.linalg.norm(v[k:k + 1], axis=1)[0]
            if got == target:
                break
            i = 0 if abs(v[k, 0]) >= abs(v[k, 1]) else 1
            toward = np.inf if (got < target) == (v[k, i] >= 0) else -np.inf
            v[k, i] = np.nextafter(v[k, i], toward)
    return v


def generated_scenario(source: Scenario, episode, row: int, name: str, metadata: dict[str, str]) -> Scenario:
    """The source scene cropped to the episode's steps, with actor `row`'s track replaced by
    its realised closed-loop trajectory (valid throughout)."""
    steps = np.asarray(episode.step_index)
    lo, hi = int(steps[0]), int(steps[-1]) + 1
    assert np.array_equal(steps, np.arange(lo, hi)), "episode steps must be contiguous"
    a = source.actors
    xy = a.xy[:, lo:hi].copy()
    yaw = a.yaw_rad[:, lo:hi].copy()
    vel = a.velocity_xy_mps[:, lo:hi].copy()
    valid = a.valid[:, lo:hi].copy()
    z = a.z[:, lo:hi].copy()
    xy[row] = episode.actor_xy[:, row]
    yaw[row] = episode.actor_yaw_rad[:, row]
    vel[row, 1:] = exact_velocity(episode.actor_speed_mps[1:, row], episode.actor_yaw_rad[1:, row])
    valid[row] = True
    zs = a.z[row][a.valid[row]]
    z[row] = z[row, 0] if a.valid[row, lo] else (zs[-1] if len(zs) else 0.0)
    tracks = ActorTracks(a.instance_tokens.copy(), a.category.copy(), a.kind.copy(), a.size_wlh_m.copy(),
                         xy, z, yaw, vel, valid)
    e = source.ego
    ego = dataclasses.replace(e, xy=e.xy[lo:hi].copy(), z=e.z[lo:hi].copy(), yaw_rad=e.yaw_rad[lo:hi].copy(),
                              speed_mps=e.speed_mps[lo:hi].copy(), valid=e.valid[lo:hi].copy())
    route = Route(source.route.lane_indices.copy(), source.route.centerline_xy.copy(),
                  source.route.driving_command[lo:hi].copy())
    meta = dict(source.metadata)
    meta.update(metadata)
    return Scenario(name=name, t_us=source.t_us[lo:hi].copy(), map=source.map, ego=ego, actors=tracks,
                    cameras=source.cameras, route=route, ego_params=source.ego_params, metadata=meta)


def adversarial_start(context, row: int):
    """The episode's initial state with actor `row` switched to ActorMode.ADVERSARY."""
    s0 = initial_state(context)
    mode = s0.actors.mode.copy()
    mode[row] = ActorMode.ADVERSARY
    return dataclasses.replace(s0, actors=dataclasses.replace(s0.actors, mode=mode))


def run_adversary_episode(scenario: Scenario, model: AdversaryModel, candidate: Candidate, planner: PlannerConfig,
                          policy: Policy, episode_steps: int, reactive: bool = False):
    """One closed-loop episode of the ego `policy` with `candidate` as the adversary; returns (episode, planner)."""
    ctx = prepare(scenario, EngineConfig(reactive=reactive, start_step=candidate.start_step, max_steps=episode_steps))
    pl = AdversaryPlanner(model, planner)
    episode = run_episode(ctx, policy, planner=pl, state0=adversarial_start(ctx, candidate.actor))
    return episode, pl


def replay_outcome(scenario: Scenario, row: int, policy: str = "expert", reactive: bool = False,
                   realism: RealismConfig = RealismConfig()) -> tuple[Outcome, object]:
    """Replay a generated scenario (every actor follows its track; no planner) and analyse
    actor `row` the way generation did. Returns (outcome, episode)."""
    ctx = prepare(scenario, EngineConfig(reactive=reactive))
    episode = run_episode(ctx, make_policy(policy))
    return adversary_outcome(scenario, episode, row, realism), episode


# ---- one work item (runs in a worker) -------------------------------------------------------------


def run_item(scenario: Scenario, item: WorkItem, model: AdversaryModel, config: GenerateConfig,
             checkpoint_sha: str, snapshot: Snapshot | None = None) -> ItemResult:
    """Try the item's candidates until one variant is critical and realistic."""
    import torch

    torch.set_num_threads(1)
    base = {"item_id": item.item_id, "dataroot": item.dataroot, "scene": item.scene_name, "variant": item.variant,
            "collision_type_requested": item.collision_type, "policy": config.policy, "seed": item.seed,
            "checkpoint_sha256": checkpoint_sha, "attempts": []}
    if not item.candidates:
        return ItemResult(item.item_id, {**base, "kept": False, "status": "no-candidate"}, None, None)
    n = min(len(item.candidates), config.candidates_per_scene)
    for attempt in range(config.attempts_per_variant):
        cand = item.candidates[(item.variant + attempt) % n]
        seed = (item.seed + 7919 * attempt) & 0x7FFFFFFF
        pcfg = dataclasses.replace(config.planner, collision_type=cand.collision_type, seed=seed, guided=True)
        t0 = time.perf_counter()
        episode, planner = run_adversary_episode(scenario, model, cand, pcfg, config.ego_policy(),
                                                 config.episode_steps, config.reactive)
        outcome = adversary_outcome(scenario, episode, cand.actor, config.realism)
        info = {"attempt": attempt, "candidate": cand.to_dict(), "planner_seed": seed,
                "instance_token": str(scenario.actors.instance_tokens[cand.actor]), "outcome": outcome.to_dict(),
                "plan_calls": planner.calls, "wall_s": round(time.perf_counter() - t0, 3)}
        base["attempts"].append(info)
        if outcome.critical and outcome.realistic:
            name = f"{scenario.name}-adv-{cand.collision_type}-v{item.variant:03d}"
            meta = {
                "generator": GENERATOR_NAME, "source_scene": scenario.name, "source_dataroot": item.dataroot,
                "source_start_step": str(cand.start_step), "adversary.actor_index": str(cand.actor),
                "adversary.instance_token": info["instance_token"], "adversary.collision_type": cand.collision_type,
                "adversary.seed": str(seed), "adversary.policy": config.policy,
                "adversary.checkpoint_sha256": checkpoint_sha,
                "adversary.planner": json.dumps(dataclasses.asdict(pcfg), sort_keys=True),
                "adversary.outcome": json.dumps(outcome.to_dict(), sort_keys=True, default=_json_default),
            }
            out = generated_scenario(scenario, episode, cand.actor, name, meta)
            thumb = None
            if snapshot is not None:
                thumb = snapshot(scenario, episode, int(outcome.critical_index), config.contact_sheet_size_px)
            record = {**base, "kept": True, "status": "kept", "chosen_attempt": attempt, "name": name,
                      "scenario_file": f"{item.item_id}{SCENARIO_SUFFIX}",
                      "thumbnail": f"{THUMBS_DIR}/{item.item_id}.png" if thumb is not None else None,
                      "collision_type": cand.collision_type, "adversary_actor": cand.actor,
                      "contact": outcome.contact, "min_ttc_s": outcome.to_dict()["min_ttc_s"],
                      "critical_index": outcome.critical_index}
            return ItemResult(item.item_id, record, out, thumb)
    return ItemResult(item.item_id, {**base, "kept": False, "status": "rejected"}, None, None)


# ---- the driver ---------------------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def result_settings(config: GenerateConfig, checkpoint_sha: str) -> dict:
    """The settings that decide an item's result (JSON-ready)."""
    d = json.loads(json.dumps(dataclasses.asdict(config), default=str))
    for k in _RESUMABLE_FIELDS:
        d.pop(k, None)
    d["checkpoint"] = checkpoint_sha
    return d


def check_settings(out_dir: Path, config: GenerateConfig, checkpoint_sha: str) -> None:
    """Write settings.json on a fresh folder; refuse to resume one made with other settings."""
    path = out_dir / SETTINGS_NAME
    now = result_settings(config, checkpoint_sha)
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            before = None
        if before is not None and before != now:
            diff = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
            raise ConfigError(f"{out_dir} holds scenarios generated with other settings ({', '.join(diff)} differ, "
                              f"see {path}): use a new --out folder, or the same settings to resume")
    write_json_atomic(path, now)


def plan_items(config: GenerateConfig, sources: dict | None = None) -> list[tuple[str, str, list[WorkItem]]]:
    """(dataroot, scene, items without candidates yet) for every requested scene, in order.
    `sources` (dataroot -> NuScenesSource) is filled with the sources opened."""
    from scenarios.nuscenes import NuScenesSource

    out = []
    found = set()
    sources = {} if sources is None else sources
    for root in config.dataroots:
        if str(root) not in sources:
            sources[str(root)] = NuScenesSource(root, config.version)
        src = sources[str(root)]
        for name in sorted(src.scene_names):
            if config.scenes and name not in config.scenes:
                continue
            found.add(name)
            items = [WorkItem(item_id(root, name, config.collision_type, v), str(root), name, v, config.collision_type,
                              item_seed(config.seed, root, name, config.collision_type, v))
                     for v in range(config.per_scene)]
            out.append((str(root), name, items))
    missing = [s for s in config.scenes if s not in found]
    if missing:
        raise ConfigError(f"scenes {missing} are not in the dataroots {list(config.dataroots)}; list them with "
                          "`splatsim data` or drop --scenes")
    return out


def generate_scenarios(config: GenerateConfig, snapshot: Snapshot | None = None, progress: bool = True,
                       model: AdversaryModel | None = None) -> dict:
    """Run (or resume) a batch; returns the summary (also written to summary.json)."""
    from tqdm.auto import tqdm

    from scenarios.nuscenes import NuScenesSource

    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RECORDS_DIR).mkdir(exist_ok=True)
    cleaned = clean_temporaries(out_dir)
    ckpt_path = Path(config.checkpoint) if config.checkpoint else DEFAULT_CHECKPOINT
    model = model if model is not None else load_checkpoint(ckpt_path)
    sha = _file_sha256(ckpt_path) if ckpt_path.is_file() else "in-memory"
    check_settings(out_dir, config, sha)
    sources: dict[str, NuScenesSource] = {}
    plan = plan_items(config, sources)
    all_ids = [it.item_id for _, _, items in plan for it in items]
    t0 = time.perf_counter()
    # Which items still need work; load only their scenes.
    pending: list[WorkItem] = []
    scenarios: dict[tuple[str, str], Scenario] = {}
    skipped = 0
    for root, name, items in plan:
        todo = [it for it in items if load_record(out_dir, it.item_id) is None]
        skipped += len(items) - len(todo)
        if not todo:
            continue
        if config.max_items is not None and len(pending) >= config.max_items:
            break
        sc = sources[root].load_scenario(name)
        scenarios[(root, name)] = sc
        cands = tuple(select_candidates(sc, config.collision_type, config.selection)[:config.candidates_per_scene])
        pending += [dataclasses.replace(it, candidates=cands) for it in todo]
    if config.max_items is not None:
        pending = pending[:config.max_items]
    bar = tqdm(total=len(pending), desc="generating", unit="item", disable=not progress)
    processed = 0

    def write_result(res: ItemResult) -> None:
        nonlocal processed
        if res.scenario is not None:
            save_scenario(res.scenario, out_dir / res.record["scenario_file"])
        if res.thumbnail is not None:
            write_png_atomic(out_dir / res.record["thumbnail"], res.thumbnail)
        write_json_atomic(record_path(out_dir, res.item_id), res.record)  # last: marks the item done
        processed += 1
        bar.update()
        bar.set_postfix(kept=res.record["kept"])

    try:
        tasks = [(scenarios[(it.dataroot, it.scene_name)], it, model, config, sha, snapshot) for it in pending]
        fan_out(run_item, tasks, lambda _, res: write_result(res), config.workers, config.ray_address)
    finally:
        bar.close()
    summary = rebuild_summary(out_dir, config, all_ids)
    summary["run"] = {"processed_items": processed, "skipped_items": skipped,
                      "cleaned_temporaries": [str(p.name) for p in cleaned],
                      "wall_s": round(time.perf_counter() - t0, 2)}
    write_json_atomic(out_dir / SUMMARY_NAME, summary)
    return summary


def rebuild_summary(out_dir: Path, config: GenerateConfig, item_ids: list[str]) -> dict:
    """summary.json content and contact_sheet.png from the records on disk."""
    records = [r for r in (load_record(out_dir, i) for i in item_ids) if r is not None]
    kept = [r for r in records if r.get("kept")]
    by_type: dict[str, int] = {}
    for r in kept:
        by_type[r["collision_type"]] = by_type.get(r["collision_type"], 0) + 1
    attempts = sum(len(r.get("attempts", [])) for r in records)
    summary = {
        "generator": GENERATOR_NAME,
        "config": json.loads(json.dumps(dataclasses.asdict(config), default=str)),
        "items_total": len(item_ids), "items_finished": len(records), "items_kept": len(kept),
        "items_rejected": sum(r.get("status") == "rejected" for r in records),
        "items_without_candidate": sum(r.get("status") == "no-candidate" for r in records),
        "closed_loop_attempts": attempts,
        "kept_per_attempt": (len(kept) / attempts) if attempts else 0.0,
        "kept_by_collision_type": by_type,
        "scenarios": [{"item_id": r["item_id"], "file": r["scenario_file"], "name": r["name"], "scene": r["scene"],
                       "collision_type": r["collision_type"], "contact": r["contact"], "min_ttc_s": r["min_ttc_s"],
                       "thumbnail": r.get("thumbnail")} for r in kept],
    }
    thumbs = [(r["item_id"], out_dir / r["thumbnail"]) for r in kept if r.get("thumbnail")]
    thumbs = [(i, p) for i, p in thumbs if p.is_file()]
    if thumbs:
        write_contact_sheet(thumbs, out_dir / CONTACT_SHEET_NAME)
        summary["contact_sheet"] = CONTACT_SHEET_NAME
    return summary


def write_contact_sheet(thumbs: list[tuple[str, Path]], path: Path, columns: int = 4, max_tiles: int = 48) -> Path:
    """Tile thumbnails (captioned with their item ids) into one PNG, atomically."""
    import io

    import imageio.v2 as imageio
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thumbs = thumbs[:max_tiles]
    cols = min(columns, len(thumbs))
    rows = int(np.ceil(len(thumbs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.45 * rows), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (iid, p) in zip(axes.flat, thumbs):
        ax.imshow(imageio.imread(p))
        ax.set_title(iid.replace("__", "\n", 1), fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return write_bytes_atomic(path, buffer.getvalue())


def verify_outputs(out_dir: str | Path) -> list[str]:
    """Problems with a generation folder (empty when every record's files load)."""
    out_dir = Path(out_dir)
    problems = []
    for p in sorted((out_dir / RECORDS_DIR).glob("*.json")):
        try:
            r = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as err:
            problems.append(f"{p}: unreadable record ({err})")
            continue
        if r.get("kept"):
            try:
                load_scenario_file(out_dir / r["scenario_file"])
            except ScenarioFileError as err:
                problems.append(str(err))
    return problems
