"""Row-level security, checked with raw SQL as the application's own database role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from domain.marketplace.application import Acting
from domain.tenancy.values import Role
from infra.database import APP_ROLE
from projections.consistency import wait_for_position
from tests.integration.catalogue_support import details, release_body
from tests.integration.security_world import (
    World,
    ok,
)

# --- row-level security, as the application's own database role -------------------------------


@pytest.fixture
def app_conn(world: World) -> Iterator[psycopg.Connection[Any]]:
    db = world.container.db
    url = db.target.url(user=APP_ROLE, password=world.settings.app_db_password.get_secret_value())
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module", autouse=True)
def deployed(world: World) -> None:
    """A deployment with a running instance, and an async call, in each team, so their tables
    have rows to hide."""
    c = world.container
    owner = Acting(role=Role.OWNER)
    team_a = c.tenancy.tenant_by_slug("team-a")
    c.marketplace.draft("rls-time", team_a.id, "team-a", owner, details("rls-time"))
    package = {"registry": "pypi", "name": "mcp-server-time", "version": "2026.10.19"}
    packaged = {"kind": "process", "command": "mcp-server-time", "package": package}
    c.marketplace.release("rls-time", owner, "1.0.0", {**release_body(), "runtime": packaged})
    c.marketplace.publish("rls-time", owner)
    for slug, who in (("team-a", world.alice), ("team-b", world.bob)):
        tenant = c.tenancy.tenant_by_slug(slug)
        done = c.deployments.request(tenant, who["user_id"], "clock", "rls-time", None, {})
        c.deployments.record_started(done.id, f"{slug}-clock-1", 1, "pid:1", None)
        c.tasks.accept(
            tenant.id, "clock", "get_current_time", {}, token_id=None, user_id=who["user_id"]
        )
    head = c.events.head()
    for read_model in ("deployments", "tasks"):
        assert wait_for_position(c.db, read_model, head, 10, distributed=False)


def tenant_tables(world: World) -> list[str]:
    """Every read-model table holding tenant or user rows (by its columns, so new ones count)."""
    with psycopg.connect(world.container.database_url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT table_schema || '.' || table_name FROM information_schema.columns"
            " WHERE column_name IN ('tenant_id', 'user_id')"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema', 'public')"
            " ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_every_tenant_table_forces_row_level_security(world: World) -> None:
    tables = tenant_tables(world)
    assert {
        "directory.users_view",
        "directory.tenants_view",
        "directory.members_view",
        "directory.invitations_view",
        "directory.tokens_view",
        "audit.audit_view",
    } <= set(tables)
    with psycopg.connect(world.container.database_url) as conn:
        for table in tables:
            row = conn.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass",
                [table],
            ).fetchone()
            assert row == (True, True), f"{table}: RLS enabled/forced = {row}"


def count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_the_app_role_sees_no_rows_without_a_tenant(world: World, app_conn: Any) -> None:
    tables = tenant_tables(world)
    # The rows are there (the owner sees them) ...
    with psycopg.connect(world.container.database_url) as owner:
        assert all(count(owner, t) > 0 for t in tables), {t: count(owner, t) for t in tables}
    # ... but not to the app role with nothing set, nor with empty settings.
    for table in tables:
        assert count(app_conn, table) == 0, table
    app_conn.execute(
        "SELECT set_config('app.tenant_id', '', false), set_config('app.user_id', '', false)"
    )
    for table in tables:
        assert count(app_conn, table) == 0, table


def test_the_app_role_sees_only_the_tenant_it_is_scoped_to(world: World, app_conn: Any) -> None:
    team_a = ok(world.http.get("/api/v1/tenants/team-a", headers=world.alice["auth"]))["tenant_id"]
    team_b = ok(world.http.get("/api/v1/tenants/team-b", headers=world.bob["auth"]))["tenant_id"]
    with app_conn.transaction():
        app_conn.execute("SELECT set_config('app.tenant_id', %s, true)", [team_a])
        for table in tenant_tables(world):
            columns = {
                r[0]
                for r in app_conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema || '.' || table_name = %s",
                    [table],
                ).fetchall()
            }
            if "tenant_id" not in columns:
                assert count(app_conn, table) == 0, f"{table} is user-scoped: nothing by tenant"
                continue
            tenants = {
                str(r[0]) for r in app_conn.execute(f"SELECT DISTINCT tenant_id FROM {table}")
            }
            assert tenants == {team_a}, f"{table}: {tenants}"
            leaked = app_conn.execute(
                f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [team_b]
            ).fetchone()
            assert leaked == (0,), table
    # Scoped to a user: that user's row and memberships, nobody else's.
    with app_conn.transaction():
        app_conn.execute("SELECT set_config('app.user_id', %s, true)", [str(world.vic["user_id"])])
        users = app_conn.execute("SELECT user_id FROM directory.users_view").fetchall()
        assert [str(u[0]) for u in users] == [str(world.vic["user_id"])]
        members = app_conn.execute("SELECT user_id FROM directory.members_view").fetchall()
        assert {str(m[0]) for m in members} == {str(world.vic["user_id"])}
        assert count(app_conn, "directory.tokens_view") == 0
        assert count(app_conn, "audit.audit_view") == 0


def test_the_app_role_cannot_write_or_escape(world: World, app_conn: Any) -> None:
    tables = tenant_tables(world)
    attempts = [
        *(f"INSERT INTO {t} DEFAULT VALUES" for t in tables),
        *(f"UPDATE {t} SET user_id = user_id" for t in tables if t.endswith("users_view")),
        *(f"UPDATE {t} SET tenant_id = tenant_id" for t in tables if not t.endswith("users_view")),
        *(f"DELETE FROM {t}" for t in tables),
        *(f"TRUNCATE {t}" for t in tables),
        *(f"ALTER TABLE {t} DISABLE ROW LEVEL SECURITY" for t in tables),
        *(f"ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY" for t in tables),
        *(f"DROP POLICY scoped ON {t}" for t in tables),
        "CREATE TABLE directory.smuggled (x int)",
        "CREATE TABLE public.smuggled (x int)",
        "SELECT count(*) FROM mcps_events",
        "UPDATE directory.tracking SET position = 0",
        "DELETE FROM ledger.chain",
        "SET ROLE mcps",
        "SET SESSION AUTHORIZATION mcps",
    ]
    for statement in attempts:
        with pytest.raises(pg_errors.InsufficientPrivilege):
            app_conn.execute(statement)
    # Turning row security off does not turn it off for this role: the query is refused.
    app_conn.execute("SET row_security = off")
    with pytest.raises(pg_errors.InsufficientPrivilege):
        app_conn.execute("SELECT count(*) FROM directory.members_view")


def test_the_app_role_is_powerless(world: World) -> None:
    with psycopg.connect(world.container.database_url) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication, oid"
            " FROM pg_roles WHERE rolname = %s",
            [APP_ROLE],
        ).fetchone()
        assert role is not None
        assert role[:5] == (False, False, False, False, False)
        oid = role[5]
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tableowner = %s", [APP_ROLE]
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = %s", [oid]
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspowner = %s", [oid]
        ).fetchone() == (0,)
        # A member of no role, so it inherits nothing.
        assert conn.execute(
            "SELECT count(*) FROM pg_auth_members WHERE member = %s", [oid]
        ).fetchone() == (0,)
