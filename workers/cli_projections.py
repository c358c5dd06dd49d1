"""`mcps-server replay` and `mcps-server projections`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from infra.container import build_container
from infra.settings import Settings
from projections.registry import all_projections, by_name
from projections.status import projection_status
from workers.replay import replay

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def replay_command(
    projection: Annotated[str, typer.Argument(help="The read model to rebuild, e.g. `audit`.")],
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a read model from position 0 in a shadow schema and swap it in atomically.

    The live read model keeps serving until the swap. Shows rate and ETA on a terminal.

    Example: `mcps-server replay audit`
    """
    names = [p.name for p in all_projections()]
    if projection not in names:
        typer.echo(
            f"error: unknown projection '{projection}' (one of: {', '.join(names)})", err=True
        )
        raise typer.Exit(2)
    container = build_container(Settings())
    try:
        if as_json or not sys.stdout.isatty():
            result = replay(container.events, container.db, by_name(projection))
        else:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:,.0f} ev/s"),
                TimeRemainingColumn(),
            ) as bar:
                task = bar.add_task(f"replay {projection}", total=None, rate=0.0)

                def update(position: int, head: int) -> None:
                    elapsed = bar.tasks[task].elapsed or 1e-9
                    bar.update(task, completed=position, total=head, rate=position / elapsed)

                result = replay(
                    container.events, container.db, by_name(projection), progress=update
                )
    finally:
        container.close()
    summary = {
        "projection": result.projection,
        "events": result.events,
        "position": result.position,
        "seconds": round(result.seconds, 3),
        "events_per_second": round(result.rate),
    }
    typer.echo(
        json.dumps(summary)
        if as_json or not sys.stdout.isatty()
        else f"swapped in {result.projection}: {result.events:,} events to position "
        f"{result.position:,} in {result.seconds:.1f}s ({result.rate:,.0f} ev/s)"
    )


def projections_command(as_json: JsonOpt = False) -> None:
    """List each projection's position, lag and state.

    Example: `mcps-server projections --json`
    """
    container = build_container(Settings())
    try:
        head = container.events.head()
        states = projection_status(container.db, head)
    finally:
        container.close()
    if as_json or not sys.stdout.isatty():
        typer.echo(
            json.dumps(
                {
                    "head": head,
                    "projections": [
                        {
                            "name": s.name,
                            "position": s.position,
                            "lag": s.lag,
                            "state": s.state,
                            "updated_at": s.updated_at.isoformat() if s.updated_at else None,
                        }
                        for s in states
                    ],
                }
            )
        )
        return
    table = Table(title=f"log head {head:,}")
    for column in ("projection", "position", "lag", "state", "updated"):
        table.add_column(column)
    for s in states:
        table.add_row(
            s.name,
            f"{s.position:,}",
            f"{s.lag:,}",
            s.state,
            s.updated_at.isoformat(timespec="seconds") if s.updated_at else "-",
        )
    Console().print(table)
