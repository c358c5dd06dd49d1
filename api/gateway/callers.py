"""Who is calling the gateway: a token (or a signed-in session) resolved to its tenant, role
and scopes, reused for `ttl` seconds.

Resolving reads the token and tenant from the event store (strongly consistent), so a
revoked token, a removed member or a suspended tenant stops working on every API process
within `ttl` of the change, without any message between processes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from api.deps import Principal, authenticate, bearer_credentials
from domain.shared.errors import DomainError
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


@dataclass
class CallerCache:
    """Callers by credentials, each kept `ttl` seconds: refusals too, so a flood of bad tokens
    costs one store read per token per `ttl`. Concurrent lookups of one key share one read."""

    container: Container
    ttl: float
    _cache: dict[tuple[str, str | None], tuple[Caller | DomainError, float]] = field(
        default_factory=dict
    )
    _reading: dict[tuple[str, str | None], asyncio.Future[Caller]] = field(default_factory=dict)

    async def resolve(self, authorization: str | None, tenant: str | None = None) -> Caller:
        """The caller behind an `Authorization` header; a session names its tenant (slug)."""
        credentials = bearer_credentials(authorization)
        key = (credentials, tenant)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[1] < self.ttl:
            found = cached[0]
            if isinstance(found, DomainError):
                raise found.with_traceback(None)  # not a longer traceback each time
            return found
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read(key))
            self._reading[key] = reading
        return await asyncio.shield(reading)

    async def _read(self, key: tuple[str, str | None]) -> Caller:
        read_at = time.monotonic()
        try:
            caller = await run_in_threadpool(self._resolve, *key)
        except DomainError as refused:
            self._remember(key, refused, read_at)
            raise
        else:
            self._remember(key, caller, read_at)
            return caller
        finally:
            del self._reading[key]

    def _remember(
        self, key: tuple[str, str | None], outcome: Caller | DomainError, read_at: float
    ) -> None:
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = (outcome, read_at)

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
