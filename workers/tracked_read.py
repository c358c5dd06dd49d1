"""A log projector's next batch, read in one statement: the projection's tracked position, the
head of the log, the events after the position, and the version last applied of each of their
aggregates. One statement is one round trip, and one snapshot.

Gap-safety is the library's (`select_notifications` after reading the head): the store's table
lock makes ids commit in the order they were issued, so an id up to the head that the snapshot
does not show was rolled back and can never fill in later. A projection whose topics skip the
tail of the log can therefore still claim the head as its position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from infra.eventstore import EventStore
from projections.base import LOG_SOURCE, Envelope, Projection, StoredDecoder

_READ = """
WITH tracked AS (
    SELECT coalesce(max(position), 0) AS position FROM {schema}.tracking
    WHERE source = %(source)s AND part = 0
), head AS (
    SELECT coalesce(least((SELECT max(notification_id) FROM {events}), %(upto)s::bigint), 0)
        AS head
)
SELECT tracked.position, head.head, e.notification_id, e.originator_id, e.originator_version,
       e.topic, e.state, {applied_version} AS applied_version
FROM tracked CROSS JOIN head
LEFT JOIN LATERAL (
    SELECT * FROM {events} e
    WHERE e.notification_id > tracked.position AND e.notification_id <= head.head {topics}
    ORDER BY e.notification_id LIMIT %(limit)s
) e ON true
{applied}
ORDER BY e.notification_id
"""
_APPLIED = "LEFT JOIN {schema}.applied applied ON applied.originator_id = e.originator_id"


@runtime_checkable
class DecodesStored(Protocol):
    """A projection that reads events from their stored form itself (the audit log), rather
    than from domain events the store's mapper rebuilds."""

    def stored_decoder(self, mapper: Mapper[UUID]) -> StoredDecoder: ...


def stored_decoder(events: EventStore, projection: Projection) -> StoredDecoder:
    """How the log and Kafka readers turn `projection`'s stored events into envelopes."""
    if isinstance(projection, DecodesStored):
        return projection.stored_decoder(events.mapper)
    to_domain_event = events.mapper.to_domain_event

    def decode(
        position: int, originator_id: UUID, originator_version: int, topic: str, state: bytes
    ) -> Envelope:
        stored = StoredEvent(originator_id, originator_version, topic, state)
        return Envelope(position, to_domain_event(stored), topic, state)

    return decode


@dataclass(frozen=True)
class TrackedBatch:
    envelopes: list[Envelope]
    #: The version last applied of each aggregate in the batch (absent: none yet).
    versions: dict[UUID, int]
    #: The position the batch covers: its last event's, or the head when it reaches it.
    end: int
    at_head: bool


class TrackedRead:
    """Reads the next batch for one projection into one schema."""

    def __init__(self, events: EventStore, projection: Projection, schema: str, limit: int) -> None:
        self.events = events
        self.limit = limit
        self._decode = stored_decoder(events, projection)
        recorder = events.recorder
        tracks = projection.tracks_versions
        self._statement = _READ.format(
            schema=schema,
            applied_version="applied.version" if tracks else "NULL::integer",
            applied=_APPLIED.format(schema=schema) if tracks else "",
            events=f"{recorder.datastore.schema}.{recorder.events_table_name}",
            topics=("AND e.topic = ANY(%(topics)s)" if projection.topics else "")
            + (" AND e.topic <> ALL(%(skipped)s)" if projection.skipped_topics else ""),
        )
        self._params: dict[str, Any] = {"source": LOG_SOURCE, "limit": limit}
        if projection.topics:
            self._params["topics"] = projection.topics
        if projection.skipped_topics:
            self._params["skipped"] = projection.skipped_topics

    def next_batch(self, cur: Any, upto: int | None = None) -> TrackedBatch | None:
        """The batch after the tracked position, on a connection or cursor; None if caught up
        (up to `upto`, when given, instead of the head)."""
        rows = cur.execute(self._statement, {**self._params, "upto": upto}, prepare=True)
        rows = rows.fetchall()
        position, head = rows[0]["position"], rows[0]["head"]
        if head <= position:
            return None
        events = [row for row in rows if row["notification_id"] is not None]
        decode = self._decode
        envelopes = [
            decode(
                row["notification_id"],
                row["originator_id"],
                row["originator_version"],
                row["topic"],
                bytes(row["state"]),
            )
            for row in events
        ]
        end = envelopes[-1].notification_id if len(envelopes) == self.limit else head
        versions = {
            row["originator_id"]: row["applied_version"]
            for row in events
            if row["applied_version"] is not None
        }
        return TrackedBatch(envelopes, versions, end, at_head=end == head)
