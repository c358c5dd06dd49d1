"""Autoscaling: a deployment's replicas follow the calls in flight, within a policy's bounds.

The policy says how many calls in flight one replica should carry (`target_in_flight`) and
the least and most replicas to run. The load is the average number of calls in flight over
the last second, summed over every API process. The rules, as in Kubernetes' HPA:

- the replicas the load asks for are `ceil(in_flight / target)`, kept within the bounds;
- more replicas are added at once; fewer only once the load has asked for fewer for a whole
  stabilisation window (then to the most it asked for in that window), so a lull between
  bursts does not stop instances that the next burst needs;
- two decisions are at least a cooldown apart, except to bring replicas back within the
  bounds (after a manual scale or a new policy), which happens at once.

Everything here is pure: the scaler (`workers/autoscaler.py`) feeds it the observations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from domain.deployments.errors import InvalidAutoscalingError, ReplicaLimitError
from domain.deployments.values import MAX_REPLICAS
from domain.tenancy.values import Plan

#: Load figures are averages of samples: a hair over a whole number is that number.
_EPSILON = 1e-6
MAX_TARGET_IN_FLIGHT = 10_000.0

#: Why the scaler decided (the `reason` of `Deployment.Autoscaled`).
OUT_OF_BOUNDS = "out-of-bounds"
LOAD_ROSE = "load-rose"
LOAD_FELL = "load-fell"


@dataclass(frozen=True)
class Policy:
    min_replicas: int
    max_replicas: int
    target_in_flight: float

    def as_dict(self) -> dict[str, int | float]:
        return {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "target_in_flight": self.target_in_flight,
        }

    def clamp(self, replicas: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, replicas))


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_policy(
    min_replicas: int, max_replicas: int, target_in_flight: float, plan: Plan
) -> Policy:
    """1 <= min <= max <= the plan's replica limit, and a target above 0."""
    for field, value in (("min_replicas", min_replicas), ("max_replicas", max_replicas)):
        if not _whole(value) or value < 1:
            raise InvalidAutoscalingError(f"{field} is a whole number of at least 1", field=field)
    if min_replicas > max_replicas:
        raise InvalidAutoscalingError(
            f"min_replicas ({min_replicas}) is above max_replicas ({max_replicas})",
            field="min_replicas",
        )
    limit = MAX_REPLICAS[plan]
    if max_replicas > limit:
        raise ReplicaLimitError(
            f"the {plan.value} plan allows at most {limit} replicas",
            field="max_replicas",
            limit=limit,
        )
    if (
        isinstance(target_in_flight, bool)
        or not isinstance(target_in_flight, int | float)
        or not 0 < target_in_flight <= MAX_TARGET_IN_FLIGHT
    ):
        raise InvalidAutoscalingError(
            f"target_in_flight is a number above 0, at most {MAX_TARGET_IN_FLIGHT:g}",
            field="target_in_flight",
        )
    return Policy(min_replicas, max_replicas, float(target_in_flight))


def recommended(policy: Policy, in_flight: float) -> int:
    """The replicas this load asks for: enough that each carries at most the target."""
    wanted = math.ceil(max(in_flight, 0.0) / policy.target_in_flight - _EPSILON)
    return policy.clamp(wanted)


@dataclass(frozen=True)
class Timing:
    #: How long the load must have asked for fewer replicas before they are let go.
    stabilisation_seconds: float
    #: The least time between two decisions.
    cooldown_seconds: float


@dataclass(frozen=True)
class Scaling:
    to_replicas: int
    reason: str


def decide(
    policy: Policy,
    replicas: int,
    recommendations: Sequence[tuple[float, int]],
    observed_since: float,
    last_change_at: float | None,
    now: float,
    timing: Timing,
) -> Scaling | None:
    """What to scale to now, or None to stay.

    `recommendations` are `(time, recommended replicas)`, oldest first, the last one now's;
    `observed_since` is when the scaler began watching without a gap (a restarted scaler
    waits a whole window before scaling down); `last_change_at` is the last decision's time."""
    bounded = policy.clamp(replicas)
    if bounded != replicas:
        return Scaling(bounded, OUT_OF_BOUNDS)
    if not recommendations:
        return None
    cooled = last_change_at is None or now - last_change_at >= timing.cooldown_seconds
    latest = recommendations[-1][1]
    if latest > replicas:
        return Scaling(latest, LOAD_ROSE) if cooled else None
    if latest < replicas and cooled and now - observed_since >= timing.stabilisation_seconds:
        window_start = now - timing.stabilisation_seconds
        highest = max(r for at, r in recommendations if at >= window_start)
        if highest < replicas:
            return Scaling(highest, LOAD_FELL)
    return None
