"""API tokens: issued once, listed by prefix, revoked for good."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Path, Request, status

from api.deps import (
    ContainerDep,
    PrincipalDep,
    WaitForDep,
    await_read_model,
    forget_credentials,
    tenant_access,
)
from api.errors import PROBLEMS
from api.schemas import (
    ApiTokenCreate,
    ApiTokenIssued,
    ApiTokenPublic,
    ApiTokensPublic,
    CommandAccepted,
)
from domain.tenancy.values import Role
from projections.directory import tokens_of

router = APIRouter(prefix="/api/v1/tenants/{slug}/tokens", tags=["tokens"], responses=PROBLEMS)

SlugPath = Path(min_length=1, max_length=64)


@router.post(
    "",
    summary="Issue an API token",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiTokenIssued,
)
def issue_token(
    body: ApiTokenCreate, principal: PrincipalDep, container: ContainerDep, slug: str = SlugPath
) -> ApiTokenIssued:
    """The secret is in `token`, shown this once; we keep only its hash."""
    access = tenant_access(container, principal, slug, Role.MEMBER)
    issued = container.tenancy.issue_token(
        access.tenant, principal.user_id, body.name, body.scopes, body.expires_at
    )
    return ApiTokenIssued(
        id=issued.token_id,
        token=issued.token,
        prefix=issued.prefix,
        name=body.name,
        scopes=sorted({s.value for s in body.scopes}),
        expires_at=body.expires_at,
        position=issued.position,
    )


@router.get("", summary="List API tokens", response_model=ApiTokensPublic)
def list_tokens(
    principal: PrincipalDep, container: ContainerDep, wait_for: WaitForDep, slug: str = SlugPath
) -> ApiTokensPublic:
    """Every token of the tenant, revoked ones included; never the secret."""
    access = tenant_access(container, principal, slug, Role.MEMBER)
    await_read_model(container, "directory", wait_for)
    with container.db.scoped(access.tenant_id, principal.user_id) as conn:
        rows = tokens_of(conn, access.tenant_id)
    return ApiTokensPublic(data=[ApiTokenPublic(**r) for r in rows])


@router.post("/{token_id}/revoke", summary="Revoke an API token", response_model=CommandAccepted)
def revoke_token(
    token_id: UUID,
    principal: PrincipalDep,
    container: ContainerDep,
    request: Request,
    slug: str = SlugPath,
) -> CommandAccepted:
    """The token stops working (at once on this API process, within `auth.cache_seconds` on
    the others); members revoke their own, admins anyone's."""
    access = tenant_access(container, principal, slug, Role.MEMBER)
    result = container.tenancy.revoke_token(access.tenant, principal.user_id, token_id)
    forget_credentials(request)
    return CommandAccepted.of(result)


@router.delete("/{token_id}", summary="Revoke an API token", response_model=CommandAccepted)
def delete_token(
    token_id: UUID,
    principal: PrincipalDep,
    container: ContainerDep,
    request: Request,
    slug: str = SlugPath,
) -> CommandAccepted:
    """The same as `POST …/revoke`: tokens are never erased from history."""
    return revoke_token(token_id, principal, container, request, slug)
