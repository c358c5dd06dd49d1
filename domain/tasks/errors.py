"""Errors of asynchronous tasks, each with a stable code the API and SDKs rely on."""

from __future__ import annotations

from domain.shared.errors import ConflictError, NotFoundError


class TaskNotFoundError(NotFoundError):
    """No such task for this tenant (another tenant's task is not found either)."""

    code = "task.not_found"


class TaskStateError(ConflictError):
    """The step does not fit the task's state: it is finished, or another worker holds it."""

    code = "task.invalid_state"
