"""A deployment's logs: what its instances wrote, from ClickHouse, by time and level; and
followed live as server-sent events (`?follow=true`), one `log` event per line.

ClickHouse has no row-level security: every query here is bounded to the caller's tenant and
the deployment by the API, after the same access check as every deployment read.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ContainerDep, PrincipalDep, tenant_access
from api.errors import PROBLEMS
from api.schemas_deployments import LogLinePublic, LogsPage
from domain.deployments.errors import DeploymentNotFoundError
from domain.tenancy.values import Role
from infra.clickhouse import clickhouse_client
from infra.container import Container
from infra.deployment_logs import create_table, query_logs
from projections.deployments_queries import deployment_of

router = APIRouter(
    prefix="/api/v1/tenants/{slug}/deployments", tags=["deployment-streams"], responses=PROBLEMS
)

FOLLOW_POLL_S = 0.5
FOLLOW_MAX_S = 15 * 60
_table_checked = threading.Event()


def _clickhouse(container: Container) -> Any:
    client = clickhouse_client(container.settings.clickhouse_url, container.settings.home)
    if not _table_checked.is_set():  # the deployer creates it; a fresh ClickHouse may not
        create_table(client)
        _table_checked.set()
    return client


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return LogLinePublic(**row).model_dump(mode="json")


@router.get(
    "/{name}/logs",
    summary="Read or follow a deployment's logs",
    response_model=LogsPage,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def deployment_logs(
    principal: PrincipalDep,
    container: ContainerDep,
    slug: str = Path(min_length=1, max_length=64),
    name: str = Path(min_length=1, max_length=63),
    since: Annotated[datetime | None, Query(description="From this time (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Before this time")] = None,
    level: Annotated[
        Literal["debug", "info", "warning", "error"], Query(description="This level and above")
    ] = "debug",
    instance: Annotated[str | None, Query(max_length=128, pattern=r"^[\w.-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    follow: Annotated[bool, Query(description="Keep streaming new lines (SSE)")] = False,
) -> Any:
    access = tenant_access(container, principal, slug, Role.VIEWER)
    with container.db.scoped(access.tenant_id, principal.user_id) as conn:
        row = deployment_of(conn, access.tenant_id, name)
    if row is None:
        raise DeploymentNotFoundError(f"no deployment named {name!r}")
    clickhouse = _clickhouse(container)
    filters = {"since": since, "until": until, "level": level, "instance": instance}
    lines = query_logs(clickhouse, access.tenant_id, row["id"], limit=limit, **filters)
    if not follow:
        return LogsPage(data=[LogLinePublic(**line) for line in lines])

    async def stream() -> AsyncIterator[str]:
        batch, after, waited = lines, None, 0.0
        while waited < FOLLOW_MAX_S:
            for line in batch:
                yield f"event: log\ndata: {json.dumps(_public(line))}\n\n"
                after = (line["at"], line["instance"], line["batch_end"], line["line"])
            if not batch:
                yield ": keep-alive\n\n"
            await asyncio.sleep(FOLLOW_POLL_S)
            waited += FOLLOW_POLL_S
            batch = await run_in_threadpool(
                query_logs, clickhouse, access.tenant_id, row["id"], after=after, limit=limit,
                **filters,
            )  # fmt: skip
        yield "event: end\ndata: {}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")
