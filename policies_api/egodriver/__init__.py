"""splatsim as the runtime of an NVIDIA AlpaSim driver (`egodriver.EgodriverService`).

`--policy egodriver://HOST:PORT` or `--policy egodriver+unix:///PATH` (the `unix://` scheme stays
splatsim's own DrivingPolicy contract), with `--egodriver-config FILE` for the camera map and the
per-step options (config.py). client.py holds the session logic, frames.py the conversions.
"""

from policies_api.egodriver.client import EgodriverPolicy, is_egodriver_policy_name
from policies_api.egodriver.config import CameraMap, EgodriverConfig, load_egodriver_config

__all__ = ["CameraMap", "EgodriverConfig", "EgodriverPolicy", "is_egodriver_policy_name", "load_egodriver_config"]
