"""The event store's recorder: the library's table-locked insert, in one round trip.

eventsourcing's `PostgresApplicationRecorder` takes `LOCK TABLE ... IN EXCLUSIVE MODE` before
it inserts, so notification ids commit in the order they were issued and a reader tailing the
log never passes a gap that fills in later. It sends BEGIN, `SET LOCAL lock_timeout`, the LOCK,
NOTIFY, the INSERT and COMMIT over a pooled connection: several round trips, each one waited
for while the lock is held and every other writer queues behind it.

This recorder does the same things in the same transaction, with the same finite lock timeout,
and commits before it returns (synchronous_commit stays on): it only sends them as one call of
a server-side function, prepared on connections kept for writing. Its NOTIFY also names the
topics written, so a follower can sleep through commits of events it does not handle; and a
subclass's `quiet_topics` are announced each on a channel of its own (`topic_channel`), not
on the store's, so a follower that does not LISTEN there is not even woken by them. A
duplicate (originator_id, originator_version) still raises eventsourcing's `IntegrityError`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, cast

import psycopg
from eventsourcing import persistence
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import pq
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.sql import SQL, Identifier, Literal

# psycopg's errors as eventsourcing's, most specific first (what the library's pool does).
_TRANSLATED: tuple[tuple[type[psycopg.Error], type[persistence.PersistenceError]], ...] = (
    (psycopg.InterfaceError, persistence.InterfaceError),
    (psycopg.OperationalError, persistence.OperationalError),
    (psycopg.DataError, persistence.DataError),
    (psycopg.IntegrityError, persistence.IntegrityError),
    (psycopg.InternalError, persistence.InternalError),
    (psycopg.ProgrammingError, persistence.ProgrammingError),
    (psycopg.NotSupportedError, persistence.NotSupportedError),
    (psycopg.DatabaseError, persistence.DatabaseError),
    (psycopg.Error, persistence.PersistenceError),
)

# The insert function's call, prepared on each writer connection when it connects.
_STATEMENT = b"mcps_insert_events"

# Connections kept for writing. Two: while one insert commits, the next can already wait at the
# table lock inside the server instead of a round trip away.
WRITERS = 2

_CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.{function}(
    p_ids {id_type}[], p_versions bigint[], p_topics text[], p_states bytea[], p_lock_timeout text
) RETURNS SETOF bigint LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;
    -- Followers of the log learn which topics a commit wrote: a quiet topic on its own
    -- channel; the others on the store's, distinct and space-separated, or "*" when they
    -- would not fit in a NOTIFY's payload (and no NOTIFY there when there are none).
    PERFORM pg_notify(quiet.channel, quiet.topic)
        FROM unnest({quiet_topics}::text[], {quiet_channels}::text[]) AS quiet(topic, channel)
        WHERE quiet.topic = ANY(p_topics);
    PERFORM pg_notify({channel}, written.topics)
        FROM (
            SELECT CASE WHEN sum(length(topic) + 1) > 7000 THEN '*'
                   ELSE string_agg(topic, ' ') END AS topics
            FROM (
                SELECT DISTINCT topic FROM unnest(p_topics) AS topic
                WHERE topic <> ALL({quiet_topics}::text[])
            ) AS loud
        ) AS written
        WHERE written.topics IS NOT NULL;
    RETURN QUERY
        INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(p_ids, p_versions, p_topics, p_states)
        RETURNING notification_id;
END
$body$
"""


def topic_channel(channel: str, topic: str) -> str:
    """The channel a quiet `topic`'s commits are announced on: the store's `channel` and a
    digest of the topic (a channel name has at most 63 bytes; a topic has no such limit)."""
    return f"{channel}_{hashlib.blake2b(topic.encode(), digest_size=6).hexdigest()}"


class OneTripRecorder(PostgresApplicationRecorder):
    """Inserts a batch of events (lock, notify, insert, commit) in one round trip."""

    #: Topics announced on channels of their own (`topic_channel`), not the store's.
    quiet_topics: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        function = f"{events_table_name}_insert"
        self.check_identifier_length(function)
        schema = Identifier(datastore.schema)
        id_type = SQL(datastore.originator_id_type)  # validated by the datastore: uuid or text
        self.sql_create_statements.append(
            SQL(_CREATE_FUNCTION).format(
                schema=schema,
                function=Identifier(function),
                id_type=id_type,
                table=Identifier(events_table_name),
                channel=Literal(self.channel_name),
                quiet_topics=Literal(list(self.quiet_topics)),
                quiet_channels=Literal(
                    [topic_channel(self.channel_name, topic) for topic in self.quiet_topics]
                ),
            )
        )
        call = (
            "SELECT * FROM {schema}.{function}("
            "{0}::{id_type}[], {1}::bigint[], {2}::text[], {3}::bytea[], {4})"
        )

        def call_with(*placeholders: str) -> bytes:
            return (
                SQL(call)
                .format(
                    *map(SQL, placeholders),
                    schema=schema,
                    function=Identifier(function),
                    id_type=id_type,
                )
                .as_bytes()
            )

        #: The insert function's call, prepared by name on each writer connection...
        self._prepared_call = call_with("$1", "$2", "$3", "$4", "$5")
        #: ...and as psycopg executes it (`infra.async_append`), with `insert_params`.
        self.insert_query = call_with("%s", "%s", "%s", "%s", "%s")
        self._lock_timeout = f"{datastore.lock_timeout}s"
        self._idle: list[psycopg.Cursor[Any]] = []
        self._idle_lock = threading.Lock()
        self._writers = threading.BoundedSemaphore(WRITERS)

    @retry((persistence.InterfaceError, persistence.OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        if not stored_events:
            return []
        params: list[bytes | None] = [p.encode() for p in self.insert_params(stored_events)]
        with self._writing() as cursor:
            # Straight to libpq, which runs the whole round trip with the GIL released: through
            # psycopg's `execute` the same call cost ~60 us more CPU (measured, 130 against
            # 70 us), and its wait loop takes the GIL back at every step, each time behind the
            # threads building the next commands.
            result = cursor.connection.pgconn.exec_prepared(_STATEMENT, params)
            if result.status != ExecStatus.TUPLES_OK:
                raise _failure(cursor.connection, result)
        return [int(cast(bytes, result.get_value(row, 0))) for row in range(result.ntuples)]

    def insert_params(self, stored_events: Sequence[StoredEvent]) -> list[str]:
        """The insert function's arguments for `stored_events`, as text.

        Array literals written here: psycopg's list adaptation inspects every element (36 us
        a call against 9 us for these strings, measured); numbers and hex need no quoting.
        """
        return [
            _array(_quoted(str(e.originator_id)) for e in stored_events),
            _array(str(e.originator_version) for e in stored_events),
            _array(_quoted(e.topic) for e in stored_events),
            _array(f"\\\\x{e.state.hex()}" for e in stored_events),
            self._lock_timeout,
        ]

    def close(self) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for cursor in idle:
            cursor.connection.close()

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Cursor[Any]]:
        """A writer connection of our own: no pool checkout, no liveness probe; a broken one
        is dropped, and the library's retry of `insert_events` connects a new one."""
        with self._writers:
            with self._idle_lock:
                cursor = self._idle.pop() if self._idle else None
            try:
                if cursor is None:
                    cursor = self._connect().cursor()
                yield cursor
            except psycopg.Error as error:
                raise translated(error) from error
            finally:
                if cursor is not None:
                    self._put_back(cursor)

    def _put_back(self, cursor: psycopg.Cursor[Any]) -> None:
        """Keep a connection that is idle and well; close any other (broken, interrupted)."""
        if cursor.connection.info.transaction_status == TransactionStatus.IDLE:
            with self._idle_lock:
                self._idle.append(cursor)
        else:
            cursor.connection.close()

    def writer_connect_args(self) -> dict[str, Any]:
        """How a writer connects: the store's pool's target and options, autocommit, tuples
        for rows (no row factory), within the pool's timeout."""
        pool = self.datastore.pool
        kwargs = {k: v for k, v in (pool.kwargs or {}).items() if k != "row_factory"}
        return {
            "conninfo": pool.conninfo,
            "autocommit": True,
            "connect_timeout": max(1, round(pool.timeout)),
            **kwargs,
        }

    def _connect(self) -> psycopg.Connection[Any]:
        connection = psycopg.Connection.connect(**self.writer_connect_args())
        try:
            result = connection.pgconn.prepare(_STATEMENT, self._prepared_call)
            if result.status != ExecStatus.COMMAND_OK:
                raise _failure(connection, result)
        except BaseException:
            connection.close()
            raise
        return connection


def _array(elements: Iterable[str]) -> str:
    return "{" + ",".join(elements) + "}"


def _quoted(text: str) -> str:
    """An array element in double quotes, as the array input syntax escapes it."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _failure(connection: psycopg.Connection[Any], result: pq.abc.PGresult) -> psycopg.Error:
    """The error psycopg would have raised for a failed statement on `connection`."""
    if connection.pgconn.status != pq.ConnStatus.OK:
        message = connection.pgconn.error_message.decode(errors="replace").strip()
        return psycopg.OperationalError(message or "the connection to the server was lost")
    return psycopg.errors.error_from_result(result, encoding=connection.info.encoding)


def translated(error: psycopg.Error) -> persistence.PersistenceError:
    for theirs, ours in _TRANSLATED:
        if isinstance(error, theirs):
            return ours(str(error))
    return persistence.PersistenceError(str(error))  # unreachable: psycopg.Error is last
