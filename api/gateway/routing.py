"""A tenant's routing table: its deployments, their instances, tools and pricing.

Read from the read models as the tenant (RLS), and reused for `cache_seconds`, so the hot
path reads Postgres at most once per tenant per interval, not once per call. Concurrent
callers for the same tenant share one read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from jsonschema import Draft202012Validator
from starlette.concurrency import run_in_threadpool

from domain.deployments.values import Health
from infra.database import Database
from infra.mcp.connect import Target
from projections.gateway_queries import routing_rows


@dataclass(frozen=True)
class DeclaredTool:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class InstanceRoute:
    id: str
    target: Target
    healthy: bool


@dataclass(frozen=True)
class Route:
    deployment_id: UUID
    name: str
    service_id: UUID
    service: str
    version: str
    status: str
    #: The service's pricing; None when the service is no longer visible to the tenant.
    pricing: dict[str, Any] | None
    declared_tools: tuple[DeclaredTool, ...]
    instances: tuple[InstanceRoute, ...]

    @property
    def healthy_instances(self) -> list[InstanceRoute]:
        return [i for i in self.instances if i.healthy]


@dataclass
class _Entry:
    routes: dict[str, Route]
    read_at: float


@dataclass
class RouteTable:
    db: Database
    ttl: float
    #: Told the instance ids of every table held, after each read (to retire old sessions).
    on_read: Callable[[set[str]], Awaitable[None]] | None = None
    _entries: dict[UUID, _Entry] = field(default_factory=dict)
    _reads: dict[UUID, asyncio.Future[dict[str, Route]]] = field(default_factory=dict)

    async def routes(self, tenant_id: UUID) -> dict[str, Route]:
        entry = self._entries.get(tenant_id)
        if entry is not None and time.monotonic() - entry.read_at < self.ttl:
            return entry.routes
        pending = self._reads.get(tenant_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[dict[str, Route]] = asyncio.get_running_loop().create_future()
        self._reads[tenant_id] = future
        try:
            routes = await run_in_threadpool(self._read, tenant_id)
            self._entries[tenant_id] = _Entry(routes, time.monotonic())
            future.set_result(routes)
            if self.on_read is not None:
                await self.on_read(self.instance_ids())
            return routes
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._reads[tenant_id]

    async def route(self, tenant_id: UUID, name: str) -> Route | None:
        return (await self.routes(tenant_id)).get(name)

    def held(self) -> list[Route]:
        """Every route of every table held now (whether fresh or not); no read."""
        return [route for entry in self._entries.values() for route in entry.routes.values()]

    def instance_ids(self) -> set[str]:
        return {
            instance.id
            for entry in self._entries.values()
            for route in entry.routes.values()
            for instance in route.instances
        }

    def _read(self, tenant_id: UUID) -> dict[str, Route]:
        with self.db.scoped(tenant_id=tenant_id) as conn:
            rows = routing_rows(conn)
        return {row["name"]: _route(row) for row in rows}


def _route(row: dict[str, Any]) -> Route:
    remote = row["runtime_kind"] == "remote"
    return Route(
        deployment_id=row["deployment_id"],
        name=row["name"],
        service_id=row["service_id"],
        service=row["service_name"],
        version=row["version"],
        status=row["status"],
        pricing=row["pricing"],
        declared_tools=tuple(
            DeclaredTool(t["name"], t.get("description") or "", t.get("input_schema") or {})
            for t in row["tools"]
        ),
        instances=tuple(
            InstanceRoute(
                id=i["id"],
                target=Target(i["endpoint"], remote=remote),
                healthy=i["health"] == Health.HEALTHY.value,
            )
            for i in row["instances"]
            if i["endpoint"]
        ),
    )


_validators: dict[str, Draft202012Validator] = {}


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """A compiled validator per distinct schema (schemas repeat across calls and tenants)."""
    key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()
    found = _validators.get(key)
    if found is None:
        if len(_validators) > 10_000:
            _validators.clear()
        found = _validators[key] = Draft202012Validator(schema)
    return found
