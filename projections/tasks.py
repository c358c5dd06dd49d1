"""Async tool calls as their tenant lists them: one row per task with its status and times.

A task's params and answer stay sealed in the store (`GET /api/v1/tasks/{id}` reads them
from there); this read model holds only what a listing shows and filters on.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

import psycopg

from domain.tasks.tasks import Task
from projections.base import TENANT_POLICY, Cursor, Envelope, Projection


class TasksProjection(Projection):
    name = "tasks"
    handles = (Task.Accepted, Task.Started, Task.Released, Task.Finished)
    ddl = """
    CREATE TABLE IF NOT EXISTS {s}.tasks_view (
        task_id uuid PRIMARY KEY,
        -- The log position of `Accepted`: the listing's order and cursor.
        position bigint NOT NULL,
        tenant_id uuid NOT NULL,
        deployment text NOT NULL,
        tool text NOT NULL,
        status text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        token_id uuid,
        user_id uuid NOT NULL,
        call_id uuid,
        created_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz
    );
    CREATE INDEX IF NOT EXISTS tasks_newest ON {s}.tasks_view (tenant_id, position DESC);
    """
    policies = {"tasks_view": TENANT_POLICY}

    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        if isinstance(envelope.event, Task.Accepted):
            self._accepted(envelope.event, envelope.notification_id, cur, s)
        else:
            self._on(envelope.event, cur, s)

    def _accepted(self, e: Task.Accepted, position: int, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.tasks_view (task_id, position, tenant_id, deployment, tool, status,"
            " token_id, user_id, created_at) VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s, %s)"
            " ON CONFLICT (task_id) DO NOTHING",
            [
                e.originator_id,
                position,
                e.tenant,
                e.deployment,
                e.tool,
                e.token_id,
                e.user_id,
                e.timestamp,
            ],
        )

    @singledispatchmethod
    def _on(self, event: object, cur: Cursor, s: str) -> None:
        """Events this read model does not show."""

    @_on.register
    def _(self, e: Task.Started, cur: Cursor, s: str) -> None:
        self._set(
            cur,
            s,
            e,
            "status = 'running', attempts = %(attempt)s, started_at = %(at)s",
            {"attempt": e.attempt, "at": e.started_at},
        )

    @_on.register
    def _(self, e: Task.Released, cur: Cursor, s: str) -> None:
        self._set(cur, s, e, "status = 'pending'", {})

    @_on.register
    def _(self, e: Task.Finished, cur: Cursor, s: str) -> None:
        self._set(
            cur,
            s,
            e,
            "status = %(status)s, finished_at = %(at)s, call_id = %(call)s",
            {
                "status": "succeeded" if e.succeeded else "failed",
                "at": e.finished_at,
                "call": e.call_id,
            },
        )

    @staticmethod
    def _set(cur: Cursor, s: str, e: Any, assignments: str, values: dict[str, Any]) -> None:
        cur.execute(
            f"UPDATE {s}.tasks_view SET {assignments} WHERE task_id = %(id)s",
            {**values, "id": e.originator_id},
        )


def tasks_of(
    conn: psycopg.Connection[dict[str, Any]],
    tenant_id: UUID,
    *,
    status: str | None = None,
    deployment: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The scoped tenant's tasks, newest first; `before` is the last position of the previous
    page. Row-level security scopes the connection as well."""
    return list(
        conn.execute(
            "SELECT task_id, position, deployment, tool, status, attempts, token_id, call_id,"
            " created_at, started_at, finished_at FROM tasks.tasks_view"
            " WHERE tenant_id = %(tenant)s"
            " AND (%(status)s::text IS NULL OR status = %(status)s)"
            " AND (%(deployment)s::text IS NULL OR deployment = %(deployment)s)"
            " AND (%(before)s::bigint IS NULL OR position < %(before)s)"
            " ORDER BY position DESC LIMIT %(limit)s",
            {
                "tenant": tenant_id,
                "status": status,
                "deployment": deployment,
                "before": before,
                "limit": limit,
            },
        ).fetchall()
    )
