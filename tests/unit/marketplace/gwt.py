"""Given/when/then for the marketplace on the in-memory store: no services."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from domain.marketplace.application import Acting, Marketplace
from domain.tenancy.values import Role

OWNER = Acting(role=Role.OWNER)
ADMIN = Acting(role=Role.ADMIN)
MEMBER = Acting(role=Role.MEMBER)
STRANGER = Acting(role=None)
PLATFORM = Acting(role=None, platform_admin=True)
PUBLISHER = uuid4()

TIME_TOOLS = [
    {
        "name": "get_current_time",
        "description": "Current time in a timezone",
        "input_schema": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "required": ["timezone"],
        },
    }
]


def new_marketplace() -> Marketplace:
    return Marketplace(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def details(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "display_name": "Time",
        "description": "# Time\nTime and timezone conversion for agents. 时间和时区转换。",
        "category": "productivity",
        "tags": ["time", "Timezone"],
        "repository_url": "https://github.com/modelcontextprotocol/servers",
        "pricing": {"model": "FREE"},
    }
    return base | overrides


def release(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "changelog": "First release",
        "runtime": {
            "kind": "process",
            "command": "mcp-server-time",
            "package": {"registry": "pypi", "name": "mcp-server-time", "version": "2026.10.19"},
            "args": ["--local-timezone={{config.timezone}}"],
        },
        "config_schema": {
            "type": "object",
            "properties": {
                "timezone": {"type": "string", "default": "UTC"},
                "api_key": {"type": "string", "writeOnly": True},
            },
        },
        "tools": TIME_TOOLS,
    }
    return base | overrides


def published(app: Marketplace, name: str = "time", version: str = "1.0.0") -> None:
    app.draft(name, PUBLISHER, "acme", OWNER, details())
    app.release(name, OWNER, version, release())
    app.publish(name, OWNER)
