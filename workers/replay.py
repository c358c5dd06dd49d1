"""Rebuild a read model from position 0 into a shadow schema, then swap it in atomically.

The live read model keeps serving (and its projector keeps applying) until the swap, which
takes the projection's advisory lock, applies the last events under it, and renames schemas
in one transaction; the live projector then resumes on the new schema, where anything it
re-applies is skipped by the per-aggregate version check.

The bulk of a rebuild goes through `projections.bulk_load`: the shadow is new and the log is
read once in order, so a projection may write a batch with COPY (the audit log does), the
version bookkeeping is folded in once at the end, and a thread reads and decodes the next
batch while the current one is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from infra.database import Database
from infra.eventstore import EventStore
from projections import bulk_load
from projections.base import LOG_SOURCE, Envelope, Projection, schema_exists
from workers.projector import LogProjector
from workers.tracked_read import stored_decoder


@dataclass(frozen=True)
class ReplayResult:
    projection: str
    events: int
    position: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def replay(
    events: EventStore,
    db: Database,
    projection: Projection,
    *,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    live, shadow = projection.name, f"{projection.name}__shadow"
    started = time.perf_counter()
    with db.connect_owner(autocommit=True) as conn:
        projection.drop(conn, shadow)
        projection.create(conn, shadow)
        head = events.head()
        loaded = load(
            events,
            db,
            conn,
            projection,
            shadow,
            batch_size,
            progress=(lambda pos: progress(pos, max(head, pos))) if progress else None,
        )
        projector = LogProjector(events, db, projection, batch_size=batch_size, schema=shadow)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [live])
            projector.catch_up(conn)
            position = projector.position(conn)
            if schema_exists(conn, live):
                # Kafka-fed projectors resume from their offsets; the rebuilt rows cover them.
                conn.execute(
                    f"INSERT INTO {shadow}.tracking SELECT * FROM {live}.tracking"
                    " WHERE source <> 'log' ON CONFLICT DO NOTHING"
                )
                conn.execute(f"ALTER SCHEMA {live} RENAME TO {live}__old")
            conn.execute(f"ALTER SCHEMA {shadow} RENAME TO {live}")
            conn.execute(f"DROP SCHEMA IF EXISTS {live}__old CASCADE")
    if progress:
        progress(position, position)
    applied = loaded + projector.applied
    return ReplayResult(live, applied, position, time.perf_counter() - started)


def load(
    events: EventStore,
    db: Database,
    conn: psycopg.Connection[Any],
    projection: Projection,
    shadow: str,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Fill a fresh `shadow` schema from position 0 up to the head; returns events applied.

    Batches are written in log order, one transaction each (`bulk_load.load_batch`), while a
    reader thread fetches the next one, so the database's work on a batch overlaps the reading
    and decoding of the next.
    """
    applied, position = 0, 0
    bulk_load.begin(conn, shadow)
    with (
        db.connect_owner(autocommit=True) as reading,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"replay-{shadow}") as reader,
    ):
        log = _LogReader(events, reading, projection, batch_size)
        following = reader.submit(log.after, position)
        while (batch := following.result()) is not None:
            envelopes, position = batch
            following = reader.submit(log.after, position)
            positions = {(LOG_SOURCE, 0): position}
            applied += bulk_load.load_batch(conn, projection, envelopes, positions, shadow)
            if progress is not None:
                progress(position)
    bulk_load.finish(conn, shadow)
    return applied


class _LogReader:
    """The log in order, batch by batch, the way a replay wants it: tuple rows in binary
    format (no dict per row, no hex-decoded bytea), decoded the projection's way
    (`stored_decoder`: the audit log builds its rows from the stored JSON).

    The head is read first: with the store's table lock every id up to it is committed, so
    a projection whose topics skip the tail can still claim the head as its position.
    """

    def __init__(
        self, events: EventStore, conn: psycopg.Connection[Any], projection: Projection, limit: int
    ) -> None:
        topics = projection.topics
        recorder = events.recorder
        table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
        self._head = sql.SQL("SELECT max(notification_id) FROM {}").format(table)
        self._select = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
            " WHERE notification_id > %s AND notification_id <= %s{}"
            " ORDER BY notification_id LIMIT %s"
        ).format(table, sql.SQL(" AND topic = ANY(%s)") if topics else sql.SQL(""))
        self._topics = topics
        self._decode = stored_decoder(events, projection)
        self._conn = conn
        self._limit = limit

    def after(self, start: int) -> tuple[list[Envelope], int] | None:
        """The next batch after `start` and the position it covers; None when caught up."""
        with self._conn.cursor(row_factory=tuple_row, binary=True) as cur:
            row = cur.execute(self._head, prepare=True).fetchone()
            head = row[0] if row and row[0] is not None else 0
            if head <= start:
                return None
            params: list[Any] = [
                start,
                head,
                *([self._topics] if self._topics else []),
                self._limit,
            ]
            rows = cur.execute(self._select, params, prepare=True).fetchall()
        decode = self._decode
        envelopes = [decode(*row) for row in rows]
        end = envelopes[-1].notification_id if len(envelopes) == self._limit else head
        return envelopes, end
