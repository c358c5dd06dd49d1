"""The catalogue's answer cache: reuse while unchanged, a bounded grace after a change."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from api.catalogue_cache import Answer, AnswerCache


class World:
    """A catalogue revision and a clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self.revision = 7
        self.reads = 0

    def read(self) -> int:
        self.reads += 1
        return self.revision

    def cache(self, **kw: Any) -> AnswerCache:
        return AnswerCache(self.read, clock=lambda: self.now, **kw)


def A(text: str) -> Answer:
    return Answer(text.encode())


def test_an_answer_is_reused_while_the_catalogue_is_unchanged() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0)
    assert cache.get("q") is None
    cache.put("q", A("answer"), cache.revision())
    world.now = 60.0
    assert cache.get("q") == A("answer")


def test_a_change_ends_the_answer_once_its_grace_is_over() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0)
    cache.put("q", A("answer"), cache.revision())
    world.revision = 8
    world.now = 0.5  # changed, and seen (poll passed), but the answer is young
    assert cache.get("q") == A("answer")
    world.now = 1.0
    assert cache.get("q") is None
    cache.put("q", A("fresh"), cache.revision())
    world.now = 5.0
    assert cache.get("q") == A("fresh")


def test_an_answer_computed_across_a_change_is_not_kept_past_its_grace() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0)
    before = cache.revision()  # read before computing...
    world.revision = 8  # ...the catalogue changes meanwhile...
    cache.put("q", A("maybe stale"), before)
    world.now = 1.5
    assert cache.get("q") is None


def test_the_revision_is_read_at_most_once_per_poll() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0)
    for _ in range(50):
        cache.get("q")
    assert world.reads == 1
    world.now = 0.1
    cache.get("q")
    assert world.reads == 2


def test_the_least_recently_used_answer_goes_first() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0, max_entries=2)
    revision = cache.revision()
    cache.put("a", A("A"), revision)
    cache.put("b", A("B"), revision)
    assert cache.get("a") == A("A")  # a is now the most recent
    cache.put("c", A("C"), revision)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (A("A"), None, A("C"))


def test_a_disabled_cache_keeps_nothing() -> None:
    world = World()
    cache = world.cache()
    cache.enabled = False
    cache.put("q", A("answer"), cache.revision())
    assert cache.get("q") is None


def test_peek_never_reads_the_revision_and_declines_once_a_read_is_due() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0)
    assert cache.peek("q") is None  # never read yet
    assert world.reads == 0
    cache.put("q", A("answer"), cache.revision())
    assert cache.peek("q") == A("answer")
    world.now = 0.1
    assert cache.peek("q") is None  # due a read: the route reads it, then peek answers
    assert world.reads == 1
    assert cache.get("q") == A("answer")
    assert cache.peek("q") == A("answer")


def test_with_a_background_peek_has_the_revision_read_there_and_answers_meanwhile() -> None:
    world = World()
    queued: list[Callable[[], None]] = []
    cache = world.cache(poll=0.1, grace=1.0, background=queued.append)
    assert cache.peek("q") is None and queued == []  # nothing read yet: nothing to go on
    cache.put("q", A("answer"), cache.revision())
    world.revision, world.now = 8, 0.5
    assert cache.peek("q") == A("answer")  # due: the read is queued, 7 holds meanwhile
    assert cache.peek("q") == A("answer")
    assert len(queued) == 1 and world.reads == 1
    queued.pop()()
    assert world.reads == 2
    assert cache.peek("q") == A("answer")  # 8 now, but the answer is within its grace
    world.now = 1.2
    assert cache.peek("q") is None  # its grace is over


def test_after_a_quiet_spell_peek_leaves_the_revision_to_a_read_in_the_request() -> None:
    """The revision held may be long out of date: no answer is given on its word."""
    world = World()
    queued: list[Callable[[], None]] = []
    cache = world.cache(poll=0.1, grace=1.0, background=queued.append, recompute_in=queued.append)
    cache.put("q", A("answer"), cache.revision(), lambda: A("again"))
    world.revision, world.now = 8, 600.0
    assert cache.peek("q") is None and queued == []
    assert cache.get("q") is None  # changed at some time in the last 600 s: too long ago
    assert queued == []


def test_a_failed_background_read_keeps_the_last_revision() -> None:
    world = World()
    queued: list[Callable[[], None]] = []
    cache = world.cache(poll=0.1, grace=1.0, background=queued.append)
    cache.put("q", A("answer"), cache.revision())

    def broken() -> int:
        raise OSError("the database is away")

    cache._read_revision = broken
    world.now = 0.5
    assert cache.peek("q") == A("answer")
    queued.pop()()
    assert cache.peek("q") == A("answer")
    world.now = 0.7
    assert cache.peek("q") == A("answer") and len(queued) == 1  # tried again


def test_peek_follows_a_change_like_get() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0)
    cache.put("q", A("answer"), cache.revision())
    world.revision = 8
    world.now = 1.0
    assert cache.get("q") is None  # reads 8: the answer's grace is over
    assert cache.peek("q") is None


def test_a_request_seen_before_finds_its_answer_through_its_alias() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0, max_entries=1)
    cache.put("q", A("answer"), cache.revision())
    assert cache.peek_request(("/s", b"q=x")) is None
    cache.alias(("/s", b"q=x"), "q")
    cache.alias(("/s", b"x=1&q=x"), "q")
    assert cache.peek_request(("/s", b"q=x")) == A("answer")
    cache.alias(("/s", b"other"), "r")  # at most twice max_entries aliases: the oldest goes
    assert cache.peek_request(("/s", b"q=x")) is None
    assert cache.peek_request(("/s", b"x=1&q=x")) == A("answer")


def test_an_answer_carries_a_strong_etag_of_its_body() -> None:
    answer = A('{"data":[]}')
    assert answer.etag.startswith('"') and answer.etag.endswith('"')
    assert answer.etag == A('{"data":[]}').etag != A('{"data":[1]}').etag
    assert answer.matches(answer.etag)
    assert answer.matches(f'"other", W/{answer.etag}')
    assert answer.matches("*")
    assert not answer.matches('"other"')
    assert not answer.matches(None)


def test_an_out_of_date_answer_is_given_while_it_is_computed_again_once() -> None:
    world = World()
    queued: list[Callable[[], None]] = []
    cache = world.cache(poll=0.1, grace=1.0, max_stale=30.0, recompute_in=queued.append)
    computed = 0

    def compute() -> Answer:
        nonlocal computed
        computed += 1
        return A(f"answer {world.revision}")

    cache.put("q", compute(), cache.revision(), compute)
    world.revision, world.now = 8, 2.0
    assert cache.get("q") == A("answer 7")  # out of date: still given, computed again...
    assert cache.get("q") == A("answer 7")
    assert len(queued) == 1  # ...once
    queued.pop()()
    assert (computed, cache.get("q")) == (2, A("answer 8"))
    world.revision, world.now = 9, 4.0
    assert cache.get("q") == A("answer 8")
    assert len(queued) == 1


def test_an_answer_is_never_given_past_max_stale_after_the_change() -> None:
    world = World()
    queued: list[Callable[[], None]] = []
    cache = world.cache(poll=0.1, grace=1.0, max_stale=30.0, recompute_in=queued.append)
    cache.put("q", A("answer"), cache.revision(), lambda: A("again"))
    world.revision, world.now = 8, 2.0
    assert cache.get("q") == A("answer")  # changed after the read at 0: given, computed again
    world.now = 29.9
    assert cache.get("q") == A("answer")  # the thread has not got to it yet
    world.now = 30.0
    assert cache.get("q") is None  # never longer than that
    assert len(queued) == 1


def test_an_answer_made_long_before_a_change_is_still_given_while_computed_again() -> None:
    """A quiet catalogue's first change must not end every answer at once."""
    world = World()
    queued: list[Callable[[], None]] = []
    cache = world.cache(poll=0.1, grace=1.0, max_stale=30.0, recompute_in=queued.append)
    cache.put("q", A("answer"), cache.revision(), lambda: A("again"))
    world.now = 3600.0
    assert cache.get("q") == A("answer")
    world.revision, world.now = 8, 3601.0
    assert cache.get("q") == A("answer")
    queued.pop()()
    assert cache.get("q") == A("again")


def test_a_failed_recomputation_leaves_the_answer_and_may_be_tried_again() -> None:
    world = World()
    queued: list[Callable[[], None]] = []
    cache = world.cache(poll=0.1, grace=1.0, max_stale=30.0, recompute_in=queued.append)

    def broken() -> Answer:
        raise OSError("the database is away")

    cache.put("q", A("answer"), cache.revision(), broken)
    world.revision, world.now = 8, 2.0
    assert cache.get("q") == A("answer")
    queued.pop()()
    assert cache.get("q") == A("answer")
    assert len(queued) == 1


def test_answers_without_a_way_to_recompute_them_go_when_out_of_date() -> None:
    world = World()
    queued: list[Callable[[], None]] = []
    cache = world.cache(poll=0.1, grace=1.0, recompute_in=queued.append)
    cache.put("q", A("answer"), cache.revision())
    world.revision, world.now = 8, 2.0
    assert cache.get("q") is None


def test_on_a_quiet_catalogue_a_request_waits_for_its_answer_computed_again() -> None:
    """A service just published shows at once: with the recomputing thread idle, the request
    waits for its own answer instead of being given the one from before the change, and
    `peek` (the early answers) leaves it to the route."""
    world = World()
    again = ThreadPoolExecutor(max_workers=1)
    cache = world.cache(
        poll=0.1, grace=1.0, max_stale=30.0, recompute_in=again.submit, fresh_wait=5.0
    )

    def compute() -> Answer:
        return A(f"answer {world.revision}")

    try:
        cache.put("q", compute(), cache.revision(), compute)
        world.revision, world.now = 8, 2.0
        assert cache.peek("q") is None  # the route will wait for it
        assert cache.get("q") == A("answer 8")
        assert cache.peek("q") == A("answer 8")
    finally:
        again.shutdown()


def test_a_backlog_of_answers_to_compute_again_gets_the_out_of_date_ones() -> None:
    """A catalogue changing faster than one thread recomputes: no request waits then."""
    world = World()
    queued: list[Callable[[], None]] = []
    cache = world.cache(
        poll=0.1,
        grace=1.0,
        max_stale=30.0,
        background=lambda read: None,
        recompute_in=queued.append,
        fresh_wait=5.0,
        quiet_backlog=2,
    )

    def compute() -> Answer:
        return A(f"answer {world.revision}")

    for key in ("a", "b", "c"):
        cache.put(key, compute(), cache.revision(), compute)
    world.revision, world.now = 8, 2.0
    cache.revision()  # this process has seen the change
    assert cache.peek("a") is None and cache.peek("b") is None  # two to compute: quiet
    assert cache.peek("c") == A("answer 7")  # a third: a backlog, so given out of date
    assert len(queued) == 3
