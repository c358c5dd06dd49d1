"""Usage rollups: the calls of `projections/usage.py` summed per minute and per hour.

Dashboards read these instead of the raw `calls` table (`projections/usage_queries.py`);
invoices and quotas never do. A row holds one group of calls in one bucket: tenant, service,
bucket start, deployment, tool, token (or `session`), status and currency; its values are the
count, the free calls, the exact Decimal cost and a mergeable latency state
(`quantilesState`, the reservoir that `quantiles` itself uses, so `quantilesMerge` over rows
gives what `quantiles` over the calls gives, exactly while a query's bucket has at most 8,192
calls, and the same kind of sample beyond).

Why the rows stay exact when the sink re-sends a batch or a replay refills the table: a row is
never added to; it is recomputed whole from `calls FINAL` (which counts a call once however
often it was stored) for every bucket a batch touched, after the batch's insert and before
its checkpoint. The tables are ReplacingMergeTrees keyed by the group and versioned by the
row's own call count. Calls are never removed, so each recomputation of a group counts a
superset of the calls any earlier one saw; the row with the highest count is therefore the
latest and complete one, and equal counts mean equal calls. That holds whatever order
recomputations from several sink processes land in, and it needs no clock. Hour rows are
recomputed the same way from the minute rows (merging their states), so they are as exact.

A crash between the insert and the roll-up leaves the checkpoint where it was: the batch is
sent again, the insert deduplicated, and the roll-up done then.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

#: The raw table, one row per billed call (`projections/usage.py`).
CALLS_TABLE = "calls"
MINUTE_TABLE = "calls_minute"
HOUR_TABLE = "calls_hour"

Grain = Literal["minute", "hour"]
TABLES: dict[Grain, str] = {"minute": MINUTE_TABLE, "hour": HOUR_TABLE}
GRAINS: dict[Grain, timedelta] = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}

#: The latency state: the same reservoir and levels as the raw `quantiles(...)` queries.
LEVELS = "0.5, 0.95, 0.99"
DURATIONS_TYPE = f"AggregateFunction(quantiles({LEVELS}), UInt64)"

#: The group of a call: every column a dashboard filters or groups by.
KEY = (
    "tenant_id",
    "service_id",
    "t",
    "deployment",
    "service",
    "tool",
    "token",
    "status",
    "currency",
)
COLUMNS = (*KEY, "calls", "free_calls", "cost", "durations")

DDL = f"""
CREATE TABLE IF NOT EXISTS {{t}} (
    tenant_id UUID,
    service_id UUID,
    t DateTime('UTC'),
    deployment String,
    service LowCardinality(String),
    tool LowCardinality(String),
    token String,
    status LowCardinality(String),
    currency LowCardinality(String),
    calls UInt64,
    free_calls UInt64,
    cost Decimal(38, 4),
    durations {DURATIONS_TYPE}
) ENGINE = ReplacingMergeTree(calls)
PARTITION BY toYYYYMM(t)
ORDER BY ({", ".join(KEY)})
"""

#: A minute row from the raw calls (read with FINAL).
_FROM_CALLS = f"""
SELECT tenant_id, service_id, toStartOfMinute(occurred_at) AS bucket, deployment, service, tool,
    ifNull(toString(token_id), 'session') AS token_name, status, currency,
    count(), countIf(free = 1), sum(cost), quantilesState({LEVELS})(duration_us)
FROM {{db:Identifier}}.{CALLS_TABLE} FINAL
WHERE occurred_at >= {{lo:DateTime64(6, 'UTC')}} AND occurred_at < {{hi:DateTime64(6, 'UTC')}}
    AND {{where}}
GROUP BY tenant_id, service_id, bucket, deployment, service, tool, token_name, status, currency
"""

#: An hour row from the minute rows (read with FINAL), their states merged.
_FROM_MINUTES = f"""
SELECT tenant_id, service_id, toStartOfHour(t) AS bucket, deployment, service, tool, token,
    status, currency, sum(calls), sum(free_calls), sum(cost),
    quantilesMergeState({LEVELS})(durations)
FROM {{db:Identifier}}.{MINUTE_TABLE} FINAL
WHERE t >= {{lo:DateTime64(6, 'UTC')}} AND t < {{hi:DateTime64(6, 'UTC')}} AND {{where}}
GROUP BY tenant_id, service_id, bucket, deployment, service, tool, token, status, currency
"""

#: A (tenant, bucket) as `{tenant}@{unix seconds}`, to match the buckets a batch touched.
_TOUCHED: dict[Grain, str] = {
    "minute": "concat(toString(tenant_id), '@',"
    " toString(toUnixTimestamp(toStartOfMinute(occurred_at))))",
    "hour": "concat(toString(tenant_id), '@', toString(toUnixTimestamp(toStartOfHour(t))))",
}
_SOURCES: dict[Grain, str] = {"minute": _FROM_CALLS, "hour": _FROM_MINUTES}


def create_rollups(client: Any, database: str) -> bool:
    """Create the rollup tables; True if they were new (the caller then fills them)."""
    existed = bool(client.command(f"EXISTS TABLE {database}.{HOUR_TABLE}"))
    for table in TABLES.values():
        client.command(DDL.format(t=f"{database}.{table}"))
    return not existed


def floor_to(value: datetime, grain: Grain) -> datetime:
    """The start of the bucket `value` falls in (UTC; a naive value is taken as UTC)."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if grain == "minute":
        return value.replace(second=0, microsecond=0)
    return value.replace(minute=0, second=0, microsecond=0)


def ceil_to(value: datetime, grain: Grain) -> datetime:
    """The start of the first bucket at or after `value`."""
    floor = floor_to(value, grain)
    return floor if floor == value else floor + GRAINS[grain]


def roll_up(client: Any, database: str, calls: Iterable[tuple[UUID, datetime]]) -> None:
    """Recompute the minute and hour rows of every (tenant, bucket) these calls fall in.

    `calls` are (tenant id, occurred at) of calls just inserted into the raw table."""
    minutes = {(tenant, floor_to(at, "minute")) for tenant, at in calls}
    if not minutes:
        return
    hours = {(tenant, floor_to(at, "hour")) for tenant, at in minutes}
    _recompute(client, database, "minute", minutes)
    _recompute(client, database, "hour", hours)


def rebuild(client: Any, database: str) -> None:
    """Recompute every rollup row from the raw table, a month at a time (after the rollup
    tables are first created beside a table that already has calls)."""
    months = client.query(
        f"SELECT DISTINCT toStartOfMonth(occurred_at) FROM {{db:Identifier}}.{CALLS_TABLE}"
        " ORDER BY 1",
        parameters={"db": database},
    ).result_rows
    for (month,) in months:
        lo = datetime(month.year, month.month, 1, tzinfo=UTC)
        hi = (
            lo.replace(year=lo.year + 1, month=1)
            if lo.month == 12
            else lo.replace(month=lo.month + 1)
        )
        for grain in TABLES:
            _insert(client, database, grain, "1", {"lo": lo, "hi": hi})


def _recompute(
    client: Any, database: str, grain: Grain, buckets: set[tuple[UUID, datetime]]
) -> None:
    lo = min(at for _, at in buckets)
    hi = max(at for _, at in buckets) + GRAINS[grain]
    keys = sorted(f"{tenant}@{int(at.timestamp())}" for tenant, at in buckets)
    where = f"tenant_id IN {{tenants:Array(UUID)}} AND {_TOUCHED[grain]} IN {{keys:Array(String)}}"
    params = {"lo": lo, "hi": hi, "tenants": sorted({t for t, _ in buckets}), "keys": keys}
    _insert(client, database, grain, where, params)


def _insert(client: Any, database: str, grain: Grain, where: str, params: dict[str, Any]) -> None:
    select = _SOURCES[grain].replace("{where}", where)
    client.command(
        f"INSERT INTO {{db:Identifier}}.{TABLES[grain]} ({', '.join(COLUMNS)}) {select}",
        parameters={"db": database, **params},
    )
