"""A tamper-evident hash chain over the whole event log, in log order.

Link n is sha256(link n-1 ‖ position ‖ aggregate id ‖ version ‖ topic ‖ stored state), so
changing, removing or reordering any stored event breaks every link from there on.
It must follow the log itself (never a partitioned transport), because order is the point.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper

from projections.base import Cursor, Envelope, Projection, StoredDecoder

GENESIS = "0" * 64


def link(
    previous: str, position: int, aggregate_id: UUID, version: int, topic: str, state: bytes
) -> str:
    h = hashlib.sha256()
    h.update(bytes.fromhex(previous))
    h.update(f"|{position}|{aggregate_id}|{version}|{topic}|".encode())
    h.update(state)
    return h.hexdigest()


class LedgerProjection(Projection):
    name = "ledger"
    follows_log_only = True
    tracks_versions = False  # a link's position is its key: a redelivered event is skipped
    # It follows every commit, one per billed call under load, and nobody waits on it: a few
    # ms more lag put several commits in each of its transactions. 5 ms, not more: its lag
    # counts toward the read models' 50 ms p99 (`bench.lag_embedded`; 10 ms gave 47.6 ms).
    linger_s = 0.005
    ddl = """
    CREATE TABLE IF NOT EXISTS {s}.chain (
        position bigint PRIMARY KEY,
        hash char(64) NOT NULL
    );
    """

    def __init__(self) -> None:
        self._last: tuple[str, int, str] | None = None  # (schema, position, hash)

    def stored_decoder(self, mapper: Mapper[UUID]) -> StoredDecoder:
        """A link needs the stored form only: the log's readers skip decoding the event (for
        a billed call, most of this projection's Python)."""

        def chained(
            position: int, originator_id: UUID, version: int, topic: str, state: bytes
        ) -> Envelope:
            return Envelope(position, ChainedEvent(originator_id, version), topic, state)

        return chained

    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        self.apply_many(cur, s, [envelope])

    def apply_many(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        """The batch's links, one statement for all of them."""
        position, digest = self._previous(cur, s)
        positions, digests = [], []
        for envelope in envelopes:
            if envelope.notification_id <= position:
                continue
            e = envelope.event
            position = envelope.notification_id
            digest = link(
                digest,
                position,
                e.originator_id,
                e.originator_version,
                envelope.topic,
                envelope.state,
            )
            positions.append(position)
            digests.append(digest)
        if positions:
            cur.execute(
                f"INSERT INTO {s}.chain (position, hash)"
                " SELECT * FROM unnest(%s::bigint[], %s::char(64)[])",
                [positions, digests],
            )
            self._last = (s, position, digest)

    def apply_in_pipeline(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        self.apply_many(cur, s, envelopes)  # no COPY: pipeline mode takes it as it is

    def _previous(self, cur: Cursor, s: str) -> tuple[int, str]:
        if self._last is not None and self._last[0] == s:
            return self._last[1], self._last[2]
        row = cur.execute(
            f"SELECT position, hash FROM {s}.chain ORDER BY position DESC LIMIT 1"
        ).fetchone()
        return (row["position"], row["hash"]) if row else (0, GENESIS)

    def write_batch(self, *args: Any, **kwargs: Any) -> int:
        # The cached head is good within one batch only: between batches a replay may have
        # swapped a rebuilt schema in under the same name. (`apply_batch` and the log
        # projector's one-transaction step both write through here.)
        self._last = None
        try:
            return super().write_batch(*args, **kwargs)
        except BaseException:
            self._last = None  # the cached head was rolled back with the batch
            raise


class ChainedEvent:
    """What a link needs of an event besides its stored form: its aggregate and version."""

    __slots__ = ("originator_id", "originator_version")

    def __init__(self, originator_id: UUID, originator_version: int) -> None:
        self.originator_id = originator_id
        self.originator_version = originator_version


@dataclass(frozen=True)
class Break:
    position: int
    reason: str


def verify(
    conn: psycopg.Connection[Any], events_table: str = "mcps_events", batch: int = 10_000
) -> tuple[int, Break | None]:
    """Recompute every link from the stored events; the first that differs is the break."""
    previous, checked, after = GENESIS, 0, 0
    head = conn.execute("SELECT coalesce(max(position), 0) AS head FROM ledger.chain").fetchone()
    upto = head["head"] if head else 0
    while True:
        rows = conn.execute(
            f"SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state,"
            f" c.position AS chained, c.hash FROM {events_table} e"
            " FULL OUTER JOIN ledger.chain c ON c.position = e.notification_id"
            " WHERE coalesce(e.notification_id, c.position) > %s"
            " AND coalesce(e.notification_id, c.position) <= %s"
            " ORDER BY coalesce(e.notification_id, c.position) LIMIT %s",
            [after, upto, batch],
        ).fetchall()
        if not rows:
            return checked, None
        for row in rows:
            position = row["notification_id"] or row["chained"]
            if row["notification_id"] is None:
                return checked, Break(position, "a chained event is missing from the log")
            if row["chained"] is None:
                return checked, Break(position, "an event in the log is not in the chain")
            expected = link(
                previous,
                position,
                row["originator_id"],
                row["originator_version"],
                row["topic"],
                bytes(row["state"]),
            )
            if expected != row["hash"]:
                return checked, Break(position, "the stored event differs from what was chained")
            previous, checked, after = expected, checked + 1, position
