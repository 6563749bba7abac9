"""`python -m rankfeed.chaos [--scenario NAME ...] [--duration SECONDS]`: what `make chaos` runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rankfeed.chaos.faults import FAULTS
from rankfeed.chaos.report import findings, markdown, summary_markdown, write_markdown
from rankfeed.chaos.runner import RunOptions, run
from rankfeed.settings import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results" / "chaos.md"


def chaos(
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", help=f"fault to run, repeatable; default all: {', '.join(FAULTS)}"),
    ] = None,
    duration: Annotated[
        float, typer.Option(help="seconds of load around each fault: a third before it, two thirds after")
    ] = 45.0,
    hold: Annotated[
        float | None,
        typer.Option(help="seconds each fault is held (default: broker 15, parquet and disk-full 20, others 0)"),
    ] = None,
    idle_timeout: Annotated[
        int | None, typer.Option(help="the job's source_idle_timeout_seconds (default: the JobSettings default)")
    ] = None,
    rate: Annotated[float, typer.Option(help="events per second sent through the gateway")] = 200.0,
    output: Annotated[Path, typer.Option(help="Markdown file for the table")] = RESULTS,
) -> None:
    """Faults under load on an isolated stack; every acknowledged event must come out exactly once."""
    names = tuple(scenario or FAULTS)
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        raise typer.BadParameter(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    console = Console()
    options = RunOptions(
        scenarios=names,
        before_seconds=duration / 3,
        after_seconds=duration * 2 / 3,
        hold_seconds=hold,
        rate=rate,
        source_idle_timeout_seconds=idle_timeout,
    )
    started = time.monotonic()
    results = run(options, log=console.print)
    wall = time.monotonic() - started
    # Plain Markdown on the console too: it stays readable at any width and in CI logs.
    print(summary_markdown(results))
    for line in findings(results):
        print(line)
    write_markdown(output, markdown(results, options, wall))
    console.print(f"wall time {wall / 60:.1f} min; table written to {output}")
    if not all(result.ok or result.not_testable for result in results):
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(chaos)
