"""What every read model shares: its own schema, idempotent batches, tracking in the same commit.

A projection owns one PostgreSQL schema named after it. Its rows, its tracking positions
(`tracking`: a position per source and partition) and the last version applied per aggregate
(`applied`) live there and change in one transaction, so a batch is applied exactly once in
effect whatever the transport redelivers. Replay builds a shadow schema and swaps it in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar
from uuid import UUID

import psycopg
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic

from infra.database import APP_ROLE

Cursor = psycopg.Cursor[dict[str, Any]]

LOG_SOURCE = "log"

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS {s}.tracking (
    source text NOT NULL,
    part integer NOT NULL,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, part)
);
CREATE TABLE IF NOT EXISTS {s}.applied (
    originator_id uuid PRIMARY KEY,
    version integer NOT NULL
);
"""


@dataclass(frozen=True)
class Envelope:
    """One event as a projection sees it: decoded, with its place in the log."""

    notification_id: int
    event: DomainEventProtocol[UUID]
    #: The stored form (topic and state bytes) the event was decoded from.
    topic: str = ""
    state: bytes = b""

    @property
    def type_name(self) -> str:
        return type(self.event).__qualname__


class Projection(ABC):
    """A read model: its schema DDL, the events it handles, and how it applies them."""

    name: ClassVar[str]
    #: Event classes handled; empty means every event.
    handles: ClassVar[tuple[type, ...]] = ()
    #: DDL with `{s}` for the schema; runs on create and on replay into a shadow schema.
    ddl: ClassVar[str]
    #: Tables holding tenant rows, and the RLS predicate each one uses.
    policies: ClassVar[dict[str, str]] = {}

    @cached_property
    def topics(self) -> list[str]:
        return [get_topic(cls) for cls in self.handles]

    def wants(self, event: object) -> bool:
        return not self.handles or isinstance(event, self.handles)

    @abstractmethod
    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        """Write what one event means into the rows of schema `s`."""

    # --- schema ----------------------------------------------------------------------------

    def create(self, conn: psycopg.Connection[Any], schema: str | None = None) -> None:
        s = schema or self.name
        with conn.transaction():
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            for statement in _split(_BOOKKEEPING.format(s=s) + self.ddl.format(s=s)):
                conn.execute(statement)
            self._secure(conn, s)

    def _secure(self, conn: psycopg.Connection[Any], s: str) -> None:
        """Row-level security, forced even for the owner; the app role may only read."""
        for table, predicate in self.policies.items():
            conn.execute(f"ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY")
            conn.execute(f"ALTER TABLE {s}.{table} FORCE ROW LEVEL SECURITY")
            conn.execute(f"DROP POLICY IF EXISTS scoped ON {s}.{table}")
            predicate = predicate.replace("{s}", s)  # a predicate may read a sibling table
            conn.execute(f"CREATE POLICY scoped ON {s}.{table} USING ({predicate})")
        conn.execute(f"GRANT USAGE ON SCHEMA {s} TO {APP_ROLE}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {APP_ROLE}")

    def drop(self, conn: psycopg.Connection[Any], schema: str) -> None:
        with conn.transaction():
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    # --- applying ------------------------------------------------------------------------

    def apply_batch(
        self,
        conn: psycopg.Connection[Any],
        envelopes: Sequence[Envelope],
        positions: dict[tuple[str, int], int],
        schema: str | None = None,
    ) -> int:
        """Apply a batch and record where it ends, in one transaction; returns events applied."""
        s = schema or self.name
        applied_count = 0
        with conn.transaction(), conn.cursor() as cur:
            # One writer per projection at a time: the replay swap takes the same lock.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self.name])
            versions = _load_versions(cur, s, {e.event.originator_id for e in envelopes})
            changed: dict[UUID, int] = {}
            for envelope in envelopes:
                event = envelope.event
                seen = changed.get(event.originator_id, versions.get(event.originator_id, 0))
                if event.originator_version <= seen:
                    continue  # redelivered: already in the rows
                changed[event.originator_id] = event.originator_version
                if self.wants(event):
                    self.apply(cur, s, envelope)
                    applied_count += 1
            if changed:
                cur.executemany(
                    f"INSERT INTO {s}.applied (originator_id, version) VALUES (%s, %s) "
                    "ON CONFLICT (originator_id) DO UPDATE SET version = EXCLUDED.version",
                    list(changed.items()),
                )
            _save_positions(cur, s, positions)
        return applied_count


def _load_versions(cur: Cursor, s: str, ids: Iterable[UUID]) -> dict[UUID, int]:
    cur.execute(
        f"SELECT originator_id, version FROM {s}.applied WHERE originator_id = ANY(%s)",
        [list(ids)],
    )
    return {row["originator_id"]: row["version"] for row in cur.fetchall()}


def _save_positions(cur: Cursor, s: str, positions: dict[tuple[str, int], int]) -> None:
    if positions:
        cur.executemany(
            f"INSERT INTO {s}.tracking (source, part, position) VALUES (%s, %s, %s) "
            "ON CONFLICT (source, part) DO UPDATE "
            f"SET position = GREATEST({s}.tracking.position, EXCLUDED.position),"
            " updated_at = now()",
            [(source, part, position) for (source, part), position in positions.items()],
        )


def read_positions(conn: psycopg.Connection[Any], schema: str) -> dict[tuple[str, int], int]:
    rows = conn.execute(f"SELECT source, part, position FROM {schema}.tracking").fetchall()
    return {(r["source"], r["part"]): r["position"] for r in rows}  # type: ignore[call-overload]


def schema_exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [schema]
    ).fetchone()
    return row is not None


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]


TENANT_POLICY = "tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid"
USER_POLICY = "user_id = nullif(current_setting('app.user_id', true), '')::uuid"
