"""`Task`: one tool call accepted now (`?mode=async`) and run by whichever API process claims it.

A task is accepted, then started by a worker that holds it for a lease, then finished with the
call's answer. Starting is how a worker claims it: two workers starting the same task from the
same version clash in the store, so one of them wins. A worker that dies leaves its task
started; once the lease it declared runs out, another worker may start it again (the next
attempt). The call inside a task is keyed by the task, so an attempt after a billed one
answers the billed result instead of calling again.

Params and answers may hold secrets: the aggregate keeps them sealed, as the application
hands them over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import event

from domain.shared.aggregate import BaseAggregate, deterministic_id
from domain.tasks.errors import TaskStateError


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED)


class Task(BaseAggregate):
    class Accepted(BaseAggregate.Created):
        tenant: UUID
        #: The deployment's name and the tool to call on it.
        deployment: str
        tool: str
        #: The tool's arguments as JSON, sealed.
        params: str
        #: Who asked: the API token (None for a signed-in session) and the user behind it.
        token_id: UUID | None
        user_id: UUID
        idempotency_key: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate._accepted(self)

    class Started(BaseAggregate.Event):
        worker: str
        attempt: int
        started_at: datetime
        lease_seconds: float

    class Released(BaseAggregate.Event):
        """The worker gave the task back unfinished (it is shutting down)."""

        worker: str

    class Finished(BaseAggregate.Event):
        succeeded: bool
        finished_at: datetime
        #: The billed call, when the call was sent.
        call_id: UUID | None
        #: The call's envelope as JSON, sealed: when the call was sent.
        result: str | None
        #: problem+json as JSON, sealed: when the call was refused before it was sent.
        problem: str | None

    # The state is set by `_accepted` (it also reads the event's metadata); it is not
    # annotated at class level, as the library would take annotations for `__init__` arguments.

    def _accepted(self, accepted: Accepted) -> None:
        self.tenant: UUID = accepted.tenant
        self.deployment: str = accepted.deployment
        self.tool: str = accepted.tool
        self.params: str = accepted.params
        self.token_id: UUID | None = accepted.token_id
        self.user_id: UUID = accepted.user_id
        self.idempotency_key: str | None = accepted.idempotency_key
        self.accepted_request_id: str | None = accepted.request_id
        self.status = TaskStatus.PENDING
        self.attempts = 0
        self.worker: str | None = None
        self.started_at: datetime | None = None
        self.lease_until: datetime | None = None
        self.finished_at: datetime | None = None
        self.call_id: UUID | None = None
        self.result: str | None = None
        self.problem: str | None = None

    @staticmethod
    def create_id(tenant_id: UUID, idempotency_key: str | None) -> UUID:
        """Random, or one per (tenant, key): a repeated key finds the first task."""
        if idempotency_key is None:
            return uuid4()
        return deterministic_id("task", f"{tenant_id}/{idempotency_key}")

    @classmethod
    def accept(
        cls,
        task_id: UUID,
        *,
        tenant: UUID,
        deployment: str,
        tool: str,
        params: str,
        token_id: UUID | None,
        user_id: UUID,
        idempotency_key: str | None,
    ) -> Task:
        return cls._create(
            cls.Accepted,
            id=task_id,
            tenant=tenant,
            deployment=deployment,
            tool=tool,
            params=params,
            token_id=token_id,
            user_id=user_id,
            idempotency_key=idempotency_key,
        )

    # --- reading --------------------------------------------------------------------------

    def claimable_at(self) -> datetime | None:
        """When a worker may start the task: now if pending, at the lease's end if running,
        never once finished."""
        if self.status.finished:
            return None
        if self.status is TaskStatus.PENDING:
            created: datetime = self.created_on
            return created
        return self.lease_until

    def claimable(self, now: datetime) -> bool:
        at = self.claimable_at()
        return at is not None and at <= now

    # --- deciding -------------------------------------------------------------------------

    def start(self, worker: str, now: datetime, lease_seconds: float) -> None:
        """Claim the task for `worker` until `now + lease_seconds` (the next attempt)."""
        if self.status.finished:
            raise TaskStateError("the task is finished")
        if not self.claimable(now):
            raise TaskStateError("another worker holds the task")
        self._start(
            worker=worker, attempt=self.attempts + 1, started_at=now, lease_seconds=lease_seconds
        )

    @event(Started)
    def _start(self, worker: str, attempt: int, started_at: datetime, lease_seconds: float) -> None:
        self.status = TaskStatus.RUNNING
        self.worker = worker
        self.attempts = attempt
        self.started_at = started_at
        self.lease_until = started_at + timedelta(seconds=lease_seconds)

    def release(self, worker: str) -> None:
        """Give the task back unfinished, so another worker may start it at once."""
        self._require_held_by(worker)
        self._release(worker=worker)

    @event(Released)
    def _release(self, worker: str) -> None:
        self.status = TaskStatus.PENDING
        self.worker = None
        self.lease_until = None

    def finish(
        self,
        worker: str,
        now: datetime,
        *,
        succeeded: bool,
        call_id: UUID | None,
        result: str | None,
        problem: str | None,
    ) -> None:
        """Record the answer: the call's envelope, or the problem that refused it."""
        self._require_held_by(worker)
        if (result is None) == (problem is None):
            raise ValueError("a task finishes with a result or a problem, not both or neither")
        self._finish(
            succeeded=succeeded, finished_at=now, call_id=call_id, result=result, problem=problem
        )

    @event(Finished)
    def _finish(
        self,
        succeeded: bool,
        finished_at: datetime,
        call_id: UUID | None,
        result: str | None,
        problem: str | None,
    ) -> None:
        self.status = TaskStatus.SUCCEEDED if succeeded else TaskStatus.FAILED
        self.finished_at = finished_at
        self.call_id = call_id
        self.result = result
        self.problem = problem
        self.lease_until = None

    def _require_held_by(self, worker: str) -> None:
        if self.status.finished:
            raise TaskStateError("the task is finished")
        if self.status is not TaskStatus.RUNNING or self.worker != worker:
            raise TaskStateError(f"the task is not held by {worker}")
