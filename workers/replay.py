"""Rebuild a read model from position 0 into a shadow schema, then swap it in atomically.

The live read model keeps serving (and its projector keeps applying) until the swap, which
takes the projection's advisory lock, applies the last events under it, and renames schemas
in one transaction; the live projector then resumes on the new schema, where anything it
re-applies is skipped by the per-aggregate version check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from infra.database import Database
from infra.eventstore import EventStore
from projections.base import Projection, schema_exists
from workers.projector import LogProjector


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
        projector = LogProjector(events, db, projection, batch_size=batch_size, schema=shadow)
        head = events.head()
        projector.catch_up(
            conn, progress=(lambda pos: progress(pos, max(head, pos))) if progress else None
        )
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
    return ReplayResult(live, projector.applied, position, time.perf_counter() - started)
