"""Security over the real API and database: forged credentials, isolation, row-level security.

One server for the module (users cost an argon2 hash each): Alice owns `team-a` and has API
tokens there, Bob owns `team-b`, Vic is a viewer in `team-a`, Ops is a platform operator.
Every test leaves that world as it found it, or works on tenants of its own.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from psycopg import errors as pg_errors

from infra.container import Container
from infra.database import APP_ROLE
from infra.settings import DEV_SECRET, Settings
from tests.support import (
    Api,
    MailSink,
    live_server,
    mail_sink,
    make_settings,
    running_container,
    throwaway_database,
)

PASSWORD = "Sup3r-secret!"


@dataclass
class World:
    api: Api
    mail: MailSink
    settings: Settings
    container: Container
    alice: dict[str, Any]
    bob: dict[str, Any]
    vic: dict[str, Any]
    ops: dict[str, Any]
    a_token: dict[str, Any]  # Alice's token in team-a, scope mcp:read (acts as a viewer)
    a_admin_token: dict[str, Any]  # Alice's token in team-a with the admin scope
    b_token: dict[str, Any]  # Bob's token in team-b
    b_invitation: str  # a pending invitation of team-b
    head: int

    @property
    def http(self) -> httpx.Client:
        return self.api.http

    def events(self) -> int:
        with psycopg.connect(self.container.database_url) as conn:
            row = conn.execute("SELECT count(*) FROM mcps_events").fetchone()
        assert row is not None
        return int(row[0])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else {}


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    what = f"{r.request.method} {r.request.url.path}"
    assert r.status_code == status, f"{what}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json"), what
    body: dict[str, Any] = r.json()
    assert {"type", "title", "status", "code"} <= body.keys(), body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, f"{what}: {body}"
    if status == 401:
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), what
    return body


def register(api: Api, username: str, email: str | None = None) -> dict[str, Any]:
    """`Api.register`, but with any email address (platform operators are listed by email)."""
    email = email or f"{username}@example.com"
    r = api.http.post(
        "/api/v1/auth/register", json={"email": email, "username": username, "password": PASSWORD}
    )
    registered = ok(r, 201)
    pair = ok(api.http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}))
    return {
        **registered,
        **pair,
        "email": email,
        "auth": bearer(pair["access_token"]),
        "session_id": uuid.UUID(hex=pair["refresh_token"].split(".")[0]),
    }


def issue_token(api: Api, who: dict[str, Any], slug: str, scopes: list[str]) -> dict[str, Any]:
    r = api.http.post(
        f"/api/v1/tenants/{slug}/tokens",
        json={"name": f"{slug}-{'-'.join(s.replace(':', '') for s in scopes)}", "scopes": scopes},
        headers=who["auth"],
    )
    return ok(r, 201)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with throwaway_database() as url, mail_sink() as mail:
        settings = make_settings(url, tmp_path_factory.mktemp("security"), smtp_port=mail.port)
        with running_container(settings) as container, live_server(container) as base_url:
            api = Api(base_url, mail)
            alice, bob, vic = (register(api, n) for n in ("alice", "bob", "vic"))
            ops = register(api, "ops", "ops@mcps.one")
            for who, slug in ((alice, "team-a"), (bob, "team-b")):
                r = api.http.post(
                    "/api/v1/tenants", json={"slug": slug, "name": slug}, headers=who["auth"]
                )
                ok(r, 201)
            r = api.http.post(
                "/api/v1/tenants/team-a/invitations",
                json={"email": vic["email"], "role": "viewer"},
                headers=alice["auth"],
            )
            ok(r, 201)
            code = MailSink.code_in(mail.last_to(vic["email"]))
            ok(
                api.http.post(
                    "/api/v1/invitations/accept", json={"token": code}, headers=vic["auth"]
                )
            )
            r = api.http.post(
                "/api/v1/tenants/team-b/invitations",
                json={"email": "carol@example.com"},
                headers=bob["auth"],
            )
            b_invitation = ok(r, 201)["invitation_id"]
            a_token = issue_token(api, alice, "team-a", ["mcp:read"])
            a_admin_token = issue_token(api, alice, "team-a", ["admin", "mcp:read"])
            b_token = issue_token(api, bob, "team-b", ["admin"])
            head = max(a_token["position"], a_admin_token["position"], b_token["position"])
            # Every read model has caught up before the tests look at rows.
            for slug, who in (("team-a", alice), ("team-b", bob)):
                ok(
                    api.http.get(
                        f"/api/v1/tenants/{slug}/audit",
                        params={"wait_for": head},
                        headers=who["auth"],
                    )
                )
            try:
                yield World(
                    api,
                    mail,
                    settings,
                    container,
                    alice,
                    bob,
                    vic,
                    ops,
                    a_token,
                    a_admin_token,
                    b_token,
                    b_invitation,
                    head,
                )
            finally:
                api.http.close()


# --- forged, expired and revoked credentials ----------------------------------------------------


def mint(
    world: World,
    who: dict[str, Any],
    *,
    key: str = DEV_SECRET,
    algorithm: str = "HS256",
    **overrides: Any,
) -> str:
    """A session JWT as the server would issue it, with one thing changed."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(who["user_id"]),
        "sid": str(who["session_id"]),
        "iss": world.settings.auth.jwt_issuer,
        "aud": world.settings.auth.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HS512 with a 41-byte key: short on purpose
        return jwt.encode(claims, key, algorithm=algorithm)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def flip_signature_char(token: str) -> str:
    head, payload, signature = token.split(".")
    # Not the last character: its low bits are padding, so changing it may change nothing.
    i = len(signature) // 2
    swapped = "A" if signature[i] != "A" else "B"
    return f"{head}.{payload}.{signature[:i]}{swapped}{signature[i + 1 :]}"


def test_the_dev_secret_is_what_the_test_server_signs_with(world: World) -> None:
    """The control: a token minted here is accepted, so each forgery below fails for its flaw."""
    assert world.settings.auth.jwt_secret.get_secret_value() == DEV_SECRET
    ok(world.http.get("/api/v1/me", headers=bearer(mint(world, world.alice))))


FORGERIES = {
    "tampered signature": lambda w: flip_signature_char(w.alice["access_token"]),
    "tampered payload": lambda w: ".".join(
        [
            w.alice["access_token"].split(".")[0],
            b64(
                {
                    **jwt.decode(w.alice["access_token"], options={"verify_signature": False}),
                    "sub": str(w.bob["user_id"]),
                    "sid": str(w.bob["session_id"]),
                }
            ),
            w.alice["access_token"].split(".")[2],
        ]
    ),
    "expired": lambda w: mint(
        w,
        w.alice,
        exp=datetime.now(UTC) - timedelta(seconds=30),
        iat=datetime.now(UTC) - timedelta(minutes=20),
        nbf=datetime.now(UTC) - timedelta(minutes=20),
    ),
    "not yet valid": lambda w: mint(w, w.alice, nbf=datetime.now(UTC) + timedelta(hours=1)),
    "alg none": lambda w: (
        b64({"alg": "none", "typ": "JWT"}) + "." + mint(w, w.alice).split(".")[1] + "."
    ),
    "alg none, uppercase": lambda w: (
        b64({"alg": "NONE", "typ": "JWT"}) + "." + mint(w, w.alice).split(".")[1] + "."
    ),
    "HS512 with the right key": lambda w: mint(w, w.alice, algorithm="HS512"),
    "wrong audience": lambda w: mint(w, w.alice, aud="someone-else"),
    "wrong issuer": lambda w: mint(w, w.alice, iss="evil.example"),
    "signed with another key": lambda w: mint(w, w.alice, key="another-key-" + "x" * 32),
    "no expiry": lambda w: mint(w, w.alice, exp=None),
    "no session id": lambda w: mint(w, w.alice, sid=None),
    "unknown session": lambda w: mint(w, w.alice, sid=str(uuid.uuid4())),
    "subject not a uuid": lambda w: mint(w, w.alice, sub="alice"),
    "garbage": lambda w: "not.a.jwt",
    "an API-token look-alike": lambda w: "mcps_" + "A" * 40,
    "an overlong API-token look-alike": lambda w: "mcps_" + "A" * 5000,
    "a refresh token as access token": lambda w: w.alice["refresh_token"],
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_credentials_are_401(world: World, forgery: str) -> None:
    token = FORGERIES[forgery](world)
    for method, path in (("GET", "/api/v1/me"), ("GET", "/api/v1/tenants/team-a/members")):
        r = world.http.request(method, path, headers=bearer(token))
        assert_problem(r, 401, "auth.token_invalid")


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic YWxpY2U6c2VjcmV0", "Token abc", "bearer"],
)
def test_missing_or_malformed_authorization_is_401(world: World, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert_problem(world.http.get("/api/v1/me", headers=headers), 401, "auth.token_invalid")


def test_a_revoked_session_is_401(world: World) -> None:
    pair = ok(
        world.http.post(
            "/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
        )
    )
    auth = bearer(pair["access_token"])
    ok(world.http.get("/api/v1/me", headers=auth))
    assert world.http.post("/api/v1/auth/logout", headers=auth).status_code == 204
    assert_problem(world.http.get("/api/v1/me", headers=auth), 401, "auth.token_invalid")
    # A freshly signed token for the ended session is refused too: the session is checked.
    session = {"user_id": pair_user(world, pair), "session_id": session_of(pair)}
    assert_problem(world.http.get("/api/v1/me", headers=bearer(mint(world, session))), 401)
    r = world.http.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert_problem(r, 401)


def pair_user(world: World, pair: dict[str, Any]) -> str:
    return str(jwt.decode(pair["access_token"], options={"verify_signature": False})["sub"])


def session_of(pair: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(hex=pair["refresh_token"].split(".")[0])


def test_a_revoked_api_token_is_401(world: World) -> None:
    token = issue_token(world.api, world.alice, "team-a", ["mcp:read"])
    ok(world.http.get("/api/v1/tenants/team-a/members", headers=bearer(token["token"])))
    r = world.http.post(
        f"/api/v1/tenants/team-a/tokens/{token['id']}/revoke", headers=world.alice["auth"]
    )
    ok(r)
    r = world.http.get("/api/v1/tenants/team-a/members", headers=bearer(token["token"]))
    assert_problem(r, 401, "auth.token_invalid")


def test_an_expired_api_token_is_401(world: World) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=3)
    r = world.http.post(
        "/api/v1/tenants/team-a/tokens",
        json={"name": "short-lived", "scopes": ["mcp:read"], "expires_at": expires.isoformat()},
        headers=world.alice["auth"],
    )
    token = ok(r, 201)["token"]
    if datetime.now(UTC) < expires - timedelta(seconds=1):  # a loaded machine may be late
        ok(world.http.get("/api/v1/tenants/team-a/members", headers=bearer(token)))
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    r = world.http.get("/api/v1/tenants/team-a/members", headers=bearer(token))
    assert_problem(r, 401, "auth.token_invalid")


def test_a_suspended_tenants_tokens_stop_working(world: World) -> None:
    api, bob, ops = world.api, world.bob, world.ops
    ok(
        api.http.post("/api/v1/tenants", json={"slug": "team-s", "name": "S"}, headers=bob["auth"]),
        201,
    )
    token = issue_token(api, bob, "team-s", ["admin"])["token"]
    ok(api.http.get("/api/v1/tenants/team-s/members", headers=bearer(token)))
    # Only platform operators suspend: not the tenant's own owner.
    r = api.http.post(
        "/api/v1/tenants/team-s/suspend", json={"reason": "abuse"}, headers=bob["auth"]
    )
    assert_problem(r, 403, "platform.admin_required")
    ok(
        api.http.post(
            "/api/v1/tenants/team-s/suspend", json={"reason": "abuse"}, headers=ops["auth"]
        )
    )
    for method, path in (
        ("GET", "/api/v1/tenants/team-s/members"),
        ("GET", "/api/v1/me"),
        ("PATCH", "/api/v1/tenants/team-s"),
    ):
        r = api.http.request(method, path, json={"name": "x"}, headers=bearer(token))
        assert_problem(r, 403, "tenant.suspended")
    # Commands of the owner's session are refused as well; reactivation restores the token.
    r = api.http.patch("/api/v1/tenants/team-s", json={"name": "renamed"}, headers=bob["auth"])
    assert_problem(r, 403, "tenant.suspended")
    ok(api.http.post("/api/v1/tenants/team-s/reactivate", headers=ops["auth"]))
    ok(api.http.get("/api/v1/tenants/team-s/members", headers=bearer(token)))


# --- tenant isolation -------------------------------------------------------------------------


def foreign_requests(w: World) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """Everything one could try on team-b, and B's ids smuggled in through team-a's paths.

    Each comes with its ghost: the same request on something that does not exist. A refusal
    must not tell them apart, or it leaks that B's tenant, member, token or invitation exists.
    """
    b, token_id, inv = str(w.bob["user_id"]), w.b_token["id"], w.b_invitation
    on_b = [
        ("GET", "/api/v1/tenants/team-b", None),
        ("PATCH", "/api/v1/tenants/team-b", {"name": "pwned"}),
        ("GET", "/api/v1/tenants/team-b/members", None),
        ("PATCH", f"/api/v1/tenants/team-b/members/{b}", {"role": "viewer"}),
        ("DELETE", f"/api/v1/tenants/team-b/members/{b}", None),
        ("GET", "/api/v1/tenants/team-b/invitations", None),
        ("POST", "/api/v1/tenants/team-b/invitations", {"email": "mallory@example.com"}),
        ("DELETE", f"/api/v1/tenants/team-b/invitations/{inv}", None),
        ("GET", "/api/v1/tenants/team-b/tokens", None),
        ("POST", "/api/v1/tenants/team-b/tokens", {"name": "x", "scopes": ["admin"]}),
        ("POST", f"/api/v1/tenants/team-b/tokens/{token_id}/revoke", None),
        ("DELETE", f"/api/v1/tenants/team-b/tokens/{token_id}", None),
        ("GET", "/api/v1/tenants/team-b/audit", None),
        ("GET", "/api/v1/tenants/bob", None),
        ("GET", "/api/v1/tenants/bob/members", None),
        ("GET", "/api/v1/tenants/bob/audit", None),
    ]
    smuggled = [
        ("POST", f"/api/v1/tenants/team-a/tokens/{token_id}/revoke", None),
        ("DELETE", f"/api/v1/tenants/team-a/tokens/{token_id}", None),
        ("DELETE", f"/api/v1/tenants/team-a/invitations/{inv}", None),
        ("PATCH", f"/api/v1/tenants/team-a/members/{b}", {"role": "viewer"}),
        ("DELETE", f"/api/v1/tenants/team-a/members/{b}", None),
    ]
    ghost_id = str(uuid.uuid4())
    out = []
    for method, path, body in on_b:
        ghost = path.replace("/team-b", "/team-zz").replace("/bob", "/nobody-here")
        out.append((method, path, ghost, body))
    for method, path, body in smuggled:
        ghost = path.replace(str(token_id), ghost_id).replace(str(inv), ghost_id)
        out.append((method, path, ghost.replace(b, ghost_id), body))
    return out


@pytest.mark.parametrize("credential", ["session", "api token", "admin api token"])
def test_tenant_a_can_never_read_or_change_tenant_b(world: World, credential: str) -> None:
    auth = {
        "session": world.alice["auth"],
        "api token": bearer(world.a_token["token"]),
        "admin api token": bearer(world.a_admin_token["token"]),
    }[credential]
    before = world.events()
    for method, path, ghost_path, body in foreign_requests(world):
        r = world.http.request(method, path, json=body, headers=auth)
        ghost = world.http.request(method, ghost_path, json=body, headers=auth)
        if "/team-a/" in path:
            # Own tenant, B's ids: refused (a read-only token by its scope), like unknown ids.
            assert r.status_code in (403, 404), f"{method} {path}: {r.status_code} {r.text}"
            problem = assert_problem(r, r.status_code)
        else:
            problem = assert_problem(r, 404)
        ghost_problem = assert_problem(ghost, r.status_code)
        assert (problem["code"], problem["detail"]) == (
            ghost_problem["code"],
            ghost_problem["detail"],
        ), (method, path)
    assert world.events() == before, "a refused cross-tenant request recorded events"
    # Bob's world is intact.
    ok(world.http.get("/api/v1/tenants/team-b/members", headers=bearer(world.b_token["token"])))
    tenant = ok(world.http.get("/api/v1/tenants/team-b", headers=world.bob["auth"]))
    assert tenant["name"] == "team-b"
    members = ok(world.http.get("/api/v1/tenants/team-b/members", headers=world.bob["auth"]))
    assert [(m["username"], m["role"]) for m in members["data"]] == [("bob", "owner")]


def test_an_api_token_sees_only_its_own_tenant(world: World) -> None:
    token = bearer(world.a_token["token"])
    listed = ok(world.http.get("/api/v1/tenants", headers=token))
    assert [t["slug"] for t in listed] == ["team-a"]
    assert_problem(world.http.get("/api/v1/tenants/alice", headers=token), 404)


def test_a_viewer_cannot_do_admin_things(world: World) -> None:
    a, vic = world.alice, world.vic
    auth = vic["auth"]
    ok(world.http.get("/api/v1/tenants/team-a/members", headers=auth))
    tenant = ok(world.http.get("/api/v1/tenants/team-a", headers=auth))
    assert tenant["role"] == "viewer"
    before = world.events()
    denied = [
        ("PATCH", "/api/v1/tenants/team-a", {"name": "viewer was here"}),
        ("GET", "/api/v1/tenants/team-a/invitations", None),
        ("POST", "/api/v1/tenants/team-a/invitations", {"email": "friend@example.com"}),
        ("DELETE", f"/api/v1/tenants/team-a/invitations/{uuid.uuid4()}", None),
        ("PATCH", f"/api/v1/tenants/team-a/members/{a['user_id']}", {"role": "viewer"}),
        ("PATCH", f"/api/v1/tenants/team-a/members/{vic['user_id']}", {"role": "owner"}),
        ("DELETE", f"/api/v1/tenants/team-a/members/{a['user_id']}", None),
        ("GET", "/api/v1/tenants/team-a/audit", None),
        ("GET", "/api/v1/tenants/team-a/tokens", None),
        ("POST", "/api/v1/tenants/team-a/tokens", {"name": "v", "scopes": ["mcp:read"]}),
        ("POST", f"/api/v1/tenants/team-a/tokens/{world.a_token['id']}/revoke", None),
        ("POST", "/api/v1/tenants/team-a/suspend", {"reason": "because"}),
    ]
    for method, path, body in denied:
        r = world.http.request(method, path, json=body, headers=auth)
        assert_problem(r, 403)
    assert world.events() == before
    ok(world.http.get("/api/v1/tenants/team-a/members", headers=bearer(world.a_token["token"])))


def test_a_token_without_the_admin_scope_is_read_only(world: World) -> None:
    auth = bearer(world.a_token["token"])  # Alice is the owner; her token is capped at viewer
    ok(world.http.get("/api/v1/tenants/team-a/members", headers=auth))
    before = world.events()
    for method, path, body in (
        ("PATCH", "/api/v1/tenants/team-a", {"name": "token was here"}),
        ("POST", "/api/v1/tenants/team-a/invitations", {"email": "friend@example.com"}),
        ("GET", "/api/v1/tenants/team-a/audit", None),
        ("POST", "/api/v1/tenants/team-a/tokens", {"name": "child", "scopes": ["admin"]}),
    ):
        assert_problem(world.http.request(method, path, json=body, headers=auth), 403)
    # And no token, whatever its scopes, acts as a person.
    for token in (world.a_token, world.a_admin_token):
        for method, path, body in (
            ("PATCH", "/api/v1/me", {"display_name": "token"}),
            ("POST", "/api/v1/me/password", {"old_password": PASSWORD, "new_password": "X" * 12}),
            ("POST", "/api/v1/tenants", {"slug": "token-team", "name": "t"}),
            ("POST", "/api/v1/auth/logout", None),
            ("POST", "/api/v1/invitations/accept", {"token": "a.b.c"}),
            ("POST", "/api/v1/tenants/team-a/suspend", {"reason": "token"}),
        ):
            r = world.http.request(method, path, json=body, headers=bearer(token["token"]))
            assert_problem(r, 403, "auth.session_required")
    assert world.events() == before


# --- row-level security, as the application's own database role -------------------------------


@pytest.fixture
def app_conn(world: World) -> Iterator[psycopg.Connection[Any]]:
    db = world.container.db
    url = db.target.url(user=APP_ROLE, password=world.settings.app_db_password.get_secret_value())
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


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
