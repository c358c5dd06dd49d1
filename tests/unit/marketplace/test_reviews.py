"""Reviews: one per user per service, not by the publisher, removable by author or moderator."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.marketplace.application import Marketplace
from domain.marketplace.errors import (
    InvalidServiceError,
    ReviewExistsError,
    ReviewModeratedError,
    ReviewNotFoundError,
    ServiceNotFoundError,
    ServicePermissionError,
    ServiceStateError,
)
from tests.unit.marketplace.gwt import (
    OWNER,
    PLATFORM,
    PUBLISHER,
    STRANGER,
    details,
    new_marketplace,
    published,
)

ALICE, ALICE_TENANT = uuid4(), uuid4()
MOD = uuid4()


@pytest.fixture
def app() -> Marketplace:
    market = new_marketplace()
    published(market)
    return market


def post(app: Marketplace, rating: int = 5, comment: str = "works") -> None:
    app.post_review("time", ALICE, "alice", ALICE_TENANT, STRANGER, rating, comment)


def test_one_review_per_user(app: Marketplace) -> None:
    post(app)
    with pytest.raises(ReviewExistsError):
        post(app, 1)
    app.edit_review("time", ALICE, 4, "  good  ")
    review = app.review("time", ALICE)
    assert (review.rating, review.comment) == (4, "good")


@pytest.mark.parametrize("rating", [0, 6, -1, True])
def test_rating_is_one_to_five(app: Marketplace, rating: int) -> None:
    with pytest.raises(InvalidServiceError) as caught:
        post(app, rating)
    assert caught.value.field == "rating"


def test_oversized_comment(app: Marketplace) -> None:
    with pytest.raises(InvalidServiceError) as caught:
        post(app, 3, "x" * 5001)
    assert caught.value.field == "comment"


def test_publisher_members_cannot_review_their_service(app: Marketplace) -> None:
    with pytest.raises(ServicePermissionError):
        app.post_review("time", ALICE, "alice", PUBLISHER, OWNER, 5, "mine is great")


def test_drafts_cannot_be_reviewed(app: Marketplace) -> None:
    app.draft("hidden", PUBLISHER, "acme", OWNER, details())
    with pytest.raises(ServiceNotFoundError):
        app.post_review("hidden", ALICE, "alice", ALICE_TENANT, STRANGER, 5, "")
    with pytest.raises(ServiceStateError):
        app.post_review("hidden", MOD, "mod", ALICE_TENANT, PLATFORM, 5, "")


def test_the_author_may_remove_and_post_again(app: Marketplace) -> None:
    post(app)
    app.remove_review("time", ALICE, ALICE, STRANGER, "changed my mind")
    with pytest.raises(ReviewNotFoundError):
        app.edit_review("time", ALICE, 3, "")
    post(app, 2, "second try")
    assert app.review("time", ALICE).rating == 2


def test_a_moderators_removal_stands(app: Marketplace) -> None:
    post(app)
    with pytest.raises(ReviewNotFoundError):
        app.remove_review("time", ALICE, uuid4(), STRANGER, "spam")
    app.remove_review("time", ALICE, MOD, PLATFORM, "spam")
    with pytest.raises(ReviewModeratedError):
        post(app)
