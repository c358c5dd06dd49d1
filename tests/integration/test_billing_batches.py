"""Billing in batches on the real store: each call keeps its own caller's metadata, and a
repeated call id fails alone without taking its batch with it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from uuid import UUID, uuid4

from api.gateway.billing_queue import BillingQueue
from domain.billing.application import AlreadyBilledError, CallRecord
from domain.billing.pricing import CallStatus, Charge
from domain.shared.context import bound
from infra.container import Container
from tests.integration.usage_support import billed_in_store


def record(call_id: UUID | None = None) -> CallRecord:
    return CallRecord(
        call_id=call_id or uuid4(),
        deployment_id=uuid4(),
        deployment="toy",
        service_id=uuid4(),
        service="toy",
        version="1.0.0",
        tool="echo",
        token_id=None,
        instance_id="toy-0",
        status=CallStatus.OK,
        error_code=None,
        duration_us=1000,
        request_bytes=10,
        response_bytes=20,
        charge=Charge(Decimal("0.0025"), Decimal("0.0025"), "USD"),
    )


def test_a_repeated_call_id_fails_alone_in_its_batch(container: Container) -> None:
    billing = container.billing
    first, other = record(), record()
    twin = record(first.call_id)
    outcomes = billing.save_billed([billing.billed_event(r) for r in (first, twin, other)])
    assert isinstance(outcomes[0], int) and isinstance(outcomes[2], int)
    assert isinstance(outcomes[1], AlreadyBilledError)
    stored = sorted(str(e.originator_id) for e in billed_in_store(container))
    assert stored == sorted([str(first.call_id), str(other.call_id)])


def test_calls_billed_together_keep_their_own_callers(container: Container) -> None:
    queue = BillingQueue(container.billing)
    tenants = [str(uuid4()) for _ in range(20)]

    async def bill_as(tenant: str) -> int:
        with bound(tenant_id=tenant, actor=f"token:{tenant}"):
            return await queue.bill(record())

    async def everyone() -> list[int]:
        return await asyncio.gather(*(bill_as(t) for t in tenants))

    positions = asyncio.run(everyone())
    assert len(set(positions)) == 20
    assert queue.batches < 20  # they shared transactions
    billed = billed_in_store(container)
    assert sorted((e.tenant_id, e.actor) for e in billed) == sorted(  # type: ignore[attr-defined]
        (t, f"token:{t}") for t in tenants
    )
