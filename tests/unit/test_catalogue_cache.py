"""The catalogue's answer cache: reuse while unchanged, a bounded grace after a change."""

from __future__ import annotations

from typing import Any

from api.catalogue_cache import AnswerCache


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


def test_an_answer_is_reused_while_the_catalogue_is_unchanged() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0)
    assert cache.get("q") is None
    cache.put("q", "answer", cache.revision())
    world.now = 60.0
    assert cache.get("q") == "answer"


def test_a_change_ends_the_answer_once_its_grace_is_over() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0)
    cache.put("q", "answer", cache.revision())
    world.revision = 8
    world.now = 0.5  # changed, and seen (poll passed), but the answer is young
    assert cache.get("q") == "answer"
    world.now = 1.0
    assert cache.get("q") is None
    cache.put("q", "fresh", cache.revision())
    world.now = 5.0
    assert cache.get("q") == "fresh"


def test_an_answer_computed_across_a_change_is_not_kept_past_its_grace() -> None:
    world = World()
    cache = world.cache(poll=0.1, grace=1.0)
    before = cache.revision()  # read before computing...
    world.revision = 8  # ...the catalogue changes meanwhile...
    cache.put("q", "maybe stale", before)
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
    cache.put("a", "A", revision)
    cache.put("b", "B", revision)
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C", revision)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")


def test_a_disabled_cache_keeps_nothing() -> None:
    world = World()
    cache = world.cache()
    cache.enabled = False
    cache.put("q", "answer", cache.revision())
    assert cache.get("q") is None
