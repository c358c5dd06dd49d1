"""Per-request context: a request id, the client's address, metrics, one JSON log line."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from domain.shared.context import RequestContext, bind

log = logging.getLogger("mcps.access")

REQUESTS = Counter("mcps_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("mcps_http_request_seconds", "HTTP request latency", ["method", "route"])
MAX_BODY = 1_048_576


async def request_context(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    given = request.headers.get("x-request-id", "")
    request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
    correlation = request.headers.get("x-correlation-id", "")[:64] or request_id
    bind(
        RequestContext(
            actor="anonymous",
            request_id=request_id,
            correlation_id=correlation,
            client_ip=request.client.host if request.client else None,
        )
    )
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return problem(413, "request.too_large", f"bodies are limited to {MAX_BODY} bytes", request)
    started = time.perf_counter()
    response = await call_next(request)
    elapsed = time.perf_counter() - started
    route = getattr(request.scope.get("route"), "path", "unmatched")
    REQUESTS.labels(request.method, route, response.status_code).inc()
    LATENCY.labels(request.method, route).observe(elapsed)
    response.headers["X-Request-Id"] = request_id
    log.info(
        "request",
        extra={
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "ms": round(elapsed * 1000, 2),
            "request_id": request_id,
        },
    )
    return response


class BodyLimit:
    """Counts the bytes of every body as it arrives, so chunked uploads meet the limit too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise HTTPException(413, f"bodies are limited to {MAX_BODY} bytes")
            return message

        await self.app(scope, counted, send)
