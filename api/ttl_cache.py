"""What the API would read from the store on every request, kept for a short `ttl`.

Who a bearer token speaks for (a session's JWT: is the session still open? an API token:
is it revoked?), which tenants a user belongs to: each costs a store read, and most requests
ask again what the last one asked. Kept `ttl` seconds, a change made through another API
process (a revoked token, an ended session, a removed member) is seen by this one within
`ttl`, with no message between processes; the process that makes the change `clear`s its own.

Refusals are kept too, so a flood of bad credentials costs one read per credential per
`ttl`. Concurrent lookups of one key on the event loop share one read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

from domain.shared.errors import DomainError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._kept: dict[K, tuple[V | DomainError, float]] = {}
        self._reading: dict[K, asyncio.Future[V]] = {}
        self._cleared_at = float("-inf")

    def get(self, key: K) -> V | None:
        """The value kept for `key`, if it is younger than `ttl`; a kept refusal is raised."""
        kept = self._kept.get(key)
        if kept is None or time.monotonic() - kept[1] >= self.ttl:
            return None
        found = kept[0]
        if isinstance(found, DomainError):
            raise found.with_traceback(None)  # not a longer traceback each time
        return found

    def read(self, key: K, read: Callable[[], V]) -> V:
        """The kept value, or `read()`'s, kept (in a worker thread: reads here block)."""
        found = self.get(key)
        if found is not None:
            return found
        return self.refresh(key, read)

    def refresh(self, key: K, read: Callable[[], V]) -> V:
        """`read()`'s value, kept in place of the one kept (in a worker thread)."""
        return self._kept_outcome(key, read, time.monotonic())

    async def resolve(self, key: K, read: Callable[[], V]) -> V:
        """`read` on the event loop: `read()` runs in the thread pool, once for all the
        lookups of `key` that arrive while it runs."""
        found = self.get(key)
        if found is not None:
            return found
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read_in_thread(key, read))
            self._reading[key] = reading
        return await asyncio.shield(reading)

    def clear(self) -> None:
        """Forget everything: this process has just changed what was kept. A read begun
        before is not kept either (it may have seen the store before the change)."""
        self._cleared_at = time.monotonic()
        self._kept.clear()

    async def _read_in_thread(self, key: K, read: Callable[[], V]) -> V:
        try:
            return await run_in_threadpool(self._kept_outcome, key, read, time.monotonic())
        finally:
            del self._reading[key]

    def _kept_outcome(self, key: K, read: Callable[[], V], read_at: float) -> V:
        try:
            value = read()
        except DomainError as refused:
            self._keep(key, refused, read_at)
            raise
        self._keep(key, value, read_at)
        return value

    def _keep(self, key: K, outcome: V | DomainError, read_at: float) -> None:
        if self.ttl <= 0 or read_at <= self._cleared_at:
            return
        if len(self._kept) >= self.max_entries:
            self._kept.clear()
        self._kept[key] = (outcome, read_at)
