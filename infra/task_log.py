"""Finding tasks in the event store: those accepted or given back after a position, and
whether each is finished, through a small partial index on `Task.Accepted` and
`Task.Released` (tasks are a sliver of the log).

The log's notification ids commit in order (the recorder locks the table to insert), so a
reader that has seen every such event up to a position never misses one below it later.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg import sql

from domain.tasks.tasks import Task
from infra.database import Database
from infra.eventstore import EVENTS_TABLE

INDEX = f"{EVENTS_TABLE}_task_unheld"
#: The events after which a task is held by nobody.
UNHELD = (get_topic(Task.Accepted), get_topic(Task.Released))
FINISHED = get_topic(Task.Finished)

# Topics are literals, not parameters, so the planner can always use the partial index.
_UNHELD = sql.SQL("topic IN ({})").format(sql.SQL(", ").join(map(sql.Literal, UNHELD)))
_CREATE_INDEX = sql.SQL(
    "CREATE INDEX IF NOT EXISTS {index} ON {table} (notification_id) WHERE {unheld}"
).format(index=sql.Identifier(INDEX), table=sql.Identifier(EVENTS_TABLE), unheld=_UNHELD)
# Whether a task is finished is its last event's topic (nothing follows `Finished`): one
# backward step on the primary key per task, never a pass over the whole log.
_UNHELD_AFTER = sql.SQL(
    "SELECT a.notification_id, a.originator_id, last.topic = {finished} AS finished"
    " FROM {table} a CROSS JOIN LATERAL (SELECT f.topic FROM {table} f"
    " WHERE f.originator_id = a.originator_id ORDER BY f.originator_version DESC LIMIT 1) last"
    " WHERE a.{unheld} AND a.notification_id > %s"
    " ORDER BY a.notification_id LIMIT %s"
).format(table=sql.Identifier(EVENTS_TABLE), unheld=_UNHELD, finished=sql.Literal(FINISHED))


@dataclass(frozen=True)
class UnheldPage:
    #: Unfinished tasks accepted or given back, oldest first (a task may repeat).
    open: list[UUID]
    #: The position of the last event read (the next page starts after it).
    last: int
    #: Fewer than asked: the log has no more such events now.
    complete: bool


def ensure_task_index(db: Database) -> None:
    """Create the index once; processes starting together wait for the first to make it."""
    with db.owner.connection() as conn:
        found = conn.execute("SELECT to_regclass(%s) AS r", [INDEX]).fetchone()
        if found is not None and found["r"] is not None:
            return
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('mcps.task_index'))")
        conn.execute(_CREATE_INDEX)


def unheld_after(db: Database, position: int, limit: int = 1000) -> UnheldPage:
    """The unfinished tasks accepted or given back after `position` (reading up to `limit`
    such events)."""
    with db.owner.connection() as conn:
        rows = conn.execute(_UNHELD_AFTER, [position, limit]).fetchall()
    return UnheldPage(
        open=[r["originator_id"] for r in rows if not r["finished"]],
        last=rows[-1]["notification_id"] if rows else position,
        complete=len(rows) < limit,
    )
