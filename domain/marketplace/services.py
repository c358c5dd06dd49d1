"""An MCP service in the marketplace: its listing, its released versions and its lifecycle.

The name is the identity (`deterministic_id`), so two publishers racing for one name get one
winner and a 409. Versions are append-only: a released version never changes, except that it
can be yanked and that introspection may fill in the tools it reports.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.marketplace.errors import (
    ServiceStateError,
    VersionNotFoundError,
    VersionNotIncreasingError,
    VersionYankedError,
)
from domain.marketplace.values import ServiceStatus, parse_version
from domain.shared.aggregate import BaseAggregate, deterministic_id


class McpService(BaseAggregate):
    class Drafted(BaseAggregate.Created):
        name: str
        publisher_id: UUID
        publisher_slug: str
        display_name: str
        description: str
        category: str
        tags: list[str]
        icon_url: str | None
        repository_url: str | None
        documentation_url: str | None
        pricing: dict[str, Any]

    class DetailsUpdated(BaseAggregate.Event):
        changes: dict[str, Any]

    class VersionReleased(BaseAggregate.Event):
        version: str
        changelog: str
        runtime: dict[str, Any]
        config_schema: dict[str, Any]
        tools: list[dict[str, Any]]

    class ToolsIntrospected(BaseAggregate.Event):
        version: str
        tools: list[dict[str, Any]]
        server_info: dict[str, Any]

    class VersionYanked(BaseAggregate.Event):
        version: str
        reason: str

    class Published(BaseAggregate.Event):
        pass

    class Deprecated(BaseAggregate.Event):
        successor: str | None
        reason: str

    class Unpublished(BaseAggregate.Event):
        reason: str

    class Featured(BaseAggregate.Event):
        featured: bool

    @staticmethod
    def create_id(name: str, *_: object, **__: object) -> UUID:
        return deterministic_id("mcp-service", name)

    @event(Drafted)
    def __init__(
        self,
        name: str,
        publisher_id: UUID,
        publisher_slug: str,
        display_name: str,
        description: str,
        category: str,
        tags: list[str],
        icon_url: str | None,
        repository_url: str | None,
        documentation_url: str | None,
        pricing: dict[str, Any],
    ) -> None:
        self.name = name
        self.publisher_id = publisher_id
        self.publisher_slug = publisher_slug
        self.details: dict[str, Any] = {
            "display_name": display_name,
            "description": description,
            "category": category,
            "tags": tags,
            "icon_url": icon_url,
            "repository_url": repository_url,
            "documentation_url": documentation_url,
            "pricing": pricing,
        }
        self.status = ServiceStatus.DRAFT
        self.featured = False
        self.successor: str | None = None
        self.versions: dict[str, dict[str, Any]] = {}
        self.yanked: set[str] = set()

    # --- queries on state -------------------------------------------------------------------

    @property
    def latest_version(self) -> str | None:
        """The default version: the highest one not yanked."""
        live = [v for v in self.versions if v not in self.yanked]
        return max(live, key=parse_version, default=None)

    @property
    def highest_version(self) -> str | None:
        return max(self.versions, key=parse_version, default=None)

    def release_of(self, version: str) -> dict[str, Any]:
        if version not in self.versions:
            raise VersionNotFoundError(f"{self.name} has no version {version}", field="version")
        return self.versions[version]

    # --- commands ---------------------------------------------------------------------------

    def update_details(self, changes: dict[str, Any]) -> None:
        """Only what really changes becomes an event; an empty change records nothing."""
        real = {k: v for k, v in changes.items() if self.details.get(k) != v}
        if real:
            self._update_details(changes=real)

    @event(DetailsUpdated)
    def _update_details(self, changes: dict[str, Any]) -> None:
        self.details.update(changes)

    def release(
        self,
        version: str,
        changelog: str,
        runtime: dict[str, Any],
        config_schema: dict[str, Any],
        tools: list[dict[str, Any]],
    ) -> None:
        parsed = parse_version(version)
        highest = self.highest_version
        if highest is not None and parsed <= parse_version(highest):
            raise VersionNotIncreasingError(
                f"version must be greater than {highest}, the last released", field="version"
            )
        self._release(
            version=str(parsed),
            changelog=changelog,
            runtime=runtime,
            config_schema=config_schema,
            tools=tools,
        )

    @event(VersionReleased)
    def _release(
        self,
        version: str,
        changelog: str,
        runtime: dict[str, Any],
        config_schema: dict[str, Any],
        tools: list[dict[str, Any]],
    ) -> None:
        self.versions[version] = {
            "version": version,
            "changelog": changelog,
            "runtime": runtime,
            "config_schema": config_schema,
            "tools": tools,
        }

    def record_introspection(
        self, version: str, tools: list[dict[str, Any]], server_info: dict[str, Any]
    ) -> None:
        if self.release_of(version)["tools"] != tools:
            self._record_introspection(version=version, tools=tools, server_info=server_info)

    @event(ToolsIntrospected)
    def _record_introspection(
        self, version: str, tools: list[dict[str, Any]], server_info: dict[str, Any]
    ) -> None:
        self.versions[version]["tools"] = tools

    def yank(self, version: str, reason: str) -> None:
        self.release_of(version)
        if version in self.yanked:
            raise VersionYankedError(f"{version} is already yanked", field="version")
        if self.status.listed and self.live() == [version]:
            raise ServiceStateError(
                "this is the only live version of a listed service; unpublish it first",
                field="version",
            )
        self._yank(version=version, reason=reason)

    def live(self) -> list[str]:
        return [v for v in self.versions if v not in self.yanked]

    @event(VersionYanked)
    def _yank(self, version: str, reason: str) -> None:
        self.yanked.add(version)

    def publish(self) -> None:
        if self.status is ServiceStatus.PUBLISHED:
            return
        if self.latest_version is None:
            raise ServiceStateError("release a version before publishing")
        self._publish()

    @event(Published)
    def _publish(self) -> None:
        self.status = ServiceStatus.PUBLISHED

    def deprecate(self, successor: str | None, reason: str) -> None:
        if self.status is not ServiceStatus.PUBLISHED:
            raise ServiceStateError("only a published service can be deprecated")
        if successor == self.name:
            raise ServiceStateError("a service cannot succeed itself", field="successor")
        self._deprecate(successor=successor, reason=reason)

    @event(Deprecated)
    def _deprecate(self, successor: str | None, reason: str) -> None:
        self.status = ServiceStatus.DEPRECATED
        self.successor = successor

    def unpublish(self, reason: str) -> None:
        if self.status is ServiceStatus.DRAFT:
            return
        self._unpublish(reason=reason)

    @event(Unpublished)
    def _unpublish(self, reason: str) -> None:
        self.status = ServiceStatus.DRAFT
        self.featured = False

    def feature(self, featured: bool) -> None:
        if featured and not self.status.listed:
            raise ServiceStateError("only a listed service can be featured")
        if featured != self.featured:
            self._feature(featured=featured)

    @event(Featured)
    def _feature(self, featured: bool) -> None:
        self.featured = featured
