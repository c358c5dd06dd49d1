"""Request and response bodies: `<Resource>Create / Update / Public`, never events or rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from domain.shared.application import CommandResult
from domain.tenancy.values import Role, Scope

Slug = Annotated[str, StringConstraints(min_length=3, max_length=39, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL text cannot hold NUL: one in an event would stall every projector."""
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class CommandAccepted(BaseModel):
    """A command's outcome: the aggregate, its new version, and the log position to wait for."""

    id: UUID
    version: int
    position: int

    @classmethod
    def of(cls, result: CommandResult) -> CommandAccepted:
        return cls(id=result.id, version=result.version, position=result.position)


class UserCreate(Strict):
    email: EmailStr = Field(max_length=254)
    username: Slug
    password: Password


class Registered(BaseModel):
    user_id: UUID
    tenant_id: UUID
    username: str
    position: int


class LoginRequest(Strict):
    email: EmailStr = Field(max_length=254)
    password: Password


class RefreshRequest(Strict):
    refresh_token: Token


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int


class LinkToken(Strict):
    token: Token


class PasswordResetRequest(Strict):
    email: EmailStr = Field(max_length=254)


class PasswordResetConfirm(Strict):
    token: Token
    password: Password


class PasswordChange(Strict):
    old_password: Password
    new_password: Password


class ProfileUpdate(Strict):
    display_name: Name


class Membership(BaseModel):
    tenant_id: UUID
    slug: str
    name: str
    kind: str
    role: str


class MePublic(BaseModel):
    user_id: UUID
    email: str
    username: str
    display_name: str
    email_verified: bool
    personal_tenant: str
    tenants: list[Membership]


class TenantCreate(Strict):
    slug: Slug
    name: Name


class TenantUpdate(Strict):
    name: Name


class TenantSuspend(Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class TenantPublic(BaseModel):
    tenant_id: UUID
    slug: str
    name: str
    kind: str
    plan: str
    status: str
    role: str | None = None
    created_at: datetime


class MemberPublic(BaseModel):
    user_id: UUID
    username: str
    email: str
    role: str
    joined_at: datetime


class MembersPublic(BaseModel):
    data: list[MemberPublic]


class MemberUpdate(Strict):
    role: Role


class InvitationCreate(Strict):
    email: EmailStr = Field(max_length=254)
    role: Role = Role.MEMBER


class InvitationPublic(BaseModel):
    invitation_id: UUID
    email: str
    role: str
    status: str
    invited_by: str
    expires_at: datetime
    created_at: datetime


class InvitationsPublic(BaseModel):
    data: list[InvitationPublic]


class InvitationIssued(CommandAccepted):
    invitation_id: UUID


class ApiTokenCreate(Strict):
    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    expires_at: AwareDatetime | None = None


class ApiTokenIssued(BaseModel):
    id: UUID
    token: str = Field(description="Shown once: store it now, it cannot be retrieved again.")
    prefix: str
    name: str
    scopes: list[str]
    expires_at: datetime | None
    position: int


class ApiTokenPublic(BaseModel):
    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    created_by: UUID
    created_at: datetime
    revoked_at: datetime | None


class ApiTokensPublic(BaseModel):
    data: list[ApiTokenPublic]


class AuditEntry(BaseModel):
    position: int
    tenant_id: UUID | None
    actor: str
    event_type: str
    aggregate_id: UUID
    aggregate_version: int
    occurred_at: datetime
    request_id: str | None
    correlation_id: str | None
    client_ip: str | None
    data: dict[str, Any]


class AuditPage(BaseModel):
    data: list[AuditEntry]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")
