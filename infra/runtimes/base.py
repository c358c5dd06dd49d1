"""What the deployer asks of a runtime, and what a runtime reports back.

The deployer is level-triggered: each pass it asks every runtime what it holds (`observe`),
compares that with the desired state, and starts or stops instances until they match. So a
runtime must be able to find its instances again after the deployer was killed (labels on a
container, a state folder per local instance), and every method must be idempotent.

Every instance is reached over streamable HTTP at its `endpoint`: a stdio server (a local
process or a container) sits behind a per-instance bridge (`infra.runtimes.bridge`) on a
loopback port; a remote instance is the remote URL itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from uuid import UUID

#: Labels on every container and in every local instance's state, so a restarted deployer
#: can tell whose instance it is.
LABEL_PREFIX = "one.mcps."


class RuntimeStartError(RuntimeError):
    """The instance could not be started; the message says why (shown to the tenant)."""


@dataclass(frozen=True)
class InstanceSpec:
    """One instance to start. `config` is in clear: never write it to disk, a log or an event."""

    instance_id: str
    deployment_id: UUID
    tenant_id: UUID
    deployment_name: str
    replica: int
    generation: int
    version: str
    #: The version's runtime spec, as `domain.marketplace.specs.check_runtime` stores it.
    runtime: dict[str, Any]
    config_schema: dict[str, Any]
    config: dict[str, Any] = field(repr=False)

    def labels(self) -> dict[str, str]:
        return {
            f"{LABEL_PREFIX}instance": self.instance_id,
            f"{LABEL_PREFIX}deployment": str(self.deployment_id),
            f"{LABEL_PREFIX}tenant": str(self.tenant_id),
            f"{LABEL_PREFIX}replica": str(self.replica),
            f"{LABEL_PREFIX}generation": str(self.generation),
            f"{LABEL_PREFIX}version": self.version,
        }


@dataclass(frozen=True)
class Observed:
    """An instance as its runtime sees it now."""

    instance_id: str
    deployment_id: UUID
    tenant_id: UUID
    replica: int
    generation: int
    version: str
    #: The runtime's own handle: `pid:1234`, a container id, or the remote URL.
    ref: str
    #: Where MCP clients (the health checker, the gateway) reach it over streamable HTTP.
    endpoint: str | None
    running: bool
    exit_code: int | None = None
    #: Why it is not running ("" while it runs): "exited with code 1", "killed by SIGKILL",
    #: "lost" (its supervisor vanished), "install failed: …", "stopped".
    reason: str = ""

    @classmethod
    def from_labels(cls, labels: dict[str, str], **rest: Any) -> Observed:
        return cls(
            instance_id=labels[f"{LABEL_PREFIX}instance"],
            deployment_id=UUID(labels[f"{LABEL_PREFIX}deployment"]),
            tenant_id=UUID(labels[f"{LABEL_PREFIX}tenant"]),
            replica=int(labels[f"{LABEL_PREFIX}replica"]),
            generation=int(labels[f"{LABEL_PREFIX}generation"]),
            version=labels[f"{LABEL_PREFIX}version"],
            **rest,
        )


@dataclass(frozen=True)
class LogLine:
    """One line an instance wrote (or the runtime wrote about it)."""

    at: float  # unix seconds
    instance_id: str
    stream: str  # "stdout" | "stderr" | "system"
    level: str  # "debug" | "info" | "warning" | "error"
    message: str


class Runtime(Protocol):
    kind: ClassVar[str]

    def start(self, spec: InstanceSpec) -> Observed:
        """Start one instance and return once it has an endpoint (not necessarily healthy).

        Raises `RuntimeStartError` with a message for the tenant when it cannot start."""
        ...

    def observe(self) -> list[Observed]:
        """Every instance this runtime holds: running ones, and exited ones not yet removed."""
        ...

    def stop(self, instance_id: str) -> None:
        """Stop it (gracefully, then by force after a few seconds). Idempotent."""
        ...

    def remove(self, instance_id: str) -> None:
        """Forget a stopped or exited instance (its folder, its container). Idempotent."""
        ...

    def read_logs(self, instance_id: str, offset: int) -> tuple[list[LogLine], int]:
        """Lines written since `offset` (0 at first) and the offset to pass next time."""
        ...

    def close(self) -> None:
        """End what the runtime keeps besides its instances (a spare bridge); the instances
        outlive it."""
        ...
