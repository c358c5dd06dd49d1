"""What every read model shares: its own schema, idempotent batches, tracking in the same commit.

A projection owns one PostgreSQL schema named after it. Its rows, its tracking positions
(`tracking`: a position per source and partition) and the last version applied per aggregate
(`applied`) live there and change in one transaction, so a batch is applied exactly once in
effect whatever the transport redelivers. Replay builds a shadow schema and swaps it in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
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
#: One writer per projection at a time (a transaction-scoped advisory lock on its name).
LOCK_PROJECTION = "SELECT pg_advisory_xact_lock(hashtext(%s))"

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


#: Builds an envelope from a stored event: (position, originator id, version, topic, state).
StoredDecoder = Callable[[int, UUID, int, str, bytes], Envelope]


class Projection(ABC):
    """A read model: its schema DDL, the events it handles, and how it applies them."""

    name: ClassVar[str]
    #: Event classes handled; empty means every event.
    handles: ClassVar[tuple[type, ...]] = ()
    #: DDL with `{s}` for the schema; runs on create and on replay into a shadow schema.
    ddl: ClassVar[str]
    #: Tables holding tenant rows, and the RLS predicate each one uses.
    policies: ClassVar[dict[str, str]] = {}

    #: False for a read model whose rows turn away a redelivered event themselves (the
    #: ledger's chain, keyed by log position): no per-aggregate version is kept or checked.
    tracks_versions: ClassVar[bool] = True

    #: Event classes not handled where `handles` is empty (every other event is); `wants`
    #: refuses them too. Followers of the log read past them and are not woken for them.
    skips: ClassVar[tuple[type, ...]] = ()

    #: How long a log projector woken by a commit waits before it reads, so that the commits
    #: made meanwhile go in the same batch: fewer, larger transactions for a read model that
    #: can be a little behind.
    linger_s: ClassVar[float] = 0.0

    @cached_property
    def topics(self) -> list[str]:
        return [get_topic(cls) for cls in self.handles]

    @cached_property
    def skipped_topics(self) -> list[str]:
        return [get_topic(cls) for cls in self.skips]

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

    def apply_many(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        """Write what a run of events means, in log order; override to write them in bulk.

        `apply_batch` calls it once per batch with the events that passed the version check
        and that this projection wants. By default each goes through `apply`.
        """
        for envelope in envelopes:
            self.apply(cur, s, envelope)

    def apply_in_pipeline(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        """`apply_many` in psycopg's pipeline mode, which refuses COPY. By default the same;
        a projection whose `apply_many` copies overrides both."""
        self.apply_many(cur, s, envelopes)

    @property
    def applies_per_event(self) -> bool:
        """True unless the projection writes batches itself (overrides `apply_many`): only
        then do its many small statements gain from psycopg's pipeline mode."""
        return type(self).apply_many is Projection.apply_many

    @property
    def pipelines(self) -> bool:
        """Whether a batch can be written in pipeline mode (`apply_in_pipeline`)."""
        return self.applies_per_event or (
            type(self).apply_in_pipeline is not Projection.apply_in_pipeline
        )

    def load_many(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        """`apply_many` into a schema a replay is filling from position 0 (see
        `projections.bulk_load`): its tables hold only earlier events of the same log, so a
        projection may use COPY, which cannot skip conflicting rows. By default, `apply_many`."""
        self.apply_many(cur, s, envelopes)

    def apply_batch(
        self,
        conn: psycopg.Connection[Any],
        envelopes: Sequence[Envelope],
        positions: dict[tuple[str, int], int],
        schema: str | None = None,
    ) -> int:
        """Apply a batch and record where it ends, in one transaction; returns events applied."""
        s = schema or self.name
        with conn.transaction(), conn.cursor() as cur:
            # One writer per projection at a time: the replay swap takes the same lock.
            cur.execute(LOCK_PROJECTION, [self.name])
            versions: dict[UUID, int] = {}
            if self.tracks_versions:
                wanted = {e.event.originator_id for e in envelopes if self.wants(e.event)}
                versions = _load_versions(cur, s, wanted)
            return self.write_batch(cur, s, envelopes, positions, versions)

    def write_batch(
        self,
        cur: Cursor,
        s: str,
        envelopes: Sequence[Envelope],
        positions: dict[tuple[str, int], int],
        versions: dict[UUID, int],
        *,
        pipelined: bool = False,
    ) -> int:
        """`apply_batch` inside a transaction the caller holds, with `LOCK_PROJECTION` taken
        and each aggregate's applied version read (the log projector reads them with the
        events); in pipeline mode if `pipelined`. Returns events applied."""
        changed: dict[UUID, int] = {}
        fresh: list[Envelope] = []
        for envelope in envelopes:
            event = envelope.event
            if not self.wants(event):
                continue  # not ours: no version to keep either (a call is one event each)
            if not self.tracks_versions:
                fresh.append(envelope)
                continue
            seen = changed.get(event.originator_id, versions.get(event.originator_id, 0))
            if event.originator_version <= seen:
                continue  # redelivered: already in the rows
            changed[event.originator_id] = event.originator_version
            fresh.append(envelope)
        if fresh:
            (self.apply_in_pipeline if pipelined else self.apply_many)(cur, s, fresh)
        _save_versions(cur, s, changed)
        _save_positions(cur, s, positions)
        return len(fresh)


def _load_versions(cur: Cursor, s: str, ids: Iterable[UUID]) -> dict[UUID, int]:
    cur.execute(
        f"SELECT originator_id, version FROM {s}.applied WHERE originator_id = ANY(%s)",
        [list(ids)],
    )
    return {row["originator_id"]: row["version"] for row in cur.fetchall()}


def _save_versions(cur: Cursor, s: str, versions: dict[UUID, int]) -> None:
    """Each aggregate's last applied version, in one statement (ids are unique per batch);
    binary parameters, which psycopg dumps several times faster than text arrays."""
    if versions:
        cur.execute(
            f"INSERT INTO {s}.applied (originator_id, version)"
            " SELECT * FROM unnest(%b::uuid[], %b::integer[])"
            " ON CONFLICT (originator_id) DO UPDATE SET version = EXCLUDED.version",
            [list(versions), list(versions.values())],
        )


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
