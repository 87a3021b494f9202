"""The whole pipeline on the embedded demo town (`splatsim demo`, the `make demo` job): build the
town, run the built-in policies in the closed loop, render the rig video of the idm episode and
write a report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from evaluation.reports.runs import write_report
from evaluation.run_folder import RunConfig, run_one
from evaluation.scene_renderer import build_renderer
from sim.atomic import write_json_atomic

DEMO_SCENE = "scene-demo-0002"  # a right turn: the baselines differ visibly
DEMO_POLICIES = ("expert", "idm", "constant-velocity")
RENDERED_POLICY = "idm"


@dataclass(frozen=True)
class DemoConfig:
    """out: output folder; seed: of the demo town; width, height: camera pixels of the rendered episode."""

    out: Path = Path("out/demo")
    seed: int = 0
    width: int = 480
    height: int = 270


@dataclass(frozen=True)
class DemoPolicySummary:
    """One policy's line of summary.json."""

    collision: bool
    at_fault_collision: bool
    off_road: bool
    route_completion: float
    progress_m: float
    min_ttc_s: float
    epdms_mean: float | None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DemoResult:
    """summary.json (the scene and each policy's summary) and the report's path."""

    scene: str
    policies: dict[str, DemoPolicySummary]
    report: Path

    def to_json(self) -> dict:
        return {"scene": self.scene, "policies": {name: p.to_json() for name, p in self.policies.items()}}


def run_demo(config: DemoConfig, log: Callable[[str], None] = lambda message: None) -> DemoResult:
    """Run the demo into config.out; `log` hears what is being done."""
    from scenarios.demo_town import DEMO_VERSION, build_demo_dataroot
    from scenarios.nuscenes import load_scenario

    out = Path(config.out)
    dataroot = out / "data"
    if not (dataroot / DEMO_VERSION / "scene.json").exists():
        log(f"building the demo town in {dataroot}")
        build_demo_dataroot(dataroot, seed=config.seed)
    scenario = load_scenario(dataroot, DEMO_SCENE, DEMO_VERSION)
    summary = {}
    for policy in DEMO_POLICIES:
        renderer = None
        if policy == RENDERED_POLICY:
            log("building the Gaussian street of the demo scene")
            renderer = build_renderer(scenario, [], config.width, config.height)
        log(f"running {policy}" + (" with rendered cameras" if renderer else ""))
        run = run_one(scenario, RunConfig(policy, reactive=True, camera_videos=True,
                                          provenance={"dataroot": str(dataroot), "version": DEMO_VERSION}),
                      out / policy, renderer)
        m = run.metrics
        summary[policy] = DemoPolicySummary(m.collision, m.at_fault_collision, m.off_road, m.route_completion,
                                            m.progress_m, m.min_ttc_s, run.scores.epdms_mean)
        log(f"{policy:>18}: " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in summary[policy].to_json().items()))
    result = DemoResult(DEMO_SCENE, summary, out / "report" / "report.md")
    write_json_atomic(out / "summary.json", result.to_json())
    write_report([out / p for p in summary], result.report.parent)
    return result
