"""`mcps-server audit`: print, filter and follow the audit log; verify the hash chain."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from domain.tenancy.tenants import Tenant
from infra.container import build_container
from infra.settings import Settings
from projections.audit import AuditFilter, query_audit
from projections.ledger import verify

app = typer.Typer(help="Read and verify the audit log.", invoke_without_command=True)


def _row_json(row: dict[str, Any]) -> str:
    return json.dumps(row, default=str)


@app.callback()
def show(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Tenant slug.")] = None,
    actor: Annotated[str | None, typer.Option(help="e.g. `user:<id>` or `token:<id>`.")] = None,
    type: Annotated[
        str | None, typer.Option("--type", help="Event type prefix, e.g. `tenancy.Tenant`.")
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="ISO time, inclusive.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new entries.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print the newest audit entries, oldest first; `--follow` keeps going.

    Examples: `mcps-server audit --tenant acme --type tenancy.Tenant.Member`,
    `mcps-server audit --follow --json`
    """
    if ctx.invoked_subcommand is not None:
        return
    container = build_container(Settings())
    as_json = as_json or not sys.stdout.isatty()
    console = Console()
    tenant_id = Tenant.create_id(tenant) if tenant else None
    try:
        with container.db.owner.connection() as conn:
            f = AuditFilter(actor=actor, event_type=type, since=since)
            rows = [r for r in query_audit(conn, f, limit) if _in(r, tenant_id)][::-1]
            _print(rows, as_json, console)
            last = rows[-1]["position"] if rows else 0
            while follow:
                conn.commit()
                time.sleep(0.5)
                f = AuditFilter(actor=actor, event_type=type, since=since, after=last)
                new = [
                    r for r in query_audit(conn, f, 1000, newest_first=False) if _in(r, tenant_id)
                ]
                _print(new, as_json, console)
                last = new[-1]["position"] if new else last
    except KeyboardInterrupt:
        pass
    finally:
        container.close()


def _in(row: dict[str, Any], tenant_id: Any) -> bool:
    return tenant_id is None or row["tenant_id"] == tenant_id


def _print(rows: list[dict[str, Any]], as_json: bool, console: Console) -> None:
    if as_json:
        for row in rows:
            typer.echo(_row_json(row))
        return
    if not rows:
        return
    table = Table(show_header=True)
    for column in ("position", "when", "actor", "event", "aggregate", "ip"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["position"]),
            r["occurred_at"].isoformat(timespec="seconds"),
            r["actor"],
            r["event_type"],
            str(r["aggregate_id"])[:8],
            r["client_ip"] or "-",
        )
    console.print(table)


@app.command("verify")
def verify_command(
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute the tamper-evident hash chain over the whole log; name the first broken link.

    Exits 1 when the chain is broken. Example: `mcps-server audit verify`
    """
    container = build_container(Settings())
    try:
        with container.db.owner.connection() as conn:
            checked, broken = verify(conn)
    finally:
        container.close()
    result = {
        "checked": checked,
        "ok": broken is None,
        "broken_at": broken.position if broken else None,
        "reason": broken.reason if broken else None,
    }
    if as_json or not sys.stdout.isatty():
        typer.echo(json.dumps(result))
    elif broken is None:
        typer.echo(f"chain intact: {checked:,} events verified")
    else:
        typer.echo(
            f"chain BROKEN at position {broken.position}: {broken.reason} "
            f"({checked:,} events verified before it)"
        )
    if broken is not None:
        raise typer.Exit(1)
