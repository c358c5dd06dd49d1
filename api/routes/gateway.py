"""The REST tool-call API: list a tenant's callable servers, call a tool, call many.

Authenticate with an API token (`mcp:execute` to call, `mcp:read` to list) or a signed-in
session naming its tenant in `X-MCPS-Tenant`. A call's answer is the seeds' envelope,
`{success, data, error, timestamp, request_id, duration_ms}`: 200 when the server answered
(a tool error included), 502 when the instance failed mid-call, 504 on timeout. A call
refused before it was sent (auth, limits, unknown tool, invalid params) is problem+json.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.errors import PROBLEM_BASE, PROBLEMS, problem_body, status_of
from api.gateway.callers import EXECUTE, READ, Caller
from api.gateway.http import GatewayDep, json_response
from api.gateway.service import CallOutcome
from api.gateway.tasks import runner_of
from api.schemas_gateway import (
    BatchCallResults,
    BatchCalls,
    CallableServer,
    CallableServers,
    CallResult,
    InstanceStatus,
    Method,
    ServerStatus,
    TaskAccepted,
    ToolCall,
)
from domain.billing.pricing import CallStatus
from domain.shared.context import request_id_var
from domain.shared.errors import DomainError
from projections.usage_queries import history

log = logging.getLogger("mcps.gateway")
INTERNAL_PROBLEM = {
    "type": PROBLEM_BASE + "internal",
    "title": "Internal Server Error",
    "status": 500,
    "detail": "something went wrong on our side; it was logged",
    "code": "internal",
}

router = APIRouter(prefix="/api/v1/mcp", tags=["gateway"], responses=PROBLEMS)

NamePath = Path(min_length=1, max_length=63, description="The deployment's name")
STATUS_OF_CALL = {
    CallStatus.OK: 200,
    CallStatus.TOOL_ERROR: 200,
    CallStatus.UPSTREAM_ERROR: 502,
    CallStatus.TIMEOUT: 504,
}


async def _caller(
    request: Request,
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_mcps_tenant: Annotated[
        str | None,
        Header(max_length=64, description="For a signed-in session: the tenant's slug"),
    ] = None,
) -> Caller:
    return await gateway.callers.resolve(authorization, x_mcps_tenant)


CallerDep = Annotated[Caller, Depends(_caller)]


@router.get("/tools", response_model=CallableServers)
async def list_tools(gateway: GatewayDep, caller: CallerDep) -> CallableServers:
    """The tenant's deployments and their tools (as a running instance lists them)."""
    caller.require(READ)
    routes = await gateway.routes.routes(caller.tenant_id)
    servers = []
    for route in routes.values():
        live = await gateway.tools_of(route) if route.healthy_instances else None
        tools = live.values() if live is not None else route.declared_tools
        methods = [
            Method(name=t.name, description=t.description, input_schema=t.input_schema)
            for t in tools
        ]
        servers.append(
            CallableServer(
                name=route.name,
                service=route.service,
                version=route.version,
                status=route.status,
                description=f"{route.service} {route.version}",
                methods=methods,
                tools_source="live" if live is not None else "declared",
            )
        )
    return CallableServers(servers=servers)


@router.get("/tools/{name}/status", response_model=ServerStatus)
async def server_status(
    gateway: GatewayDep, caller: CallerDep, name: Annotated[str, NamePath]
) -> ServerStatus:
    """Live status of one deployment as this gateway sees it: instances, load, breakers."""
    caller.require(READ)
    route = await gateway.route(caller, name)
    now = time.monotonic()
    instances = []
    for instance in route.instances:
        upstream = gateway.pool.get(instance)
        instances.append(
            InstanceStatus(
                id=instance.id,
                healthy=instance.healthy,
                outstanding_calls=upstream.outstanding,
                circuit="closed" if upstream.breaker.allows(now) else "open",
            )
        )
    return ServerStatus(
        name=route.name,
        service=route.service,
        version=route.version,
        status=route.status,
        healthy_instances=len(route.healthy_instances),
        instances=instances,
    )


@router.get("/history")
async def call_history(
    gateway: GatewayDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    tool: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    status: Annotated[str | None, Query(pattern="^(ok|tool_error|upstream_error|timeout)$")] = None,
    before: Annotated[
        str | None, Query(max_length=80, description="`next_cursor` of the previous page")
    ] = None,
) -> dict[str, Any]:
    """The tenant's calls, newest first (from the usage store: a second or so behind)."""
    caller.require(READ)
    container = gateway.container
    page = await run_in_threadpool(
        history,
        container.clickhouse,
        container.settings.clickhouse_database,
        caller.tenant_id,
        limit=limit,
        tool=tool,
        status=status,
        before=before,
    )
    return {"calls": page.calls, "next_cursor": page.next_cursor}


@router.post(
    "/{name}/call",
    response_model=CallResult,
    responses={
        202: {"model": TaskAccepted, "description": "`?mode=async`: the task to poll"},
        502: {"model": CallResult},
        504: {"model": CallResult},
    },
)
async def call_tool(
    request: Request,
    gateway: GatewayDep,
    caller: CallerDep,
    name: Annotated[str, NamePath],
    body: ToolCall,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="The same key (per tenant) answers with the first result, billed once",
        ),
    ] = None,
    mode: Annotated[
        Literal["sync", "async"],
        Query(
            description="`sync` (default) waits for the answer; `async` answers 202 at once "
            "with a task, whose answer `GET /api/v1/tasks/{task_id}` gives once it is finished"
        ),
    ] = "sync",
) -> Response:
    """Call one tool of a deployment and wait for its answer (billed once it is durable),
    or with `?mode=async`, have it run in the background and poll for the answer."""
    caller.require(EXECUTE)
    if mode == "async":
        accepted = await runner_of(request.app).accept(
            caller, name, body.method, body.params, idempotency_key=idempotency_key
        )
        headers = {"Location": f"/api/v1/tasks/{accepted.task_id}"}
        if accepted.replayed:
            headers["Idempotent-Replayed"] = "true"
        task = {"task_id": str(accepted.task_id), "status": accepted.status.value}
        return json_response(task, 202, headers)
    outcome = await gateway.call(
        caller, name, body.method, body.params, idempotency_key=idempotency_key
    )
    return answer(outcome)


@router.post("/batch", response_model=BatchCallResults)
async def call_batch(gateway: GatewayDep, caller: CallerDep, body: BatchCalls) -> Response:
    """Many calls, run concurrently; one result each, in order. One refused call (a bad tool,
    a rate limit) does not stop the others."""
    caller.require(EXECUTE)
    outcomes = await gateway.batch(caller, [(c.name, c.method, c.params) for c in body.calls])
    results: list[dict[str, Any]] = []
    for call, outcome in zip(body.calls, outcomes, strict=True):
        if isinstance(outcome, CallOutcome):
            results.append(
                {
                    "name": call.name,
                    "status": STATUS_OF_CALL[outcome.status],
                    "result": outcome.body(request_id_var.get()),
                }
            )
        elif isinstance(outcome, DomainError):
            status = status_of(outcome)
            results.append(
                {"name": call.name, "status": status, "problem": problem_body(status, outcome)}
            )
        else:  # a fault of ours in one call: that call's answer, not the whole batch's
            log.error("batch call to %s failed", call.name, exc_info=outcome)
            results.append({"name": call.name, "status": 500, "problem": INTERNAL_PROBLEM})
    return json_response({"results": results})


def answer(outcome: CallOutcome) -> Response:
    """A call's envelope, its status, and its limit and replay headers."""
    headers = dict(outcome.limit_headers or {})
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(
        outcome.body(request_id_var.get()), STATUS_OF_CALL[outcome.status], headers
    )
