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
            "--width", 64, "--height", 36, "--frames", 1, "--lateral", -0.5, "--lateral", 0.0, "--lateral", 0.5,
            "--longitudinal", 0.0, "--cache", tmp_path / "cache", "--out", out, "--json", "--no-progress"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["policies"]) == {"idm", "over-cautious"}
    doc = json.loads((out / "pseudo_sim.json").read_text())
    assert doc["kind"] == "splatsim-pseudo-sim" and doc["renderer_version"]
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
    assert "WARNING: stage-two weights vanished" in report and "over-cautious" in report
    thumbs = sorted((out / "img" / "obs" / SCENE).glob("*.png"))
    assert len(thumbs) == 4 and thumbs[0].stat().st_size > 500  # stage one + 3 starts
    assert "img/obs/" in report and (out / "report.html").read_text().count("<img") >= 4
    assert doc["cache"]["renders"] == 8 and doc["throughput"]["scenarios_per_minute"] > 0
    assert not [p for p in out.rglob(".*")]
