"""Row-level security of the catalogue, checked with raw SQL as the application's own role.

Listed services, their versions and visible reviews are for everyone; drafts (and everything
about them) only for the publishing tenant, named in `app.tenant_ids` (or `app.tenant_id`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import errors as pg_errors

from infra.container import Container
from infra.database import APP_ROLE
from tests.integration.catalogue_support import (
    OWNER,
    STRANGER,
    catalogue_container,
    draft,
    new_publisher,
    publish,
    release_body,
    review,
    settle,
)

ACME = new_publisher("acme")
ZETA = new_publisher("zeta")
SECURED = ("services", "versions", "reviews", "deployments", "deployment_days")


@pytest.fixture(scope="module")
def container() -> Iterator[Container]:
    """acme: `listed` (reviewed), `hidden` (a draft), `pulled` (reviewed, then unpublished);
    zeta: `other-draft`. One deployment row and one day of deployments per service."""
    with catalogue_container() as c:
        publish(c, "listed", ACME)
        review(c, "listed", 5)
        draft(c, "hidden", ACME)
        c.marketplace.release("hidden", OWNER, "0.1.0", release_body())
        publish(c, "pulled", ACME)
        review(c, "pulled", 2)
        c.marketplace.unpublish("pulled", OWNER, "pulled")
        settle(c, draft(c, "other-draft", ZETA))
        with psycopg.connect(c.database_url, autocommit=True) as owner:
            owner.execute(
                "INSERT INTO catalogue.deployments (deployment_id, service_id, deployer_tenant_id,"
                " requested_at) SELECT gen_random_uuid(), id, publisher_id, now()"
                " FROM catalogue.services"
            )
            owner.execute(
                "INSERT INTO catalogue.deployment_days (service_id, day, deployments)"
                " SELECT id, current_date, 1 FROM catalogue.services"
            )
        yield c


@pytest.fixture
def app_conn(container: Container) -> Iterator[psycopg.Connection[Any]]:
    password = container.settings.app_db_password.get_secret_value()
    with psycopg.connect(container.db.target.url(user=APP_ROLE, password=password)) as conn:
        yield conn


@pytest.fixture(scope="module")
def named(container: Container) -> dict[UUID, str]:
    """Every service's name by id, as the owner sees them."""
    with psycopg.connect(container.database_url) as owner:
        return dict(owner.execute("SELECT id, name FROM catalogue.services").fetchall())


def visible(
    conn: psycopg.Connection[Any], named: dict[UUID, str], table: str, **settings: str
) -> set[str]:
    """The services whose rows in `table` the app role sees with these `app.*` settings."""
    with conn.transaction():
        for key, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, true)", [f"app.{key}", value])
        column = "id" if table == "services" else "service_id"
        rows = conn.execute(f"SELECT {column} FROM catalogue.{table}").fetchall()
    return {named[r[0]] for r in rows}


def ids(*publishers: tuple[UUID, str]) -> str:
    return ",".join(str(p[0]) for p in publishers)


def test_the_tables_force_row_level_security(container: Container) -> None:
    with psycopg.connect(container.database_url) as conn:
        for table in SECURED:
            row = conn.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass",
                [f"catalogue.{table}"],
            ).fetchone()
            assert row == (True, True), table


def test_without_settings_only_listed_services_show(app_conn: Any, named: Any) -> None:
    assert visible(app_conn, named, "services") == {"listed"}
    assert visible(app_conn, named, "versions") == {"listed"}
    assert visible(app_conn, named, "reviews") == {"listed"}  # pulled's review went with it
    assert visible(app_conn, named, "deployment_days") == {"listed"}
    assert visible(app_conn, named, "deployments") == set()  # who deployed what is private
    assert visible(app_conn, named, "services", tenant_ids="", tenant_id="") == {"listed"}


def test_the_public_listing_holds_no_draft(app_conn: Any) -> None:
    rows = app_conn.execute("SELECT name FROM catalogue.listing").fetchall()
    assert rows == [("listed",)]


def test_a_tenant_sees_its_own_drafts_and_nobody_elses(app_conn: Any, named: Any) -> None:
    mine = {"listed", "hidden", "pulled"}
    assert visible(app_conn, named, "services", tenant_ids=ids(ACME)) == mine
    assert visible(app_conn, named, "versions", tenant_ids=ids(ACME)) == mine
    assert visible(app_conn, named, "reviews", tenant_ids=ids(ACME)) == {"listed", "pulled"}
    assert visible(app_conn, named, "services", tenant_ids=ids(ZETA)) == {"listed", "other-draft"}
    assert visible(app_conn, named, "services", tenant_ids=ids(ZETA, ACME)) == mine | {
        "other-draft"
    }
    assert visible(app_conn, named, "services", tenant_id=str(ACME[0])) == mine
    assert visible(app_conn, named, "deployments", tenant_ids=ids(ACME)) == set()


def test_removed_reviews_are_hidden_from_everyone(
    container: Container, app_conn: Any, named: Any
) -> None:
    with psycopg.connect(container.database_url) as owner:
        row = owner.execute(
            "SELECT reviewer_id FROM catalogue.reviews r JOIN catalogue.services s"
            " ON s.id = r.service_id WHERE s.name = 'listed'"
        ).fetchone()
    assert row is not None
    author = row[0]
    settle(container, container.marketplace.remove_review("listed", author, author, OWNER, "x"))
    try:
        assert visible(app_conn, named, "reviews", tenant_ids=ids(ACME)) == {"pulled"}
    finally:
        settle(
            container,
            container.marketplace.post_review("listed", author, "again", ZETA[0], STRANGER, 5, ""),
        )


def test_the_app_role_cannot_write_the_catalogue(app_conn: Any) -> None:
    app_conn.autocommit = True
    for statement in (
        "UPDATE catalogue.services SET featured = true",
        "UPDATE catalogue.listing SET featured = true",
        "DELETE FROM catalogue.reviews",
        "INSERT INTO catalogue.listing DEFAULT VALUES",
        "UPDATE catalogue.totals SET rating_count = 0",
        "ALTER TABLE catalogue.services DISABLE ROW LEVEL SECURITY",
        "DROP POLICY scoped ON catalogue.services",
    ):
        with pytest.raises(pg_errors.InsufficientPrivilege):
            app_conn.execute(statement)
