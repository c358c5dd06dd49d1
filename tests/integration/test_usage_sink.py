"""The usage sink counts every billed call once: re-sent batches, and a sink killed mid-stream.

The money check is exact: the count and the Decimal sum of `cost` in ClickHouse equal those of
the `Call.Billed` events in the store.

chDB is one engine per process, and an engine locks its folder, so a sink process cannot
share this process's engine. The kill test therefore runs everything that touches its
ClickHouse folder in subprocesses, one after another: a sink (killed with SIGKILL), a second
sink (stopped with SIGTERM once caught up), then a checker that reads the totals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from infra.container import Container
from infra.settings import Settings
from projections.usage import UsageSink
from projections.usage_queries import InvalidCursorError, free_calls_used, history, totals
from tests.integration.usage_support import (
    PRICING,
    STATUSES,
    Caller,
    Target,
    billed_in_store,
    store_totals,
)
from tests.support import make_settings, running_container
from workers.projector import SinkProjector

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ["search", "fetch", "summarise"]


@pytest.fixture
def container(database_url: str, tmp_path: Path) -> Iterator[Container]:
    # Each test has a ClickHouse database of its own: chDB is one engine for the whole run.
    settings = make_settings(
        database_url, tmp_path, clickhouse_database=f"t_usage_{uuid.uuid4().hex[:12]}"
    )
    with running_container(settings, projectors=False) as c:
        yield c


def _sink(container: Container) -> UsageSink:
    sink = UsageSink(
        container.clickhouse, container.db, database=container.settings.clickhouse_database
    )
    sink.create()
    return sink


def _bill_mix(caller: Caller, tenants: list[uuid.UUID], n: int) -> None:
    """`n` calls spread over tenants, pricing models, tools and every status."""
    targets = [Target(f"dep-{kind}", f"svc-{kind}", pricing) for kind, pricing in PRICING.items()]
    for i in range(n):
        caller.bill(
            tenants[i % len(tenants)],
            targets[i % len(targets)],
            TOOLS[i % len(TOOLS)],
            STATUSES[(i // 3) % len(STATUSES)],
            token_id=uuid.uuid4() if i % 2 else None,
            duration_us=500 + 37 * i,
        )


def test_every_call_lands_once_even_when_batches_are_resent(container: Container) -> None:
    caller = Caller(container)
    tenants = [uuid.uuid4(), uuid.uuid4()]
    _bill_mix(caller, tenants, 90)
    sink = _sink(container)
    db = sink.database
    # No background merges: the stored rows then show what each re-send left behind.
    sink.client.command(f"SYSTEM STOP MERGES {sink.qualified}")

    SinkProjector(container.events, sink, batch_size=7).catch_up()
    expected = store_totals(container)
    assert expected[0] == 90 and expected[1] > 0
    assert totals(sink.client, db) == expected
    for tenant in tenants:
        assert totals(sink.client, db, tenant) == store_totals(container, tenant)

    # A crash after the insert but before the checkpoint: the same batches again. Their
    # dedup tokens match, so ClickHouse drops the blocks outright.
    rewind(container, sink)
    SinkProjector(container.events, sink, batch_size=7).catch_up()
    assert stored_rows(sink) == 90
    assert totals(sink.client, db) == expected

    # Batches cut elsewhere (say, more calls had arrived): new tokens, so the rows are
    # stored again, and FINAL keeps one per call id.
    rewind(container, sink)
    SinkProjector(container.events, sink, batch_size=11).catch_up()
    assert stored_rows(sink) == 180
    assert totals(sink.client, db) == expected
    for tenant in tenants:
        assert totals(sink.client, db, tenant) == store_totals(container, tenant)


def rewind(container: Container, sink: UsageSink) -> None:
    with container.db.owner.connection() as conn:
        conn.execute(f"UPDATE {sink.name}.tracking SET position = 0")


def stored_rows(sink: UsageSink) -> int:
    """Rows as stored, duplicates included (no FINAL)."""
    return int(sink.client.query(f"SELECT count() FROM {sink.qualified}").result_rows[0][0])


def test_money_goes_in_as_decimal(container: Container) -> None:
    caller = Caller(container)
    tenant = uuid.uuid4()
    paid = Target("dep", "svc", PRICING["paid"])
    for _ in range(3):
        caller.bill(tenant, paid, "search")
    sink = _sink(container)
    SinkProjector(container.events, sink).catch_up()
    row = sink.client.query(
        f"SELECT toString(unit_price), toString(sum(cost)) FROM {sink.qualified} FINAL"
        " GROUP BY unit_price"
    ).result_rows
    assert row == [("0.0025", "0.0075")]


def test_free_calls_used_counts_the_months_chargeable_calls(container: Container) -> None:
    caller = Caller(container)
    tenant, other = uuid.uuid4(), uuid.uuid4()
    freemium = Target("dep", "svc", PRICING["freemium"])
    for status in [*STATUSES, *STATUSES]:
        caller.bill(tenant, freemium, "search", status)
    caller.bill(other, freemium, "search")
    caller.bill(tenant, Target("dep2", "svc2", PRICING["paid"]), "search")
    sink = _sink(container)
    SinkProjector(container.events, sink).catch_up()
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = free_calls_used(sink.client, sink.database, tenant, freemium.service_id, month)
    assert used == 4  # ok and tool_error, twice; failed calls are not the service's work
    # Three were free (the quota), the fourth was charged.
    billed = [e for e in billed_in_store(container) if e.service_id == str(freemium.service_id)]
    assert [
        e.free for e in billed if e.tenant_id == str(tenant) and e.status in ("ok", "tool_error")
    ] == [True, True, True, False]
    next_month = (
        month.replace(year=month.year + 1)
        if month.month == 12
        else month.replace(month=month.month + 1)
    )
    assert free_calls_used(sink.client, sink.database, tenant, freemium.service_id, next_month) == 0


def test_history_pages_newest_first_without_gaps(container: Container) -> None:
    caller = Caller(container)
    tenant = uuid.uuid4()
    _bill_mix(caller, [tenant], 23)
    _bill_mix(caller, [uuid.uuid4()], 5)  # another tenant's calls never show
    sink = _sink(container)
    SinkProjector(container.events, sink).catch_up()

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = history(sink.client, sink.database, tenant, limit=5, before=cursor)
        seen += page.calls
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    mine = [e for e in billed_in_store(container) if e.tenant_id == str(tenant)]
    newest_first = sorted(mine, key=lambda e: e.timestamp, reverse=True)
    assert len({e.timestamp for e in mine}) == len(mine) == 23  # no ties to break here
    assert [c["call_id"] for c in seen] == [e.originator_id for e in newest_first]
    assert [c["occurred_at"] for c in seen] == [e.timestamp for e in newest_first]
    first = seen[0]
    assert first.keys() == {
        "call_id",
        "deployment",
        "service",
        "version",
        "tool",
        "status",
        "error_code",
        "duration_ms",
        "cost",
        "currency",
        "occurred_at",
        "token_id",
    }
    assert Decimal(first["cost"]) == Decimal(newest_first[0].cost)
    assert first["duration_ms"] == newest_first[0].duration_us / 1000

    timeouts = history(sink.client, sink.database, tenant, limit=100, status="timeout")
    assert timeouts.calls and {c["status"] for c in timeouts.calls} == {"timeout"}
    searches = history(sink.client, sink.database, tenant, limit=100, tool="search")
    assert searches.calls and {c["tool"] for c in searches.calls} == {"search"}
    with pytest.raises(InvalidCursorError):
        history(sink.client, sink.database, tenant, limit=5, before="1700000000_not-an-id")


# --- a sink process killed mid-stream --------------------------------------------------------


def _env(settings: Settings, home: Path) -> dict[str, str]:
    """The sink process's settings: this test's store, its own home (so its own chDB).

    `MCPS_CIPHER_KEY` stays unset, as in this process: the event store (application name
    `mcps`) would read it as eventsourcing's `CIPHER_KEY` and expect encrypted events.
    """
    unset = ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "CLICKHOUSE_URL", "MCPS_CIPHER_KEY")
    return {
        **{k: v for k, v in os.environ.items() if k not in unset},
        "DATABASE_URL": settings.database_url or "",
        "MCPS_HOME": str(home),
        "MCPS_ENVIRONMENT": "test",
        "MCPS_CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "MCPS_APP_DB_PASSWORD": settings.app_db_password.get_secret_value(),
    }


def _start_sink(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "sink", "usage", "--batch-size", "20"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


_CHECK = """
import json, sys
from pathlib import Path
from infra.clickhouse import clickhouse_client
from projections.usage_queries import totals
count, cost = totals(clickhouse_client(None, Path(sys.argv[1])), sys.argv[2])
print(json.dumps({"count": count, "cost": str(cost)}))
"""


def _position(container: Container) -> int:
    """The sink's checkpoint; 0 until the first sink process has created its tracking table."""
    with container.db.owner.connection() as conn:
        try:
            row = conn.execute(
                "SELECT position FROM usage.tracking WHERE source = 'log' AND part = 0"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row["position"]) if row else 0


def _wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_sink_killed_mid_stream_then_restarted_counts_every_call_once(
    container: Container, tmp_path: Path
) -> None:
    caller = Caller(container)
    tenants = [uuid.uuid4(), uuid.uuid4(), uuid.uuid4()]
    _bill_mix(caller, tenants, 600)
    home = tmp_path / "sink-process"  # the sink processes' own chDB folder
    env = _env(container.settings, home)
    log = tmp_path / "sink.log"

    # Calls keep arriving while the first sink works through the backlog.
    more = threading.Thread(target=_bill_mix, args=(caller, tenants, 300))
    first = _start_sink(env, log)
    try:
        more.start()
        _wait_for(lambda: _position(container) >= 200, 60, "the first sink's progress")
        first.send_signal(signal.SIGKILL)  # no flush, no checkpoint, no goodbye
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
        more.join(timeout=120)
    assert first.returncode == -signal.SIGKILL
    killed_at = _position(container)
    head = container.events.head()
    assert 0 < killed_at < head, (killed_at, head)

    second = _start_sink(env, log)
    try:
        _wait_for(lambda: _position(container) >= head, 120, "the second sink to catch up")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, log.read_text()
    finally:
        if second.poll() is None:
            second.kill()

    checked = subprocess.run(
        [sys.executable, "-c", _CHECK, str(home), container.settings.clickhouse_database],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    found = json.loads(checked.stdout.decode().strip().splitlines()[-1])
    count, cost = store_totals(container)
    assert count == 900
    assert (found["count"], Decimal(found["cost"])) == (count, cost)
