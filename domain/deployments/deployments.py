"""A deployment: a tenant's running copy of one service version, and the facts of its instances.

The aggregate holds desired state (version, config, replicas, running or not) and the
instance facts the deployer reports (started, health transitions, exits). The deployer is a
level-triggered reconciler: it reads desired state, compares it with the runtimes, and acts;
the events here are what it and the people changing the deployment record.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.deployments.autoscaling import Policy
from domain.deployments.errors import DeploymentStateError
from domain.deployments.values import Desired, Health, Status, derive_status
from domain.shared.aggregate import BaseAggregate, deterministic_id

#: Crashes in a row (without a healthy instance in between) before the deployment fails.
MAX_CRASHES = 5


class Deployment(BaseAggregate):
    class Requested(BaseAggregate.Created):
        tenant: UUID
        name: str
        service_id: UUID
        service_name: str
        version: str
        runtime: dict[str, Any]
        config_schema: dict[str, Any]
        config: dict[str, Any]
        replicas: int
        requested_by: UUID

    class Recreated(BaseAggregate.Event):
        """The name was deleted before and is deployed again."""

        service_id: UUID
        service_name: str
        version: str
        runtime: dict[str, Any]
        config_schema: dict[str, Any]
        config: dict[str, Any]
        replicas: int
        requested_by: UUID

    class Scaled(BaseAggregate.Event):
        replicas: int
        reason: str

    class Reconfigured(BaseAggregate.Event):
        config: dict[str, Any]

    class AutoscalingSet(BaseAggregate.Event):
        min_replicas: int
        max_replicas: int
        target_in_flight: float

    class AutoscalingCleared(BaseAggregate.Event):
        pass

    class Autoscaled(BaseAggregate.Event):
        """The scaler's decision: the replicas the load asked for (see `autoscaling.decide`)."""

        from_replicas: int
        to_replicas: int
        in_flight: float
        reason: str

    class Upgraded(BaseAggregate.Event):
        from_version: str
        version: str
        runtime: dict[str, Any]
        config_schema: dict[str, Any]
        config: dict[str, Any]

    class RolledBack(BaseAggregate.Event):
        from_version: str
        version: str
        runtime: dict[str, Any]
        config_schema: dict[str, Any]
        config: dict[str, Any]

    class StartRequested(BaseAggregate.Event):
        pass

    class StopRequested(BaseAggregate.Event):
        pass

    class RestartRequested(BaseAggregate.Event):
        generation: int

    class Deleted(BaseAggregate.Event):
        pass

    class InstanceStarted(BaseAggregate.Event):
        instance_id: str
        replica: int
        version: str
        generation: int
        runtime_ref: str
        endpoint: str | None

    class InstanceHealthChanged(BaseAggregate.Event):
        instance_id: str
        health: str
        detail: str

    class InstanceExited(BaseAggregate.Event):
        instance_id: str
        exit_code: int | None
        reason: str

    class InstanceStartFailed(BaseAggregate.Event):
        """The runtime could not start an instance (no image, a blocked address, …)."""

        replica: int
        reason: str

    class Failed(BaseAggregate.Event):
        error: str

    @staticmethod
    def create_id(tenant: UUID, name: str, *_: object, **__: object) -> UUID:
        return deterministic_id("deployment", f"{tenant}/{name}")

    @event(Requested)
    def __init__(
        self,
        tenant: UUID,
        name: str,
        service_id: UUID,
        service_name: str,
        version: str,
        runtime: dict[str, Any],
        config_schema: dict[str, Any],
        config: dict[str, Any],
        replicas: int,
        requested_by: UUID,
    ) -> None:
        self.tenant = tenant
        self.name = name
        self._reset(service_id, service_name, version, runtime, config_schema, config, replicas)

    def _reset(
        self,
        service_id: UUID,
        service_name: str,
        version: str,
        runtime: dict[str, Any],
        config_schema: dict[str, Any],
        config: dict[str, Any],
        replicas: int,
    ) -> None:
        self.service_id = service_id
        self.service_name = service_name
        self.release: dict[str, Any] = {
            "version": version,
            "runtime": runtime,
            "config_schema": config_schema,
        }
        self.config = config
        self.replicas = replicas
        self.desired = Desired.RUNNING
        self.generation = 1
        self.history: list[dict[str, Any]] = []
        self.instances: dict[str, dict[str, Any]] = {}
        self.crashes = 0
        self.error: str | None = None
        self.ever_healthy = False
        self.autoscaling: Policy | None = None

    # --- queries on state -------------------------------------------------------------------

    @property
    def version_name(self) -> str:
        return str(self.release["version"])

    @property
    def deleted(self) -> bool:
        return self.desired is Desired.DELETED

    def healthy_instances(self) -> list[str]:
        return [i for i, inst in self.instances.items() if inst["health"] == Health.HEALTHY]

    @property
    def status(self) -> Status:
        healths = [inst["health"] for inst in self.instances.values()]
        return derive_status(
            self.desired, self.error is not None, self.replicas, healths, self.ever_healthy
        )

    def require_live(self) -> None:
        if self.deleted:
            raise DeploymentStateError("the deployment was deleted")

    # --- what people ask for ----------------------------------------------------------------

    def recreate(
        self,
        service_id: UUID,
        service_name: str,
        version: str,
        runtime: dict[str, Any],
        config_schema: dict[str, Any],
        config: dict[str, Any],
        replicas: int,
        requested_by: UUID,
    ) -> None:
        if not self.deleted:
            raise DeploymentStateError("a deployment with that name exists")
        self._recreate(
            service_id=service_id,
            service_name=service_name,
            version=version,
            runtime=runtime,
            config_schema=config_schema,
            config=config,
            replicas=replicas,
            requested_by=requested_by,
        )

    @event(Recreated)
    def _recreate(
        self,
        service_id: UUID,
        service_name: str,
        version: str,
        runtime: dict[str, Any],
        config_schema: dict[str, Any],
        config: dict[str, Any],
        replicas: int,
        requested_by: UUID,
    ) -> None:
        self._reset(service_id, service_name, version, runtime, config_schema, config, replicas)

    def scale(self, replicas: int, reason: str = "requested") -> None:
        self.require_live()
        if replicas != self.replicas:
            self._scale(replicas=replicas, reason=reason)

    @event(Scaled)
    def _scale(self, replicas: int, reason: str) -> None:
        self.replicas = replicas

    def set_autoscaling(self, policy: Policy) -> None:
        """Replicas follow the load within the policy's bounds from now on; replicas outside
        them are brought within at once."""
        self.require_live()
        if policy != self.autoscaling:
            self._set_autoscaling(
                min_replicas=policy.min_replicas,
                max_replicas=policy.max_replicas,
                target_in_flight=policy.target_in_flight,
            )
        self.scale(policy.clamp(self.replicas), reason="autoscaling bounds")

    @event(AutoscalingSet)
    def _set_autoscaling(
        self, min_replicas: int, max_replicas: int, target_in_flight: float
    ) -> None:
        self.autoscaling = Policy(min_replicas, max_replicas, target_in_flight)

    def clear_autoscaling(self) -> None:
        """Replicas stay where the scaler left them, and change only when asked."""
        self.require_live()
        if self.autoscaling is not None:
            self._clear_autoscaling()

    @event(AutoscalingCleared)
    def _clear_autoscaling(self) -> None:
        self.autoscaling = None

    def autoscale(
        self, to_replicas: int, in_flight: float, reason: str, ceiling: int | None = None
    ) -> None:
        """Record the scaler's decision, kept within the policy's bounds (it may have been
        changed since the scaler read it) and under `ceiling` (the plan's limit now);
        nothing while the deployment does not run."""
        self.require_live()
        if self.autoscaling is None:
            raise DeploymentStateError("autoscaling is off for this deployment")
        if self.desired is not Desired.RUNNING or self.error is not None:
            return
        to_replicas = self.autoscaling.clamp(to_replicas)
        if ceiling is not None:
            to_replicas = min(to_replicas, ceiling)
        if to_replicas != self.replicas:
            self._autoscaled(
                from_replicas=self.replicas,
                to_replicas=to_replicas,
                in_flight=round(float(in_flight), 3),
                reason=reason,
            )

    @event(Autoscaled)
    def _autoscaled(
        self, from_replicas: int, to_replicas: int, in_flight: float, reason: str
    ) -> None:
        self.replicas = to_replicas

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.require_live()
        if config != self.config:
            self._reconfigure(config=config)

    @event(Reconfigured)
    def _reconfigure(self, config: dict[str, Any]) -> None:
        self.config = config
        self.generation += 1

    def upgrade(
        self,
        version: str,
        runtime: dict[str, Any],
        config_schema: dict[str, Any],
        config: dict[str, Any],
    ) -> None:
        self.require_live()
        if version == self.version_name:
            raise DeploymentStateError(f"already on {version}", field="version")
        self._upgrade(
            from_version=self.version_name,
            version=version,
            runtime=runtime,
            config_schema=config_schema,
            config=config,
        )

    @event(Upgraded)
    def _upgrade(
        self,
        from_version: str,
        version: str,
        runtime: dict[str, Any],
        config_schema: dict[str, Any],
        config: dict[str, Any],
    ) -> None:
        self.history.append({**self.release, "config": self.config})
        self.release = {"version": version, "runtime": runtime, "config_schema": config_schema}
        self.config = config
        self.generation += 1
        self.error, self.crashes = None, 0

    def roll_back(self) -> None:
        self.require_live()
        if not self.history:
            raise DeploymentStateError("there is no earlier version to roll back to")
        previous = self.history[-1]
        self._roll_back(
            from_version=self.version_name,
            version=previous["version"],
            runtime=previous["runtime"],
            config_schema=previous["config_schema"],
            config=previous["config"],
        )

    @event(RolledBack)
    def _roll_back(
        self,
        from_version: str,
        version: str,
        runtime: dict[str, Any],
        config_schema: dict[str, Any],
        config: dict[str, Any],
    ) -> None:
        self.history.pop()
        self.release = {"version": version, "runtime": runtime, "config_schema": config_schema}
        self.config = config
        self.generation += 1
        self.error, self.crashes = None, 0

    def start(self) -> None:
        self.require_live()
        if self.desired is not Desired.RUNNING or self.error is not None:
            self._start()

    @event(StartRequested)
    def _start(self) -> None:
        self.desired = Desired.RUNNING
        self.error, self.crashes = None, 0

    def stop(self) -> None:
        self.require_live()
        if self.desired is not Desired.STOPPED:
            self._stop()

    @event(StopRequested)
    def _stop(self) -> None:
        self.desired = Desired.STOPPED

    def restart(self) -> None:
        """Every instance is replaced, one at a time (a new generation)."""
        self.require_live()
        if self.desired is Desired.STOPPED:
            raise DeploymentStateError("the deployment is stopped; start it instead")
        self._restart(generation=self.generation + 1)

    @event(RestartRequested)
    def _restart(self, generation: int) -> None:
        self.generation = generation
        self.error, self.crashes = None, 0

    def delete(self) -> None:
        if not self.deleted:
            self._delete()

    @event(Deleted)
    def _delete(self) -> None:
        self.desired = Desired.DELETED

    # --- what the deployer observes ----------------------------------------------------------

    def instance_started(
        self,
        instance_id: str,
        replica: int,
        runtime_ref: str,
        endpoint: str | None,
        version: str | None = None,
        generation: int | None = None,
    ) -> None:
        """Recorded once per instance. An instance found running after the deployer restarted
        is recorded with the version and generation it was started with (its labels)."""
        if instance_id not in self.instances:
            self._instance_started(
                instance_id=instance_id,
                replica=replica,
                version=version or self.version_name,
                generation=generation or self.generation,
                runtime_ref=runtime_ref,
                endpoint=endpoint,
            )

    @event(InstanceStarted)
    def _instance_started(
        self,
        instance_id: str,
        replica: int,
        version: str,
        generation: int,
        runtime_ref: str,
        endpoint: str | None,
    ) -> None:
        self.instances[instance_id] = {
            "replica": replica,
            "version": version,
            "generation": generation,
            "runtime_ref": runtime_ref,
            "endpoint": endpoint,
            "health": Health.STARTING.value,
        }

    def health_changed(self, instance_id: str, health: Health, detail: str = "") -> None:
        """Recorded only on a transition; the same report twice records nothing."""
        instance = self.instances.get(instance_id)
        if instance is not None and instance["health"] != health.value:
            self._health_changed(instance_id=instance_id, health=health.value, detail=detail)

    @event(InstanceHealthChanged)
    def _health_changed(self, instance_id: str, health: str, detail: str) -> None:
        self.instances[instance_id]["health"] = health
        if health == Health.HEALTHY:
            self.crashes = 0
            self.ever_healthy = True

    def instance_exited(self, instance_id: str, exit_code: int | None, reason: str) -> None:
        """A planned stop or a crash; after `MAX_CRASHES` in a row the deployment fails."""
        if instance_id not in self.instances:
            return
        self._instance_exited(instance_id=instance_id, exit_code=exit_code, reason=reason)
        if self.is_crash(reason) and self.crashes >= MAX_CRASHES and self.error is None:
            self._fail(error=f"{MAX_CRASHES} crashes in a row; last: {reason}")

    @staticmethod
    def is_crash(reason: str) -> bool:
        return reason not in ("stopped", "replaced", "scaled-down", "deleted")

    @event(InstanceExited)
    def _instance_exited(self, instance_id: str, exit_code: int | None, reason: str) -> None:
        del self.instances[instance_id]
        if self.is_crash(reason):
            self.crashes += 1

    def instance_start_failed(self, replica: int, reason: str) -> None:
        """Counts like a crash: after `MAX_CRASHES` in a row the deployment fails."""
        self._instance_start_failed(replica=replica, reason=reason)
        if self.crashes >= MAX_CRASHES and self.error is None:
            self._fail(error=f"{MAX_CRASHES} failed starts in a row; last: {reason}")

    @event(InstanceStartFailed)
    def _instance_start_failed(self, replica: int, reason: str) -> None:
        self.crashes += 1

    def fail(self, error: str) -> None:
        if self.error is None:
            self._fail(error=error)

    @event(Failed)
    def _fail(self, error: str) -> None:
        self.error = error
