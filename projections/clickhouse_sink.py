"""The base of ClickHouse read models: batched, idempotent inserts, checkpoint after insert.

ClickHouse cannot share a transaction with the Postgres tracking row, so a crash between the
insert and the checkpoint re-sends the batch. Two things make that harmless: the table is a
ReplacingMergeTree whose sorting key identifies the event (the log position, or the id of an
aggregate that has one event, such as a billed call; queries read it with FINAL), and each
batch carries a deterministic deduplication token (the positions it spans), so ClickHouse drops
an identical re-sent block outright.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from infra.database import Database
from projections.base import LOG_SOURCE, Envelope, read_positions


class ClickHouseSink(ABC):
    name: ClassVar[str]
    database: str = "mcps"
    table: ClassVar[str]
    columns: ClassVar[list[str]]
    #: Column definitions and engine, with `{t}` for the qualified table name.
    ddl: ClassVar[str]
    handles: ClassVar[tuple[type, ...]] = ()

    def __init__(self, client: Any, db: Database, database: str | None = None) -> None:
        self.client = client
        self.db = db
        if database is not None:
            self.database = database

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.table}"

    def create(self) -> None:
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self.client.command(self.ddl.format(t=self.qualified))
        with self.db.connect_owner(autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.name}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.name}.tracking (source text NOT NULL,"
                " part integer NOT NULL, position bigint NOT NULL,"
                " updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (source, part))"
            )

    @abstractmethod
    def rows(self, envelope: Envelope) -> list[Sequence[Any]]:
        """The rows one event adds, in `columns` order; the sorting key must identify the event,
        so a re-sent row replaces itself."""

    def wants(self, event: object) -> bool:
        return not self.handles or isinstance(event, self.handles)

    def position(self) -> int:
        with self.db.owner.connection() as conn:
            return read_positions(conn, self.name).get((LOG_SOURCE, 0), 0)

    def write_batch(self, envelopes: Sequence[Envelope], end: int) -> int:
        rows = [row for e in envelopes if self.wants(e.event) for row in self.rows(e)]
        if rows:
            token = f"{self.name}:{envelopes[0].notification_id}-{envelopes[-1].notification_id}"
            self.client.insert(
                self.qualified,
                rows,
                column_names=self.columns,
                settings={"insert_deduplication_token": token},
            )
        with self.db.owner.connection() as conn:
            conn.execute(
                f"INSERT INTO {self.name}.tracking (source, part, position) VALUES (%s, 0, %s)"
                " ON CONFLICT (source, part) DO UPDATE SET"
                f" position = GREATEST({self.name}.tracking.position, EXCLUDED.position),"
                " updated_at = now()",
                [LOG_SOURCE, end],
            )
        return len(rows)
