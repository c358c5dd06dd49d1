"""Answers of catalogue queries, kept while the catalogue has not changed.

The same searches come again and again (the front page, a category, popular words), and
each costs the database milliseconds of CPU: matching, ranking and counting facets over
every matched service. The catalogue records where it last changed (`totals.revision`, a
log position); an answer is reused while that has not moved. The revision is read at most
every `poll` seconds per process, and an answer stays usable for `grace` seconds after a
change, so a busy catalogue (reviews arriving every second) cannot make every request
recompute the front page. So an anonymous answer may lag a change by up to `poll + grace`
seconds, like any eventually consistent read; a request with `wait_for` is never served
from here, and keys include the tenants whose drafts the caller sees.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Entry:
    body: str
    revision: int
    made_at: float


class AnswerCache:
    def __init__(
        self,
        read_revision: Callable[[], int],
        *,
        poll: float = 0.1,
        grace: float = 1.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_revision = read_revision
        self.poll, self.grace, self.max_entries = poll, grace, max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._revision = -1
        self._checked_at = float("-inf")
        self.enabled = True

    def revision(self) -> int:
        """The catalogue's revision, read again once `poll` seconds have passed."""
        now = self._clock()
        with self._lock:
            if now - self._checked_at < self.poll:
                return self._revision
            self._checked_at = now  # one reader at a time; the others use the last value
        revision = self._read_revision()
        with self._lock:
            self._revision = max(self._revision, revision)
            return self._revision

    def get(self, key: Hashable) -> str | None:
        if not self.enabled:
            return None
        current = self.revision()
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.revision != current and now - entry.made_at >= self.grace:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.body

    def put(self, key: Hashable, body: str, revision: int) -> None:
        """Keep `body`, computed on the catalogue as of `revision` (read before computing)."""
        if not self.enabled:
            return
        with self._lock:
            self._entries[key] = _Entry(body, revision, self._clock())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
