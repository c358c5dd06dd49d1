"""Projectors fed by Kafka (distributed mode): one consumer-group member per process.

Each batch of records is applied with its partition offsets in one Postgres transaction
(`Projection.apply_batch`), so the read model and its position never disagree. A writer
thread applies batch N while the consumer fetches and decodes batch N+1. Kafka's own
committed offsets are written only for monitoring; on every assignment the consumer seeks
to the offsets the projection's tracking table holds, so a crash anywhere replays at most
the uncommitted batch, which the per-aggregate version check then skips.
"""

from __future__ import annotations

import logging
import pkgutil
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any
from uuid import UUID

import psycopg

import domain
from infra.database import Database
from infra.eventstore import EventStore
from infra.kafka import (
    ConsumerRebalanceListener,
    ConsumerRecord,
    KafkaConsumer,
    TopicPartition,
    ensure_topics,
    make_admin,
    topic_name,
)
from infra.settings import Settings
from projections.base import Envelope, Projection, read_positions
from projections.watermark import kafka_topics
from workers.tracked_read import stored_decoder

log = logging.getLogger(__name__)

#: Builds a consumer for a group id; `infra.kafka.make_consumer` bound to settings in production.
ConsumerFactory = Callable[[str], KafkaConsumer]

POLL_TIMEOUT_MS = 500
#: Records per poll, so per transaction, when catching up: fewer commits and statements.
MAX_RECORDS = 5000
#: Kafka's committed offsets are for dashboards only; once in a while is plenty.
COMMIT_EVERY_S = 5.0


def known_contexts() -> list[str]:
    """Bounded contexts that exist in the code (each `domain` subpackage but `shared`)."""
    return sorted(
        m.name for m in pkgutil.iter_modules(domain.__path__) if m.ispkg and m.name != "shared"
    )


class KafkaProjector:
    """Consumes a projection's topics and applies them, one Postgres commit per poll."""

    def __init__(
        self,
        events: EventStore,
        db: Database,
        projection: Projection,
        consumer_factory: ConsumerFactory,
        settings: Settings,
        *,
        schema: str | None = None,
        max_records: int | None = None,
    ) -> None:
        if getattr(projection, "follows_log_only", False):
            raise ValueError(f"projection {projection.name} must follow the log, not Kafka")
        self.events = events
        self.db = db
        self.projection = projection
        self.consumer_factory = consumer_factory
        self.settings = settings
        self.schema = schema or projection.name
        self.max_records = max_records or max(settings.projection_batch_size, MAX_RECORDS)
        self.prefix = settings.kafka_topic_prefix
        self.group_id = f"{self.prefix}.project.{projection.name}"
        #: None: every topic of this deployment (a projection that handles every event).
        self.topics = kafka_topics(projection, self.prefix)
        self._wanted = frozenset(projection.topics)
        self._decode_stored = stored_decoder(events, projection)
        self.applied = 0
        self.consumed = 0
        self._last_commit = 0.0
        #: Applies polled batches one at a time, in order, while the next one is polled.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"apply-{projection.name}")
        self._pending: Future[None] | None = None

    def prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Create the projection's schema if need be and set up the session that applies it.

        Its commits need not wait for the WAL flush: rows and offsets commit together, so a
        database crash that loses the last batches loses their offsets too, and the consumer
        seeks back and applies them again (what the log projectors do, too).
        """
        self.projection.create(conn, self.schema)
        conn.execute("SET synchronous_commit = off")
        conn.commit()

    # --- subscription -------------------------------------------------------------------

    def subscribe(self, consumer: KafkaConsumer) -> None:
        """Join the group; each assignment seeks to the offsets Postgres holds."""
        self._ensure_topics()
        listener = _SeekToTracked(self, consumer)
        if self.topics is None:
            consumer.subscribe(pattern=f"^{re.escape(self.prefix)}\\..+", listener=listener)
        else:
            consumer.subscribe(topics=self.topics, listener=listener)

    def _ensure_topics(self) -> None:
        """Create the topics first, so the first assignment already covers every partition."""
        contexts = known_contexts()
        names = self.topics or [topic_name(self.settings, c) for c in contexts]
        admin = make_admin(self.settings)
        try:
            ensure_topics(admin, names, self.settings.kafka_partitions)
        finally:
            admin.close()

    def tracked(self) -> dict[tuple[str, int], int]:
        """The last applied offset per (topic, partition), from the projection's own table."""
        with self.db.connect_owner() as conn:
            return read_positions(conn, self.schema)

    # --- one batch ----------------------------------------------------------------------

    def run_once(
        self,
        conn: psycopg.Connection[Any],
        consumer: KafkaConsumer,
        timeout_ms: int = POLL_TIMEOUT_MS,
    ) -> int:
        """Poll once and hand what came in to the writer thread; returns records consumed.

        The writer applies one batch at a time, in poll order, in one transaction each, on
        `conn`; this returns once the previous batch is committed and this one is under way,
        so Kafka fetching and decoding overlap the database's work on the batch before. Call
        `drain` to wait for the last one (a failure surfaces there, or at the next call).
        """
        polled = consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        if not polled:
            return 0
        positions = {(tp.topic, tp.partition): records[-1].offset for tp, records in polled.items()}
        envelopes = sorted(self._envelopes(polled.values()), key=lambda e: e.notification_id)
        self.drain()
        self._pending = self._writer.submit(self._apply, conn, envelopes, positions)
        count = sum(len(records) for records in polled.values())
        self.consumed += count
        if time.monotonic() - self._last_commit >= COMMIT_EVERY_S:
            self._last_commit = time.monotonic()
            consumer.commit_async()  # for lag monitoring only; never read back
        return count

    def drain(self) -> None:
        """Wait until the batch handed to the writer is committed; re-raises its failure."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        envelopes: list[Envelope],
        positions: dict[tuple[str, int], int],
    ) -> None:
        with ExitStack() as stack:
            if self.projection.applies_per_event:
                # Pipeline mode: per-event statements go out without waiting for each reply.
                stack.enter_context(conn.pipeline())
            self.applied += self.projection.apply_batch(
                conn, envelopes, positions, schema=self.schema
            )

    def _envelopes(self, batches: Iterable[list[ConsumerRecord]]) -> Iterable[Envelope]:
        for records in batches:
            for record in records:
                headers = dict(record.headers)
                event_topic = headers["topic"].decode()
                # Records of events this projection does not handle only move its offsets.
                if self._wanted and event_topic not in self._wanted:
                    continue
                yield self._decode(record, event_topic, headers)

    def _decode(
        self, record: ConsumerRecord, event_topic: str, headers: dict[str, bytes]
    ) -> Envelope:
        return self._decode_stored(
            int(headers["position"]),
            UUID(record.key.decode()),
            int(headers["version"]),
            event_topic,
            record.value,
        )

    # --- the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; any failure rebuilds the consumer from tracking."""
        name = self.projection.name
        try:
            while not stop.is_set():
                try:
                    self._session(stop)
                except psycopg.OperationalError as error:
                    log.warning("projector %s lost its connection: %s", name, error)
                    stop.wait(1.0)
                except Exception:
                    log.exception("projector %s failed; resuming from tracking", name)
                    stop.wait(1.0)
        finally:
            self.close()

    def _session(self, stop: threading.Event) -> None:
        """One connection and one consumer, until `stop` is set or something fails."""
        consumer: KafkaConsumer | None = None
        with self.db.connect_owner() as conn:
            try:
                self.prepare(conn)
                consumer = self.consumer_factory(self.group_id)
                self.subscribe(consumer)
                while not stop.is_set():
                    self.run_once(conn, consumer)
                self.drain()
            finally:
                self._settle()  # the writer is done with `conn` before it closes
                if consumer is not None:
                    consumer.close(autocommit=False)

    def close(self) -> None:
        """Wait for the last batch handed to the writer, then stop the writer thread."""
        try:
            self.drain()
        finally:
            self._writer.shutdown()

    def _settle(self) -> None:
        """After a failure elsewhere: let the writer finish (or fail) the batch it holds; the
        loop's own error is the one reported, and tracking says what was committed."""
        try:
            self.drain()
        except Exception as error:
            log.warning("projector %s: its last batch failed: %s", self.projection.name, error)


class _SeekToTracked(ConsumerRebalanceListener):  # type: ignore[misc]
    """Positions come from Postgres, never from Kafka's committed offsets."""

    def __init__(self, projector: KafkaProjector, consumer: KafkaConsumer) -> None:
        self.projector = projector
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what was polled before the partitions go (and their offsets are re-read)."""
        self.projector.drain()

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        tracked = self.projector.tracked()
        for tp in assigned:
            offset = tracked.get((tp.topic, tp.partition))
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset + 1)
        log.info(
            "projector %s assigned %s",
            self.projector.projection.name,
            sorted(f"{tp.topic}/{tp.partition}" for tp in assigned),
        )
