"""Deployments: what is deployable, config and secrets, lifecycle, and the instance facts."""

from __future__ import annotations

from uuid import uuid4

import pytest
from eventsourcing.cipher import AESCipher

from domain.deployments.application import Deployments
from domain.deployments.config import MASK, masked
from domain.deployments.deployments import MAX_CRASHES, Deployment
from domain.deployments.errors import (
    DeploymentNameTakenError,
    DeploymentNotFoundError,
    DeploymentStateError,
    InvalidConfigError,
    InvalidDeploymentError,
    NotDeployableError,
    ReplicaLimitError,
)
from domain.deployments.values import Health, Status
from domain.marketplace.application import Marketplace
from domain.marketplace.errors import ServiceNotFoundError
from domain.shared.sealed import Sealer
from domain.tenancy.tenants import Tenant
from domain.tenancy.values import TenantKind
from tests.unit.marketplace.gwt import OWNER, PUBLISHER, details, release

CANARY = "canary-secret-7f3a9"
USER = uuid4()


Apps = tuple[Marketplace, Deployments]


@pytest.fixture
def apps() -> Apps:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    market = Marketplace(env=env)
    deployments = Deployments(
        env=env, sealer=Sealer(AESCipher.create_key(32)), recorder=market.recorder
    )
    market.draft("time", PUBLISHER, "acme", OWNER, details())
    market.release("time", OWNER, "1.0.0", release())
    market.release("time", OWNER, "1.1.0", release())
    market.publish("time", OWNER)
    market.draft("secret-draft", PUBLISHER, "acme", OWNER, details())
    market.release("secret-draft", OWNER, "0.1.0", release())
    return market, deployments


@pytest.fixture
def tenant() -> Tenant:
    return Tenant(
        slug="team-x",
        name="X",
        kind=TenantKind.TEAM.value,
        owner_id=USER,
        owner_username="x",
        owner_email="x@example.com",
    )


def deploy(deployments: Deployments, tenant: Tenant, name: str = "clock", **kw: object) -> None:
    args: dict[str, object] = {"version": None, "config": {"api_key": CANARY}, "replicas": 1}
    deployments.request(tenant, USER, name, "time", **(args | kw))  # type: ignore[arg-type]


def all_state(deployments: Deployments) -> str:
    return "".join(
        n.state.decode("utf-8", "replace")
        for n in deployments.recorder.select_notifications(1, 10_000)
    )


def test_the_latest_version_by_default_with_secrets_sealed(apps: Apps, tenant: Tenant) -> None:
    _, deployments = apps
    deploy(deployments, tenant)
    d = deployments.deployment(tenant.id, "clock")
    assert (d.version_name, d.replicas, d.status) == ("1.1.0", 1, Status.PENDING)
    assert CANARY not in all_state(deployments)
    assert masked(d.release["config_schema"], d.config)["api_key"] == MASK
    assert deployments.runtime_config(d)["api_key"] == CANARY


def test_what_cannot_be_deployed(apps: Apps, tenant: Tenant) -> None:
    market, deployments = apps
    with pytest.raises(ServiceNotFoundError):  # another tenant's draft does not exist for us
        deployments.request(tenant, USER, "d1", "secret-draft", None, {})
    market.yank("time", OWNER, "1.0.0", "bad")
    with pytest.raises(NotDeployableError):
        deploy(deployments, tenant, version="1.0.0")
    with pytest.raises(InvalidConfigError) as caught:
        deploy(deployments, tenant, config={"timezone": 5})
    assert caught.value.field == "config.timezone"
    with pytest.raises(InvalidDeploymentError):
        deploy(deployments, tenant, name="Bad Name")
    with pytest.raises(ReplicaLimitError):
        deploy(deployments, tenant, replicas=3)  # free plan: 2
    assert all_state(deployments).count("Deployment") == 0


def test_a_runtime_the_platform_refuses_is_neither_deployed_nor_upgraded_to(
    apps: Apps, tenant: Tenant
) -> None:
    _, deployments = apps
    deploy(deployments, tenant)  # 1.1.0, allowed so far
    refused: list[str] = []

    def runnable(runtime: dict[str, object]) -> None:
        refused.append(str(runtime["kind"]))
        raise InvalidDeploymentError("not on this platform", field="service")

    deployments.runnable = runnable
    with pytest.raises(InvalidDeploymentError):
        deploy(deployments, tenant, name="other")
    with pytest.raises(InvalidDeploymentError):
        deployments.upgrade(tenant, "clock", "1.0.0", None)
    assert refused == ["process", "process"]
    with pytest.raises(DeploymentNotFoundError):
        deployments.deployment(tenant.id, "other")
    assert deployments.deployment(tenant.id, "clock").version_name == "1.1.0"


def test_names_are_unique_per_tenant_and_free_again_after_delete(
    apps: Apps, tenant: Tenant
) -> None:
    _, deployments = apps
    deploy(deployments, tenant)
    with pytest.raises(DeploymentNameTakenError):
        deploy(deployments, tenant)
    deployments.delete(tenant, "clock")
    with pytest.raises(DeploymentNotFoundError):
        deployments.deployment(tenant.id, "clock")
    deploy(deployments, tenant, version="1.0.0")
    assert deployments.deployment(tenant.id, "clock").version_name == "1.0.0"


def test_upgrade_keeps_secrets_and_rollback_returns(apps: Apps, tenant: Tenant) -> None:
    _, deployments = apps
    deploy(deployments, tenant, version="1.0.0")
    deployments.upgrade(tenant, "clock", None, {"api_key": MASK, "timezone": "Asia/Shanghai"})
    d = deployments.deployment(tenant.id, "clock")
    assert d.version_name == "1.1.0"
    assert deployments.runtime_config(d) == {"api_key": CANARY, "timezone": "Asia/Shanghai"}
    with pytest.raises(DeploymentStateError):
        deployments.upgrade(tenant, "clock", "1.1.0", None)
    deployments.roll_back(tenant, "clock")
    d = deployments.deployment(tenant.id, "clock")
    assert (d.version_name, deployments.runtime_config(d)) == ("1.0.0", {"api_key": CANARY})
    with pytest.raises(DeploymentStateError):
        deployments.roll_back(tenant, "clock")


def test_status_follows_instance_health() -> None:
    d = Deployment(
        tenant=uuid4(),
        name="n",
        service_id=uuid4(),
        service_name="time",
        version="1.0.0",
        runtime={},
        config_schema={},
        config={},
        replicas=2,
        requested_by=USER,
    )
    d.instance_started("a", 0, "pid:1", None)
    d.instance_started("a", 0, "pid:1", None)  # reported twice, recorded once
    d.health_changed("a", Health.HEALTHY)
    d.health_changed("a", Health.HEALTHY)
    assert d.status is Status.DEGRADED
    d.instance_started("b", 1, "pid:2", None)
    d.health_changed("b", Health.HEALTHY)
    assert d.status is Status.RUNNING
    names = [type(e).__name__ for e in d.collect_events()]
    assert names.count("InstanceStarted") == 2 and names.count("InstanceHealthChanged") == 2
    d.stop()
    assert d.status is Status.PENDING  # stopping
    d.instance_exited("a", 0, "stopped")
    d.instance_exited("b", 0, "stopped")
    assert d.status is Status.STOPPED


def test_repeated_crashes_fail_the_deployment_until_started_again() -> None:
    d = Deployment(
        tenant=uuid4(),
        name="n",
        service_id=uuid4(),
        service_name="time",
        version="1.0.0",
        runtime={},
        config_schema={},
        config={},
        replicas=1,
        requested_by=USER,
    )
    for i in range(MAX_CRASHES):
        d.instance_started(f"i{i}", 0, f"pid:{i}", None)
        d.instance_exited(f"i{i}", 1, "exit code 1: ImportError")
    assert d.status is Status.FAILED
    assert d.error is not None and "ImportError" in d.error
    d.start()
    assert d.status is Status.PENDING and d.crashes == 0
