"""Errors of the marketplace, each with a stable code the API and SDKs rely on."""

from __future__ import annotations

from domain.shared.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)


class InvalidServiceError(InvalidInputError):
    """A field of a service, version, price or review breaks a rule (the field is named)."""

    code = "validation_failed"


class ServiceNameTakenError(ConflictError):
    code = "service.name_taken"


class ServiceNotFoundError(NotFoundError):
    code = "service.not_found"


class VersionNotFoundError(NotFoundError):
    code = "service.version_not_found"


class VersionNotIncreasingError(InvalidInputError):
    code = "service.version_not_increasing"


class VersionYankedError(ConflictError):
    code = "service.version_yanked"


class ServiceStateError(ConflictError):
    """The lifecycle does not allow this step now (e.g. publishing without a version)."""

    code = "service.invalid_state"


class ServicePermissionError(PermissionDeniedError):
    code = "service.permission_denied"


class ReviewNotFoundError(NotFoundError):
    code = "review.not_found"


class ReviewExistsError(ConflictError):
    code = "review.exists"


class ReviewModeratedError(PermissionDeniedError):
    code = "review.moderated"
