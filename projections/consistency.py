"""Read-your-writes: has a read model applied everything up to a log position?"""

from __future__ import annotations

import time

from infra.database import Database
from infra.eventstore import EVENTS_TABLE
from projections.base import LOG_SOURCE, read_positions
from projections.registry import by_name
from projections.watermark import kafka_topics, reached

MAX_POLL_S = 0.01

# Whether a read model that follows the log has applied all it handles up to a position, in
# one statement: its tracked position is there, or the position is committed (at most the
# head; under the store's table lock every id up to the head is) and no event it handles
# lies between the two (a log projector moves past others' events only lazily, see
# `workers.projector.IDLE_STEP_S`).
_LOG_REACHED = """
WITH tracked AS (
    SELECT coalesce(max(position), 0) AS position FROM {schema}.tracking
    WHERE source = %(source)s AND part = 0
)
SELECT tracked.position >= %(position)s OR (
    %(filtered)s
    AND %(position)s <= (SELECT coalesce(max(notification_id), 0) FROM {events})
    AND NOT EXISTS (
        SELECT 1 FROM {events}
        WHERE notification_id > tracked.position AND notification_id <= %(position)s
          AND (%(topics)s::text[] IS NULL OR topic = ANY(%(topics)s::text[]))
          AND (%(skipped)s::text[] IS NULL OR topic <> ALL(%(skipped)s::text[]))
    )
) AS reached
FROM tracked
"""


def log_position(db: Database, projection: str) -> int:
    with db.owner.connection() as conn:
        return read_positions(conn, projection).get((LOG_SOURCE, 0), 0)


def has_reached(
    db: Database, projection: str, position: int, *, distributed: bool, prefix: str = "mcps"
) -> bool:
    """Whether the read model has applied every event it handles up to `position`."""
    read_model = by_name(projection)
    with db.owner.connection() as conn:
        if distributed and not getattr(read_model, "follows_log_only", False):
            return reached(conn, projection, position, kafka_topics(read_model, prefix))
        row = conn.execute(
            _LOG_REACHED.format(schema=projection, events=EVENTS_TABLE),
            {
                "source": LOG_SOURCE,
                "position": position,
                # A read model of every event has no others' events to be past.
                "filtered": bool(read_model.topics or read_model.skipped_topics),
                "topics": read_model.topics or None,
                "skipped": read_model.skipped_topics or None,
            },
        ).fetchone()
        return row is not None and bool(row["reached"])


def wait_for_position(
    db: Database,
    projection: str,
    position: int,
    timeout: float,
    *,
    distributed: bool,
    prefix: str = "mcps",
) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not has_reached(db, projection, position, distributed=distributed, prefix=prefix):
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        # The embedded projectors usually catch up within a few ms; a capped backoff adds at
        # most MAX_POLL_S to the wait, one cheap primary-key read per poll.
        delay = min(delay * 2, MAX_POLL_S)
    return True
