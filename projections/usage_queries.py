"""Queries over the usage table (`projections/usage.py`): analytics, call history, quotas.

Pure functions of a ClickHouse client and the database name. Every value from a caller goes
in as a bound parameter; the only SQL chosen here (bucket and group expressions) comes from
fixed tables keyed by validated names. The table is read with FINAL, so a call the sink
wrote twice (a batch re-sent after a crash) counts once.

Two views: a tenant's own calls (`tenant_id`), and a publisher's view of its service across
tenants (`service_id` without `tenant_id`), which never shows which tenant or token called.
Money is a Decimal string with four places, per currency; amounts in different currencies
are never added together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from domain.shared.errors import InvalidInputError, NotFoundError
from projections.usage import TABLE

Metric = Literal["calls", "latency", "errors", "cost"]
Interval = Literal["minute", "hour", "day"]
GroupBy = Literal["deployment", "service", "tool", "token"]

METRICS: tuple[Metric, ...] = ("calls", "latency", "errors", "cost")
INTERVALS: dict[Interval, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
MAX_RANGE = timedelta(days=400)
MAX_BUCKETS = 10_000
#: Statuses the service did the work for: charged, and counted against a free quota.
CHARGEABLE = ("ok", "tool_error")

_BUCKET: dict[Interval, str] = {
    "minute": "toStartOfMinute(occurred_at)",
    "hour": "toStartOfHour(occurred_at)",
    "day": "toStartOfDay(occurred_at)",
}
#: A tool is named with its service: two services may well both have a `search` tool.
#: A call made in a signed-in session (no token) groups as `session`.
_GROUP: dict[GroupBy, str] = {
    "deployment": "deployment",
    "service": "service",
    "tool": "concat(service, '/', tool)",
    "token": "ifNull(toString(token_id), 'session')",
}
#: Groups that would tell a publisher who its callers are.
_TENANT_ONLY: frozenset[GroupBy] = frozenset({"deployment", "token"})

_AGGREGATES: dict[Metric, str] = {
    "calls": "count()",
    "latency": "count(), quantiles(0.5, 0.95, 0.99)(duration_us)",
    "errors": "count(), countIf(status != 'ok'), countIf(status = 'tool_error'),"
    " countIf(status = 'upstream_error'), countIf(status = 'timeout')",
    "cost": "count(), countIf(free = 1), sum(cost)",
}
_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class UsageQueryError(InvalidInputError):
    code = "analytics.invalid"


class UnknownMetricError(NotFoundError):
    code = "analytics.unknown_metric"


class InvalidRangeError(UsageQueryError):
    code = "analytics.invalid_range"


class RangeTooLargeError(UsageQueryError):
    code = "analytics.range_too_large"


class GroupingNotAllowedError(UsageQueryError):
    code = "analytics.group_by_not_allowed"


class InvalidCursorError(UsageQueryError):
    code = "validation_failed"


# --- analytics ---------------------------------------------------------------------------


def check_metric(name: str) -> Metric:
    """The metric of that name, or `UnknownMetricError` naming the ones there are."""
    for metric in METRICS:
        if name == metric:
            return metric
    raise UnknownMetricError(
        f"there is no metric {name[:40]!r}; use one of {', '.join(METRICS)}", field="metric"
    )


def check_range(start: datetime, end: datetime, interval: Interval) -> int:
    """The number of buckets the range spans; refuses empty, too long or too fine ranges."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRangeError("from and to need a time zone, e.g. 2026-01-01T00:00:00Z")
    if end <= start:
        raise InvalidRangeError("to must be after from", field="to")
    if end - start > MAX_RANGE:
        raise RangeTooLargeError(
            f"the range spans more than {MAX_RANGE.days} days; ask for a shorter one",
            field="from",
        )
    step = INTERVALS[interval]
    buckets = -((start - end) // step)  # ceiling division
    if buckets > MAX_BUCKETS:
        raise RangeTooLargeError(
            f"the range holds {buckets} {interval} buckets (at most {MAX_BUCKETS});"
            " ask for a coarser interval or a shorter range",
            field="interval",
        )
    return buckets


def analytics(
    client: Any,
    db: str,
    *,
    metric: Metric,
    tenant_id: UUID | None = None,
    service_id: UUID | None = None,
    start: datetime,
    end: datetime,
    interval: Interval = "hour",
    group_by: GroupBy | None = None,
) -> list[dict[str, Any]]:
    """The metric per time bucket (and group), oldest first: one dict per bucket with calls.

    Each has `t` (the bucket's start, UTC), `group` (None without `group_by`) and the
    metric's fields: `calls`; `latency`: `calls, p50_ms, p95_ms, p99_ms`; `errors`: `calls,
    errors, error_rate, tool_errors, upstream_errors, timeouts`; `cost`: `calls, free_calls,
    cost, currency` (one dict per currency). Buckets without calls are left out.
    Without `tenant_id` (the publisher view) grouping by deployment or token is refused.
    """
    metric = check_metric(metric)
    check_range(start, end, interval)
    if group_by is not None and tenant_id is None and group_by in _TENANT_ONLY:
        raise GroupingNotAllowedError(
            f"a publisher's analytics cannot be grouped by {group_by}: that is the callers'"
            " business; use service or tool",
            field="group_by",
        )
    keys = [f"{_BUCKET[interval]} AS t"]
    keys.append(f"{_GROUP[group_by]} AS g" if group_by else "CAST(NULL, 'Nullable(String)') AS g")
    if metric == "cost":
        keys.append("currency")
    where, params = _scope(db, tenant_id, service_id, start, end)
    sql = (
        f"SELECT {', '.join(keys)}, {_AGGREGATES[metric]} FROM {{db:Identifier}}.{TABLE} FINAL"
        f" WHERE {where} GROUP BY ALL ORDER BY t, g{', currency' if metric == 'cost' else ''}"
    )
    buckets = []
    for row in client.query(sql, parameters=params).result_rows:
        point: dict[str, Any] = {"t": _utc(row[0]), "group": row[1]}
        point.update(_values(metric, row[2:]))
        buckets.append(point)
    return buckets


def summary(
    client: Any,
    db: str,
    *,
    metric: Metric,
    tenant_id: UUID | None = None,
    service_id: UUID | None = None,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """The metric over the whole range: the fields of one bucket; `cost` has `totals`, one
    `{cost, currency, calls, free_calls}` per currency."""
    where, params = _scope(db, tenant_id, service_id, start, end)
    select = f"currency, {_AGGREGATES[metric]}" if metric == "cost" else _AGGREGATES[metric]
    sql = f"SELECT {select} FROM {{db:Identifier}}.{TABLE} FINAL WHERE {where}"
    if metric == "cost":
        rows = client.query(sql + " GROUP BY currency ORDER BY currency", parameters=params)
        per_currency = [_values("cost", row) for row in rows.result_rows]
        return {"calls": sum(t["calls"] for t in per_currency), "totals": per_currency}
    row = client.query(sql, parameters=params).result_rows[0]
    return _values(metric, row)


def top_tools(
    client: Any,
    db: str,
    *,
    tenant_id: UUID | None = None,
    service_id: UUID | None = None,
    start: datetime,
    end: datetime,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """The most called tools in the range: `service, tool, calls, errors, error_rate, p95_ms`."""
    where, params = _scope(db, tenant_id, service_id, start, end)
    rows = client.query(
        "SELECT service, tool, count() AS calls, countIf(status != 'ok') AS errors,"
        f" quantile(0.95)(duration_us) FROM {{db:Identifier}}.{TABLE} FINAL WHERE {where}"
        " GROUP BY service, tool ORDER BY calls DESC, service, tool LIMIT {limit:UInt32}",
        parameters={**params, "limit": limit},
    ).result_rows
    return [
        {
            "service": service,
            "tool": tool,
            "calls": calls,
            "errors": errors,
            "error_rate": _rate(errors, calls),
            "p95_ms": _ms(p95),
        }
        for service, tool, calls, errors, p95 in rows
    ]


def _scope(
    db: str, tenant_id: UUID | None, service_id: UUID | None, start: datetime, end: datetime
) -> tuple[str, dict[str, Any]]:
    where = [
        "occurred_at >= {start:DateTime64(6, 'UTC')}",
        "occurred_at < {end:DateTime64(6, 'UTC')}",
    ]
    params: dict[str, Any] = {"db": _database(db), "start": _utc(start), "end": _utc(end)}
    if tenant_id is not None:
        where.append("tenant_id = {tenant:UUID}")
        params["tenant"] = tenant_id
    if service_id is not None:
        where.append("service_id = {service:UUID}")
        params["service"] = service_id
    return " AND ".join(where), params


def _values(metric: Metric, row: Sequence[Any]) -> dict[str, Any]:
    """A bucket's fields from the aggregates of `_AGGREGATES[metric]` (cost: currency first)."""
    if metric == "calls":
        return {"calls": row[0]}
    if metric == "latency":
        calls, (p50, p95, p99) = row[0], row[1]
        if not calls:
            return {"calls": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None}
        return {"calls": calls, "p50_ms": _ms(p50), "p95_ms": _ms(p95), "p99_ms": _ms(p99)}
    if metric == "errors":
        calls, errors, tool_errors, upstream_errors, timeouts = row
        return {
            "calls": calls,
            "errors": errors,
            "error_rate": _rate(errors, calls),
            "tool_errors": tool_errors,
            "upstream_errors": upstream_errors,
            "timeouts": timeouts,
        }
    currency, calls, free_calls, cost = row
    return {"calls": calls, "free_calls": free_calls, "cost": money(cost), "currency": currency}


# --- history -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryCursor:
    """Where a page of history ended: the last call's time and id (ids break ties)."""

    occurred_at: datetime
    call_id: UUID

    def encode(self) -> str:
        micros = (_utc(self.occurred_at) - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}_{self.call_id.hex}"

    @classmethod
    def decode(cls, value: str) -> HistoryCursor:
        micros, _, call_id = value.partition("_")
        try:
            if not (micros.isascii() and micros.isdigit() and len(micros) <= 18):
                raise ValueError(micros)
            return cls(_EPOCH + timedelta(microseconds=int(micros)), UUID(hex=call_id))
        except (ValueError, OverflowError):
            raise InvalidCursorError("cursor: not a cursor from this API", field="cursor") from None


@dataclass(frozen=True)
class HistoryPage:
    calls: list[dict[str, Any]]
    #: Pass as `before` for the next (older) page; None on the last page.
    next_cursor: str | None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HISTORY_COLUMNS = (
    "call_id",
    "deployment",
    "service",
    "version",
    "tool",
    "status",
    "error_code",
    "duration_us",
    "cost",
    "currency",
    "occurred_at",
    "token_id",
)


def history(
    client: Any,
    db: str,
    tenant_id: UUID,
    *,
    limit: int,
    tool: str | None = None,
    status: str | None = None,
    before: str | None = None,
) -> HistoryPage:
    """A tenant's calls, newest first; `before` is the `next_cursor` of the previous page."""
    where = ["tenant_id = {tenant:UUID}"]
    params: dict[str, Any] = {"db": _database(db), "tenant": tenant_id, "limit": limit + 1}
    if tool is not None:
        where.append("tool = {tool:String}")
        params["tool"] = tool
    if status is not None:
        where.append("status = {status:String}")
        params["status"] = status
    if before is not None:
        after = HistoryCursor.decode(before)
        where.append("(occurred_at, call_id) < ({at:DateTime64(6, 'UTC')}, {id:UUID})")
        params.update(at=after.occurred_at, id=after.call_id)
    rows = client.query(
        f"SELECT {', '.join(_HISTORY_COLUMNS)} FROM {{db:Identifier}}.{TABLE} FINAL"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY occurred_at DESC, call_id DESC LIMIT {limit:UInt32}",
        parameters=params,
    ).result_rows
    calls = [_call(dict(zip(_HISTORY_COLUMNS, row, strict=True))) for row in rows[:limit]]
    more = len(rows) > limit
    last = calls[-1] if calls and more else None
    next_cursor = HistoryCursor(last["occurred_at"], last["call_id"]).encode() if last else None
    return HistoryPage(calls=calls, next_cursor=next_cursor)


def _call(row: Mapping[str, Any]) -> dict[str, Any]:
    call = {k: v for k, v in row.items() if k != "duration_us"}
    call["duration_ms"] = _ms(row["duration_us"])
    call["cost"] = money(row["cost"])
    call["occurred_at"] = _utc(row["occurred_at"])
    return call


# --- quotas and checks ------------------------------------------------------------------------


def free_calls_used(
    client: Any, db: str, tenant_id: UUID, service_id: UUID, month_start: datetime
) -> int:
    """The tenant's chargeable calls to the service in the calendar month (UTC) starting at
    `month_start`: what a FREEMIUM quota has used up."""
    result = client.query(
        f"SELECT count() FROM {{db:Identifier}}.{TABLE} FINAL"
        " WHERE tenant_id = {tenant:UUID} AND service_id = {service:UUID}"
        " AND status IN {chargeable:Array(String)}"
        " AND occurred_at >= {month:DateTime64(6, 'UTC')}"
        " AND occurred_at < addMonths({month:DateTime64(6, 'UTC')}, 1)",
        parameters={
            "db": _database(db),
            "tenant": tenant_id,
            "service": service_id,
            "chargeable": list(CHARGEABLE),
            "month": _utc(month_start),
        },
    )
    return int(result.result_rows[0][0])


def totals(client: Any, db: str, tenant_id: UUID | None = None) -> tuple[int, Decimal]:
    """How many calls, and their summed cost (all currencies), for consistency checks."""
    where = " WHERE tenant_id = {tenant:UUID}" if tenant_id is not None else ""
    params: dict[str, Any] = {"db": _database(db)}
    if tenant_id is not None:
        params["tenant"] = tenant_id
    count, cost = client.query(
        f"SELECT count(), sum(cost) FROM {{db:Identifier}}.{TABLE} FINAL{where}",
        parameters=params,
    ).result_rows[0]
    return int(count), Decimal(cost)


# --- values ------------------------------------------------------------------------------


def money(value: Decimal | int) -> str:
    """Four decimal places, as stored; never through a float."""
    return f"{Decimal(value).quantize(Decimal('0.0001')):f}"


def _ms(micros: float | None) -> float | None:
    if micros is None or micros != micros:  # NaN: no rows
        return None
    return round(float(micros) / 1000, 3)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _utc(value: datetime) -> datetime:
    """ClickHouse reads and returns naive datetimes as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _database(db: str) -> str:
    if not _DATABASE.fullmatch(db):
        raise ValueError(f"not a ClickHouse database name: {db!r}")
    return db
