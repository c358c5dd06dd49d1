"""Tasks: tool calls made with `?mode=async`, read back with their status and answer.

A task is read from the event store, so it is current the moment it changes. Another
tenant's task is not found, as an unknown one. The listing reads the `tasks` read model
(row-level security scopes it to the caller's tenant); it follows the log by a few ms.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from api.errors import PROBLEMS
from api.gateway.callers import READ
from api.gateway.http import GatewayDep
from api.routes.gateway import CallerDep
from api.schemas_gateway import CallResult, TaskPublic, TasksPage, TaskStatusName, TaskSummary
from projections.tasks import tasks_of

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], responses=PROBLEMS)


@router.get("", response_model=TasksPage)
async def list_tasks(
    gateway: GatewayDep,
    caller: CallerDep,
    status: TaskStatusName | None = None,
    name: Annotated[
        str | None, Query(max_length=63, pattern=r"^[a-z0-9-]+$", description="A deployment")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=19, pattern=r"^[0-9]+$", description="`next_cursor`")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TasksPage:
    """The tenant's async calls, newest first; filter by `status` or deployment `name`."""
    caller.require(READ)
    db = gateway.container.db

    def read() -> list[dict[str, Any]]:
        with db.scoped(caller.tenant_id, caller.user_id) as conn:
            before = int(cursor) if cursor is not None else None
            return tasks_of(
                conn, caller.tenant_id, status=status, deployment=name, before=before, limit=limit
            )

    rows = await run_in_threadpool(read)
    page = [
        TaskSummary(
            task_id=str(r["task_id"]),
            status=r["status"],
            name=r["deployment"],
            method=r["tool"],
            attempts=r["attempts"],
            token_id=str(r["token_id"]) if r["token_id"] else None,
            call_id=str(r["call_id"]) if r["call_id"] else None,
            created_at=r["created_at"],
            started_at=r["started_at"],
            finished_at=r["finished_at"],
        )
        for r in rows
    ]
    next_cursor = str(rows[-1]["position"]) if len(rows) == limit else None
    return TasksPage(data=page, next_cursor=next_cursor)


@router.get("/{task_id}", response_model=TaskPublic)
async def get_task(
    gateway: GatewayDep,
    caller: CallerDep,
    task_id: Annotated[UUID, Path(description="The `task_id` a `?mode=async` call answered")],
) -> TaskPublic:
    """A task's status, and once it is finished, the call's answer."""
    caller.require(READ)
    task = await run_in_threadpool(gateway.container.tasks.task, task_id, caller.tenant_id)
    return TaskPublic(
        task_id=str(task.id),
        status=task.status.value,
        name=task.deployment,
        method=task.tool,
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        attempts=task.attempts,
        result=CallResult.model_validate(task.result) if task.result is not None else None,
        problem=task.problem,
    )
