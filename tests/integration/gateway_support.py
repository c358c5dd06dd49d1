"""A world for gateway tests: the deployer's world (a team on PRO, `toy` and `time` published)
plus a FREEMIUM toy, the deployer in a thread, the API behind uvicorn, and API tokens."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from domain.tenancy.values import Scope
from tests.integration.deployer_support import (
    OWNER,
    TIME,
    DeployWorld,
    toy_release,
    wait_for,
)
from tests.support import live_server
from workers.deployer import run
from workers.run_deployer import build_reconciler

#: The FREEMIUM toy: two free calls a month, then 0.0025 a call.
PAID_PRICE = Decimal("0.0025")
FREE_CALLS = 2


@dataclass
class GatewayWorld:
    world: DeployWorld
    base_url: str
    token: str
    read_token: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)

    def billed(self, **where: Any) -> list[dict[str, Any]]:
        """Every `Call.Billed` in the store, decoded, oldest first (filtered by field values)."""
        container = self.world.container
        with container.db.connect_owner() as conn:
            rows = conn.execute(
                "SELECT originator_id FROM mcps_events WHERE topic = %s ORDER BY notification_id",
                ["domain.billing.calls:Call.Billed"],
            ).fetchall()
        found = []
        for row in rows:
            billed = container.billing.billed(row["originator_id"])
            assert billed is not None
            facts = dict(vars(billed))
            if all(facts.get(k) == v for k, v in where.items()):
                found.append(facts)
        return found


def publish_freemium_toy(world: DeployWorld) -> None:
    market = world.container.marketplace
    listing = {k: TIME[k] for k in ("description", "category", "tags")}
    pricing = {
        "model": "FREEMIUM",
        "price_per_request": str(PAID_PRICE),
        "free_calls_per_month": FREE_CALLS,
        "currency": "USD",
    }
    tenant = world.tenant
    market.draft(
        "toy-plus",
        tenant.id,
        tenant.slug,
        OWNER,
        {"display_name": "Toy plus", **listing, "pricing": pricing},
    )
    market.release("toy-plus", OWNER, "1.0.0", toy_release("1.0.0"))
    market.publish("toy-plus", OWNER)


def running(world: DeployWorld, name: str, replicas: int = 1) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        view = world.view(name)
        if view is None or view["status"] != "running":
            return None
        healthy = [i for i in view["instances"] if i["health"] == "healthy"]
        return view if len(healthy) == replicas else None

    try:
        return wait_for(f"{name} running", ready)
    except AssertionError as error:
        raise AssertionError(f"{error}: {world.view(name)}") from None


@contextmanager
def gateway_world(world: DeployWorld) -> Iterator[GatewayWorld]:
    """Deploy `toy`, `toy-plus` and `time`, run the deployer, serve the API; yield when healthy."""
    publish_freemium_toy(world)
    reconciler = build_reconciler(world.container)
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(reconciler, stop), daemon=True)
    thread.start()
    try:
        for name, service in (("toy", "toy"), ("toy-plus", "toy-plus"), ("clock", "time")):
            world.deploy(name, service)
        for name in ("toy", "toy-plus", "clock"):
            running(world, name)
        tenancy = world.container.tenancy
        slug = world.tenant.slug
        token = tenancy.issue_token(slug, world.user_id, "calls", [Scope.MCP_EXECUTE], None)
        reader = tenancy.issue_token(slug, world.user_id, "reads", [Scope.MCP_READ], None)
        with live_server(world.container) as base_url:
            yield GatewayWorld(world, base_url, token.token, reader.token)
    finally:
        stop.set()
        thread.join(30)
        reconciler.stop_all()
        reconciler.close()
