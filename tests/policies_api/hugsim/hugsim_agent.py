"""A HUGSIM competition agent written only against hugsim-client's public API (run as its own
process by test_server.py): drive straight ahead at the current speed until done, then print one
JSON line describing what it received."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from hugsim_client import HugsimClient


def describe(env_state) -> dict:
    obs, info = env_state.state.obs, env_state.state.info
    return {
        "done": env_state.done, "cur_scene_done": env_state.cur_scene_done, "info_keys": sorted(info),
        "rgb": {k: [list(v.shape), str(v.dtype)] for k, v in obs["rgb"].items()},
        "semantic": {k: [list(v.shape), str(v.dtype), sorted(np.unique(v).tolist())]
                     for k, v in obs["semantic"].items()},
        "depth": {k: [list(v.shape), str(v.dtype), float(v.max())] for k, v in obs["depth"].items()},
        "timestamp": info["timestamp"], "rc": info.get("rc"), "collision": info.get("collision"),
        "ego_box": info["ego_box"], "cam_params": sorted(info["cam_params"]),
    }


def main() -> None:
    client = HugsimClient(host=sys.argv[1], api_token=os.environ["HUGSIM_API_TOKEN"])
    client.reset_env()
    states = [describe(client.get_current_state())]
    for _ in range(50):
        speed = max(float(client.get_current_state().state.info["ego_velo"]), 2.0)
        plan = np.stack([np.zeros(6), speed * 0.5 * np.arange(1, 7)], -1)  # x right, y forward, 0.5 s apart
        result = client.execute_action(plan)
        states.append(describe(result))
        if result.done:
            break
    print(json.dumps(states))


if __name__ == "__main__":
    main()
