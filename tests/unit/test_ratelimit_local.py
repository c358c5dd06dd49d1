"""The in-process rate limiter on a fake clock: buckets never allow more than they hold,
refusals take nothing, retry_after is exact, and seeded counters seed once."""

from __future__ import annotations

import asyncio
import itertools
import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.ratelimit import Bucket, Decision, LocalRateLimiter, Quota


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(clock: FakeClock) -> LocalRateLimiter:
    return LocalRateLimiter(clock, wall_clock=clock)


rates = st.floats(min_value=0.1, max_value=100)
bursts = st.integers(min_value=1, max_value=20)
# Mostly calls in quick succession, now and then a pause long enough to refill a little or all.
advances = st.lists(
    st.one_of(st.just(0.0), st.floats(0, 0.05), st.floats(0, 2)), min_size=1, max_size=150
)


@given(rate=rates, burst=bursts, advances=advances)
def test_a_bucket_never_allows_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, advances: list[float]
) -> None:
    clock = FakeClock()
    rl = limiter(clock)
    bucket = Bucket("token:a", rate, burst)

    async def run() -> list[float]:
        allowed_at = []
        for advance in advances:
            clock.now += advance
            if (await rl.acquire([bucket])).allowed:
                allowed_at.append(clock.now)
        return allowed_at

    allowed_at = asyncio.run(run())
    # Over every window between two allowed calls, including both ends.
    for (i, start), (j, end) in itertools.combinations_with_replacement(enumerate(allowed_at), 2):
        assert j - i + 1 <= burst + rate * (end - start) + 1e-9


@given(rate=rates, burst=bursts, advances=advances)
def test_retry_after_is_exactly_when_the_next_call_succeeds(
    rate: float, burst: int, advances: list[float]
) -> None:
    clock = FakeClock()
    rl = limiter(clock)
    bucket = Bucket("token:a", rate, burst)

    async def run() -> None:
        for advance in advances:
            clock.now += advance
            decision = await rl.acquire([bucket])
            if decision.allowed:
                assert decision.retry_after == 0
                assert 0 <= decision.remaining <= burst - 1
                assert decision.limit == burst
                assert 0 < decision.reset <= burst / rate + 1e-9
                continue
            assert decision.reason == "rate"
            assert decision.bucket == "token:a"
            assert decision.remaining == 0
            if decision.retry_after > 1e-6:
                clock.now += decision.retry_after * 0.999
                assert not (await rl.acquire([bucket])).allowed
            clock.now += decision.retry_after
            assert (await rl.acquire([bucket])).allowed

    asyncio.run(run())


@given(calls=st.lists(st.sampled_from(["ab", "a", "b"]), max_size=30))
def test_a_refused_call_takes_nothing_from_any_bucket(calls: list[str]) -> None:
    """On a stopped clock, the limiter matches a model where a call is allowed only if
    every bucket it names holds a token, and then takes one from each."""
    clock = FakeClock()
    rl = limiter(clock)
    buckets = {"a": Bucket("token:a", 1, 3), "b": Bucket("tenant:b", 1, 5)}
    left = {"a": 3, "b": 5}

    async def run() -> None:
        for call in calls:
            decision = await rl.acquire([buckets[name] for name in call])
            expected = all(left[name] >= 1 for name in call)
            assert decision.allowed == expected
            if expected:
                for name in call:
                    left[name] -= 1
            else:
                assert decision.bucket == next(buckets[n].key for n in call if left[n] < 1)
            tightest = min(left[name] for name in call)
            assert decision.remaining == tightest

    asyncio.run(run())


def test_the_headers_describe_the_tightest_bucket() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    token, tenant = Bucket("token:t", 1, 10), Bucket("tenant:t", 100, 3)
    decision = asyncio.run(rl.acquire([token, tenant]))
    assert decision == Decision(True, 0.0, 3, 2, 0.01, None, None)


def test_a_used_up_quota_refuses_until_the_period_ends_and_takes_no_token() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    bucket = Bucket("token:q", 1, 10)
    quota = Quota("quota:q:2026-11", 2, resets_at=clock.now + 600)

    async def run() -> list[Decision]:
        return [await rl.acquire([bucket], quota) for _ in range(3)]

    first, second, third = asyncio.run(run())
    assert first.allowed and second.allowed
    assert (third.allowed, third.reason, third.bucket) == (False, "quota", quota.key)
    assert third.retry_after == 600
    assert third.remaining == 8  # the refused call took no token


def test_the_longest_refusal_is_reported() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    bucket = Bucket("token:l", 1, 1)
    quota = Quota("quota:l", 1, resets_at=clock.now + 0.5)
    asyncio.run(rl.acquire([bucket], quota))
    refused = asyncio.run(rl.acquire([bucket], quota))
    assert (refused.reason, refused.retry_after) == ("rate", 1.0)
    clock.now += 1  # the bucket is full again, the quota's period is over (and it lingers)
    assert asyncio.run(rl.acquire([bucket], quota)).reason == "quota"


def test_a_seeded_counter_is_seeded_once_however_many_callers_race() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    seeds = 0

    async def seed() -> int:
        nonlocal seeds
        seeds += 1
        await asyncio.sleep(0)  # let the other callers reach their seed too
        return 100

    async def run() -> list[int]:
        return await asyncio.gather(
            *(rl.count("free:t:2026-11", clock.now + 60, seed) for _ in range(50))
        )

    assert sorted(asyncio.run(run())) == list(range(101, 151))
    assert seeds >= 2  # the race did happen; only one seed was used
    clock.now += 61
    assert asyncio.run(rl.count("free:t:2026-11", clock.now + 60, seed)) == 101
    assert asyncio.run(rl.count("plain", clock.now + 60)) == 1


def test_threads_share_one_bucket() -> None:
    rl = limiter(FakeClock())
    bucket = Bucket("tenant:threads", 1e-3, 500)
    allowed: list[int] = []

    def hammer() -> None:
        async def run() -> int:
            return sum([(await rl.acquire([bucket])).allowed for _ in range(200)])

        allowed.append(asyncio.run(run()))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 500


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (1, 0), (math.nan, 1)])
def test_a_bucket_needs_a_rate_and_a_token(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        Bucket("token:x", rate, burst)
