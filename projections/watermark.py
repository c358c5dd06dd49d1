"""Has a read model caught up with a log position? The answer behind `?wait_for=<position>`.

In embedded mode a projection tracks the notification id it has read up to, so the answer is a
comparison. In Kafka mode it tracks partition offsets, which say nothing about notification ids
by themselves. The relay bridges the two: it stores its checkpoint and, per batch, a *mark* for
every partition the batch touched (the offset and notification id of that partition's last
record), in one transaction. Because the relay publishes in log order, a partition holds every
event with id <= P at or below the offset of its first mark whose position is >= P (or, if no
mark reaches P, its last mark). So a projection has applied every event <= P once the relay's
checkpoint is >= P and its tracked offset reaches that mark in each partition of its topics.
That can ask for a little more than needed (the rest of a batch), never less.

The relay's tables are defined here, with their reader, because read models may not import
the workers that write them. Nothing here imports kafka-python: the API reads watermarks too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from projections.base import LOG_SOURCE, Projection

RELAY_SCHEMA = "relay"

RELAY_DDL = """
CREATE SCHEMA IF NOT EXISTS relay;
CREATE TABLE IF NOT EXISTS relay.checkpoint (
    id integer PRIMARY KEY,
    position bigint NOT NULL
);
INSERT INTO relay.checkpoint (id, position) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS relay.marks (
    topic text NOT NULL,
    part integer NOT NULL,
    position bigint NOT NULL,
    kafka_offset bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, part, position)
);
CREATE INDEX IF NOT EXISTS marks_by_age ON relay.marks (at);
"""

#: The relay's checkpoint row; there is one relay (it holds an advisory lock while it runs).
CHECKPOINT_ID = 1


def create_relay_schema(conn: psycopg.Connection[Any]) -> None:
    """Idempotent; serialised, because concurrent `CREATE ... IF NOT EXISTS` can still clash."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('mcps.relay.ddl'))")
        for statement in RELAY_DDL.split(";\n"):
            if statement.strip():
                conn.execute(statement)


# Partitions are found by a skip scan over the primary key (one index probe per partition),
# so the query costs the same with one hour of marks as with one minute of them. Marks of
# one partition rise in position and offset together, so "first by position" is also
# "smallest offset".
_REACHED = """
WITH RECURSIVE parts AS (
    (SELECT topic, part FROM relay.marks WHERE {topics} ORDER BY topic, part LIMIT 1)
    UNION ALL
    SELECT following.topic, following.part FROM parts, LATERAL (
        SELECT m.topic, m.part FROM relay.marks m
        WHERE {m_topics} AND (m.topic, m.part) > (parts.topic, parts.part)
        ORDER BY m.topic, m.part LIMIT 1
    ) AS following
),
required AS (
    SELECT parts.topic, parts.part, coalesce(
        (SELECT m.kafka_offset FROM relay.marks m
         WHERE m.topic = parts.topic AND m.part = parts.part AND m.position >= %(position)s
         ORDER BY m.position LIMIT 1),
        (SELECT m.kafka_offset FROM relay.marks m
         WHERE m.topic = parts.topic AND m.part = parts.part
         ORDER BY m.position DESC LIMIT 1)
    ) AS kafka_offset
    FROM parts
)
SELECT coalesce(
    (SELECT position FROM relay.checkpoint WHERE id = {checkpoint_id}), 0
) >= %(position)s
AND NOT EXISTS (
    SELECT 1 FROM required r
    LEFT JOIN {tracking} t ON t.source = r.topic AND t.part = r.part
    WHERE t.position IS NULL OR t.position < r.kafka_offset
) AS reached
"""


def reached(
    conn: psycopg.Connection[Any],
    projection_name: str,
    position: int,
    topics: Sequence[str] | None,
) -> bool:
    """Kafka mode: has `projection_name` applied every event with notification id <= position?

    `topics` are the Kafka topics the projection consumes; None means every topic the relay
    has published to (for projections that handle every event).
    """
    if position <= 0:
        return True
    if topics is None:
        where, m_where = sql.SQL("true"), sql.SQL("true")
    else:
        where = sql.SQL("topic = ANY(%(topics)s)")
        m_where = sql.SQL("m.topic = ANY(%(topics)s)")
    query = sql.SQL(_REACHED).format(
        topics=where,
        m_topics=m_where,
        checkpoint_id=sql.Literal(CHECKPOINT_ID),
        tracking=sql.Identifier(projection_name, "tracking"),
    )
    row = conn.execute(query, {"position": position, "topics": list(topics or ())}).fetchone()
    return bool(_first(row))


def log_reached(conn: psycopg.Connection[Any], projection_name: str, position: int) -> bool:
    """Embedded mode: the projection follows the log, so its one position says it all."""
    if position <= 0:
        return True
    query = sql.SQL(
        "SELECT coalesce(max(position), 0) >= %s FROM {} WHERE source = %s AND part = 0"
    ).format(sql.Identifier(projection_name, "tracking"))
    return bool(_first(conn.execute(query, [position, LOG_SOURCE]).fetchone()))


def _first(row: Any) -> Any:
    """The first column, whether the connection returns tuples or dicts."""
    if row is None:
        return None
    if isinstance(row, dict):
        return next(iter(row.values()))
    return row[0]


def context_of_topic(event_topic: str) -> str:
    """`domain.tenancy.users:User.Registered` → `tenancy`, without decoding the event.

    The same rule as `projections.events.context_of`, applied to a stored event's topic, so
    the relay can route a notification from its row alone.
    """
    parts = event_topic.partition(":")[0].split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "domain" else "other"


def kafka_topics(projection: Projection, prefix: str) -> list[str] | None:
    """The Kafka topics a projection consumes; None when it handles every event (all topics)."""
    if not projection.handles:
        return None
    return sorted({f"{prefix}.{context_of_topic(topic)}" for topic in projection.topics})
