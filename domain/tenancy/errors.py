"""Errors of identity and tenancy, each with a stable code the API and SDKs rely on."""

from __future__ import annotations

from domain.shared.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)


class EmailTakenError(ConflictError):
    code = "user.email_taken"


class SlugTakenError(ConflictError):
    code = "tenant.slug_taken"


class InvalidCredentialsError(AuthenticationError):
    code = "auth.invalid_credentials"


class TokenInvalidError(AuthenticationError):
    code = "auth.token_invalid"


class LinkInvalidError(InvalidInputError):
    """A verification, reset or invitation link that is unknown, used or expired."""

    code = "auth.link_invalid"


class UserNotFoundError(NotFoundError):
    code = "user.not_found"


class TenantNotFoundError(NotFoundError):
    code = "tenant.not_found"


class TenantSuspendedError(PermissionDeniedError):
    code = "tenant.suspended"


class RoleRequiredError(PermissionDeniedError):
    code = "tenant.role_required"


class ScopeRequiredError(PermissionDeniedError):
    code = "token.scope_required"


class LastOwnerError(ConflictError):
    code = "tenant.last_owner"


class AlreadyMemberError(ConflictError):
    code = "tenant.already_member"


class MemberNotFoundError(NotFoundError):
    code = "tenant.member_not_found"


class InvitationNotFoundError(NotFoundError):
    code = "invitation.not_found"


class PersonalTenantError(InvalidInputError):
    code = "tenant.personal"


class ApiTokenNotFoundError(NotFoundError):
    code = "token.not_found"
