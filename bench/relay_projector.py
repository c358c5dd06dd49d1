"""Relay and Kafka projector throughput, and end-to-end lag through Kafka.

Three figures, each the median of `--repeats` runs on a fresh topic prefix:

* relay: a backlog of `--events` stored events (API tokens saved 500 per transaction) is
  published to Kafka with `Relay.run_once` until the checkpoint reaches the head; events/s.
  Baseline: kafka-python's own `send()` per record with the same producer configuration and
  same-sized records (key, value, headers) straight from memory, no database: what the relay
  did before it built its record batches itself (ratio > 1: faster than the client's path).
* projector: the audit projection consumes those records into an empty schema with
  `KafkaProjector.run_once` (its writer thread applying each batch while the next is polled)
  until the last batch is committed; events/s from its first non-empty poll. Baseline: single-row
  INSERTs of audit-shaped rows, 1,000 per transaction, pipelined, the way the projector writes.
* lag: the relay and the audit projector run as their own processes (`workers.run_relay`,
  `workers.run_projector audit`); commands (`Tenancy.issue_token`) are issued open-loop at
  `--rate` for `--seconds`; an observer polls the audit view every ~2 ms and records when each
  command's position first shows. Lag = first seen - command returned, floored at 0.

    python -m bench.relay_projector [--events 20000] [--rate 200] [--seconds 15] [--repeats 3]

Needs the real services (`bash infra/local/start.sh DIR && . DIR/env`); asserts nothing.
"""

from __future__ import annotations

import argparse
import heapq
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from psycopg.types.json import Jsonb

from bench.common import (
    CpuPerEvent,
    cpu_per_event,
    cpu_sample,
    log,
    median,
    ms,
    percentile,
    print_table,
)
from bench.kafka_readme import write_readme
from bench.projector_group import group_rate
from domain.shared.context import bound
from domain.tenancy.application import digest
from domain.tenancy.tokens import ApiToken
from domain.tenancy.values import Scope
from infra.container import Container, build_container
from infra.kafka import ensure_topics, make_admin, make_consumer, make_producer, topic_name
from infra.settings import Settings
from projections.audit import AuditProjection
from projections.watermark import create_relay_schema
from tests.support import throwaway_database
from workers.kafka_projector import KafkaProjector
from workers.relay import Relay

ROOT = Path(__file__).resolve().parents[1]
SEED_CHUNK = 500
GOALS = {"relay": 20_000.0, "projector": 10_000.0, "p99": 0.250}


def require_services() -> str:
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        if not os.environ.get(name):
            sys.exit(f"{name} is not set: bash infra/local/start.sh DIR && . DIR/env")
    return os.environ["KAFKA_BOOTSTRAP_SERVERS"]


def fresh_prefix() -> str:
    return f"b{uuid.uuid4().hex[:10]}"


@contextmanager
def bench_stack() -> Iterator[Container]:
    bootstrap = require_services()
    with throwaway_database() as url, tempfile.TemporaryDirectory(prefix="mcps-bench-") as home:
        settings = Settings(
            environment="test",
            home=Path(home),
            database_url=url,
            kafka_bootstrap_servers=bootstrap,
            kafka_topic_prefix=fresh_prefix(),
        )
        container = build_container(settings)
        try:
            with container.db.connect_owner() as conn:
                AuditProjection().create(conn)
                create_relay_schema(conn)
            yield container
        finally:
            container.close()


def with_prefix(settings: Settings, prefix: str) -> Settings:
    return settings.model_copy(update={"kafka_topic_prefix": prefix})


def create_topics(settings: Settings) -> None:
    admin = make_admin(settings)
    try:
        ensure_topics(admin, [topic_name(settings, "tenancy")], settings.kafka_partitions)
    finally:
        admin.close()


def delete_topics(settings: Settings) -> None:
    admin = make_admin(settings)
    try:
        prefix = f"{settings.kafka_topic_prefix}."
        topics = [t for t in admin.list_topics() if t.startswith(prefix)]
        if topics:
            admin.delete_topics(topics, raise_errors=False)
    finally:
        admin.close()


# --- seeding --------------------------------------------------------------------------------


def seed(container: Container, count: int) -> None:
    """`count` ApiToken.Issued events, many aggregates per save (one transaction each)."""
    tenant, user = uuid.uuid4(), uuid.uuid4()
    saved = 0
    with bound(tenant_id=str(tenant)):
        while saved < count:
            n = min(SEED_CHUNK, count - saved)
            tokens = [
                ApiToken(
                    token_hash=digest(secrets.token_hex(16)),
                    tenant=tenant,
                    name=f"bench token {saved + i}",
                    scopes=[Scope.MCP_READ.value],
                    prefix="mcps_abcdef",
                    expires_at=None,
                    created_by=user,
                )
                for i in range(n)
            ]
            container.events.store.save(*tokens)
            saved += n


# --- throughput -----------------------------------------------------------------------------


def relay_rate(container: Container, settings: Settings) -> tuple[float, CpuPerEvent]:
    """Publish the whole log from checkpoint 0 into fresh topics; events/s and CPU/event."""
    with container.db.connect_owner() as conn:
        with conn.transaction():
            conn.execute("UPDATE relay.checkpoint SET position = 0")
            conn.execute("DELETE FROM relay.marks")
        create_topics(settings)
        producer = make_producer(settings)
        relay = Relay(container.events, container.db, producer, settings)
        relay.ensure_topics([topic_name(settings, "tenancy")])  # not part of the timing
        head = container.events.head()
        before = cpu_sample(conn)
        t0 = time.perf_counter()
        while relay.run_once(conn):
            pass
        elapsed = time.perf_counter() - t0
        cpu = cpu_per_event(before, cpu_sample(conn), relay.published)
        producer.close()
        assert relay.checkpoint(conn) == head
    return relay.published / elapsed, cpu


def projector_rate(
    container: Container, settings: Settings, expected: int
) -> tuple[float, CpuPerEvent]:
    """Consume `expected` records into an empty audit schema; events/s and CPU/event."""
    projection = AuditProjection()
    with container.db.connect_owner() as conn:
        projection.drop(conn, projection.name)
        projection.create(conn)
        projector = KafkaProjector(
            container.events,
            container.db,
            projection,
            lambda group: make_consumer(settings, group),
            settings,
        )
        projector.prepare(conn)  # the session `KafkaProjector.run` applies with
        consumer = make_consumer(settings, projector.group_id)
        try:
            projector.subscribe(consumer)
            t0: float | None = None
            deadline = time.monotonic() + 300
            before = cpu_sample(conn)
            while projector.consumed < expected and time.monotonic() < deadline:
                if projector.run_once(conn, consumer) and t0 is None:
                    t0 = time.perf_counter()
            projector.drain()  # the writer thread commits the last batch
            elapsed = time.perf_counter() - (t0 or time.perf_counter())
            cpu = cpu_per_event(before, cpu_sample(conn), projector.consumed)
        finally:
            projector.close()
            consumer.close(autocommit=False)
    return (projector.consumed / elapsed if elapsed else float("nan")), cpu


def raw_produce_rate(container: Container, settings: Settings, count: int) -> float:
    """The producer alone: same config, same record sizes, no database."""
    sample = container.events.recorder.select_notifications(start=0, limit=1000)
    records = [
        (
            str(n.originator_id).encode(),
            n.state,
            [
                ("topic", n.topic.encode()),
                ("version", str(n.originator_version).encode()),
                ("position", str(n.id).encode()),
            ],
        )
        for n in sample
    ]
    create_topics(settings)
    producer = make_producer(settings)
    topic = topic_name(settings, "tenancy")
    producer.send(topic, b"warm-up").get(timeout=30)
    t0 = time.perf_counter()
    for i in range(count):
        key, value, headers = records[i % len(records)]
        producer.send(topic, value=value, key=key, headers=headers)
    producer.flush()
    elapsed = time.perf_counter() - t0
    producer.close()
    return count / elapsed


def raw_insert_rate(container: Container, count: int) -> float:
    """Audit-shaped single-row INSERTs, 1,000 per transaction, pipelined."""
    payload = Jsonb({"name": "bench token", "scopes": ["mcp:read"], "prefix": "mcps_abcdef"})
    with container.db.connect_owner() as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_insert")
        conn.execute("CREATE TABLE bench_raw_insert (LIKE audit.audit_view INCLUDING ALL)")
        conn.commit()
        t0 = time.perf_counter()
        for start in range(0, count, 1000):
            with conn.pipeline(), conn.transaction(), conn.cursor() as cur:
                for position in range(start, min(start + 1000, count)):
                    cur.execute(
                        "INSERT INTO bench_raw_insert (position, tenant_id, actor, event_type,"
                        " aggregate_id, aggregate_version, occurred_at, request_id,"
                        " correlation_id, client_ip, data)"
                        " VALUES (%s, %s, %s, %s, %s, %s, now(), %s, %s, %s, %s)",
                        [
                            position,
                            uuid.uuid4(),
                            "system:unknown",
                            "tenancy.ApiToken.Issued",
                            uuid.uuid4(),
                            1,
                            None,
                            None,
                            None,
                            payload,
                        ],
                    )
        elapsed = time.perf_counter() - t0
        conn.execute("DROP TABLE bench_raw_insert")
        conn.commit()
    return count / elapsed


# --- lag ------------------------------------------------------------------------------------


@dataclass
class Commands:
    accepted: dict[int, float] = field(default_factory=dict)
    #: Positions handed from the command threads to the observer.
    queue: SimpleQueue[int] = field(default_factory=SimpleQueue)
    errors: int = 0


def spawn(module: str, args: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    with (logs / f"{module}.{'-'.join(args) or 'main'}.log").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def lag_run(container: Container, settings: Settings, rate: float, seconds: float) -> list[float]:
    """Lags (seconds) of commands issued open-loop at `rate` through relay + Kafka + projector."""
    projection = AuditProjection()
    with container.db.connect_owner() as conn:
        projection.drop(conn, projection.name)
        projection.create(conn)
        conn.execute("UPDATE relay.checkpoint SET position = %s", [container.events.head()])
        conn.execute("DELETE FROM relay.marks")
        conn.commit()
    create_topics(settings)
    env = {
        **os.environ,
        "DATABASE_URL": container.database_url,
        "MCPS_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "MCPS_ENVIRONMENT": "test",
        "MCPS_HOME": str(settings.home),
    }
    tenancy = container.tenancy
    tag = uuid.uuid4().hex[:6]
    owner = tenancy.register_user(f"lag-{tag}@example.com", f"lag-{tag}", "Sup3r-secret!")
    slug = f"lag-{tag}"
    with tempfile.TemporaryDirectory(prefix="mcps-bench-logs-") as logs_dir:
        logs = Path(logs_dir)
        processes = [
            spawn("workers.run_relay", [], env, logs),
            spawn("workers.run_projector", ["audit"], env, logs),
        ]
        try:
            # Warm up: both processes started, the projector has its partitions.
            warm = tenancy.issue_token(slug, owner.user_id, "warm-up", [Scope.MCP_READ], None)
            wait_visible(container, warm.position, timeout=120)
            return measure(container, slug, owner.user_id, rate, seconds)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def wait_visible(container: Container, position: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with container.db.connect_owner(autocommit=True) as conn:
        while not conn.execute(
            "SELECT 1 FROM audit.audit_view WHERE position = %s", [position]
        ).fetchone():
            if time.monotonic() > deadline:
                raise TimeoutError(f"position {position} never reached the audit view")
            time.sleep(0.05)


def measure(
    container: Container, slug: str, user_id: Any, rate: float, seconds: float
) -> list[float]:
    total = int(rate * seconds)
    commands = Commands()
    seen: dict[int, float] = {}
    lock = threading.Lock()
    next_index = iter(range(total))
    start = time.perf_counter() + 0.2
    deadline = start + seconds + 60
    done = threading.Event()

    def issue() -> None:
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                result = container.tenancy.issue_token(
                    slug, user_id, f"lag {i}", [Scope.MCP_READ], None
                )
            except Exception:
                commands.errors += 1
                continue
            commands.accepted[result.position] = time.perf_counter()
            commands.queue.put(result.position)

    def observe() -> None:
        """Polls rows above the lowest command position not seen yet (a small window)."""
        pending: list[int] = []
        floor = container.events.head()
        with container.db.connect_owner(autocommit=True) as conn:
            while time.perf_counter() < deadline:
                rows = conn.execute(
                    "SELECT position FROM audit.audit_view WHERE position > %s", [floor]
                ).fetchall()
                now = time.perf_counter()
                for row in rows:
                    seen.setdefault(row["position"], now)
                while not commands.queue.empty():
                    heapq.heappush(pending, commands.queue.get())
                while pending and pending[0] in seen:
                    heapq.heappop(pending)
                if done.is_set() and not pending:
                    return
                floor = pending[0] - 1 if pending else max(seen, default=floor)
                time.sleep(0.002)

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()
    issuers = [threading.Thread(target=issue, daemon=True) for _ in range(8)]
    for thread in issuers:
        thread.start()
    for thread in issuers:
        thread.join()
    done.set()
    observer.join()
    if commands.errors:
        log(f"{commands.errors} commands failed")
    return [max(0.0, seen[p] - t) for p, t in commands.accepted.items() if p in seen]


# --- report ---------------------------------------------------------------------------------

CPU_HEADERS = ["figure", "python", "postgres", "kafka broker", "events/s ceiling"]


def cpu_table(relay: list[CpuPerEvent], projector: list[CpuPerEvent]) -> list[list[str]]:
    """CPU per event by where it was spent: unlike events/s, other load on the box barely
    moves it. The ceiling is `CpuPerEvent.ceiling` (this process's Python on one core)."""
    rows = []
    for name, samples in (("relay → Kafka", relay), ("Kafka → audit projector", projector)):
        if not samples:
            continue
        cpu = CpuPerEvent(
            median([c.python for c in samples]),
            median([c.postgres for c in samples if c.postgres is not None]),
            median([c.kafka for c in samples if c.kafka is not None]),
        )
        rows.append([name, *(f"{v:.1f}" for v in (cpu.python, cpu.postgres, cpu.kafka)),
                     rate_cell(cpu.ceiling())])  # fmt: skip
    return rows


def rate_cell(value: float) -> str:
    return "-" if value != value else f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true", help="print only")
    parser.add_argument("--lag-only", action="store_true", help="skip throughput; print only")
    parser.add_argument(
        "--members", type=int, default=2, help="projector processes in one group (0: skip)"
    )
    args = parser.parse_args()

    relay, projector, produce, insert, p50, p99, lost = [], [], [], [], [], [], []
    relay_cpu: list[CpuPerEvent] = []
    projector_cpu: list[CpuPerEvent] = []
    group: list[float] = []
    load_before = os.getloadavg()[0]
    with bench_stack() as container:
        if not args.lag_only:
            log(f"seeding {args.events:,} events")
            seed(container, args.events)
        for run in range(1, 0 if args.lag_only else args.repeats + 1):
            settings = with_prefix(container.settings, fresh_prefix())
            try:
                rate, cpu = relay_rate(container, settings)
                relay.append(rate)
                relay_cpu.append(cpu)
                rate, cpu = projector_rate(container, settings, args.events)
                projector.append(rate)
                projector_cpu.append(cpu)
            finally:
                delete_topics(settings)
            raw = with_prefix(container.settings, fresh_prefix())
            try:
                produce.append(raw_produce_rate(container, raw, args.events))
            finally:
                delete_topics(raw)
            insert.append(raw_insert_rate(container, args.events))
            if args.members:
                settings = with_prefix(container.settings, fresh_prefix())
                try:
                    group.append(group_rate(container, settings, args.members))
                finally:
                    delete_topics(settings)
                log(f"run {run}: {args.members} projector processes {group[-1]:,.0f}/s")
            log(
                f"run {run}: relay {relay[-1]:,.0f}/s (raw produce {produce[-1]:,.0f}/s),"
                f" projector {projector[-1]:,.0f}/s (raw insert {insert[-1]:,.0f}/s)"
            )
        for run in range(1, args.repeats + 1):
            settings = with_prefix(container.settings, fresh_prefix())
            try:
                lags = lag_run(container, settings, args.rate, args.seconds)
            finally:
                delete_topics(settings)
            expected = int(args.rate * args.seconds)
            p50.append(percentile(lags, 50))
            p99.append(percentile(lags, 99))
            lost.append(expected - len(lags))
            log(f"lag run {run}: p50 {ms(p50[-1])} ms, p99 {ms(p99[-1])} ms, n={len(lags)}")

    load = f"{load_before:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    rows = [
        [
            "relay → Kafka (events/s)",
            *map(rate_cell, relay),
            rate_cell(median(relay)),
            "≥ 20,000",
            rate_cell(median(produce)),
            f"{median(relay) / median(produce):.2f}",
        ],
        [
            "Kafka → audit projector (events/s)",
            *map(rate_cell, projector),
            rate_cell(median(projector)),
            "≥ 10,000",
            rate_cell(median(insert)),
            f"{median(projector) / median(insert):.2f}",
        ],
        *(
            [
                [
                    f"Kafka → audit, {args.members} projector processes (events/s)",
                    *map(rate_cell, group),
                    rate_cell(median(group)),
                    "≥ 10,000",
                    rate_cell(median(insert)),
                    f"{median(group) / median(insert):.2f}",
                ]
            ]
            if group
            else []
        ),
        [f"lag p50 at {args.rate:.0f} cmd/s (ms)", *map(ms, p50), ms(median(p50)), "-", "-", "-"],
        [
            f"lag p99 at {args.rate:.0f} cmd/s (ms)",
            *map(ms, p99),
            ms(median(p99)),
            "≤ 250",
            "-",
            "-",
        ],
    ]
    headers = [
        "figure",
        *(f"run {i}" for i in range(1, args.repeats + 1)),
        "median",
        "goal",
        "baseline",
        "ratio",
    ]
    print_table(headers, rows)
    cpu_rows = cpu_table(relay_cpu, projector_cpu)
    if cpu_rows:
        print("\nCPU per event (µs, median of runs) and the rate it allows on 2 idle cores")
        print_table(CPU_HEADERS, cpu_rows)
    verdict = "; ".join(
        f"{name} {'met' if ok else '**not met**'}"
        for name, ok in (
            ("relay ≥ 20,000/s", median(relay) >= GOALS["relay"]),
            ("projector ≥ 10,000/s", median(projector) >= GOALS["projector"]),
            ("lag p99 ≤ 250 ms", median(p99) <= GOALS["p99"]),
        )
    )
    print(f"goals: {verdict}")
    if any(lost):
        log(f"commands not observed per lag run: {lost}")
    if not (args.no_readme or args.lag_only):
        write_readme(
            [(headers, rows), (CPU_HEADERS, cpu_rows)],
            f"{args.events:,} events, lag at {args.rate:.0f} cmd/s for {args.seconds:.0f} s,"
            f" median of {args.repeats}; {time.strftime('%Y-%m-%d')}.",
            f"Goals: {verdict}. Load average {load}.",
        )


if __name__ == "__main__":
    main()
