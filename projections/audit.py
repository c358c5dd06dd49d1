"""The audit log: every event, who did it, for which tenant, when and from where."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from domain.billing.calls import Call
from projections.base import TENANT_POLICY, Cursor, Envelope, Projection
from projections.events import public_payload, type_name


class AuditProjection(Projection):
    name = "audit"
    ddl = """
    CREATE TABLE IF NOT EXISTS {s}.audit_view (
        position bigint PRIMARY KEY,
        tenant_id uuid,
        actor text NOT NULL,
        event_type text NOT NULL,
        aggregate_id uuid NOT NULL,
        aggregate_version integer NOT NULL,
        occurred_at timestamptz NOT NULL,
        request_id text,
        correlation_id text,
        client_ip text,
        data jsonb NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_by_tenant ON {s}.audit_view (tenant_id, position DESC);
    """
    policies = {"audit_view": TENANT_POLICY}

    def wants(self, event: object) -> bool:
        """Every event but billed tool calls: those are usage (ClickHouse, `/mcp/history`), and
        at gateway rates they would bury the actions people audit."""
        return not isinstance(event, Call.Billed)

    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        cur.execute(
            f"INSERT INTO {s}.audit_view ({_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            audit_row(envelope),
        )

    def apply_many(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        """The batch streams into a temporary table with COPY, then one INSERT moves it over,
        skipping rows already there as `apply` does: a round trip and a statement per batch,
        where one INSERT per event cost the server ~50 µs each."""
        incoming = f"{s}_audit_incoming"
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {incoming} (LIKE {s}.audit_view)"
            " ON COMMIT DELETE ROWS"
        )
        _copy_rows(cur, incoming, envelopes)
        cur.execute(
            f"INSERT INTO {s}.audit_view ({_COLUMNS}) SELECT {_COLUMNS} FROM {incoming}"
            " ON CONFLICT DO NOTHING"
        )

    def load_many(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        """A replay's rows are all new, so they COPY straight into the view."""
        _copy_rows(cur, f"{s}.audit_view", envelopes)


_COLUMNS = (
    "position, tenant_id, actor, event_type, aggregate_id, aggregate_version, occurred_at,"
    " request_id, correlation_id, client_ip, data"
)


def _copy_rows(cur: Cursor, table: str, envelopes: Sequence[Envelope]) -> None:
    with cur.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN") as copy:
        for envelope in envelopes:
            copy.write_row(audit_row(envelope))


def audit_row(envelope: Envelope) -> tuple[Any, ...]:
    """The audit view's row for one event, in `_COLUMNS` order."""
    e: Any = envelope.event
    return (
        envelope.notification_id,
        getattr(e, "tenant_id", None),
        getattr(e, "actor", "system:unknown"),
        type_name(e),
        e.originator_id,
        e.originator_version,
        e.timestamp,
        getattr(e, "request_id", None),
        getattr(e, "correlation_id", None),
        getattr(e, "client_ip", None),
        Jsonb(public_payload(e), dumps=_dumps),
    )


def _dumps(payload: Any) -> bytes | str:
    """orjson where it can (a third of `json.dumps`' time); jsonb stores the same value."""
    try:
        return orjson.dumps(payload)
    except TypeError:  # e.g. integers beyond 64 bits, which `json` still writes
        return json.dumps(payload)


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    after: int | None = None


def query_audit(
    conn: psycopg.Connection[Any], f: AuditFilter, limit: int, *, newest_first: bool = True
) -> list[dict[str, Any]]:
    """Audit rows visible in the connection's scope, paged by position (the cursor)."""
    clauses, params = ["true"], []
    for clause, value in (
        ("actor = %s", f.actor),
        ("event_type LIKE %s", f"{f.event_type}%" if f.event_type else None),
        ("occurred_at >= %s", f.since),
        ("occurred_at < %s", f.until),
        ("position < %s", f.before),
        ("position > %s", f.after),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    order = "DESC" if newest_first else "ASC"
    rows = conn.execute(
        f"SELECT * FROM audit.audit_view WHERE {' AND '.join(clauses)}"
        f" ORDER BY position {order} LIMIT %s",
        [*params, limit],
    ).fetchall()
    return list(rows)
