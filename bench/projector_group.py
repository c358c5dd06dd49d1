"""Kafka → audit projector throughput with several projector processes in one consumer group.

One projector process applies events on one core at a time: its Python (Kafka parsing, event
decoding, audit rows) holds the GIL, so `bench.relay_projector`'s CPU table bounds it near
1e6 / (Python µs per event). The consumer group spreads a topic's partitions over processes,
which is how the projector scales out; this measures that, with the production entry point
(`python -m workers.run_projector audit`) started `members` times.

Method: start the members on empty topics and wait until the group is stable with all of
them; publish the seeded log with the relay (in this process); time from the first audit
row to the last (polling `count(*)` every 20 ms). The relay publishes faster than the group
applies, so the figure is the group's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infra.container import Container
from infra.kafka import ensure_topics, make_admin, make_producer, topic_name
from infra.settings import Settings
from projections.audit import AuditProjection
from workers.relay import Relay

ROOT = Path(__file__).resolve().parents[1]
STABLE_TIMEOUT_S = 120.0
APPLY_TIMEOUT_S = 300.0


def group_rate(container: Container, settings: Settings, members: int) -> float:
    """Events/s of `members` projector processes applying the whole seeded log."""
    projection = AuditProjection()
    with container.db.connect_owner() as conn:
        projection.drop(conn, projection.name)
        projection.create(conn)
        conn.execute("UPDATE relay.checkpoint SET position = 0")
        conn.execute("DELETE FROM relay.marks")
        conn.commit()
    topic = topic_name(settings, "tenancy")
    admin = make_admin(settings)
    env = {
        **os.environ,
        "DATABASE_URL": container.database_url,
        "MCPS_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "MCPS_ENVIRONMENT": "test",
        "MCPS_HOME": str(settings.home),
    }
    with tempfile.TemporaryDirectory(prefix="mcps-bench-group-") as logs:
        processes = [_spawn(env, Path(logs, f"projector-{i}.log")) for i in range(members)]
        try:
            ensure_topics(admin, [topic], settings.kafka_partitions)
            _wait_stable(admin, f"{settings.kafka_topic_prefix}.project.audit", members)
            expected = container.events.head()
            _publish_all(container, settings)
            return _time_applied(container, expected)
        finally:
            admin.close()
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.run_projector", "audit"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )


def _wait_stable(admin: object, group: str, members: int) -> None:
    deadline = time.monotonic() + STABLE_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            described = admin.describe_groups([group])[group]  # type: ignore[attr-defined]
        except Exception:  # the group's coordinator may not exist yet
            described = {}
        if described.get("group_state") == "Stable" and len(described["members"]) == members:
            return
        time.sleep(0.2)
    raise TimeoutError(f"consumer group {group} never had {members} stable members")


def _publish_all(container: Container, settings: Settings) -> None:
    producer = make_producer(settings)
    try:
        relay = Relay(container.events, container.db, producer, settings)
        with container.db.connect_owner() as conn:
            while relay.run_once(conn):
                pass
    finally:
        producer.close()


def _time_applied(container: Container, expected: int) -> float:
    """Events/s from the first audit row seen to the last one."""
    first: tuple[float, int] | None = None
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    with container.db.connect_owner(autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) AS n FROM audit.audit_view").fetchone()
            now, count = time.perf_counter(), int(row["n"]) if row else 0
            if count and first is None:
                first = (now, count)
            if count >= expected and first is not None:
                return (count - first[1]) / (now - first[0]) if now > first[0] else float("nan")
            time.sleep(0.02)
    raise TimeoutError(f"the projectors did not apply {expected} events")
