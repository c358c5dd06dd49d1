"""Marketplace commands: list, version and publish MCP services; server.json out.

Queries (search, detail, versions, reviews) live in `api/routes/catalogue.py`, review
commands in `api/routes/reviews.py`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import (
    ContainerDep,
    OptionalPrincipalDep,
    Principal,
    PrincipalDep,
    UserDep,
    effective_role,
    is_platform_admin,
)
from api.errors import PROBLEMS, ProblemError
from api.schemas import CommandAccepted
from api.schemas_services import (
    Deprecation,
    Featuring,
    Introspection,
    ServiceCreate,
    ServiceUpdate,
    Unpublishing,
    VersionCreate,
    Yank,
)
from domain.marketplace import server_json
from domain.marketplace.application import Acting
from domain.marketplace.errors import ServicePermissionError
from domain.marketplace.services import McpService
from domain.shared.context import tenant_id_var
from domain.tenancy.errors import TenantNotFoundError
from infra.container import Container
from infra.mcp.introspect import IntrospectionError, introspect

router = APIRouter(prefix="/api/v1/services", tags=["services"], responses=PROBLEMS)

NamePath = Path(min_length=1, max_length=64, description="The service's unique name")
VersionPath = Path(min_length=1, max_length=128, description="A released version")


def acting(
    container: Container, principal: Principal | None, publisher_id: UUID, *, change: bool = True
) -> Acting:
    """The caller as the publishing tenant sees them; a suspended tenant changes nothing.

    The platform's own templates have a publisher no one is a member of.
    """
    platform_admin = is_platform_admin(container, principal)
    try:
        tenant = container.tenancy.tenant(publisher_id)
    except TenantNotFoundError:
        return Acting(role=None, platform_admin=platform_admin)
    role = effective_role(tenant, principal)
    if change and role is not None:
        tenant.require_active()
    return Acting(role=role, platform_admin=platform_admin)


def acting_on(
    container: Container, principal: Principal | None, name: str, *, change: bool = True
) -> Acting:
    service = container.marketplace.service(name)
    return acting(container, principal, service.publisher_id, change=change)


def accepted(response: Response, result: Any) -> CommandAccepted:
    response.headers["X-Consistent-After"] = str(result.position)
    return CommandAccepted.of(result)


@router.post(
    "",
    summary="Draft a service",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
)
def draft_service(
    body: ServiceCreate, principal: PrincipalDep, container: ContainerDep, response: Response
) -> CommandAccepted:
    """A draft, visible only to the publishing tenant until it is published.

    The publisher is `publisher` (a tenant slug where you are owner or admin); without it, the
    token's tenant, or your personal tenant.
    """
    if body.publisher:
        tenant = container.tenancy.tenant_by_slug(body.publisher)
    elif principal.token is not None:
        tenant = container.tenancy.tenant(principal.token.tenant_id)
    else:
        tenant = container.tenancy.tenant(
            container.tenancy.user(principal.user_id).personal_tenant_id
        )
    if effective_role(tenant, principal) is None:
        raise TenantNotFoundError("tenant not found", field="publisher")
    who = acting(container, principal, tenant.id)
    tenant_id_var.set(str(tenant.id))
    details = body.changes()
    del details["name"]
    details.pop("publisher", None)
    result = container.marketplace.draft(body.name, tenant.id, tenant.slug, who, details)
    return accepted(response, result)


@router.patch("/{name}", summary="Change a service's listing", response_model=CommandAccepted)
def update_service(
    body: ServiceUpdate,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    name: str = NamePath,
) -> CommandAccepted:
    """Send only the fields to change; an unchanged value records nothing."""
    who = acting_on(container, principal, name)
    return accepted(response, container.marketplace.update(name, who, body.changes()))


@router.post(
    "/{name}/versions",
    summary="Release a version",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
)
def release_version(
    body: VersionCreate,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    name: str = NamePath,
) -> CommandAccepted:
    """Semver, greater than every version released before (yanked ones included); immutable."""
    who = acting_on(container, principal, name)
    result = container.marketplace.release(name, who, body.version, body.release())
    return accepted(response, result)


@router.post(
    "/{name}/versions/{version}/yank", summary="Yank a version", response_model=CommandAccepted
)
def yank_version(
    body: Yank,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    name: str = NamePath,
    version: str = VersionPath,
) -> CommandAccepted:
    """New deployments skip it; running ones keep it until they upgrade."""
    who = acting_on(container, principal, name)
    return accepted(response, container.marketplace.yank(name, who, version, body.reason))


@router.post(
    "/{name}/versions/{version}/introspect",
    summary="List a version's tools by running it",
    response_model=Introspection,
)
def introspect_tools(
    principal: PrincipalDep,
    container: ContainerDep,
    name: str = NamePath,
    version: str = VersionPath,
) -> Introspection:
    """Starts the server once (installing its pinned package if needed, or connecting to its
    remote URL, which must not be an internal address), runs `initialize` and `tools/list`,
    and records the tools on the version. Can take a minute on a first install.
    """
    who = acting_on(container, principal, name)
    service = container.marketplace.visible_service(name, who)
    if not (who.may_edit() or who.platform_admin):
        raise ServicePermissionError("only the publisher's owners and admins, or operators")
    settings = container.settings
    release = service.release_of(version)
    try:
        found = introspect(
            release["runtime"],
            release["config_schema"],
            settings.home,
            allowed_hosts=settings.runtime.allowed_hosts,
            trusted=who.platform_admin,
        )
    except IntrospectionError as error:
        raise ProblemError(
            422, "service.introspection_failed", str(error), field="version"
        ) from None
    result = container.marketplace.record_introspection(
        name, version, found.tools, found.server_info
    )
    return Introspection(
        version=version, server=found.server_info, tools=found.tools, position=result.position
    )


@router.post("/{name}/publish", summary="Publish a service", response_model=CommandAccepted)
def publish_service(
    principal: PrincipalDep, container: ContainerDep, response: Response, name: str = NamePath
) -> CommandAccepted:
    """Listed for everyone, anonymous visitors included; needs a released version."""
    who = acting_on(container, principal, name)
    return accepted(response, container.marketplace.publish(name, who))


@router.post("/{name}/deprecate", summary="Deprecate a service", response_model=CommandAccepted)
def deprecate_service(
    body: Deprecation,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    name: str = NamePath,
) -> CommandAccepted:
    """Still listed, with a notice and, if given, the listed service that replaces it."""
    who = acting_on(container, principal, name)
    result = container.marketplace.deprecate(name, who, body.successor, body.reason)
    return accepted(response, result)


@router.post("/{name}/unpublish", summary="Unpublish a service", response_model=CommandAccepted)
def unpublish_service(
    body: Unpublishing,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    name: str = NamePath,
) -> CommandAccepted:
    """Back to a draft: hidden from the marketplace, kept for its tenant."""
    who = acting_on(container, principal, name)
    return accepted(response, container.marketplace.unpublish(name, who, body.reason))


@router.post("/{name}/feature", summary="Feature a service", response_model=CommandAccepted)
def feature_service(
    body: Featuring,
    principal: UserDep,
    container: ContainerDep,
    response: Response,
    name: str = NamePath,
) -> CommandAccepted:
    """Platform operators only; `{"featured": false}` takes it off the front page."""
    who = acting_on(container, principal, name)
    return accepted(response, container.marketplace.feature(name, who, body.featured))


@router.get("/{name}/server.json", summary="Export as server.json")
def export_server_json(
    principal: OptionalPrincipalDep,
    container: ContainerDep,
    name: str = NamePath,
    version: str | None = Query(default=None, max_length=128),
) -> dict[str, Any]:
    """The official MCP Registry format; our extra fields ride in `_meta["one.mcps/service"]`."""
    who = acting_on(container, principal, name, change=False)
    service: McpService = container.marketplace.visible_service(name, who)
    return server_json.export(service, version)
