"""Asynchronous tool calls: accept a call now, let one worker claim and run it, keep its answer.

Workers are API processes. The store's optimistic concurrency makes a claim exclusive: two
workers starting the same task from the same version cannot both be recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.shared.application import BaseApplication
from domain.shared.context import bound
from domain.shared.ports import Committer
from domain.shared.sealed import Sealer
from domain.tasks.errors import TaskNotFoundError, TaskStateError
from domain.tasks.tasks import Task, TaskStatus


@dataclass(frozen=True)
class TaskView:
    """A task as its tenant may see it (params are never shown back)."""

    id: UUID
    tenant_id: UUID
    status: TaskStatus
    deployment: str
    tool: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    call_id: UUID | None
    result: dict[str, Any] | None
    problem: dict[str, Any] | None


@dataclass(frozen=True)
class Claim:
    """A task a worker now holds: what to call, for whom, and which attempt this is."""

    id: UUID
    tenant_id: UUID
    deployment: str
    tool: str
    params: dict[str, Any]
    token_id: UUID | None
    user_id: UUID
    #: The request that accepted the task: its answer carries this id.
    request_id: str | None
    attempt: int


@dataclass(frozen=True)
class AcceptedTask:
    task_id: UUID
    status: TaskStatus
    #: The task was accepted before under the same idempotency key: this is that task.
    replayed: bool
    position: int | None
    #: Set when the task was accepted and started at once by the accepting worker.
    claim: Claim | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class Tasks(BaseApplication):
    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        sealer: Sealer,
        committer: Committer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, committer=committer, **kwargs)
        self.sealer = sealer

    def accept(
        self,
        tenant_id: UUID,
        deployment: str,
        tool: str,
        params: dict[str, Any],
        *,
        token_id: UUID | None,
        user_id: UUID,
        idempotency_key: str | None = None,
        worker: str | None = None,
        lease_seconds: float = 0.0,
    ) -> AcceptedTask:
        """Record a call to run later, and with a `worker`, start it for that worker in the
        same write. A repeated idempotency key answers the first task."""
        task_id = Task.create_id(tenant_id, idempotency_key)
        with bound(tenant_id=str(tenant_id)):
            task = Task.accept(
                task_id,
                tenant=tenant_id,
                deployment=deployment,
                tool=tool,
                params=self.sealer.seal(json.dumps(params, separators=(",", ":"))),
                token_id=token_id,
                user_id=user_id,
                idempotency_key=idempotency_key,
            )
            if worker is not None:
                task.start(worker, max(_now(), task.created_on), lease_seconds)
        try:
            recordings = self.save(task)
        except IntegrityError:
            first = self._load(task_id)
            if first is None:  # pragma: no cover - the clash was with another aggregate kind
                raise
            return AcceptedTask(task_id, first.status, replayed=True, position=None)
        claim = None if worker is None else self._claim_of(task, params)
        position = recordings[-1].notification.id
        return AcceptedTask(task_id, task.status, False, position, claim)

    def find(self, tenant_id: UUID, idempotency_key: str) -> AcceptedTask | None:
        """The task accepted under this key, if there is one."""
        task = self._load(Task.create_id(tenant_id, idempotency_key))
        if task is None:
            return None
        return AcceptedTask(task.id, task.status, replayed=True, position=None)

    def task(self, task_id: UUID, tenant_id: UUID) -> TaskView:
        """The task as its tenant sees it; another tenant's task is not found."""
        task = self._load(task_id)
        if task is None or task.tenant != tenant_id:
            raise TaskNotFoundError("task not found")
        return self._view(task)

    def claimable_at(self, task_id: UUID) -> datetime | None:
        """When a worker may next start the task; None once finished (or unknown)."""
        task = self._load(task_id)
        return None if task is None else task.claimable_at()

    def claim(self, task_id: UUID, worker: str, lease_seconds: float) -> Claim | None:
        """Start the task for `worker`; None when it is finished, held, or just taken by
        another worker (the store refused our start)."""
        task = self._load(task_id)
        if task is None:
            return None
        try:
            task.start(worker, _now(), lease_seconds)
        except TaskStateError:
            return None
        with bound(tenant_id=str(task.tenant)):
            try:
                self.save(task)
            except IntegrityError:
                return None
        return self._claim_of(task, json.loads(self.sealer.open(task.params)))

    def release(self, task_id: UUID, worker: str) -> bool:
        """Give a held task back unfinished; False when `worker` no longer holds it."""
        return self._change(task_id, lambda task: task.release(worker))

    def finish(
        self,
        task_id: UUID,
        worker: str,
        *,
        succeeded: bool,
        call_id: UUID | None = None,
        result: dict[str, Any] | None = None,
        problem: dict[str, Any] | None = None,
    ) -> bool:
        """Record the answer; False when `worker` no longer holds the task (its lease ran out
        and another worker started it, or finished it)."""
        sealed_result = None if result is None else self._seal(result)
        sealed_problem = None if problem is None else self._seal(problem)
        return self._change(
            task_id,
            lambda task: task.finish(
                worker,
                _now(),
                succeeded=succeeded,
                call_id=call_id,
                result=sealed_result,
                problem=sealed_problem,
            ),
        )

    # --- helpers ----------------------------------------------------------------------------

    def _change(self, task_id: UUID, change: Callable[[Task], None]) -> bool:
        task = self._load(task_id)
        if task is None:
            return False
        try:
            change(task)
        except TaskStateError:
            return False
        with bound(tenant_id=str(task.tenant)):
            try:
                self.save(task)
            except IntegrityError:  # someone started or finished it meanwhile
                return False
        return True

    @staticmethod
    def _claim_of(task: Task, params: dict[str, Any]) -> Claim:
        return Claim(
            id=task.id,
            tenant_id=task.tenant,
            deployment=task.deployment,
            tool=task.tool,
            params=params,
            token_id=task.token_id,
            user_id=task.user_id,
            request_id=task.accepted_request_id,
            attempt=task.attempts,
        )

    def _load(self, task_id: UUID) -> Task | None:
        try:
            return self.get(task_id, Task, lambda: TaskNotFoundError("task not found"))
        except TaskNotFoundError:
            return None

    def _seal(self, value: dict[str, Any]) -> str:
        return self.sealer.seal(json.dumps(value, separators=(",", ":")))

    def _open(self, sealed: str | None) -> dict[str, Any] | None:
        if sealed is None:
            return None
        opened: dict[str, Any] = json.loads(self.sealer.open(sealed))
        return opened

    def _view(self, task: Task) -> TaskView:
        return TaskView(
            id=task.id,
            tenant_id=task.tenant,
            status=task.status,
            deployment=task.deployment,
            tool=task.tool,
            created_at=task.created_on,
            started_at=task.started_at,
            finished_at=task.finished_at,
            attempts=task.attempts,
            call_id=task.call_id,
            result=self._open(task.result),
            problem=self._open(task.problem),
        )
