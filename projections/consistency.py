"""Read-your-writes: has a read model applied everything up to a log position?"""

from __future__ import annotations

import time

from infra.database import Database
from projections.base import LOG_SOURCE, read_positions
from projections.registry import by_name
from projections.watermark import kafka_topics, reached

MAX_POLL_S = 0.01


def log_position(db: Database, projection: str) -> int:
    with db.owner.connection() as conn:
        return read_positions(conn, projection).get((LOG_SOURCE, 0), 0)


def has_reached(
    db: Database, projection: str, position: int, *, distributed: bool, prefix: str = "mcps"
) -> bool:
    read_model = by_name(projection)
    if distributed and not getattr(read_model, "follows_log_only", False):
        with db.owner.connection() as conn:
            return reached(conn, projection, position, kafka_topics(read_model, prefix))
    return log_position(db, projection) >= position


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
