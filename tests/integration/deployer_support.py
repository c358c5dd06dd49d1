"""A world for deployer tests: a database, a home for instances (whose package store is the
test cache's, so PyPI is asked once), a team on the PRO plan, and services to deploy: the
catalogue's `mcp-server-time` and a toy stdio server (`tests/mcp_servers/toy_stdio.py`)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from domain.marketplace.application import Acting
from domain.tenancy.tenants import Tenant
from domain.tenancy.values import Plan, Role
from infra.container import Container
from infra.settings import RuntimeSettings
from projections.consistency import wait_for_position
from projections.deployments_queries import deployment_of
from tests.support import make_settings, running_container, throwaway_database

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
TIME = json.loads((REPO / "infra/catalog/templates/time.json").read_text())["_meta"][
    "one.mcps/service"
]
OWNER = Acting(role=Role.OWNER)
WAIT_S = 90.0


@dataclass
class DeployWorld:
    container: Container
    home: Path
    tenant: Tenant
    user_id: UUID

    def deploy(self, name: str, service: str, replicas: int = 1, **config: Any) -> int:
        tenant = self.container.tenancy.tenant(self.tenant.id)
        done = self.container.deployments.request(
            tenant, self.user_id, name, service, None, config, replicas
        )
        return done.position

    def view(self, name: str) -> dict[str, Any] | None:
        with self.container.db.connect_owner() as conn:
            return deployment_of(conn, self.tenant.id, name)

    def settled(self, position: int) -> None:
        reached = wait_for_position(
            self.container.db, "deployments", position, 60, distributed=False
        )
        assert reached, position

    def event_names(self, deployment_id: UUID) -> list[str]:
        with self.container.db.connect_owner() as conn:
            rows = conn.execute(
                "SELECT topic FROM mcps_events WHERE originator_id = %s"
                " ORDER BY originator_version",
                [deployment_id],
            ).fetchall()
        return [r["topic"].rsplit(".", 1)[-1] for r in rows]


def wait_for(what: str, check: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def toy_release(version: str) -> dict[str, Any]:
    return {
        "changelog": f"toy {version}",
        "runtime": {
            "kind": "process",
            "command": sys.executable,
            "args": [str(REPO / "tests/mcp_servers/toy_stdio.py")],
            "env": {"TOY_GREETING": "{{config.greeting}}", "TOY_TOKEN": "{{config.token}}"},
        },
        "config_schema": {
            "type": "object",
            "properties": {
                "greeting": {"type": "string", "default": "hi"},
                "token": {"type": "string", "writeOnly": True, "default": ""},
            },
        },
    }


def time_release() -> dict[str, Any]:
    return {
        "changelog": TIME["changelog"],
        "runtime": TIME["runtime"],
        "config_schema": TIME["config_schema"],
        "tools": TIME.get("tools", []),
    }


def package_store(request: pytest.FixtureRequest) -> Path:
    assert request.config.cache is not None
    return request.config.cache.mkdir("mcps-packages")


@contextmanager
def deploy_world(home: Path, packages: Path, *, projectors: bool = True) -> Iterator[DeployWorld]:
    """A database and container of its own; `toy` (1.0.0, 1.1.0) and `time` published.
    `packages` is a package store kept between runs. Without `projectors` the read models
    are the caller's to keep up (their own processes, say)."""
    (home / "packages").symlink_to(packages)
    policy = RuntimeSettings(commands=[sys.executable], allowed_hosts=["127.0.0.1"])
    with (
        throwaway_database() as url,
        running_container(
            make_settings(url, home, runtime=policy), projectors=projectors
        ) as container,
    ):
        tenancy = container.tenancy
        who = tenancy.register_user("ops@example.com", "opsy", "Sup3r-secret!")
        tenancy.create_team(who.user_id, "deployers", "Deployers")
        tenancy.change_plan("deployers", Plan.PRO)
        tenant = tenancy.tenant_by_slug("deployers")
        market = container.marketplace
        for name, details in (("toy", TIME | {"description": "A toy."}), ("time", TIME)):
            listing = {k: details[k] for k in ("description", "category", "tags", "pricing")}
            market.draft(name, tenant.id, "deployers", OWNER, {"display_name": name, **listing})
        market.release("toy", OWNER, "1.0.0", toy_release("1.0.0"))
        market.release("toy", OWNER, "1.1.0", toy_release("1.1.0"))
        market.release("time", OWNER, TIME_VERSION, time_release())
        market.publish("toy", OWNER)
        market.publish("time", OWNER)
        yield DeployWorld(container, home, tenant, who.user_id)


TIME_VERSION = "2026.10.19"
