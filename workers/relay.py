"""The relay: streams the event store's notification log into Kafka, one topic per context.

The store is the outbox (R14). The relay reads the log after its checkpoint, publishes each
notification keyed by aggregate id (so one aggregate's events stay in order in one partition),
waits until Kafka has acknowledged every record, and only then advances the checkpoint. A
crash between the two republishes the batch: at-least-once by construction, and the
projectors' per-aggregate version check makes that exactly-once in effect.

With the checkpoint it stores *marks* (see `projections.watermark`), so a query can tell when
a Kafka-fed read model has caught up with a log position.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from infra.database import Database
from infra.eventstore import EventStore, log_follower, wait_for_commits
from infra.kafka import KafkaProducer, ensure_topics, make_admin, topic_name
from infra.settings import Settings
from projections.watermark import CHECKPOINT_ID, context_of_topic, create_relay_schema
from workers.relay_batches import BatchPublisher, OutgoingRecord

log = logging.getLogger(__name__)

#: Notifications read and published per checkpoint.
BATCH_SIZE = 5000
#: How long to wait for Kafka's acknowledgements of one batch before giving up on it.
FLUSH_TIMEOUT_S = 60.0
#: Marks are only needed while some projector may lag behind them.
MARK_TTL = "1 hour"
PRUNE_EVERY_S = 60.0
LAG_LOG_EVERY_S = 10.0
#: Session advisory lock: one relay publishes at a time; others wait as hot standbys.
LEADER_LOCK = "mcps.relay"


# One statement, so one round trip (and on an autocommit connection, one transaction): move
# the checkpoint only if nobody else did, and record the batch's marks only if it moved.
# Losing this commit in a database crash only republishes a batch (its marks go with it), so
# it need not wait for the WAL flush: that wait would be pure latency.
_ADVANCE = """
WITH durability AS (SELECT set_config('synchronous_commit', 'off', true)),
moved AS (
    UPDATE relay.checkpoint SET position = %(end)s
    WHERE id = %(id)s AND position = %(start)s
    RETURNING id
),
marked AS (
    INSERT INTO relay.marks (topic, part, position, kafka_offset)
    SELECT m.topic, m.part, m.position, m.kafka_offset
    FROM unnest(%(topics)s::text[], %(parts)s::int[], %(positions)s::bigint[],
                %(offsets)s::bigint[]) AS m(topic, part, position, kafka_offset)
    WHERE EXISTS (SELECT FROM moved)
    ON CONFLICT DO NOTHING
)
SELECT count(*) AS moved FROM moved, durability
"""


# What the relay publishes of each notification, in that form: the id (for the checkpoint),
# then the position, aggregate id and version as the UTF-8 bytes of their text (`convert_to`),
# which is what the record's key and headers carry; formatted by the server, so the relay
# builds no UUID or int just to print it (half its per-event time in `str().encode()`).
_READ = sql.SQL(
    "SELECT notification_id, convert_to(notification_id::text, 'UTF8'),"
    " convert_to(originator_id::text, 'UTF8'), convert_to(originator_version::text, 'UTF8'),"
    " topic, state FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
)


class Relay:
    """A tracked reader of the log whose side effect is Kafka; its position is in Postgres."""

    def __init__(
        self,
        events: EventStore,
        db: Database,
        producer: KafkaProducer,
        settings: Settings,
        *,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.events = events
        self.db = db
        self.producer = producer
        self.publisher = BatchPublisher(producer)
        recorder = events.recorder
        self._read_sql = _READ.format(
            sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
        )
        self.settings = settings
        self.batch_size = batch_size
        self.published = 0
        self._topics: set[str] = set()
        #: Stored event topic → (Kafka topic, header bytes); a handful of entries, hit per event.
        self._routes: dict[str, tuple[str, bytes]] = {}
        self._last_prune = 0.0
        self._last_lag_log = 0.0
        #: The checkpoint as this relay last wrote it; None means "read it from Postgres".
        self._position: int | None = None

    # --- position -----------------------------------------------------------------------

    def checkpoint(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(
            "SELECT position FROM relay.checkpoint WHERE id = %s", [CHECKPOINT_ID]
        ).fetchone()
        if not conn.autocommit:
            conn.commit()
        return int(row["position"]) if row else 0

    def lag(self, conn: psycopg.Connection[Any]) -> int:
        """Notifications in the store not yet acknowledged by Kafka (head - checkpoint)."""
        return max(self.events.head() - self.checkpoint(conn), 0)

    # --- one batch ----------------------------------------------------------------------

    def run_once(self, conn: psycopg.Connection[Any]) -> int:
        """Publish the next batch and checkpoint it; returns how many were published."""
        start = self.checkpoint(conn) if self._position is None else self._position
        self._position = None  # until this batch is checkpointed, Postgres knows better
        rows = self._read(conn, start)
        if not rows:
            self._position = start
            return 0
        marks = self._publish(rows)
        end = rows[-1][0]
        self._advance(conn, start, end, marks)
        self._position = end
        self.published += len(rows)
        return len(rows)

    def _read(self, conn: psycopg.Connection[Any], start: int) -> list[tuple[Any, ...]]:
        """The next notifications after `start`, as `_READ` rows (the store's table lock
        commits ids in order, so none can appear later below the last one read)."""
        with conn.cursor(row_factory=tuple_row, binary=True) as cur:
            return cur.execute(self._read_sql, [start, self.batch_size], prepare=True).fetchall()

    def _publish(self, rows: Sequence[tuple[Any, ...]]) -> dict[tuple[str, int], tuple[int, int]]:
        """Send a batch and wait for every ack; returns (topic, partition) → (position, offset)."""
        routes = [self._route(row[4]) for row in rows]
        self.ensure_topics([topic for topic, _ in routes])
        records = [
            OutgoingRecord(
                topic,
                key,
                state,
                (("topic", event_topic), ("version", version), ("position", position)),
            )
            for (topic, event_topic), (_, position, key, version, _, state) in zip(
                routes, rows, strict=True
            )
        ]
        # Raises if Kafka refused a batch; the checkpoint then stays where it was.
        acked = self.publisher.publish(records, timeout=FLUSH_TIMEOUT_S)
        return {key: (rows[a.index][0], a.offset) for key, a in acked.items()}

    def _advance(
        self,
        conn: psycopg.Connection[Any],
        start: int,
        end: int,
        marks: dict[tuple[str, int], tuple[int, int]],
    ) -> None:
        """Move the checkpoint from `start` to `end` and record the marks, atomically."""
        row = conn.execute(
            _ADVANCE,
            {
                "start": start,
                "end": end,
                "id": CHECKPOINT_ID,
                "topics": [topic for topic, _ in marks],
                "parts": [part for _, part in marks],
                "positions": [position for position, _ in marks.values()],
                "offsets": [offset for _, offset in marks.values()],
            },
        ).fetchone()
        if not conn.autocommit:
            conn.commit()
        if not row or row["moved"] != 1:
            # Only possible if a second relay ran without the leader lock; stop, don't guess.
            raise RuntimeError(f"relay checkpoint moved under us (expected {start})")

    def _route(self, event_topic: str) -> tuple[str, bytes]:
        route = self._routes.get(event_topic)
        if route is None:
            kafka_topic = topic_name(self.settings, context_of_topic(event_topic))
            route = self._routes[event_topic] = (kafka_topic, event_topic.encode())
        return route

    def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create a context's topic the first time it appears, with our partition count."""
        new = set(topics) - self._topics
        if new:
            admin = make_admin(self.settings)
            try:
                ensure_topics(admin, new, self.settings.kafka_partitions)
            finally:
                admin.close()
            self._topics |= new

    # --- housekeeping -------------------------------------------------------------------

    def prune_marks(self, conn: psycopg.Connection[Any]) -> int:
        """Drop old marks, keeping each partition's latest so the watermark stays exact."""
        with conn.transaction():
            return conn.execute(
                f"DELETE FROM relay.marks m WHERE m.at < now() - interval '{MARK_TTL}'"
                " AND m.position < (SELECT max(l.position) FROM relay.marks l"
                " WHERE l.topic = m.topic AND l.part = m.part)"
            ).rowcount

    def _housekeep(self, conn: psycopg.Connection[Any]) -> None:
        now = time.monotonic()
        if now - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = now
            pruned = self.prune_marks(conn)
            if pruned:
                log.info("relay pruned %d old marks", pruned)
        if now - self._last_lag_log >= LAG_LOG_EVERY_S:
            self._last_lag_log = now
            log.info("relay lag %d (published %d since start)", self.lag(conn), self.published)

    # --- the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set, waking on the store's NOTIFY when idle."""
        while not stop.is_set():
            try:
                with log_follower(self.db) as (conn, listener):
                    if not self._lead(listener, stop):
                        return
                    self._position = None  # another relay may have led in the meantime
                    create_relay_schema(conn)
                    self._follow(conn, listener, stop)
            except psycopg.OperationalError as error:
                log.warning("relay lost its database connection: %s", error)
                stop.wait(1.0)
            except Exception:
                log.exception("relay failed; retrying from the checkpoint")
                stop.wait(1.0)

    def _follow(
        self,
        conn: psycopg.Connection[Any],
        listener: psycopg.Connection[Any],
        stop: threading.Event,
    ) -> None:
        while not stop.is_set():
            published = self.run_once(conn)
            self._housekeep(conn)
            if published < self.batch_size:
                wait_for_commits(listener, timeout=0.5)

    @staticmethod
    def _lead(listener: psycopg.Connection[Any], stop: threading.Event) -> bool:
        """Hold the leader lock for the listener's session; False if stopped while waiting."""
        while not stop.is_set():
            row = listener.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s)) AS ok", [LEADER_LOCK]
            ).fetchone()
            if row and row["ok"]:
                return True
            stop.wait(1.0)
        return False
