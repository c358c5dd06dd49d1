"""Marketplace commands over HTTP: who may change a service, what bad input gets, and that a
refused command records nothing. Queries (search, detail) are tested with the catalogue.

The world (tests/integration/security_world.py): Alice owns team-a, Vic is a viewer there,
Bob owns team-b, Ops is a platform operator. This module adds Adam (admin) and Mia (member).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.security_world import (
    MailSink,
    World,
    assert_problem,
    bearer,
    ok,
    register,
)

ANON: dict[str, str] = {}


def service_body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "publisher": "team-a",
        "display_name": name.title(),
        "description": "Time and timezones. 时间和时区。",
        "category": "productivity",
        "tags": ["time"],
        "pricing": {"model": "PAID", "price_per_request": "0.0025", "currency": "USD"},
        **extra,
    }


def version_body(version: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": version,
        "changelog": "notes",
        "runtime": {
            "kind": "process",
            "command": "mcp-server-time",
            "package": {"registry": "pypi", "name": "mcp-server-time", "version": "2026.10.19"},
            "env": {"TZ": "{{config.timezone}}"},
        },
        "config_schema": {
            "type": "object",
            "properties": {
                "timezone": {"type": "string"},
                "key": {"type": "string", "writeOnly": True},
            },
        },
        "tools": [{"name": "get_current_time", "input_schema": {"type": "object"}}],
        **extra,
    }


def join(world: World, username: str, role: str) -> dict[str, Any]:
    who = register(world.api, username)
    r = world.http.post(
        "/api/v1/tenants/team-a/invitations",
        json={"email": who["email"], "role": role},
        headers=world.alice["auth"],
    )
    ok(r, 201)
    code = MailSink.code_in(world.mail.last_to(who["email"]))
    ok(world.http.post("/api/v1/invitations/accept", json={"token": code}, headers=who["auth"]))
    return who


@pytest.fixture(scope="module")
def team(world: World) -> Iterator[dict[str, dict[str, str]]]:
    adam, mia = join(world, "adam", "admin"), join(world, "mia", "member")
    yield {
        "owner": world.alice["auth"],
        "admin": adam["auth"],
        "member": mia["auth"],
        "viewer": world.vic["auth"],
        "viewer-token": bearer(world.a_token["token"]),
        "admin-token": bearer(world.a_admin_token["token"]),
        "other": world.bob["auth"],
        "other-token": bearer(world.b_token["token"]),
        "ops": world.ops["auth"],
    }


def draft(world: World, name: str, auth: dict[str, str] | None = None) -> dict[str, Any]:
    r = world.http.post(
        "/api/v1/services", json=service_body(name), headers=auth or world.alice["auth"]
    )
    return ok(r, 201)


def release(world: World, name: str, version: str = "1.0.0") -> dict[str, Any]:
    r = world.http.post(
        f"/api/v1/services/{name}/versions", json=version_body(version), headers=world.alice["auth"]
    )
    return ok(r, 201)


def publish(world: World, name: str) -> None:
    draft(world, name)
    release(world, name)
    ok(world.http.post(f"/api/v1/services/{name}/publish", headers=world.alice["auth"]))


def test_the_publishing_flow(world: World, team: dict[str, dict[str, str]]) -> None:
    accepted = draft(world, "flow-time")
    assert {"id", "version", "position"} <= accepted.keys()
    release(world, "flow-time", "1.0.0")
    release(world, "flow-time", "1.1.0-rc.1")
    r = world.http.post("/api/v1/services/flow-time/publish", headers=team["admin-token"])
    assert int(r.headers["X-Consistent-After"]) == ok(r)["position"]
    exported = ok(world.http.get("/api/v1/services/flow-time/server.json"))
    assert exported["name"] == "one.mcps/flow-time"
    assert exported["version"] == "1.1.0-rc.1"
    assert exported["_meta"]["one.mcps/service"]["pricing"]["price_per_request"] == "0.0025"
    r = world.http.get("/api/v1/services/flow-time/server.json", params={"version": "1.0.0"})
    assert ok(r)["version"] == "1.0.0"
    ok(
        world.http.post(
            "/api/v1/services/flow-time/versions/1.1.0-rc.1/yank",
            json={"reason": "bad"},
            headers=team["owner"],
        )
    )
    assert ok(world.http.get("/api/v1/services/flow-time/server.json"))["version"] == "1.0.0"
    ok(world.http.post("/api/v1/services/flow-time/unpublish", json={}, headers=team["owner"]))
    r = world.http.get("/api/v1/services/flow-time/server.json")
    assert_problem(r, 404, "service.not_found")
    assert ok(world.http.get("/api/v1/services/flow-time/server.json", headers=team["viewer"]))


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("owner", 200),
        ("admin", 200),
        ("admin-token", 200),
        ("member", 403),
        ("viewer", 403),
        ("viewer-token", 403),
        ("other", 404),
        ("other-token", 404),
        ("anonymous", 401),
    ],
)
def test_who_may_change_a_draft(
    world: World, team: dict[str, dict[str, str]], who: str, status: int
) -> None:
    name = f"perm-{who}"
    draft(world, name)
    before = world.events()
    auth = team.get(who, ANON)
    r = world.http.patch(f"/api/v1/services/{name}", json={"display_name": "X"}, headers=auth)
    if status == 200:
        ok(r)
    else:
        assert_problem(r, status)
        assert world.events() == before
    r = world.http.post(
        f"/api/v1/services/{name}/versions", json=version_body("1.0.0"), headers=auth
    )
    assert r.status_code == (201 if status == 200 else status), r.text


def test_a_published_service_is_no_secret_but_still_not_yours(
    world: World, team: dict[str, dict[str, str]]
) -> None:
    publish(world, "perm-listed")
    r = world.http.patch(
        "/api/v1/services/perm-listed", json={"display_name": "X"}, headers=team["other"]
    )
    assert_problem(r, 403, "service.permission_denied")


@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 201), ("admin", 201), ("member", 403), ("viewer", 403), ("other", 404)],
)
def test_who_may_draft_for_a_tenant(
    world: World, team: dict[str, dict[str, str]], who: str, status: int
) -> None:
    r = world.http.post("/api/v1/services", json=service_body(f"new-{who}"), headers=team[who])
    if status == 201:
        ok(r, 201)
    else:
        assert_problem(r, status)


def test_names_are_unique(world: World, team: dict[str, dict[str, str]]) -> None:
    draft(world, "clash")
    body = service_body("clash", publisher="team-b")
    r = world.http.post("/api/v1/services", json=body, headers=team["other"])
    assert_problem(r, 409, "service.name_taken")


BAD_SERVICES = [
    ({"name": "Bad_Name"}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"icon_url": "javascript:alert(1)"}, "icon_url"),
    ({"category": "games"}, "category"),
    ({"tags": ["no spaces"]}, "tags.0"),
    ({"pricing": {"model": "PAID", "price_per_request": "-0.01"}}, "pricing.price_per_request"),
    ({"pricing": {"model": "PAID", "price_per_request": "0.00001"}}, "pricing.price_per_request"),
    ({"pricing": {"model": "PAID", "price_per_request": "abc"}}, "pricing.price_per_request"),
    ({"description": "x" * 20_001}, "description"),
    ({"display_name": ""}, "display_name"),
]
BAD_VERSIONS = [
    ({"version": "v1"}, "version"),
    ({"version": "1.0"}, "version"),
    ({"version": "0.9.0"}, "version"),
    ({"config_schema": {"type": "nope"}}, "config_schema"),
    ({"runtime": {"kind": "remote", "url": "ftp://x"}}, "runtime.url"),
    ({"runtime": {"kind": "docker", "image": "no-tag"}}, "runtime.image"),
    ({"tools": [{"name": "a"}, {"name": "a"}]}, "tools.1.name"),
    ({"tools": [{"name": "a", "input_schema": {"type": 1}}]}, "tools.0.input_schema"),
]


@pytest.mark.parametrize(("change", "field"), BAD_SERVICES)
def test_bad_services_are_refused_whole(
    world: World, team: dict[str, dict[str, str]], change: dict[str, Any], field: str
) -> None:
    before = world.events()
    body = service_body("bad-service") | change
    r = world.http.post("/api/v1/services", json=body, headers=team["owner"])
    problem = assert_problem(r, 422)
    assert problem["field"] == field, problem
    assert world.events() == before


@pytest.mark.parametrize(("change", "field"), BAD_VERSIONS)
def test_bad_versions_are_refused_whole(
    world: World, team: dict[str, dict[str, str]], change: dict[str, Any], field: str
) -> None:
    if not world.http.get(
        "/api/v1/services/bad-version/server.json", headers=team["owner"]
    ).is_success:
        draft(world, "bad-version")
        release(world, "bad-version", "1.0.0")
    before = world.events()
    body = version_body("2.0.0") | change
    r = world.http.post("/api/v1/services/bad-version/versions", json=body, headers=team["owner"])
    problem = assert_problem(r, 422)
    assert problem["field"] == field, problem
    assert world.events() == before


def test_reviews(world: World, team: dict[str, dict[str, str]]) -> None:
    publish(world, "reviewed")
    path = "/api/v1/services/reviewed/reviews"
    ok(world.http.post(path, json={"rating": 5, "comment": "great"}, headers=team["other"]), 201)
    r = world.http.post(path, json={"rating": 1}, headers=team["other"])
    assert_problem(r, 409, "review.exists")
    assert_problem(world.http.post(path, json={"rating": 6}, headers=team["other"]), 422)
    r = world.http.post(path, json={"rating": 5}, headers=team["member"])
    assert_problem(r, 403, "service.permission_denied")
    assert_problem(world.http.post(path, json={"rating": 5}), 401)
    ok(world.http.put(f"{path}/me", json={"rating": 4, "comment": "good"}, headers=team["other"]))
    r = world.http.post(
        f"{path}/{world.bob['user_id']}/remove", json={"reason": "x"}, headers=team["owner"]
    )
    assert_problem(r, 403, "platform.admin_required")
    r = world.http.post(
        f"{path}/{world.bob['user_id']}/remove", json={"reason": "spam"}, headers=team["ops"]
    )
    ok(r)
    r = world.http.post(path, json={"rating": 5}, headers=team["other"])
    assert_problem(r, 403, "review.moderated")


def test_only_operators_feature(world: World, team: dict[str, dict[str, str]]) -> None:
    publish(world, "featured")
    r = world.http.post("/api/v1/services/featured/feature", json={}, headers=team["owner"])
    assert_problem(r, 403, "service.permission_denied")
    ok(world.http.post("/api/v1/services/featured/feature", json={}, headers=team["ops"]))
