"""Tasks: tool calls made with `?mode=async`, read back with their status and answer.

A task is read from the event store, so it is current the moment it changes. Another
tenant's task is not found, as an unknown one.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from api.errors import PROBLEMS
from api.gateway.callers import READ
from api.gateway.http import GatewayDep
from api.routes.gateway import CallerDep
from api.schemas_gateway import CallResult, TaskPublic

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], responses=PROBLEMS)


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
