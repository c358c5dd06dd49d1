"""The gateway's two hot routes, served before FastAPI routes them and solves dependencies.

A tool call through `POST /api/v1/mcp/{name}/call` cost the API process ~2.7 ms of CPU at 16
clients, and a third of it was FastAPI's own work around the gateway: the exception and
exit-stack middleware, matching the route, solving its dependencies, reading three headers
and validating the body into `ToolCall`. This layer does the same checks directly and calls
what the route calls (`Gateway.call`; the native endpoint's own `post`), and answers as the
route does: the same envelope, the same problem+json for a refusal, with the request's
context, metrics and log line around it as for any request.

It serves only requests it can read exactly as FastAPI would: a path FastAPI's validation
accepts, no query (`?mode=async` and the rest go on), the idempotency key and tenant
headers within their limits, a JSON body (or no content type) that `ToolCall` validates.
Anything else goes on to FastAPI unchanged, with the body it read handed on, and gets the
route's own answer (422 for a bad field, 400 for malformed JSON).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import domain_problem, http_problem
from api.gateway import mcp_endpoint
from api.gateway.callers import EXECUTE
from api.gateway.http import gateway_of
from api.routes import gateway as rest
from api.schemas_gateway import ToolCall
from domain.shared.errors import DomainError

_CALL = re.compile(r"/api/v1/mcp/([^/]{1,63})/call")
_NATIVE = re.compile(r"/mcp/[tu]/([a-z0-9-]{1,64})")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


class EarlyGatewayCalls:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.call_route = _route(rest.router.routes, rest.call_tool)
        self.native_routes = {
            route.path: route  # type: ignore[attr-defined]
            for route in mcp_endpoint.router.routes
            if getattr(route, "endpoint", None) is mcp_endpoint.post
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            if (call := _CALL.fullmatch(path)) is not None and not scope["query_string"]:
                await self._rest_call(scope, receive, send, call.group(1))
                return
            if (native := _NATIVE.fullmatch(path)) is not None:
                await self._native(scope, receive, send, native.group(1))
                return
        await self.app(scope, receive, send)

    async def _rest_call(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        headers = _first_headers(scope)
        key = headers.get(b"idempotency-key")
        tenant = headers.get(b"x-mcps-tenant")
        content_type = headers.get(b"content-type", "application/json")
        if (
            (key is not None and _IDEMPOTENCY_KEY.fullmatch(key) is None)
            or (tenant is not None and len(tenant) > 64)
            or content_type.split(";")[0].strip().lower() != "application/json"
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            body = await request.body()
        except HTTPException as refused:  # over the body limit
            await http_problem(request, refused)(scope, receive, send)
            return
        try:
            call = ToolCall.model_validate_json(body) if body else None
        except ValidationError:
            call = None
        if call is None:  # the route says what is wrong with it
            await self.app(scope, _replaying(body, receive), send)
            return
        scope["route"] = self.call_route  # for the request's metrics, as routing sets it
        scope["path_params"] = {"name": name}
        try:
            gateway = await gateway_of(request)
            caller = await gateway.callers.resolve(headers.get(b"authorization"), tenant)
            caller.require(EXECUTE)
            outcome = await gateway.call(
                caller, name, call.method, call.params, idempotency_key=key
            )
        except DomainError as error:
            await domain_problem(request, error)(scope, receive, send)
            return
        await rest.answer(outcome)(scope, receive, send)

    async def _native(self, scope: Scope, receive: Receive, send: Send, slug: str) -> None:
        session_id = _first_headers(scope).get(b"mcp-session-id")
        if session_id is not None and len(session_id) > 200:
            await self.app(scope, receive, send)
            return
        route = self.native_routes[scope["path"][: len("/mcp/t/")] + "{slug}"]
        scope["route"] = route
        scope["path_params"] = {"slug": slug}
        request = Request(scope, receive)
        try:
            gateway = await gateway_of(request)
            response = await mcp_endpoint.post(request, gateway, slug, session_id)
        except DomainError as error:
            response = domain_problem(request, error)
        except HTTPException as refused:  # over the body limit
            response = http_problem(request, refused)
        await response(scope, receive, send)


def _route(routes: list[BaseRoute], endpoint: Any) -> BaseRoute:
    return next(r for r in routes if getattr(r, "endpoint", None) is endpoint)


def _first_headers(scope: Scope) -> dict[bytes, str]:
    """Each header's first value, as Starlette's `Headers.get` gives it."""
    first: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name not in first:
            first[name] = value.decode("latin-1")
    return first


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for an app after us: the body we read, then whatever comes next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
