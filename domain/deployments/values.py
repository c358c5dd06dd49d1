"""Value rules of deployments: names, states, health, and replica limits per plan."""

from __future__ import annotations

import re
from enum import StrEnum

from domain.deployments.errors import InvalidDeploymentError, ReplicaLimitError
from domain.tenancy.values import Plan

NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_REPLICAS = {Plan.FREE: 2, Plan.PRO: 5, Plan.TEAM: 10, Plan.ENTERPRISE: 50}


class Desired(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    DELETED = "deleted"


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DEGRADED = "degraded"
    STOPPED = "stopped"
    FAILED = "failed"
    DELETED = "deleted"


class Health(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


def check_deployment_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidDeploymentError(
            "a deployment name is 1 to 63 lowercase letters, digits and hyphens, "
            "not starting or ending with a hyphen",
            field="name",
        )
    return name


def check_replicas(replicas: int, plan: Plan, field: str = "replicas") -> int:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise InvalidDeploymentError("replicas is a whole number of at least 1", field=field)
    limit = MAX_REPLICAS[plan]
    if replicas > limit:
        raise ReplicaLimitError(
            f"the {plan.value} plan allows at most {limit} replicas", field=field, limit=limit
        )
    return replicas


def derive_status(
    desired: Desired,
    failed: bool,
    replicas: int,
    healths: list[str],
    ever_healthy: bool,
) -> Status:
    """One rule for the aggregate and the read model: from desired state and instance health."""
    if desired is Desired.DELETED:
        return Status.DELETED
    if failed:
        return Status.FAILED
    if desired is Desired.STOPPED:
        return Status.STOPPED if not healths else Status.PENDING
    healthy = healths.count(Health.HEALTHY.value)
    if healthy >= replicas:
        return Status.RUNNING
    if healthy > 0 or ever_healthy:
        return Status.DEGRADED
    return Status.PENDING
