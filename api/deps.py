"""Request-scoped dependencies: the container, who is calling, and what they may see."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Query, Request

from api.errors import ProblemError
from api.ttl_cache import TtlCache
from domain.shared.context import actor_var, tenant_id_var
from domain.tenancy.application import API_TOKEN_PREFIX, TokenPrincipal
from domain.tenancy.errors import ScopeRequiredError, TenantNotFoundError, TokenInvalidError
from domain.tenancy.tenants import Tenant
from domain.tenancy.values import Role, Scope
from infra.container import Container
from infra.jwt_tokens import InvalidAccessToken
from projections.consistency import wait_for_position


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


@dataclass(frozen=True)
class Principal:
    """The caller: a signed-in user (session JWT) or an API token acting for its creator."""

    user_id: UUID
    actor: str
    session_id: UUID | None = None
    token: TokenPrincipal | None = None

    @property
    def is_token(self) -> bool:
        return self.token is not None


def bearer_credentials(authorization: str | None) -> str:
    if not authorization:
        raise TokenInvalidError("sign in, or send an API token as 'Authorization: Bearer …'")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise TokenInvalidError("use 'Authorization: Bearer <token>'")
    return credentials.strip()


def authenticate(container: Container, credentials: str) -> Principal:
    if credentials.startswith(API_TOKEN_PREFIX):
        token = container.tenancy.authenticate_token(credentials)
        return Principal(user_id=token.created_by, actor=f"token:{token.token_id}", token=token)
    try:
        claims = container.jwt.decode(credentials)
    except InvalidAccessToken:
        raise TokenInvalidError("the access token is invalid or expired") from None
    if not container.tenancy.session_is_active(claims.session_id):
        raise TokenInvalidError("the session has ended; sign in again")
    return Principal(
        user_id=claims.user_id, actor=f"user:{claims.user_id}", session_id=claims.session_id
    )


def principals(app: FastAPI) -> TtlCache[str, Principal]:
    """Who each bearer token spoke for lately, in this app (`auth.cache_seconds`)."""
    kept: TtlCache[str, Principal] | None = getattr(app.state, "principals", None)
    if kept is None:
        container: Container = app.state.container
        kept = app.state.principals = TtlCache(container.settings.auth.cache_seconds)
    return kept


def forget_credentials(request: Request) -> None:
    """After ending a session, revoking a token or suspending a tenant: this process refuses
    them from the next request on (others within `auth.cache_seconds`)."""
    principals(request.app).clear()
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.callers.clear()


async def get_principal(
    request: Request,
    container: ContainerDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    credentials = bearer_credentials(authorization)
    principal = await principals(request.app).resolve(
        credentials, partial(authenticate, container, credentials)
    )
    # Set here, in the request's own task, so the endpoint's thread inherits it.
    actor_var.set(principal.actor)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_optional_principal(
    request: Request,
    container: ContainerDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal | None:
    """For endpoints anyone may read: no header is anonymous, a bad one is still a 401."""
    if authorization is None:
        return None
    return await get_principal(request, container, authorization)


OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


async def get_user(principal: PrincipalDep) -> Principal:
    """Endpoints about a person's own account take a session, not an API token."""
    if principal.is_token:
        raise ProblemError(403, "auth.session_required", "this needs a signed-in user session")
    return principal


UserDep = Annotated[Principal, Depends(get_user)]


def is_platform_admin(container: Container, principal: Principal | None) -> bool:
    """Platform operators act only through a signed-in session, never a token."""
    if principal is None or principal.is_token:
        return False
    email = container.tenancy.user(principal.user_id).email
    return email in container.settings.auth.platform_admins


@dataclass(frozen=True)
class TenantAccess:
    tenant: Tenant
    role: Role
    principal: Principal

    @property
    def tenant_id(self) -> UUID:
        return self.tenant.id


def effective_role(tenant: Tenant, principal: Principal | None) -> Role | None:
    """The caller's role in the tenant, or None for a stranger (or another tenant's token).

    A token acts with its creator's role, capped at admin with the `admin` scope and at
    viewer (read-only) without it.
    """
    if principal is None:
        return None
    role = tenant.role_of(principal.user_id)
    if principal.token is None or role is None:
        return role
    if principal.token.tenant_id != tenant.id:
        return None
    cap = Role.ADMIN if Scope.ADMIN.value in principal.token.scopes else Role.VIEWER
    return min(role, cap, key=lambda r: r.rank)


def tenant_access(
    container: Container, principal: Principal, slug: str, at_least: Role
) -> TenantAccess:
    """Load the tenant and check the caller's role; binds the tenant for events and queries.

    Strangers, and tokens of other tenants, find nothing.
    """
    tenant = container.tenancy.tenant_by_slug(slug)
    role = effective_role(tenant, principal)
    if role is None:
        raise TenantNotFoundError("tenant not found")
    if not role.at_least(at_least):
        if principal.token is not None:
            raise ScopeRequiredError("this needs a token with the 'admin' scope")
        tenant.require_role(principal.user_id, at_least)  # raises, naming the role needed
    tenant_id_var.set(str(tenant.id))
    return TenantAccess(tenant=tenant, role=role, principal=principal)


def consistent_after(
    wait_for: Annotated[
        int | None,
        Query(ge=0, description="Wait until the read model has applied this log position."),
    ] = None,
    x_consistent_after: Annotated[int | None, Header(ge=0, include_in_schema=False)] = None,
) -> int | None:
    return wait_for if wait_for is not None else x_consistent_after


WaitForDep = Annotated[int | None, Depends(consistent_after)]


def await_read_model(container: Container, projection: str, position: int | None) -> None:
    """Bounded wait for read-your-writes; a 503 with a retry hint when it takes too long."""
    if position is None:
        return
    head = container.events.head()
    if position > head:
        raise ProblemError(
            422,
            "validation_failed",
            f"wait_for: position {position} is beyond the end of the log ({head})",
            field="wait_for",
            errors=[{"field": "wait_for", "message": "beyond the end of the log"}],
        )
    timeout = container.settings.wait_for_timeout_seconds
    if not wait_for_position(
        container.db,
        projection,
        position,
        timeout,
        distributed=container.settings.distributed,
        prefix=container.settings.kafka_topic_prefix,
    ):
        raise ProblemError(
            503,
            "read_model.lagging",
            f"the {projection} read model has not reached position {position} yet; retry",
            headers={"Retry-After": "1"},
            position=position,
        )
