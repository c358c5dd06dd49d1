"""The catalogue read model, fed by the real embedded log projectors from recorded events.

Commands go through the `Marketplace` application; the assertions read the rows (as the
owner) and the queries (as the app role) once the catalogue has applied the commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg.rows import dict_row

from domain.marketplace.application import Acting
from infra.container import Container
from projections.catalogue import LISTING_COLUMNS
from projections.catalogue_queries import catalogue_revision, service_detail, versions_of
from tests.integration.catalogue_support import (
    OWNER,
    STRANGER,
    catalogue_container,
    draft,
    find,
    names,
    new_publisher,
    publish,
    release_body,
    review,
    settle,
)

ACME = new_publisher("acme")
ADMIN = Acting(role=None, platform_admin=True)


@pytest.fixture(scope="module")
def container() -> Iterator[Container]:
    with catalogue_container() as c:
        yield c


def row(container: Container, table: str, where: str, *params: Any) -> dict[str, Any] | None:
    with psycopg.connect(container.database_url, row_factory=dict_row) as conn:
        return conn.execute(f"SELECT * FROM catalogue.{table} WHERE {where}", params).fetchone()


def service_row(container: Container, name: str) -> dict[str, Any]:
    found = row(container, "services", "name = %s", name)
    assert found is not None, name
    return found


def listed(container: Container, name: str) -> bool:
    return row(container, "listing", "name = %s", name) is not None


def rating_of(container: Container, name: str) -> tuple[int, int, list[int]]:
    r = service_row(container, name)
    return r["rating_count"], r["rating_sum"], r["rating_histogram"]


def test_a_draft_is_listed_once_published_and_leaves_when_unpublished(
    container: Container,
) -> None:
    settle(container, draft(container, "life-cycle", ACME, tags=["one"]))
    assert service_row(container, "life-cycle")["status"] == "draft"
    assert not listed(container, "life-cycle")

    container.marketplace.release("life-cycle", OWNER, "1.0.0", release_body())
    published = container.marketplace.publish("life-cycle", OWNER)
    settle(container, published)
    r = service_row(container, "life-cycle")
    assert (r["status"], r["latest_version"], r["runtime_kind"]) == (
        "published",
        "1.0.0",
        "process",
    )
    assert r["published_at"] is not None
    assert listed(container, "life-cycle")

    settle(container, container.marketplace.feature("life-cycle", ADMIN, True))
    settle(container, container.marketplace.deprecate("life-cycle", OWNER, None, "old"))
    assert service_row(container, "life-cycle")["status"] == "deprecated"
    copy = row(container, "listing", "name = %s", "life-cycle")
    assert copy is not None and copy["featured"] is True

    settle(container, container.marketplace.unpublish("life-cycle", OWNER, "gone"))
    r = service_row(container, "life-cycle")
    assert (r["status"], r["featured"]) == ("draft", False)
    assert not listed(container, "life-cycle")


def test_the_listing_copies_the_listed_services(container: Container) -> None:
    settle(container, publish(container, "copied", ACME, tags=["x"], category="web"))
    columns = ", ".join(LISTING_COLUMNS)
    with psycopg.connect(container.database_url) as conn:
        listed = f"SELECT {columns} FROM catalogue.services WHERE status <> 'draft'"
        copied = f"SELECT {columns} FROM catalogue.listing"
        missing = conn.execute(f"SELECT count(*) FROM ({listed} EXCEPT ALL {copied}) d").fetchone()
        extra = conn.execute(f"SELECT count(*) FROM ({copied} EXCEPT ALL {listed}) d").fetchone()
        rows = conn.execute("SELECT count(*) FROM catalogue.listing").fetchone()
    assert missing == extra == (0,)
    assert rows is not None and rows[0] > 0


def test_changed_details_are_searchable_at_once(container: Container) -> None:
    settle(container, publish(container, "renamer", ACME, description="plain words"))
    assert "renamer" not in names(find(container, q="kaleidoscope"))
    settle(
        container,
        container.marketplace.update(
            "renamer",
            OWNER,
            {
                "description": "A kaleidoscope of colours.",
                "tags": ["colour"],
                "pricing": {"model": "PAID", "price_per_request": "0.0100", "currency": "EUR"},
            },
        ),
    )
    assert names(find(container, q="kaleidoscope")) == ["renamer"]
    assert names(find(container, tags=("colour",), pricing="PAID")) == ["renamer"]
    r = service_row(container, "renamer")
    assert r["pricing"] == {"model": "PAID", "price_per_request": "0.0100", "currency": "EUR"}
    assert r["pricing_model"] == "PAID"
    assert r["display_name"] == "Renamer"  # untouched fields stay


def test_the_latest_version_is_the_highest_not_yanked_by_semver(container: Container) -> None:
    settle(container, publish(container, "versioned", ACME, version="1.9.0"))
    market = container.marketplace
    market.release("versioned", OWNER, "1.10.0-rc.1", release_body("remote"))
    settle(container, market.release("versioned", OWNER, "1.10.0", release_body("docker")))
    # "1.10.0" < "1.9.0" as text; by SemVer precedence it is the highest.
    assert service_row(container, "versioned")["latest_version"] == "1.10.0"
    assert service_row(container, "versioned")["runtime_kind"] == "docker"

    settle(container, market.yank("versioned", OWNER, "1.10.0", "broken build"))
    r = service_row(container, "versioned")
    assert (r["latest_version"], r["runtime_kind"]) == ("1.10.0-rc.1", "remote")
    with container.db.scoped() as conn:
        versions = versions_of(conn, r["id"])
    assert [v["version"] for v in versions] == ["1.10.0", "1.10.0-rc.1", "1.9.0"]
    assert versions[0]["yanked"] is True and versions[0]["yank_reason"] == "broken build"
    assert not versions[1]["yanked"]


def test_introspected_tools_replace_the_version_tools(container: Container) -> None:
    settle(container, publish(container, "introspected", ACME))
    tools = [{"name": "now", "description": "The time", "input_schema": {"type": "object"}}]
    settle(
        container,
        container.marketplace.record_introspection(
            "introspected", "1.0.0", tools, {"name": "time-server", "version": "0.1"}
        ),
    )
    with container.db.scoped() as conn:
        detail = service_detail(conn, "introspected", prior=5, prior_mean=3.0)
    assert detail is not None
    assert detail["latest_release"]["tools"] == tools


def test_ratings_count_only_visible_reviews(container: Container) -> None:
    settle(container, publish(container, "rated", ACME))
    market = container.marketplace
    author = review(container, "rated", 5)
    settle(container, review(container, "rated", 3))
    assert rating_of(container, "rated") == (2, 8, [0, 0, 1, 0, 1])

    writer = row(container, "reviews", "id = %s", author.id)
    assert writer is not None
    user = writer["reviewer_id"]
    settle(container, market.edit_review("rated", user, 2, "worse than I thought"))
    assert rating_of(container, "rated") == (2, 5, [0, 1, 1, 0, 0])

    settle(container, market.remove_review("rated", user, user, STRANGER, "changed my mind"))
    assert rating_of(container, "rated") == (1, 3, [0, 0, 1, 0, 0])
    gone = row(container, "reviews", "id = %s", author.id)
    assert gone is not None and gone["status"] == "removed"

    settle(
        container,
        market.post_review(
            "rated", user, writer["username"], writer["reviewer_tenant_id"], STRANGER, 4, "ok"
        ),
    )
    assert rating_of(container, "rated") == (2, 7, [0, 0, 1, 1, 0])
    # The copy that search sorts by follows every change.
    copy = row(container, "listing", "name = %s", "rated")
    assert copy is not None
    assert (copy["rating_count"], copy["rating_sum"]) == (2, 7)


def test_a_moderators_removal_takes_the_stars_out(container: Container) -> None:
    settle(container, publish(container, "moderated", ACME))
    result = review(container, "moderated", 1, "spam spam spam")
    settle(container, result)
    spam = row(container, "reviews", "id = %s", result.id)
    assert spam is not None
    moderator = uuid4()
    settle(
        container,
        container.marketplace.remove_review(
            "moderated", spam["reviewer_id"], moderator, ADMIN, "spam"
        ),
    )
    assert rating_of(container, "moderated") == (0, 0, [0, 0, 0, 0, 0])


def test_the_revision_is_where_the_catalogue_last_changed(container: Container) -> None:
    result = publish(container, "revised", ACME)
    settle(container, result)
    with container.db.scoped() as conn:
        assert catalogue_revision(conn) == result.position
    # Events the catalogue does not show leave it where it was.
    container.tenancy.register_user("bystander@example.com", "bystander", "Sup3r-secret!x")
    settle(container, container.events.head())
    with container.db.scoped() as conn:
        assert catalogue_revision(conn) == result.position


def test_the_totals_hold_every_visible_review(container: Container) -> None:
    with psycopg.connect(container.database_url) as conn:
        totals = conn.execute("SELECT rating_count, rating_sum FROM catalogue.totals").fetchone()
        sums = conn.execute(
            "SELECT count(*), coalesce(sum(rating), 0) FROM catalogue.reviews"
            " WHERE status = 'visible'"
        ).fetchone()
    assert totals == sums


def test_has_deployed_marks_reviewers_whose_tenant_deployed_the_service(
    container: Container,
) -> None:
    """Deployments arrive with the deployments context; its row is written here as its
    handler will write it, and the review posted afterwards carries the badge."""
    settle(container, publish(container, "deployed", ACME))
    service = service_row(container, "deployed")
    market, tenant, user = container.marketplace, uuid4(), uuid4()
    with psycopg.connect(container.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO catalogue.deployments (deployment_id, service_id, deployer_tenant_id,"
            " requested_at) VALUES (gen_random_uuid(), %s, %s, now())",
            [service["id"], tenant],
        )
    badge = market.post_review("deployed", user, "deployer", tenant, STRANGER, 5, "works")
    plain = review(container, "deployed", 4)
    settle(container, plain)
    badges = {
        r["id"]: r["has_deployed"]
        for r in [row(container, "reviews", "id = %s", i) for i in (badge.id, plain.id)]
        if r is not None
    }
    assert badges == {badge.id: True, plain.id: False}
