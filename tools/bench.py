"""`splatsim bench ...`: the project's performance measurements (medians, machine, baseline ratio)."""

from __future__ import annotations

import typer

from tools import (
    bench_adversary,
    bench_egodriver,
    bench_engine,
    bench_grpc,
    bench_pseudo_sim,
    bench_reconstruct,
    bench_render,
    bench_score,
)

app = typer.Typer(help="Benchmarks: each prints medians, the machine and a ratio to a baseline.", no_args_is_help=True)
app.command("adversary")(bench_adversary.bench_adversary)
app.command("egodriver")(bench_egodriver.egodriver)
app.command("engine")(bench_engine.engine)
app.command("grpc")(bench_grpc.grpc)
app.command("reconstruct")(bench_reconstruct.bench_reconstruct_command)
app.command("render")(bench_render.render)
app.command("score")(bench_score.score)
app.command("pseudo-sim")(bench_pseudo_sim.bench_pseudo_sim_command)
