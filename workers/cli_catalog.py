"""`mcps-server catalog`: seed templates, import and export server.json, introspect tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from domain.marketplace import server_json
from domain.shared.errors import DomainError
from infra.container import build_container
from infra.mcp.introspect import IntrospectionError
from infra.settings import Settings
from workers.catalog import documents, import_document, introspect_version, seed_templates

app = typer.Typer(
    help="The marketplace catalogue: templates, server.json import/export, introspection.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON lines instead of text.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="server.json files or folders of them.")],
    publisher: Annotated[str, typer.Option(help="Slug of the publishing tenant.")],
    draft: Annotated[bool, typer.Option("--draft", help="Leave new services unpublished.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import MCP Registry `server.json` documents: a new service is drafted, a newer version
    released, and (unless `--draft`) the service published. Re-importing changes nothing.

    Example: `mcps-server catalog import ./servers --publisher acme`
    """
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise _fail(f"no such file or folder: {', '.join(missing)}")
    try:
        docs = documents(paths)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _fail(f"not a JSON document: {error}") from None
    container = build_container(Settings())
    failures = 0
    try:
        tenant = container.tenancy.tenant_by_slug(publisher)
        with Progress(
            TextColumn("[bold]import"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            disable=as_json or not sys.stderr.isatty(),
        ) as bar:
            task = bar.add_task("", total=len(docs))
            for path, doc in docs:
                bar.update(task, description=path.name)
                try:
                    done = import_document(
                        container.marketplace, doc, tenant.id, tenant.slug, publish=not draft
                    )
                    line = {
                        "file": str(path),
                        "name": done.name,
                        "version": done.version,
                        "outcome": done.outcome,
                    }
                except DomainError as error:
                    failures += 1
                    line = {"file": str(path), "error": error.message, "field": error.field}
                typer.echo(
                    json.dumps(line) if as_json else "  ".join(f"{v}" for v in line.values())
                )
                bar.advance(task)
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()
    if failures:
        raise typer.Exit(1)


@app.command("seed")
def seed_command() -> None:
    """Publish the template library (time, fetch, git, everything, filesystem). Idempotent;
    `up` runs it on every start.

    Example: `mcps-server catalog seed`
    """
    container = build_container(Settings())
    try:
        for done in seed_templates(container.marketplace):
            typer.echo(f"{done.name} {done.version} {done.outcome}")
    finally:
        container.close()


@app.command("introspect")
def introspect_command(
    name: Annotated[str, typer.Argument(help="The service's name.")],
    version: Annotated[str | None, typer.Option(help="Default: the latest version.")] = None,
) -> None:
    """Start the service once (installing its package if needed), list its tools over MCP,
    and record them on the version.

    Example: `mcps-server catalog introspect time`
    """
    settings = Settings()
    container = build_container(settings)
    try:
        found = introspect_version(
            container.marketplace,
            name,
            version,
            settings.home,
            lambda line: typer.echo(line, err=True),
        )
    except (DomainError, IntrospectionError) as error:
        raise _fail(str(getattr(error, "message", error))) from None
    finally:
        container.close()
    version, server, tools, _ = found
    typer.echo(
        f"{name} {version}: {server.get('name')} {server.get('version')}, {len(tools)} tools"
    )
    for tool in tools:
        typer.echo(f"  {tool['name']}")


@app.command("export")
def export_command(
    name: Annotated[str, typer.Argument(help="The service's name.")],
    version: Annotated[str | None, typer.Option(help="Default: the latest version.")] = None,
) -> None:
    """Print a service as an MCP Registry `server.json`.

    Example: `mcps-server catalog export time > time.server.json`
    """
    container = build_container(Settings())
    try:
        doc = server_json.export(container.marketplace.service(name), version)
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
