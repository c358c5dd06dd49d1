"""Projectors that follow the PostgreSQL notification log (embedded mode, ledger, replay)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from infra.database import Database
from infra.eventstore import NOTIFY_CHANNEL, EventStore
from projections.base import LOG_SOURCE, Envelope, Projection, read_positions

log = logging.getLogger(__name__)


class LogProjector:
    """Reads the log after its tracked position and applies it in batches, one commit each.

    Give it an autocommit connection: each batch is then its own transaction, and inside a
    caller's transaction (the replay swap) batches nest as savepoints.
    """

    def __init__(
        self,
        events: EventStore,
        db: Database,
        projection: Projection,
        *,
        batch_size: int = 1000,
        schema: str | None = None,
    ) -> None:
        self.events = events
        self.db = db
        self.projection = projection
        self.batch_size = batch_size
        self.schema = schema or projection.name
        self.applied = 0

    def position(self, conn: psycopg.Connection[Any]) -> int:
        return read_positions(conn, self.schema).get((LOG_SOURCE, 0), 0)

    def run_once(self, conn: psycopg.Connection[Any], upto: int | None = None) -> int:
        """Apply one batch; returns how many notifications were read (0 when caught up)."""
        start = self.position(conn)
        # Read the head first: with the store's table lock every id up to it is committed, so a
        # projection whose topics skip the tail can still claim the head as its position.
        head = self.events.head() if upto is None else upto
        if head <= start:
            return 0
        notifications = self.events.recorder.select_notifications(
            start=start,
            limit=self.batch_size,
            stop=head,
            topics=self.projection.topics,
            inclusive_of_start=False,
        )
        envelopes = [Envelope(n.id, self.events.decode(n), n.topic, n.state) for n in notifications]
        end = envelopes[-1].notification_id if len(envelopes) == self.batch_size else head
        self.applied += self.projection.apply_batch(
            conn, envelopes, {(LOG_SOURCE, 0): end}, schema=self.schema
        )
        return max(len(envelopes), 1)

    def catch_up(
        self,
        conn: psycopg.Connection[Any],
        upto: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        while self.run_once(conn, upto):
            if progress is not None:
                progress(self.position(conn))

    def run(self, stop: threading.Event) -> None:
        """Follow the log until `stop` is set, waking on the store's NOTIFY."""
        while not stop.is_set():
            try:
                with (
                    self.db.connect_owner(autocommit=True) as conn,
                    self.db.connect_owner(autocommit=True) as listener,
                ):
                    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not stop.is_set():
                        if self.run_once(conn):
                            continue
                        for _ in listener.notifies(timeout=0.5, stop_after=1):
                            pass
            except psycopg.OperationalError as error:
                log.warning("projector %s lost its connection: %s", self.projection.name, error)
                stop.wait(1.0)
            except Exception:
                log.exception("projector %s failed; retrying", self.projection.name)
                stop.wait(1.0)


def start_log_projectors(
    events: EventStore, db: Database, projections: list[Projection], stop: threading.Event
) -> list[threading.Thread]:
    threads = []
    for projection in projections:
        projector = LogProjector(events, db, projection)
        thread = threading.Thread(
            target=projector.run, args=(stop,), name=f"project-{projection.name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
