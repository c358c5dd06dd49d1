"""The catalogue over HTTP: anonymous and signed-in callers, drafts, money, paging, 404s.

The world (tests/integration/security_world.py): Alice owns team-a (and has tokens there),
Bob owns team-b, Vic is a viewer in team-a. Services are recorded through the `Marketplace`
application; every read goes through the live API with `wait_for`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from api.routes import catalogue
from api.schemas_catalogue import (
    CategoriesPublic,
    ReviewsPage,
    ServicePublic,
    ServicesPage,
    VersionsPublic,
)
from domain.marketplace.values import Category
from tests.integration.catalogue_support import (
    OWNER,
    draft,
    publish,
    release_body,
    review,
    settle,
)
from tests.integration.security_world import PASSWORD, World, assert_problem, bearer, ok
from tests.support import live_server, make_settings, running_container, throwaway_database

ANONYMOUS: dict[str, str] = {}


@pytest.fixture(scope="module")
def listed(world: World) -> Iterator[int]:
    """team-a lists `api-weather` and keeps `api-draft` in draft; team-b lists `api-time`."""
    c = world.container
    team_a = (c.tenancy.tenant_by_slug("team-a").id, "team-a")
    team_b = (c.tenancy.tenant_by_slug("team-b").id, "team-b")
    publish(
        c,
        "api-weather",
        team_a,
        runtime="docker",
        description="Forecasts. 天气预报。",
        tags=["weather"],
        category="data",
        pricing={"model": "FREEMIUM", "price_per_request": "0.0025", "free_calls_per_month": 100},
    )
    publish(c, "api-time", team_b, tags=["time"], category="productivity")
    draft(c, "api-draft", team_a, description="Not ready for the weather yet.", tags=["weather"])
    last = c.marketplace.release("api-draft", OWNER, "0.1.0", release_body())
    for rating in (5, 4, 4):
        last = review(c, "api-weather", rating, f"{rating} stars")
    yield last.position


def get(world: World, path: str, auth: dict[str, str], position: int, **params: Any) -> Any:
    return world.http.get(path, params={"wait_for": position, **params}, headers=auth)


def found(world: World, auth: dict[str, str], position: int, **params: Any) -> list[str]:
    page = ServicesPage.model_validate(ok(get(world, "/api/v1/services", auth, position, **params)))
    return [s.name for s in page.data]


def test_anonymous_callers_see_listed_services_only(world: World, listed: int) -> None:
    assert found(world, ANONYMOUS, listed, q="weather") == ["api-weather"]
    assert set(found(world, ANONYMOUS, listed)) == {"api-weather", "api-time"}
    r = get(world, "/api/v1/services/api-draft", ANONYMOUS, listed)
    assert_problem(r, 404, "service.not_found")


@pytest.mark.parametrize("who", ["alice", "vic", "a_token"])
def test_the_publishing_tenant_sees_its_drafts(world: World, listed: int, who: str) -> None:
    """Every member, with a session or with the tenant's API token."""
    auth = bearer(world.a_token["token"]) if who == "a_token" else getattr(world, who)["auth"]
    assert set(found(world, auth, listed, q="weather")) == {"api-weather", "api-draft"}
    detail = ServicePublic.model_validate(
        ok(get(world, "/api/v1/services/api-draft", auth, listed))
    )
    assert (detail.status, detail.publisher.slug) == ("draft", "team-a")
    versions = ok(get(world, "/api/v1/services/api-draft/versions", auth, listed))
    assert [v["version"] for v in versions["data"]] == ["0.1.0"]


@pytest.mark.parametrize("who", ["bob", "b_token"])
def test_other_tenants_do_not_see_the_drafts(world: World, listed: int, who: str) -> None:
    auth = bearer(world.b_token["token"]) if who == "b_token" else world.bob["auth"]
    assert found(world, auth, listed, q="weather") == ["api-weather"]
    for path in ("", "/versions", "/reviews"):
        r = get(world, f"/api/v1/services/api-draft{path}", auth, listed)
        assert_problem(r, 404, "service.not_found")


def test_a_bad_token_is_refused_even_where_anonymous_callers_are_welcome(world: World) -> None:
    r = world.http.get("/api/v1/services", headers=bearer("not-a-token"))
    assert_problem(r, 401)


def test_the_service_page(world: World, listed: int) -> None:
    body = ok(get(world, "/api/v1/services/api-weather", ANONYMOUS, listed))
    assert body["pricing"] == {
        "model": "FREEMIUM",
        "price_per_request": "0.0025",  # a string: money is never a float
        "free_calls_per_month": 100,
        "currency": "USD",
    }
    assert body["rating"]["count"] == 3
    assert body["rating"]["average"] == pytest.approx(13 / 3)
    assert body["rating"]["histogram"] == {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1}
    assert body["latest_version"] == "1.0.0"
    assert body["latest_release"]["runtime"]["kind"] == "docker"
    assert body["latest_release"]["changelog"] == "First release."
    assert body["publisher"] == {"slug": "team-a"}
    assert body["deployment_count"] == 0
    ServicePublic.model_validate(body)


def test_reviews_are_paged_newest_first(world: World, listed: int) -> None:
    path = "/api/v1/services/api-weather/reviews"
    first = ReviewsPage.model_validate(ok(get(world, path, ANONYMOUS, listed, limit=2)))
    assert [r.comment for r in first.data] == ["4 stars", "4 stars"]
    assert first.next_cursor is not None
    rest = ReviewsPage.model_validate(
        ok(get(world, path, ANONYMOUS, listed, limit=2, cursor=first.next_cursor))
    )
    assert [r.comment for r in rest.data] == ["5 stars"]
    assert rest.next_cursor is None
    assert not any(r.has_deployed for r in first.data + rest.data)
    r = get(world, path, ANONYMOUS, listed, cursor="garbage")
    assert_problem(r, 422, "validation_failed")
    assert r.json()["field"] == "cursor"


def test_search_pages_carry_facets_total_and_a_cursor(world: World, listed: int) -> None:
    body = ok(get(world, "/api/v1/services", ANONYMOUS, listed, limit=1, sort="newest"))
    page = ServicesPage.model_validate(body)
    assert page.total == 2 and len(page.data) == 1 and page.next_cursor
    assert {f.value for f in page.facets.category} == {"data", "productivity"}
    assert page.data[0].relevance is None
    nxt = ok(
        get(world, "/api/v1/services", ANONYMOUS, listed, sort="newest", cursor=page.next_cursor)
    )
    assert [s["name"] for s in nxt["data"]] == ["api-weather"]
    r = get(world, "/api/v1/services", ANONYMOUS, listed, sort="rating", cursor=page.next_cursor)
    assert_problem(r, 422, "validation_failed")
    hits = ok(get(world, "/api/v1/services", ANONYMOUS, listed, q="天气", tags="weather"))
    assert [s["name"] for s in hits["data"]] == ["api-weather"]
    assert hits["data"][0]["relevance"] > 0


def test_versions_are_listed_newest_first(world: World, listed: int) -> None:
    body = VersionsPublic.model_validate(
        ok(get(world, "/api/v1/services/api-weather/versions", ANONYMOUS, listed))
    )
    assert [(v.version, v.yanked) for v in body.data] == [("1.0.0", False)]


def test_categories_count_listed_services(world: World, listed: int) -> None:
    body = CategoriesPublic.model_validate(ok(get(world, "/api/v1/categories", ANONYMOUS, listed)))
    assert [c.category for c in body.data] == list(Category)
    counts = {c.category.value: c.count for c in body.data}
    assert counts["data"] == 1 and counts["productivity"] == 1
    assert counts["other"] == 0  # the draft is in "other" and does not count


def test_unknown_services_are_404_problems(world: World, listed: int) -> None:
    for path in ("", "/versions", "/reviews"):
        r = get(world, f"/api/v1/services/no-such-service{path}", world.alice["auth"], listed)
        assert_problem(r, 404, "service.not_found")


def test_anonymous_answers_follow_changes_without_wait_for(world: World, listed: int) -> None:
    """Answers are reused while the catalogue is unchanged, and not for long after."""

    def sundials() -> list[str]:
        body = ok(world.http.get("/api/v1/services", params={"q": "sundial"}))
        return [s["name"] for s in body["data"]]

    assert sundials() == []
    assert sundials() == []  # now from the cache
    team_a = (world.container.tenancy.tenant_by_slug("team-a").id, "team-a")
    publish(world.container, "api-sundial", team_a, description="A sundial.")
    deadline = time.monotonic() + 10
    while not sundials():
        assert time.monotonic() < deadline, "the new service never showed"
        time.sleep(0.05)
    assert sundials() == ["api-sundial"]


def test_a_cold_process_under_concurrent_searches_does_not_starve_its_pool(
    tmp_path: Path,
) -> None:
    """The first searches of a process also read from the pool (is pg_trgm there, the
    catalogue's revision); they must do so before taking their own connection, or a few
    concurrent ones hold every connection while waiting for one more."""
    with (
        throwaway_database() as url,
        running_container(make_settings(url, tmp_path, postgres_pool_size=1)) as container,
        live_server(container) as base_url,
        ThreadPoolExecutor(max_workers=4) as clients,
    ):
        assert container.db.app.max_size == 2

        def search(i: int) -> int:
            with httpx.Client(base_url=base_url, timeout=60) as http:
                return http.get("/api/v1/services", params={"q": f"word{i}"}).status_code

        assert list(clients.map(search, range(4))) == [200] * 4


# --- answers before routing (api.catalogue_early) --------------------------------------------


@pytest.fixture
def early(world: World, monkeypatch: pytest.MonkeyPatch) -> Callable[[], float]:
    """How many answers went out before routing so far; the revision is read once a minute
    meanwhile, so that a slow machine cannot make an answer due a read between requests."""
    monkeypatch.setattr(catalogue.answers(world.container), "poll", 60.0)

    def count() -> float:
        return sum(
            REGISTRY.get_sample_value("mcps_catalogue_early_answers_total", {"status": s}) or 0
            for s in ("200", "304")
        )

    return count


def _comparable(r: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in r.headers.items() if k not in ("x-request-id", "date")}
    return r.status_code, headers, r.content


@pytest.mark.parametrize(
    "path, query",
    [
        ("/api/v1/services", "q=weather&category=data&limit=5"),
        ("/api/v1/services", ""),
        ("/api/v1/categories", ""),
    ],
)
def test_a_repeated_anonymous_read_is_answered_early_exactly_as_the_route_answers_it(
    world: World, listed: int, early: Callable[[], float], path: str, query: str
) -> None:
    ok(get(world, path, ANONYMOUS, listed))  # the catalogue has caught up
    url = f"{path}?{query}"
    before = early()
    routed = world.http.get(url)
    assert early() == before  # the route answered, and keeps the answer
    again = world.http.get(url)
    assert early() == before + 1
    assert _comparable(again) == _comparable(routed)
    assert routed.status_code == 200 and routed.headers["etag"]
    assert again.headers["x-request-id"] != routed.headers["x-request-id"]

    # A client holding the answer is told so, by the route and by the early answer alike.
    held = {"If-None-Match": routed.headers["etag"]}
    reordered = "&".join(reversed(query.split("&"))) + "&"  # the same request, new to the cache
    not_modified = world.http.get(f"{path}?{reordered}", headers=held)
    assert early() == before + 1
    early_not_modified = world.http.get(f"{path}?{reordered}", headers=held)
    assert early() == before + 2
    assert _comparable(early_not_modified) == _comparable(not_modified)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == routed.headers["etag"]
    changed = world.http.get(url, headers={"If-None-Match": '"something-else"'})
    assert _comparable(changed) == _comparable(routed)


def test_a_draft_never_reaches_another_caller_through_the_kept_answers(
    world: World, listed: int, early: Callable[[], float]
) -> None:
    """Kept answers are per caller's drafts. Answered early: anonymous callers, and callers
    this process has just checked and found without drafts (they see the same)."""
    query = {"q": "weather", "sort": "newest"}
    callers = {
        "alice": (world.alice["auth"], {"api-weather", "api-draft"}),
        "a_token": (bearer(world.a_token["token"]), {"api-weather", "api-draft"}),
        "anonymous": (ANONYMOUS, {"api-weather"}),
        "bob": (world.bob["auth"], {"api-weather"}),
        "b_token": (bearer(world.b_token["token"]), {"api-weather"}),
    }
    ok(get(world, "/api/v1/services", ANONYMOUS, listed))  # caught up

    def seen(auth: dict[str, str]) -> set[str]:
        body = ok(world.http.get("/api/v1/services", params=query, headers=auth))
        return {s["name"] for s in body["data"]}

    answered_early = dict.fromkeys(callers, 0.0)
    for _ in range(3):  # in turns, each caller's answer kept: nobody gets another's
        for who, (auth, expected) in callers.items():
            before = early()
            assert seen(auth) == expected, who
            answered_early[who] += early() - before
    # The first turn is routed (and checks the caller); those with drafts are always routed.
    assert answered_early == {"alice": 0, "a_token": 0, "anonymous": 2, "bob": 2, "b_token": 2}

    # A session that ends is refused at once, though its searches were answered early.
    login = {"email": world.bob["email"], "password": PASSWORD}
    session = bearer(ok(world.http.post("/api/v1/auth/login", json=login))["access_token"])
    assert seen(session) == seen(session) == {"api-weather"}
    assert world.http.post("/api/v1/auth/logout", headers=session).status_code == 204
    r = world.http.get("/api/v1/services", params=query, headers=session)
    assert_problem(r, 401, "auth.token_invalid")


def test_what_the_route_would_refuse_or_answer_otherwise_is_never_answered_early(
    world: World, listed: int, early: Callable[[], float]
) -> None:
    ok(get(world, "/api/v1/services", ANONYMOUS, listed))
    ok(world.http.get("/api/v1/services", params={"q": "time"}))
    ok(world.http.get("/api/v1/services", params={"q": "time"}))  # now kept and aliased
    before = early()
    for _ in range(2):
        for bad in ({"limit": "0"}, {"category": "nope"}, {"q": "x\x00"}, {"sort": "price"}):
            assert_problem(world.http.get("/api/v1/services", params=bad), 422)
        r = world.http.get("/api/v1/services", params={"q": "time"}, headers=bearer("bad"))
        assert_problem(r, 401)
        ok(world.http.get("/api/v1/services", params={"q": "time", "wait_for": listed}))
        r = world.http.get(
            "/api/v1/services", params={"q": "time"}, headers={"X-Consistent-After": str(listed)}
        )
        ok(r)
        r = world.http.get(
            "/api/v1/services", params={"q": "time"}, headers={"X-Consistent-After": "-1"}
        )
        assert_problem(r, 422)
        assert world.http.post("/api/v1/services", params={"q": "time"}).status_code != 200
    assert early() == before


def test_answers_computed_again_after_a_change_keep_each_callers_view(
    world: World, listed: int
) -> None:
    """A new draft reaches its tenant's kept answer, and nobody else's, while the kept
    answers are given out of date and computed again in the background."""
    query = {"q": "barometer"}
    a_token = bearer(world.a_token["token"])
    team_a = (world.container.tenancy.tenant_by_slug("team-a").id, "team-a")
    ok(get(world, "/api/v1/services", ANONYMOUS, listed))

    def seen(auth: dict[str, str]) -> list[str]:
        body = ok(world.http.get("/api/v1/services", params=query, headers=auth))
        return [s["name"] for s in body["data"]]

    for _ in range(2):  # kept, and answered early for anonymous callers
        assert seen(ANONYMOUS) == seen(world.bob["auth"]) == seen(a_token) == []
    draft(world.container, "api-barometer", team_a, description="A barometer, not public.")
    deadline = time.monotonic() + 10
    while seen(a_token) != ["api-barometer"]:
        assert seen(ANONYMOUS) == seen(world.bob["auth"]) == []
        assert time.monotonic() < deadline, "the draft never reached its tenant's answer"
        time.sleep(0.05)
    for _ in range(20):
        assert seen(ANONYMOUS) == seen(world.bob["auth"]) == []
        assert seen(world.alice["auth"]) == seen(a_token) == ["api-barometer"]


def test_a_callers_new_draft_shows_at_once_after_its_write_and_soon_without_waiting(
    world: World, listed: int
) -> None:
    """Which of a caller's tenants have drafts is kept a moment (`auth.cache_seconds`), so a
    search does not read it each time; a read after the caller's own write reads it again."""
    query = {"q": "hygrometer"}
    team_b = (world.container.tenancy.tenant_by_slug("team-b").id, "team-b")

    def seen(auth: dict[str, str], **params: Any) -> list[str]:
        body = ok(world.http.get("/api/v1/services", params={**query, **params}, headers=auth))
        return [s["name"] for s in body["data"]]

    assert seen(world.bob["auth"]) == []  # Bob has no drafts: that is kept now
    result = draft(world.container, "api-hygrometer", team_b, description="Humidity, in draft.")
    assert seen(world.bob["auth"], wait_for=result.position) == ["api-hygrometer"]
    assert seen(ANONYMOUS, wait_for=result.position) == []
    deadline = time.monotonic() + 10
    while seen(bearer(world.b_token["token"])) != ["api-hygrometer"]:  # without wait_for
        assert time.monotonic() < deadline, "the draft never reached its tenant's token"
        time.sleep(0.05)
    assert seen(world.alice["auth"]) == seen(ANONYMOUS) == []


def test_a_service_just_published_shows_to_the_next_visitor_on_a_quiet_catalogue(
    world: World, listed: int
) -> None:
    """Answers kept from before a change are given out of date only while the catalogue
    changes faster than they are computed again; on a quiet one the next request waits
    for its own (a signed-in caller without drafts had left it under anonymous callers')."""
    query = {"sort": "newest", "category": "finance"}
    r = world.http.get(
        "/api/v1/services", params={**query, "wait_for": listed}, headers=world.bob["auth"]
    )
    assert ok(r)["data"] == []
    for _ in range(2):  # kept, then answered early
        assert ok(world.http.get("/api/v1/services", params=query))["data"] == []
    time.sleep(1.1)  # past the grace in which a change may not show yet
    team_a = (world.container.tenancy.tenant_by_slug("team-a").id, "team-a")
    settle(world.container, publish(world.container, "api-ledger", team_a, category="finance"))
    for auth in (ANONYMOUS, world.bob["auth"]):
        names = [
            s["name"]
            for s in ok(world.http.get("/api/v1/services", params=query, headers=auth))["data"]
        ]
        assert names == ["api-ledger"]
