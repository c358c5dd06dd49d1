"""Request and response bodies of deployments (`/api/v1/tenants/{slug}/deployments`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Strict

DeploymentName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63),
    Field(description="Lowercase letters, digits and hyphens; unique in the tenant"),
]
Config = Annotated[
    dict[str, Any],
    Field(
        description="Checked against the version's config JSON Schema; secret fields "
        "(writeOnly or format: password) are sealed and read back as `********`"
    ),
]


class DeploymentCreate(Strict):
    name: DeploymentName
    service: str = Field(min_length=1, max_length=64, description="The service's name")
    version: str | None = Field(
        default=None, max_length=128, description="A released version; the latest by default"
    )
    config: Config = Field(default_factory=dict)
    replicas: int = Field(default=1, description="1 up to the plan's limit")


class DeploymentUpdate(Strict):
    config: Config


class DeploymentScale(Strict):
    replicas: int = Field(description="1 up to the plan's limit")


class AutoscalingPolicy(Strict):
    """Replicas follow the calls in flight: `ceil(in_flight / target_in_flight)`, within
    `min_replicas..max_replicas`; up at once, down only after the load stayed low a while."""

    min_replicas: int = Field(description="At least 1")
    max_replicas: int = Field(description="At least `min_replicas`, up to the plan's limit")
    target_in_flight: float = Field(
        gt=0, le=10_000, description="Calls in flight one replica should carry on average"
    )


class AutoscalingDecision(BaseModel):
    """The scaler's last decision."""

    from_replicas: int
    to_replicas: int
    in_flight: float = Field(description="Average calls in flight over every API process")
    reason: Literal["out-of-bounds", "load-rose", "load-fell"]
    at: datetime


class DeploymentUpgrade(Strict):
    version: str | None = Field(
        default=None, max_length=128, description="The version to run; the latest by default"
    )
    config: Config | None = Field(
        default=None, description="A new configuration; by default the current one carries over"
    )


class BatchAction(Strict):
    action: Literal["start", "stop", "restart", "delete"]
    names: list[DeploymentName] = Field(min_length=1, max_length=100)


class BatchItem(BaseModel):
    name: str
    ok: bool
    status: int = Field(description="The HTTP status this item alone would have had")
    position: int | None = Field(default=None, description="Log position, when it succeeded")
    code: str | None = Field(default=None, description="The problem code, when it failed")
    detail: str | None = None


class BatchResult(BaseModel):
    """One result per name, in the order given; a failing item undoes no other."""

    results: list[BatchItem]
    succeeded: int
    failed: int


class InstancePublic(BaseModel):
    id: str
    replica: int
    version: str
    generation: int
    health: Literal["starting", "healthy", "unhealthy"]
    detail: str
    endpoint: str | None = Field(description="Where a remote instance answers; null for local")
    started_at: datetime
    health_changed_at: datetime
    uptime_seconds: float


class DeploymentPublic(BaseModel):
    id: UUID
    name: str
    service: str
    version: str
    runtime_kind: Literal["docker", "process", "remote"]
    status: Literal["pending", "running", "degraded", "stopped", "failed"]
    desired: Literal["running", "stopped"]
    replicas: int = Field(description="Desired replicas")
    ready_replicas: int = Field(description="Instances now healthy")
    generation: int
    last_error: str | None
    config: dict[str, Any] = Field(description="Secrets shown as `********`")
    previous_versions: list[str] = Field(description="What `rollback` returns to, newest last")
    autoscaling: AutoscalingPolicy | None = Field(description="Null when autoscaling is off")
    last_autoscaled: AutoscalingDecision | None = Field(
        description="The scaler's last decision, if it made one"
    )
    instances: list[InstancePublic]
    created_at: datetime
    updated_at: datetime


class DeploymentsPage(BaseModel):
    data: list[DeploymentPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class LogLinePublic(BaseModel):
    at: datetime
    instance: str
    stream: Literal["stdout", "stderr", "system"]
    level: Literal["debug", "info", "warning", "error"]
    message: str


class LogsPage(BaseModel):
    data: list[LogLinePublic] = Field(description="Oldest first")
