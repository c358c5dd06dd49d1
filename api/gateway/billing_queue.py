"""Billing calls from the event loop in batches: group commit without a thread per call.

Each finished call builds its `Call.Billed` in its own context (the event takes the caller's
tenant, actor and request ids from it) and waits on a future while it queues; a drain task
appends the whole queue in one store transaction, from the loop itself (`AsyncAppender`: no
worker thread to wait for the GIL), and wakes each caller with its own outcome. Calls that
finish while a batch commits form the next one, so under load a transaction carries many
calls, and an idle gateway still bills a lone call at once.

Two drains, each with a connection of its own: calls that queue while one batch commits go
out at once on the other and wait at the store's table lock inside the server, instead of
waiting here for the first batch's answer and then a round trip of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain.billing.application import AlreadyBilledError, Billing, CallRecord
from domain.billing.calls import Call
from infra.async_append import AsyncAppender

#: At most this many calls in one transaction.
MAX_BATCH = 512
#: Batches in flight at once (each drain has its own connection).
DRAINS = 2


class BillingQueue:
    def __init__(self, billing: Billing, appenders: Sequence[AsyncAppender]) -> None:
        self.billing = billing
        self.appenders = list(appenders)
        self._idle = list(appenders)  # those no drain is using
        self._queued: list[tuple[Call.Billed, asyncio.Future[int]]] = []
        self._starting = False  # a drain was started and has not taken its batch yet
        self._drains: set[asyncio.Task[None]] = set()
        self.batches = 0

    async def bill(self, record: CallRecord) -> int:
        """The call's log position once its `Call.Billed` is durable; `AlreadyBilledError` when
        its id was billed first (a repeated idempotency key)."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queued.append((self.billing.billed_event(record), done))
        if self._idle and not self._starting:
            self._starting = True
            drain = asyncio.create_task(self._run(self._idle.pop()))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        # Shielded: a caller that goes away does not take its record out of a batch in flight.
        return await asyncio.shield(done)

    async def _run(self, appender: AsyncAppender) -> None:
        batch: list[tuple[Call.Billed, asyncio.Future[int]]] = []
        try:
            while self._queued:
                batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
                self._starting = False
                try:
                    outcomes: list[Any] = await self._save(appender, [e for e, _ in batch])
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
            self._idle.append(appender)
            self._starting = False
            for _, done in batch + self._queued:  # cancelled (shutdown): say so to each
                if not done.done():
                    done.set_exception(RuntimeError("billing stopped before this call's turn"))
            self._queued = []

    async def _save(
        self, appender: AsyncAppender, events: list[Call.Billed]
    ) -> list[int | AlreadyBilledError]:
        """As `Billing.save_billed`: each call's position, or `AlreadyBilledError` for an id
        billed before; a taken id sends the batch again one call at a time."""
        try:
            return list(await appender.append(events))
        except IntegrityError:
            if len(events) == 1:
                return [AlreadyBilledError(str(events[0].originator_id))]
            return [o for event in events for o in await self._save(appender, [event])]

    async def close(self) -> None:
        for appender in self.appenders:
            await appender.close()
