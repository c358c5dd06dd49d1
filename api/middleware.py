"""Per-request context: a request id, the client's address, metrics, one JSON log line."""

from __future__ import annotations

import logging
import time
import uuid

from fastapi import Request
from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from domain.shared.context import RequestContext, bind

log = logging.getLogger("mcps.access")

REQUESTS = Counter("mcps_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("mcps_http_request_seconds", "HTTP request latency", ["method", "route"])
MAX_BODY = 1_048_576


class RequestContextMiddleware:
    """Binds the request's context (a request id, the client's address) for everything the
    request does, refuses an over-long declared body, answers with `X-Request-Id`, and
    counts, times and logs the request.

    Plain ASGI rather than Starlette's `BaseHTTPMiddleware`, which runs the app in a task of
    its own and copies each response through a stream: a cost on every gateway call.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get("x-request-id", "")
        request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        client = scope.get("client")
        bind(
            RequestContext(
                actor="anonymous",
                request_id=request_id,
                correlation_id=headers.get("x-correlation-id", "")[:64] or request_id,
                client_ip=client[0] if client else None,
            )
        )
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            refusal = problem(
                413, "request.too_large", f"bodies are limited to {MAX_BODY} bytes", Request(scope)
            )
            refusal.headers["X-Request-Id"] = request_id
            await refusal(scope, receive, send)
            return
        status = 500
        stamp = (b"x-request-id", request_id.encode())

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), stamp]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, answer)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            REQUESTS.labels(method, route, status).inc()
            LATENCY.labels(method, route).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "request_id": request_id,
                    },
                )


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
