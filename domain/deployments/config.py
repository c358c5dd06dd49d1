"""A deployment's configuration: checked against the version's JSON Schema, secrets sealed.

Secret fields (`writeOnly` or `format: password`, see `specs.secret_fields`) are sealed
before they reach an event, and shown as `MASK` everywhere they are read back.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from domain.deployments.errors import InvalidConfigError
from domain.marketplace.specs import secret_fields
from domain.shared.json_values import contains_nul
from domain.shared.sealed import Sealer

MASK = "********"
MAX_CONFIG_BYTES = 64 * 1024


def check_config(schema: dict[str, Any], config: Any) -> dict[str, Any]:
    """The first violation, named by its path (`config.api_key`), as a 422."""
    if not isinstance(config, dict):
        raise InvalidConfigError("config is a JSON object", field="config")
    if len(json.dumps(config, default=str)) > MAX_CONFIG_BYTES:
        raise InvalidConfigError(
            f"config is larger than {MAX_CONFIG_BYTES // 1024} KiB", field="config"
        )
    if contains_nul(config):
        raise InvalidConfigError("config must not contain NUL characters", field="config")
    errors = sorted(
        Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path)
    )
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.absolute_path)
        field = f"config.{path}" if path else "config"
        raise InvalidConfigError(f"{field}: {first.message}", field=field)
    return config


def seal_secrets(schema: dict[str, Any], config: dict[str, Any], sealer: Sealer) -> dict[str, Any]:
    """The config as stored: every secret value sealed, the rest as given."""
    secrets = set(secret_fields(schema))
    return {
        key: sealer.seal(str(value)) if key in secrets and value is not None else value
        for key, value in config.items()
    }


def unseal_secrets(
    schema: dict[str, Any], stored: dict[str, Any], sealer: Sealer
) -> dict[str, Any]:
    """The config a runtime needs: secrets opened. Only the deployer calls this."""
    secrets = set(secret_fields(schema))
    return {
        key: sealer.open(value) if key in secrets and Sealer.is_sealed(value) else value
        for key, value in stored.items()
    }


def masked(schema: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The config as anyone may read it back."""
    secrets = set(secret_fields(schema))
    return {key: MASK if key in secrets else value for key, value in stored.items()}
