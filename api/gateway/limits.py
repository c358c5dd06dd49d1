"""Rate limits and quotas of the gateway: token buckets per API token and per tenant, the
plan's monthly calls, and the FREEMIUM free-call counter, shared by every API process through
Redis (in-process without REDIS_URL)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from api.gateway.callers import Caller
from api.gateway.errors import GatewayUnavailableError, QuotaExceededError, RateLimitedError
from domain.billing.plans import limits_of
from infra.ratelimit import Bucket, Decision, Quota, build_rate_limiter
from infra.redis_pipe import RedisError
from infra.settings import Settings

log = logging.getLogger("mcps.gateway.limits")


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


#: Redis out of reach (ConnectionError is an OSError), too slow, or answering with an error
#: (out of memory, still loading, a read-only replica): the limits cannot be checked.
LIMITS_LOST = (OSError, TimeoutError, RedisError)


class Limits:
    def __init__(
        self,
        settings: Settings,
        free_calls_seed: Callable[[UUID, UUID, datetime], int] | None = None,
    ) -> None:
        self.settings = settings
        self.limiter = build_rate_limiter(settings.redis_url)
        #: Counts a tenant's chargeable calls of a service this month from the usage store,
        #: when the counter is missing (first call of the month, or a Redis that lost it).
        self.free_calls_seed = free_calls_seed

    async def close(self) -> None:
        await self.limiter.close()

    async def admit(self, caller: Caller, *, what: str = "calls") -> Decision:
        """Take one call from the caller's buckets and quota, or refuse with a 429.

        `what` names a separate set of buckets at the same rates and without the monthly
        quota: accepting async tasks (`"tasks"`), whose calls are admitted again when they run.
        """
        gateway = self.settings.gateway
        plan = limits_of(caller.plan)
        prefix = "" if what == "calls" else f"{what}:"
        buckets = [
            Bucket(
                f"{prefix}tenant:{caller.tenant_id}",
                gateway.tenant_rate_per_second or plan.rate_per_second,
                gateway.tenant_burst or plan.burst,
            )
        ]
        if caller.token_id is not None:
            buckets.append(
                Bucket(
                    f"{prefix}token:{caller.token_id}",
                    gateway.token_rate_per_second,
                    gateway.token_burst,
                )
            )
        quota = None
        if plan.monthly_calls is not None and not prefix:
            start, end = month_bounds(datetime.now(UTC))
            quota = Quota(
                f"quota:{caller.tenant_id}:{start:%Y-%m}", plan.monthly_calls, end.timestamp()
            )
        try:
            decision = await self.limiter.acquire(buckets, quota)
        except LIMITS_LOST as lost:
            raise _unavailable(lost) from lost
        if decision.allowed:
            return decision
        headers = rate_headers(decision)
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
        if decision.reason == "quota":
            raise QuotaExceededError(
                f"the {caller.plan.value} plan's calls for this month are used up",
                headers=headers,
            )
        raise RateLimitedError(
            f"too many {what}; retry in {decision.retry_after:.2f} s", headers=headers
        )

    async def free_calls_counted(self, tenant_id: UUID, service_id: UUID) -> int:
        """Count one chargeable call of a FREEMIUM service this month; the count so far."""
        start, end = month_bounds(datetime.now(UTC))
        key = f"free:{tenant_id}:{service_id}:{start:%Y-%m}"
        seed = self.free_calls_seed

        async def counted_so_far() -> int:
            if seed is None:
                return 0
            try:
                return await run_in_threadpool(seed, tenant_id, service_id, start)
            except Exception:  # the usage store is down or not there yet: count from zero
                log.warning("free calls of %s not seeded from usage", tenant_id, exc_info=True)
                return 0

        try:
            return await self.limiter.count(key, end.timestamp(), counted_so_far)
        except LIMITS_LOST as lost:
            # The call was made and must be billed: count from the usage store instead.
            log.warning("free-call counter unreachable, counted from usage: %s", lost)
            return await counted_so_far() + 1


def _unavailable(lost: BaseException) -> GatewayUnavailableError:
    """Limits that cannot be checked refuse the call (503, before anything is sent), as the
    shared store of every API process's limits is out of reach."""
    log.warning("rate limits unreachable: %s", lost)
    return GatewayUnavailableError(
        "the gateway cannot check its rate limits right now", retry_after=1.0
    )


def rate_headers(decision: Decision) -> dict[str, str]:
    """The IETF RateLimit header fields for the tightest bucket."""
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(max(0, decision.remaining)),
        "RateLimit-Reset": str(max(0, math.ceil(decision.reset))),
    }
