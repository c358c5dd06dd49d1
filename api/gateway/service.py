"""One tool call, end to end: limits, route, validate, call, price, bill, answer.

The order is the issue's path of one call. Everything before the upstream call refuses with
a problem (nothing billed); once the call is sent, its outcome is billed exactly once, as a
`Call.Billed` event made durable (group commit) before the caller hears back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from starlette.concurrency import run_in_threadpool

from api.gateway.billing_queue import DRAINS, BillingQueue
from api.gateway.callers import Caller, CallerCache
from api.gateway.errors import (
    GatewayUnavailableError,
    InvalidParamsError,
    NotCallableError,
    ToolNotFoundError,
)
from api.gateway.limits import Limits, rate_headers
from api.gateway.load import LoadPublisher
from api.gateway.routing import Route, RouteTable
from api.gateway.upstreams import LiveTool, Upstream, UpstreamPool, UpstreamUnavailableError
from domain.billing.application import AlreadyBilledError, CallRecord
from domain.billing.calls import Call
from domain.billing.pricing import CallStatus, charge_for, free_quota
from domain.deployments.errors import DeploymentNotFoundError
from domain.shared.context import actor_var, tenant_id_var
from infra.async_append import AsyncAppender
from infra.container import Container
from infra.mcp.wire import RpcError
from projections.usage_queries import free_calls_used

#: JSON-RPC errors by which a server turns a call down (unknown tool, arguments it rejects):
#: an answer, billed like a tool error. Any other error code is a failure upstream.
REFUSALS = frozenset({-32601, -32602})


@dataclass(frozen=True)
class CallOutcome:
    call_id: UUID
    status: CallStatus
    data: Any
    error: dict[str, Any] | None
    duration_ms: float
    timestamp: datetime
    #: The first answer to a repeated idempotency key, not a new call.
    replayed: bool = False
    #: RateLimit-* header fields of the admitting bucket.
    limit_headers: dict[str, str] | None = None

    @property
    def success(self) -> bool:
        return self.status.succeeded

    def body(self, request_id: str | None) -> dict[str, Any]:
        return {
            "success": self.success,
            "data": self.data,
            "error": self.error,
            "timestamp": self.timestamp.isoformat(),
            "request_id": request_id,
            "duration_ms": round(self.duration_ms, 3),
            "call_id": str(self.call_id),
        }


class Gateway:
    def __init__(self, container: Container) -> None:
        settings = container.settings.gateway
        self.container = container
        self.settings = settings
        self.callers = CallerCache(container, settings.cache_seconds)
        self.pool = UpstreamPool(container.settings.runtime.allowed_hosts)
        events, billing = container.events, container.billing
        self.billing = BillingQueue(
            billing, [AsyncAppender(events.recorder, billing.mapper) for _ in range(DRAINS)]
        )
        self.routes = RouteTable(container.db, settings.cache_seconds, self.pool.retire)
        #: Calls in flight per deployment, for the autoscaler (made on the serving loop).
        self.load = LoadPublisher(
            container.load_signal, self.routes, self.pool, container.settings.autoscaling
        )
        self.load.start()
        clickhouse_db = container.settings.clickhouse_database
        self.limits = Limits(
            container.settings,
            free_calls_seed=lambda tenant, service, month: free_calls_used(
                container.clickhouse, clickhouse_db, tenant, service, month
            ),
        )

    async def close(self) -> None:
        await self.load.close()
        await self.pool.close()
        await self.limits.close()
        await self.billing.close()

    # --- looking things up ---------------------------------------------------------------

    async def route(self, caller: Caller, name: str) -> Route:
        route = await self.routes.route(caller.tenant_id, name)
        if route is None:
            raise DeploymentNotFoundError(f"no deployment named {name!r}")
        return route

    async def tools_of(self, route: Route) -> dict[str, LiveTool] | None:
        """The tools a healthy instance reports (its live list), or None when none answers."""
        for instance in route.healthy_instances:
            upstream = self.pool.get(instance)
            try:
                await upstream.session()
            except UpstreamUnavailableError:
                continue
            if upstream.tools is not None:
                return upstream.tools
        return None

    # --- calling ----------------------------------------------------------------------------

    async def call(
        self,
        caller: Caller,
        name: str,
        tool: str,
        params: dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> CallOutcome:
        tenant_id_var.set(str(caller.tenant_id))
        actor_var.set(caller.actor)
        call_id = Call.create_id(caller.tenant_id, idempotency_key)
        if idempotency_key is not None:
            first = await self._first_answer(call_id)
            if first is not None:
                return first
        decision = await self.limits.admit(caller)
        route = await self.route(caller, name)
        if route.pricing is None:
            raise NotCallableError(f"the service of {name!r} is no longer available")
        if route.status not in ("running", "degraded"):
            raise NotCallableError(f"{name!r} is {route.status}; start it to call its tools")
        upstream, live = await self._ready_upstream(route, tool)
        errors = sorted(live.validator.iter_errors(params), key=lambda e: list(e.absolute_path))
        if errors:
            raise InvalidParamsError(
                f"params do not match the input schema of {tool!r}: {errors[0].message}",
                field="params." + ".".join(str(p) for p in errors[0].absolute_path)
                if errors[0].absolute_path
                else "params",
                errors=[
                    {
                        "field": ".".join(["params", *(str(p) for p in e.absolute_path)]),
                        "message": e.message,
                    }
                    for e in errors[:20]
                ],
            )
        outcome = await self._send(caller, route, upstream, tool, params, call_id, idempotency_key)
        return replace(outcome, limit_headers=rate_headers(decision))

    async def _ready_upstream(self, route: Route, tool: str) -> tuple[Upstream, LiveTool]:
        """The least-busy healthy instance with an open session, and the tool as it reports it.
        A session that cannot be had is another instance's turn: nothing was sent yet."""
        candidates = route.healthy_instances
        if not candidates:
            raise GatewayUnavailableError(
                f"{route.name!r} has no healthy instance right now", retry_after=1.0
            )
        tried: set[str] = set()
        while True:
            upstream = self.pool.pick([i for i in candidates if i.id not in tried])
            if upstream is None:
                raise GatewayUnavailableError(
                    f"no instance of {route.name!r} is answering", retry_after=1.0
                )
            tried.add(upstream.instance_id)
            try:
                await upstream.session()
            except UpstreamUnavailableError:
                upstream.breaker.failed(time.monotonic())
                continue
            live = (upstream.tools or {}).get(tool)
            if live is None:
                raise ToolNotFoundError(f"{route.name!r} has no tool named {tool!r}")
            return upstream, live

    async def _send(
        self,
        caller: Caller,
        route: Route,
        upstream: Upstream,
        tool: str,
        params: dict[str, Any],
        call_id: UUID,
        idempotency_key: str | None,
    ) -> CallOutcome:
        timeout = self.settings.call_timeout_seconds
        error: dict[str, Any] | None = None
        data: Any = None
        upstream.outstanding += 1
        upstream.last_used = started = time.monotonic()
        try:
            result = await upstream.call("tools/call", {"name": tool, "arguments": params}, timeout)
        except TimeoutError:
            status, error = (
                CallStatus.TIMEOUT,
                _error("gateway.timeout", f"no answer in {timeout:g} s"),
            )
        except RpcError as refused:
            if refused.code in REFUSALS:  # the server itself turned the call down
                status, error = CallStatus.TOOL_ERROR, _error("tool_error", refused.message)
            else:  # e.g. -32000 from a bridge whose server died: the call failed upstream
                status = CallStatus.UPSTREAM_ERROR
                error = _error("gateway.upstream_failed", refused.message)
            error["rpc_code"] = refused.code
        except Exception as failure:  # whatever the upstream or its transport did, it failed
            message = str(failure) or type(failure).__name__
            status, error = CallStatus.UPSTREAM_ERROR, _error("gateway.upstream_failed", message)
        else:
            data = result
            if data.pop("isError", False) is True:
                status = CallStatus.TOOL_ERROR
                error = _error("tool_error", _text_of(data) or "the tool reported an error")
            else:
                status = CallStatus.OK
        finally:
            upstream.outstanding -= 1
        now = time.monotonic()
        if status in (CallStatus.UPSTREAM_ERROR, CallStatus.TIMEOUT):
            upstream.breaker.failed(now)
        else:
            upstream.breaker.succeeded()
        outcome = CallOutcome(
            call_id, status, data, error, (now - started) * 1000, datetime.now(UTC)
        )
        await self._bill(caller, route, upstream, tool, params, outcome, idempotency_key)
        return outcome

    async def _bill(
        self,
        caller: Caller,
        route: Route,
        upstream: Upstream,
        tool: str,
        params: dict[str, Any],
        outcome: CallOutcome,
        idempotency_key: str | None,
    ) -> None:
        pricing = route.pricing or {}
        used = 0
        if outcome.status.chargeable and free_quota(pricing):
            used = await self.limits.free_calls_counted(caller.tenant_id, route.service_id) - 1
        record = CallRecord(
            call_id=outcome.call_id,
            deployment_id=route.deployment_id,
            deployment=route.name,
            service_id=route.service_id,
            service=route.service,
            version=route.version,
            tool=tool,
            token_id=caller.token_id,
            instance_id=upstream.instance_id,
            status=outcome.status,
            error_code=outcome.error["code"] if outcome.error else None,
            duration_us=int(outcome.duration_ms * 1000),
            request_bytes=len(orjson.dumps(params)),
            response_bytes=len(orjson.dumps(outcome.data)) if outcome.data is not None else 0,
            charge=charge_for(pricing, outcome.status, used),
            idempotency_key=idempotency_key,
            response=outcome.body(None) if idempotency_key is not None else None,
        )
        try:
            await self.billing.bill(record)
        except AlreadyBilledError:
            return  # the same key, billed by a concurrent twin: ours is its repeat

    async def _first_answer(self, call_id: UUID) -> CallOutcome | None:
        billing = self.container.billing
        billed = await run_in_threadpool(billing.billed, call_id)
        if billed is None:
            return None
        body = billing.first_response(billed) or {}
        return CallOutcome(
            call_id,
            CallStatus(billed.status),
            body.get("data"),
            body.get("error"),
            billed.duration_us / 1000,
            billed.timestamp,
            replayed=True,
        )

    async def batch(
        self, caller: Caller, calls: list[tuple[str, str, dict[str, Any]]]
    ) -> list[CallOutcome | Exception]:
        """Many calls at once, each with its own outcome, in order."""
        return await asyncio.gather(
            *(self.call(caller, name, tool, params) for name, tool, params in calls),
            return_exceptions=True,
        )


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message[:2000]}


def _text_of(result: dict[str, Any]) -> str:
    content = result.get("content")
    texts = [
        c["text"]
        for c in (content if isinstance(content, list) else [])
        if isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"), str)
    ]
    return " ".join(texts)[:2000]
