"""`splatsim serve-hugsim` as its own process over the demo dataroot, driven by the unmodified
hugsim-client in another process; malformed requests, retries and the auth token over real HTTP."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

requests = pytest.importorskip("requests")
pytest.importorskip("hugsim_client", reason="hugsim-client is a test dependency (pip install -e .[dev])")

REPO_ROOT = Path(__file__).resolve().parents[3]
TOKEN = "s3cret-token"
W, H = 64, 36
CAMERAS = ["CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT", "CAM_FRONT", "CAM_FRONT_LEFT", "CAM_FRONT_RIGHT"]
INFO_KEYS = {"ego_pos", "ego_rot", "ego_velo", "ego_steer", "accelerate", "steer_rate", "timestamp", "command",
             "ego_box", "obj_boxes", "cam_params"}


@pytest.fixture(scope="module")
def server(demo_dataroot, tmp_path_factory):
    token_file = tmp_path_factory.mktemp("hugsim") / "token"
    token_file.write_text(TOKEN + "\n")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "tools.cli", "serve-hugsim", "--port", "0", "--dataroot",
                             str(demo_dataroot), "--scenes", "scene-demo-0000", "--scenes", "scene-demo-0001",
                             "--width", str(W), "--height", str(H), "--step-limit", "2", "--backend", "cpu",
                             "--auth-token-file", str(token_file), "--json"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=120)
    if not line or not line[0].strip():
        proc.kill()
        pytest.fail(f"serve-hugsim did not start: {proc.stderr.read() if proc.poll() is not None else 'timeout'}")
    yield json.loads(line[0])["url"]
    proc.terminate()
    assert proc.wait(timeout=30) == 0


def _post(url: str, path: str, token: str | None = TOKEN, **kwargs):
    headers = {} if token is None else {"auth-token": token}
    return requests.post(url + path, headers=headers, timeout=60, **kwargs)


def _plan_json(plan: np.ndarray) -> str:
    return json.dumps({"data": plan.tolist(), "shape": list(plan.shape), "dtype": str(plan.dtype)})


STRAIGHT = np.stack([np.zeros(6), 5.0 * np.arange(1, 7)], -1)


def test_hugsim_client_drives_every_scene_to_done(server) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), HUGSIM_API_TOKEN=TOKEN, IN_HF_SPACE="false")
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("hugsim_agent.py")), server], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    states = json.loads(done.stdout.strip().splitlines()[-1])
    # two scenes, each ends after 3 actions (> --step-limit 2): the first's end shows the second's start
    assert len(states) == 7 and states[-1]["done"] and not any(s["done"] for s in states[:-1])
    assert [s["cur_scene_done"] for s in states] == [False, False, False, True, False, False, True]
    assert [s["timestamp"] for s in states] == pytest.approx([0.0, 0.2, 0.5, 0.0, 0.2, 0.5, 0.7])
    for s in states:
        assert set(s["info_keys"]) >= INFO_KEYS and sorted(s["rgb"]) == CAMERAS == s["cam_params"]
        assert all(v == [[H, W, 3], "uint8"] for v in s["rgb"].values())
        assert all(v[:2] == [[H, W], "uint8"] for v in s["semantic"].values())
        assert all(v[:2] == [[H, W], "float32"] and v[2] > 0 for v in s["depth"].values())
    assert states[0]["rc"] is None and states[1]["collision"] is False and 0 < states[2]["rc"] < 1
    assert 0 in states[1]["semantic"]["CAM_FRONT"][2]  # the road ahead is Cityscapes' road (0)
    assert states[2]["ego_box"][0] > states[1]["ego_box"][0] > 0  # moving forward along the scene's x


def test_malformed_requests_get_clear_errors_and_the_server_keeps_serving(server) -> None:
    assert _post(server, "/reset").status_code == 200
    cases = [
        ({"plan_traj": json.dumps({"data": [[0, 1]], "shape": [1, 2], "dtype": "int64"})}, 400, "dtype"),
        ({"plan_traj": _plan_json(np.array([[0.0, np.nan]]))}, 400, "finite"),
        ({"plan_traj": json.dumps({"data": [[0.0, 1.0]], "shape": [10**6, 2], "dtype": "float64"})}, 400, "shape"),
        ({"plan_traj": "{bad json"}, 400, "not valid JSON"),
        ({"plan_traj": 3.0}, 400, "JSON string"),
    ]
    for extra, status, fragment in cases:
        reply = _post(server, "/execute_action", json={"transaction_id": uuid.uuid4().hex, **extra})
        assert reply.status_code == status and fragment in reply.json()["detail"], reply.text
    assert _post(server, "/execute_action", data=b"{nope").status_code == 400
    assert _post(server, "/execute_action", json={"plan_traj": _plan_json(STRAIGHT)}).status_code == 400
    huge = _post(server, "/execute_action", data=b"x" * (2 << 20))
    assert huge.status_code == 413 and "limit" in huge.json()["detail"]
    assert requests.get(server + "/nowhere", timeout=30).status_code == 404
    assert requests.get(server + "/reset", headers={"auth-token": TOKEN}, timeout=30).status_code == 405
    state = pickle.loads(requests.get(server + "/get_current_state", headers={"auth-token": TOKEN}, timeout=30).content)
    assert state["state"]["info"]["timestamp"] == 0.0  # nothing above moved the ego
    ok = _post(server, "/execute_action", json={"plan_traj": _plan_json(STRAIGHT), "transaction_id": "a1"})
    assert ok.status_code == 200 and pickle.loads(ok.content)["state"]["info"]["timestamp"] == pytest.approx(0.2)


def test_a_retried_transaction_gets_the_cached_reply(server) -> None:
    assert _post(server, "/reset").status_code == 200
    body = {"plan_traj": _plan_json(STRAIGHT), "transaction_id": uuid.uuid4().hex}
    first, again = (_post(server, "/execute_action", json=body) for _ in range(2))
    assert first.status_code == again.status_code == 200 and first.content == again.content
    now = pickle.loads(requests.get(server + "/get_current_state", headers={"auth-token": TOKEN}, timeout=30).content)
    assert now["state"]["info"]["timestamp"] == pytest.approx(0.2)  # acted once
    body["transaction_id"] = uuid.uuid4().hex
    assert pickle.loads(_post(server, "/execute_action", json=body).content)["state"]["info"]["timestamp"] == \
        pytest.approx(0.5)


def test_the_auth_token_is_enforced(server) -> None:
    assert _post(server, "/reset", token=None).status_code == 401
    assert _post(server, "/reset", token="wrong").status_code == 401
    assert requests.get(server + "/get_current_state", timeout=30).status_code == 401
    denied = _post(server, "/execute_action", token="wrong",
                   json={"plan_traj": _plan_json(STRAIGHT), "transaction_id": uuid.uuid4().hex})
    assert denied.status_code == 401 and "auth-token" in denied.json()["detail"]
    assert _post(server, "/reset").status_code == 200
