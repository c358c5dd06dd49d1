"""The usage rollups answer as the raw table does, and stay exact under re-sends and replays.

Analytics, summaries and top tools (rollups for whole minutes and hours, raw calls for the
edges) are compared with the raw-table queries they replaced (`*_from_raw`) on generated calls
spread over days, for every metric, grouping and interval, on aligned and unaligned ranges.
Batches are re-sent with the same and with other boundaries, a roll-up fails after its insert,
and a replay into a fresh ClickHouse database must give the same rollup rows; the cost summed
from the rollups must equal the store's.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from eventsourcing.utils import get_topic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.billing.calls import Call
from domain.billing.pricing import CallStatus
from domain.shared.context import bound
from infra.container import Container
from projections.base import Envelope
from projections.usage import UsageSink
from projections.usage_queries import (
    INTERVALS,
    METRICS,
    GroupBy,
    Interval,
    Metric,
    analytics,
    analytics_from_raw,
    summary,
    summary_from_raw,
    top_tools,
    top_tools_from_raw,
)
from projections.usage_rollups import HOUR_TABLE, KEY, MINUTE_TABLE
from tests.integration.usage_support import PRICING, Caller, Target, store_totals
from tests.support import make_settings, running_container, throwaway_database
from workers.projector import SinkProjector

GROUPS: list[GroupBy | None] = [None, *get_args(GroupBy)]
PUBLISHER_GROUPS: list[GroupBy | None] = [None, "service", "tool"]
#: The generated calls span these three days (UTC), at random microseconds.
DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
SPAN = timedelta(days=3)


@dataclass
class Generated:
    sink: UsageSink
    envelopes: list[Envelope]
    tenants: list[uuid.UUID]
    services: list[uuid.UUID]

    @property
    def client(self) -> Any:
        return self.sink.client

    @property
    def database(self) -> str:
        return self.sink.database


def _container(url: str, home: Path) -> Any:
    settings = make_settings(url, home, clickhouse_database=f"t_rollup_{uuid.uuid4().hex[:12]}")
    return running_container(settings, projectors=False)


def _sink(container: Container, database: str | None = None) -> UsageSink:
    sink = UsageSink(
        container.clickhouse,
        container.db,
        database=database or container.settings.clickhouse_database,
    )
    sink.create()
    return sink


def generate_calls(
    rng: random.Random, n: int
) -> tuple[list[Envelope], list[uuid.UUID], list[uuid.UUID]]:
    """`n` billed calls over three tenants, three services (one per pricing model), tools,
    tokens, every status, durations from 0.1 ms to 5 s, spread over `SPAN` in bursts (so some
    minutes hold many calls of one group), in log order (by time)."""
    tenants = [uuid.uuid4() for _ in range(3)]
    services = [(uuid.uuid4(), name, PRICING[name]) for name in ("free", "paid", "freemium")]
    tokens = {t: [uuid.uuid4(), uuid.uuid4(), None] for t in tenants}
    bursts = [DAY0 + rng.random() * SPAN for _ in range(40)]
    times = sorted(
        rng.choice(bursts) + timedelta(microseconds=rng.randrange(0, 3 * 3600 * 10**6))
        if rng.random() < 0.7
        else DAY0 + rng.random() * SPAN
        for _ in range(n)
    )
    envelopes = []
    for i, at in enumerate(times, start=1):
        tenant = rng.choice(tenants)
        service_id, name, pricing = rng.choice(services)
        status = rng.choice(list(CallStatus))
        chargeable = status.chargeable and pricing["model"] != "FREE"
        free = chargeable and pricing["model"] == "FREEMIUM" and rng.random() < 0.3
        price = Decimal(pricing.get("price_per_request", "0"))
        cost = price if chargeable and not free else Decimal(0)
        with bound(tenant_id=str(tenant), actor="system:test"):
            event = Call.Billed(  # type: ignore[call-arg]
                originator_id=uuid.uuid4(),
                originator_version=1,
                timestamp=min(at, DAY0 + SPAN - timedelta(microseconds=1)),
                originator_topic=get_topic(Call),
                deployment_id=str(uuid.uuid4()),
                deployment=f"{name}-{rng.randrange(2)}",
                service_id=str(service_id),
                service=name,
                version="1.0.0",
                tool=rng.choice(["search", "fetch", "summarise"]),
                token_id=str(t) if (t := rng.choice(tokens[tenant])) else None,
                instance_id=None,
                status=status.value,
                error_code=None if status is CallStatus.OK else f"call.{status.value}",
                duration_us=int(rng.lognormvariate(9, 1.5)) % 5_000_000 + 100,
                request_bytes=100,
                response_bytes=200,
                unit_price=str(price),
                cost=str(cost),
                currency=pricing["currency"],
                free=free,
                idempotency_key=None,
                response=None,
            )
        envelopes.append(Envelope(i, event))
    return envelopes, tenants, [s[0] for s in services]


def send(sink: UsageSink, envelopes: Sequence[Envelope], sizes: Sequence[int]) -> None:
    """The envelopes in batches of the given sizes (cycled), as the sink projector sends them."""
    i, k = 0, 0
    while i < len(envelopes):
        batch = envelopes[i : i + sizes[k % len(sizes)]]
        sink.write_batch(batch, batch[-1].notification_id)
        i, k = i + len(batch), k + 1


def rollup_rows(client: Any, database: str, table: str) -> list[tuple[Any, ...]]:
    """A rollup table as read (FINAL), latency states finalized, in key order."""
    return list(
        client.query(
            f"SELECT {', '.join(KEY)}, calls, free_calls, toString(cost),"
            f" finalizeAggregation(durations) FROM {{db:Identifier}}.{table} FINAL"
            f" ORDER BY {', '.join(KEY)}",
            parameters={"db": database},
        ).result_rows
    )


def stored_rows(client: Any, database: str, table: str) -> int:
    """Rows as stored, replaced ones included (no FINAL)."""
    sql = f"SELECT count() FROM {{db:Identifier}}.{table}"
    return int(client.query(sql, parameters={"db": database}).result_rows[0][0])


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    rng = random.Random(20260301)
    with throwaway_database() as url, _container(url, tmp_path_factory.mktemp("rollups")) as c:
        envelopes, tenants, services = generate_calls(rng, 3000)
        sink = _sink(c)
        send(sink, envelopes, [97, 500, 13, 1000])
        yield Generated(sink, envelopes, tenants, services)


def assert_same(
    g: Generated,
    start: datetime,
    end: datetime,
    metric: Metric,
    interval: Interval,
    group_by: GroupBy | None,
    scope: dict[str, uuid.UUID],
) -> None:
    args: dict[str, Any] = dict(metric=metric, start=start, end=end, **scope)
    series = dict(args, interval=interval, group_by=group_by)
    label = (start, end, metric, interval, group_by, scope)
    assert analytics(g.client, g.database, **series) == analytics_from_raw(
        g.client, g.database, **series
    ), label
    assert summary(g.client, g.database, **args) == summary_from_raw(
        g.client, g.database, **args
    ), label
    del args["metric"]
    assert top_tools(g.client, g.database, **args) == top_tools_from_raw(
        g.client, g.database, **args
    ), label


def _scopes(g: Generated) -> list[dict[str, uuid.UUID]]:
    return [{"tenant_id": g.tenants[0]}, {"service_id": g.services[2]}]


def _groups(scope: dict[str, uuid.UUID]) -> list[GroupBy | None]:
    return GROUPS if "tenant_id" in scope else PUBLISHER_GROUPS


def test_every_metric_grouping_and_interval_matches_the_raw_table(generated: Generated) -> None:
    # Edges inside a minute and inside an hour at both ends: every kind of piece is read.
    start = DAY0 + timedelta(hours=5, minutes=17, seconds=3, microseconds=250)
    end = start + timedelta(days=1, hours=13, minutes=2, seconds=40)
    seen = 0
    for scope in _scopes(generated):
        for metric in METRICS:
            for interval in INTERVALS:
                for group_by in _groups(scope):
                    assert_same(generated, start, end, metric, interval, group_by, scope)
                    seen += 1
    assert seen == 4 * 3 * (5 + 3)  # deployment and token only for the tenant
    whole = analytics(
        generated.client,
        generated.database,
        metric="calls",
        tenant_id=generated.tenants[0],
        start=DAY0,
        end=DAY0 + SPAN,
        interval="day",
    )
    assert len(whole) == 3 and sum(p["calls"] for p in whole) > 500


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    start_s=st.integers(-3600, int(SPAN.total_seconds())),
    start_us=st.integers(0, 999_999),
    length_s=st.integers(1, int(SPAN.total_seconds()) + 7200),
    metric=st.sampled_from(METRICS),
    interval=st.sampled_from(list(INTERVALS)),
    group_at=st.integers(0, 4),
    publisher=st.booleans(),
)
def test_any_range_matches_the_raw_table(
    generated: Generated,
    start_s: int,
    start_us: int,
    length_s: int,
    metric: Metric,
    interval: Interval,
    group_at: int,
    publisher: bool,
) -> None:
    if interval == "minute":
        length_s = min(length_s, 9_000 * 60)  # within the bucket limit
    start = DAY0 + timedelta(seconds=start_s, microseconds=start_us)
    end = start + timedelta(seconds=length_s)
    scope = _scopes(generated)[1 if publisher else 0]
    groups = _groups(scope)
    assert_same(generated, start, end, metric, interval, groups[group_at % len(groups)], scope)


def test_latency_merged_from_states_equals_the_raw_percentiles(generated: Generated) -> None:
    """Exact equality holds while a bucket has at most 8,192 calls (the reservoir's size):
    merging the states then sorts the very same durations `quantiles` sorts."""
    args: dict[str, Any] = dict(
        metric="latency",
        service_id=generated.services[1],
        start=DAY0,
        end=DAY0 + SPAN,
        interval="day",
    )
    rolled = analytics(generated.client, generated.database, **args)
    assert rolled == analytics_from_raw(generated.client, generated.database, **args)
    assert all(p["p50_ms"] <= p["p95_ms"] <= p["p99_ms"] for p in rolled)


# --- re-sends, failed roll-ups, replays, late rollups ------------------------------------------


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    with throwaway_database() as url, _container(url, tmp_path) as c:
        yield c


def test_resent_batches_change_nothing_whatever_their_boundaries(container: Container) -> None:
    envelopes, tenants, _ = generate_calls(random.Random(7), 800)
    sink = _sink(container)
    db = sink.database
    send(sink, envelopes, [50])
    before = {t: rollup_rows(sink.client, db, t) for t in (MINUTE_TABLE, HOUR_TABLE)}
    stored = stored_rows(sink.client, db, MINUTE_TABLE)
    scope = {"tenant_id": tenants[1]}

    send(sink, envelopes, [50])  # the same batches: the raw insert is dropped by its token
    send(sink, envelopes, [33, 120, 7])  # other boundaries: raw rows stored twice
    send(sink, envelopes[300:420], [120])  # a stretch from the middle, once more
    assert stored_rows(sink.client, db, MINUTE_TABLE) > stored  # rows were rewritten...
    for table, rows in before.items():
        assert rollup_rows(sink.client, db, table) == rows  # ...to the same values
    for metric in METRICS:
        for interval in INTERVALS:
            assert_same(
                Generated(sink, envelopes, tenants, []),
                DAY0,
                DAY0 + SPAN,
                metric,
                interval,
                None,
                scope,
            )


class FailingRollups(UsageSink):
    """A sink whose roll-up fails (say, the process dies) after a batch's raw insert."""

    fail = False

    def after_insert(self, rows: Sequence[Sequence[Any]]) -> None:
        if self.fail:
            raise RuntimeError("killed between the insert and the roll-up")
        super().after_insert(rows)


def test_a_roll_up_lost_after_its_insert_is_redone_with_the_batch(container: Container) -> None:
    envelopes, _, _ = generate_calls(random.Random(11), 300)
    sink = FailingRollups(
        container.clickhouse, container.db, database=f"t_fail_{uuid.uuid4().hex[:10]}"
    )
    sink.create()
    send(sink, envelopes[:100], [100])
    sink.fail = True
    with pytest.raises(RuntimeError):
        sink.write_batch(envelopes[100:], envelopes[-1].notification_id)
    assert sink.position() == 100  # not checkpointed: the projector re-sends from here
    sink.fail = False
    sink.write_batch(envelopes[100:], envelopes[-1].notification_id)
    reference = _sink(container, f"t_ref_{uuid.uuid4().hex[:10]}")  # the calls sent once
    send(reference, envelopes, [300])
    for table in (MINUTE_TABLE, HOUR_TABLE):
        assert rollup_rows(sink.client, sink.database, table) == rollup_rows(
            reference.client, reference.database, table
        )


def test_rollups_created_beside_stored_calls_are_filled_from_them(container: Container) -> None:
    envelopes, _, _ = generate_calls(random.Random(13), 400)
    sink = _sink(container)
    send(sink, envelopes, [64])
    live = {t: rollup_rows(sink.client, sink.database, t) for t in (MINUTE_TABLE, HOUR_TABLE)}
    for table in live:  # as before this change: calls, and no rollups yet
        sink.client.command(f"DROP TABLE {sink.database}.{table}")
    _sink(container)
    for table, rows in live.items():
        assert rollup_rows(sink.client, sink.database, table) == rows


def test_a_replay_into_a_fresh_database_gives_the_same_rollups_and_the_stores_cost(
    container: Container,
) -> None:
    caller = Caller(container)
    tenants = [uuid.uuid4(), uuid.uuid4()]
    targets = [Target(f"dep-{kind}", f"svc-{kind}", pricing) for kind, pricing in PRICING.items()]
    statuses = list(CallStatus)
    for i in range(150):
        caller.bill(
            tenants[i % 2],
            targets[i % 3],
            ["search", "fetch"][i % 2],
            statuses[(i // 3) % len(statuses)],
            token_id=None if i % 4 else uuid.uuid4(),
            duration_us=300 + 91 * i,
        )
    live = _sink(container)
    SinkProjector(container.events, live, batch_size=7).catch_up()
    rewind(container, live)  # a crash after inserts, before their checkpoints
    SinkProjector(container.events, live, batch_size=11).catch_up()

    replayed = _sink(container, f"t_replay_{uuid.uuid4().hex[:10]}")
    rewind(container, replayed)
    SinkProjector(container.events, replayed, batch_size=1000).catch_up()
    for table in (MINUTE_TABLE, HOUR_TABLE):
        rows = rollup_rows(live.client, live.database, table)
        assert rows and rollup_rows(replayed.client, replayed.database, table) == rows
        for sink in (live, replayed):
            assert rollup_totals(sink, table) == store_totals(container)
            for tenant in tenants:
                assert rollup_totals(sink, table, tenant) == store_totals(container, tenant)


def rewind(container: Container, sink: UsageSink) -> None:
    with container.db.owner.connection() as conn:
        conn.execute(f"UPDATE {sink.name}.tracking SET position = 0")


def rollup_totals(
    sink: UsageSink, table: str, tenant: uuid.UUID | None = None
) -> tuple[int, Decimal]:
    where = " WHERE tenant_id = {tenant:UUID}" if tenant else ""
    count, cost = sink.client.query(
        f"SELECT sum(calls), sum(cost) FROM {{db:Identifier}}.{table} FINAL{where}",
        parameters={"db": sink.database, "tenant": tenant},
    ).result_rows[0]
    return int(count), Decimal(cost)
