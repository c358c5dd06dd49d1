"""The native MCP endpoint: `/mcp/t/{slug}` (and `/mcp/u/{username}`), streamable HTTP.

One MCP server per tenant that aggregates the tools, resources and prompts of its running
deployments under namespaced names (`<deployment>__<tool>`; a resource's URI becomes
`mcps://<deployment>/<quoted original>`), forwards calls through the same path as the REST API
(limits, routing, billing), and tells clients on the GET stream when the lists change.

POSTs are answered with `application/json` (the transport allows it: no stream is needed for
one answer). Sessions are signed ids (`api.gateway.sessions`), valid on any API process. The
client's token authenticates it here and is never sent upstream: upstream sessions are the
gateway's own.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote, unquote

import orjson
from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import StreamingResponse
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

from api.gateway.callers import EXECUTE, READ, Caller
from api.gateway.errors import (
    GatewayUnavailableError,
    InvalidParamsError,
    ToolNotFoundError,
    UpstreamRefusedError,
)
from api.gateway.http import GatewayDep, json_response
from api.gateway.service import Gateway
from api.gateway.sessions import SessionIds
from api.gateway.upstreams import Upstream, UpstreamUnavailableError
from domain.shared.errors import DomainError
from infra.mcp.wire import RpcError

router = APIRouter(tags=["mcp"])

SEPARATOR = "__"
RESOURCE_SCHEME = "mcps://"
STREAM_POLL_S = 2.0
STREAM_LIFETIME_S = 15 * 60
FORWARD_TIMEOUT_S = 30.0
#: At most this many pages of one instance's list are read.
MAX_PAGES = 20
SERVER_INFO = {"name": "mcps.one", "version": "0.1.0"}
CAPABILITIES = {
    "tools": {"listChanged": True},
    "resources": {"listChanged": True},
    "prompts": {"listChanged": True},
}

# JSON-RPC error codes
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32603,
)
#: Refused by the gateway's rules (limits, permissions): the server's own range.
REFUSED = -32000

Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]


def _sessions(request: Request) -> SessionIds:
    ids: SessionIds | None = getattr(request.app.state, "mcp_sessions", None)
    if ids is None:
        secret = request.app.state.container.settings.auth.jwt_secret.get_secret_value()
        ids = request.app.state.mcp_sessions = SessionIds(secret)
    return ids


class Flights:
    """Requests this process is answering, by session and JSON-RPC id, so that a client's
    `notifications/cancelled` stops its call here and, through the upstream client, at the
    server. (A cancellation that reaches another API process finds nothing to stop there;
    the call then ends as it would have.)"""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str], asyncio.Task[Any]] = {}

    async def run(self, session: str | None, message: dict[str, Any], answer: Any) -> Any:
        if session is None or message.get("id") is None or "method" not in message:
            return await answer
        key = (session, repr(message["id"]))
        task = asyncio.ensure_future(answer)
        self._running[key] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this request itself is being stopped (shutdown, disconnect)
            return _rpc_error(
                message["id"], REFUSED, "cancelled by the client", {"code": "gateway.cancelled"}
            )
        finally:
            if self._running.get(key) is task:
                del self._running[key]

    def cancel(self, session: str, request_id: Any) -> None:
        task = self._running.get((session, repr(request_id)))
        if task is not None:
            task.cancel()


def _flights(request: Request) -> Flights:
    flights: Flights | None = getattr(request.app.state, "mcp_flights", None)
    if flights is None:
        flights = request.app.state.mcp_flights = Flights()
    return flights


def _rpc_error(id_: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": error}


async def _caller(gateway: Gateway, request: Request, slug: str) -> Caller | Response:
    try:
        return await gateway.callers.resolve(request.headers.get("authorization"), slug)
    except DomainError as error:
        status = 401 if error.code.startswith("auth.") else 404
        headers = {"WWW-Authenticate": 'Bearer realm="mcps"'} if status == 401 else None
        return json_response(
            _rpc_error(None, REFUSED, error.message, {"code": error.code}), status, headers
        )


@router.post("/mcp/t/{slug}", include_in_schema=False)
@router.post("/mcp/u/{slug}", include_in_schema=False)
async def post(
    request: Request,
    gateway: GatewayDep,
    slug: Slug,
    mcp_session_id: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    caller = await _caller(gateway, request, slug)
    if isinstance(caller, Response):
        return caller
    sessions = _sessions(request)
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return json_response(_rpc_error(None, PARSE_ERROR, "the body is not valid JSON"), 400)
    messages = payload if isinstance(payload, list) else [payload]
    if not messages or not all(isinstance(m, dict) for m in messages):
        return json_response(_rpc_error(None, INVALID_REQUEST, "expected JSON-RPC messages"), 400)
    initializing = any(m.get("method") == "initialize" for m in messages)
    headers: dict[str, str] = {}
    if initializing:
        headers["Mcp-Session-Id"] = sessions.issue(caller.tenant_id)
    elif mcp_session_id is not None and not sessions.valid_for(mcp_session_id, caller.tenant_id):
        return json_response(
            _rpc_error(None, INVALID_REQUEST, "session not found; initialize again"), 404
        )
    flights = _flights(request)
    if mcp_session_id is not None:
        for message in messages:
            if message.get("method") == "notifications/cancelled":
                params = message.get("params")
                if isinstance(params, dict):
                    flights.cancel(mcp_session_id, params.get("requestId"))
    answers = await asyncio.gather(
        *(flights.run(mcp_session_id, m, _handle(gateway, caller, m)) for m in messages)
    )
    replies = [a for a in answers if a is not None]
    if not replies:
        return Response(status_code=202, headers=headers)
    return json_response(replies if isinstance(payload, list) else replies[0], 200, headers)


@router.get("/mcp/t/{slug}", include_in_schema=False)
@router.get("/mcp/u/{slug}", include_in_schema=False)
async def stream(request: Request, gateway: GatewayDep, slug: Slug) -> Response:
    """Server-to-client notifications: `list_changed` when deployments or their lists change."""
    caller = await _caller(gateway, request, slug)
    if isinstance(caller, Response):
        return caller
    if "text/event-stream" not in request.headers.get("accept", ""):
        return Response(status_code=406)

    async def events() -> AsyncIterator[bytes]:
        last = await _fingerprint(gateway, caller)
        ends = time.monotonic() + STREAM_LIFETIME_S
        yield b": connected\n\n"
        while time.monotonic() < ends and not await request.is_disconnected():
            await asyncio.sleep(STREAM_POLL_S)
            now = await _fingerprint(gateway, caller)
            if now == last:
                yield b": keep-alive\n\n"
                continue
            last = now
            for method in (
                "notifications/tools/list_changed",
                "notifications/resources/list_changed",
                "notifications/prompts/list_changed",
            ):
                message = orjson.dumps({"jsonrpc": "2.0", "method": method})
                yield b"event: message\ndata: " + message + b"\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@router.delete("/mcp/t/{slug}", include_in_schema=False)
@router.delete("/mcp/u/{slug}", include_in_schema=False)
async def end(request: Request, gateway: GatewayDep, slug: Slug) -> Response:
    """Nothing is stored per session, so ending one only needs the caller to be who it was."""
    caller = await _caller(gateway, request, slug)
    return caller if isinstance(caller, Response) else Response(status_code=204)


async def _fingerprint(gateway: Gateway, caller: Caller) -> str:
    """Changes when a deployment comes or goes, or an upstream's lists change."""
    routes = await gateway.routes.routes(caller.tenant_id)
    parts = []
    for route in routes.values():
        instances = route.healthy_instances
        revisions = [gateway.pool.revision(i.id) for i in instances]
        parts.append(f"{route.name}|{route.version}|{bool(instances)}|{revisions}")
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


# --- JSON-RPC ------------------------------------------------------------------------------


async def _handle(gateway: Gateway, caller: Caller, message: dict[str, Any]) -> Any:
    method = message.get("method")
    id_ = message.get("id")
    if not isinstance(method, str):
        if "result" in message or "error" in message:
            return None  # a client's answer to a request we never send
        return _rpc_error(id_, INVALID_REQUEST, "a JSON-RPC request needs a method")
    if id_ is None:
        return None  # a notification (initialized, cancelled, ...): nothing to answer
    params = message.get("params") or {}
    if not isinstance(params, dict):
        return _rpc_error(id_, INVALID_PARAMS, "params must be an object")
    handler = HANDLERS.get(method)
    if handler is None:
        return _rpc_error(id_, METHOD_NOT_FOUND, f"method not found: {method}")
    try:
        result = await handler(gateway, caller, params)
    except UpstreamRefusedError as error:
        return _rpc_error(id_, error.rpc_code, error.message, {"code": error.code})
    except (InvalidParamsError, ToolNotFoundError) as error:
        return _rpc_error(id_, INVALID_PARAMS, error.message, {"code": error.code})
    except DomainError as error:
        return _rpc_error(id_, REFUSED, error.message, {"code": error.code})
    return {"jsonrpc": "2.0", "id": id_, "result": result}


async def _initialize(gateway: Gateway, caller: Caller, params: dict[str, Any]) -> Any:
    asked = params.get("protocolVersion")
    version = asked if asked in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
    return {
        "protocolVersion": version,
        "capabilities": CAPABILITIES,
        "serverInfo": SERVER_INFO,
        "instructions": f"Tools of the deployments of {caller.tenant_slug} on MCPS.ONE, "
        f"named <deployment>{SEPARATOR}<tool>.",
    }


async def _ping(gateway: Gateway, caller: Caller, params: dict[str, Any]) -> Any:
    return {}


async def _list_tools(gateway: Gateway, caller: Caller, params: dict[str, Any]) -> Any:
    caller.require(READ)
    tools = []
    for route in (await gateway.routes.routes(caller.tenant_id)).values():
        if not route.healthy_instances:
            continue
        live = await gateway.tools_of(route)
        for tool in (live or {}).values():
            entry: dict[str, Any] = {
                "name": f"{route.name}{SEPARATOR}{tool.name}",
                "description": tool.description,
                "inputSchema": tool.input_schema,
            }
            if tool.annotations:
                entry["annotations"] = tool.annotations
            tools.append(entry)
    return {"tools": tools}


async def _call_tool(gateway: Gateway, caller: Caller, params: dict[str, Any]) -> Any:
    caller.require(EXECUTE)
    name = params.get("name")
    arguments = params.get("arguments") or {}
    if not isinstance(name, str) or SEPARATOR not in name:
        raise ToolNotFoundError(f"unknown tool {name!r}; tools are <deployment>{SEPARATOR}<tool>")
    if not isinstance(arguments, dict):
        raise InvalidParamsError("arguments must be an object", field="arguments")
    deployment, _, tool = name.partition(SEPARATOR)
    outcome = await gateway.call(caller, deployment, tool, arguments)
    if outcome.data is not None:
        return {**outcome.data, "isError": not outcome.success}
    message = outcome.error["message"] if outcome.error else "the call failed"
    return {"content": [{"type": "text", "text": message}], "isError": True}


async def _upstream_for(gateway: Gateway, caller: Caller, deployment: str) -> Upstream:
    route = await gateway.route(caller, deployment)
    for instance in route.healthy_instances:
        upstream = gateway.pool.get(instance)
        try:
            await upstream.session()
        except UpstreamUnavailableError:
            continue  # the next instance may answer
        return upstream
    raise ToolNotFoundError(f"{deployment!r} has no instance answering")


async def _serving(gateway: Gateway, caller: Caller, capability: str) -> AsyncIterator[Any]:
    """(route, upstream) for each running deployment whose server offers `capability`."""
    for route in (await gateway.routes.routes(caller.tenant_id)).values():
        if not route.healthy_instances:
            continue
        upstream = await _upstream_for(gateway, caller, route.name)
        if (upstream.capabilities or {}).get(capability) is not None:
            yield route, upstream


async def _list_resources(gateway: Gateway, caller: Caller, params: dict[str, Any]) -> Any:
    caller.require(READ)
    resources = []
    async for route, upstream in _serving(gateway, caller, "resources"):
        for resource in await _every(upstream, "resources/list", "resources"):
            entry = dict(resource)
            entry["uri"] = f"{RESOURCE_SCHEME}{route.name}/{quote(str(resource['uri']), safe='')}"
            resources.append(entry)
    return {"resources": resources}


async def _read_resource(gateway: Gateway, caller: Caller, params: dict[str, Any]) -> Any:
    caller.require(READ)
    uri = params.get("uri")
    if not isinstance(uri, str) or not uri.startswith(RESOURCE_SCHEME):
        raise InvalidParamsError(f"resource URIs here start with {RESOURCE_SCHEME}", field="uri")
    deployment, _, original = uri[len(RESOURCE_SCHEME) :].partition("/")
    upstream = await _upstream_for(gateway, caller, deployment)
    return await _forward(upstream, "resources/read", {"uri": unquote(original)})


async def _list_prompts(gateway: Gateway, caller: Caller, params: dict[str, Any]) -> Any:
    caller.require(READ)
    prompts = []
    async for route, upstream in _serving(gateway, caller, "prompts"):
        for prompt in await _every(upstream, "prompts/list", "prompts"):
            prompts.append({**prompt, "name": f"{route.name}{SEPARATOR}{prompt['name']}"})
    return {"prompts": prompts}


async def _get_prompt(gateway: Gateway, caller: Caller, params: dict[str, Any]) -> Any:
    caller.require(EXECUTE)
    name = params.get("name")
    if not isinstance(name, str) or SEPARATOR not in name:
        raise InvalidParamsError(f"prompts are <deployment>{SEPARATOR}<prompt>", field="name")
    deployment, _, prompt = name.partition(SEPARATOR)
    upstream = await _upstream_for(gateway, caller, deployment)
    forwarded: dict[str, Any] = {"name": prompt}
    if isinstance(params.get("arguments"), dict):
        forwarded["arguments"] = params["arguments"]
    return await _forward(upstream, "prompts/get", forwarded)


async def _forward(upstream: Upstream, method: str, params: dict[str, Any]) -> Any:
    """One request passed to the instance; its refusal passed back as the client's error."""
    try:
        return await upstream.call(method, params, FORWARD_TIMEOUT_S)
    except RpcError as refused:
        raise UpstreamRefusedError(refused.message, rpc_code=refused.code) from None
    except (TimeoutError, UpstreamUnavailableError) as failure:
        raise GatewayUnavailableError(
            f"the instance did not answer {method}: {failure}", retry_after=1.0
        ) from None


async def _every(upstream: Upstream, method: str, key: str) -> list[dict[str, Any]]:
    """Every page of a list the instance offers, its entries that have the fields we need."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await _forward(upstream, method, {"cursor": cursor} if cursor else {})
        entries = page.get(key)
        for entry in entries if isinstance(entries, list) else []:
            wanted = "uri" if key == "resources" else "name"
            if isinstance(entry, dict) and isinstance(entry.get(wanted), str):
                found.append(entry)
        cursor = page.get("nextCursor")
        if not isinstance(cursor, str) or not cursor:
            break
    return found


HANDLERS = {
    "initialize": _initialize,
    "ping": _ping,
    "tools/list": _list_tools,
    "tools/call": _call_tool,
    "resources/list": _list_resources,
    "resources/read": _read_resource,
    "prompts/list": _list_prompts,
    "prompts/get": _get_prompt,
}
