"""Autoscaling in the domain: the policy's rules, the scaler's decision, and the events a
deployment records when a policy is set, cleared, and acted on."""

from __future__ import annotations

import math
from uuid import uuid4

import pytest
from eventsourcing.cipher import AESCipher
from hypothesis import given
from hypothesis import strategies as st

from domain.deployments.application import Deployments
from domain.deployments.autoscaling import (
    LOAD_FELL,
    LOAD_ROSE,
    OUT_OF_BOUNDS,
    Policy,
    Scaling,
    Timing,
    check_policy,
    decide,
    recommended,
)
from domain.deployments.deployments import Deployment
from domain.deployments.errors import (
    DeploymentStateError,
    InvalidAutoscalingError,
    ReplicaLimitError,
)
from domain.deployments.values import MAX_REPLICAS
from domain.marketplace.application import Marketplace
from domain.shared.sealed import Sealer
from domain.tenancy.tenants import Tenant
from domain.tenancy.values import Plan, TenantKind
from tests.unit.marketplace.gwt import OWNER, PUBLISHER, details, release

TIMING = Timing(stabilisation_seconds=60.0, cooldown_seconds=10.0)
POLICY = Policy(min_replicas=1, max_replicas=5, target_in_flight=2.0)

# --- the policy -----------------------------------------------------------------------------


def test_a_policy_within_the_plan() -> None:
    assert check_policy(1, 5, 2, Plan.PRO) == Policy(1, 5, 2.0)
    assert check_policy(3, 3, 0.5, Plan.PRO).target_in_flight == 0.5


@pytest.mark.parametrize(
    ("low", "high", "target", "field"),
    [
        (0, 2, 1.0, "min_replicas"),
        (1, 0, 1.0, "max_replicas"),
        (3, 2, 1.0, "min_replicas"),
        (1, 2, 0.0, "target_in_flight"),
        (1, 2, -1.0, "target_in_flight"),
        (1, 2, math.nan, "target_in_flight"),
        (1, 2, True, "target_in_flight"),
        (True, 2, 1.0, "min_replicas"),
    ],
)
def test_a_policy_out_of_shape_is_refused(low: int, high: int, target: float, field: str) -> None:
    with pytest.raises(InvalidAutoscalingError) as refused:
        check_policy(low, high, target, Plan.PRO)
    assert refused.value.field == field
    assert refused.value.code == "deployment.invalid_autoscaling"


def test_max_replicas_above_the_plan_is_refused() -> None:
    limit = MAX_REPLICAS[Plan.FREE]
    check_policy(1, limit, 1.0, Plan.FREE)
    with pytest.raises(ReplicaLimitError) as refused:
        check_policy(1, limit + 1, 1.0, Plan.FREE)
    assert refused.value.field == "max_replicas"


# --- what the load asks for -----------------------------------------------------------------


@given(
    low=st.integers(1, 20),
    extra=st.integers(0, 20),
    target=st.floats(0.1, 100.0),
    in_flight=st.floats(0.0, 10_000.0),
)
def test_recommended_carries_the_load_within_bounds(
    low: int, extra: int, target: float, in_flight: float
) -> None:
    policy = Policy(low, low + extra, target)
    wanted = recommended(policy, in_flight)
    assert policy.min_replicas <= wanted <= policy.max_replicas
    if wanted < policy.max_replicas:  # enough replicas: each carries at most the target
        assert in_flight / wanted <= target * (1 + 1e-6)
    if wanted > policy.min_replicas:  # and not one more than needed
        assert in_flight / (wanted - 1) > target * (1 - 1e-6)


def test_recommended_examples() -> None:
    policy = Policy(1, 3, 1.0)
    assert [recommended(policy, x) for x in (0, 0.2, 1, 1.0000001, 1.5, 2.999, 3, 7)] == [
        1, 1, 1, 1, 2, 3, 3, 3,
    ]  # fmt: skip


# --- deciding ---------------------------------------------------------------------------------


def test_up_at_once_when_the_load_rises() -> None:
    assert decide(POLICY, 1, [(100.0, 3)], 100.0, None, 100.0, TIMING) == Scaling(3, LOAD_ROSE)


def test_no_decision_within_the_cooldown() -> None:
    assert decide(POLICY, 2, [(100.0, 3)], 0.0, 95.0, 100.0, TIMING) is None
    assert decide(POLICY, 2, [(100.0, 3)], 0.0, 90.0, 100.0, TIMING) == Scaling(3, LOAD_ROSE)


def test_down_only_after_the_load_stayed_low_for_the_window() -> None:
    history = [(40.0 + t, 1) for t in range(61)]  # low from 40 to 100
    assert decide(POLICY, 3, history, 40.0, None, 100.0, TIMING) == Scaling(1, LOAD_FELL)
    # watching for less than the window (a scaler that just started): stay
    assert decide(POLICY, 3, history[10:], 50.0, None, 100.0, TIMING) is None
    # a burst inside the window keeps what it needed
    burst = [(at, 2 if at == 70.0 else r) for at, r in history]
    assert decide(POLICY, 3, burst, 40.0, None, 100.0, TIMING) == Scaling(2, LOAD_FELL)
    burst = [(at, 3 if at == 99.0 else r) for at, r in history]
    assert decide(POLICY, 3, burst, 40.0, None, 100.0, TIMING) is None


def test_back_within_bounds_at_once() -> None:
    assert decide(POLICY, 9, [], 100.0, 99.0, 100.0, TIMING) == Scaling(5, OUT_OF_BOUNDS)
    assert decide(Policy(2, 4, 1.0), 1, [], 100.0, 99.0, 100.0, TIMING) == Scaling(2, OUT_OF_BOUNDS)


@given(
    replicas=st.integers(1, 5),
    loads=st.lists(st.integers(1, 5), min_size=1, max_size=90),
    observed=st.floats(0.0, 200.0),
    last_change=st.none() | st.floats(0.0, 200.0),
)
def test_a_decision_moves_towards_the_load_and_respects_the_timing(
    replicas: int, loads: list[int], observed: float, last_change: float | None
) -> None:
    now = 200.0
    history = [(now - len(loads) + 1 + i, r) for i, r in enumerate(loads)]
    decision = decide(POLICY, replicas, history, observed, last_change, now, TIMING)
    if decision is None:
        return
    assert POLICY.min_replicas <= decision.to_replicas <= POLICY.max_replicas
    assert decision.to_replicas != replicas
    assert last_change is None or now - last_change >= TIMING.cooldown_seconds
    if decision.to_replicas > replicas:  # up: to what the load asks for now
        assert decision.to_replicas == loads[-1]
    else:  # down: watched a whole window, and never below what any of it asked for
        assert now - observed >= TIMING.stabilisation_seconds
        in_window = [r for at, r in history if at >= now - TIMING.stabilisation_seconds]
        assert decision.to_replicas == max(in_window)


# --- the events -------------------------------------------------------------------------------


def _deployment(replicas: int = 1) -> Deployment:
    return Deployment(
        tenant=uuid4(),
        name="n",
        service_id=uuid4(),
        service_name="time",
        version="1.0.0",
        runtime={},
        config_schema={},
        config={},
        replicas=replicas,
        requested_by=uuid4(),
    )


def test_setting_a_policy_brings_replicas_within_its_bounds() -> None:
    d = _deployment(replicas=5)
    d.collect_events()
    d.set_autoscaling(Policy(1, 3, 1.0))
    d.set_autoscaling(Policy(1, 3, 1.0))  # the same again records nothing
    events = d.collect_events()
    assert [type(e).__name__ for e in events] == ["AutoscalingSet", "Scaled"]
    assert (events[0].max_replicas, events[1].replicas) == (3, 3)  # type: ignore[attr-defined]
    assert d.replicas == 3


def test_the_scaler_decides_within_the_policy_and_only_while_running() -> None:
    d = _deployment()
    with pytest.raises(DeploymentStateError):
        d.autoscale(3, 3.0, LOAD_ROSE)  # no policy
    d.set_autoscaling(Policy(1, 3, 1.0))
    d.collect_events()
    d.autoscale(7, 7.25, LOAD_ROSE)
    d.autoscale(3, 3.0, LOAD_ROSE)  # already there: nothing
    d.autoscale(3, 9.0, LOAD_ROSE, ceiling=2)  # the plan allows fewer now
    (first, second) = d.collect_events()
    assert isinstance(first, Deployment.Autoscaled) and isinstance(second, Deployment.Autoscaled)
    assert (first.from_replicas, first.to_replicas, first.in_flight) == (1, 3, 7.25)
    assert (second.from_replicas, second.to_replicas) == (3, 2)
    d.stop()
    d.autoscale(3, 3.0, LOAD_ROSE)
    assert [type(e).__name__ for e in d.collect_events()] == ["StopRequested"]
    d.clear_autoscaling()
    d.clear_autoscaling()
    assert [type(e).__name__ for e in d.collect_events()] == ["AutoscalingCleared"]
    assert d.autoscaling is None and d.replicas == 2


def test_the_application_checks_the_plan_and_replays_the_policy() -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    market = Marketplace(env=env)
    deployments = Deployments(
        env=env, sealer=Sealer(AESCipher.create_key(32)), recorder=market.recorder
    )
    owner = uuid4()
    tenant = Tenant(  # FREE: two replicas at most
        slug="team-a",
        name="A",
        kind=TenantKind.TEAM.value,
        owner_id=owner,
        owner_username="a",
        owner_email="a@example.com",
    )
    deployments.save(tenant)  # the scaler reads the plan from the store
    market.draft("time", PUBLISHER, "acme", OWNER, details())
    market.release("time", OWNER, "1.0.0", release())
    market.publish("time", OWNER)
    deployments.request(tenant, owner, "clock", "time", None, {}, 1)
    with pytest.raises(ReplicaLimitError):
        deployments.set_autoscaling(tenant, "clock", 1, 3, 1.0)
    deployments.set_autoscaling(tenant, "clock", 1, 2, 1.0)
    d = deployments.deployment(tenant.id, "clock")
    deployments.autoscale(d.id, 2, 2.0, LOAD_ROSE)
    again = deployments.deployment(tenant.id, "clock")
    assert again.autoscaling == Policy(1, 2, 1.0) and again.replicas == 2
