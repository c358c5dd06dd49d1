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

from infra.database import Database
from infra.eventstore import EventStore
from projections import bulk_load
from projections.base import LOG_SOURCE, Projection, schema_exists
from workers.projector import LogProjector, read_after


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
    topics = projection.topics
    bulk_load.begin(conn, shadow)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"replay-{shadow}") as reader:
        following = reader.submit(read_after, events, position, batch_size, topics)
        while (batch := following.result()) is not None:
            envelopes, position = batch
            following = reader.submit(read_after, events, position, batch_size, topics)
            positions = {(LOG_SOURCE, 0): position}
            applied += bulk_load.load_batch(conn, projection, envelopes, positions, shadow)
            if progress is not None:
                progress(position)
    bulk_load.finish(conn, shadow)
    return applied
