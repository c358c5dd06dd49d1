"""A review: one per user per service (its id says so), a rating of 1 to 5 and a comment."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.marketplace.errors import InvalidServiceError, ReviewModeratedError, ReviewNotFoundError
from domain.shared.aggregate import BaseAggregate, deterministic_id

MAX_COMMENT = 5000


def check_rating(rating: int) -> int:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidServiceError("rating is a whole number from 1 to 5", field="rating")
    return rating


def check_comment(comment: str) -> str:
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidServiceError(
            f"comment is longer than {MAX_COMMENT} characters", field="comment"
        )
    return comment


class Review(BaseAggregate):
    class Posted(BaseAggregate.Created):
        service_id: UUID
        service_name: str
        user_id: UUID
        username: str
        reviewer_tenant_id: UUID
        rating: int
        comment: str

    class Edited(BaseAggregate.Event):
        rating: int
        comment: str

    class Removed(BaseAggregate.Event):
        by_moderator: bool
        reason: str

    class Reposted(BaseAggregate.Event):
        """The author wrote a new review after removing their own."""

        rating: int
        comment: str

    @staticmethod
    def create_id(service_id: UUID, user_id: UUID, *_: object, **__: object) -> UUID:
        return deterministic_id("review", f"{service_id}/{user_id}")

    @event(Posted)
    def __init__(
        self,
        service_id: UUID,
        user_id: UUID,
        service_name: str,
        username: str,
        reviewer_tenant_id: UUID,
        rating: int,
        comment: str,
    ) -> None:
        self.service_id = service_id
        self.service_name = service_name
        self.user_id = user_id
        self.username = username
        self.reviewer_tenant_id = reviewer_tenant_id
        self.rating = rating
        self.comment = comment
        self.removed = False
        self.moderated = False

    def require_visible(self) -> None:
        if self.removed:
            raise ReviewNotFoundError("review not found")

    def edit(self, rating: int, comment: str) -> None:
        self.require_visible()
        if (rating, comment) != (self.rating, self.comment):
            self._edit(rating=rating, comment=comment)

    @event(Edited)
    def _edit(self, rating: int, comment: str) -> None:
        self.rating, self.comment = rating, comment

    def remove(self, by_moderator: bool, reason: str) -> None:
        self.require_visible()
        self._remove(by_moderator=by_moderator, reason=reason)

    @event(Removed)
    def _remove(self, by_moderator: bool, reason: str) -> None:
        self.removed = True
        self.moderated = by_moderator

    def repost(self, rating: int, comment: str) -> None:
        """After the author removed it; a moderator's removal stands."""
        if self.moderated:
            raise ReviewModeratedError("a moderator removed your review of this service")
        self._repost(rating=rating, comment=comment)

    @event(Reposted)
    def _repost(self, rating: int, comment: str) -> None:
        self.rating, self.comment = rating, comment
        self.removed = False
