"""The operators' console over HTTP: every tenant and every review, for platform operators only.

The world (tests/integration/security_world.py): Alice owns team-a (Vic is a viewer there),
Bob owns team-b, Ops is a platform operator. This module adds a published service with
reviews by Bob and Carol.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.security_world import World, assert_problem, bearer, ok, register
from tests.integration.test_services_commands import publish

TENANTS = "/api/v1/admin/tenants"
REVIEWS = "/api/v1/admin/reviews"


def tenants(world: World, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    return ok(world.http.get(TENANTS, params={"wait_for": world.head, **params}, headers=auth))


def every_page(world: World, path: str, **params: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = ok(world.http.get(path, params=query, headers=world.ops["auth"]))
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_operators_see_every_tenant_with_its_members(world: World) -> None:
    rows = {t["slug"]: t for t in tenants(world, world.ops["auth"])["data"]}
    assert {"alice", "bob", "vic", "ops", "team-a", "team-b"} <= rows.keys()
    assert rows["team-a"]["member_count"] == 2  # Alice and Vic
    assert rows["team-b"]["member_count"] == 1  # Carol's invitation is still pending
    assert rows["team-a"]["kind"] == "team" and rows["alice"]["kind"] == "personal"
    assert {t["status"] for t in rows.values()} == {"active"}
    created = [t["created_at"] for t in tenants(world, world.ops["auth"])["data"]]
    assert created == sorted(created, reverse=True)


def test_search_and_filters(world: World) -> None:
    assert {t["slug"] for t in tenants(world, world.ops["auth"], q="TEAM")["data"]} == {
        "team-a",
        "team-b",
    }
    assert tenants(world, world.ops["auth"], q="%")["data"] == []  # taken literally
    personal = tenants(world, world.ops["auth"], kind="personal")["data"]
    assert {t["kind"] for t in personal} == {"personal"}


def test_a_suspended_tenant_shows_as_suspended(world: World) -> None:
    r = world.http.post(
        "/api/v1/tenants/team-b/suspend", json={"reason": "abuse"}, headers=world.ops["auth"]
    )
    position = ok(r)["position"]
    try:
        page = tenants(world, world.ops["auth"], status="suspended", wait_for=position)
        assert [t["slug"] for t in page["data"]] == ["team-b"]
    finally:
        r = world.http.post("/api/v1/tenants/team-b/reactivate", headers=world.ops["auth"])
        position = ok(r)["position"]
    page = tenants(world, world.ops["auth"], status="suspended", wait_for=position)
    assert page["data"] == []


def test_pages_cover_every_tenant_once(world: World) -> None:
    everything = [t["slug"] for t in tenants(world, world.ops["auth"], limit=100)["data"]]
    paged = [t["slug"] for t in every_page(world, TENANTS, limit=2)]
    assert paged == everything
    assert len(paged) >= 6


@pytest.mark.parametrize("path", [TENANTS, REVIEWS])
def test_only_operators_may_read(world: World, path: str) -> None:
    for who in (world.alice, world.bob, world.vic):
        assert_problem(world.http.get(path, headers=who["auth"]), 403, "platform.admin_required")
    r = world.http.get(path, headers=bearer(world.a_admin_token["token"]))
    assert_problem(r, 403, "auth.session_required")
    assert_problem(world.http.get(path), 401)


def test_access_says_who_is_an_operator(world: World) -> None:
    assert ok(world.http.get("/api/v1/admin/access", headers=world.ops["auth"])) == {
        "platform_admin": True
    }
    assert ok(world.http.get("/api/v1/admin/access", headers=world.alice["auth"])) == {
        "platform_admin": False
    }
    r = world.http.get("/api/v1/admin/access", headers=bearer(world.a_admin_token["token"]))
    assert ok(r) == {"platform_admin": False}
    assert_problem(world.http.get("/api/v1/admin/access"), 401)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (TENANTS, {"limit": 0}, "limit"),
        (TENANTS, {"limit": 101}, "limit"),
        (TENANTS, {"status": "frozen"}, "status"),
        (TENANTS, {"kind": "org"}, "kind"),
        (TENANTS, {"q": "x" * 101}, "q"),
        (TENANTS, {"q": "a\x00b"}, "q"),
        (TENANTS, {"cursor": "not-a-cursor"}, "cursor"),
        (REVIEWS, {"rating": 6}, "rating"),
        (REVIEWS, {"rating": "five"}, "rating"),
        (REVIEWS, {"cursor": "bm90IGpzb24"}, "cursor"),
        (REVIEWS, {"service": ""}, "service"),
    ],
)
def test_bad_parameters_are_problems(
    world: World, path: str, params: dict[str, Any], field: str
) -> None:
    r = world.http.get(path, params=params, headers=world.ops["auth"])
    problem = assert_problem(r, 422, "validation_failed")
    assert field in problem.get("field", "") or field in str(problem.get("errors")), problem


def test_a_moderated_review_leaves_the_list(world: World) -> None:
    publish(world, "admin-reviewed")
    carol = register(world.api, "carol-reviews")
    path = "/api/v1/services/admin-reviewed/reviews"
    ok(
        world.http.post(path, json={"rating": 1, "comment": "spam!"}, headers=world.bob["auth"]),
        201,
    )
    r = world.http.post(path, json={"rating": 4, "comment": "good"}, headers=carol["auth"])
    position = ok(r, 201)["position"]

    page = ok(
        world.http.get(
            REVIEWS,
            params={"service": "admin-reviewed", "wait_for": position},
            headers=world.ops["auth"],
        )
    )
    assert [(x["username"], x["rating"]) for x in page["data"]] == [
        ("carol-reviews", 4),
        ("bob", 1),
    ]
    spam = page["data"][1]
    assert spam["reviewer_id"] == world.bob["user_id"]
    assert spam["service_display_name"] == "Admin-Reviewed"
    one_star = every_page(world, REVIEWS, rating=1, limit=1)
    assert [x["id"] for x in one_star] == [spam["id"]]

    r = world.http.post(
        f"{path}/{spam['reviewer_id']}/remove", json={"reason": "spam"}, headers=world.ops["auth"]
    )
    position = ok(r)["position"]
    page = ok(
        world.http.get(
            REVIEWS,
            params={"service": "admin-reviewed", "wait_for": position},
            headers=world.ops["auth"],
        )
    )
    assert [x["username"] for x in page["data"]] == ["carol-reviews"]
    assert ok(
        world.http.get(REVIEWS, params={"service": "no-such"}, headers=world.ops["auth"])
    ) == {
        "data": [],
        "next_cursor": None,
    }
