"""Who is acting, for whom, and why: set once per request or message, read by every event.

Entry points (`api/`, `workers/`) bind these once; events copy them at construction
(see `domain.shared.aggregate.Event`), so no command signature carries them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)
actor_var: ContextVar[str] = ContextVar("actor", default="system:unknown")
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)
client_ip_var: ContextVar[str | None] = ContextVar("client_ip", default=None)

_VARS: dict[str, ContextVar[str | None]] = {
    "tenant_id": tenant_id_var,
    "request_id": request_id_var,
    "correlation_id": correlation_id_var,
    "causation_id": causation_id_var,
    "client_ip": client_ip_var,
}


@dataclass(frozen=True)
class RequestContext:
    actor: str
    request_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    client_ip: str | None = None
    tenant_id: str | None = None


@contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Bind metadata for the events raised inside the block, then restore what was there."""
    tokens = []
    for name, value in values.items():
        var = actor_var if name == "actor" else _VARS[name]
        tokens.append((var, var.set(value)))  # type: ignore[arg-type]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)  # type: ignore[arg-type]


def bind(context: RequestContext) -> None:
    """Bind a whole request context for the rest of the current task or thread."""
    actor_var.set(context.actor)
    for name, var in _VARS.items():
        var.set(getattr(context, name))
