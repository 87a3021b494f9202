"""`splatsim bench grpc`: the round trip of one closed-loop step over gRPC, TCP vs Unix socket
(`evaluation.benchmarks.grpc`); with `--load`, well-behaved clients while another floods one
session (`evaluation.benchmarks.grpc_load`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from evaluation.benchmarks.grpc import bench_grpc
from evaluation.benchmarks.grpc_load import bench_grpc_load
from sim.atomic import write_json_atomic
from sim.errors import ConfigError


def grpc(
    steps: int = typer.Option(300, help="Timed Step calls per case."),
    warmup: int = typer.Option(30, help="Untimed Step calls first."),
    cameras: int = typer.Option(6, help="Cameras in the image case (raw RGB)."),
    width: int = typer.Option(480, help="Image width, pixels."),
    height: int = typer.Option(270, help="Image height, pixels."),
    actors: int = typer.Option(20, help="Vehicles in the scenario."),
    backend: str = typer.Option("auto", help="Renderer backend for the one real frame (auto | cpu | gsplat); "
                                "with --load, of the flooded session."),
    transport: list[str] = typer.Option(["tcp", "unix"], help="Transports to measure (repeatable)."),
    load: bool = typer.Option(False, "--load", help="Instead: the load test (well-behaved clients during a flood)."),
    clients: list[int] = typer.Option([2, 8, 32], help="--load: numbers of well-behaved clients (repeatable)."),
    phase_s: float = typer.Option(6.0, help="--load: seconds of each phase (baseline, flood, abandoned)."),
    flood: int = typer.Option(48, help="--load: concurrent no-deadline Resets per flood wave."),
    abandoned: int = typer.Option(24, help="--load: concurrent Resets per wave abandoned at their deadline."),
    abandon_deadline: float = typer.Option(0.1, help="--load: deadline of the abandoned Resets, seconds."),
    out: Optional[Path] = typer.Option(None, help="Also write the JSON report here."),
    as_json: bool = typer.Option(True, "--json/--no-json", help="Print the JSON report on stdout."),
) -> None:
    """gRPC step round trip (p50/p99), no images and with raw images, TCP vs Unix socket, with an
    in-process baseline; rendering excluded (reported separately). With --load: p50/p99 of
    well-behaved clients' GetInfo and Step while one session is flooded, and the server's work
    on abandoned calls."""
    bad = set(transport) - {"tcp", "unix"}
    if bad:
        raise ConfigError(f"unknown transport(s) {sorted(bad)}; use tcp and/or unix")
    if steps < 1 or warmup < 0 or cameras < 1:
        raise ConfigError("--steps and --cameras must be >= 1 and --warmup >= 0")
    if load:
        if min(clients, default=0) < 1 or phase_s <= 0 or flood < 1 or abandoned < 1 or abandon_deadline <= 0:
            raise ConfigError("--clients, --flood and --abandoned must be >= 1; --phase-s and --abandon-deadline > 0")
        report = bench_grpc_load(tuple(clients), phase_s, flood, abandoned, abandon_deadline, cameras, width, height,
                                 backend)
    else:
        report = bench_grpc(steps, warmup, cameras, width, height, tuple(transport), actors, backend)
    if out is not None:
        write_json_atomic(out, report)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
