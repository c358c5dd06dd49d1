"""Errors of deployments, each with a stable code the API and SDKs rely on."""

from __future__ import annotations

from domain.shared.errors import ConflictError, InvalidInputError, NotFoundError


class InvalidDeploymentError(InvalidInputError):
    code = "validation_failed"


class InvalidConfigError(InvalidInputError):
    """The configuration does not satisfy the version's JSON Schema (the field is named)."""

    code = "deployment.invalid_config"


class DeploymentNotFoundError(NotFoundError):
    code = "deployment.not_found"


class DeploymentNameTakenError(ConflictError):
    code = "deployment.name_taken"


class DeploymentStateError(ConflictError):
    """The operation does not fit the deployment's state (e.g. rollback with no history)."""

    code = "deployment.invalid_state"


class ReplicaLimitError(InvalidInputError):
    code = "deployment.replica_limit"


class InvalidAutoscalingError(InvalidInputError):
    """An autoscaling policy out of shape: min above max, a target not above 0, …"""

    code = "deployment.invalid_autoscaling"


class NotDeployableError(ConflictError):
    """The service or version is not published, or the version is yanked."""

    code = "deployment.not_deployable"
