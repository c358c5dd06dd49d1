"""The tenant's audit log, filtered and paged by cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ContainerDep, PrincipalDep, WaitForDep, await_read_model, tenant_access
from api.errors import PROBLEMS, ProblemError
from api.schemas import AuditEntry, AuditPage
from domain.tenancy.values import Role
from projections.audit import AuditFilter, query_audit

router = APIRouter(prefix="/api/v1/tenants/{slug}/audit", tags=["audit"], responses=PROBLEMS)


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ProblemError(
            422,
            "validation_failed",
            "cursor: not a cursor from this API",
            field="cursor",
            errors=[{"field": "cursor", "message": "not a cursor from this API"}],
        )
    return int(value)


@router.get("", summary="Read the audit log", response_model=AuditPage)
def read_audit(
    principal: PrincipalDep,
    container: ContainerDep,
    wait_for: WaitForDep,
    slug: Annotated[str, Path(min_length=1, max_length=64)],
    actor: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    type: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[^\x00]*$",
            description="Event type prefix, e.g. `tenancy.Tenant`",
        ),
    ] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    """Newest first: who did what, when and from where. Admins and owners only."""
    access = tenant_access(container, principal, slug, Role.ADMIN)
    await_read_model(container, "audit", wait_for)
    filters = AuditFilter(
        actor=actor, event_type=type, since=since, until=until, before=_cursor(cursor)
    )
    with container.db.scoped(access.tenant_id, principal.user_id) as conn:
        rows = query_audit(conn, filters, limit + 1)
    page = [AuditEntry(**r) for r in rows[:limit]]
    next_cursor = str(page[-1].position) if len(rows) > limit else None
    return AuditPage(data=page, next_cursor=next_cursor)
