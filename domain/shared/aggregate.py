"""The base of every aggregate: events that carry who, for whom and why from context."""

from __future__ import annotations

from dataclasses import field
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.shared.context import (
    actor_var,
    causation_id_var,
    client_ip_var,
    correlation_id_var,
    request_id_var,
    tenant_id_var,
)

MCPS_NAMESPACE = uuid5(NAMESPACE_URL, "https://mcps.one/ids")


def deterministic_id(kind: str, key: str) -> UUID:
    """The id of the one aggregate that may own `key`: a second create clashes in the store."""
    return uuid5(MCPS_NAMESPACE, f"/{kind}/{key}")


def utcnow() -> datetime:
    return datetime.now(UTC)


class BaseAggregate(Aggregate):
    class Event(Aggregate.Event):
        tenant_id: str | None = field(default_factory=tenant_id_var.get, init=False)
        actor: str = field(default_factory=actor_var.get, init=False)
        request_id: str | None = field(default_factory=request_id_var.get, init=False)
        correlation_id: str | None = field(default_factory=correlation_id_var.get, init=False)
        causation_id: str | None = field(default_factory=causation_id_var.get, init=False)
        client_ip: str | None = field(default_factory=client_ip_var.get, init=False)

    class Created(Event, Aggregate.Created):
        pass
