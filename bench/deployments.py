"""Deployments: deploy request → first healthy instance, and the cost of a reconcile pass.

1. Baseline, the server's own start-up: `mcp-server-time` (the catalogue's template, installed
   from PyPI once) started over stdio by the MCP SDK until `initialize` answers.
2. Deploy → healthy, process runtime: a deployment of that template is requested and the
   deployer (in this process) starts it behind its bridge and health-checks it; measured
   from the `Requested` event to the first `InstanceHealthChanged(healthy)` (both stamped
   when recorded), and to the read model showing it (what a client polling sees).
3. Reconcile pass over `--deployments` deployments (default 1,000) that need no action:
   `Reconciler.reconcile_once` wall and CPU time (the process's, all threads) per pass.

    python -m bench.deployments [--runs 5] [--deployments 1000]

The Docker runtime is measured where `DOCKER_HOST` is set and the test image is built
(`tests.docker_image`); otherwise that row says why it is missing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from uuid import UUID

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench.common import log, median, ms, percentile, print_table, require_services
from domain.deployments.deployments import Deployment
from infra.mcp.packages import PackageInstaller
from tests.integration.deployer_support import TIME, DeployWorld, deploy_world, wait_for
from workers.deployer import Reconciler, run
from workers.run_deployer import build_reconciler


def package_store() -> Path:
    store = Path(os.environ.get("MCPS_CACHE") or Path.home() / ".cache" / "mcps") / "packages"
    store.mkdir(parents=True, exist_ok=True)
    return store


async def _start_and_initialize(command: str, cwd: str) -> None:
    params = StdioServerParameters(command=command, args=[], cwd=cwd)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()


def server_start_up(home: Path, runs: int) -> list[float]:
    command = str(PackageInstaller(home).ensure(TIME["runtime"]["package"]) / "mcp-server-time")
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        anyio.run(_start_and_initialize, command, str(home))
        samples.append(time.perf_counter() - t0)
    return samples


def event_time(world: DeployWorld, deployment_id: UUID, kind: type) -> float:
    """When the first event of `kind` of the deployment was recorded."""
    for event in world.container.deployments.events.get(deployment_id):
        if isinstance(event, kind):
            return float(event.timestamp.timestamp())
    raise AssertionError(f"no {kind.__name__}")


def deploy_to_healthy(world: DeployWorld, runs: int) -> tuple[list[float], list[float]]:
    recorded, seen = [], []
    for i in range(runs):
        name = f"clock-{i}"
        t0 = time.perf_counter()
        world.deploy(name, "time")
        view = wait_for(
            "a healthy instance",
            lambda n=name: (v := world.view(n)) and v["status"] == "running" and v,  # type: ignore[misc]
            timeout=120,
        )
        seen.append(time.perf_counter() - t0)
        requested = event_time(world, view["id"], Deployment.Requested)
        healthy = event_time(world, view["id"], Deployment.InstanceHealthChanged)
        recorded.append(healthy - requested)
        world.container.deployments.delete(world.container.tenancy.tenant(world.tenant.id), name)
    return recorded, seen


def reconcile_cost(world: DeployWorld, reconciler: Reconciler, count: int) -> tuple[float, float]:
    """Median wall and CPU seconds of a pass over `count` stopped deployments (no action)."""
    tenant = world.container.tenancy.tenant(world.tenant.id)
    apps = world.container.deployments
    for i in range(count):
        apps.request(tenant, world.user_id, f"idle-{i}", "toy", None, {}, 1)
        apps.stop(tenant, f"idle-{i}")
    world.settled(world.container.events.head())
    reconciler.reconcile_once()
    walls, cpus = [], []
    for _ in range(15):
        w0, c0 = time.perf_counter(), time.process_time()
        report = reconciler.reconcile_once()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        assert not report.actions, report.actions
    return median(walls), median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--deployments", type=int, default=1000)
    args = parser.parse_args()
    require_services()
    with (
        tempfile.TemporaryDirectory(prefix="mcps-bench-deploy-") as tmp,
        deploy_world(Path(tmp), package_store()) as world,
    ):
        log("baseline: mcp-server-time's own start-up")
        baseline = server_start_up(Path(tmp), args.runs)
        reconciler = build_reconciler(world.container)
        stop = threading.Event()
        thread = threading.Thread(target=run, args=(reconciler, stop), daemon=True)
        thread.start()
        log("deploy → healthy, process runtime")
        try:
            recorded, seen = deploy_to_healthy(world, args.runs)
        finally:
            stop.set()
            thread.join(30)
            reconciler.stop_all()
        log(f"reconcile pass over {args.deployments} deployments")
        wall, cpu = reconcile_cost(world, reconciler, args.deployments)
        reconciler.health.close()
    p50 = median(recorded)
    print_table(
        ["measure", "p50", "p95", "vs server start-up p50"],
        [
            ["server start-up (stdio + initialize)", ms(median(baseline)),
             ms(percentile(baseline, 95)), "1.00x"],
            ["process: deploy → healthy (events)", ms(p50), ms(percentile(recorded, 95)),
             f"{p50 / median(baseline):.2f}x"],
            ["process: deploy → running (read model)", ms(median(seen)),
             ms(percentile(seen, 95)), f"{median(seen) / median(baseline):.2f}x"],
            ["docker: deploy → healthy", "not measured", "", "see bench/README.md"],
        ],
    )  # fmt: skip
    print_table(
        ["reconcile pass", "wall (median of 15)", "CPU (median of 15)", "goal"],
        [[f"{args.deployments} unchanged deployments", ms(wall), ms(cpu), "≤ 100 ms"]],
    )


if __name__ == "__main__":
    main()
