"""Deployments: deploy request → first healthy instance, and the cost of a reconcile pass.

1. Baseline, the server's own start-up: `mcp-server-time` (the catalogue's template, installed
   from PyPI once) started over stdio by the MCP SDK until `initialize` answers; one sample
   right before each deploy, and each deploy is compared with the sample before it (the
   machine is shared and its load swings within a run).
2. Deploy → healthy, process runtime: a deployment of that template is requested and the
   deployer (in this process) starts it behind its bridge and health-checks it; measured
   from the `Requested` event to the first `InstanceHealthChanged(healthy)` (both stamped
   when recorded), and to the read model showing it (what a client polling sees).
2b. The same for the Docker runtime, with the test image (`tests.docker_image`: the same
   server and interpreter, built on this machine); its baseline is the container's own
   start-up: `podman --remote run -i --rm --network none <image>` over stdio until
   `initialize` answers (the engine creates, attaches and starts it, as the bridge asks).
3. Reconcile pass over `--deployments` deployments (default 1,000) that need no action:
   `Reconciler.reconcile_once` wall and CPU time (the process's, all threads) per pass.

    python -m bench.deployments [--runs 5] [--deployments 1000] [--gap 4] [--no-spare]

Each deploy comes after `--gap` idle seconds, so the runtime has its spare bridge ready (see
`infra.runtimes.local`); `--no-spare` measures bridges started cold.

The Docker runtime is measured where `DOCKER_HOST` is set (and `podman` is on the PATH for
its baseline); otherwise its rows say why they are missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench.common import log, median, ms, percentile, print_table, require_services
from domain.deployments.deployments import Deployment
from infra.mcp.packages import PackageInstaller
from infra.runtimes.local import LocalRuntime
from tests.integration.deployer_support import (
    OWNER,
    TIME,
    DeployWorld,
    deploy_world,
    time_release,
    wait_for,
)
from workers.deployer import Reconciler, run
from workers.run_deployer import build_reconciler


def package_store() -> Path:
    store = Path(os.environ.get("MCPS_CACHE") or Path.home() / ".cache" / "mcps") / "packages"
    store.mkdir(parents=True, exist_ok=True)
    return store


async def _start_and_initialize(command: str, args: list[str], cwd: str) -> None:
    params = StdioServerParameters(command=command, args=args, cwd=cwd)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()


def start_ups(command: str, args: list[str], cwd: Path, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        anyio.run(_start_and_initialize, command, args, str(cwd))
        samples.append(time.perf_counter() - t0)
    return samples


def server_start_up(home: Path) -> Callable[[], float]:
    command = str(PackageInstaller(home).ensure(TIME["runtime"]["package"]) / "mcp-server-time")
    return lambda: start_ups(command, [], home, 1)[0]


def docker_image() -> str | None:
    """The test image, built and imported on first use; None without an engine."""
    if not os.environ.get("DOCKER_HOST") or not shutil.which("podman"):
        return None
    from tests.docker_image import ensure_test_image

    return ensure_test_image()


def container_start_up(image: str, home: Path) -> Callable[[], float]:
    engine = ["--remote", "--url", os.environ["DOCKER_HOST"]]
    run = ["run", "-i", "--rm", "--network", "none", image, "-m", "mcp_server_time"]
    return lambda: start_ups("podman", [*engine, *run], home, 1)[0]


def publish_docker_time(world: DeployWorld, image: str) -> None:
    """`dtime`: the time server's release with the test image as its Docker runtime."""
    market = world.container.marketplace
    details = {k: TIME[k] for k in ("description", "category", "tags", "pricing")}
    market.draft("dtime", world.tenant.id, "deployers", OWNER, {"display_name": "dtime", **details})
    runtime = {
        "kind": "docker",
        "transport": "stdio",
        "image": image,
        "args": ["-m", "mcp_server_time"],
        "env": {},
    }
    market.release("dtime", OWNER, "1.0.0", time_release() | {"runtime": runtime})
    market.publish("dtime", OWNER)


def event_time(world: DeployWorld, deployment_id: UUID, kind: type) -> float:
    """When the first event of `kind` of the deployment was recorded."""
    for event in world.container.deployments.events.get(deployment_id):
        if isinstance(event, kind):
            return float(event.timestamp.timestamp())
    raise AssertionError(f"no {kind.__name__}")


@dataclass
class Samples:
    baseline: list[float] = field(default_factory=list)
    recorded: list[float] = field(default_factory=list)
    seen: list[float] = field(default_factory=list)

    def ratio(self, samples: list[float]) -> str:
        """The median of each run's figure over the baseline measured just before it: on a
        shared machine whose load swings, a pair run together is what compares."""
        return f"{median([s / b for s, b in zip(samples, self.baseline, strict=True)]):.2f}x"


def deploy_to_healthy(
    world: DeployWorld, runs: int, service: str, gap: float, baseline: Callable[[], float]
) -> Samples:
    """Deploy, wait for healthy, delete; before each deploy `gap` idle seconds (so the
    runtime has made its spare bridge), then one sample of the baseline."""
    samples = Samples()
    recorded, seen = samples.recorded, samples.seen
    for i in range(runs):
        time.sleep(gap)
        samples.baseline.append(baseline())
        name = f"{service}-{i}"
        t0 = time.perf_counter()
        world.deploy(name, service)
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
    return samples


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
    parser.add_argument(
        "--gap", type=float, default=4.0, help="idle seconds before each deploy (default 4)"
    )
    parser.add_argument(
        "--no-spare", action="store_true", help="runtimes keep no spare bridge: all start cold"
    )
    args = parser.parse_args()
    require_services()
    with (
        tempfile.TemporaryDirectory(prefix="mcps-bench-deploy-") as tmp,
        deploy_world(Path(tmp), package_store()) as world,
    ):
        baseline = server_start_up(Path(tmp))
        baseline()  # warm the page cache: the first start reads the package from disk
        image = docker_image()
        if image is not None:
            container_baseline = container_start_up(image, Path(tmp))
            container_baseline()
            publish_docker_time(world, image)
        reconciler = build_reconciler(world.container)
        for runtime in reconciler.runtimes.values():
            if isinstance(runtime, LocalRuntime):
                runtime.keeps_spare = not args.no_spare
        stop = threading.Event()
        thread = threading.Thread(target=run, args=(reconciler, stop), daemon=True)
        thread.start()
        try:
            log("deploy → healthy, process runtime (each after a server start-up)")
            process = deploy_to_healthy(world, args.runs, "time", args.gap, baseline)
            if image is not None:
                log("deploy → healthy, docker runtime (each after a container start-up)")
                docker = deploy_to_healthy(world, args.runs, "dtime", args.gap, container_baseline)
        finally:
            stop.set()
            thread.join(30)
            reconciler.stop_all()
        log(f"reconcile pass over {args.deployments} deployments")
        wall, cpu = reconcile_cost(world, reconciler, args.deployments)
        reconciler.close()
    print_table(
        ["measure", "p50", "p95", "vs server start-up (median of pairs)"],
        [
            ["server start-up (stdio + initialize)", ms(median(process.baseline)),
             ms(percentile(process.baseline, 95)), "1.00x"],
            ["process: deploy → healthy (events)", ms(median(process.recorded)),
             ms(percentile(process.recorded, 95)), process.ratio(process.recorded)],
            ["process: deploy → running (read model)", ms(median(process.seen)),
             ms(percentile(process.seen, 95)), process.ratio(process.seen)],
        ],
    )  # fmt: skip
    if image is None:
        print("docker: not measured (no DOCKER_HOST, or no podman for its baseline)")
    else:
        print_table(
            ["measure", "p50", "p95", "vs container start-up (median of pairs)"],
            [
                ["container start-up (podman run -i + initialize)",
                 ms(median(docker.baseline)), ms(percentile(docker.baseline, 95)), "1.00x"],
                ["docker: deploy → healthy (events)", ms(median(docker.recorded)),
                 ms(percentile(docker.recorded, 95)), docker.ratio(docker.recorded)],
                ["docker: deploy → running (read model)", ms(median(docker.seen)),
                 ms(percentile(docker.seen, 95)), docker.ratio(docker.seen)],
            ],
        )  # fmt: skip
    print_table(
        ["reconcile pass", "wall (median of 15)", "CPU (median of 15)", "goal"],
        [[f"{args.deployments} unchanged deployments", ms(wall), ms(cpu), "≤ 100 ms"]],
    )


if __name__ == "__main__":
    main()
