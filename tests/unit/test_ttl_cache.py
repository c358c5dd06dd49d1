"""`api.ttl_cache`: values and refusals kept `ttl` seconds, one read for concurrent lookups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from api.ttl_cache import TtlCache
from domain.shared.errors import DomainError


class Refused(DomainError):
    pass


def counting(value: str) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def read() -> str:
        calls.append(1)
        return value

    return calls, read


def test_a_value_is_read_once_then_kept_until_ttl() -> None:
    kept: TtlCache[str, str] = TtlCache(ttl=0.2)
    calls, read = counting("ada")
    assert kept.read("k", read) == kept.read("k", read) == "ada"
    assert len(calls) == 1
    time.sleep(0.25)
    assert kept.read("k", read) == "ada"
    assert len(calls) == 2


def test_a_refusal_is_kept_too_and_raised_each_time() -> None:
    kept: TtlCache[str, str] = TtlCache(ttl=5)
    calls: list[int] = []

    def refuse() -> str:
        calls.append(1)
        raise Refused("no")

    for _ in range(3):
        with pytest.raises(Refused):
            kept.read("bad", refuse)
    assert len(calls) == 1


def test_clear_forgets_and_a_read_begun_before_it_is_not_kept() -> None:
    kept: TtlCache[str, str] = TtlCache(ttl=5)
    calls, read = counting("before")

    def read_across_a_clear() -> str:
        kept.clear()  # the change lands while this read is under way
        return "stale"

    assert kept.read("k", read_across_a_clear) == "stale"
    assert kept.read("k", read) == "before"  # read again: the stale value was not kept
    assert len(calls) == 1
    kept.clear()
    assert kept.get("k") is None


def test_refresh_reads_again_and_keeps_the_new_value() -> None:
    kept: TtlCache[str, str] = TtlCache(ttl=5)
    kept.read("k", lambda: "old")
    assert kept.refresh("k", lambda: "new") == "new"
    assert kept.get("k") == "new"


def test_a_zero_ttl_keeps_nothing() -> None:
    kept: TtlCache[str, str] = TtlCache(ttl=0)
    calls, read = counting("x")
    kept.read("k", read)
    kept.read("k", read)
    assert len(calls) == 2


def test_concurrent_lookups_on_the_event_loop_share_one_read() -> None:
    kept: TtlCache[str, str] = TtlCache(ttl=5)
    calls: list[int] = []

    def slow() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "once"

    async def many() -> list[str]:
        return await asyncio.gather(*(kept.resolve("k", slow) for _ in range(20)))

    assert asyncio.run(many()) == ["once"] * 20
    assert len(calls) == 1
