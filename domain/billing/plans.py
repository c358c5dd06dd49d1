"""What each plan allows at the gateway: a tenant's call rate, burst, and calls per month."""

from __future__ import annotations

from dataclasses import dataclass

from domain.tenancy.values import Plan


@dataclass(frozen=True)
class PlanLimits:
    #: Sustained calls per second for the whole tenant, and the burst above it.
    rate_per_second: float
    burst: int
    #: Calls per calendar month (UTC); None is unlimited.
    monthly_calls: int | None


LIMITS: dict[Plan, PlanLimits] = {
    Plan.FREE: PlanLimits(rate_per_second=20, burst=40, monthly_calls=100_000),
    Plan.PRO: PlanLimits(rate_per_second=200, burst=400, monthly_calls=5_000_000),
    Plan.TEAM: PlanLimits(rate_per_second=1_000, burst=2_000, monthly_calls=50_000_000),
    Plan.ENTERPRISE: PlanLimits(rate_per_second=10_000, burst=20_000, monthly_calls=None),
}


def limits_of(plan: Plan) -> PlanLimits:
    return LIMITS[plan]
