"""Batch generation: kept scenarios replay identically, a killed run resumes without losing or
redoing work, temporaries are cleaned, the Ray path and the command line work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenarios.adversary.model import load_checkpoint
from scenarios.adversary.planner import PlannerConfig
from scenarios.adversary.selection import Candidate
from scenarios.generate import (
    RECORDS_DIR,
    GenerateConfig,
    WorkItem,
    generate_scenarios,
    replay_outcome,
    result_settings,
    run_item,
    verify_outputs,
)
from scenarios.scenario_file import load_scenario_file, save_scenario, scenarios_equal
from scenarios.synthetic import ActorSpec, straight_road_scenario
from sim.errors import ConfigError
from sim.policies.registry import make_policy

FAST = PlannerConfig(num_samples=8, ddim_steps=6)


@pytest.fixture(scope="module")
def model():
    return load_checkpoint()


def _untimed(record: dict) -> dict:
    """A record without its wall-clock timings (the only part that may differ between runs)."""
    return {**record, "attempts": [{k: v for k, v in a.items() if k != "wall_s"} for a in record["attempts"]]}


@pytest.fixture(scope="module")
def busy_scene(demo_dataroot) -> str:
    """The demo scene with the most plausible adversaries (so that items do real work)."""
    from scenarios.adversary.selection import select_candidates
    from scenarios.nuscenes import NuScenesSource

    src = NuScenesSource(demo_dataroot)
    counts = {name: len(select_candidates(src.load_scenario(name))) for name in sorted(src.scene_names)}
    best = max(counts, key=counts.get)
    assert counts[best] >= 2, counts
    return best


def _config(root: Path, out: Path, scene: str, **kw) -> GenerateConfig:
    base = dict(dataroots=(str(root),), out_dir=str(out), scenes=(scene,), per_scene=3, workers=0,
                episode_steps=40, planner=FAST, attempts_per_variant=2, seed=11)
    base.update(kw)
    return GenerateConfig(**base)


def test_kept_scenario_replays_bit_for_bit_and_regenerates_identically(tmp_path, model):
    specs = (ActorSpec(x_m=7.4, lane=0, speed_mps=10.0), ActorSpec(x_m=140.0, lane=-1, speed_mps=8.0))
    sc = straight_road_scenario(num_steps=80, ego_speed_mps=10.0, actors=specs, name="follower")
    cand = Candidate(0, 10, "rear-end", 14.0, -14.0, 0.0, 0.0, 0.0)
    item = WorkItem("follower__rear-end__v000", "synthetic", sc.name, 0, "rear-end", 123, (cand,))
    cfg = GenerateConfig(dataroots=(), out_dir=str(tmp_path), episode_steps=50, planner=FAST)
    a = run_item(sc, item, model, cfg, "test")
    assert a.record["kept"], a.record
    assert a.record["adversary_actor"] == 0 and a.scenario.metadata["adversary.collision_type"] == "rear-end"
    path = save_scenario(a.scenario, tmp_path / a.record["scenario_file"])
    loaded = load_scenario_file(path)
    assert scenarios_equal(loaded, a.scenario)
    # Replaying the file (no planner: the adversary is a plain track now) gives the same outcome.
    outcome, _ = replay_outcome(loaded, 0)
    first = a.record["attempts"][a.record["chosen_attempt"]]["outcome"]
    assert outcome.to_dict() == first
    assert 45 <= loaded.num_steps <= 51 and loaded.actors.valid[0].all()  # cropped to the episode
    # The same item again: the same bytes.
    b = run_item(sc, item, model, cfg, "test")
    assert scenarios_equal(a.scenario, b.scenario) and _untimed(a.record) == _untimed(b.record)


@pytest.fixture(scope="module")
def serial_run(demo_dataroot, busy_scene, tmp_path_factory, model):
    """A run killed after one item (max_items=1), then resumed."""
    out = tmp_path_factory.mktemp("gen-serial")
    first = generate_scenarios(_config(demo_dataroot, out, busy_scene, max_items=1), progress=False, model=model)
    records = {p.name: p.read_bytes() for p in (out / RECORDS_DIR).glob("*.json")}
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / RECORDS_DIR).glob("*.json")}
    # What a SIGKILL mid-write leaves behind: temporaries next to the outputs.
    leftovers = [out / f".{busy_scene}__any__v001.scenario.npz.x1y2.tmp", out / RECORDS_DIR / ".v001.json.abc.tmp"]
    for p in leftovers:
        p.write_bytes(b"half-written")
    second = generate_scenarios(_config(demo_dataroot, out, busy_scene), progress=False, model=model)
    return out, first, second, records, mtimes, leftovers, busy_scene


def test_resume_after_a_kill_loses_and_repeats_nothing(serial_run):
    out, first, second, records, mtimes, leftovers, scene = serial_run
    assert first["run"]["processed_items"] == 1 and first["items_finished"] == 1
    assert second["run"]["skipped_items"] == 1 and second["run"]["processed_items"] == 2
    assert second["items_finished"] == second["items_total"] == 3
    assert second["closed_loop_attempts"] >= 3  # every item ran the closed loop
    assert sorted(second["run"]["cleaned_temporaries"]) == sorted(p.name for p in leftovers)
    assert not any(p.exists() for p in leftovers) and not list(out.rglob(".*.tmp"))
    for name, data in records.items():  # the finished item was not redone
        p = out / RECORDS_DIR / name
        assert p.read_bytes() == data and p.stat().st_mtime_ns == mtimes[name]
    assert verify_outputs(out) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["items_finished"] == 3 and len(summary["scenarios"]) == summary["items_kept"]
    for s in summary["scenarios"]:
        sc = load_scenario_file(out / s["file"])
        assert sc.metadata["generator"] == "splatsim.generate"
    # A third run has nothing to do.
    third = generate_scenarios(_config(Path(second["config"]["dataroots"][0]), out, scene), progress=False)
    assert third["run"]["processed_items"] == 0 and third["run"]["skipped_items"] == 3
    # Resuming with settings that change results is refused (it would mix two batches).
    with pytest.raises(ConfigError, match="other settings"):
        generate_scenarios(_config(Path(second["config"]["dataroots"][0]), out, scene, seed=12), progress=False)


def test_ray_path_matches_the_serial_run(serial_run, demo_dataroot, tmp_path, model):
    ray = pytest.importorskip("ray")
    out_serial, scene = serial_run[0], serial_run[-1]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = generate_scenarios(_config(demo_dataroot, tmp_path, scene, per_scene=2, workers=2), progress=False,
                                     model=model)
    finally:
        ray.shutdown()
    assert summary["items_finished"] == 2
    for p in sorted((tmp_path / RECORDS_DIR).glob("*.json")):
        ray_record = json.loads(p.read_text())
        serial_record = json.loads((out_serial / RECORDS_DIR / p.name).read_text())
        assert _untimed(ray_record) == _untimed(serial_record)  # same seeds, same outcomes, another process
        if ray_record["kept"]:
            assert scenarios_equal(load_scenario_file(tmp_path / ray_record["scenario_file"]),
                                   load_scenario_file(out_serial / serial_record["scenario_file"]))
            # Two clean runs write the same bytes (the module doc's claim): no clock time in the zip.
            assert ((tmp_path / ray_record["scenario_file"]).read_bytes()
                    == (out_serial / serial_record["scenario_file"]).read_bytes())


def test_generate_command_line(demo_dataroot, busy_scene, tmp_path):
    import typer
    from typer.testing import CliRunner

    from tools.adversary_commands import generate

    app = typer.Typer()
    app.command()(generate)
    res = CliRunner().invoke(app, ["--dataroot", str(demo_dataroot), "--out", str(tmp_path), "--scenes",
                                   busy_scene, "--per-scene", "1", "--collision-type", "any", "--workers", "0",
                                   "--episode-seconds", "4", "--samples", "8", "--ddim-steps", "6", "--seed", "2",
                                   "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["items_total"] == 1 and (tmp_path / "summary.json").is_file()
    if summary["items_kept"]:
        assert (tmp_path / "contact_sheet.png").stat().st_size > 1000
    bad = CliRunner().invoke(app, ["--dataroot", str(demo_dataroot), "--out", str(tmp_path),
                                   "--collision-type", "t-bone"])
    assert bad.exit_code != 0


class _Recorder:
    """A stand-in for `policies_api.resolve.resolve_policy`: records the names it builds."""

    def __init__(self):
        self.names = []

    def __call__(self, name):
        self.names.append(name)
        return make_policy("idm")


def test_the_reference_ego_comes_from_the_injected_factory(tmp_path):
    # without a factory only the built-in egos are accepted; with one, any name it resolves (a
    # remote stack), and the factory is not a setting (settings.json pins the name only)
    with pytest.raises(ConfigError, match="egodriver://127.0.0.1:1"):
        GenerateConfig(dataroots=("d",), out_dir=str(tmp_path), policy="egodriver://127.0.0.1:1")
    factory = _Recorder()
    config = GenerateConfig(dataroots=("d",), out_dir=str(tmp_path), policy="egodriver://127.0.0.1:1",
                            policy_factory=factory)
    assert config.ego_policy().name == "idm" and factory.names == ["egodriver://127.0.0.1:1"]
    settings = result_settings(config, "sha")
    assert settings["policy"] == "egodriver://127.0.0.1:1" and "policy_factory" not in settings
