"""Running the deployer: its runtimes from settings, leadership, and the pass loop.

`mcps-server deployer` runs it as its own process; `up` runs it in a thread. Instances are
processes and containers of their own: they outlive a deployer that is killed, and the next
leader adopts them. Only `up` (the one-process product) stops its instances when it stops.
"""

from __future__ import annotations

import logging
import os
import threading

from infra.clickhouse import clickhouse_client
from infra.container import Container
from infra.deployment_logs import LogShipper
from infra.runtimes.base import Runtime
from infra.runtimes.process import ProcessRuntime
from infra.runtimes.remote import RemoteRuntime
from infra.settings import Settings
from workers.autoscaler import Autoscaler
from workers.deployer import Reconciler, leadership, run
from workers.deployer_health import HealthChecker

log = logging.getLogger("mcps.deployer")


def build_runtimes(settings: Settings) -> dict[str, Runtime]:
    """Process and remote everywhere; Docker where `DOCKER_HOST` names an engine."""
    runtimes: dict[str, Runtime] = {
        "process": ProcessRuntime(settings.home),
        "remote": RemoteRuntime(settings.home, settings.runtime.allowed_hosts),
    }
    if os.environ.get("DOCKER_HOST"):
        from infra.runtimes.docker import DockerRuntime

        runtimes["docker"] = DockerRuntime(settings.home)
    return runtimes


def build_reconciler(container: Container) -> Reconciler:
    settings = container.settings
    return Reconciler(
        container.deployments,
        container.db,
        build_runtimes(settings),
        HealthChecker(allowed_hosts=settings.runtime.allowed_hosts),
        LogShipper(clickhouse_client(settings.clickhouse_url, settings.home)),
        policy=settings.runtime,
        autoscaler=Autoscaler(container.deployments, container.load_signal, settings.autoscaling),
        distributed=settings.distributed,
        topic_prefix=settings.kafka_topic_prefix,
    )


def deploy_forever(container: Container, stop: threading.Event, *, stop_instances: bool) -> None:
    """Wait to lead, then reconcile until `stop`; `stop_instances` stops them all at the end
    (recorded as stopped: the next start brings them back, as desired)."""
    with leadership(container.db, stop) as leading:
        if not leading:
            return
        reconciler = build_reconciler(container)
        try:
            run(reconciler, stop)
        finally:
            if stop_instances:
                reconciler.stop_all()
            reconciler.close()


def start_deployer(
    container: Container, stop: threading.Event, *, stop_instances: bool = True
) -> threading.Thread:
    thread = threading.Thread(
        target=deploy_forever,
        args=(container, stop),
        kwargs={"stop_instances": stop_instances},
        daemon=True,
        name="deployer",
    )
    thread.start()
    return thread
