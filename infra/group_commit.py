"""Group commit: concurrent commands share one event-store transaction.

The library serialises writers with a table lock, which caps single-event transactions near
2.5k/s on this hardware. Here the first waiting caller becomes the leader, takes every command
queued so far, and inserts them in one transaction; each caller still gets its own outcome: if
the shared insert hits a conflict, the batch is retried one command at a time so that only the
commands that really conflict fail.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording

MAX_BATCH = 256


@dataclass
class _Pending:
    app: Any
    processing_event: ProcessingEvent[Any]
    done: bool = False
    recordings: Sequence[Recording[Any]] = ()
    error: BaseException | None = None
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.processing_event.events)


class GroupCommitter:
    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._leading = False
        self._max_batch = max_batch
        self.batches = 0
        self.commands = 0

    def record(self, app: Any, processing_event: ProcessingEvent[Any]) -> Sequence[Recording[Any]]:
        pending = _Pending(app, processing_event)
        with self._cond:
            self._queue.append(pending)
            while self._leading and not pending.done:
                self._cond.wait()
            if not pending.done:
                self._leading = True
        while not pending.done:
            with self._cond:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            self._commit(batch)
            with self._cond:
                if pending.done:
                    self._leading = False
                    self._cond.notify_all()
        if pending.error is not None:
            raise pending.error
        return pending.recordings

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            if len(batch) == 1:
                self._commit_one(batch[0])
            else:
                self._commit_many(batch)
        finally:
            with self._cond:
                for pending in batch:
                    pending.done = True
                self.batches += 1
                self.commands += len(batch)

    def _commit_many(self, batch: list[_Pending]) -> None:
        store = batch[0].app.events
        events = [e for p in batch for e in p.processing_event.events]
        try:
            recordings = store.put(events)
        except IntegrityError:
            for pending in batch:
                self._commit_one(pending)
            return
        except BaseException as error:
            for pending in batch:
                pending.error = error
            return
        start = 0
        for pending in batch:
            pending.recordings = recordings[start : start + pending.size]
            start += pending.size

    @staticmethod
    def _commit_one(pending: _Pending) -> None:
        try:
            pending.recordings = pending.app.events.put(pending.processing_event.events)
        except BaseException as error:
            pending.error = error
