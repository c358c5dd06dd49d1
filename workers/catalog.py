"""The catalogue's operator side: seed the template library, import and export server.json,
and introspect a version's tools by starting the server once.

Seeding is idempotent (deterministic ids; a version already there is skipped), so every
start of `up` and every `migrate` may run it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.marketplace import server_json
from domain.marketplace.application import Acting, Marketplace, check_details, check_release
from domain.marketplace.errors import ServiceNotFoundError
from domain.marketplace.values import ServiceStatus, check_name, parse_version
from domain.shared.context import bound
from domain.shared.errors import ConflictError
from domain.tenancy.tenants import Tenant
from domain.tenancy.values import Role
from infra.mcp.introspect import introspect

log = logging.getLogger("mcps.catalog")

TEMPLATES = Path(__file__).resolve().parent.parent / "infra" / "catalog" / "templates"
#: The platform's own publisher: a reserved slug no user or team can take.
PLATFORM_PUBLISHER = "mcps"
OPERATOR = Acting(role=Role.OWNER, platform_admin=True)


@dataclass(frozen=True)
class Imported:
    name: str
    version: str
    outcome: str  # drafted | released | unchanged | skipped-older


def documents(paths: Iterable[Path]) -> list[tuple[Path, Any]]:
    """Every `*.json` under the given files and folders, parsed, in name order."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return [(p, json.loads(p.read_text(encoding="utf-8"))) for p in found]


def import_document(
    market: Marketplace,
    doc: Any,
    publisher_id: Any,
    publisher_slug: str,
    *,
    publish: bool = True,
) -> Imported:
    """Draft the service if new, release the document's version if newer, then publish."""
    name, details, version, release = server_json.parse(doc)
    # Check everything before recording anything: a bad version must not leave a draft.
    check_name(name)
    parse_version(version)
    check_details(details, partial=False)
    check_release(release)
    with bound(actor="system:catalog"):
        try:
            service = market.service(name)
        except ServiceNotFoundError:
            with suppress(ConflictError):  # another process drafted it first
                market.draft(name, publisher_id, publisher_slug, OPERATOR, details)
            service = market.service(name)
        highest = service.highest_version
        if highest is not None and parse_version(version) <= parse_version(highest):
            outcome = "unchanged" if version in service.versions else "skipped-older"
        else:
            market.release(name, OPERATOR, version, release)
            outcome = "released" if highest else "drafted"
        if publish and market.service(name).status is ServiceStatus.DRAFT:
            market.publish(name, OPERATOR)
    return Imported(name, version, outcome)


def seed_templates(market: Marketplace) -> list[Imported]:
    """The template library: real, installable servers, published by the platform."""
    publisher_id = Tenant.create_id(PLATFORM_PUBLISHER)
    done = []
    for path, doc in documents([TEMPLATES]):
        try:
            done.append(import_document(market, doc, publisher_id, PLATFORM_PUBLISHER))
        except ConflictError:
            log.info("template %s is being seeded by another process", path.stem)
    return done


def introspect_version(
    market: Marketplace,
    name: str,
    version: str | None,
    home: Path,
    progress: Callable[[str], None] | None = None,
) -> tuple[str, dict[str, Any], list[dict[str, Any]], int]:
    """Start the version's server, list its tools, and record them on the version."""
    service = market.service(name)
    version = version or service.latest_version or service.highest_version
    if version is None:
        raise ServiceNotFoundError(f"{name} has no released version", field="version")
    release = service.release_of(version)
    found = introspect(release["runtime"], release["config_schema"], home, progress=progress)
    with bound(actor="system:introspect"):
        result = market.record_introspection(name, version, found.tools, found.server_info)
    return version, found.server_info, found.tools, result.position
