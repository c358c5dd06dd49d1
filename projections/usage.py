"""Usage in ClickHouse: one row per billed tool call, for analytics, history and quotas.

A call is an aggregate of one event (`Call.Billed`), so its id identifies the row: the table
is a ReplacingMergeTree sorted by (tenant, day, call id), all fixed for a call, and a batch
re-sent after a crash (insert done, checkpoint lost) replaces itself instead of counting
twice. Queries read it with FINAL (`projections/usage_queries.py`).

Money goes in as `Decimal` (Decimal(18, 4) columns); a float never touches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.billing.calls import Call
from projections.base import Envelope
from projections.clickhouse_sink import ClickHouseSink

#: Stands in for a missing tenant, which a billed call should never lack: the row still
#: counts in the totals (so they match the store) and is easy to find.
NO_TENANT = UUID(int=0)

TABLE = "calls"


class UsageSink(ClickHouseSink):
    name = "usage"
    table = TABLE
    handles = (Call.Billed,)
    columns = [
        "call_id",
        "position",
        "tenant_id",
        "deployment_id",
        "deployment",
        "service_id",
        "service",
        "version",
        "tool",
        "token_id",
        "instance_id",
        "status",
        "error_code",
        "duration_us",
        "request_bytes",
        "response_bytes",
        "unit_price",
        "cost",
        "currency",
        "free",
        "occurred_at",
    ]
    ddl = """
    CREATE TABLE IF NOT EXISTS {t} (
        call_id UUID,
        position UInt64,
        tenant_id UUID,
        deployment_id UUID,
        deployment String,
        service_id UUID,
        service LowCardinality(String),
        version LowCardinality(String),
        tool LowCardinality(String),
        token_id Nullable(UUID),
        instance_id Nullable(String),
        status LowCardinality(String),
        error_code LowCardinality(Nullable(String)),
        duration_us UInt64,
        request_bytes UInt64,
        response_bytes UInt64,
        unit_price Decimal(18, 4),
        cost Decimal(18, 4),
        currency LowCardinality(String),
        free UInt8,
        occurred_at DateTime64(6, 'UTC')
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(occurred_at)
    ORDER BY (tenant_id, toDate(occurred_at), call_id)
    SETTINGS non_replicated_deduplication_window = 1000
    """

    def rows(self, envelope: Envelope) -> list[Sequence[Any]]:
        e: Any = envelope.event
        return [
            (
                e.originator_id,
                envelope.notification_id,
                e.tenant_id or NO_TENANT,
                e.deployment_id,
                e.deployment,
                e.service_id,
                e.service,
                e.version,
                e.tool,
                e.token_id,
                e.instance_id,
                e.status,
                e.error_code,
                e.duration_us,
                e.request_bytes,
                e.response_bytes,
                Decimal(e.unit_price),
                Decimal(e.cost),
                e.currency,
                1 if e.free else 0,
                e.timestamp,
            )
        ]
