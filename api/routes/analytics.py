"""Usage analytics from ClickHouse: a tenant's own calls, and a publisher's view of its service.

Series are bucketed by minute, hour or day (UTC) and may be grouped. The publisher view
spans every calling tenant but never names them: it cannot be grouped by deployment or token.
Rows arrive from the usage sink shortly after each call is billed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query

from api.deps import ContainerDep, Principal, PrincipalDep, tenant_access
from api.errors import PROBLEMS
from api.routes.services import acting
from api.schemas_analytics import (
    AnalyticsPoint,
    AnalyticsPublic,
    AnalyticsSeries,
    AnalyticsSummary,
)
from domain.marketplace.errors import ServiceNotFoundError, ServicePermissionError
from domain.tenancy.errors import ScopeRequiredError
from domain.tenancy.values import Role, Scope
from infra.container import Container
from projections.usage_queries import (
    METRICS,
    GroupBy,
    Interval,
    analytics,
    check_metric,
    summary,
    top_tools,
)

router = APIRouter(tags=["analytics"], responses=PROBLEMS)

DEFAULT_RANGE = timedelta(hours=24)
READ_SCOPES = frozenset({Scope.BILLING_READ.value, Scope.MCP_READ.value, Scope.ADMIN.value})

#: Checked in the endpoint, after FastAPI has validated the query: a bad query value is
#: reported against its own field even when the metric is unknown too.
MetricPath = Annotated[
    str,
    Path(
        max_length=16,
        description="calls, latency, errors or cost",
        json_schema_extra={"enum": list(METRICS)},
    ),
]
From = Annotated[
    datetime | None,
    Query(alias="from", description="Start (inclusive, with a time zone); default `to` - 24 h"),
]
To = Annotated[datetime | None, Query(description="End (exclusive, with a time zone); default now")]
IntervalQuery = Annotated[Interval, Query(description="The bucket size")]
GroupByQuery = Annotated[GroupBy | None, Query(description="One series per value")]


def _require_read_scope(principal: Principal) -> None:
    if principal.token is not None and not READ_SCOPES & set(principal.token.scopes):
        raise ScopeRequiredError("this needs a token with the 'billing:read' or 'mcp:read' scope")


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    return start or end - DEFAULT_RANGE, end


def _report(
    container: Container,
    metric_name: str,
    start: datetime | None,
    end: datetime | None,
    interval: Interval,
    group_by: GroupBy | None,
    *,
    tenant_id: UUID | None = None,
    service_id: UUID | None = None,
) -> AnalyticsPublic:
    metric = check_metric(metric_name)
    start, end = _range(start, end)
    client, db = container.clickhouse, container.settings.clickhouse_database
    scope: dict[str, Any] = {"tenant_id": tenant_id, "service_id": service_id}
    buckets = analytics(
        client,
        db,
        metric=metric,
        start=start,
        end=end,
        interval=interval,
        group_by=group_by,
        **scope,
    )
    series: dict[str | None, list[AnalyticsPoint]] = {} if group_by else {None: []}
    for bucket in buckets:
        series.setdefault(bucket.pop("group"), []).append(AnalyticsPoint(**bucket))
    totals = summary(client, db, metric=metric, start=start, end=end, **scope)
    tools = top_tools(client, db, start=start, end=end, **scope)
    return AnalyticsPublic(
        metric=metric,
        interval=interval,
        from_=start,
        to=end,
        group_by=group_by,
        series=[AnalyticsSeries(group=g, points=points) for g, points in series.items()],
        summary=AnalyticsSummary(**totals, top_tools=tools),
    )


@router.get(
    "/api/v1/tenants/{slug}/analytics/{metric}",
    summary="Read a tenant's usage analytics",
    response_model=AnalyticsPublic,
    response_model_exclude_unset=True,
)
def read_tenant_analytics(
    principal: PrincipalDep,
    container: ContainerDep,
    metric: MetricPath,
    slug: Annotated[str, Path(min_length=1, max_length=64)],
    start: From = None,
    to: To = None,
    interval: IntervalQuery = "hour",
    group_by: GroupByQuery = None,
) -> AnalyticsPublic:
    """The tenant's calls per bucket: count, latency percentiles, errors or cost. Members and
    viewers; a token needs `billing:read`, `mcp:read` or `admin`."""
    access = tenant_access(container, principal, slug, Role.VIEWER)
    _require_read_scope(principal)
    return _report(container, metric, start, to, interval, group_by, tenant_id=access.tenant_id)


@router.get(
    "/api/v1/services/{name}/analytics/{metric}",
    summary="Read a service's usage analytics (publisher)",
    response_model=AnalyticsPublic,
    response_model_exclude_unset=True,
)
def read_service_analytics(
    principal: PrincipalDep,
    container: ContainerDep,
    metric: MetricPath,
    name: Annotated[str, Path(min_length=1, max_length=64, description="The service's name")],
    start: From = None,
    to: To = None,
    interval: IntervalQuery = "hour",
    group_by: GroupByQuery = None,
) -> AnalyticsPublic:
    """Calls to the service from every tenant, without naming them. The publishing tenant's
    members only; a token needs `billing:read`, `mcp:read` or `admin`."""
    service = container.marketplace.service(name)
    if acting(container, principal, service.publisher_id, change=False).role is None:
        if not service.status.listed:
            raise ServiceNotFoundError(f"no service named {name!r}")
        raise ServicePermissionError("only the publisher's members see a service's analytics")
    _require_read_scope(principal)
    return _report(container, metric, start, to, interval, group_by, service_id=service.id)
