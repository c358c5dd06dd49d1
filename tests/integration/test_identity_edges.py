"""Identity edge cases over HTTP: idempotent repeats, and links that work only for their purpose."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support import Api, MailSink

NEW_PASSWORD = "N3w-and-l0nger!"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_repeating_a_command_that_changes_nothing_is_not_an_error(
    api: Api, database_url: str
) -> None:
    """Renaming to the same name, re-granting a role, revoking twice: answered, not a 500."""
    api.http.headers["Connection"] = "close"  # a 500 drops the connection: don't reuse it
    owner = api.register("idem")
    auth = owner["auth"]
    r = api.http.post("/api/v1/tenants", json={"slug": "same", "name": "Same"}, headers=auth)
    assert r.status_code == 201, r.text
    team_version = r.json()["version"]
    r = api.http.post(
        "/api/v1/tenants/same/tokens", json={"name": "t", "scopes": ["mcp:read"]}, headers=auth
    )
    assert r.status_code == 201, r.text
    token = r.json()
    r = api.http.post(f"/api/v1/tenants/same/tokens/{token['id']}/revoke", headers=auth)
    assert r.status_code == 200, r.text
    token_version = r.json()["version"]

    with psycopg.connect(database_url) as conn:

        def events() -> int:
            row = conn.execute("SELECT count(*) FROM mcps_events").fetchone()
            assert row is not None
            return int(row[0])

        before = events()
        repeats: list[tuple[str, str, dict[str, Any] | None, int | None]] = [
            ("PATCH", "/api/v1/tenants/same", {"name": "Same"}, team_version),
            (
                "PATCH",
                f"/api/v1/tenants/same/members/{owner['user_id']}",
                {"role": "owner"},
                team_version,
            ),
            ("POST", f"/api/v1/tenants/same/tokens/{token['id']}/revoke", None, token_version),
            ("DELETE", f"/api/v1/tenants/same/tokens/{token['id']}", None, token_version),
            ("PATCH", "/api/v1/me", {"display_name": "idem"}, None),
        ]
        failures = []
        for method, path, body, version in repeats:
            r = api.http.request(method, path, json=body, headers=auth)
            if r.status_code != 200:
                failures.append((method, path, r.status_code, r.text[:120]))
            elif version is not None and r.json()["version"] != version:
                failures.append((method, path, "version", r.json()["version"], version))
        assert not failures, failures
        assert events() == before, "a command that changed nothing recorded events"
    r = api.http.get("/api/v1/tenants/same/members", headers=bearer(token["token"]))
    assert r.status_code == 401


def test_each_link_only_works_for_its_purpose(api: Api, mail: MailSink) -> None:
    """A verification code is no reset code, and an invitation code is neither."""
    carol = api.register("carol")
    verification = MailSink.code_in(mail.last_to("carol@example.com"))
    r = api.http.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": verification, "password": NEW_PASSWORD},
    )
    assert r.status_code == 400 and r.json()["code"] == "auth.link_invalid", r.text
    r = api.http.post("/api/v1/auth/password-reset", json={"email": "carol@example.com"})
    assert r.status_code == 202
    reset = MailSink.code_in(mail.last_to("carol@example.com"))
    r = api.http.post("/api/v1/auth/verify-email", json={"token": reset})
    assert r.status_code == 400 and r.json()["code"] == "auth.link_invalid", r.text
    r = api.http.post("/api/v1/invitations/accept", json={"token": reset}, headers=carol["auth"])
    assert r.status_code == 400 and r.json()["code"] == "auth.link_invalid", r.text
    # Both still work for what they are.
    r = api.http.post("/api/v1/auth/verify-email", json={"token": verification})
    assert r.status_code == 200, r.text
    r = api.http.post(
        "/api/v1/auth/password-reset/confirm", json={"token": reset, "password": NEW_PASSWORD}
    )
    assert r.status_code == 200, r.text
    r = api.http.post(
        "/api/v1/auth/login", json={"email": "carol@example.com", "password": NEW_PASSWORD}
    )
    assert r.status_code == 200, r.text
