"""Answers of catalogue queries, kept while the catalogue has not changed.

The same searches come again and again (the front page, a category, popular words), and
each costs the database milliseconds of CPU: matching, ranking and counting facets over
every matched service. The catalogue records where it last changed (`totals.revision`, a
log position); an answer is reused while that has not moved. The revision is read at most
every `poll` seconds per process, and an answer stays usable for `grace` seconds after a
change, so a busy catalogue (reviews arriving every second) cannot make every request
recompute the front page. So an answer may lag a change by `poll + grace` seconds and
more under churn (below), like any eventually consistent read; a request with `wait_for`
is never served from here, and keys include the tenants whose drafts the caller sees.

A catalogue that changes all the time (a review a second) would still end every answer
each second, and computing them all again costs more than two cores have (the bench's
2,000 distinct searches: ~9 ms of CPU each, per API process). So an answer that knows how
to `recompute` itself is given out of date, for at most `max_stale` seconds after the
change, while one thread per process computes out-of-date answers again, in turn:
under churn an answer lags by the time that thread takes to get to it (bounded by
`max_stale`), and the cost of following changes is bounded by that one thread.

An answer is kept encoded, with its entity tag (a digest of the body), so that it goes out
as it is and a client that already holds it gets a `304 Not Modified`. `peek` never reads
the database: it is what `api.catalogue_early` uses on the event loop, before routing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import partial

from prometheus_client import Histogram

log = logging.getLogger(__name__)

OUT_OF_DATE = Histogram(
    "mcps_catalogue_answer_lag_seconds",
    "How long the catalogue had changed when an out-of-date answer was given",
    buckets=(0.5, 1, 2, 5, 10, 20, 30),
)


@dataclass(frozen=True)
class Answer:
    """A JSON body as sent, and its strong entity tag."""

    body: bytes
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.blake2b(self.body, digest_size=16).hexdigest()
        object.__setattr__(self, "etag", f'"{digest}"')

    def matches(self, if_none_match: str | None) -> bool:
        """Whether `If-None-Match` names this answer (weak comparison, RFC 9110 13.1.2)."""
        if not if_none_match:
            return False
        if if_none_match.strip() == "*":
            return True
        tags = (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
        return self.etag in tags


@dataclass(frozen=True)
class _Entry:
    answer: Answer
    revision: int
    made_at: float
    #: Computes the answer again (in the background, once it is out of date), if given.
    recompute: Callable[[], Answer] | None = None


class AnswerCache:
    def __init__(
        self,
        read_revision: Callable[[], int],
        *,
        poll: float = 0.1,
        grace: float = 1.0,
        max_stale: float = 30.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
        background: Callable[[Callable[[], None]], object] | None = None,
        recompute_in: Callable[[Callable[[], None]], object] | None = None,
        fresh_wait: float = 0.0,
        quiet_backlog: int = 4,
    ) -> None:
        """`background(f)` runs `f` elsewhere (an executor's `submit`): then `peek` has the
        revision read there when it is due, and keeps answering meanwhile.

        `recompute_in(f)` likewise, for answers put with a way to `recompute` them: once
        such an answer is out of date (`grace` over), it is still given, for at most
        `max_stale` seconds after the catalogue changed, while it is computed again there,
        once.

        With `fresh_wait`, a quiet catalogue still gives fresh answers: when at most
        `quiet_backlog` answers are being computed again, `get` waits up to `fresh_wait`
        seconds for its own (a few ms) instead of giving the one out of date, and `peek`
        leaves the request to the route, which does. Only a catalogue changing faster than
        the recomputing thread keeps up (a backlog) gets out-of-date answers.
        """
        self._read_revision = read_revision
        self._background, self._recompute_in = background, recompute_in
        self.poll, self.grace, self.max_stale = poll, grace, max_stale
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._aliases: OrderedDict[Hashable, Hashable] = OrderedDict()
        #: Answers being computed again, each with what is set once that is done.
        self._recomputing: dict[Hashable, threading.Event] = {}
        self.fresh_wait, self.quiet_backlog = fresh_wait, quiet_backlog
        #: The changes seen in the last `max_stale` seconds: (revision, the start of the last
        #: read before, which still saw the one before: the change came after that).
        self._changes: deque[tuple[int, float]] = deque()
        self._lock = threading.Lock()
        self._revision = -1
        self._checked_at = float("-inf")  # when the last read began
        self._read_at = float("-inf")  # when the last read that succeeded began
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
            self._advance(revision, now)
            return self._revision

    def get(self, key: Hashable) -> Answer | None:
        if not self.enabled:
            return None
        current = self.revision()
        with self._lock:
            answer, recomputed = self._usable(key, current, self._clock())
        if recomputed is None or not recomputed.wait(self.fresh_wait):
            return answer
        with self._lock:  # computed again meanwhile (or, had that failed, the same)
            entry = self._entries.get(key)
            return answer if entry is None else entry.answer

    def peek(self, key: Hashable) -> Answer | None:
        """`get` without reading the database here. When the revision is due a read, that
        read runs in the background, if there is one, and the last revision holds until it
        is done (an answer lags a change by at most `poll` + the read + `grace`). Without a
        background, before the first read, or when the last read is older than `grace` (a
        quiet spell: the revision held may be long out of date), there is no answer."""
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            if now - self._checked_at >= self.poll:
                quiet = now - self._checked_at >= self.grace
                if self._background is None or self._revision < 0 or quiet:
                    return None
                self._checked_at = now  # one reader at a time, as in `revision`
                self._background(partial(self._refresh, now))
            answer, recomputed = self._usable(key, self._revision, now)
            return answer if recomputed is None else None  # the route waits for it

    def _refresh(self, started: float) -> None:
        try:
            revision = self._read_revision()
        except Exception:  # the next poll tries again; meanwhile the last revision holds
            log.warning("reading the catalogue's revision failed", exc_info=True)
            return
        with self._lock:
            self._advance(revision, started)

    def _advance(self, revision: int, started: float) -> None:
        """Take a revision read begun at `started` (under the lock)."""
        if revision > self._revision >= 0:
            self._changes.append((revision, self._read_at))
        self._revision = max(self._revision, revision)
        self._read_at = max(self._read_at, started)
        now = self._clock()
        while self._changes and now - self._changes[0][1] >= self.max_stale:
            self._changes.popleft()

    def _out_of_date_for(self, revision: int, now: float) -> float:
        """How long the catalogue may have been past `revision`: since the last read that
        still saw it (a process that reads every `poll` knows it to within `poll`)."""
        for changed_to, changed_after in self._changes:  # oldest first; a few dozen at most
            if changed_to > revision:
                return now - changed_after
        return math.inf  # longer ago than `max_stale`: forgotten

    def alias(self, request: Hashable, key: Hashable) -> None:
        """Remember that `request` (a path and its raw query) asks for the answer at `key`.

        Only the route, which has parsed and validated the request, knows the key; with
        this, `peek_request` can answer the same request again without parsing it.
        """
        if not self.enabled:
            return
        with self._lock:
            self._aliases[request] = key
            self._aliases.move_to_end(request)
            while len(self._aliases) > 2 * self.max_entries:
                self._aliases.popitem(last=False)

    def peek_request(self, request: Hashable) -> Answer | None:
        """`peek` at the answer of a request seen before (see `alias`)."""
        with self._lock:
            key = self._aliases.get(request)
        return None if key is None else self.peek(key)

    def _usable(
        self, key: Hashable, current: int, now: float
    ) -> tuple[Answer | None, threading.Event | None]:
        """The answer kept, if it may be given; and, when it is out of date on a quiet
        catalogue, what is set once it has been computed again (worth waiting for)."""
        entry = self._entries.get(key)
        if entry is None:
            return None, None
        self._entries.move_to_end(key)
        if entry.revision == current or now - entry.made_at < self.grace:
            return entry.answer, None
        lag = self._out_of_date_for(entry.revision, now)
        if entry.recompute is None or self._recompute_in is None or lag >= self.max_stale:
            del self._entries[key]
            return None, None
        recomputed = self._recomputing.get(key)
        if recomputed is None:
            recomputed = self._recomputing[key] = threading.Event()
            self._recompute_in(partial(self._recompute, key, entry.recompute, recomputed))
        if self.fresh_wait > 0 and len(self._recomputing) <= self.quiet_backlog:
            return entry.answer, recomputed
        OUT_OF_DATE.observe(lag)
        return entry.answer, None

    def _recompute(
        self, key: Hashable, recompute: Callable[[], Answer], done: threading.Event
    ) -> None:
        try:
            revision = self.revision()  # before computing, as for `put`
            self.put(key, recompute(), revision, recompute)
        except Exception:  # the answer stays until `max_stale`; then a request computes it
            log.warning("computing a catalogue answer again failed", exc_info=True)
        finally:
            with self._lock:
                self._recomputing.pop(key, None)
            done.set()

    def put(
        self,
        key: Hashable,
        answer: Answer,
        revision: int,
        recompute: Callable[[], Answer] | None = None,
    ) -> None:
        """Keep `answer`, computed on the catalogue as of `revision` (read before computing);
        with `recompute`, it is computed again in the background once out of date."""
        if not self.enabled:
            return
        with self._lock:
            self._entries[key] = _Entry(answer, revision, self._clock(), recompute)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
