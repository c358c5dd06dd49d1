"""The gateway's hot path: direct MCP calls vs calls through our REST API and our native MCP
endpoint, against the same upstream server, at 1, 16 and 128 concurrent clients.

The upstream is the toy stdio server (`tests/mcp_servers/toy_stdio.py`, tool `echo`) deployed
as a process behind its bridge by the deployer (in this process). "Direct" calls the bridge's
streamable-HTTP endpoint; "native" calls `/mcp/t/{slug}` with the same MCP client (ours, as
lean as the gateway's upstream client; `--sdk` for the official SDK's, which costs the load
generator several ms of CPU per call on the same two cores); "rest" posts to
`/api/v1/mcp/{name}/call` with aiohttp; "hop" sends the direct client's calls through
`bench.bare_hop`, a bare HTTP forwarder: the least any Python gateway adds (`--hop-work`
adds hops that also spend that many microseconds of CPU per call, to show what each unit of
a gateway's CPU costs in latency on this machine). The API runs as
its own process (`mcps-server api`) with Redis rate limits on (limits raised so they never
refuse), and every call through it is billed (a durable `Call.Billed` before the answer);
the read models are kept by `mcps-server project` processes. PostgreSQL and Redis are
reached over their Unix sockets where `start.sh` made them (`--tcp`: over loopback TCP).
Each client count runs `--runs` times for `--seconds` each; the tables show medians: rates
and latencies, then CPU per call by process (which holds whatever else the machine is doing).

    python -m bench.gateway [--runs 3] [--seconds 4] [--clients 1,16,128] [--sdk]
                            [--hop-work 250,500,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import orjson
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from bench.common import (
    UNLIMITED_GATEWAY,
    api_process,
    log,
    median,
    over_unix_sockets,
    percentile,
    print_table,
    projector_processes,
    require_services,
    tree_cpu,
)
from bench.deployments import package_store
from domain.tenancy.values import Scope
from infra.mcp.connect import Target
from infra.mcp.wire import open_wire_session
from tests.integration.deployer_support import deploy_world
from tests.integration.gateway_support import running
from tests.support import free_port
from workers.deployer import run
from workers.run_deployer import build_reconciler

Call = Callable[[], Awaitable[bool]]


async def _load(call: Call, clients: int, seconds: float) -> tuple[float, list[float], int, int]:
    """`clients` loops calling for `seconds` after a short warm-up: (calls/s, latencies,
    errors, every call made, the warm-up's included)."""
    latencies: list[float] = []
    errors = 0
    made = 0
    measuring = False
    stop_at = 0.0

    async def client() -> None:
        nonlocal errors, made
        while True:
            t0 = time.perf_counter()
            ok = await call()
            t1 = time.perf_counter()
            made += 1
            if t1 >= stop_at and measuring:
                return
            if measuring:
                latencies.append(t1 - t0)
                errors += not ok

    warm_up = 0.5
    stop_at = time.perf_counter() + 3600
    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(warm_up)
    measuring, started = True, time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*tasks)
    return len(latencies) / (time.perf_counter() - started), latencies, errors, made


async def _measure_sdk(
    url: str, headers: dict[str, str], tool: str, clients: int, seconds: float
) -> Any:
    limits = httpx2.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60, limits=limits) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()

        async def call() -> bool:
            result = await session.call_tool(tool, {"text": "bench"})
            return not result.is_error

        return await _load(call, clients, seconds)


async def _measure_rest(base: str, token: str, clients: int, seconds: float) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=clients + 4)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as http:
        body = orjson.dumps({"method": "echo", "params": {"text": "bench"}})
        json_body = {"content-type": "application/json"}

        async def call() -> bool:
            async with http.post("/api/v1/mcp/bench/call", data=body, headers=json_body) as r:
                await r.read()
                return r.status == 200

        return await _load(call, clients, seconds)


async def _measure_lean(
    url: str, headers: dict[str, str], tool: str, clients: int, seconds: float
) -> Any:
    """An MCP client as lean as the gateway's own upstream client (`infra.mcp.wire`): the
    load generator should spend the machine's two cores on the servers, not on itself."""
    target = Target(url)
    session = await open_wire_session(
        target, allowed_hosts=[], timeout=30, max_connections=clients + 4, headers=headers
    )
    try:
        params = {"name": tool, "arguments": {"text": "bench"}}

        async def call() -> bool:
            result = await session.request("tools/call", params)
            return result.get("isError") is not True

        return await _load(call, clients, seconds)
    finally:
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", default="1,16,128")
    parser.add_argument(
        "--modes", default="direct,hop,rest,native", help="paths besides direct (always run)"
    )
    parser.add_argument(
        "--sdk", action="store_true", help="MCP calls with the official SDK's client, not ours"
    )
    parser.add_argument(
        "--tcp",
        action="store_true",
        help="reach PostgreSQL and Redis over loopback TCP, not their Unix sockets",
    )
    parser.add_argument(
        "--hop-work",
        default="",
        help="also run hops that spend these many microseconds of CPU per call, e.g. 250,500",
    )
    args = parser.parse_args()
    hop_work = [int(us) for us in args.hop_work.split(",") if us]
    require_services()
    unix = not args.tcp and over_unix_sockets()
    log(f"PostgreSQL and Redis over {'Unix sockets' if unix else 'loopback TCP'}")
    client_counts = [int(c) for c in args.clients.split(",")]
    with (
        tempfile.TemporaryDirectory(prefix="mcps-bench-gw-") as tmp,
        deploy_world(Path(tmp), package_store(), projectors=False) as world,
    ):
        reconciler = build_reconciler(world.container)
        stop = threading.Event()
        deployer = threading.Thread(target=run, args=(reconciler, stop), daemon=True)
        deployer.start()
        api = None
        hops: dict[str, subprocess.Popen[bytes]] = {}
        projectors: list[subprocess.Popen[bytes]] = []
        try:
            # The read models are kept by processes of their own, as in distributed mode: in
            # this one their threads would take the load generator's GIL after each billed call.
            projectors = projector_processes(world.container.database_url, Path(tmp))
            world.deploy("bench", "toy")
            view = running(world, "bench")
            bridge = view["instances"][0]["endpoint"]
            slug = world.tenant.slug
            token = world.container.tenancy.issue_token(
                slug, world.user_id, "bench", [Scope.MCP_EXECUTE], None
            ).token
            port = free_port()
            api = api_process(world.container.database_url, Path(tmp), port, UNLIMITED_GATEWAY)
            base = f"http://127.0.0.1:{port}"
            hop_urls: dict[str, str] = {}
            for name, work in ({"hop": 0} | {f"hop+{us}us": us for us in hop_work}).items():
                hop_port = free_port()
                hops[name] = _bare_hop(hop_port, bridge, work)
                hop_urls[name] = f"http://127.0.0.1:{hop_port}/mcp"
            auth = {"Authorization": f"Bearer {token}"}
            mcp_client = _measure_sdk if args.sdk else _measure_lean
            modes: dict[str, Callable[[int], Awaitable[Any]]] = {
                "direct": lambda n: mcp_client(bridge, {}, "echo", n, args.seconds),
                **{
                    name: lambda n, url=url: mcp_client(url, {}, "echo", n, args.seconds)
                    for name, url in hop_urls.items()
                },
                "rest": lambda n: _measure_rest(base, token, n, args.seconds),
                "native": lambda n: mcp_client(
                    f"{base}/mcp/t/{slug}", auth, "bench__echo", n, args.seconds
                ),
            }
            # The baseline is always measured, and the working hops when asked for.
            wanted = {"direct", *args.modes.split(","), *list(hop_urls)[1:]}
            modes = {mode: measure for mode, measure in modes.items() if mode in wanted}
            results: dict[tuple[str, int], list[Any]] = {}
            cpu: dict[tuple[str, int], list[list[float]]] = {}
            bridge_pid = _bridge_pid(Path(tmp), bridge)
            services = _service_pids()
            for clients in client_counts:
                for run_no in range(args.runs):
                    for mode, measure in modes.items():  # interleaved: drift hits all alike
                        log(f"{mode}, {clients} clients, run {run_no + 1}/{args.runs}")
                        gateway = hops[mode].pid if mode in hops else api.pid
                        before = _cpu(gateway, bridge_pid, projectors, services)
                        outcome = asyncio.run(measure(clients))
                        after = _cpu(gateway, bridge_pid, projectors, services)
                        spent = [b - a for a, b in zip(before, after, strict=True)]
                        results.setdefault((mode, clients), []).append(outcome)
                        cpu.setdefault((mode, clients), []).append(
                            [t / outcome[3] * 1000 for t in spent]
                        )
            rows = []
            for clients in client_counts:
                direct = results[("direct", clients)]
                d_rate = median([r[0] for r in direct])
                d_p50 = median([percentile(r[1], 50) for r in direct])
                d_p99 = median([percentile(r[1], 99) for r in direct])
                for mode in modes:
                    runs = results[(mode, clients)]
                    rate = median([r[0] for r in runs])
                    p50 = median([percentile(r[1], 50) for r in runs])
                    p99 = median([percentile(r[1], 99) for r in runs])
                    errors = sum(r[2] for r in runs)
                    rows.append(
                        [
                            mode,
                            clients,
                            f"{rate:,.0f}",
                            f"{rate / d_rate:.2f}",
                            f"{p50 * 1000:.2f}",
                            f"{p99 * 1000:.2f}",
                            "" if mode == "direct" else f"{(p50 - d_p50) * 1000:+.2f}",
                            "" if mode == "direct" else f"{(p99 - d_p99) * 1000:+.2f}",
                            errors,
                        ]
                    )
            billed = _billed(world.container)
            print_table(
                [
                    "path",
                    "clients",
                    "calls/s",
                    "vs direct",
                    "p50 ms",
                    "p99 ms",
                    "added p50",
                    "added p99",
                    "errors",
                ],
                rows,
            )
            print(f"Call.Billed events recorded: {billed:,} (every call through the API)")
            print()
            print("CPU milliseconds per call, by process (medians of the runs; the load")
            print("generator is the bench's own process; the gateway is the API process, or the")
            print("bare hop's for `hop`; the bridge includes its server; the projectors are the")
            print("six read models' processes; the services are PostgreSQL's and Redis's, where")
            print("start.sh runs them, with whatever else uses them meanwhile):")
            print_table(
                [
                    "path",
                    "clients",
                    "load generator",
                    "gateway",
                    "bridge + server",
                    "projectors",
                    "services",
                    "total",
                ],
                [
                    [mode, clients]
                    + [f"{median([r[i] for r in cpu[(mode, clients)]]):.2f}" for i in range(5)]
                    + [f"{median([sum(r) for r in cpu[(mode, clients)]]):.2f}"]
                    for clients in client_counts
                    for mode in modes
                ],
            )
        finally:
            for process in (api, *hops.values(), *projectors):
                if process is not None:
                    process.terminate()
                    process.wait(30)
            stop.set()
            deployer.join(30)
            reconciler.stop_all()
            reconciler.close()


def _bare_hop(port: int, upstream: str, work_us: int) -> subprocess.Popen[bytes]:
    """`bench.bare_hop` in front of `upstream`, once it listens."""
    hop = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.bare_hop",
            "--port",
            str(port),
            "--upstream",
            upstream,
            "--work-us",
            str(work_us),
        ]
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return hop
        except OSError:
            if hop.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bare hop did not start") from None
            time.sleep(0.1)


def _cpu(
    gateway_pid: int,
    bridge_pid: int,
    projectors: list[subprocess.Popen[bytes]],
    services: list[int],
) -> tuple[float, float, float, float, float]:
    """CPU seconds so far of this process, the gateway's, the bridge's (with its server), the
    projectors' and the services'."""
    return (
        time.process_time(),
        tree_cpu(gateway_pid) or 0.0,
        tree_cpu(bridge_pid) or 0.0,
        sum(tree_cpu(p.pid) or 0.0 for p in projectors),
        sum(tree_cpu(pid) or 0.0 for pid in services),
    )


def _service_pids() -> list[int]:
    """PostgreSQL's postmaster (its backends are its children) and Redis, where `start.sh`
    runs them (`MCPS_SERVICES_DIR`); none elsewhere."""
    home = os.environ.get("MCPS_SERVICES_DIR")
    files = [Path(home, "pg/data/postmaster.pid"), Path(home, "redis/redis.pid")] if home else []
    return [int(f.read_text().split()[0]) for f in files if f.exists()]


def _bridge_pid(home: Path, endpoint: str) -> int:
    """The bridge serving `endpoint`, from its instance's `state.json` (a bridge that was a
    runtime's spare has no instance folder on its command line)."""
    for state in home.rglob("state.json"):
        found = json.loads(state.read_text())
        if found.get("endpoint") == endpoint:
            return int(found["pid"])
    raise RuntimeError(f"no instance serves {endpoint}")


def _billed(container: Any) -> int:
    with container.db.connect_owner() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM mcps_events WHERE topic = %s",
            ["domain.billing.calls:Call.Billed"],
        ).fetchone()
    return int(row["n"])


if __name__ == "__main__":
    main()
