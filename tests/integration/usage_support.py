"""Billing tool calls straight through `Billing.bill`, as the gateway does, for usage tests.

Charges come from the domain's own pricing rules (`charge_for`), with each tenant's FREEMIUM
quota counted here, so the events hold what real calls would: FREE, PAID and FREEMIUM prices,
free calls, and failed calls that cost nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.utils import get_topic

from domain.billing.application import CallRecord
from domain.billing.calls import Call
from domain.billing.pricing import CallStatus, charge_for
from domain.shared.context import bound
from infra.container import Container

PRICING: dict[str, dict[str, Any]] = {
    "free": {"model": "FREE", "currency": "USD"},
    "paid": {"model": "PAID", "currency": "USD", "price_per_request": "0.0025"},
    "freemium": {
        "model": "FREEMIUM",
        "currency": "EUR",
        "price_per_request": "0.0100",
        "free_calls_per_month": 3,
    },
}
STATUSES = list(CallStatus)


@dataclass(frozen=True)
class Target:
    """A deployment of a service that calls go to."""

    deployment: str
    service: str
    pricing: dict[str, Any]
    service_id: UUID = field(default_factory=uuid4)
    deployment_id: UUID = field(default_factory=uuid4)
    version: str = "1.0.0"


@dataclass
class Caller:
    container: Container
    #: Chargeable calls per (tenant, service) so far: what the FREEMIUM quota has used.
    used: Counter[tuple[UUID, UUID]] = field(default_factory=Counter)

    def bill(
        self,
        tenant_id: UUID,
        target: Target,
        tool: str,
        status: CallStatus = CallStatus.OK,
        *,
        token_id: UUID | None = None,
        duration_us: int = 1000,
    ) -> CallRecord:
        key = (tenant_id, target.service_id)
        charge = charge_for(target.pricing, status, self.used[key])
        if status.chargeable:
            self.used[key] += 1
        record = CallRecord(
            call_id=uuid4(),
            deployment_id=target.deployment_id,
            deployment=target.deployment,
            service_id=target.service_id,
            service=target.service,
            version=target.version,
            tool=tool,
            token_id=token_id,
            instance_id=f"{target.deployment}-0",
            status=status,
            error_code=None if status is CallStatus.OK else f"call.{status.value}",
            duration_us=duration_us,
            request_bytes=100,
            response_bytes=250,
            charge=charge,
        )
        actor = f"token:{token_id}" if token_id else f"user:{uuid4()}"
        with bound(tenant_id=str(tenant_id), actor=actor):
            self.container.billing.bill(record)
        return record


def billed_in_store(container: Container) -> list[Call.Billed]:
    """Every billed call in the event store, read back from the notification log."""
    notifications = container.events.recorder.select_notifications(
        start=0, limit=10_000_000, topics=[get_topic(Call.Billed)]
    )
    return [container.events.decode(n) for n in notifications]  # type: ignore[misc]


def store_totals(container: Container, tenant_id: UUID | None = None) -> tuple[int, Decimal]:
    calls = [
        e for e in billed_in_store(container) if tenant_id is None or e.tenant_id == str(tenant_id)
    ]
    return len(calls), sum((Decimal(e.cost) for e in calls), Decimal(0))
