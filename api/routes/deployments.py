"""Deployments: run a marketplace service for a tenant, and start, stop, scale, upgrade it.

Commands answer once their events are durable; the deployer then acts on them, and the
deployment's `status` and `instances` follow in the read model (`?wait_for=` reads your
write; the status moves on as instances start and pass their health checks).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import (
    ContainerDep,
    Principal,
    PrincipalDep,
    TenantAccess,
    WaitForDep,
    await_read_model,
    tenant_access,
)
from api.errors import PROBLEMS, status_of
from api.routes.services import accepted
from api.schemas import CommandAccepted
from api.schemas_deployments import (
    AutoscalingPolicy,
    BatchAction,
    BatchItem,
    BatchResult,
    DeploymentCreate,
    DeploymentPublic,
    DeploymentScale,
    DeploymentsPage,
    DeploymentUpdate,
    DeploymentUpgrade,
    InstancePublic,
)
from domain.deployments.errors import DeploymentNotFoundError
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError
from domain.tenancy.errors import ScopeRequiredError
from domain.tenancy.tenants import Tenant
from domain.tenancy.values import Role, Scope
from infra.container import Container
from projections.deployments_queries import deployment_of, deployments_of

READ_MODEL = "deployments"

router = APIRouter(
    prefix="/api/v1/tenants/{slug}/deployments", tags=["deployments"], responses=PROBLEMS
)

SlugPath = Path(min_length=1, max_length=64)
NamePath = Path(min_length=1, max_length=63, description="The deployment's name")


def deploy_access(container: Container, principal: Principal, slug: str) -> TenantAccess:
    """Members change deployments; a token needs the `deploy:write` (or `admin`) scope and
    a creator who is still at least a member."""
    access = tenant_access(container, principal, slug, Role.VIEWER)
    if principal.token is not None:
        scopes = set(principal.token.scopes)
        if not scopes & {Scope.DEPLOY_WRITE.value, Scope.ADMIN.value}:
            raise ScopeRequiredError("this needs a token with the 'deploy:write' scope")
    access.tenant.require_role(principal.user_id, Role.MEMBER)
    return access


def public_row(row: dict[str, Any]) -> DeploymentPublic:
    now = datetime.now(UTC)
    remote = row["runtime_kind"] == "remote"
    instances = [
        InstancePublic(
            **{**i, "endpoint": i["endpoint"] if remote else None},
            uptime_seconds=round(
                (now - datetime.fromisoformat(i["started_at"])).total_seconds(), 3
            ),
        )
        for i in row["instances"]
    ]
    ready = sum(1 for i in instances if i.health == "healthy")
    return DeploymentPublic(**{**row, "instances": instances}, ready_replicas=ready)


@router.post(
    "",
    summary="Deploy a service",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
)
def create_deployment(
    body: DeploymentCreate,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    slug: str = SlugPath,
) -> CommandAccepted:
    """A published service's version (the latest by default) with a configuration checked
    against that version's schema; a name deleted before may be deployed again."""
    access = deploy_access(container, principal, slug)
    result = container.deployments.request(
        access.tenant,
        principal.user_id,
        body.name,
        body.service,
        body.version,
        body.config,
        body.replicas,
    )
    response.headers["Location"] = f"/api/v1/tenants/{slug}/deployments/{body.name}"
    return accepted(response, result)


@router.get("", summary="List deployments", response_model=DeploymentsPage)
def list_deployments(
    principal: PrincipalDep,
    container: ContainerDep,
    wait_for: WaitForDep,
    slug: str = SlugPath,
    status_is: Annotated[
        str | None,
        Query(alias="status", pattern="^(pending|running|degraded|stopped|failed)$"),
    ] = None,
    service: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=63, pattern=r"^[a-z0-9-]+$", description="From the last page")
    ] = None,
) -> DeploymentsPage:
    """By name, with live status and instances; filter by `status` or `service`."""
    access = tenant_access(container, principal, slug, Role.VIEWER)
    await_read_model(container, READ_MODEL, wait_for)
    with container.db.scoped(access.tenant_id, principal.user_id) as conn:
        rows = deployments_of(
            conn, access.tenant_id, status=status_is, service=service, limit=limit, after=cursor
        )
    page = [public_row(r) for r in rows]
    return DeploymentsPage(data=page, next_cursor=page[-1].name if len(page) == limit else None)


@router.get("/{name}", summary="Get a deployment", response_model=DeploymentPublic)
def get_deployment(
    principal: PrincipalDep,
    container: ContainerDep,
    wait_for: WaitForDep,
    slug: str = SlugPath,
    name: str = NamePath,
) -> DeploymentPublic:
    """Status (`pending`, `running`, `degraded`, `stopped`, `failed`), instances with their
    health, the version, the last error and the configuration without secrets."""
    access = tenant_access(container, principal, slug, Role.VIEWER)
    await_read_model(container, READ_MODEL, wait_for)
    with container.db.scoped(access.tenant_id, principal.user_id) as conn:
        row = deployment_of(conn, access.tenant_id, name)
    if row is None:
        raise DeploymentNotFoundError(f"no deployment named {name!r}")
    return public_row(row)


def _command(
    slug: str,
    name: str,
    principal: Principal,
    container: Container,
    response: Response,
    act: Callable[[Tenant, str], CommandResult],
) -> CommandAccepted:
    access = deploy_access(container, principal, slug)
    return accepted(response, act(access.tenant, name))


@router.patch("/{name}", summary="Reconfigure a deployment", response_model=CommandAccepted)
def update_deployment(
    body: DeploymentUpdate,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    slug: str = SlugPath,
    name: str = NamePath,
) -> CommandAccepted:
    """The whole configuration; a secret sent back as `********` keeps its stored value.
    Instances are replaced one at a time to pick it up."""
    apps = container.deployments
    return _command(
        slug, name, principal, container, response,
        lambda tenant, n: apps.reconfigure(tenant, n, body.config),
    )  # fmt: skip


def _simple_action(method: str, verb: str, path: str, summary: str, doc: str) -> None:
    """A route that only names the deployment: `POST …/{name}/start` and its kin."""

    def endpoint(
        principal: PrincipalDep,
        container: ContainerDep,
        response: Response,
        slug: str = SlugPath,
        name: str = NamePath,
    ) -> CommandAccepted:
        act = getattr(container.deployments, method)
        return _command(slug, name, principal, container, response, act)

    endpoint.__name__ = endpoint.__qualname__ = f"{method}_deployment"
    endpoint.__doc__ = doc
    route = router.delete if verb == "DELETE" else router.post
    route(path, summary=summary, response_model=CommandAccepted)(endpoint)


for _method, _verb, _path, _summary, _doc in (
    ("delete", "DELETE", "/{name}", "Delete a deployment",
     "Its instances are stopped; the name may be deployed again."),
    ("start", "POST", "/{name}/start", "Start a deployment",
     "Also clears a `failed` deployment's error and tries again."),
    ("stop", "POST", "/{name}/stop", "Stop a deployment", "Its instances are stopped."),
    ("restart", "POST", "/{name}/restart", "Restart a deployment",
     "Every instance is replaced, one at a time, each new one healthy before the next."),
    ("roll_back", "POST", "/{name}/rollback", "Roll a deployment back",
     "To the version (and configuration) it ran before the last upgrade."),
):  # fmt: skip
    _simple_action(_method, _verb, _path, _summary, _doc)


@router.post("/{name}/scale", summary="Scale a deployment", response_model=CommandAccepted)
def scale_deployment(
    body: DeploymentScale,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    slug: str = SlugPath,
    name: str = NamePath,
) -> CommandAccepted:
    apps = container.deployments
    return _command(
        slug, name, principal, container, response,
        lambda tenant, n: apps.scale(tenant, n, body.replicas),
    )  # fmt: skip


@router.put("/{name}/autoscaling", summary="Autoscale a deployment", response_model=CommandAccepted)
def set_deployment_autoscaling(
    body: AutoscalingPolicy,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    slug: str = SlugPath,
    name: str = NamePath,
) -> CommandAccepted:
    """Replicas follow the calls in flight within `min_replicas..max_replicas` (up to the
    plan's limit); replicas outside those bounds are brought within at once."""
    apps = container.deployments
    return _command(
        slug, name, principal, container, response,
        lambda tenant, n: apps.set_autoscaling(
            tenant, n, body.min_replicas, body.max_replicas, body.target_in_flight
        ),
    )  # fmt: skip


@router.delete(
    "/{name}/autoscaling", summary="Stop autoscaling a deployment", response_model=CommandAccepted
)
def clear_deployment_autoscaling(
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    slug: str = SlugPath,
    name: str = NamePath,
) -> CommandAccepted:
    """Replicas stay where the scaler left them and change only when scaled."""
    apps = container.deployments
    return _command(slug, name, principal, container, response, apps.clear_autoscaling)


@router.post("/{name}/upgrade", summary="Upgrade a deployment", response_model=CommandAccepted)
def upgrade_deployment(
    body: DeploymentUpgrade,
    principal: PrincipalDep,
    container: ContainerDep,
    response: Response,
    slug: str = SlugPath,
    name: str = NamePath,
) -> CommandAccepted:
    """To another version (the latest by default), rolling: one replica at a time, each new
    instance healthy before an old one stops."""
    apps = container.deployments
    return _command(
        slug, name, principal, container, response,
        lambda tenant, n: apps.upgrade(tenant, n, body.version, body.config),
    )  # fmt: skip


@router.post(":batch", summary="Act on many deployments", response_model=BatchResult)
def batch(
    body: BatchAction, principal: PrincipalDep, container: ContainerDep, slug: str = SlugPath
) -> BatchResult:
    """`start`, `stop`, `restart` or `delete` each named deployment, independently: one result
    per name, in order; a failing item undoes no other."""
    access = deploy_access(container, principal, slug)
    act = getattr(container.deployments, body.action)
    results = []
    for name in body.names:
        try:
            done: CommandResult = act(access.tenant, name)
        except DomainError as error:
            results.append(
                BatchItem(
                    name=name,
                    ok=False,
                    status=status_of(error),
                    code=error.code,
                    detail=str(error),
                )
            )
        else:
            results.append(BatchItem(name=name, ok=True, status=200, position=done.position))
    ok = sum(1 for r in results if r.ok)
    return BatchResult(results=results, succeeded=ok, failed=len(results) - ok)
