"""The FastAPI application: routers, errors, middleware and the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.catalogue_early import EarlyCatalogueAnswers
from api.deployment_watch import close_watch
from api.errors import PROBLEM_RESPONSES, install_error_handlers
from api.gateway import mcp_endpoint
from api.gateway.early import EarlyGatewayCalls
from api.gateway.service import Gateway
from api.gateway.tasks import runner_of
from api.middleware import BodyLimit, RequestContextMiddleware
from api.routes import (
    admin,
    analytics,
    audit,
    auth,
    catalogue,
    deployment_events,
    deployment_logs,
    deployments,
    gateway,
    me,
    ops,
    reviews,
    services,
    tasks,
    tenants,
    tokens,
)
from api.spa import mount_spa
from infra.container import Container

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string", "description": "Stable error code, e.g. `tenant.last_owner`"},
        "field": {"type": "string", "description": "The input field at fault, if any"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runner = runner_of(app)  # also runs the tasks that stopped processes left unfinished
    yield
    await close_watch(app)  # the deployment streams' watcher, if one started
    await runner.close()
    gateway: Gateway | None = getattr(app.state, "gateway", None)
    if gateway is not None:
        await gateway.close()  # its sessions to instances live on this loop


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="MCPS.ONE",
        version="0.1.0",
        description="Control plane and marketplace for MCP servers. Errors are RFC 9457 "
        "problem+json with a stable `code`.",
        generate_unique_id_function=_operation_id,
        # FastAPI's own OpenTelemetry hooks look up the global providers (environment reads)
        # on every request to find out they are not configured: 14 % of the API's CPU on a
        # bare request here. Our metrics are Prometheus (`/metrics`) and our logs JSON lines.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.container = container
    # Inside the request context: an early answer is counted and logged like any other.
    app.add_middleware(EarlyCatalogueAnswers, container=container)
    app.add_middleware(EarlyGatewayCalls)  # the hot path: checked first
    app.add_middleware(BodyLimit)  # inside the context: its 413 is a problem like any
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    routers = (auth, me, tenants, tokens, audit, services, reviews, catalogue, deployments)
    routers += (analytics, admin)
    # The gateway's routes first: a request is matched against the routes in order, and tool
    # calls are the hot path.
    for module in (gateway, mcp_endpoint, *routers, deployment_events, deployment_logs, tasks, ops):
        app.include_router(module.router)
    mount_spa(app)  # the built web app answers only what no route did

    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            components["responses"] = PROBLEM_RESPONSES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
