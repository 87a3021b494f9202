"""The `splatsim` command line: parses arguments and wires the packages together.

Each sub-command lives in its own module; this file only registers them and turns the
project's exceptions into a one-line error and exit status 2.
"""

from __future__ import annotations

import signal
import sys

import typer
from rich.console import Console

from sim.errors import SplatsimError
from tools import adversary_commands, bench, data_commands, grpc_commands, hugsim_commands, run_commands
from tools.correlate import correlate_command
from tools.report import report_command
from tools.score_commands import score_command

app = typer.Typer(help="splatsim: neural closed-loop driving simulator.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
app.command("run")(run_commands.run)
app.command("render")(run_commands.render)
app.command("demo")(run_commands.demo)
app.command("serve")(grpc_commands.serve)
app.command("serve-hugsim")(hugsim_commands.serve_hugsim)
app.command("report")(report_command)
app.command("score")(score_command)
app.command("correlate")(correlate_command)
app.add_typer(data_commands.app, name="data")
app.command("generate")(adversary_commands.generate)
adversary_app = typer.Typer(help="Adversarial diffusion actors: train and evaluate.", no_args_is_help=True)
adversary_app.command("train")(adversary_commands.adversary_train)
adversary_app.command("evaluate")(adversary_commands.adversary_evaluate)
app.add_typer(adversary_app, name="adversary")
app.add_typer(bench.app, name="bench")


def exit_on_sigterm() -> None:
    """Make SIGTERM exit through SystemExit (status 143), so that cleanups run: temporaries of outputs are
    removed (a default SIGTERM kills the process where it stands)."""
    def on_sigterm(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)


def main() -> None:
    exit_on_sigterm()
    try:
        app()
    except SplatsimError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
