"""RFC 9457 problem+json for every error: one table from error class to status, stable codes."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.gateway.errors import GatewayUnavailableError, RateLimitedError
from domain.shared.context import request_id_var
from domain.shared.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from domain.tenancy.errors import LinkInvalidError

log = logging.getLogger("mcps.api")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://mcps.one/problems/"

#: Most specific first: the first class an error is an instance of decides its status.
STATUS_OF: list[tuple[type[DomainError], int]] = [
    (RateLimitedError, 429),
    (GatewayUnavailableError, 503),
    (LinkInvalidError, 400),
    (InvalidInputError, 422),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (DomainError, 400),
]

_HTTP_CODES = {
    400: "request.bad",
    401: "auth.unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    429: "rate_limited",
    503: "service.unavailable",
}


#: The error responses every operation may give, declared once in the OpenAPI document's
#: `components.responses` and referenced by each router, so clients see one shape per status.
PROBLEM_RESPONSES: dict[str, dict[str, object]] = {
    HTTPStatus(status).phrase.replace(" ", ""): {
        "description": HTTPStatus(status).phrase + " (problem+json)",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status in (400, 401, 403, 404, 409, 422)
}
PROBLEMS: dict[int | str, dict[str, object]] = {
    status: {"$ref": "#/components/responses/" + HTTPStatus(status).phrase.replace(" ", "")}
    for status in (400, 401, 403, 404, 409, 422)
}


class ProblemError(Exception):
    """An HTTP-level problem raised by the API layer itself (not the domain)."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def problem(
    status: int, code: str, detail: str, request: Request | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id_var.get(),
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extra.items() if v is not None and k != "headers"})
    headers = extra.get("headers") or {}
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="mcps"')
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(error: DomainError) -> int:
    return next(status for cls, status in STATUS_OF if isinstance(error, cls))


def problem_body(status: int, error: DomainError) -> dict[str, Any]:
    """A domain error as a problem+json body, for answers that carry several (batches)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + error.code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": error.message,
        "code": error.code,
    }
    if error.field:
        body["field"] = error.field
    body.update({k: v for k, v in error.details.items() if v is not None})
    return body


def _headers_of(error: DomainError) -> dict[str, str] | None:
    if isinstance(error, RateLimitedError):
        return error.headers
    if isinstance(error, GatewayUnavailableError):
        return {"Retry-After": str(max(1, round(error.retry_after)))}
    return None


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "")


def domain_problem(request: Request, error: DomainError) -> JSONResponse:
    """The answer to a refused command or query: its status, code, field and headers."""
    status = status_of(error)
    errors = None
    if status == 422 and error.field:
        errors = [{"field": error.field, "message": error.message}]
    return problem(
        status,
        error.code,
        error.message,
        request,
        field=error.field,
        errors=error.details.get("errors") or errors,
        headers=_headers_of(error),
    )


def http_problem(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """Starlette's HTTP errors (404, 405, 413, ...) as problems with our codes."""
    return problem(
        error.status_code,
        _HTTP_CODES.get(error.status_code, "request.error"),
        str(error.detail),
        request,
        headers=getattr(error, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, error: DomainError) -> JSONResponse:
        return domain_problem(request, error)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem(error.status, error.code, error.detail, request, **error.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_path(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
            for e in error.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in error.errors()):
            return problem(400, "request.malformed_json", "the body is not valid JSON", request)
        first = errors[0] if errors else {"field": None, "message": "invalid input"}
        return problem(
            422,
            "validation_failed",
            f"{first['field']}: {first['message']}" if first["field"] else first["message"],
            request,
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return http_problem(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return problem(500, "internal", "something went wrong on our side; it was logged", request)
