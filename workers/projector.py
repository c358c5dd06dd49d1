"""Projectors that follow the PostgreSQL notification log (embedded mode, ledger, replay)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.utils import get_topic

from infra.database import Database
from infra.eventstore import EventStore, log_follower, wait_for_commits
from projections.base import LOG_SOURCE, Envelope, Projection, read_positions
from projections.clickhouse_sink import ClickHouseSink

log = logging.getLogger(__name__)


def read_after(
    events: EventStore, start: int, limit: int, topics: list[str], upto: int | None = None
) -> tuple[list[Envelope], int] | None:
    """The next batch after `start` and the position it covers; None when caught up.

    The head is read first: with the store's table lock every id up to it is committed, so a
    projection whose topics skip the tail can still claim the head as its position.
    """
    head = events.head() if upto is None else upto
    if head <= start:
        return None
    notifications = events.recorder.select_notifications(
        start=start, limit=limit, stop=head, topics=topics, inclusive_of_start=False
    )
    envelopes = [Envelope(n.id, events.decode(n), n.topic, n.state) for n in notifications]
    end = envelopes[-1].notification_id if len(envelopes) == limit else head
    return envelopes, end


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
        batch = read_after(
            self.events, self.position(conn), self.batch_size, self.projection.topics, upto
        )
        if batch is None:
            return 0
        envelopes, end = batch
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
                with log_follower(self.db) as (conn, listener):
                    while not stop.is_set():
                        if not self.run_once(conn):
                            wait_for_commits(listener, timeout=0.5)
            except psycopg.OperationalError as error:
                log.warning("projector %s lost its connection: %s", self.projection.name, error)
                stop.wait(1.0)
            except Exception:
                log.exception("projector %s failed; retrying", self.projection.name)
                stop.wait(1.0)


class SinkProjector:
    """Feeds a ClickHouse sink from the log; it checkpoints after each insert."""

    def __init__(self, events: EventStore, sink: ClickHouseSink, batch_size: int = 5000) -> None:
        self.events = events
        self.sink = sink
        self.batch_size = batch_size

    def run_once(self) -> int:
        topics = [get_topic(cls) for cls in self.sink.handles]
        batch = read_after(self.events, self.sink.position(), self.batch_size, topics)
        if batch is None:
            return 0
        envelopes, end = batch
        self.sink.write_batch(envelopes, end)
        return max(len(envelopes), 1)

    def catch_up(self) -> None:
        while self.run_once():
            pass

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if not self.run_once():
                    stop.wait(0.2)
            except Exception:
                log.exception("sink %s failed; retrying", self.sink.name)
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
