"""Projectors that follow the PostgreSQL notification log (embedded mode, ledger, replay)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import psycopg
from eventsourcing.utils import get_topic
from psycopg.pq import TransactionStatus

from infra.database import Database
from infra.eventstore import EventStore, concerns, log_follower, wait_for_commits
from projections.base import LOCK_PROJECTION, LOG_SOURCE, Envelope, Projection, read_positions
from projections.clickhouse_sink import ClickHouseSink
from workers.tracked_read import TrackedRead

log = logging.getLogger(__name__)

#: How often a projector with nothing of its own to apply moves its position to the head.
IDLE_STEP_S = 1.0


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

    Give it an autocommit connection: each batch is then one transaction of two round trips
    (lock and read; writes and commit). Inside a caller's transaction (the replay swap) the
    batches nest as savepoints instead.
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
        self._read = TrackedRead(events, projection, self.schema, batch_size)
        # Pipeline mode suits per-event statements (COPY refuses it); the one-transaction
        # step calls `write_batch` in pipeline mode, so it takes projections that can write
        # so (`Projection.pipelines`) and do not wrap `apply_batch` (the ledger resets its
        # cached chain head there).
        self._pipelined = projection.applies_per_event
        self._one_transaction = projection.pipelines and (
            type(projection).apply_batch is Projection.apply_batch
        )

    def position(self, conn: psycopg.Connection[Any]) -> int:
        return read_positions(conn, self.schema).get((LOG_SOURCE, 0), 0)

    def run_once(self, conn: psycopg.Connection[Any], upto: int | None = None) -> int:
        """Apply one batch; returns how many notifications were read (0 when caught up)."""
        return self._step(conn, upto)[0]

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
                with log_follower(
                    self.db, self.projection.topics, self.projection.skipped_topics
                ) as (conn, listener):
                    # A read model is rebuilt from the log, and its tracking commits with its
                    # rows: a crash may lose the last batches, which are then applied again.
                    # So its commits need not wait for the WAL flush; the store's still do.
                    conn.execute("SET synchronous_commit = off")
                    while not stop.is_set():
                        read, at_head = self._step(conn)
                        if not read or at_head:
                            # LISTEN came first: a commit after our read has queued its NOTIFY.
                            self._wait_for_ours(listener, stop)
            except psycopg.OperationalError as error:
                log.warning("projector %s lost its connection: %s", self.projection.name, error)
                stop.wait(1.0)
            except Exception:
                log.exception("projector %s failed; retrying", self.projection.name)
                stop.wait(1.0)

    def _wait_for_ours(self, listener: psycopg.Connection[Any], stop: threading.Event) -> None:
        """Until a commit writes an event this projection handles (and `linger_s` more, for
        the commits that come meanwhile), or `IDLE_STEP_S` passes.

        Commits of other events do not wake it (billed calls do not even reach a follower
        that does not handle them: `infra.eventstore.QUIET_TOPICS`): its position moves past
        them at the next event of its own, or within `IDLE_STEP_S`, and
        `projections.consistency` counts a position it has nothing to apply up to as reached
        meanwhile.
        """
        topics, skipped = self.projection.topics, self.projection.skipped_topics
        deadline = time.monotonic() + IDLE_STEP_S
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            committed = wait_for_commits(listener, timeout=min(left, 0.5))
            if committed and concerns(committed, topics, skipped):
                if self.projection.linger_s:
                    stop.wait(self.projection.linger_s)
                return

    def _step(self, conn: psycopg.Connection[Any], upto: int | None = None) -> tuple[int, bool]:
        """Apply the next batch: (notifications read, whether the batch reached the head)."""
        if self._one_transaction and conn.info.transaction_status == TransactionStatus.IDLE:
            return self._step_in_one_transaction(conn, upto)
        # Otherwise (in a caller's transaction, or for the projections above): read, then
        # apply in a transaction (a savepoint) of its own.
        batch = self._read.next_batch(conn, upto)
        if batch is None:
            return 0, True
        with ExitStack() as stack:
            if self._pipelined:
                stack.enter_context(conn.pipeline())
            self.applied += self.projection.apply_batch(
                conn, batch.envelopes, {(LOG_SOURCE, 0): batch.end}, schema=self.schema
            )
        return max(len(batch.envelopes), 1), batch.at_head

    def _step_in_one_transaction(
        self, conn: psycopg.Connection[Any], upto: int | None
    ) -> tuple[int, bool]:
        """One transaction in two round trips: BEGIN, the projection's lock and the read go
        out together; the writes and COMMIT go out together. (psycopg's `transaction()` would
        add a sync before the COMMIT, a third round trip.)"""
        applied = 0
        try:
            with conn.pipeline(), conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute(LOCK_PROJECTION, [self.projection.name])
                batch = self._read.next_batch(cur, upto)
                if batch is not None:
                    applied = self.projection.write_batch(
                        cur,
                        self.schema,
                        batch.envelopes,
                        {(LOG_SOURCE, 0): batch.end},
                        batch.versions,
                        pipelined=True,
                    )
                cur.execute("COMMIT")
        except BaseException:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            raise
        if batch is None:
            return 0, True
        self.applied += applied
        return max(len(batch.envelopes), 1), batch.at_head


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
