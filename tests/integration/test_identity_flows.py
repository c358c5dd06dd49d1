"""The identity slice end to end, over HTTP against PostgreSQL, with mail over real SMTP.

Register → verify the address from the mail → sign in → create a team → invite by mail →
accept → roles → API tokens → password reset → refresh rotation → logout, and every step
in the audit log with its actor and request id, and never a password or token hash.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from tests.support import Api, MailSink

NEW_PASSWORD = "N3w-and-l0nger!"


class Story:
    """The API, with a request id per step so the audit log can be matched against it."""

    def __init__(self, api: Api, database_url: str) -> None:
        self.api = api
        self.database_url = database_url
        self.http = api.http
        self.mail = api.mail
        self.positions: list[int] = []
        self.request_ids: dict[str, str] = {}

    def call(
        self,
        step: str,
        method: str,
        path: str,
        *,
        auth: dict[str, str] | None = None,
        expect: int = 200,
        code: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        request_id = f"{step}-{uuid.uuid4().hex[:8]}"
        headers = {"X-Request-Id": request_id, **(auth or {})}
        r = self.http.request(method, path, headers=headers, **kwargs)
        assert r.status_code == expect, f"{step}: {method} {path}: {r.status_code} {r.text}"
        assert r.headers["X-Request-Id"] == request_id
        body: dict[str, Any] = r.json() if r.content else {}
        self.request_ids[step] = request_id
        if expect >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), step
            assert body["status"] == expect and body["request_id"] == request_id, body
            if code is not None:
                assert body["code"] == code, f"{step}: {body}"
            if expect == 401:
                assert r.headers["WWW-Authenticate"].startswith("Bearer"), step
        else:
            if isinstance(body, dict) and isinstance(body.get("position"), int):
                self.positions.append(body["position"])
        return body

    @property
    def head(self) -> int:
        """The end of the log: logins and refreshes record events but answer no position."""
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute("SELECT max(notification_id) FROM mcps_events").fetchone()
        assert row is not None and row[0] >= max(self.positions)
        return int(row[0])

    def login(self, email: str, password: str, step: str = "login") -> dict[str, Any]:
        pair = self.call(
            step, "POST", "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert pair["token_type"] == "bearer" and pair["expires_in"] > 0
        return {**pair, "auth": bearer(pair["access_token"])}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_all(story: Story, slug: str, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = story.http.get(
        f"/api/v1/tenants/{slug}/audit",
        params={"wait_for": story.head, "limit": 500, **params},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["next_cursor"] is None
    return list(page["data"])


def test_the_identity_slice_end_to_end(api: Api, mail: MailSink, database_url: str) -> None:
    story = Story(api, database_url)

    # --- register, and verify the address with the code from the mail ------------------------
    alice = api.register("alice")
    story.positions.append(alice["position"])
    message = mail.last_to("alice@example.com")
    assert "Verify your email" in message["Subject"]
    verification = MailSink.code_in(message)
    story.call("verify", "POST", "/api/v1/auth/verify-email", json={"token": verification})
    story.call(
        "verify-again",
        "POST",
        "/api/v1/auth/verify-email",
        json={"token": verification},
        expect=400,
        code="auth.link_invalid",
    )

    # --- sign in, who am I ------------------------------------------------------------------
    story.call(
        "bad-login",
        "POST",
        "/api/v1/auth/login",
        json={"email": "alice@example.com", "password": "Wr0ng-password"},
        expect=401,
        code="auth.invalid_credentials",
    )
    unknown = story.call(
        "unknown-login",
        "POST",
        "/api/v1/auth/login",
        json={"email": "nobody@example.com", "password": "Wr0ng-password"},
        expect=401,
        code="auth.invalid_credentials",
    )
    assert unknown["detail"] == "wrong email or password"  # the same answer: no user probing
    a = story.login("alice@example.com", alice["password"])
    me = story.call("me", "GET", "/api/v1/me", auth=a["auth"], params={"wait_for": story.head})
    assert me["user_id"] == alice["user_id"] and me["email"] == "alice@example.com"
    assert me["email_verified"] is True
    assert [(t["slug"], t["kind"], t["role"]) for t in me["tenants"]] == [
        ("alice", "personal", "owner")
    ]

    # --- a team, an invitation by mail, accepted ---------------------------------------------
    story.call(
        "create-team",
        "POST",
        "/api/v1/tenants",
        auth=a["auth"],
        json={"slug": "acme", "name": "Acme Inc"},
        expect=201,
    )
    me = story.call("me-team", "GET", "/api/v1/me", auth=a["auth"], params={"wait_for": story.head})
    assert ("acme", "team", "owner") in [(t["slug"], t["kind"], t["role"]) for t in me["tenants"]]

    bob = api.register("bob")
    story.positions.append(bob["position"])
    invited = story.call(
        "invite",
        "POST",
        "/api/v1/tenants/acme/invitations",
        auth=a["auth"],
        json={"email": "bob@example.com", "role": "member"},
        expect=201,
    )
    message = mail.last_to("bob@example.com")
    assert message["Subject"] == "You are invited to Acme Inc on MCPS.ONE"
    invitation = MailSink.code_in(message)
    assert invitation.count(".") == 2
    pending = story.call(
        "invitations",
        "GET",
        "/api/v1/tenants/acme/invitations",
        auth=a["auth"],
        params={"wait_for": story.head},
    )["data"]
    assert [(i["invitation_id"], i["email"], i["role"], i["status"]) for i in pending] == [
        (invited["invitation_id"], "bob@example.com", "member", "pending")
    ]
    assert pending[0]["invited_by"] == f"user:{alice['user_id']}"
    # Only the invited address can accept.
    story.call(
        "accept-wrong-user",
        "POST",
        "/api/v1/invitations/accept",
        auth=a["auth"],
        json={"token": invitation},
        expect=400,
        code="auth.link_invalid",
    )
    story.call(
        "accept", "POST", "/api/v1/invitations/accept", auth=bob["auth"], json={"token": invitation}
    )
    story.call(
        "accept-again",
        "POST",
        "/api/v1/invitations/accept",
        auth=bob["auth"],
        json={"token": invitation},
        expect=400,
        code="auth.link_invalid",
    )
    members = story.call(
        "members",
        "GET",
        "/api/v1/tenants/acme/members",
        auth=a["auth"],
        params={"wait_for": story.head},
    )["data"]
    assert [(m["username"], m["email"], m["role"]) for m in members] == [
        ("alice", "alice@example.com", "owner"),
        ("bob", "bob@example.com", "member"),
    ]
    invitations = story.call(
        "invitations-after",
        "GET",
        "/api/v1/tenants/acme/invitations",
        auth=a["auth"],
        params={"wait_for": story.head},
    )["data"]
    assert [i["status"] for i in invitations] == ["accepted"]
    bob_me = story.call(
        "bob-me", "GET", "/api/v1/me", auth=bob["auth"], params={"wait_for": story.head}
    )
    assert ("acme", "member") in [(t["slug"], t["role"]) for t in bob_me["tenants"]]

    # --- roles: change, the owner rules, remove, the last owner stays -------------------------
    bob_path = f"/api/v1/tenants/acme/members/{bob['user_id']}"
    alice_path = f"/api/v1/tenants/acme/members/{alice['user_id']}"
    story.call("promote", "PATCH", bob_path, auth=a["auth"], json={"role": "admin"})
    members = story.call(
        "members-admin",
        "GET",
        "/api/v1/tenants/acme/members",
        auth=a["auth"],
        params={"wait_for": story.head},
    )["data"]
    assert {m["username"]: m["role"] for m in members} == {"alice": "owner", "bob": "admin"}
    story.call(
        "self-crown",
        "PATCH",
        bob_path,
        auth=bob["auth"],
        json={"role": "owner"},
        expect=403,
        code="tenant.role_required",
    )
    story.call(
        "coup", "DELETE", alice_path, auth=bob["auth"], expect=403, code="tenant.role_required"
    )
    story.call(
        "abdicate",
        "PATCH",
        alice_path,
        auth=a["auth"],
        json={"role": "admin"},
        expect=409,
        code="tenant.last_owner",
    )
    story.call("remove", "DELETE", bob_path, auth=a["auth"])
    members = story.call(
        "members-removed",
        "GET",
        "/api/v1/tenants/acme/members",
        auth=a["auth"],
        params={"wait_for": story.head},
    )["data"]
    assert [(m["username"], m["role"]) for m in members] == [("alice", "owner")]
    story.call(
        "bob-gone",
        "GET",
        "/api/v1/tenants/acme",
        auth=bob["auth"],
        expect=404,
        code="tenant.not_found",
    )
    story.call("leave", "DELETE", alice_path, auth=a["auth"], expect=409, code="tenant.last_owner")

    # --- an API token: shown once, listed by prefix, used, revoked ----------------------------
    issued = story.call(
        "issue-token",
        "POST",
        "/api/v1/tenants/acme/tokens",
        auth=a["auth"],
        json={"name": "ci", "scopes": ["mcp:read", "admin"]},
        expect=201,
    )
    secret = issued["token"]
    assert secret.startswith("mcps_") and len(secret) > 30
    assert issued["prefix"] == secret[: len(issued["prefix"])] and len(issued["prefix"]) < 16
    assert issued["scopes"] == ["admin", "mcp:read"]
    r = api.http.get(
        "/api/v1/tenants/acme/tokens", params={"wait_for": story.head}, headers=a["auth"]
    )
    assert r.status_code == 200, r.text
    assert secret not in r.text and secret[len(issued["prefix"]) :] not in r.text
    (listed,) = r.json()["data"]
    assert (listed["id"], listed["name"], listed["prefix"]) == (
        issued["id"],
        "ci",
        issued["prefix"],
    )
    assert listed["revoked_at"] is None and "token" not in listed and "token_hash" not in listed
    token = bearer(secret)
    members = story.call("token-read", "GET", "/api/v1/tenants/acme/members", auth=token)
    assert [m["username"] for m in members["data"]] == ["alice"]
    story.call(
        "token-rename", "PATCH", "/api/v1/tenants/acme", auth=token, json={"name": "Acme Corp"}
    )
    story.call(
        "revoke-token", "POST", f"/api/v1/tenants/acme/tokens/{issued['id']}/revoke", auth=a["auth"]
    )
    story.call(
        "token-revoked",
        "GET",
        "/api/v1/tenants/acme/members",
        auth=token,
        expect=401,
        code="auth.token_invalid",
    )
    (listed,) = story.call(
        "tokens-after",
        "GET",
        "/api/v1/tenants/acme/tokens",
        auth=a["auth"],
        params={"wait_for": story.head},
    )["data"]
    assert listed["revoked_at"] is not None

    # --- password reset: no tell for unknown addresses, single-use link -----------------------
    unknown_reset = story.call(
        "reset-unknown",
        "POST",
        "/api/v1/auth/password-reset",
        json={"email": "nobody@example.com"},
        expect=202,
    )
    known_reset = story.call(
        "reset",
        "POST",
        "/api/v1/auth/password-reset",
        json={"email": "alice@example.com"},
        expect=202,
    )
    assert unknown_reset == known_reset == {"status": "accepted"}
    message = mail.last_to("alice@example.com")
    assert message["Subject"] == "Reset your MCPS.ONE password"
    # Mail is sent before the 202, so had there been one for the unknown address, it'd be here.
    assert not [m for m in mail.messages if m["To"] == "nobody@example.com"]
    reset = MailSink.code_in(message)
    story.call(
        "reset-confirm",
        "POST",
        "/api/v1/auth/password-reset/confirm",
        json={"token": reset, "password": NEW_PASSWORD},
    )
    story.call(
        "login-old-password",
        "POST",
        "/api/v1/auth/login",
        json={"email": "alice@example.com", "password": alice["password"]},
        expect=401,
        code="auth.invalid_credentials",
    )
    story.call(
        "reset-again",
        "POST",
        "/api/v1/auth/password-reset/confirm",
        json={"token": reset, "password": "An0ther-password!"},
        expect=400,
        code="auth.link_invalid",
    )

    # --- refresh rotation: a reused refresh token ends the session ----------------------------
    first = story.login("alice@example.com", NEW_PASSWORD, "login-new-password")
    second = story.call(
        "refresh", "POST", "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    story.call("refreshed-works", "GET", "/api/v1/me", auth=bearer(second["access_token"]))
    story.call(
        "refresh-reuse",
        "POST",
        "/api/v1/auth/refresh",
        json={"refresh_token": first["refresh_token"]},
        expect=401,
        code="auth.token_invalid",
    )
    story.call(
        "session-ended",
        "GET",
        "/api/v1/me",
        auth=bearer(second["access_token"]),
        expect=401,
        code="auth.token_invalid",
    )
    story.call(
        "refresh-after-end",
        "POST",
        "/api/v1/auth/refresh",
        json={"refresh_token": second["refresh_token"]},
        expect=401,
    )

    # --- logout ------------------------------------------------------------------------------
    third = story.login("alice@example.com", NEW_PASSWORD, "login-to-logout")
    story.call("logout", "POST", "/api/v1/auth/logout", auth=third["auth"], expect=204)
    story.call(
        "logged-out", "GET", "/api/v1/me", auth=third["auth"], expect=401, code="auth.token_invalid"
    )
    story.call(
        "refresh-logged-out",
        "POST",
        "/api/v1/auth/refresh",
        json={"refresh_token": third["refresh_token"]},
        expect=401,
    )

    # --- the audit log: every step, who and which request, nothing secret ---------------------
    auditor = story.login("alice@example.com", NEW_PASSWORD, "login-auditor")["auth"]
    team = audit_all(story, "acme", auditor)
    personal = audit_all(story, "alice", auditor)
    alice_actor, bob_actor = f"user:{alice['user_id']}", f"user:{bob['user_id']}"
    expected_team = [
        ("tenancy.Tenant.Created", alice_actor, "create-team"),
        ("tenancy.Tenant.InvitationIssued", alice_actor, "invite"),
        ("tenancy.Tenant.InvitationAccepted", bob_actor, "accept"),
        ("tenancy.Tenant.MemberAdded", bob_actor, "accept"),
        ("tenancy.Tenant.MemberRoleChanged", alice_actor, "promote"),
        ("tenancy.Tenant.MemberRemoved", alice_actor, "remove"),
        ("tenancy.ApiToken.Issued", alice_actor, "issue-token"),
        ("tenancy.Tenant.Renamed", f"token:{issued['id']}", "token-rename"),
        ("tenancy.ApiToken.Revoked", alice_actor, "revoke-token"),
    ]
    assert_audit(story, team, expected_team)
    assert all(e["client_ip"] == "127.0.0.1" for e in team)
    added = next(e for e in team if e["event_type"] == "tenancy.Tenant.MemberAdded")
    assert added["data"] == {
        "user_id": bob["user_id"],
        "username": "bob",
        "email": "bob@example.com",
        "role": "member",
    }
    expected_personal = [
        ("tenancy.User.Registered", "anonymous", None),
        ("tenancy.User.VerificationRequested", "anonymous", None),
        ("tenancy.Tenant.Created", "anonymous", None),
        ("tenancy.Session.Started", alice_actor, None),  # the sign-in of `Api.register`
        ("tenancy.User.EmailVerified", "anonymous", "verify"),
        ("tenancy.Session.Started", alice_actor, "login"),
        ("tenancy.User.PasswordResetRequested", "anonymous", "reset"),
        ("tenancy.User.PasswordChanged", "anonymous", "reset-confirm"),
        ("tenancy.Session.Started", alice_actor, "login-new-password"),
        ("tenancy.Session.Refreshed", alice_actor, "refresh"),
        ("tenancy.Session.Ended", alice_actor, "refresh-reuse"),
        ("tenancy.Session.Started", alice_actor, "login-to-logout"),
        ("tenancy.Session.Ended", alice_actor, "logout"),
        ("tenancy.Session.Started", alice_actor, "login-auditor"),
    ]
    assert_audit(story, personal, expected_personal)
    ended = [e["data"]["reason"] for e in personal if e["event_type"] == "tenancy.Session.Ended"]
    assert ended == ["logout", "refresh_token_reused"]  # newest first
    # Hashes and sealed secrets are redacted, and no secret we saw is anywhere in the log.
    redacted = {
        ("tenancy.User.Registered", "password_hash"),
        ("tenancy.User.VerificationRequested", "token_hash"),
        ("tenancy.User.PasswordResetRequested", "token_hash"),
        ("tenancy.User.PasswordChanged", "password_hash"),
        ("tenancy.Session.Started", "refresh_hash"),
        ("tenancy.Session.Refreshed", "refresh_hash"),
        ("tenancy.Tenant.InvitationIssued", "token_hash"),
        ("tenancy.ApiToken.Issued", "token_hash"),
    }
    for entry in team + personal:
        for key, value in entry["data"].items():
            if key.endswith("_hash") or (entry["event_type"], key) in redacted:
                assert value == "[redacted]", (entry["event_type"], key, value)
    seen = {(e["event_type"], k) for e in team + personal for k in e["data"]}
    assert redacted <= seen
    text = json.dumps(team + personal)
    for leaked in (
        alice["password"],
        NEW_PASSWORD,
        verification.split(".")[1],
        reset.split(".")[1],
        invitation.split(".")[2],
        secret,
        first["refresh_token"].split(".")[1],
        second["refresh_token"].split(".")[1],
        "sealed:v1:",
        "$argon2",
    ):
        assert leaked not in text, f"the audit log shows {leaked!r}"

    # --- the audit log pages by cursor, newest first, and filters ------------------------------
    everything = [e["position"] for e in team]
    assert everything == sorted(everything, reverse=True)
    paged: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = story.call(
            "audit-page", "GET", "/api/v1/tenants/acme/audit", auth=auditor, params=params
        )
        assert len(page["data"]) <= 2
        paged += [e["position"] for e in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == everything and pages >= len(everything) // 2
    members_only = audit_all(story, "acme", auditor, type="tenancy.Tenant.Member")
    assert {e["event_type"] for e in members_only} == {
        "tenancy.Tenant.MemberAdded",
        "tenancy.Tenant.MemberRoleChanged",
        "tenancy.Tenant.MemberRemoved",
    }
    by_bob = audit_all(story, "acme", auditor, actor=bob_actor)
    assert [e["event_type"] for e in by_bob] == [
        "tenancy.Tenant.MemberAdded",
        "tenancy.Tenant.InvitationAccepted",
    ]


def assert_audit(
    story: Story, entries: list[dict[str, Any]], expected: list[tuple[str, str, str | None]]
) -> None:
    """The entries, oldest first, are exactly the expected steps with their actors and requests."""
    oldest_first = list(reversed(entries))
    got = [(e["event_type"], e["actor"]) for e in oldest_first]
    assert got == [(t, actor) for t, actor, _ in expected], json.dumps(got, indent=1)
    for entry, (event_type, _, step) in zip(oldest_first, expected, strict=True):
        assert entry["request_id"], entry
        if step is not None:
            assert entry["request_id"] == story.request_ids[step], (event_type, step)
        assert entry["tenant_id"] is not None and entry["aggregate_version"] >= 1
