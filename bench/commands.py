"""Command throughput: one new aggregate with one event, in process and through HTTP.

Modes, each at every client count, for `--seconds` each, `--repeats` times (medians shown):

* raw          baseline: single-row INSERT transactions (bigserial + bytea of the event's size),
               psycopg, autocommit, one connection per client thread, into the same database.
* save         one new `ApiToken` aggregate via `tenancy.commit()`, through the group committer
               (the store's recorder inserts a batch with one round trip: `infra/recorder.py`).
* save-nogc    the same with `committer=None`: one insert transaction per save.
* issue        the full `Tenancy.issue_token` command (loads the tenant, then saves), group commit.
* issue-nogc   the same without group commit.
* http         `POST /api/v1/tenants/{slug}/tokens` on the live uvicorn server (httpx clients in
               threads of this process, so clients and server share the GIL and the 2 cores).
* http-proc    the same request to `mcps-server api` running as its own process, as in
               production, from aiohttp clients on one event loop here (no GIL shared with the
               server; the client costs ~0.15 ms of CPU a request). Its batch size is the
               API process's own and is not shown.

    python -m bench.commands [--quick] [--clients 1,8,32] [--seconds 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import psycopg

from bench.common import (
    RunResult,
    api_process,
    bench_container,
    log,
    median,
    ms,
    print_table,
    run_clients,
    seed_owner,
)
from domain.tenancy.tokens import ApiToken
from domain.tenancy.values import Scope
from infra.container import Container
from tests.support import free_port, live_server

ALL_MODES = ("raw", "save", "save-nogc", "issue", "issue-nogc", "http", "http-proc")


def event_size(container: Container, owner_id: Any, tenant_id: Any) -> int:
    """Bytes of state the store writes for one `ApiToken.Issued`."""
    token = new_token(owner_id, tenant_id)
    events = token.collect_events()
    return len(container.events.mapper.to_stored_event(events[0]).state)


def new_token(owner_id: Any, tenant_id: Any) -> ApiToken:
    return ApiToken(
        token_hash=secrets.token_hex(32),
        tenant=tenant_id,
        name="bench",
        scopes=["mcp:read"],
        prefix="mcps_bench",
        expires_at=None,
        created_by=owner_id,
    )


def raw_op_factory(url: str, size: int) -> Callable[[int], Callable[[], Any]]:
    payload = secrets.token_bytes(size)

    def make(_: int) -> Callable[[], Any]:
        conn = psycopg.connect(url, autocommit=True)
        statement = "INSERT INTO bench_raw (originator_id, payload) VALUES (%s, %s)"

        def op() -> None:
            conn.execute(statement, [uuid.uuid4(), payload], prepare=True)

        op.close = conn.close  # type: ignore[attr-defined]
        return op

    return make


async def http_closed_loop(
    base_url: str, access_token: str, slug: str, clients: int, seconds: float, warmup: float = 0.5
) -> RunResult:
    """`clients` aiohttp loops issuing tokens for `seconds` after `warmup`."""
    result = RunResult(clients, seconds)
    body = orjson.dumps({"name": "bench", "scopes": ["mcp:read"]})
    headers = {"Authorization": f"Bearer {access_token}", "content-type": "application/json"}
    path = f"/api/v1/tenants/{slug}/tokens"
    start = time.perf_counter() + warmup
    end = start + seconds

    async def client(http: aiohttp.ClientSession) -> None:
        while (t0 := time.perf_counter()) < end:
            try:
                async with http.post(path, data=body) as r:
                    text = await r.text()
                    if r.status != 201:
                        raise RuntimeError(f"HTTP {r.status}: {text[:200]}")
            except Exception as error:  # a benchmark counts failures; it does not stop on them
                result.errors += 1
                result.first_error = result.first_error or f"{type(error).__name__}: {error}"
                continue
            t1 = time.perf_counter()
            if t0 >= start and t1 <= end:
                result.latencies.append(t1 - t0)

    connector = aiohttp.TCPConnector(limit=clients + 4)
    async with aiohttp.ClientSession(base_url, headers=headers, connector=connector) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return result


def run_mode(
    mode: str,
    container: Container,
    clients: int,
    seconds: float,
    ctx: dict[str, Any],
) -> RunResult:
    tenancy = container.tenancy
    owner_id, tenant_id, slug = ctx["owner_id"], ctx["tenant_id"], ctx["slug"]
    committer = container.events.committer
    tenancy.committer = None if mode.endswith("-nogc") else committer

    if mode == "http-proc":
        ctx["batch"] = float("nan")
        return asyncio.run(
            http_closed_loop(ctx["api_url"], ctx["access_token"], slug, clients, seconds)
        )
    if mode == "raw":
        make = raw_op_factory(container.database_url, ctx["size"])
    elif mode in ("save", "save-nogc"):

        def make(_: int) -> Callable[[], Any]:
            return lambda: tenancy.commit(new_token(owner_id, tenant_id))

    elif mode in ("issue", "issue-nogc"):

        def make(_: int) -> Callable[[], Any]:
            return lambda: tenancy.issue_token(slug, owner_id, "bench", [Scope.MCP_READ], None)

    elif mode == "http":

        def make(_: int) -> Callable[[], Any]:
            client = httpx.Client(
                base_url=ctx["base_url"],
                headers={"Authorization": f"Bearer {ctx['access_token']}"},
                timeout=30,
            )

            def op() -> None:
                r = client.post(
                    f"/api/v1/tenants/{slug}/tokens", json={"name": "bench", "scopes": ["mcp:read"]}
                )
                if r.status_code != 201:
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")

            op.close = client.close  # type: ignore[attr-defined]
            return op

    else:
        raise ValueError(mode)

    batches0, commands0 = committer.batches, committer.commands
    try:
        result = run_clients(clients, seconds, make)
    finally:
        tenancy.committer = container.events.committer
    batches = committer.batches - batches0
    ctx["batch"] = (committer.commands - commands0) / batches if batches else float("nan")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,8,32", help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell; medians shown")
    parser.add_argument("--modes", default=",".join(ALL_MODES), help=",".join(ALL_MODES))
    parser.add_argument("--quick", action="store_true", help="1 repeat of 2 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = 2.0, 1
    client_counts = [int(c) for c in args.clients.split(",")]
    modes = [m for m in args.modes.split(",") if m]

    with bench_container(projectors=False) as container:
        owner = seed_owner(container)
        tenant_id = container.tenancy.tenant_by_slug(owner.slug).id
        ctx: dict[str, Any] = {
            "owner_id": owner.user_id,
            "tenant_id": tenant_id,
            "slug": owner.slug,
            "access_token": owner.access_token,
        }
        ctx["size"] = event_size(container, owner.user_id, tenant_id)
        with psycopg.connect(container.database_url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, originator_id uuid NOT NULL,"
                " payload bytea NOT NULL)"
            )
        log(f"event state size {ctx['size']} bytes; modes {modes}; clients {client_counts}")
        started, load_before = time.perf_counter(), os.getloadavg()[0]

        results: dict[tuple[str, int], list[RunResult]] = {}
        batch_sizes: dict[tuple[str, int], list[float]] = {}
        api = None
        if "http-proc" in modes:
            port = free_port()
            api_home = Path(tempfile.mkdtemp(prefix="mcps-bench-api-"))
            api = api_process(container.database_url, api_home, port)
            ctx["api_url"] = f"http://127.0.0.1:{port}"
        with live_server(container) as base_url:
            ctx["base_url"] = base_url
            # Interleave repeats so that background noise spreads over every mode.
            for repeat in range(args.repeats):
                for clients in client_counts:
                    for mode in modes:
                        r = run_mode(mode, container, clients, args.seconds, ctx)
                        results.setdefault((mode, clients), []).append(r)
                        batch_sizes.setdefault((mode, clients), []).append(ctx["batch"])
                        log(
                            f"run {repeat + 1}/{args.repeats} {mode:>10} x{clients:<3}"
                            f" {r.rate:8.0f}/s p50 {ms(r.pct(50))} ms p99 {ms(r.pct(99))} ms"
                            f" errors {r.errors}" + (f" ({r.first_error})" if r.errors else "")
                        )

        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        log(f"total {time.perf_counter() - started:.0f} s")
        load_after = os.getloadavg()[0]

    print(
        f"\nCommand throughput: median of {args.repeats} run(s) of {args.seconds:g} s;"
        f" event state {ctx['size']} B; ratio = commands/s / raw INSERT/s at the same clients;"
        f" load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs"
    )
    rows = []
    for clients in client_counts:
        raw = median([r.rate for r in results.get(("raw", clients), [])])
        for mode in modes:
            runs = results[(mode, clients)]
            rate = median([r.rate for r in runs])
            batch = median(batch_sizes[(mode, clients)])
            rows.append(
                [
                    mode,
                    clients,
                    f"{rate:.0f}",
                    ms(median([r.pct(50) for r in runs])),
                    ms(median([r.pct(99) for r in runs])),
                    f"{rate / raw:.2f}" if raw == raw and raw else "-",
                    "-"
                    if batch != batch or mode in ("raw", "save-nogc", "issue-nogc", "http-proc")
                    else f"{batch:.1f}",
                    sum(r.errors for r in runs),
                ]
            )
    print_table(
        ["mode", "clients", "cmd/s", "p50 ms", "p99 ms", "vs raw", "avg batch", "errors"], rows
    )


if __name__ == "__main__":
    main()
