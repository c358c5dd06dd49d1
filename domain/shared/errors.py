"""The root of every domain error: a stable `code`, a message for people, and the field at fault.

HTTP knows nothing here: `api/errors.py` maps each class to a status in one table.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain.error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class InvalidInputError(DomainError):
    code = "invalid_input"


class NotFoundError(DomainError):
    code = "not_found"


class ConflictError(DomainError):
    code = "conflict"


class ConcurrentChangeError(ConflictError):
    """Someone else changed the aggregate between our load and our save."""

    code = "concurrent_change"


class PermissionDeniedError(DomainError):
    code = "permission_denied"


class AuthenticationError(DomainError):
    code = "auth.unauthenticated"
