"""Running the product: the embedded `up` mode and the API process of the distributed stack."""

from __future__ import annotations

import logging
import threading

import uvicorn

from api.app import create_app
from infra.container import Container
from projections.registry import all_projections, create_all
from workers.catalog import seed_templates
from workers.projector import start_log_projectors
from workers.run_deployer import start_deployer
from workers.run_sink import start_sinks

log = logging.getLogger("mcps.serve")


def serve(container: Container, *, embedded: bool) -> None:
    """Serve the API; in embedded mode also follow the log with every projector in-process."""
    create_all(container.db)
    settings = container.settings
    stop = threading.Event()
    if embedded:
        seeded = seed_templates(container.marketplace)
        log.info("template library: %s", ", ".join(f"{s.name} {s.outcome}" for s in seeded))
        start_log_projectors(container.events, container.db, all_projections(), stop)
        start_sinks(container, stop)  # activity and usage, into ClickHouse (chDB here)
        deployer = start_deployer(container, stop)
    config = uvicorn.Config(
        create_app(container),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started and not stop.is_set():
            stop.wait(0.05)
        if server.started:
            print(
                f"MCPS.ONE is ready at http://{settings.host}:{settings.port}  "
                f"(data: {settings.home}; Ctrl-C stops)",
                flush=True,
            )

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after its graceful shutdown; that is a clean stop
    finally:
        stop.set()
        if embedded:
            deployer.join(timeout=30)  # it stops the instances it runs
        container.close()
