"""The marketplace's commands: publishers list and version services, users review them.

Who may act is decided from an `Acting` value the caller builds (the caller's role in the
publishing tenant, or none): the rules live here, not in the HTTP layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.marketplace.errors import (
    ReviewExistsError,
    ReviewNotFoundError,
    ServiceNameTakenError,
    ServiceNotFoundError,
    ServicePermissionError,
    ServiceStateError,
)
from domain.marketplace.reviews import Review, check_comment, check_rating
from domain.marketplace.services import McpService
from domain.marketplace.specs import check_json_schema, check_runtime, check_tools
from domain.marketplace.values import (
    MAX_CHANGELOG,
    MAX_DESCRIPTION,
    MAX_DISPLAY_NAME,
    check_category,
    check_name,
    check_pricing,
    check_tags,
    check_text,
    check_url,
)
from domain.shared.application import BaseApplication, CommandResult
from domain.shared.context import bound
from domain.shared.errors import ConflictError
from domain.tenancy.values import Role

MAX_REASON = 1000
URL_FIELDS = ("icon_url", "repository_url", "documentation_url")


@dataclass(frozen=True)
class Acting:
    """The caller as the publishing tenant sees them: their role there, or None."""

    role: Role | None
    platform_admin: bool = False

    def may_edit(self) -> bool:
        return self.role is not None and self.role.at_least(Role.ADMIN)


def check_details(details: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate the listing fields present; a draft must have the required ones."""
    clean: dict[str, Any] = {}
    if "display_name" in details or not partial:
        clean["display_name"] = check_text(
            details.get("display_name") or "", "display_name", MAX_DISPLAY_NAME, required=True
        )
    if "description" in details or not partial:
        clean["description"] = check_text(
            details.get("description") or "", "description", MAX_DESCRIPTION
        )
    if "category" in details or not partial:
        clean["category"] = check_category(details.get("category") or "other").value
    if "tags" in details or not partial:
        clean["tags"] = check_tags(details.get("tags") or [])
    for key in URL_FIELDS:
        if key in details or not partial:
            clean[key] = check_url(details.get(key), key)
    if "pricing" in details or not partial:
        clean["pricing"] = check_pricing(details.get("pricing") or {"model": "FREE"})
    return clean


def check_release(release: dict[str, Any]) -> dict[str, Any]:
    config_schema = check_json_schema(release.get("config_schema") or {}, "config_schema")
    return {
        "changelog": check_text(release.get("changelog") or "", "changelog", MAX_CHANGELOG),
        "runtime": check_runtime(release.get("runtime") or {}, config_schema),
        "config_schema": config_schema,
        "tools": check_tools(release.get("tools") or []),
    }


class Marketplace(BaseApplication):
    # --- loading ----------------------------------------------------------------------------

    def service(self, name: str) -> McpService:
        check_name(name)
        return self.get(
            McpService.create_id(name),
            McpService,
            lambda: ServiceNotFoundError(f"no service named {name!r}"),
        )

    def visible_service(self, name: str, acting: Acting) -> McpService:
        """A draft exists only for its own tenant (and platform admins)."""
        service = self.service(name)
        if not service.status.listed and acting.role is None and not acting.platform_admin:
            raise ServiceNotFoundError(f"no service named {name!r}")
        return service

    def _editable(self, name: str, acting: Acting) -> McpService:
        service = self.visible_service(name, acting)
        if not acting.may_edit():
            raise ServicePermissionError(
                "only owners and admins of the publishing tenant can change this service"
            )
        return service

    def _commit_for(self, service: McpService) -> CommandResult:
        """Events about a service belong to its publisher's audit trail."""
        with bound(tenant_id=str(service.publisher_id)):
            return self.commit(service)

    def _commit_review(self, review: Review) -> CommandResult:
        """Events about a review belong to the reviewer's."""
        with bound(tenant_id=str(review.reviewer_tenant_id)):
            return self.commit(review)

    # --- publishing -------------------------------------------------------------------------

    def draft(
        self,
        name: str,
        publisher_id: UUID,
        publisher_slug: str,
        acting: Acting,
        details: dict[str, Any],
    ) -> CommandResult:
        check_name(name)
        clean = check_details(details, partial=False)
        if not acting.may_edit():
            raise ServicePermissionError("publishing needs the owner or admin role in the tenant")
        if McpService.create_id(name) in self.repository:
            raise ServiceNameTakenError(f"the name {name!r} is taken", field="name")
        with bound(tenant_id=str(publisher_id)):
            service = McpService(
                name=name, publisher_id=publisher_id, publisher_slug=publisher_slug, **clean
            )
            try:
                return self.commit(service)
            except ConflictError:
                raise ServiceNameTakenError(f"the name {name!r} is taken", field="name") from None

    def update(self, name: str, acting: Acting, details: dict[str, Any]) -> CommandResult:
        clean = check_details(details, partial=True)
        service = self._editable(name, acting)
        service.update_details(clean)
        return self._commit_for(service)

    def release(
        self, name: str, acting: Acting, version: str, release: dict[str, Any]
    ) -> CommandResult:
        clean = check_release(release)
        service = self._editable(name, acting)
        service.release(version, **clean)
        return self._commit_for(service)

    def record_introspection(
        self, name: str, version: str, tools: list[dict[str, Any]], server_info: dict[str, Any]
    ) -> CommandResult:
        """What the running server reported; the platform itself records it (no role check)."""
        service = self.service(name)
        service.record_introspection(version, check_tools(tools), server_info)
        return self._commit_for(service)

    def yank(self, name: str, acting: Acting, version: str, reason: str) -> CommandResult:
        reason = check_text(reason, "reason", MAX_REASON)
        service = self._editable(name, acting)
        service.yank(version, reason)
        return self._commit_for(service)

    def publish(self, name: str, acting: Acting) -> CommandResult:
        service = self._editable(name, acting)
        service.publish()
        return self._commit_for(service)

    def deprecate(
        self, name: str, acting: Acting, successor: str | None, reason: str
    ) -> CommandResult:
        reason = check_text(reason, "reason", MAX_REASON)
        if successor is not None:
            check_name(successor, field="successor")
            if successor != name and not self.service(successor).status.listed:
                raise ServiceStateError("the successor must be a listed service", field="successor")
        service = self._editable(name, acting)
        service.deprecate(successor, reason)
        return self._commit_for(service)

    def unpublish(self, name: str, acting: Acting, reason: str) -> CommandResult:
        reason = check_text(reason, "reason", MAX_REASON)
        service = self._editable(name, acting)
        service.unpublish(reason)
        return self._commit_for(service)

    def feature(self, name: str, acting: Acting, featured: bool) -> CommandResult:
        if not acting.platform_admin:
            raise ServicePermissionError("only platform admins choose featured services")
        service = self.service(name)
        service.feature(featured)
        return self._commit_for(service)

    # --- reviews ----------------------------------------------------------------------------

    def review(self, name: str, user_id: UUID) -> Review:
        service = self.service(name)
        review_id = Review.create_id(service.id, user_id)
        return self.get(review_id, Review, lambda: ReviewNotFoundError("review not found"))

    def post_review(
        self,
        name: str,
        user_id: UUID,
        username: str,
        reviewer_tenant_id: UUID,
        acting: Acting,
        rating: int,
        comment: str,
    ) -> CommandResult:
        """One review per user and service; members of the publisher cannot review it."""
        rating, comment = check_rating(rating), check_comment(comment)
        service = self.visible_service(name, acting)
        if not service.status.listed:
            raise ServiceStateError("only listed services can be reviewed")
        if acting.role is not None:
            raise ServicePermissionError("members of the publishing tenant cannot review it")
        review_id = Review.create_id(service.id, user_id)
        if review_id in self.repository:
            existing = self.review(name, user_id)
            if not existing.removed:
                raise ReviewExistsError("you have reviewed this service; edit your review")
            existing.repost(rating, comment)
            return self._commit_review(existing)
        with bound(tenant_id=str(reviewer_tenant_id)):
            review = Review(
                service_id=service.id,
                user_id=user_id,
                service_name=name,
                username=username,
                reviewer_tenant_id=reviewer_tenant_id,
                rating=rating,
                comment=comment,
            )
        try:
            return self._commit_review(review)
        except ConflictError:
            raise ReviewExistsError("you have reviewed this service; edit your review") from None

    def edit_review(self, name: str, user_id: UUID, rating: int, comment: str) -> CommandResult:
        rating, comment = check_rating(rating), check_comment(comment)
        review = self.review(name, user_id)
        review.edit(rating, comment)
        return self._commit_review(review)

    def remove_review(
        self, name: str, author_id: UUID, remover_id: UUID, acting: Acting, reason: str
    ) -> CommandResult:
        """The author removes their own; platform admins moderate anyone's."""
        reason = check_text(reason, "reason", MAX_REASON)
        moderator = remover_id != author_id
        if moderator and not acting.platform_admin:
            raise ReviewNotFoundError("review not found")
        review = self.review(name, author_id)
        review.remove(by_moderator=moderator, reason=reason)
        return self._commit_review(review)
