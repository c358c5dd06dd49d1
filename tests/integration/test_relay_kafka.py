"""The relay and the Kafka projectors on the real broker and database: no event lost, none twice.

Every test gets its own database and its own topic prefix, so tests neither see nor disturb
each other's events, offsets or consumer groups. Crash tests run the relay and the projectors
as the same small processes production runs (`workers.run_relay`, `workers.run_projector`)
and kill them with SIGKILL, which leaves no chance to flush or commit anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.tenancy.application import Tenancy
from domain.tenancy.values import Scope
from infra.container import Container, build_container
from infra.database import PgTarget
from infra.kafka import (
    KafkaConsumer,
    TopicPartition,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
)
from infra.settings import Settings
from projections.audit import AuditProjection
from projections.base import Projection
from projections.directory import DirectoryProjection
from projections.ledger import LedgerProjection
from projections.registry import create_all
from projections.watermark import create_relay_schema, kafka_topics, log_reached, reached
from tests.integration.catalogue_support import OWNER, details, release_body
from workers.kafka_projector import KafkaProjector, known_contexts
from workers.projector import LogProjector
from workers.relay import Relay

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Sup3r-secret!"
CATCH_UP_S = 90.0
#: Events written before the crash tests start the process they will kill.
BACKLOG = 1000
#: How long the concurrent-writers test writes for.
WRITE_SECONDS = float(os.environ.get("MCPS_TEST_WRITE_SECONDS", "15"))


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: these tests need the real services "
            "(bash infra/local/start.sh DIR && . DIR/env)",
            pytrace=False,
        )
    return value


def eventually(check: Callable[[], bool], timeout: float = CATCH_UP_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check}")
        time.sleep(0.05)


# --- fixtures -------------------------------------------------------------------------------


@dataclass
class Stack:
    """One test's world: a database, a topic prefix, a container, and the processes it ran."""

    settings: Settings
    container: Container
    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def sql(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        with self.container.db.connect_owner(autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def scalar(self, query: str, params: Any = None) -> Any:
        return next(iter(self.sql(query, params)[0].values()))

    def event_ids(self) -> list[int]:
        return [r["notification_id"] for r in self.sql("SELECT notification_id FROM mcps_events")]

    def audit_positions(self) -> list[int]:
        return [r["position"] for r in self.sql("SELECT position FROM audit.audit_view")]

    def checkpoint(self) -> int:
        return int(self.scalar("SELECT position FROM relay.checkpoint WHERE id = 1"))

    def spawn(self, module: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{module}-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def writing_into(self, schema: str) -> bool:
        """Does another session hold an open transaction that has written to `schema`?"""
        return bool(
            self.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL AND query LIKE %s",
                [f"%{schema}.%"],
            )
        )

    def assert_no_crash_but_the_kills(self) -> None:
        """A worker that failed and retried would hide a bug behind its retry loop."""
        for log in self.logs.glob("*.log"):
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{log.name}:\n{text[-3000:]}"

    def topics(self) -> list[str]:
        admin = make_admin(self.settings)
        try:
            prefix = f"{self.settings.kafka_topic_prefix}."
            return sorted(t for t in admin.list_topics() if t.startswith(prefix))
        finally:
            admin.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    admin_url = required_env("DATABASE_URL")
    bootstrap = required_env("KAFKA_BOOTSTRAP_SERVERS")
    name = f"relay_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = PgTarget.parse(admin_url)
    url = PgTarget(name, base.host, base.port, base.user, base.password).url()
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings(
        environment="test",
        home=tmp_path / "home",
        database_url=url,
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_prefix=prefix,
    )
    container = build_container(settings)
    create_all(container.db, [DirectoryProjection(), AuditProjection(), LedgerProjection()])
    with container.db.connect_owner() as conn:
        create_relay_schema(conn)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MCPS_KAFKA_TOPIC_PREFIX": prefix,
        "MCPS_ENVIRONMENT": "test",
        "MCPS_HOME": str(tmp_path / "home"),
        "PYTHONUNBUFFERED": "1",
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    s = Stack(settings, container, env, logs)
    try:
        yield s
    finally:
        s.stop_all()
        _print_logs(logs)
        topics = s.topics()
        container.close()
        if topics:
            admin = make_admin(settings)
            try:
                admin.delete_topics(topics, raise_errors=False)
            finally:
                admin.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _print_logs(logs: Path) -> None:
    """The workers' last words; pytest shows captured output only for failed tests."""
    for log in sorted(logs.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print(f"--- {log.name}", *tail, sep="\n")


def make_consumer_for(stack: Stack) -> Callable[[str], KafkaConsumer]:
    return lambda group_id: make_consumer(stack.settings, group_id)


@contextmanager
def in_process(stack: Stack, *projections: Projection) -> Iterator[threading.Event]:
    """The relay and projectors as threads of the test process (the embedded-style wiring)."""
    stop = threading.Event()
    settings, c = stack.settings, stack.container
    producer = make_producer(settings)
    workers: list[Callable[[threading.Event], None]] = [
        Relay(c.events, c.db, producer, settings).run,
        *(
            KafkaProjector(c.events, c.db, p, make_consumer_for(stack), settings).run
            for p in projections
        ),
    ]
    threads = [threading.Thread(target=w, args=(stop,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        producer.close()


# --- writers --------------------------------------------------------------------------------


@dataclass
class Owner:
    user_id: UUID
    slug: str


def register_owners(tenancy: Tenancy, count: int) -> list[Owner]:
    tag = uuid.uuid4().hex[:6]
    owners = []
    for i in range(count):
        r = tenancy.register_user(f"w{i}-{tag}@example.com", f"w{i}-{tag}", PASSWORD)
        owners.append(Owner(r.user_id, f"w{i}-{tag}"))
    return owners


class Writers:
    """Threads issuing commands (API tokens, now and then a team) until a quota or a deadline."""

    def __init__(self, tenancy: Tenancy, owners: list[Owner]) -> None:
        self.tenancy = tenancy
        self.owners = owners
        self.accepted = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, *, per_thread: int | None = None, seconds: float | None = None) -> None:
        deadline = time.monotonic() + seconds if seconds is not None else None
        for i, owner in enumerate(self.owners):
            thread = threading.Thread(
                target=self._write, args=(i, owner, per_thread, deadline), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
        assert not self.errors, self.errors[:3]

    def _write(self, i: int, owner: Owner, quota: int | None, deadline: float | None) -> None:
        n = 0
        try:
            while (quota is None or n < quota) and (
                deadline is None or time.monotonic() < deadline
            ):
                if n % 25 == 24:
                    self.tenancy.create_team(owner.user_id, f"{owner.slug}-t{n}", f"Team {n}")
                else:
                    self.tenancy.issue_token(
                        owner.slug, owner.user_id, f"token {n}", [Scope.MCP_READ], None
                    )
                n += 1
                with self._lock:
                    self.accepted += 1
        except BaseException as error:
            self.errors.append(error)


# --- checks ---------------------------------------------------------------------------------


def assert_exactly_once(stack: Stack) -> None:
    """Every stored event is in the audit view once, and the directory holds every token."""
    ids = stack.event_ids()
    eventually(lambda: len(stack.audit_positions()) >= len(ids), what="audit to catch up")
    positions = stack.audit_positions()
    assert len(positions) == len(ids)
    assert sorted(positions) == sorted(ids)
    tokens = stack.scalar("SELECT count(*) FROM mcps_events WHERE topic LIKE '%%:ApiToken.Issued'")
    eventually(
        lambda: stack.scalar("SELECT count(*) FROM directory.tokens_view") >= tokens,
        what="directory to catch up",
    )
    assert stack.scalar("SELECT count(*) FROM directory.tokens_view") == tokens


@contextmanager
def record_counter(stack: Stack) -> Iterator[Callable[[], int]]:
    """How many records the tenancy topic holds (sum of end offsets), cheap enough to poll."""
    topic = f"{stack.settings.kafka_topic_prefix}.tenancy"
    admin = make_admin(stack.settings)
    try:
        ensure_topics(admin, [topic], stack.settings.kafka_partitions)
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
    partitions = [TopicPartition(topic, p) for p in range(stack.settings.kafka_partitions)]
    try:
        yield lambda: sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


@contextmanager
def holding(stack: Stack, lock_rows: str) -> Iterator[psycopg.Connection[Any]]:
    """Rows locked by an open transaction (`lock_rows` is a SELECT ... FOR UPDATE), so that a
    worker reaching them waits there until the block ends: a kill can then land mid-batch."""
    with psycopg.connect(stack.settings.database_url or "") as conn:
        conn.execute(lock_rows)
        yield conn
        conn.rollback()


def end_waiting_backends(conn: psycopg.Connection[Any], table: str) -> None:
    """End the sessions of killed workers still waiting for `table`'s held rows, before the
    rows are released: an autocommit statement would otherwise still commit for the dead."""
    conn.execute(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND wait_event_type = 'Lock' AND position(%s in query) > 0",
        [table],
    )


def kafka_records(stack: Stack) -> list[Any]:
    """Every record in the stack's topics, from the beginning, duplicates included."""
    consumer = KafkaConsumer(
        bootstrap_servers=stack.settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in stack.topics()
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def kafka_positions(stack: Stack) -> list[int]:
    """Every `position` header in the stack's topics, duplicates included."""
    return [int(dict(r.headers)["position"]) for r in kafka_records(stack)]


# --- tests ----------------------------------------------------------------------------------


def test_a_command_reaches_the_read_models_through_kafka(stack: Stack) -> None:
    tenancy = stack.container.tenancy
    with in_process(stack, DirectoryProjection(), AuditProjection()):
        registration = tenancy.register_user("ada@example.com", "ada", PASSWORD)
        team = tenancy.create_team(registration.user_id, "analytical", "Analytical Engines")

        def team_visible() -> bool:
            rows = stack.sql(
                "SELECT slug, name FROM directory.tenants_view WHERE tenant_id = %s", [team.id]
            )
            return rows == [{"slug": "analytical", "name": "Analytical Engines"}]

        eventually(team_visible, timeout=60, what="the team in the directory")
        eventually(lambda: team.position in stack.audit_positions(), timeout=60, what="audit row")
    members = stack.sql(
        "SELECT user_id, role FROM directory.members_view WHERE tenant_id = %s", [team.id]
    )
    assert members == [{"user_id": registration.user_id, "role": "owner"}]
    audit = stack.sql(
        "SELECT event_type, aggregate_id FROM audit.audit_view WHERE position = %s",
        [team.position],
    )
    assert audit == [{"event_type": "tenancy.Tenant.Created", "aggregate_id": team.id}]
    assert stack.checkpoint() == stack.container.events.head()
    # The audit projector (it reads every context) created one topic per known context.
    prefix = stack.settings.kafka_topic_prefix
    assert stack.topics() == sorted(f"{prefix}.{c}" for c in known_contexts())


def test_the_ledger_is_never_fed_from_kafka(stack: Stack) -> None:
    """Its hash chain is over log order, which partitions do not keep."""
    c = stack.container
    with pytest.raises(ValueError, match="must follow the log"):
        KafkaProjector(c.events, c.db, LedgerProjection(), make_consumer_for(stack), c.settings)


def test_b_relay_killed_mid_batch_loses_and_duplicates_nothing(stack: Stack) -> None:
    owners = register_owners(stack.container.tenancy, 4)
    stack.spawn("workers.run_projector", "audit")
    stack.spawn("workers.run_projector", "directory")
    writers = Writers(stack.container.tenancy, owners)
    writers.start(per_thread=900)
    # A backlog first, so the relay's first batch is big enough to be killed halfway through.
    eventually(lambda: writers.accepted >= BACKLOG, what="a backlog")
    # The checkpoint row is held, so the relay publishes and then waits to advance it: the
    # kill lands between the two however fast the relay is (it publishes a batch in ms).
    with holding(stack, "SELECT position FROM relay.checkpoint FOR UPDATE") as held:
        relay = stack.spawn("workers.run_relay")
        with record_counter(stack) as records_in_kafka:
            eventually(lambda: records_in_kafka() > 0, what="the relay's first records")
            relay.kill()  # SIGKILL: no flush, no checkpoint, no goodbye
            relay.wait()
            published = records_in_kafka()
        end_waiting_backends(held, "relay.checkpoint")
    assert stack.checkpoint() == 0, "the relay finished its batch before the kill"
    stack.spawn("workers.run_relay")
    writers.join()
    assert writers.accepted == 4 * 900
    assert_exactly_once(stack)
    ids = stack.event_ids()
    # The audit view may be complete from the killed relay's records alone.
    eventually(lambda: stack.checkpoint() >= max(ids), what="the new relay to catch up")
    in_kafka = kafka_positions(stack)
    assert set(in_kafka) == set(ids)
    # What reached Kafka before the kill was published again after it.
    assert len(in_kafka) >= len(ids) + published
    print(f"{len(ids)} events, {len(in_kafka)} records ({published} before the kill)")
    stack.assert_no_crash_but_the_kills()


def test_c_projectors_killed_mid_batch_apply_everything_once(stack: Stack) -> None:
    owners = register_owners(stack.container.tenancy, 4)
    stack.spawn("workers.run_relay")
    writers = Writers(stack.container.tenancy, owners)
    writers.start(per_thread=900)
    eventually(lambda: stack.checkpoint() >= BACKLOG, what="a backlog in Kafka")
    audit = stack.spawn("workers.run_projector", "audit")
    directory = stack.spawn("workers.run_projector", "directory")
    eventually(lambda: len(stack.audit_positions()) > 0, what="the projectors' first batch")
    # Kill while a batch is half-written: its transaction holds rows, its commit has not come.
    # The tracking rows are held, so the next batch writes its rows and then waits: a window
    # that stays open however fast the projector writes (one batch takes milliseconds).
    with holding(stack, "SELECT * FROM audit.tracking FOR UPDATE") as held:
        # One more event, so some batch has to wait even if the first took the whole backlog.
        owner = owners[0]
        stack.container.tenancy.issue_token(
            owner.slug, owner.user_id, "late", [Scope.MCP_READ], None
        )
        eventually(lambda: stack.writing_into("audit"), what="an open audit transaction")
        audit.kill()
        directory.kill()
        audit.wait()
        directory.wait()
        end_waiting_backends(held, "audit.tracking")
    applied = len(stack.audit_positions())
    assert applied < len(stack.event_ids()), "the projector caught up before the kill"
    stack.spawn("workers.run_projector", "audit")
    stack.spawn("workers.run_projector", "directory")
    writers.join()
    assert writers.accepted == 4 * 900
    assert_exactly_once(stack)
    print(f"{len(stack.event_ids())} events, {applied} applied before the kill")
    stack.assert_no_crash_but_the_kills()


def test_d_concurrent_writers_skip_nothing(stack: Stack) -> None:
    owners = register_owners(stack.container.tenancy, 8)
    stack.spawn("workers.run_relay")
    stack.spawn("workers.run_projector", "audit")
    stack.spawn("workers.run_projector", "directory")
    writers = Writers(stack.container.tenancy, owners)
    writers.start(seconds=WRITE_SECONDS)
    writers.join()
    ids = stack.event_ids()
    assert len(ids) >= writers.accepted > 0
    eventually(lambda: stack.checkpoint() >= max(ids), what="the relay to catch up")
    in_kafka = kafka_positions(stack)
    assert set(in_kafka) == set(ids)
    assert_exactly_once(stack)
    stack.assert_no_crash_but_the_kills()
    print(f"{writers.accepted} commands, {len(ids)} events in {WRITE_SECONDS:.0f}s")


def test_e_watermark_is_reached_only_once_the_row_is_there(stack: Stack) -> None:
    tenancy = stack.container.tenancy
    prefix = stack.settings.kafka_topic_prefix
    directory_topics = kafka_topics(DirectoryProjection(), prefix)
    assert directory_topics == [f"{prefix}.tenancy"]
    registration = tenancy.register_user("grace@example.com", "grace", PASSWORD)
    position = registration.position

    with stack.container.db.connect_owner(autocommit=True) as conn:
        # Nothing relayed yet: not reached, in either mode.
        assert not reached(conn, "audit", position, None)
        assert not log_reached(conn, "ledger", position)
        LogProjector(stack.container.events, stack.container.db, LedgerProjection()).catch_up(conn)
        assert log_reached(conn, "ledger", position)

        with in_process(stack):  # the relay alone: in Kafka, but not in the read model
            eventually(lambda: stack.checkpoint() >= position, what="the relay")
            assert not reached(conn, "audit", position, None)
            assert not reached(conn, "directory", position, directory_topics)

        with in_process(stack, AuditProjection(), DirectoryProjection()):
            for _ in range(3):
                team = tenancy.create_team(registration.user_id, f"g-{uuid.uuid4().hex[:8]}", "G")
                deadline = time.monotonic() + 60
                while not reached(conn, "audit", team.position, None):
                    assert time.monotonic() < deadline, "audit never reached the position"
                # Reached means the row is already there, never "soon".
                assert team.position in stack.audit_positions()
                eventually(
                    partial(reached, conn, "directory", team.position, directory_topics),
                    what="directory watermark",
                )
                assert stack.sql(
                    "SELECT 1 AS ok FROM directory.tenants_view WHERE tenant_id = %s", [team.id]
                ) == [{"ok": 1}]


def test_a_deployments_secret_never_reaches_kafka(stack: Stack) -> None:
    """The relay publishes events as stored, and a deployment's secret config values are
    sealed in them: no record on any topic (key, value or header) holds one in clear."""
    canary = f"canary-{uuid.uuid4().hex}"
    c = stack.container
    who = c.tenancy.register_user("sealed@example.com", "sealed", PASSWORD)
    tenant = c.tenancy.tenant(who.tenant_id)
    c.marketplace.draft("vault", tenant.id, tenant.slug, OWNER, details("vault"))
    secret = {"type": "string", "writeOnly": True}
    schema = {"type": "object", "properties": {"zone": {"type": "string"}, "api_key": secret}}
    package = {"registry": "pypi", "name": "mcp-server-time", "version": "2026.10.19"}
    runtime = {"kind": "process", "command": "mcp-server-time", "package": package}
    body = {**release_body(config_schema=schema), "runtime": runtime}
    c.marketplace.release("vault", OWNER, "1.0.0", body)
    c.marketplace.publish("vault", OWNER)
    config = {"zone": "UTC", "api_key": canary}
    done = c.deployments.request(tenant, who.user_id, "safe", "vault", None, config)
    with in_process(stack):  # the relay alone
        eventually(lambda: stack.checkpoint() >= done.position, what="the relay to pass it")
    records = kafka_records(stack)
    assert len(records) == stack.scalar("SELECT count(*) FROM mcps_events")
    deployment_topic = f"{stack.settings.kafka_topic_prefix}.deployments"
    assert any(r.topic == deployment_topic for r in records)  # the request was published
    for r in records:
        seen = (r.key or b"") + (r.value or b"") + b"".join(v for _, v in r.headers or ())
        assert canary.encode() not in seen, r.topic
