"""`splatsim score` end to end on the demo town with tiny images: the outputs, and vanished-weight
flags in the JSON, the report and stderr."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from tools.score_commands import score_command

SCENE = "scene-demo-0000"


def test_score_command_end_to_end(demo_dataroot, tmp_path):
    app = typer.Typer()
    app.command("score")(score_command)
    app.command("other")(lambda: None)  # a multi-command app, as in the real CLI
    out = tmp_path / "out"
    args = ["score", "--dataroot", demo_dataroot, "--scenes", SCENE, "--policy", "idm", "--policy", "over-cautious",
            "--width", 64, "--height", 36, "--frames", 1, "--starts", "grid", "--lateral", -0.5, "--lateral", 0.0,
            "--lateral", 0.5, "--longitudinal", 0.0, "--cache", tmp_path / "cache", "--out", out, "--json",
            "--no-progress"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["policies"]) == {"idm", "over-cautious"}
    doc = json.loads((out / "pseudo_sim.json").read_text())
    assert doc["kind"] == "splatsim-pseudo-sim" and doc["renderer_version"]
    assert doc["traffic"] == "reactive" == doc["settings"]["traffic"] == summary["traffic"]  # NAVSIM v2's default
    assert doc["policies"]["idm"]["scenarios"][0]["traffic"] == "reactive"
    scen = doc["policies"]["idm"]["scenarios"][0]
    frame = scen["frames"][0]
    assert frame["step"] == 5 and len(frame["starts"]) == 3
    for key in ("score", "stage_one_epdms", "stage_two_epdms_weighted", "weights_vanished", "now", "prev"):
        assert key in frame
    assert set(frame["now"]["stage_one_subscores"]) == {"nc", "dac", "ddc", "tlc", "ep", "ttc", "lk", "hc", "ec"}
    assert len(frame["now"]["weights"]) == 3 and sum(frame["now"]["weights"]) == pytest.approx(1.0, abs=1e-5)
    assert "epdms" in frame["starts"][0]["stage_two_now"] and "nc" in frame["stage_one"]["now"]
    # the over-cautious plan ends metres behind every start: flagged in the JSON, the report and stderr
    slow = doc["policies"]["over-cautious"]["aggregate"]
    assert slow["groups_weights_vanished"] == 2 and doc["weights_vanished"] is True and summary["weights_vanished"]
    assert any("over-cautious" in w and "weights_vanished" in w for w in doc["warnings"])
    assert "WARNING weights_vanished" in result.stderr
    report = (out / "report.md").read_text()
    assert "Traffic: reactive" in report
    assert "WARNING: stage-two weights vanished" in report and "over-cautious" in report
    thumbs = sorted((out / "img" / "obs" / SCENE).glob("*.png"))
    assert len(thumbs) == 4 and thumbs[0].stat().st_size > 500  # stage one + 3 starts
    assert "img/obs/" in report and (out / "report.html").read_text().count("<img") >= 4
    assert doc["cache"]["renders"] == 8 and doc["throughput"]["scenarios_per_minute"] > 0
    assert not [p for p in out.rglob(".*")]


def test_score_stage_one_prints_the_logged_humans_open_loop_score(demo_dataroot, tmp_path):
    from scenarios.nuscenes import load_scenario
    from sim.engine import prepare
    from sim.scoring.epdms import ScoringData, score_log_frames, summarize

    app = typer.Typer()
    app.command("score")(score_command)
    app.command("other")(lambda: None)
    args = ["score", "--dataroot", demo_dataroot, "--scene", SCENE, "--policy", "human", "--stage", "one", "--json"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    expected = summarize(score_log_frames(ScoringData.build(prepare(load_scenario(demo_dataroot, SCENE))), "expert"))
    assert doc["frames"] == expected.frames > 0
    assert doc["epdms_mean"] == pytest.approx(expected.epdms_mean, abs=1e-12)
    assert doc["share_epdms_at_least_0_9"] == pytest.approx(expected.share_at_or_above, abs=1e-12)
    assert doc["traffic"] == "log-replay" and doc["stage"] == "one" and doc["policy"] == "human"
    assert doc["scenes"][SCENE]["frames"] == expected.frames
    # the human with reactive traffic is scored too, and says so
    reactive = CliRunner().invoke(app, [str(a) for a in args] + ["--reactive", "--out", str(tmp_path)],
                                  catch_exceptions=False)
    assert reactive.exit_code == 0, reactive.output
    written = json.loads((tmp_path / "open_loop.json").read_text())
    assert written == json.loads(reactive.stdout) and written["traffic"] == "reactive"
    assert written["frames"] == expected.frames


@pytest.mark.parametrize("extra, message", [(["--stage", "one", "--policy", "grpc://localhost:1"], "--stage both"),
                                            (["--stage", "one", "--policy", "idm", "--policy", "human"], "one policy"),
                                            (["--stage", "two"], "--stage must be"),
                                            ([], "--out")])
def test_score_stage_options_are_checked(demo_dataroot, extra, message):
    from sim.errors import ConfigError

    app = typer.Typer()
    app.command("score")(score_command)
    app.command("other")(lambda: None)
    args = ["score", "--dataroot", str(demo_dataroot), "--scene", SCENE, *extra]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError) and message in str(result.exception)
