"""`mcps-server`: the operator CLI that starts every process and inspects the event log."""

from __future__ import annotations

import typer

from infra.container import build_container
from infra.logging import configure_logging
from infra.settings import Settings
from workers import cli_audit, cli_catalog, cli_projections

app = typer.Typer(
    help="Operate MCPS.ONE: serve it, run its workers, replay and audit its event log.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(cli_audit.app, name="audit")
app.add_typer(cli_catalog.app, name="catalog")
app.command("replay")(cli_projections.replay_command)
app.command("projections")(cli_projections.projections_command)


@app.command()
def up() -> None:
    """Start the whole product in one process (embedded mode).

    PostgreSQL comes from the pgserver wheel unless `DATABASE_URL` is set; projectors
    follow the log directly; no Kafka or Redis is needed. Honours `PORT` and `MCPS_HOME`.

    Example: `PORT=8001 MCPS_HOME=/tmp/two mcps-server up`
    """
    from workers.serve import serve

    configure_logging()
    serve(build_container(Settings()), embedded=True)


@app.command()
def api() -> None:
    """Serve only the HTTP API (distributed mode: projectors run as their own processes).

    Example: `DATABASE_URL=postgresql://… KAFKA_BOOTSTRAP_SERVERS=… mcps-server api`
    """
    from workers.serve import serve

    configure_logging()
    serve(build_container(Settings()), embedded=False)


@app.command()
def relay() -> None:
    """Stream the event log into Kafka (topic per bounded context, key = aggregate id).

    At-least-once: the checkpoint advances only after the broker acknowledged the batch.
    Example: `KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 mcps-server relay`
    """
    from workers import run_relay

    run_relay.main()


@app.command()
def project(
    name: str = typer.Argument(help="The read model to maintain, e.g. `directory`."),
) -> None:
    """Keep one read model up to date: from Kafka in distributed mode, else from the log.

    The `ledger` always follows the log itself, because its hash chain needs log order.
    Run several processes with the same name to share Kafka partitions.
    Example: `mcps-server project audit`
    """
    import signal
    import threading

    from projections.registry import by_name, create_all

    projection = by_name(name)
    settings = Settings()
    if settings.distributed and not getattr(projection, "follows_log_only", False):
        from workers import run_projector

        run_projector.main([name])
        return
    from workers.projector import LogProjector

    configure_logging()
    container = build_container(settings)
    create_all(container.db, [projection])
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        LogProjector(container.events, container.db, projection).run(stop)
    finally:
        container.close()


@app.command()
def sink(
    name: str = typer.Argument(help="The ClickHouse read model to feed: `activity` or `usage`."),
    batch_size: int = typer.Option(5000, min=1, help="Events read and inserted per batch."),
) -> None:
    """Feed one ClickHouse read model from the event log until SIGTERM or Ctrl-C.

    Each batch is inserted, then checkpointed in PostgreSQL; after a crash the next run
    re-sends at most one batch, which the table deduplicates. Writes to `CLICKHOUSE_URL`
    (chDB under `MCPS_HOME` without it). Example: `mcps-server sink usage`
    """
    import signal
    import threading

    from workers.run_sink import SINKS, run_sink

    if name not in SINKS:
        typer.echo(f"error: unknown sink '{name}' (one of: {', '.join(SINKS)})", err=True)
        raise typer.Exit(2)
    configure_logging()
    container = build_container(Settings())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run_sink(container, name, stop, batch_size)
    finally:
        container.close()


@app.command()
def deployer() -> None:
    """Run deployments: reconcile desired state with the runtimes until they match.

    Process and remote runtimes always; Docker when `DOCKER_HOST` is set. Several may run:
    one leads, the others wait. Instances outlive a deployer that stops or is killed; the
    next leader adopts them. Example: `DATABASE_URL=postgresql://… mcps-server deployer`
    """
    import signal
    import threading

    from workers.run_deployer import deploy_forever

    configure_logging()
    container = build_container(Settings())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        deploy_forever(container, stop, stop_instances=False)
    finally:
        container.close()


@app.command()
def migrate() -> None:
    """Create the event store, the app role and every read model's schema, and seed the
    template library (idempotent).

    Example: `mcps-server migrate`
    """
    from projections.registry import create_all
    from workers.catalog import seed_templates

    container = build_container(Settings())
    create_all(container.db)
    seed_templates(container.marketplace)
    container.close()
    typer.echo("migrated")


if __name__ == "__main__":
    app()
