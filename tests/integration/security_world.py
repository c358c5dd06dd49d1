"""The world the security tests share: one server, two teams, tokens, a viewer, an operator.

One server for the module (users cost an argon2 hash each): Alice owns `team-a` and has API
tokens there, Bob owns `team-b`, Vic is a viewer in `team-a`, Ops is a platform operator.
Every test leaves that world as it found it, or works on tenants of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from infra.container import Container
from infra.settings import Settings
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
