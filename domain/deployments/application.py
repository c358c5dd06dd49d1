"""Deployment commands: what members ask for, and what the deployer reports back.

Callers are authorised before they get here (a member of the tenant, or a token with the
`deploy:write` scope); these rules decide what is deployable and keep secrets sealed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.deployments.autoscaling import check_policy
from domain.deployments.config import MASK, check_config, seal_secrets, unseal_secrets
from domain.deployments.deployments import Deployment
from domain.deployments.errors import (
    DeploymentNameTakenError,
    DeploymentNotFoundError,
    NotDeployableError,
)
from domain.deployments.values import (
    MAX_REPLICAS,
    Health,
    check_deployment_name,
    check_replicas,
)
from domain.marketplace.errors import ServiceNotFoundError
from domain.marketplace.services import McpService
from domain.marketplace.values import check_name, parse_version
from domain.shared.application import BaseApplication, CommandResult
from domain.shared.context import bound
from domain.shared.errors import ConflictError
from domain.shared.ports import Committer
from domain.shared.sealed import Sealer
from domain.tenancy.tenants import Tenant


class Deployments(BaseApplication):
    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        sealer: Sealer,
        runnable: Callable[[dict[str, Any]], None] = lambda runtime: None,
        committer: Committer | None = None,
        **kwargs: Any,
    ) -> None:
        """`runnable` refuses (raising a domain error) a runtime the platform will not run:
        it may look at settings and the network, which the domain does not."""
        super().__init__(env, committer=committer, **kwargs)
        self.sealer = sealer
        self.runnable = runnable

    # --- loading ----------------------------------------------------------------------------

    def deployment(self, tenant_id: UUID, name: str) -> Deployment:
        check_deployment_name(name)
        found = self.get(
            Deployment.create_id(tenant_id, name),
            Deployment,
            lambda: DeploymentNotFoundError(f"no deployment named {name!r}"),
        )
        if found.deleted:
            raise DeploymentNotFoundError(f"no deployment named {name!r}")
        return found

    def release_for(
        self, tenant_id: UUID, service_name: str, version: str | None
    ) -> tuple[McpService, str, dict[str, Any]]:
        """The service version to run: listed (or the tenant's own draft), not yanked."""
        check_name(service_name, field="service")
        missing = ServiceNotFoundError(f"no service named {service_name!r}", field="service")
        service = self.get(McpService.create_id(service_name), McpService, lambda: missing)
        if not service.status.listed and service.publisher_id != tenant_id:
            raise missing
        if version is None:
            version = service.latest_version
            if version is None:
                raise NotDeployableError("the service has no version to deploy", field="service")
        else:
            version = str(parse_version(version))
        release = service.release_of(version)
        if version in service.yanked:
            raise NotDeployableError(f"{version} was yanked", field="version")
        self.runnable(release["runtime"])
        return service, version, release

    def _stored_config(
        self, schema: dict[str, Any], config: dict[str, Any], keep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Validate in clear, store sealed; a masked value keeps the secret already stored."""
        if keep:
            clear = unseal_secrets(schema, keep, self.sealer)
            config = {k: clear.get(k) if v == MASK else v for k, v in config.items()}
        check_config(schema, config)
        return seal_secrets(schema, config, self.sealer)

    def _commit(self, deployment: Deployment) -> CommandResult:
        with bound(tenant_id=str(deployment.tenant)):
            return self.commit(deployment)

    # --- commands ---------------------------------------------------------------------------

    def request(
        self,
        tenant: Tenant,
        requested_by: UUID,
        name: str,
        service_name: str,
        version: str | None,
        config: dict[str, Any],
        replicas: int = 1,
    ) -> CommandResult:
        check_deployment_name(name)
        check_replicas(replicas, tenant.plan)
        tenant.require_active()
        service, version, release = self.release_for(tenant.id, service_name, version)
        stored = self._stored_config(release["config_schema"], config)
        spec = {
            "service_id": service.id,
            "service_name": service.name,
            "version": version,
            "runtime": release["runtime"],
            "config_schema": release["config_schema"],
            "config": stored,
            "replicas": replicas,
            "requested_by": requested_by,
        }
        deployment_id = Deployment.create_id(tenant.id, name)
        with bound(tenant_id=str(tenant.id)):
            if deployment_id in self.repository:
                existing = self.get(deployment_id, Deployment, lambda: DeploymentNotFoundError(""))
                if not existing.deleted:
                    raise DeploymentNameTakenError(f"{name!r} is taken", field="name")
                existing.recreate(**spec)
                return self._commit(existing)
            deployment = Deployment(tenant=tenant.id, name=name, **spec)
            try:
                return self._commit(deployment)
            except ConflictError:
                raise DeploymentNameTakenError(f"{name!r} is taken", field="name") from None

    def scale(self, tenant: Tenant, name: str, replicas: int) -> CommandResult:
        check_replicas(replicas, tenant.plan)
        tenant.require_active()
        deployment = self.deployment(tenant.id, name)
        deployment.scale(replicas)
        return self._commit(deployment)

    def set_autoscaling(
        self,
        tenant: Tenant,
        name: str,
        min_replicas: int,
        max_replicas: int,
        target_in_flight: float,
    ) -> CommandResult:
        policy = check_policy(min_replicas, max_replicas, target_in_flight, tenant.plan)
        tenant.require_active()
        deployment = self.deployment(tenant.id, name)
        deployment.set_autoscaling(policy)
        return self._commit(deployment)

    def clear_autoscaling(self, tenant: Tenant, name: str) -> CommandResult:
        deployment = self.deployment(tenant.id, name)
        deployment.clear_autoscaling()
        return self._commit(deployment)

    def reconfigure(self, tenant: Tenant, name: str, config: dict[str, Any]) -> CommandResult:
        tenant.require_active()
        deployment = self.deployment(tenant.id, name)
        schema = deployment.release["config_schema"]
        deployment.reconfigure(self._stored_config(schema, config, deployment.config))
        return self._commit(deployment)

    def upgrade(
        self, tenant: Tenant, name: str, version: str | None, config: dict[str, Any] | None
    ) -> CommandResult:
        """To another version (the latest by default); the current config carries over."""
        tenant.require_active()
        deployment = self.deployment(tenant.id, name)
        _, version, release = self.release_for(tenant.id, deployment.service_name, version)
        current = unseal_secrets(
            deployment.release["config_schema"], deployment.config, self.sealer
        )
        wanted = current if config is None else config
        stored = self._stored_config(release["config_schema"], wanted, deployment.config)
        deployment.upgrade(version, release["runtime"], release["config_schema"], stored)
        return self._commit(deployment)

    def roll_back(self, tenant: Tenant, name: str) -> CommandResult:
        tenant.require_active()
        deployment = self.deployment(tenant.id, name)
        deployment.roll_back()
        return self._commit(deployment)

    def start(self, tenant: Tenant, name: str) -> CommandResult:
        tenant.require_active()
        deployment = self.deployment(tenant.id, name)
        deployment.start()
        return self._commit(deployment)

    def stop(self, tenant: Tenant, name: str) -> CommandResult:
        deployment = self.deployment(tenant.id, name)
        deployment.stop()
        return self._commit(deployment)

    def restart(self, tenant: Tenant, name: str) -> CommandResult:
        tenant.require_active()
        deployment = self.deployment(tenant.id, name)
        deployment.restart()
        return self._commit(deployment)

    def delete(self, tenant: Tenant, name: str) -> CommandResult:
        deployment = self.deployment(tenant.id, name)
        deployment.delete()
        return self._commit(deployment)

    # --- the deployer's reports -------------------------------------------------------------

    def by_id(self, deployment_id: UUID) -> Deployment:
        return self.get(deployment_id, Deployment, lambda: DeploymentNotFoundError("gone"))

    def runtime_config(self, deployment: Deployment) -> dict[str, Any]:
        """The configuration in clear, for the runtime that starts an instance."""
        return unseal_secrets(deployment.release["config_schema"], deployment.config, self.sealer)

    def record_started(
        self,
        deployment_id: UUID,
        instance_id: str,
        replica: int,
        ref: str,
        endpoint: str | None,
        *,
        version: str | None = None,
        generation: int | None = None,
    ) -> CommandResult:
        deployment = self.by_id(deployment_id)
        deployment.instance_started(instance_id, replica, ref, endpoint, version, generation)
        return self._commit(deployment)

    def record_start_failed(self, deployment_id: UUID, replica: int, reason: str) -> CommandResult:
        deployment = self.by_id(deployment_id)
        deployment.instance_start_failed(replica, reason)
        return self._commit(deployment)

    def autoscale(
        self, deployment_id: UUID, to_replicas: int, in_flight: float, reason: str
    ) -> CommandResult:
        """The scaler's decision, never above the replicas the tenant's plan allows now."""
        deployment = self.by_id(deployment_id)
        tenant = self.get(deployment.tenant, Tenant, lambda: DeploymentNotFoundError("gone"))
        deployment.autoscale(to_replicas, in_flight, reason, ceiling=MAX_REPLICAS[tenant.plan])
        return self._commit(deployment)

    def record_health(
        self, deployment_id: UUID, instance_id: str, health: Health, detail: str = ""
    ) -> CommandResult:
        deployment = self.by_id(deployment_id)
        deployment.health_changed(instance_id, health, detail)
        return self._commit(deployment)

    def record_exit(
        self, deployment_id: UUID, instance_id: str, exit_code: int | None, reason: str
    ) -> CommandResult:
        deployment = self.by_id(deployment_id)
        deployment.instance_exited(instance_id, exit_code, reason)
        return self._commit(deployment)
