"""Activity analytics in ClickHouse: one row per event, for dashboards of who does what."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.billing.calls import Call
from projections.base import Envelope
from projections.clickhouse_sink import ClickHouseSink
from projections.events import context_of, type_name


class ActivitySink(ClickHouseSink):
    name = "activity"
    table = "activity_events"
    columns = ["position", "tenant_id", "context", "event_type", "actor", "occurred_at"]
    ddl = """
    CREATE TABLE IF NOT EXISTS {t} (
        position UInt64,
        tenant_id Nullable(UUID),
        context LowCardinality(String),
        event_type LowCardinality(String),
        actor String,
        occurred_at DateTime64(6, 'UTC')
    ) ENGINE = ReplacingMergeTree
    ORDER BY position
    SETTINGS non_replicated_deduplication_window = 1000
    """

    def wants(self, event: object) -> bool:
        """Billed tool calls have their own table (`usage`); here they would drown the rest."""
        return not isinstance(event, Call.Billed)

    def rows(self, envelope: Envelope) -> list[Sequence[Any]]:
        e: Any = envelope.event
        return [
            (
                envelope.notification_id,
                getattr(e, "tenant_id", None),
                context_of(e),
                type_name(e),
                getattr(e, "actor", "system:unknown"),
                e.timestamp,
            )
        ]

    def counts_by_type(self, tenant_id: str | None = None) -> dict[str, int]:
        where = "WHERE tenant_id = {tenant:UUID}" if tenant_id else ""
        result = self.client.query(
            f"SELECT event_type, count() FROM {self.qualified} FINAL {where}"
            " GROUP BY event_type ORDER BY event_type",
            parameters={"tenant": tenant_id} if tenant_id else None,
        )
        return {row[0]: row[1] for row in result.result_rows}
