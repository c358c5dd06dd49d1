"""The autoscaler's signal: calls in flight per deployment, as every API process sees them.

Each API process publishes, about once a second, the average and peak number of calls it had
in flight to each deployment since its last publication (`api/gateway/load.py`). The scaler
reads the sum over processes. A publication counts only for a TTL, so the calls of an API
process that died stop counting within that time instead of holding replicas up forever.

In Redis a deployment's load is one hash, `mcps:load:<deployment id>`, with one field per
publishing process: `"<average> <peak> <expires at, ms>"`. Redis 7.0 has no per-field expiry,
so the expiry is in the value, stamped and compared with Redis's own clock (TIME) inside Lua
scripts, which keeps processes whose clocks disagree honest; reading drops expired fields, and
the hash itself expires a TTL after the last publication of any process.

`LocalLoadSignal` is the same in one process, for the embedded mode (where the deployer runs
beside the API and shares the container's instance).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import redis

PREFIX = "mcps:load:"


@dataclass(frozen=True)
class Load:
    #: The average number of calls in flight over the publication period.
    in_flight: float
    #: The most calls in flight at once in that period (summed over processes: an upper bound).
    peak: int
    #: How many API processes reported it.
    sources: int = 1


IDLE = Load(0.0, 0, 0)


class LoadSignal(Protocol):
    def publish(self, source: str, loads: Mapping[UUID, Load], ttl: float) -> None:
        """Replace what `source` said of these deployments; it counts for `ttl` seconds."""
        ...

    def read(self, deployment_ids: Iterable[UUID]) -> dict[UUID, Load]:
        """The load of each deployment summed over live publications (`IDLE` when none)."""
        ...

    def close(self) -> None: ...


# KEYS: one hash per deployment. ARGV: source, ttl in ms, then average and peak per key.
_PUBLISH = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, ARGV[1], ARGV[2 * i + 1] .. ' ' .. ARGV[2 * i + 2] .. ' ' .. (now + ttl))
  redis.call('PEXPIRE', key, ttl)
end
return #KEYS
"""

# KEYS: one hash per deployment. Returns {average, peak, sources} per key, the average as a
# string (Redis truncates a Lua number in a reply to an integer); expired fields are dropped.
_READ = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local fields = redis.call('HGETALL', key)
  local average, peak, sources = 0, 0, 0
  for j = 1, #fields, 2 do
    local a, p, expires = string.match(fields[j + 1], '^(%S+) (%S+) (%S+)$')
    if expires and tonumber(expires) > now then
      average, peak, sources = average + tonumber(a), peak + tonumber(p), sources + 1
    else
      redis.call('HDEL', key, fields[j])
    end
  end
  out[i] = {tostring(average), peak, sources}
end
return out
"""


class RedisLoadSignal:
    """The signal shared by every process that uses the same Redis (sync: the publisher calls
    it from a worker thread once a second, the scaler from the deployer's thread)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=5)
        self._publish = self._redis.register_script(_PUBLISH)
        self._read = self._redis.register_script(_READ)

    def publish(self, source: str, loads: Mapping[UUID, Load], ttl: float) -> None:
        if not loads:
            return
        args: list[str | int] = [source, max(1, math.ceil(ttl * 1000))]
        for load in loads.values():
            args += (repr(round(load.in_flight, 3)), load.peak)
        self._publish([PREFIX + str(d) for d in loads], args)

    def read(self, deployment_ids: Iterable[UUID]) -> dict[UUID, Load]:
        ids = list(deployment_ids)
        if not ids:
            return {}
        replies = self._read([PREFIX + str(d) for d in ids])
        return {
            d: Load(float(average), int(peak), int(sources)) if sources else IDLE
            for d, (average, peak, sources) in zip(ids, replies, strict=True)
        }

    def close(self) -> None:
        self._redis.close()


class LocalLoadSignal:
    """The same signal in one process (thread-safe: the API's loop writes, the deployer's
    thread reads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        #: deployment -> source -> (load, expires at)
        self._loads: dict[UUID, dict[str, tuple[Load, float]]] = {}

    def publish(self, source: str, loads: Mapping[UUID, Load], ttl: float) -> None:
        expires = self._clock() + ttl
        with self._lock:
            for deployment_id, load in loads.items():
                self._loads.setdefault(deployment_id, {})[source] = (load, expires)

    def read(self, deployment_ids: Iterable[UUID]) -> dict[UUID, Load]:
        now = self._clock()
        found: dict[UUID, Load] = {}
        with self._lock:
            for deployment_id in deployment_ids:
                sources = self._loads.get(deployment_id, {})
                for source in [s for s, (_, expires) in sources.items() if expires <= now]:
                    del sources[source]
                if not sources:
                    self._loads.pop(deployment_id, None)
                    found[deployment_id] = IDLE
                    continue
                live = [load for load, _ in sources.values()]
                found[deployment_id] = Load(
                    sum(load.in_flight for load in live), sum(load.peak for load in live), len(live)
                )
        return found

    def close(self) -> None:
        pass


def build_load_signal(redis_url: str | None) -> LoadSignal:
    return RedisLoadSignal(redis_url) if redis_url else LocalLoadSignal()
