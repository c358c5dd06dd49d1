"""Why the gateway refuses a call before it reaches a server: stable codes, like the domain's."""

from __future__ import annotations

from typing import Any

from domain.shared.errors import ConflictError, DomainError, InvalidInputError, NotFoundError


class ToolNotFoundError(NotFoundError):
    code = "gateway.tool_not_found"


class InvalidParamsError(InvalidInputError):
    """The params do not satisfy the tool's input schema: nothing was sent upstream."""

    code = "gateway.invalid_params"


class NotCallableError(ConflictError):
    """The deployment exists but cannot take calls (stopped, or its service was withdrawn)."""

    code = "gateway.not_callable"


class GatewayUnavailableError(DomainError):
    """No instance can take the call right now; retry after `retry_after` seconds (503)."""

    code = "gateway.unavailable"

    def __init__(self, message: str, *, retry_after: float = 1.0, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class RateLimitedError(DomainError):
    """A token bucket or the plan's monthly quota refused the call (429)."""

    code = "rate_limited"

    def __init__(self, message: str, *, headers: dict[str, str], **details: Any) -> None:
        super().__init__(message, **details)
        self.headers = headers


class QuotaExceededError(RateLimitedError):
    """The plan's calls for this month are used up (429 until the month turns)."""

    code = "quota.exceeded"


class UpstreamRefusedError(DomainError):
    """The server answered a forwarded request with a JSON-RPC error (`rpc_code`): passed
    back to the client as that error, not as a fault of the gateway."""

    code = "gateway.upstream_refused"

    def __init__(self, message: str, *, rpc_code: int, **details: Any) -> None:
        super().__init__(message, **details)
        self.rpc_code = rpc_code
