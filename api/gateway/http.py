"""What the gateway's two front doors (REST and native MCP) share over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response

from api.gateway.service import Gateway


async def gateway_of(request: Request) -> Gateway:
    """The app's one gateway, made on first use (on the serving loop, which owns its sessions).
    Async so that FastAPI calls it on the loop, not through a worker thread per request."""
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None:
        gateway = request.app.state.gateway = Gateway(request.app.state.container)
    return gateway


GatewayDep = Annotated[Gateway, Depends(gateway_of)]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Answers of the hot path, serialised once by orjson (no response-model pass)."""
    return Response(orjson.dumps(body), status, headers, media_type="application/json")
