"""The platform operators' console: every tenant, and reviews marketplace-wide to moderate.

Operators act through the ordinary commands (`/tenants/{slug}/suspend` and `/reactivate`,
`/services/{name}/feature`, `/services/{name}/reviews/{user_id}/remove`); this module adds the
reads they need across tenants. Those bypass row-level security deliberately and only here,
after the caller is known to be an operator (see `projections.admin_queries`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import (
    ContainerDep,
    Principal,
    PrincipalDep,
    UserDep,
    WaitForDep,
    await_read_model,
    is_platform_admin,
)
from api.errors import PROBLEMS, ProblemError
from api.schemas_admin import (
    AdminAccess,
    AdminReview,
    AdminReviewsPage,
    AdminTenant,
    AdminTenantsPage,
    TenantKind,
    TenantStatus,
)
from infra.container import Container
from projections.admin_queries import (
    InvalidAdminCursorError,
    platform_read,
    reviews_page,
    tenants_page,
)

NO_NUL = r"^[^\x00]*$"

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=PROBLEMS)

Cursor = Annotated[
    str | None,
    Query(max_length=512, pattern=NO_NUL, description="`next_cursor` of the previous page"),
]
Limit = Annotated[int, Query(ge=1, le=100)]


def require_platform_admin(container: Container, principal: Principal) -> None:
    if not is_platform_admin(container, principal):
        raise ProblemError(403, "platform.admin_required", "this needs a platform operator")


def _bad_cursor(error: ValueError) -> ProblemError:
    return ProblemError(
        422,
        "validation_failed",
        f"cursor: {error}",
        field="cursor",
        errors=[{"field": "cursor", "message": str(error)}],
    )


@router.get("/access", summary="Am I a platform operator", response_model=AdminAccess)
def read_access(principal: PrincipalDep, container: ContainerDep) -> AdminAccess:
    """Whether the console is open to the caller (always false for an API token)."""
    return AdminAccess(platform_admin=is_platform_admin(container, principal))


@router.get("/tenants", summary="List every tenant", response_model=AdminTenantsPage)
def list_all_tenants(
    principal: UserDep,
    container: ContainerDep,
    wait_for: WaitForDep,
    q: Annotated[
        str | None,
        Query(max_length=100, pattern=NO_NUL, description="Part of the slug or the name"),
    ] = None,
    status: TenantStatus | None = None,
    kind: TenantKind | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> AdminTenantsPage:
    """Platform operators only: personal and team tenants, newest first, with member counts."""
    require_platform_admin(container, principal)
    await_read_model(container, "directory", wait_for)
    try:
        with platform_read(container.db) as conn:
            rows, next_cursor = tenants_page(
                conn,
                q=q.strip() if q else None,
                status=status.value if status else None,
                kind=kind.value if kind else None,
                cursor=cursor,
                limit=limit,
            )
    except InvalidAdminCursorError as error:
        raise _bad_cursor(error) from None
    return AdminTenantsPage(
        data=[AdminTenant.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/reviews", summary="List recent reviews", response_model=AdminReviewsPage)
def list_recent_reviews(
    principal: UserDep,
    container: ContainerDep,
    wait_for: WaitForDep,
    service: Annotated[
        str | None,
        Query(min_length=1, max_length=64, pattern=NO_NUL, description="A service's name"),
    ] = None,
    rating: Annotated[int | None, Query(ge=1, le=5)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> AdminReviewsPage:
    """Platform operators only: visible reviews of every service, newest first."""
    require_platform_admin(container, principal)
    await_read_model(container, "catalogue", wait_for)
    try:
        with platform_read(container.db) as conn:
            rows, next_cursor = reviews_page(
                conn, service=service, rating=rating, cursor=cursor, limit=limit
            )
    except InvalidAdminCursorError as error:
        raise _bad_cursor(error) from None
    return AdminReviewsPage(
        data=[AdminReview.model_validate(r) for r in rows], next_cursor=next_cursor
    )
