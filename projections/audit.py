"""The audit log: every event, who did it, for which tenant, when and from where."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from domain.billing.calls import Call
from domain.shared.sealed import Sealer
from projections.base import TENANT_POLICY, Cursor, Envelope, Projection, StoredDecoder
from projections.events import METADATA_FIELDS, public_payload, type_name


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
    skips = (Call.Billed,)

    def wants(self, event: object) -> bool:
        """Every event but billed tool calls: those are usage (ClickHouse, `/mcp/history`), and
        at gateway rates they would bury the actions people audit."""
        if type(event) is AuditedEvent:
            return event.row is not None
        return not isinstance(event, Call.Billed)

    def stored_decoder(self, mapper: Mapper[UUID]) -> StoredDecoder:
        """Envelopes straight from the stored form (see `AuditedEvent`); the workers that
        read the log or Kafka use this instead of the store's mapper."""
        return _StoredDecoder(mapper)

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

    def apply_in_pipeline(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        """One INSERT of the batch from column arrays, skipping rows already there: what
        `apply_many` does, in a statement pipeline mode takes. The log projector writes its
        live batches so, in one transaction of two round trips."""
        columns = [list(column) for column in zip(*map(audit_row, envelopes), strict=True)]
        cur.execute(_INSERT_FROM_ARRAYS.format(s=s), columns)

    def load_many(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        """A replay's rows are all new, so they COPY straight into the view."""
        _copy_rows(cur, f"{s}.audit_view", envelopes)


_COLUMNS = (
    "position, tenant_id, actor, event_type, aggregate_id, aggregate_version, occurred_at,"
    " request_id, correlation_id, client_ip, data"
)
_INSERT_FROM_ARRAYS = (
    f"INSERT INTO {{s}}.audit_view ({_COLUMNS}) SELECT * FROM unnest("
    "%s::bigint[], %s::uuid[], %s::text[], %s::text[], %s::uuid[], %s::integer[],"
    " %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::jsonb[]"
    ") ON CONFLICT DO NOTHING"
)


def _copy_rows(cur: Cursor, table: str, envelopes: Sequence[Envelope]) -> None:
    with cur.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN") as copy:
        for envelope in envelopes:
            copy.write_row(audit_row(envelope))


def audit_row(envelope: Envelope) -> tuple[Any, ...]:
    """The audit view's row for one event, in `_COLUMNS` order."""
    e: Any = envelope.event
    if type(e) is AuditedEvent:
        return e.row  # type: ignore[return-value]  # wanted events only (`wants`)
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
        _dumps(public_payload(e)),
    )


def _dumps(payload: Any) -> str:
    """The payload as JSON text, which the `data` column (jsonb) parses: orjson where it can
    (a third of `json.dumps`' time), and text rather than a `Jsonb` wrapper, which COPY
    would dump through a Python call per row."""
    try:
        return orjson.dumps(payload).decode()
    except TypeError:  # e.g. integers beyond 64 bits, which `json` still writes
        return json.dumps(payload)


# --- rows straight from the stored form ------------------------------------------------------


class AuditedEvent:
    """What the audit log needs of one event, read from its stored form without building
    the domain event: the id and version (for the per-aggregate version check) and its
    audit row, or None for an event the log leaves out (`wants`). Reconstructing the event
    (the store's JSON transcoder with a Python hook per object, a `UUID` per id) and then
    walking it again for `public_payload` cost more than half of a replay's Python."""

    __slots__ = ("originator_id", "originator_version", "row")

    def __init__(self, originator_id: UUID, originator_version: int, row: tuple[Any, ...] | None):
        self.originator_id = originator_id
        self.originator_version = originator_version
        self.row = row


class _Slow(Exception):
    """This event's row must come from the decoded domain event (`audit_row`)."""


@dataclass(frozen=True)
class _TopicInfo:
    event_type: str
    skipped: bool
    class_version: int
    #: The class itself answers a row field its state may lack (`getattr`): decode it.
    slow: bool


_ROW_FIELDS = ("tenant_id", "actor", "timestamp", "request_id", "correlation_id", "client_ip")


class _StoredDecoder:
    """The same row as `audit_row` of the decoded event, from the state's JSON.

    The state is the store's JSON (`JSONTranscoder`): UUIDs, datetimes and decimals are
    objects `{"_type_": name, "_data_": text}`. The payload transcodes them to what
    `public_payload` shows (`str(uuid)`, `isoformat()`); everything else passes through.
    Whatever this cannot reproduce exactly goes the slow way: an event to upcast, a
    decimal, a float (orjson reads integers beyond 64 bits as floats, where `json` keeps
    them), a metadata field that is not a plain string, JSON orjson refuses, an unknown type.
    `tests/unit/test_audit_rows.py` holds both ways equal over every event class.
    """

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        self._topics: dict[str, _TopicInfo] = {}

    def __call__(
        self, position: int, originator_id: UUID, originator_version: int, topic: str, state: bytes
    ) -> Envelope:
        info = self._topics.get(topic) or self._learn(topic)
        if info.skipped:
            skipped = AuditedEvent(originator_id, originator_version, None)
            return Envelope(position, skipped, topic, state)
        try:
            if info.slow:
                raise _Slow
            row = self._row(info, position, originator_id, originator_version, state)
        except _Slow:
            stored = StoredEvent(originator_id, originator_version, topic, state)
            return Envelope(position, self._mapper.to_domain_event(stored), topic, state)
        event = AuditedEvent(originator_id, originator_version, row)
        return Envelope(position, event, topic, state)

    def _learn(self, topic: str) -> _TopicInfo:
        cls = resolve_topic(topic)
        sample = object.__new__(cls)
        info = _TopicInfo(
            event_type=type_name(sample),
            skipped=not AuditProjection().wants(sample),
            class_version=getattr(cls, "class_version", 1),
            slow=any(hasattr(cls, f) for f in _ROW_FIELDS),
        )
        self._topics[topic] = info
        return info

    def _row(
        self,
        info: _TopicInfo,
        position: int,
        originator_id: UUID,
        originator_version: int,
        state: bytes,
    ) -> tuple[Any, ...]:
        try:
            raw = orjson.loads(state)
        except orjson.JSONDecodeError:
            raise _Slow from None
        if type(raw) is not dict or raw.pop("class_version", 1) < info.class_version:
            raise _Slow  # the class upcasts older states
        get = raw.get
        tenant_id, actor = get("tenant_id"), get("actor", "system:unknown")
        request_id, correlation_id, client_ip = (
            get("request_id"),
            get("correlation_id"),
            get("client_ip"),
        )
        for value in (tenant_id, actor, request_id, correlation_id, client_ip):
            if value is not None and type(value) is not str:
                raise _Slow
        payload = {}
        for key, value in raw.items():
            if key in METADATA_FIELDS:
                continue
            kind = type(value)
            if key.endswith("_hash") or (kind is str and Sealer.is_sealed(value)):
                payload[key] = "[redacted]"
            elif kind is str or value is None or kind is int or kind is bool:
                payload[key] = value  # most values: no call to `_public`
            else:
                payload[key] = _public(value)
        return (
            position,
            tenant_id,
            actor,
            info.event_type,
            originator_id,
            originator_version,
            _datetime(get("timestamp")),
            request_id,
            correlation_id,
            client_ip,
            orjson.dumps(payload).decode(),
        )


_HEX32 = re.compile("[0-9a-f]{32}")


def _public(value: Any) -> Any:
    """A stored JSON value as `public_payload` shows the decoded one."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            name, data = value["_type_"], value["_data_"]
            if name == "uuid_hex" and type(data) is str:
                if _HEX32.fullmatch(data):  # what `UUID.hex` writes: `str(UUID(data))`, cheaper
                    return f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}"
                return str(UUID(data))
            if name == "datetime_iso":
                return _datetime(value).isoformat()
            raise _Slow  # decimals (which the payload cannot hold anyway), unknown types
        return {key: _public(v) for key, v in value.items()}
    if kind is list:
        return [_public(v) for v in value]
    raise _Slow  # floats: see `_StoredDecoder`


def _datetime(value: Any) -> datetime:
    if type(value) is dict and len(value) == 2 and value.get("_type_") == "datetime_iso":
        data = value.get("_data_")
        if type(data) is str:
            return datetime.fromisoformat(data)
    raise _Slow


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
