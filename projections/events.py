"""How events are named and shown outside the domain: context, type name, public payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.shared.sealed import Sealer

METADATA_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "tenant_id",
        "actor",
        "request_id",
        "correlation_id",
        "causation_id",
        "client_ip",
    }
)


def context_of(event: object) -> str:
    """`domain.tenancy.users` → `tenancy`: the bounded context, which names the Kafka topic."""
    parts = type(event).__module__.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "domain" else "other"


def type_name(event: object) -> str:
    return f"{context_of(event)}.{type(event).__qualname__}"


def public_payload(event: object) -> dict[str, Any]:
    """The event's facts for people to read: no metadata, no hashes, no sealed secrets."""
    payload: dict[str, Any] = {}
    for key, value in vars(event).items():
        if key in METADATA_FIELDS:
            continue
        if key.endswith("_hash") or Sealer.is_sealed(value):
            payload[key] = "[redacted]"
        else:
            payload[key] = _jsonable(value)
    return payload


def _jsonable(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value
