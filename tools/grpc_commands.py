"""`splatsim serve`: host the closed loop as a gRPC server for external driving stacks."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from sim.errors import ConfigError

console = Console(stderr=True)
log = logging.getLogger("splatsim.server")


def serve(
    port: int = typer.Option(50051, help="TCP port on --host (0: any free port; -1: no TCP, --unix only)."),
    unix: Optional[Path] = typer.Option(None, help="Also listen on this Unix-domain socket path."),
    host: str = typer.Option("127.0.0.1", help="TCP address to bind; keep loopback unless the network is trusted."),
    dataroot: List[Path] = typer.Option([], help="nuScenes-layout dataroot to serve scenes from (repeatable)."),
    version: str = typer.Option("v1.0-mini", help="Dataset version folder under each dataroot."),
    scenario_dir: List[Path] = typer.Option([], help="Folder of *.scenario.npz files to serve (repeatable)."),
    max_sessions: int = typer.Option(16, help="Most concurrent sessions; more get RESOURCE_EXHAUSTED."),
    max_sessions_per_client: int = typer.Option(8, help="Most sessions of one client (one TCP connection; all "
                                                "Unix-socket clients count as one); more get RESOURCE_EXHAUSTED."),
    idle_timeout: float = typer.Option(300.0, help="Close sessions idle this long, seconds (vanished clients)."),
    orphan_timeout: float = typer.Option(10.0, help="Close sessions idle this long whose client's TCP connection "
                                         "has closed, seconds."),
    max_message_mb: int = typer.Option(64, help="Largest message sent or received, MiB."),
    workers: int = typer.Option(16, help="Handler threads."),
    max_concurrent_rpcs: int = typer.Option(256, help="Calls in the server at once (running or waiting for a "
                                            "thread); more get RESOURCE_EXHAUSTED."),
    grace: float = typer.Option(5.0, help="On SIGTERM/SIGINT: seconds calls in flight may take to finish."),
    render: bool = typer.Option(True, help="Render camera images (sessions without cameras never render)."),
    backend: str = typer.Option("auto", help="Rasterizer: auto (gsplat on CUDA, else cpu) | cpu | gsplat | torch."),
    as_json: bool = typer.Option(False, "--json", help="Print the listening addresses as one JSON line on stdout."),
    verbose: bool = typer.Option(False, help="Log every session."),
    auth_token_file: Optional[Path] = typer.Option(
        None, help="Require this file's token on every call (metadata 'authorization: Bearer TOKEN'); mode 0600."),
    tls_cert: Optional[Path] = typer.Option(None, help="TLS on the TCP port: the server certificate (PEM)."),
    tls_key: Optional[Path] = typer.Option(None, help="TLS on the TCP port: the server's private key (PEM)."),
    tls_client_ca: Optional[Path] = typer.Option(None, help="Mutual TLS: accept only clients with a certificate "
                                                           "signed by this CA (PEM)."),
    reveal_paths: bool = typer.Option(False, help="Show the server's absolute paths in errors and ListScenarios."),
) -> None:
    """Serve splatsim.v1.Simulator (+ health checking and reflection) until SIGTERM/SIGINT."""
    from policies_api.catalog import ScenarioCatalog
    from policies_api.renderer_factory import gaussian_renderer_factory
    from policies_api.security import read_token_file, server_tls
    from policies_api.server import ServerConfig, SimulatorServer, serve_until_signal

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not dataroot and not scenario_dir:
        raise ConfigError("nothing to serve: pass --dataroot DIR (nuScenes layout) and/or --scenario-dir DIR")
    if port < -1 or port > 65535:
        raise ConfigError(f"--port {port} is out of range (0..65535, or -1 for no TCP)")
    if max_message_mb < 1 or workers < 1 or max_concurrent_rpcs < workers:
        raise ConfigError("--max-message-mb and --workers must be >= 1, and --max-concurrent-rpcs >= --workers")
    token = read_token_file(auth_token_file) if auth_token_file else None
    tls = server_tls(tls_cert, tls_key, tls_client_ca)
    catalog = ScenarioCatalog(dataroots=[(d, version) for d in dataroot], scenario_dirs=list(scenario_dir))
    if len(catalog) == 0:
        raise ConfigError(f"no scenarios found in {[str(p) for p in [*dataroot, *scenario_dir]]}")
    factory = gaussian_renderer_factory(backend) if render else None
    if render and factory is None:
        console.print("[yellow]note:[/] no renderer available; sessions that ask for cameras get FAILED_PRECONDITION")
    config = ServerConfig(host=host, port=None if port == -1 else port, unix_socket=str(unix) if unix else None,
                          max_sessions=max_sessions, max_sessions_per_client=max_sessions_per_client,
                          idle_timeout_s=idle_timeout, orphan_timeout_s=orphan_timeout,
                          max_message_bytes=max_message_mb * 2**20, max_workers=workers,
                          max_concurrent_rpcs=max_concurrent_rpcs, grace_s=grace,
                          auth_token=token, tls=tls, reveal_paths=reveal_paths)
    server = SimulatorServer(catalog, config, factory).start()
    if as_json:
        print(json.dumps({"tcp": server.tcp_target, "unix": server.unix_target, "scenarios": len(catalog)}), flush=True)
    else:
        console.print(f"[green]splatsim serving[/] {len(catalog)} scenario(s) on "
                      + ", ".join(t for t in (server.tcp_target, server.unix_target) if t)
                      + " (Ctrl-C to stop)")
    serve_until_signal(server, grace)
    console.print("splatsim server stopped")
