"""Rate limits for the gateway: token buckets plus a monthly call quota, all or nothing.

A bucket holds up to `burst` tokens and refills continuously at `rate` tokens a second. It is
stored as the token count at the moment of the last take; the count now is
`min(burst, tokens + elapsed * rate)`, so nothing has to tick in the background and an idle
bucket needs no state at all (its key expires once it would be full again). A call is allowed
only if every bucket it names (its API token's, its tenant's) holds a whole token and its
tenant's quota counter is below the plan's limit; then one token is taken from each bucket and
one call is counted on the quota. Otherwise nothing is taken, and the caller learns how long
the longest refusal lasts: `(1 - tokens) / rate` for an empty bucket, until the period ends for
a used-up quota.

Many API processes share the limits, so the state lives in Redis and the read-check-write runs
in one Lua script: Redis runs a script with nothing interleaved, which makes the check across
several keys atomic without locks or WATCH retries, and the whole decision costs one round
trip (EVALSHA over `infra.redis_pipe`, which loads the script again when Redis answers
NOSCRIPT, e.g. after a restart). The script reads the clock with TIME, so processes whose
own clocks disagree still refill buckets alike. The keys of one call must live on one node
(no Redis Cluster here).

`LocalRateLimiter` is the same algorithm in-process, for the embedded single-process mode.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from infra.redis_pipe import RedisPipe, Script

PREFIX = "mcps:rl:"
BUCKET_SLACK_MS = 1000  # a bucket's key outlives the moment it is full again by this much
# A quota counter outlives its period, so a gateway whose clock lags Redis's still finds it
# (and refuses) instead of starting a fresh count for the old period.
QUOTA_SLACK_S = 3600


@dataclass(frozen=True)
class Bucket:
    key: str  # e.g. "token:<uuid>" or "tenant:<uuid>"
    rate: float  # tokens per second
    burst: int  # capacity

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1):
            raise ValueError(f"bucket {self.key}: rate must be > 0 and burst >= 1")


@dataclass(frozen=True)
class Quota:
    key: str  # e.g. "quota:<tenant>:2026-11"
    limit: int  # calls allowed in the period
    resets_at: float  # unix time the period ends


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until a retry can succeed (0 when allowed)
    limit: int  # the tightest bucket's burst (RateLimit-Limit)
    remaining: int  # whole tokens left in the tightest bucket after this call
    reset: float  # seconds until the tightest bucket is full again (RateLimit-Reset)
    reason: str | None  # None, "rate" (a bucket was empty) or "quota" (quota used up)
    bucket: str | None  # the key of the bucket or quota that refused


class RateLimiter(Protocol):
    async def acquire(self, buckets: Sequence[Bucket], quota: Quota | None = None) -> Decision:
        """Take one token from every bucket and count one call on the quota, or nothing."""
        ...

    async def count(
        self, key: str, expires_at: float, seed: Callable[[], Awaitable[int]] | None = None
    ) -> int:
        """Increment a counter and return the new value. A counter that does not exist yet
        starts from `await seed()` (once, however many callers race), else from 0."""
        ...

    async def close(self) -> None: ...


def _decision(
    buckets: Sequence[Bucket],
    quota: Quota | None,
    refuser: int,  # 0: allowed; i: buckets[i - 1] refused; len(buckets) + 1: the quota
    retry_after: float,
    limit: int,
    remaining: int,
    reset: float,
) -> Decision:
    if refuser == 0:
        return Decision(True, 0.0, limit, remaining, reset, None, None)
    if refuser > len(buckets):
        assert quota is not None
        return Decision(False, retry_after, limit, remaining, reset, "quota", quota.key)
    key = buckets[refuser - 1].key
    return Decision(False, retry_after, limit, remaining, reset, "rate", key)


# KEYS: the n buckets, then the quota counter if there is one.
# ARGV: n, rate and burst of each bucket, then the quota's limit and resets_at.
# Returns {refuser, retry_after, limit, remaining, reset}, refuser as in _decision. Fractions
# go back as strings: Redis truncates a Lua number in a reply to an integer.
_ACQUIRE = Script(f"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local n = tonumber(ARGV[1])
local rates, bursts, tokens = {{}}, {{}}, {{}}
local refuser, wait = 0, 0
for i = 1, n do
  local rate, burst = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local have = burst
  if state[1] then
    have = math.min(burst, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate)
  end
  rates[i], bursts[i], tokens[i] = rate, burst, have
  if have < 1 and (1 - have) / rate > wait then
    refuser, wait = i, (1 - have) / rate
  end
end
local quota = KEYS[n + 1]
local resets_at = tonumber(ARGV[2 * n + 3])
if quota and tonumber(redis.call('GET', quota) or '0') >= tonumber(ARGV[2 * n + 2]) then
  local until_reset = math.max(0, resets_at - now)
  if refuser == 0 or until_reset > wait then
    refuser, wait = n + 1, until_reset
  end
end
if refuser == 0 then
  for i = 1, n do
    tokens[i] = tokens[i] - 1
    redis.call('HSET', KEYS[i], 'tokens', tokens[i], 'at', now)
    local until_full = (bursts[i] - tokens[i]) / rates[i]
    redis.call('PEXPIRE', KEYS[i], math.ceil(until_full * 1000) + {BUCKET_SLACK_MS})
  end
  if quota and redis.call('INCR', quota) == 1 then
    redis.call('EXPIREAT', quota, math.ceil(resets_at) + {QUOTA_SLACK_S})
  end
end
local limit, remaining, reset = 0, 0, 0
for i = 1, n do
  local left, until_full = math.floor(tokens[i]), (bursts[i] - tokens[i]) / rates[i]
  if i == 1 or left < remaining or (left == remaining and until_full > reset) then
    limit, remaining, reset = bursts[i], left, until_full
  end
end
return {{refuser, tostring(wait), limit, remaining, tostring(reset)}}
""")

# KEYS[1]: the counter. ARGV: expires_at (whole unix seconds), then the value a new counter
# starts from, or '' to return nil for a new counter (the caller then seeds and calls again).
# Checking and setting inside the script is SET NX: of racing seeders, the first one wins.
_COUNT = Script("""
local new = redis.call('EXISTS', KEYS[1]) == 0
if new then
  if ARGV[2] == '' then return false end
  redis.call('SET', KEYS[1], ARGV[2])
end
local value = redis.call('INCR', KEYS[1])
if new then redis.call('EXPIREAT', KEYS[1], ARGV[1]) end
return value
""")


class RedisRateLimiter:
    """Limits shared by every process that uses the same Redis."""

    def __init__(self, url: str) -> None:
        # One pipelined connection for any number of calls in flight (no pool to run dry).
        self._redis = RedisPipe(url)

    async def acquire(self, buckets: Sequence[Bucket], quota: Quota | None = None) -> Decision:
        keys = [PREFIX + b.key for b in buckets]
        args: list[float] = [len(buckets)]
        for b in buckets:
            args += (b.rate, b.burst)
        if quota is not None:
            keys.append(PREFIX + quota.key)
            args += (quota.limit, quota.resets_at)
        reply = await self._redis.run_script(_ACQUIRE, keys, args)
        refuser, wait, limit, remaining, reset = reply
        return _decision(buckets, quota, refuser, float(wait), limit, remaining, float(reset))

    async def count(
        self, key: str, expires_at: float, seed: Callable[[], Awaitable[int]] | None = None
    ) -> int:
        keys, at = [PREFIX + key], math.ceil(expires_at)
        value = await self._redis.run_script(_COUNT, keys, [at, 0 if seed is None else ""])
        if value is None:
            assert seed is not None
            value = await self._redis.run_script(_COUNT, keys, [at, await seed()])
        return int(value)

    async def close(self) -> None:
        await self._redis.close()


class LocalRateLimiter:
    """The same limits in one process. Buckets refill by `clock`; quotas and counters expire
    by `wall_clock`, because their deadlines are unix times."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()  # no await while held: safe for threads and tasks
        self._buckets: dict[str, tuple[float, float, float]] = {}  # key -> (tokens, at, full at)
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (value, expires at)
        self._sweep_above = 1024

    async def acquire(self, buckets: Sequence[Bucket], quota: Quota | None = None) -> Decision:
        with self._lock:
            return self._take(buckets, quota)

    async def count(
        self, key: str, expires_at: float, seed: Callable[[], Awaitable[int]] | None = None
    ) -> int:
        if seed is not None:
            with self._lock:
                if self._counter(key) is not None:
                    return self._increment(key, 0, expires_at)
            start = await seed()
            with self._lock:  # a caller that seeded meanwhile wins: its start stands
                return self._increment(key, start, expires_at)
        with self._lock:
            return self._increment(key, 0, expires_at)

    async def close(self) -> None:
        pass

    def _take(self, buckets: Sequence[Bucket], quota: Quota | None) -> Decision:
        now = self._clock()
        tokens = []
        refuser, wait = 0, 0.0
        for i, b in enumerate(buckets, start=1):
            have, at, _ = self._buckets.get(b.key, (b.burst, now, now))
            have = min(b.burst, have + max(0.0, now - at) * b.rate)
            tokens.append(have)
            if have < 1 and (1 - have) / b.rate > wait:
                refuser, wait = i, (1 - have) / b.rate
        if quota is not None and (self._counter(quota.key) or 0) >= quota.limit:
            until_reset = max(0.0, quota.resets_at - self._wall_clock())
            if refuser == 0 or until_reset > wait:
                refuser, wait = len(buckets) + 1, until_reset
        if refuser == 0:
            tokens = [have - 1 for have in tokens]
            for b, have in zip(buckets, tokens, strict=True):
                self._buckets[b.key] = (have, now, now + (b.burst - have) / b.rate)
            if quota is not None:
                self._increment(quota.key, 0, quota.resets_at + QUOTA_SLACK_S)
            self._sweep(now)
        limit, remaining, reset = 0, 0, 0.0
        for i, (b, have) in enumerate(zip(buckets, tokens, strict=True)):
            left, until_full = math.floor(have), (b.burst - have) / b.rate
            if i == 0 or left < remaining or (left == remaining and until_full > reset):
                limit, remaining, reset = b.burst, left, until_full
        return _decision(buckets, quota, refuser, wait, limit, remaining, reset)

    def _counter(self, key: str) -> int | None:
        entry = self._counters.get(key)
        return entry[0] if entry and entry[1] > self._wall_clock() else None

    def _increment(self, key: str, start: int, expires_at: float) -> int:
        value = self._counter(key)
        if value is None:
            value = start
        else:
            expires_at = self._counters[key][1]
        self._counters[key] = (value + 1, expires_at)
        return value + 1

    def _sweep(self, now: float) -> None:
        """Forget what Redis would have expired, once in a while (amortised O(1))."""
        if len(self._buckets) + len(self._counters) <= self._sweep_above:
            return
        self._buckets = {k: v for k, v in self._buckets.items() if v[2] > now}
        self._counters = {k: v for k, v in self._counters.items() if self._counter(k) is not None}
        self._sweep_above = 2 * (len(self._buckets) + len(self._counters)) + 1024


def build_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()
