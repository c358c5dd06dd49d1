"""The Redis rate limiter on a real Redis: limits hold across processes, a used-up quota
refuses until its period ends, a flushed script is loaded again, counters seed once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from infra.ratelimit import (
    PREFIX,
    Bucket,
    LocalRateLimiter,
    Quota,
    RedisRateLimiter,
    build_rate_limiter,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]

# Hammers one bucket from start to start + seconds (unix times, so that two processes run
# over the same window) and prints what it was allowed and when it called first and last.
HAMMER = """
import asyncio, json, sys, time
from infra.ratelimit import Bucket, RedisRateLimiter

async def main(url, key, start, seconds):
    limiter = RedisRateLimiter(url)
    await limiter.acquire([Bucket("warm-up:" + key, 1, 1)])  # connect, load the script
    await asyncio.sleep(start - time.time())
    bucket, allowed, first = Bucket(key, 20, 10), 0, time.time()
    while (last := time.time()) < start + seconds:
        allowed += (await limiter.acquire([bucket])).allowed
    await limiter.close()
    print(json.dumps({"allowed": allowed, "first": first, "last": last}))

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
"""


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[RedisRateLimiter]:
    rl = RedisRateLimiter(redis_url)
    yield rl
    await rl.close()


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def unique(kind: str) -> str:
    return f"{kind}:{uuid.uuid4()}"


async def test_two_processes_share_one_bucket(redis_url: str) -> None:
    key, start = unique("tenant"), time.time() + 1.5  # time enough for both to start
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, redis_url, key, str(start), "1.5"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [json.loads(w.communicate(timeout=30)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)

    first, last = min(r["first"] for r in results), max(r["last"] for r in results)
    allowed = sum(r["allowed"] for r in results)
    expected = 10 + 20 * (last - first)
    assert abs(allowed - expected) <= 3, (allowed, expected, results)
    assert all(r["allowed"] > 0 for r in results), results  # both really competed


async def test_a_used_up_quota_refuses_until_the_period_ends(
    limiter: RedisRateLimiter, admin: redis.Redis
) -> None:
    bucket = Bucket(unique("token"), 1, 10)
    quota = Quota(unique("quota") + ":2026-11", 3, resets_at=time.time() + 120)
    decisions = [await limiter.acquire([bucket], quota) for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    refused = decisions[-1]
    assert (refused.reason, refused.bucket) == ("quota", quota.key)
    assert refused.retry_after == pytest.approx(120, abs=1)
    assert refused.remaining == 7  # the refused call took no token
    assert (await limiter.acquire([], quota)).reason == "quota"  # a quota on its own
    ttl = await admin.ttl(PREFIX + quota.key)
    assert 120 < ttl <= 121 + 3600  # kept past the period's end by the slack


async def test_a_refused_call_takes_nothing_and_says_when_to_retry(
    limiter: RedisRateLimiter, admin: redis.Redis
) -> None:
    token, tenant = Bucket(unique("token"), 10, 1), Bucket(unique("tenant"), 1, 5)
    assert (await limiter.acquire([token, tenant])).allowed
    refused = await limiter.acquire([token, tenant])
    assert (refused.allowed, refused.reason, refused.bucket) == (False, "rate", token.key)
    assert 0 < refused.retry_after <= 0.1

    tenant_only = await limiter.acquire([tenant])
    assert (tenant_only.limit, tenant_only.remaining) == (5, 3)  # the refused call took none
    assert 1.5 < tenant_only.reset <= 2
    # Each key lives until its bucket would be full again, plus a second.
    assert 2_000 < await admin.pttl(PREFIX + tenant.key) <= 3_000

    await asyncio.sleep(refused.retry_after)
    assert (await limiter.acquire([token, tenant])).allowed


async def test_the_script_is_loaded_again_after_a_flush(
    limiter: RedisRateLimiter, admin: redis.Redis
) -> None:
    bucket = Bucket(unique("token"), 1, 3)
    assert (await limiter.acquire([bucket])).remaining == 2
    await admin.script_flush()  # what a Redis restart does to loaded scripts
    assert (await limiter.acquire([bucket])).remaining == 1
    assert await limiter.count(unique("free"), time.time() + 60) == 1


async def test_a_seeded_counter_is_seeded_once_however_many_callers_race(
    limiter: RedisRateLimiter, admin: redis.Redis
) -> None:
    key, expires_at = unique("free") + ":2026-11", time.time() + 300
    seeds = 0

    async def seed() -> int:
        nonlocal seeds
        seeds += 1
        await asyncio.sleep(0.01)  # as a database query would: the other callers catch up
        return 100

    values = await asyncio.gather(*(limiter.count(key, expires_at, seed) for _ in range(50)))
    assert sorted(values) == list(range(101, 151))
    assert seeds > 1  # callers did race to seed
    assert 290 <= await admin.ttl(PREFIX + key) <= 301
    assert await limiter.count(unique("free"), expires_at) == 1  # no seed: from zero


async def test_build_rate_limiter_picks_redis_when_there_is_a_url(redis_url: str) -> None:
    shared, local = build_rate_limiter(redis_url), build_rate_limiter(None)
    assert isinstance(shared, RedisRateLimiter)
    assert isinstance(local, LocalRateLimiter)
    await shared.close()
