"""Catalogue search under load through the HTTP API, and the catalogue's replay time.

1. Seed `--services` generated services (default 100,000; `bench.catalogue_data`) as events
   with the recorder's `insert_events`, timed on its own.
2. Baseline: read the whole log with `select_notifications` and decode every event.
3. Replay: `workers.replay.replay(events, db, CatalogueProjection())` builds the catalogue from
   position 0 (then `VACUUM ANALYZE`, as autovacuum would, before measuring searches).
4. Serve the API in `--workers` uvicorn processes on one port (SO_REUSEPORT; production runs
   two API replicas), and load it with `--clients` keep-alive connections, closed loop, from
   `--client-procs` processes of asyncio clients, `--seconds` per run, `--repeats` rounds
   interleaved. Modes:

   * search          GET /api/v1/services?q=…&<one filter>: text search with filters (the
                     goal), as production runs it: repeated questions are answered from the
                     API's answer cache (`api.catalogue_cache`) while the catalogue is
                     unchanged, before routing (`api.catalogue_early`) once a process has
                     seen the same request. Searches are drawn from `--queries` distinct
                     ones with Zipf weights (a few common, a long tail), after one untimed
                     warm-up run.
   * search-routed   the same with the answer cache but without the early answers: every
                     request goes through FastAPI's routing, validation and the route.
   * search-changing the searches of `search` while the catalogue changes once a second (its
                     revision moves, as a new review would move it): kept answers go out of
                     date and are given while computed again in the background; after these
                     runs (the last), the API processes' `/metrics` tell how out of date.
   * search-signed-in  the searches of `search` by a signed-in user (a session's bearer
                     token): never answered early, since a caller sees its tenants' drafts;
                     each request checks the session and reads the user's tenants first.
   * search-nocache  the same against API processes whose answer cache is off: the
                     database answers every search.
   * browse-nocache  GET /api/v1/services?category=…: no text, Bayesian sort, cache off.
   * sql             the statements `search` runs, straight on psycopg connections as the
                     app role (prepared, generic plans, autocommit; no HTTP, no pool, no
                     transaction): the database's share of search-nocache.
   * healthz         GET /healthz: the HTTP stack's floor on this machine.

    python -m bench.catalogue_search [--quick] [--services 100000] [--seconds 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.catalogue_data import generate, popular, queries, seed
from bench.catalogue_load import run_load, warm_worker
from bench.common import bench_container, log, median, ms, print_table, seed_owner
from infra.container import Container
from infra.database import APP_ROLE
from projections.catalogue import CatalogueProjection
from projections.catalogue_search import SearchParams, search_statement
from tests.support import free_port, make_settings, running_container
from workers.replay import replay

MODES = (
    "search",
    "search-routed",
    "search-changing",
    "search-signed-in",
    "search-nocache",
    "browse-nocache",
    "sql",
    "healthz",
)
CHANGING = "search-changing"


# --- the API processes ---------------------------------------------------------------------


def _serve(database_url: str, port: int, ready: Any, cache: str) -> None:
    """One API process, as `mcps-server api` runs it, on a port shared with its siblings.

    `cache`: "early" as in production, "routed" without the early answers, "off" without
    the answer cache.
    """

    import uvicorn
    from prometheus_client import Gauge

    from api.app import create_app
    from api.catalogue_cache import AnswerCache
    from api.routes import catalogue
    from infra.container import build_container
    from tests.support import make_settings

    # Tells this process's `/metrics` apart from its siblings' on the shared port.
    Gauge("bench_api_pid", "The API process's id").set(os.getpid())
    if cache == "routed":
        AnswerCache.peek_request = lambda self, request: None  # type: ignore[method-assign]
    if cache == "off":
        cached = catalogue.answers

        def uncached(container: Container) -> Any:
            answers = cached(container)
            answers.enabled = False
            return answers

        catalogue.answers = uncached

    home = Path(tempfile.mkdtemp(prefix="mcps-bench-api-"))
    container = build_container(make_settings(database_url, home))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    server = uvicorn.Server(
        uvicorn.Config(create_app(container), log_config=None, access_log=False)
    )

    def announce() -> None:
        while not server.started:
            time.sleep(0.01)
        ready.set()

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])


def start_api(ctx: Any, database_url: str, workers: int, cache: str) -> tuple[int, list[Any]]:
    port = free_port()
    processes, events = [], []
    for _ in range(workers):
        ready = ctx.Event()
        process = ctx.Process(target=_serve, args=(database_url, port, ready, cache), daemon=True)
        process.start()
        processes.append(process)
        events.append(ready)
    for ready in events:
        if not ready.wait(120):
            raise RuntimeError("an API process did not start")
    return port, processes


# --- setup ----------------------------------------------------------------------------------


def build_catalogue(container: Container, services: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    t0 = time.perf_counter()
    written = seed(container, generate(services))
    figures["seed_s"], figures["events"] = time.perf_counter() - t0, written
    log(f"seeded {written} events for {services} services in {figures['seed_s']:.1f} s")

    t0 = time.perf_counter()
    position, decoded = 0, 0
    recorder = container.events.recorder
    while batch := recorder.select_notifications(
        start=position, limit=5000, inclusive_of_start=False
    ):
        decoded += sum(1 for n in batch if container.events.decode(n) is not None)
        position = batch[-1].id
    figures["read_s"] = time.perf_counter() - t0
    log(f"read + decode {decoded} events in {figures['read_s']:.1f} s")

    result = replay(container.events, container.db, CatalogueProjection(), batch_size=5000)
    figures["replay_s"], figures["replayed"] = result.seconds, result.events
    log(f"replayed the catalogue: {result.events} events in {result.seconds:.1f} s")
    with container.db.connect_owner(autocommit=True) as conn:
        t0 = time.perf_counter()
        for table in ("services", "listing", "versions", "reviews"):
            conn.execute(f"VACUUM ANALYZE catalogue.{table}")
        figures["vacuum_s"] = time.perf_counter() - t0
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM catalogue.listing) AS listed,"
            " (SELECT count(*) FROM catalogue.reviews) AS reviews"
        ).fetchone()
    log(f"catalogue: {counts}")
    return figures


def workloads(
    container: Container, ports: dict[str, int], args: argparse.Namespace
) -> dict[str, Any]:
    texts = queries(args.queries)
    asked = popular(texts, 20 * args.queries)
    browse = [
        {"category": c}
        for c in ("developer-tools", "data", "communication", "ai", "finance", "devops", "other")
    ]
    password = container.settings.app_db_password.get_secret_value()
    statements = []
    for q in asked[:2000]:
        params = SearchParams(
            q=q["q"],
            category=q.get("category"),
            pricing=q.get("pricing"),
            runtime=q.get("runtime"),
            tags=(q["tags"],) if "tags" in q else (),
        )
        statement = search_statement(params)
        statements.append((statement.sql, statement.params))
    searches = [f"/api/v1/services?{urlencode(q)}" for q in asked]
    # A user with no tenant of their own in this catalogue: sees what anonymous callers see.
    owner = seed_owner(container, f"bench{uuid.uuid4().hex[:8]}")
    return {
        "search": {"port": ports["early"], "paths": searches},
        "search-routed": {"port": ports["routed"], "paths": searches},
        "search-changing": {
            "port": ports["early"],
            "paths": searches,
            "owner_url": container.db.target.url(),
            "change_every": 1.0,
        },
        "search-signed-in": {
            "port": ports["early"],
            "paths": searches,
            "headers": f"Authorization: Bearer {owner.access_token}\r\n",
        },
        "search-nocache": {"port": ports["off"], "paths": searches},
        "browse-nocache": {
            "port": ports["off"],
            "paths": [f"/api/v1/services?{urlencode(b)}" for b in browse],
        },
        "healthz": {"port": ports["early"], "paths": ["/healthz"]},
        "sql": {
            "url": container.db.target.url(user=APP_ROLE, password=password),
            "statements": statements,
        },
    }


def answer_lag(port: int) -> dict[str, float]:
    """The out-of-date answers the API processes gave, from their `/metrics`: how many, and
    how long the catalogue had changed (summed over the processes, told apart by their
    `bench_api_pid`; new connections reach them at random)."""
    seen: dict[float, dict[str, float]] = {}
    for _ in range(40):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            text = http.get("/metrics").text
        samples = {
            (s.name, s.labels.get("le", "")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        process = samples.get(("bench_api_pid", ""), 0.0)
        name = "mcps_catalogue_answer_lag_seconds"
        seen[process] = {
            "count": samples.get((f"{name}_count", ""), 0.0),
            "sum": samples.get((f"{name}_sum", ""), 0.0),
            **{le: v for (n, le), v in samples.items() if n == f"{name}_bucket"},
        }
    total: dict[str, float] = {}
    for figures in seen.values():
        for k, v in figures.items():
            total[k] = total.get(k, 0.0) + v
    total["processes"] = len(seen)
    return total


def check_answers(port: int, work: dict[str, Any]) -> None:
    """Every workload answers 200 with results before it is timed."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        empty = 0
        for path in work["search"]["paths"][:200]:
            r = http.get(path)
            r.raise_for_status()
            empty += r.json()["total"] == 0
        log(f"{empty} of 200 sample searches matched nothing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="API processes")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--quick", action="store_true", help="10,000 services, 1 run of 5 s")
    parser.add_argument(
        "--catalogue-url",
        help="measure searches on this database's catalogue, already built (no seed, no replay)",
    )
    parser.add_argument(
        "--build-into",
        metavar="URL",
        help="seed and build the catalogue in this (empty) database, keep it, and stop",
    )
    args = parser.parse_args()
    if args.quick:
        args.services, args.seconds, args.repeats = 10_000, 5, 1
    modes = [m for m in args.modes.split(",") if m]
    ctx = multiprocessing.get_context("spawn")
    if args.build_into:  # for `--catalogue-url` later: iterate without seeding every time
        with tempfile.TemporaryDirectory(prefix="mcps-bench-") as scratch_home:
            settings = make_settings(args.build_into, Path(scratch_home))
            with running_container(settings, projectors=False) as built:
                build_catalogue(built, args.services)
        return

    with bench_container() as scratch, ExitStack() as stack:
        if args.catalogue_url:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            settings = make_settings(args.catalogue_url, home)
            container = stack.enter_context(running_container(settings, projectors=False))
            figures: dict[str, float] = {}
        else:
            container = scratch
            figures = build_catalogue(container, args.services)
        # Only the API processes a mode needs: idle ones still wake up now and then.
        kinds = {"early"}  # also what `check_answers` asks
        kinds |= {"routed"} if "search-routed" in modes else set()
        kinds |= {"off"} if {"search-nocache", "browse-nocache"} & set(modes) else set()
        ports, started, servers = {}, {}, []
        for kind in sorted(kinds):
            ports[kind], started[kind] = start_api(
                ctx, container.database_url, args.workers, cache=kind
            )
            servers += started[kind]
        args.dbname = container.db.target.dbname
        try:
            work = workloads(
                container, {k: ports.get(k, 0) for k in ("early", "routed", "off")}, args
            )
            for mode, kind in (
                ("search", "early"),
                ("search-signed-in", "early"),
                ("search-changing", "early"),
                ("healthz", "early"),
                ("search-routed", "routed"),
                ("search-nocache", "off"),
                ("browse-nocache", "off"),
            ):
                work[mode]["pids"] = [process.pid for process in started.get(kind, [])]
            check_answers(ports["early"], work)
            results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
            with ctx.Pool(args.client_procs) as pool:
                pool.map(warm_worker, range(args.client_procs))  # imports done before any timing
                for mode in ("search", "search-routed"):
                    if mode in modes:  # answer caches warm, as in production: one untimed run
                        rate = run_load(pool, mode, work[mode], args)["rate"]
                        log(f"warm-up {mode}: {rate:.0f}/s")
                # The changing catalogue last: once it has changed, every process computes
                # its answers again for a while, which the other modes should not measure.
                rounds = [(m, r) for r in range(args.repeats) for m in modes if m != CHANGING]
                if CHANGING in modes:
                    rounds += [(CHANGING, r) for r in range(args.repeats)]
                for mode, repeat in rounds:
                    r = run_load(pool, mode, work[mode], args)
                    results[mode].append(r)
                    log(
                        f"run {repeat + 1}/{args.repeats} {mode:>14}: {r['rate']:7.0f}/s"
                        f" p50 {ms(r['p50'])} p95 {ms(r['p95'])} ms, CPU/req API"
                        f" {r['api_ms']:.2f} DB {r['db_ms']:.2f} ms, errors {r['errors']},"
                        f" load {os.getloadavg()[0]:.1f}"
                    )
                if CHANGING in modes:
                    lag = answer_lag(ports["early"])
                    log(
                        f"{CHANGING}: {lag['count']:.0f} out-of-date answers given by"
                        f" {lag['processes']:.0f} processes; the catalogue had changed"
                        f" {lag['sum'] / max(lag['count'], 1):.1f} s before on average;"
                        " cumulative, by how long before (s): "
                        + ", ".join(
                            f"≤{le}: {v / max(lag['count'], 1):.0%}"
                            for le, v in lag.items()
                            if le[:1].isdigit()
                        )
                    )
        finally:
            for process in servers:
                process.terminate()
            for process in servers:
                process.join(10)
    report(args, figures, results)


def report(args: argparse.Namespace, figures: dict[str, float], results: dict[str, Any]) -> None:
    print(
        f"\nCatalogue search: {args.services:,} services, {args.clients} clients,"
        f" {args.workers} API processes, median of {args.repeats} run(s) of {args.seconds:g} s"
    )
    rates = {m: median([r["rate"] for r in runs]) for m, runs in results.items()}
    rows = []
    for mode, runs in results.items():
        rows.append(
            [
                mode,
                f"{rates[mode]:.0f}",
                ms(median([r["p50"] for r in runs])),
                ms(median([r["p95"] for r in runs])),
                ms(median([r["p99"] for r in runs])),
                f"{rates[mode] / rates['sql']:.2f}" if rates.get("sql") else "-",
                f"{rates[mode] / rates['healthz']:.2f}" if rates.get("healthz") else "-",
                f"{median([r['api_ms'] for r in runs]):.2f}",
                f"{median([r['db_ms'] for r in runs]):.2f}",
                sum(r["errors"] for r in runs),
            ]
        )
    print_table(
        [
            "mode",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "vs sql",
            "vs healthz",
            "API CPU ms/req",
            "DB CPU ms/req",
            "errors",
        ],
        rows,
    )
    if not figures:
        return
    events = figures["events"]
    print(f"\nCatalogue replay: {events:,.0f} events ({args.services:,} services)")
    print_table(
        ["step", "seconds", "events/s", "vs read+decode"],
        [
            [
                "seed (insert_events)",
                f"{figures['seed_s']:.1f}",
                f"{events / figures['seed_s']:.0f}",
                "-",
            ],
            [
                "read + decode",
                f"{figures['read_s']:.1f}",
                f"{events / figures['read_s']:.0f}",
                "1.00",
            ],
            [
                "replay catalogue",
                f"{figures['replay_s']:.1f}",
                f"{figures['replayed'] / figures['replay_s']:.0f}",
                f"{figures['read_s'] / figures['replay_s']:.2f}",
            ],
            ["vacuum analyze", f"{figures['vacuum_s']:.1f}", "-", "-"],
        ],
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
