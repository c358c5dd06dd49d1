"""Bodies of the platform operators' console (`api.routes.admin`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class TenantKind(StrEnum):
    PERSONAL = "personal"
    TEAM = "team"


class AdminAccess(BaseModel):
    """Whether the caller may open the operators' console."""

    platform_admin: bool


class AdminTenant(BaseModel):
    """A tenant as operators see it: any tenant, with its member count."""

    tenant_id: UUID
    slug: str
    name: str
    kind: TenantKind
    plan: str
    status: TenantStatus
    member_count: int
    created_at: datetime
    updated_at: datetime


class AdminTenantsPage(BaseModel):
    data: list[AdminTenant]
    next_cursor: str | None


class AdminReview(BaseModel):
    """A visible review of any service; `reviewer_id` is what moderation removes it by."""

    id: UUID
    service: str = Field(description="The service's name")
    service_display_name: str
    reviewer_id: UUID
    username: str
    rating: int
    comment: str
    has_deployed: bool = Field(description="The reviewer's tenant has a deployment of this service")
    posted_at: datetime
    updated_at: datetime


class AdminReviewsPage(BaseModel):
    data: list[AdminReview]
    next_cursor: str | None
