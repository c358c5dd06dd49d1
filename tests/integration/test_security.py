"""Security over the real API: forged, expired and revoked credentials, tenant isolation."""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from infra.settings import DEV_SECRET
from tests.integration.security_world import (
    PASSWORD,
    World,
    assert_problem,
    bearer,
    issue_token,
    ok,
)

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
