"""Building marketplace histories for catalogue tests, through the `Marketplace` application.

Commands run in process (`container.marketplace`) and the embedded log projectors build the
catalogue from the events they record; `settle` waits until the catalogue has applied them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from domain.marketplace.application import Acting
from domain.shared.application import CommandResult
from domain.tenancy.values import Role
from infra.container import Container
from projections.catalogue_search import SearchParams, SearchResult, search
from projections.consistency import wait_for_position
from tests.support import make_settings, running_container, throwaway_database

OWNER = Acting(role=Role.OWNER)
STRANGER = Acting(role=None)

RUNTIMES: dict[str, dict[str, Any]] = {
    "process": {"kind": "process", "command": "mcp-server-time", "args": ["--local"]},
    "docker": {"kind": "docker", "image": "mcp/weather:1.2"},
    "remote": {"kind": "remote", "url": "https://mcp.example.com/mcp"},
}


@contextmanager
def catalogue_container() -> Iterator[Container]:
    """A container of its own, with every projector following the log."""
    with (
        throwaway_database() as url,
        tempfile.TemporaryDirectory(prefix="catalogue-") as home,
        running_container(make_settings(url, Path(home))) as container,
    ):
        yield container


def settle(container: Container, result: CommandResult | int) -> None:
    position = result if isinstance(result, int) else result.position
    reached = wait_for_position(container.db, "catalogue", position, 10, distributed=False)
    assert reached, f"the catalogue did not reach position {position}"


def details(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "display_name": name.replace("-", " ").title(),
        "description": f"The {name} service.",
        "category": "other",
        "tags": [],
        "pricing": {"model": "FREE"},
        **extra,
    }


def release_body(runtime: str = "process", **extra: Any) -> dict[str, Any]:
    return {"changelog": "First release.", "runtime": RUNTIMES[runtime], **extra}


def draft(
    container: Container, name: str, publisher: tuple[UUID, str], **extra: Any
) -> CommandResult:
    publisher_id, slug = publisher
    return container.marketplace.draft(name, publisher_id, slug, OWNER, details(name, **extra))


def publish(
    container: Container,
    name: str,
    publisher: tuple[UUID, str],
    *,
    runtime: str = "process",
    version: str = "1.0.0",
    **extra: Any,
) -> CommandResult:
    """Draft, release one version and publish: a listed service."""
    draft(container, name, publisher, **extra)
    container.marketplace.release(name, OWNER, version, release_body(runtime))
    return container.marketplace.publish(name, OWNER)


def review(container: Container, name: str, rating: int, comment: str = "") -> CommandResult:
    """A review by a new user of a new tenant (each review needs its own author)."""
    user = uuid4()
    return container.marketplace.post_review(
        name, user, f"user-{user.hex[:8]}", uuid4(), STRANGER, rating, comment
    )


def find(container: Container, tenant_ids: list[UUID] | None = None, **params: Any) -> SearchResult:
    """Search as the API does: the app role, scoped to `tenant_ids`."""
    with container.db.scoped(tenant_ids=tenant_ids) as conn:
        return search(conn, SearchParams(**params), tenant_ids)


def names(result: SearchResult) -> list[str]:
    return [row["name"] for row in result.data]


def new_publisher(slug: str) -> tuple[UUID, str]:
    return uuid4(), slug
