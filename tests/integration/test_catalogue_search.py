"""Catalogue search on real PostgreSQL: relevance, filters, facets, sorts and paging.

One catalogue for the module, built through the `Marketplace` application and projected by
the embedded log projectors; every test reads it as the app role, under row-level security.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from domain.marketplace.application import Acting
from infra.container import Container
from projections.catalogue_search import InvalidCursorError, SearchParams, Sort, search
from tests.integration.catalogue_support import (
    OWNER,
    catalogue_container,
    draft,
    find,
    names,
    new_publisher,
    publish,
    release_body,
    review,
    settle,
)

ACME = new_publisher("acme")
ZETA = new_publisher("zeta")


@pytest.fixture(scope="module")
def catalogue() -> Iterator[Container]:
    with catalogue_container() as c:
        dev = {"category": "developer-tools"}
        publish(
            c, "git", ACME, description="Read and search git repositories.", tags=["vcs"], **dev
        )
        publish(
            c,
            "github",
            ACME,
            runtime="remote",
            display_name="GitHub",
            description="Issues and pull requests.",
            tags=["git", "vcs"],
            pricing={
                "model": "FREEMIUM",
                "price_per_request": "0.001",
                "free_calls_per_month": 1000,
            },
            **dev,
        )
        publish(c, "gitlab-tools", ZETA, display_name="GitLab", tags=["vcs"], **dev)
        publish(
            c, "legit-check", ZETA, description="Is this invoice legitimate?", category="finance"
        )
        publish(
            c,
            "weather",
            ACME,
            runtime="docker",
            display_name="Weather",
            description="Forecasts for any city.",
            tags=["weather", "forecast"],
            category="data",
            pricing={"model": "PAID", "price_per_request": "0.0025", "currency": "USD"},
        )
        publish(c, "meteo", ZETA, display_name="Forecast Hub", category="data")
        publish(
            c, "climate", ZETA, description="Long-term data.", tags=["weather"], category="data"
        )
        publish(c, "storm-watch", ZETA, description="Alerts when the weather turns, no forecast.")
        publish(
            c,
            "tianqi",
            ZETA,
            display_name="天气助手",
            description="提供全国城市的天气预报和空气质量指数。",
            tags=["中文", "天气"],
            category="data",
        )
        publish(c, "time", ACME, tags=["time", "timezone"], category="productivity")
        draft(c, "secret-weather", ACME, tags=["weather"], category="data")
        c.marketplace.release("secret-weather", OWNER, "0.1.0", release_body("remote"))
        settle(c, c.marketplace.feature("weather", Acting(role=None, platform_admin=True), True))
        yield c


# --- relevance -----------------------------------------------------------------------------


def test_the_exact_name_comes_first(catalogue: Container) -> None:
    result = find(catalogue, q="git")
    assert names(result)[0] == "git"
    assert {"github", "gitlab-tools"} <= set(names(result))


def test_name_beats_tag_beats_description(catalogue: Container) -> None:
    order = names(find(catalogue, q="weather"))
    assert order.index("weather") < order.index("climate") < order.index("storm-watch")


def test_display_name_beats_description(catalogue: Container) -> None:
    order = names(find(catalogue, q="forecast"))
    # meteo: display name (B); weather: a tag (C) and its description (D); storm-watch: D.
    assert order.index("meteo") < order.index("weather") < order.index("storm-watch")
    assert names(find(catalogue, q="forecast hub"))[0] == "meteo"


def test_partial_words_match(catalogue: Container) -> None:
    assert {"meteo", "weather", "storm-watch"} <= set(names(find(catalogue, q="forec")))


def test_a_typo_still_finds_the_service(catalogue: Container) -> None:
    assert names(find(catalogue, q="weathr"))[0] == "weather"
    assert "github" in names(find(catalogue, q="githb"))


def test_chinese_text_is_found_by_any_part_of_it(catalogue: Container) -> None:
    for query in ("天气", "天气预报", "预报", "空气质量", "天"):
        assert "tianqi" in names(find(catalogue, q=query)), query
    # Pairs must be adjacent: these characters appear, but not in this order.
    assert "tianqi" not in names(find(catalogue, q="报预"))


def test_without_pg_trgm_substrings_still_match_but_typos_do_not(catalogue: Container) -> None:
    """The embedded server of `./run up` has no pg_trgm: the fallback is a title substring."""
    with catalogue.db.scoped() as conn:
        assert set(names(search(conn, SearchParams(q="eathe"), trigram=False))) == {
            "weather",
            "climate",  # its tag
        }
        assert names(search(conn, SearchParams(q="weathr"), trigram=False)) == []
        assert names(search(conn, SearchParams(q="git"), trigram=False))[0] == "git"


def test_a_query_matching_nothing_finds_nothing(catalogue: Container) -> None:
    result = find(catalogue, q="zzqxv")
    assert (result.total, result.data, result.next_cursor) == (0, [], None)


def test_drafts_are_found_only_by_their_publisher(catalogue: Container) -> None:
    assert "secret-weather" not in names(find(catalogue, q="weather"))
    assert "secret-weather" not in names(find(catalogue, [ZETA[0]], q="weather"))
    mine = find(catalogue, [ACME[0]], q="weather")
    assert "secret-weather" in names(mine)
    assert next(r for r in mine.data if r["name"] == "secret-weather")["status"] == "draft"


# --- filters and facets --------------------------------------------------------------------


def test_filters_narrow_the_results(catalogue: Container) -> None:
    assert set(names(find(catalogue, category="developer-tools"))) == {
        "git",
        "github",
        "gitlab-tools",
    }
    assert names(find(catalogue, tags=("weather", "forecast"))) == ["weather"]
    assert set(names(find(catalogue, tags=("weather",)))) == {"weather", "climate"}
    assert names(find(catalogue, pricing="PAID")) == ["weather"]
    assert names(find(catalogue, runtime="remote")) == ["github"]
    assert set(names(find(catalogue, q="git", publisher="zeta"))) == {"gitlab-tools"}
    assert names(find(catalogue, featured=True)) == ["weather"]
    assert "weather" not in names(find(catalogue, featured=False))


def test_facets_count_the_whole_matched_set(catalogue: Container) -> None:
    result = find(catalogue, q="git", limit=1)
    assert len(result.data) == 1
    assert result.total == 3  # git, github, gitlab-tools; "legit" is not a word prefix
    assert result.facets["category"] == [{"value": "developer-tools", "count": 3}]
    assert {f["value"]: f["count"] for f in result.facets["pricing"]} == {"FREE": 2, "FREEMIUM": 1}
    assert {f["value"]: f["count"] for f in result.facets["runtime"]} == {"process": 2, "remote": 1}
    assert result.facets["tags"][0] == {"value": "vcs", "count": 3}
    assert {"value": "git", "count": 1} in result.facets["tags"]


def test_facets_follow_the_filters(catalogue: Container) -> None:
    result = find(catalogue, category="data")
    assert result.total == 4
    assert result.facets["category"] == [{"value": "data", "count": 4}]
    assert {f["value"]: f["count"] for f in result.facets["runtime"]} == {"docker": 1, "process": 3}


# --- sorts and paging ----------------------------------------------------------------------


def test_rating_sorts_by_the_bayesian_average(catalogue: Container) -> None:
    """One 5-star review does not beat many 4- and 5-star ones; the prior pulls both."""
    last = review(catalogue, "time", 5)
    for rating in [5, 5, 4, 5, 4, 5, 5, 4, 5, 5]:
        last = review(catalogue, "meteo", rating)
    last = review(catalogue, "storm-watch", 1)
    settle(catalogue, last)
    order = names(find(catalogue, sort=Sort.RATING, limit=100))
    assert order.index("meteo") < order.index("time") < order.index("git")
    assert order[-1] == "storm-watch"
    rows = {r["name"]: r for r in find(catalogue, sort=Sort.RATING, limit=100).data}
    mean = (5 + 47 + 1) / 12  # every visible review in the catalogue
    assert rows["time"]["rating"]["bayesian"] == pytest.approx((5 * mean + 5) / 6)
    assert rows["git"]["rating"]["bayesian"] == pytest.approx(mean)


def test_newest_first_follows_publication(catalogue: Container) -> None:
    order = names(find(catalogue, sort=Sort.NEWEST, limit=100))
    assert order[:2] == ["time", "tianqi"]
    assert order[-1] == "git"


def page_through(container: Container, cursor: str | None = None, **params: object) -> list[str]:
    seen: list[str] = []
    while True:
        result = find(container, cursor=cursor, **params)
        seen += names(result)
        if result.next_cursor is None:
            return seen
        cursor = result.next_cursor


@pytest.mark.parametrize("sort", list(Sort))
def test_paging_visits_every_match_once_in_order(catalogue: Container, sort: Sort) -> None:
    everything = names(find(catalogue, sort=sort, limit=100))
    assert len(everything) == 10
    assert page_through(catalogue, sort=sort, limit=3) == everything
    assert page_through(catalogue, q="weather", sort=sort, limit=1) == names(
        find(catalogue, q="weather", sort=sort, limit=100)
    )


def test_ties_are_broken_by_name(catalogue: Container) -> None:
    """Nobody has deployments yet: one big tie, ordered by name, paged without gaps."""
    order = page_through(catalogue, sort=Sort.DEPLOYMENTS, limit=4)
    assert order == sorted(order)


def test_paging_is_stable_when_services_arrive_between_pages(catalogue: Container) -> None:
    before = names(find(catalogue, sort=Sort.DEPLOYMENTS, limit=100))
    first = find(catalogue, sort=Sort.DEPLOYMENTS, limit=5)
    settle(catalogue, publish(catalogue, "aaa-early", ZETA))
    try:
        rest = page_through(catalogue, sort=Sort.DEPLOYMENTS, limit=5, cursor=first.next_cursor)
    finally:
        settle(catalogue, catalogue.marketplace.unpublish("aaa-early", OWNER, "test over"))
    # It sorts before the cursor: nothing after it is served twice or skipped.
    assert names(first) + rest == before


def test_trending_counts_deployments_of_the_last_seven_days(catalogue: Container) -> None:
    """Deployment events arrive with the deployments context; their rows are written here
    as its handlers will write them."""
    with psycopg.connect(catalogue.database_url, autocommit=True) as owner:
        ids = {
            r[0]: r[1] for r in owner.execute("SELECT name, id FROM catalogue.services").fetchall()
        }
        owner.cursor().executemany(
            "INSERT INTO catalogue.deployment_days (service_id, day, deployments)"
            " VALUES (%s, (now() AT TIME ZONE 'UTC')::date - %s::int, %s)",
            [(ids["time"], 1, 3), (ids["time"], 6, 2), (ids["git"], 0, 4), (ids["meteo"], 8, 50)],
        )
        try:
            order = names(find(catalogue, sort=Sort.TRENDING, limit=3))
            assert order == ["time", "git", "climate"]  # 5, 4, then ties by name
        finally:
            owner.execute("DELETE FROM catalogue.deployment_days")


def test_a_cursor_is_refused_by_another_sort_and_when_garbled(catalogue: Container) -> None:
    cursor = find(catalogue, sort=Sort.NEWEST, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidCursorError):
        find(catalogue, sort=Sort.RATING, cursor=cursor)
    for garbled in ("not-base64!", cursor[:-3], "WzEsMiwzXQ"):
        with pytest.raises(InvalidCursorError):
            find(catalogue, sort=Sort.NEWEST, cursor=garbled)
