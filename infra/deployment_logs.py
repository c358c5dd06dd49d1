"""Instance output into ClickHouse (`deployment_logs`, kept for `RETENTION_DAYS`).

Each pass the deployer (`workers.deployer`) reads what every instance wrote since last
time (`Runtime.read_logs`) and inserts it in one batch. Rows carry the byte offset where
their batch ended: a restarted deployer resumes each instance from the highest offset
stored, and the table is a ReplacingMergeTree keyed by line, so a batch inserted twice
still reads once (queries use FINAL). Rows are not events: output is voluminous and
worthless to replay.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from infra.runtimes.base import Observed, Runtime

log = logging.getLogger("mcps.deployer.logs")

RETENTION_DAYS = 7
LEVELS = ("debug", "info", "warning", "error")

DDL = f"""
CREATE TABLE IF NOT EXISTS deployment_logs (
    tenant_id UUID,
    deployment_id UUID,
    instance_id String,
    at DateTime64(6, 'UTC'),
    line UInt32,
    batch_end UInt64,
    stream LowCardinality(String),
    level LowCardinality(String),
    message String
) ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, deployment_id, instance_id, batch_end, line)
TTL toDateTime(at) + INTERVAL {RETENTION_DAYS} DAY
"""
COLUMNS = [
    "tenant_id",
    "deployment_id",
    "instance_id",
    "at",
    "line",
    "batch_end",
    "stream",
    "level",
    "message",
]


def create_table(clickhouse: Any) -> None:
    clickhouse.command(DDL)


class LogShipper:
    def __init__(self, clickhouse: Any) -> None:
        self.clickhouse = clickhouse
        create_table(clickhouse)
        self.offsets: dict[str, int] = {}

    def ship(self, observed: list[Observed], holder: dict[str, Runtime]) -> int:
        """Insert what the instances wrote since the last call; returns lines shipped.
        `holder` names the runtime holding each instance."""
        holders = {seen.instance_id: seen for seen in observed}
        self._resume([i for i in holders if i not in self.offsets])
        rows: list[list[Any]] = []
        for instance_id, seen in holders.items():
            lines, end = holder[instance_id].read_logs(instance_id, self.offsets[instance_id])
            if end != self.offsets[instance_id]:
                self.offsets[instance_id] = end
                rows += [
                    [
                        seen.tenant_id,
                        seen.deployment_id,
                        instance_id,
                        datetime.fromtimestamp(line.at, UTC),
                        number,
                        end,
                        line.stream,
                        line.level,
                        line.message,
                    ]
                    for number, line in enumerate(lines)
                ]
        for gone in set(self.offsets) - set(holders):
            del self.offsets[gone]
        if rows:
            self.clickhouse.insert("deployment_logs", rows, column_names=COLUMNS)
        return len(rows)

    def _resume(self, instance_ids: list[str]) -> None:
        if not instance_ids:
            return
        stored = self.clickhouse.query(
            "SELECT instance_id, max(batch_end) FROM deployment_logs"
            " WHERE instance_id IN {ids:Array(String)} GROUP BY instance_id",
            parameters={"ids": instance_ids},
        ).result_rows
        ends = {row[0]: int(row[1]) for row in stored}
        for instance_id in instance_ids:
            self.offsets[instance_id] = ends.get(instance_id, 0)


def query_logs(
    clickhouse: Any,
    tenant_id: UUID,
    deployment_id: UUID,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    level: str = "debug",
    instance: str | None = None,
    after: tuple[datetime, str, int, int] | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Oldest first; `after` is the last row's key of a previous read (to follow live)."""
    conditions = ["tenant_id = {tenant:UUID}", "deployment_id = {deployment:UUID}"]
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "deployment": deployment_id,
        "levels": list(LEVELS[LEVELS.index(level) :]),
        "limit": limit,
    }
    conditions.append("level IN {levels:Array(String)}")
    if since is not None:
        conditions.append("at >= {since:DateTime64(6, 'UTC')}")
        params["since"] = since
    if until is not None:
        conditions.append("at < {until:DateTime64(6, 'UTC')}")
        params["until"] = until
    if instance is not None:
        conditions.append("instance_id = {instance:String}")
        params["instance"] = instance
    if after is not None:
        conditions.append(
            "(at, instance_id, batch_end, line) > "
            "({a_at:DateTime64(6, 'UTC')}, {a_instance:String}, {a_end:UInt64}, {a_line:UInt32})"
        )
        params |= dict(zip(("a_at", "a_instance", "a_end", "a_line"), after, strict=True))
    result = clickhouse.query(
        "SELECT at, instance_id, batch_end, line, stream, level, message"
        " FROM deployment_logs FINAL WHERE " + " AND ".join(conditions) + ""
        " ORDER BY at, instance_id, batch_end, line LIMIT {limit:UInt32}",
        parameters=params,
    )
    keys = ("at", "instance", "batch_end", "line", "stream", "level", "message")
    return [dict(zip(keys, row, strict=True)) for row in result.result_rows]
