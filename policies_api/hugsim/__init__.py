"""splatsim as a HUGSIM benchmark server: agents written with `hugsim-client` drive in splatsim.

- `convert`: frames, units and records at the boundary, each with its HUGSIM source.
- `episode`: `HugsimEnvironment`, HUGSIM's scenes over splatsim's engine, renderer and checks.
- `server`: `HugsimServer`, the HTTP API (`splatsim serve-hugsim`).
"""

from policies_api.hugsim.episode import HugsimEnvConfig, HugsimEnvironment, proxy_semantic_factory
from policies_api.hugsim.server import HugsimServer, HugsimServerConfig

__all__ = ["HugsimEnvConfig", "HugsimEnvironment", "HugsimServer", "HugsimServerConfig", "proxy_semantic_factory"]
