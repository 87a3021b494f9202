"""The `splatsim` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="splatsim: neural closed-loop driving simulator.", no_args_is_help=True)


def main() -> None:
    app()
