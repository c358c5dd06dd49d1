"""The load side of `bench.catalogue_search`: closed-loop HTTP and SQL clients in worker
processes, the catalogue's revision moved on a timer, and the CPU the API processes and
PostgreSQL's backends spent, per request."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from typing import Any

import psycopg

from bench.common import percentile

# --- the clients ---------------------------------------------------------------------------


async def _http_client(
    port: int, paths: list[str], offset: int, start: float, end: float, headers: str = ""
) -> tuple[list[float], int, int, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies: list[float] = []
    errors, i, done = 0, offset, 0
    while True:
        t0 = time.perf_counter()
        if t0 >= end:
            break
        path = paths[i % len(paths)]
        i += 1
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        t1 = time.perf_counter()
        done += 1
        if head[9:12] != b"200":
            errors += 1
            if errors == 1:
                print(f"# {head[:12]!r} for {path}", file=sys.stderr, flush=True)
        elif t0 >= start:
            latencies.append(t1 - t0)
    writer.close()
    return latencies, errors, done, 0.0


async def _sql_client(
    url: str, statements: list[tuple[str, dict[str, Any]]], offset: int, start: float, end: float
) -> tuple[list[float], int, int, float]:
    latencies: list[float] = []
    errors, i, done = 0, offset, 0
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        # As `search` runs them: prepared (psycopg does it from the fifth run), one plan.
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        backend = conn.info.backend_pid
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            sql, params = statements[i % len(statements)]
            i += 1
            try:
                cur = await conn.execute(sql, params, prepare=True)  # type: ignore[arg-type]
                await cur.fetchone()
            except psycopg.Error:
                errors += 1
                continue
            t1 = time.perf_counter()
            done += 1
            if t0 >= start:
                latencies.append(t1 - t0)
        used = _cpu_of(backend)  # read before the backend exits with the connection
    return latencies, errors, done, used


def _client_process(job: dict[str, Any]) -> tuple[list[float], int, int, float]:
    """`job["connections"]` concurrent clients in one process; times from `time.time()`."""

    async def run() -> list[tuple[list[float], int, int, float]]:
        shift = time.perf_counter() - time.time()
        start, end = job["start"] + shift, job["end"] + shift
        first = job["first"]
        if job["mode"] == "sql":
            tasks = [
                _sql_client(job["url"], job["statements"], first + k * 97, start, end)
                for k in range(job["connections"])
            ]
        else:
            tasks = [
                _http_client(
                    job["port"], job["paths"], first + k * 97, start, end, job.get("headers", "")
                )
                for k in range(job["connections"])
            ]
        return await asyncio.gather(*tasks)

    latencies: list[float] = []
    errors = done = 0
    used = 0.0
    for lat, err, n, cpu in asyncio.run(run()):
        latencies.extend(lat)
        errors += err
        done += n
        used += cpu
    return latencies, errors, done, used


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    return sum(_cpu_of(pid) for pid in pids)


def backends(dbname: str) -> dict[int, float]:
    """PostgreSQL's processes serving `dbname` (their title names it), with their CPU."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and f" {dbname} ".encode() in title:
            found[int(entry)] = _cpu_of(int(entry))
    return found


def warm_worker(_: int) -> None:
    """Run in each client process once, so that importing this module is not timed."""


def _change_revision(url: str, every: float, end: float) -> None:
    """Move the catalogue's revision every `every` seconds until `end` (`time.time()`)."""
    with psycopg.connect(url, autocommit=True) as conn:
        while time.time() < end:
            conn.execute("UPDATE catalogue.totals SET revision = revision + 1 WHERE id")
            time.sleep(every)


def run_load(
    pool: Any, mode: str, work: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    per_proc = [args.clients // args.client_procs] * args.client_procs
    for k in range(args.clients % args.client_procs):
        per_proc[k] += 1
    start = time.time() + 1.5  # connect and warm up first
    jobs = [
        {
            **work,
            "mode": mode,
            "connections": n,
            "first": p * 1000,
            "start": start + 0.5,
            "end": start + 0.5 + args.seconds,
        }
        for p, n in enumerate(per_proc)
    ]
    # CPU per request, of the API processes and of PostgreSQL's backends for this database:
    # what the machine's cores must supply, whatever else runs on them.
    api_before, db_before = cpu_seconds(work.get("pids", [])), backends(args.dbname)
    changer = None
    if "change_every" in work:
        changer = threading.Thread(
            target=_change_revision,
            args=(work["owner_url"], work["change_every"], start + 0.5 + args.seconds),
        )
        changer.start()
    results = pool.map(_client_process, jobs)
    if changer is not None:
        changer.join()
    api_cpu = cpu_seconds(work.get("pids", [])) - api_before
    db_cpu = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in backends(args.dbname).items())
    db_cpu += sum(used for *_, used in results)  # the sql clients' own backends, now gone
    latencies = [x for lat, *_ in results for x in lat]
    errors = sum(err for _, err, *_ in results)
    done = max(1, sum(n for _, _, n, _ in results))
    return {
        "api_ms": 1000 * api_cpu / done,
        "db_ms": 1000 * db_cpu / done,
        "rate": len(latencies) / args.seconds,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "errors": errors,
    }
