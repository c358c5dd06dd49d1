"""Deployment status streams: what idle `deployments:events` streams cost the database.

A live server (embedded mode, the log projectors in this process) on a throwaway database; one
tenant with no deployment changes during the windows. Two windows of `--seconds` each: no
stream open (the baseline: projectors and other workers idling), then `--streams` open
`GET …/deployments:events` streams (each past its snapshot). Counted in both:

- statements: every `execute` of a psycopg cursor in this process (sync and async: the API,
  its watcher, the projectors), per second;
- transactions: the database's `xact_commit + xact_rollback` (`pg_stat_database`, every
  client of that database), per second.

The streams' cost is the difference between the windows.

    python -m bench.deployment_streams [--streams 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from bench.common import bench_container, log, seed_owner
from tests.support import live_server

_count = 0
_count_lock = threading.Lock()


def _counting(method: Callable[..., Any]) -> Callable[..., Any]:
    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        global _count
        with _count_lock:
            _count += 1
        return method(self, *args, **kwargs)

    return execute


def _counting_async(method: Callable[..., Any]) -> Callable[..., Any]:
    async def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        global _count
        with _count_lock:
            _count += 1
        return await method(self, *args, **kwargs)

    return execute


def count_statements() -> None:
    psycopg.Cursor.execute = _counting(psycopg.Cursor.execute)  # type: ignore[method-assign]
    psycopg.AsyncCursor.execute = _counting_async(psycopg.AsyncCursor.execute)  # type: ignore[method-assign]


def transactions(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database"
        " WHERE datname = current_database()"
    ).fetchone()
    assert row is not None
    return int(row[0])


def window(conn: psycopg.Connection[Any], seconds: float) -> tuple[float, float]:
    """(statements/s in this process, transactions/s in the database) over `seconds`."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    s0, t0, w0 = _count, transactions(conn), time.monotonic()
    time.sleep(seconds)
    conn.execute("SELECT pg_stat_clear_snapshot()")
    # The statistics collector flushes about every second: let it.
    time.sleep(1.0)
    conn.execute("SELECT pg_stat_clear_snapshot()")
    s1, t1 = _count, transactions(conn)
    elapsed = time.monotonic() - w0 - 1.0
    # Our own three statistics reads per window are in both figures; they are the same in both
    # windows, so they cancel out in the difference.
    return (s1 - s0) / elapsed, (t1 - t0) / elapsed


def open_streams(base_url: str, slug: str, token: str, n: int, stop: threading.Event) -> int:
    opened = threading.Semaphore(0)

    def follow() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=base_url, timeout=60) as http,
            http.stream("GET", f"/api/v1/tenants/{slug}/deployments:events", headers=headers) as r,
        ):
            opened.release()
            for _ in r.iter_raw():
                if stop.is_set():
                    return

    for _ in range(n):
        threading.Thread(target=follow, daemon=True).start()
    for _ in range(n):
        opened.acquire(timeout=30)
    # Every snapshot read and every stream waiting; and PostgreSQL flushes an idle backend's
    # transaction counts up to 10 s late, so the openings must not land in the window.
    time.sleep(12.0)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    count_statements()
    with bench_container(projectors=True) as container:
        owner = seed_owner(container)
        with (
            live_server(container) as base_url,
            psycopg.connect(container.database_url, autocommit=True) as stats,
        ):
            load_before = os.getloadavg()
            time.sleep(12.0)  # the sign-up's transactions counted (see `open_streams`)
            idle = window(stats, args.seconds)
            log(f"no stream: {idle[0]:.1f} statements/s, {idle[1]:.1f} transactions/s")
            stop = threading.Event()
            open_streams(base_url, owner.slug, owner.access_token, args.streams, stop)
            busy = window(stats, args.seconds)
            log(f"{args.streams} streams: {busy[0]:.1f} statements/s, {busy[1]:.1f} transactions/s")
            stop.set()
            load_after = os.getloadavg()
    print(
        f"\n{args.streams} idle deployment streams over {args.seconds:g} s windows; load average"
        f" {load_before[0]:.2f} -> {load_after[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"{'':>22} {'statements/s':>13} {'transactions/s':>15}")
    print(f"{'no stream':>22} {idle[0]:>13.1f} {idle[1]:>15.1f}")
    print(f"{f'{args.streams} streams':>22} {busy[0]:>13.1f} {busy[1]:>15.1f}")
    print(f"{'the streams cost':>22} {busy[0] - idle[0]:>13.1f} {busy[1] - idle[1]:>15.1f}")


if __name__ == "__main__":
    main()
