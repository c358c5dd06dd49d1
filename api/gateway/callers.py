"""Who is calling the gateway: a token (or a signed-in session) resolved to its tenant, role
and scopes, reused for `ttl` seconds.

Resolving reads the token and tenant from the event store (strongly consistent), so a
revoked token, a removed member or a suspended tenant stops working on every API process
within `ttl` of the change, without any message between processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from uuid import UUID

from api.deps import Principal, authenticate, bearer_credentials
from api.ttl_cache import TtlCache
from domain.tenancy.errors import (
    RoleRequiredError,
    ScopeRequiredError,
    TenantNotFoundError,
)
from domain.tenancy.values import Plan, Role, Scope
from infra.container import Container

#: What each gateway action needs: a token scope (or `admin`), and the creator's least role.
READ = (frozenset({Scope.MCP_READ.value, Scope.MCP_EXECUTE.value}), Role.VIEWER)
EXECUTE = (frozenset({Scope.MCP_EXECUTE.value}), Role.MEMBER)


@dataclass(frozen=True)
class Caller:
    tenant_id: UUID
    tenant_slug: str
    plan: Plan
    role: Role
    user_id: UUID
    actor: str
    token_id: UUID | None
    scopes: frozenset[str] | None  # None: a signed-in session, which has no scopes

    def require(self, need: tuple[frozenset[str], Role]) -> None:
        scopes, role = need
        if self.scopes is not None and not (self.scopes & scopes or "admin" in self.scopes):
            wanted = " or ".join(sorted(scopes))
            raise ScopeRequiredError(f"the token needs the {wanted} scope")
        if not self.role.at_least(role):
            raise RoleRequiredError(f"this needs the {role.value} role in the tenant")


class CallerCache:
    """Callers by credentials and tenant, each kept `ttl` seconds (`api.ttl_cache`)."""

    def __init__(self, container: Container, ttl: float) -> None:
        self.container = container
        self._kept: TtlCache[tuple[str, str | None], Caller] = TtlCache(ttl)

    async def resolve(self, authorization: str | None, tenant: str | None = None) -> Caller:
        """The caller behind an `Authorization` header; a session names its tenant (slug)."""
        credentials = bearer_credentials(authorization)
        return await self._kept.resolve(
            (credentials, tenant), partial(self._resolve, credentials, tenant)
        )

    def clear(self) -> None:
        self._kept.clear()

    def _resolve(self, credentials: str, slug: str | None) -> Caller:
        principal: Principal = authenticate(self.container, credentials)
        tenancy = self.container.tenancy
        if principal.token is not None:
            if slug is not None and slug != principal.token.tenant_slug:
                raise TenantNotFoundError("tenant not found")
            tenant = tenancy.tenant(principal.token.tenant_id)
        else:
            if slug is None:
                raise TenantNotFoundError(
                    "a signed-in session names its tenant: the X-MCPS-Tenant header or ?tenant="
                )
            tenant = tenancy.tenant_by_slug(slug)
        tenant.require_active()
        role = tenant.role_of(principal.user_id)
        if role is None:
            raise TenantNotFoundError("tenant not found")
        return Caller(
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            plan=tenant.plan,
            role=role,
            user_id=principal.user_id,
            actor=principal.actor,
            token_id=principal.token.token_id if principal.token else None,
            scopes=principal.token.scopes if principal.token else None,
        )
