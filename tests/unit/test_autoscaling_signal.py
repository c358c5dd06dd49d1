"""The autoscaler's signal in one process: what the gateway's publisher counts, how the local
store sums and expires it, and how the scaler turns it into decisions over time (on the
in-memory event store, with a clock the test moves)."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.cipher import AESCipher

from api.gateway.load import LoadPublisher
from api.gateway.routing import InstanceRoute, Route, RouteTable, _Entry
from api.gateway.upstreams import UpstreamPool
from domain.deployments.application import Deployments
from domain.deployments.autoscaling import LOAD_FELL, LOAD_ROSE
from domain.marketplace.application import Marketplace
from domain.shared.sealed import Sealer
from domain.tenancy.tenants import Tenant
from domain.tenancy.values import Plan, TenantKind
from infra.load_signal import IDLE, Load, LocalLoadSignal
from infra.mcp.connect import Target
from infra.settings import AutoscalingSettings
from tests.unit.marketplace.gwt import OWNER, PUBLISHER, details, release
from workers.autoscaler import Autoscaler


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_local_store_sums_processes_and_forgets_a_silent_one() -> None:
    clock = Clock()
    signal = LocalLoadSignal(clock)
    d, other = uuid4(), uuid4()
    signal.publish("api-1", {d: Load(2.5, 4)}, ttl=5)
    clock.now += 2
    signal.publish("api-2", {d: Load(1.0, 1), other: Load(0.0, 0)}, ttl=5)
    nobody = uuid4()
    assert signal.read([d, other, nobody]) == {
        d: Load(3.5, 5, 2),
        other: Load(0.0, 0, 1),
        nobody: IDLE,
    }
    clock.now += 3.5  # api-1 said nothing for 5.5 s: it no longer counts
    assert signal.read([d])[d] == Load(1.0, 1, 1)
    clock.now += 2
    assert signal.read([d]) == {d: IDLE}


def _publisher(signal: LocalLoadSignal) -> tuple[LoadPublisher, UpstreamPool, dict[str, UUID]]:
    table = RouteTable(db=None, ttl=60.0)  # type: ignore[arg-type]
    pool = UpstreamPool([])
    owners: dict[str, UUID] = {}
    routes = {}
    for name in ("a", "b"):
        deployment_id = uuid4()
        instances = tuple(
            InstanceRoute(f"{name}{i}", Target(f"http://127.0.0.1:1/{name}{i}"), True)
            for i in range(2)
        )
        owners |= {i.id: deployment_id for i in instances}
        routes[name] = Route(deployment_id, name, uuid4(), "s", "1", "running", {}, (), instances)
    table._entries[uuid4()] = _Entry(routes, time.monotonic())
    for route in routes.values():
        for instance in route.instances:
            pool.get(instance)
    return LoadPublisher(signal, table, pool, AutoscalingSettings()), pool, owners


def test_the_publisher_averages_samples_per_deployment_and_says_when_load_ended() -> None:
    publisher, pool, owners = _publisher(LocalLoadSignal())
    a, b = owners["a0"], owners["b0"]
    upstreams = {
        u: pool.get(InstanceRoute(u, Target(f"http://127.0.0.1:1/{u}"), True)) for u in owners
    }
    upstreams["a0"].outstanding, upstreams["a1"].outstanding = 2, 1
    publisher.sample()
    upstreams["a1"].outstanding = 0
    upstreams["b0"].outstanding = 4  # a burst between two publications
    publisher.sample()
    upstreams["b0"].outstanding = 0
    publisher.sample()
    publisher.sample()
    assert publisher.take() == {a: Load((3 + 2 + 2 + 2) / 4, 3), b: Load(4 / 4, 4)}
    upstreams["a0"].outstanding = 1
    publisher.sample()
    assert publisher.take() == {a: Load(1.0, 1), b: Load(0.0, 0)}  # b once more, as idle
    upstreams["a0"].outstanding = 0
    publisher.sample()
    assert publisher.take() == {a: Load(0.0, 0)}
    publisher.sample()
    assert publisher.take() == {}


# --- the scaler over time ---------------------------------------------------------------------


def _world() -> tuple[Deployments, UUID]:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    market = Marketplace(env=env)
    deployments = Deployments(
        env=env, sealer=Sealer(AESCipher.create_key(32)), recorder=market.recorder
    )
    owner = uuid4()
    tenant = Tenant(
        slug="team-a",
        name="A",
        kind=TenantKind.TEAM.value,
        owner_id=owner,
        owner_username="a",
        owner_email="a@example.com",
    )
    tenant.change_plan(Plan.PRO)
    deployments.save(tenant)
    market.draft("time", PUBLISHER, "acme", OWNER, details())
    market.release("time", OWNER, "1.0.0", release())
    market.publish("time", OWNER)
    deployments.request(tenant, owner, "clock", "time", None, {}, 1)
    deployments.set_autoscaling(tenant, "clock", 1, 3, 1.0)
    return deployments, deployments.deployment(tenant.id, "clock").id


def _row(deployments: Deployments, deployment_id: UUID) -> dict[str, Any]:
    """What the read model would hold (the scaler reads rows, not aggregates)."""
    d = deployments.by_id(deployment_id)
    return {
        "deployment_id": d.id,
        "tenant_id": d.tenant,
        "name": d.name,
        "desired": d.desired.value,
        "failed": d.error is not None,
        "replicas": d.replicas,
        "autoscaling": d.autoscaling.as_dict() if d.autoscaling else None,
        "last_autoscaled": None,
    }


def test_the_scaler_follows_the_load_up_at_once_and_down_after_the_window() -> None:
    deployments, d = _world()
    clock = Clock()
    clock.now = time.time()
    signal = LocalLoadSignal(clock)
    settings = AutoscalingSettings(stabilisation_seconds=10, cooldown_seconds=2, interval_seconds=1)
    scaler = Autoscaler(deployments, signal, settings, clock=clock)

    def look(load: float, seconds: float = 1.0) -> list[str]:
        signal.publish("api", {d: Load(load, round(load))}, ttl=5)
        actions = scaler.scale([_row(deployments, d)])
        clock.now += seconds
        return actions

    assert look(0.0) == []
    assert look(2.6, seconds=0.5) == ["clock: autoscaled 1 -> 3 (load-rose, 2.60 in flight)"]
    assert look(0.4, seconds=0.5) == []  # not looked at: within the interval
    for _ in range(10):  # low, but the window (10 s) still holds the look that asked for 3
        assert look(0.4) == []
    assert look(0.4) == ["clock: autoscaled 3 -> 1 (load-fell, 0.40 in flight)"]
    assert deployments.by_id(d).replicas == 1
    reasons = [
        (type(e).__name__, getattr(e, "reason", None), getattr(e, "actor", None))
        for e in deployments.events.get(d)  # type: ignore[attr-defined]
    ][-2:]
    assert reasons == [
        ("Autoscaled", LOAD_ROSE, "system:autoscaler"),
        ("Autoscaled", LOAD_FELL, "system:autoscaler"),
    ]


def test_a_scaler_that_starts_afresh_waits_a_whole_window_before_scaling_down() -> None:
    deployments, d = _world()
    deployments.autoscale(d, 3, 3.0, LOAD_ROSE)
    clock = Clock()
    clock.now = time.time() + 100  # long after that decision
    signal = LocalLoadSignal(clock)
    settings = AutoscalingSettings(stabilisation_seconds=10, cooldown_seconds=2, interval_seconds=1)
    scaler = Autoscaler(deployments, signal, settings, clock=clock)
    decided = {}
    for look in range(12):  # no API process publishes: nothing in flight
        if actions := scaler.scale([_row(deployments, d)]):
            decided[look] = actions
        clock.now += 1
    # the 11th look, after watching for the whole window (10 s); not the first
    assert decided == {10: ["clock: autoscaled 3 -> 1 (load-fell, 0.00 in flight)"]}
    assert deployments.by_id(d).replicas == 1
