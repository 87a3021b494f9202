"""`splatsim serve-hugsim`: serve HUGSIM's benchmark HTTP API so hugsim-client agents drive in splatsim."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from sim.errors import ConfigError

console = Console(stderr=True)


def serve_hugsim(
    port: int = typer.Option(8065, help="TCP port (0: any free port); hugsim-client's default host is :8065."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; keep loopback unless the network is trusted."),
    dataroot: Path = typer.Option(..., help="nuScenes-layout dataroot to serve scenes from."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under the dataroot."),
    scenes: List[str] = typer.Option([], help="Scenes to drive, in order (repeatable); default: all of the dataroot."),
    auth_token_file: Optional[Path] = typer.Option(None, help="File holding the token clients must send in "
                                                              "header auth-token (default: no check)."),
    width: int = typer.Option(800, help="Image width of the six cameras, pixels (HUGSIM's: 800)."),
    height: int = typer.Option(450, help="Image height, pixels (HUGSIM's: 450)."),
    backend: str = typer.Option("auto", help="Rasterizer: auto (gsplat on CUDA, else cpu) | cpu | gsplat | torch."),
    semantic: bool = typer.Option(True, help="Semantic images from proxy meshes (headless OpenGL); off: all 255."),
    reactive: bool = typer.Option(False, help="Actors follow the IDM instead of replaying the log."),
    step_limit: int = typer.Option(400, help="A scene ends after more actions than this (HUGSIM's: 400)."),
    out: Optional[Path] = typer.Option(None, help="Write <out>/<scene>/metrics.json as each scene ends."),
    as_json: bool = typer.Option(False, "--json", help="Print the URL and scenes as one JSON line on stdout."),
    verbose: bool = typer.Option(False, help="Log scenes and requests."),
) -> None:
    """Serve POST /reset, GET /get_current_state, POST /execute_action until SIGTERM/SIGINT."""
    from policies_api.catalog import ScenarioCatalog
    from policies_api.hugsim import HugsimEnvConfig, HugsimEnvironment, HugsimServer, HugsimServerConfig
    from policies_api.hugsim.episode import proxy_semantic_factory
    from policies_api.renderer_factory import gaussian_renderer_factory

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is out of range 0..65535")
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise ConfigError(f"--width {width} / --height {height} must be 16..4096 pixels")
    if step_limit < 1:
        raise ConfigError("--step-limit must be >= 1")
    token = None
    if auth_token_file is not None:
        if not auth_token_file.is_file():
            raise ConfigError(f"--auth-token-file {auth_token_file} does not exist; write the token into it")
        token = auth_token_file.read_text().strip()
        if not token:
            raise ConfigError(f"--auth-token-file {auth_token_file} is empty; write the token into it")
    catalog = ScenarioCatalog(dataroots=[(dataroot, version)])
    known = [e.name for e in catalog.entries()]
    unknown = [s for s in scenes if s not in known]
    if unknown:
        raise ConfigError(f"--scenes {unknown} are not in {dataroot}/{version}; it has {known}")
    if not (scenes or known):
        raise ConfigError(f"no scenes in {dataroot}/{version}")
    proxy_factory = None
    if semantic:
        proxy_factory, reason = proxy_semantic_factory()
        if proxy_factory is None:
            console.print(f"[yellow]note:[/] semantic images are all 255 (unknown): {reason}")
    config = HugsimEnvConfig(scenes=tuple(scenes or known), width_px=width, height_px=height,
                             semantic=proxy_factory is not None, reactive=reactive, step_limit=step_limit, out_dir=out)
    env = HugsimEnvironment(catalog, config, gaussian_renderer_factory(backend), proxy_factory)
    server = HugsimServer(env, HugsimServerConfig(host=host, port=port, auth_token=token)).start()
    if as_json:
        print(json.dumps({"url": server.url, "scenes": list(config.scenes)}), flush=True)
    else:
        console.print(f"[green]serving HUGSIM's API[/] at {server.url} over {len(config.scenes)} scene(s) "
                      "(Ctrl-C to stop)")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    server.close()
    console.print("HUGSIM server stopped")
