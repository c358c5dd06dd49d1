"""Billing in batches on the real store: each call keeps its own caller's metadata, and a
repeated call id fails alone without taking its batch with it."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg

from api.gateway.billing_queue import DRAINS, BillingQueue
from domain.billing.application import AlreadyBilledError, CallRecord
from domain.billing.pricing import CallStatus, Charge
from domain.shared.context import bound
from infra.async_append import AsyncAppender
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


def billing_queue(container: Container) -> BillingQueue:
    """The gateway's queue, appending from the event loop as the gateway does."""
    events, billing = container.events, container.billing
    return BillingQueue(
        billing, [AsyncAppender(events.recorder, billing.mapper) for _ in range(DRAINS)]
    )


def test_calls_billed_together_keep_their_own_callers(container: Container) -> None:
    queue = billing_queue(container)
    tenants = [str(uuid4()) for _ in range(20)]

    async def bill_as(tenant: str) -> int:
        with bound(tenant_id=tenant, actor=f"token:{tenant}"):
            return await queue.bill(record())

    async def everyone() -> list[int]:
        try:
            return await asyncio.gather(*(bill_as(t) for t in tenants))
        finally:
            await queue.close()

    positions = asyncio.run(everyone())
    assert len(set(positions)) == 20
    assert queue.batches < 20  # they shared transactions
    billed = billed_in_store(container)
    assert sorted((e.tenant_id, e.actor) for e in billed) == sorted(  # type: ignore[attr-defined]
        (t, f"token:{t}") for t in tenants
    )


def test_a_repeated_call_id_fails_alone_in_the_queues_batch(container: Container) -> None:
    queue = billing_queue(container)
    first, other = record(), record()
    twin = record(first.call_id)

    async def together() -> list[int | BaseException]:
        try:
            return await asyncio.gather(
                *(queue.bill(r) for r in (first, twin, other)), return_exceptions=True
            )
        finally:
            await queue.close()

    outcomes = asyncio.run(together())

    assert isinstance(outcomes[0], int) and isinstance(outcomes[2], int)
    assert isinstance(outcomes[1], AlreadyBilledError)
    assert queue.batches == 1  # one shared batch, sent again one call at a time
    stored = sorted(str(e.originator_id) for e in billed_in_store(container))
    assert stored == sorted([str(first.call_id), str(other.call_id)])


def test_the_queue_bills_on_after_its_connection_is_lost(container: Container) -> None:
    queue = billing_queue(container)

    async def bill_kill_bill() -> tuple[int, int]:
        try:
            before = await queue.bill(record())
            # the connection its drain used, as tests may reach it
            (connection,) = [a._connection for a in queue.appenders if a._connection]
            with psycopg.connect(container.database_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [connection.info.backend_pid])
            return before, await queue.bill(record())
        finally:
            await queue.close()

    before, after = asyncio.run(bill_kill_bill())

    assert after > before
    assert len(billed_in_store(container)) == 2


def test_calls_queued_while_a_batch_commits_go_out_on_the_second_drain(
    container: Container,
) -> None:
    queue = billing_queue(container)

    async def waiting_at_the_lock(count: int) -> None:
        deadline = time.monotonic() + 10
        with psycopg.connect(container.database_url, autocommit=True) as probe:
            while time.monotonic() < deadline:
                (waiting,) = probe.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted"
                    " AND relation = 'mcps_events'::regclass"
                ).fetchone() or (0,)
                if waiting >= count:
                    return
                await asyncio.sleep(0.01)
        raise AssertionError(f"fewer than {count} inserts wait at the table lock")

    async def behind_a_held_lock() -> list[int]:
        with psycopg.connect(container.database_url) as holder:
            holder.execute("LOCK TABLE mcps_events IN EXCLUSIVE MODE")
            first = asyncio.create_task(queue.bill(record()))
            await waiting_at_the_lock(1)
            second = asyncio.create_task(queue.bill(record()))
            await waiting_at_the_lock(2)  # both drains' inserts wait inside the server
            rest = [asyncio.create_task(queue.bill(record())) for _ in range(8)]
            await asyncio.sleep(0.05)
            holder.rollback()
        try:
            return await asyncio.gather(first, second, *rest)
        finally:
            await queue.close()

    positions = asyncio.run(behind_a_held_lock())

    assert len(set(positions)) == 10
    assert queue.batches == 3  # one call each on the two drains, then the eight together
    assert len(billed_in_store(container)) == 10
