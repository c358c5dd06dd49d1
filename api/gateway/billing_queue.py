"""Billing calls from the event loop in batches: group commit without a thread per call.

Each finished call builds its `Call.Billed` in its own context (the event takes the caller's
tenant, actor and request ids from it) and waits on a future while it queues; one drain task
appends the whole queue in one store transaction, from the loop itself (`AsyncAppender`: no
worker thread to wait for the GIL), and wakes each caller with its own outcome. Calls that
finish while a batch commits form the next one, so under load a transaction carries many
calls, and an idle gateway still bills a lone call at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain.billing.application import AlreadyBilledError, Billing, CallRecord
from domain.billing.calls import Call
from infra.async_append import AsyncAppender

#: At most this many calls in one transaction.
MAX_BATCH = 512


class BillingQueue:
    def __init__(self, billing: Billing, appender: AsyncAppender) -> None:
        self.billing = billing
        self.appender = appender
        self._queued: list[tuple[Call.Billed, asyncio.Future[int]]] = []
        self._drain: asyncio.Task[None] | None = None
        self.batches = 0

    async def bill(self, record: CallRecord) -> int:
        """The call's log position once its `Call.Billed` is durable; `AlreadyBilledError` when
        its id was billed first (a repeated idempotency key)."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queued.append((self.billing.billed_event(record), done))
        if self._drain is None:
            self._drain = asyncio.create_task(self._run())
        # Shielded: a caller that goes away does not take its record out of a batch in flight.
        return await asyncio.shield(done)

    async def _run(self) -> None:
        batch: list[tuple[Call.Billed, asyncio.Future[int]]] = []
        try:
            while self._queued:
                batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
                try:
                    outcomes: list[Any] = await self._save([event for event, _ in batch])
                except Exception as failure:  # the store refused the batch: each caller hears
                    outcomes = [failure] * len(batch)
                self.batches += 1
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    if isinstance(outcome, BaseException):
                        done.set_exception(outcome)
                    else:
                        done.set_result(outcome)
                batch = []
        finally:
            self._drain = None
            for _, done in batch + self._queued:  # cancelled (shutdown): say so to each
                if not done.done():
                    done.set_exception(RuntimeError("billing stopped before this call's turn"))
            self._queued = []

    async def _save(self, events: list[Call.Billed]) -> list[int | AlreadyBilledError]:
        """As `Billing.save_billed`: each call's position, or `AlreadyBilledError` for an id
        billed before; a taken id sends the batch again one call at a time."""
        try:
            return list(await self.appender.append(events))
        except IntegrityError:
            if len(events) == 1:
                return [AlreadyBilledError(str(events[0].originator_id))]
            return [outcome for event in events for outcome in await self._save([event])]

    async def close(self) -> None:
        await self.appender.close()
