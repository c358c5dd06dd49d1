"""Searching the catalogue: text, filters, five sorts, keyset paging and facet counts.

One statement answers a search: the matched services' ids and sort keys are collected once
(`matched`), then the page, the total and the facets are read from them.

Relevance, with a query:

    rank = 100 · [name = query]                                   an exact name comes first
         + ts_rank({D 0.1, C 0.2, B 0.4, A 1.0}, document, terms)  name > display > tags > text
         + 0.5 · word_similarity(query, title)                     typos and partial words,
         + 0.5 · word_similarity(query, name)                       in the name above all

A service matches when its document has every query term (words as prefixes, CJK as pairs,
see `catalogue_text`), or the query is word-similar (pg_trgm `<%`, threshold 0.6) to its
title (name, display name and tags), or the query is its name.

Rating is a Bayesian average, `(C·m + sum) / (C + n)`: n reviews summing to `sum`, pulled
towards the catalogue's mean rating m with the weight of C = 5 reviews (3.0, the middle of
the scale, while there are no reviews at all). So one 5-star review does not outrank forty
reviews averaging 4.8, and a service needs about five reviews before its own mean dominates.

Trending is the number of deployments in the last seven UTC days (today included).

Every sort ends with the unique name, so the order is total and a cursor (the last row's sort
keys) resumes exactly after it, whatever ties there are.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

import psycopg

from projections.catalogue_queries import BAYESIAN, MEAN, SUMMARY
from projections.catalogue_text import normalize_query, query_terms, tsquery

#: The Bayesian prior's weight, in reviews.
PRIOR_WEIGHT = 5
#: The prior mean while the catalogue has no reviews.
PRIOR_MEAN = 3.0
TOP_TAGS = 10


class Sort(StrEnum):
    RELEVANCE = "relevance"
    RATING = "rating"
    DEPLOYMENTS = "deployments"
    NEWEST = "newest"
    TRENDING = "trending"


#: Sort keys, all descending, then the name ascending; with the SQL type of each key.
_KEYS: dict[Sort, list[tuple[str, str]]] = {
    Sort.RELEVANCE: [("rank", "float8")],
    Sort.RATING: [("bayesian", "float8")],
    Sort.DEPLOYMENTS: [("deployment_count", "int")],
    Sort.NEWEST: [("listed_at", "timestamptz")],
    Sort.TRENDING: [("recent", "bigint"), ("deployment_count", "int")],
}


class InvalidCursorError(ValueError):
    """The cursor was not made by this search (or for another sort)."""


@dataclass(frozen=True)
class SearchParams:
    q: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    pricing: str | None = None
    runtime: str | None = None
    publisher: str | None = None
    featured: bool | None = None
    sort: Sort | None = None
    cursor: str | None = None
    limit: int = 20

    @property
    def query(self) -> str:
        return normalize_query(self.q or "")

    @property
    def effective_sort(self) -> Sort:
        """Relevance when there is a query; without one, relevance means rating."""
        sort = self.sort or Sort.RELEVANCE
        return Sort.RATING if sort is Sort.RELEVANCE and not self.query else sort


@dataclass
class SearchResult:
    data: list[dict[str, Any]]
    next_cursor: str | None
    total: int
    facets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def encode_cursor(sort: Sort, keys: list[Any], name: str) -> str:
    raw = json.dumps([sort.value, keys, name], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> tuple[list[Any], str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, keys, name = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidCursorError("not a cursor from this API") from None
    if kind != sort.value:
        raise InvalidCursorError("the cursor belongs to another sort order")
    if not isinstance(keys, list) or len(keys) != len(_KEYS[sort]) or not isinstance(name, str):
        raise InvalidCursorError("not a cursor from this API")
    if not all(isinstance(k, int | float | str) and not isinstance(k, bool) for k in keys):
        raise InvalidCursorError("not a cursor from this API")
    return keys, name


@dataclass
class _Sql:
    """A search statement being put together: its conditions and parameters."""

    schema: str
    trigram: bool
    params: dict[str, Any] = field(default_factory=dict)
    where: list[str] = field(default_factory=list)

    def text_match(self, query: str) -> str:
        """The match condition and rank expression for a query (both over alias `c`)."""
        terms = tsquery(query_terms(query))
        self.params["q"] = query
        matches, rank = ["c.name = %(q)s"], ["(CASE WHEN c.name = %(q)s THEN 100 ELSE 0 END)"]
        if terms is not None:
            self.params["tsq"] = terms
            matches.append("c.document @@ %(tsq)s::tsquery")
            rank.append("ts_rank('{0.1, 0.2, 0.4, 1.0}', c.document, %(tsq)s::tsquery)")
        if self.trigram:
            matches.append("%(q)s <%% c.title")
            rank.append("0.5 * word_similarity(%(q)s, c.title)")
            rank.append("0.5 * word_similarity(%(q)s, c.name)")
        else:  # without pg_trgm: substrings still match, typos do not
            matches.append("strpos(c.title, %(q)s) > 0")
        self.where.append("(" + " OR ".join(matches) + ")")
        return "(" + " + ".join(rank) + ")::float8"

    def filters(self, p: SearchParams) -> None:
        for column, value in (
            ("category", p.category),
            ("pricing_model", p.pricing),
            ("runtime_kind", p.runtime),
            ("publisher_slug", p.publisher),
            ("featured", p.featured),
        ):
            if value is not None:
                self.params[column] = value
                self.where.append(f"c.{column} = %({column})s")
        if p.tags:
            self.params["tags"] = list(p.tags)
            self.where.append("c.tags @> %(tags)s::text[]")


def search(
    conn: psycopg.Connection[Any],
    p: SearchParams,
    tenant_ids: list[UUID] | None = None,
    *,
    trigram: bool = True,
    schema: str = "catalogue",
) -> SearchResult:
    """Listed services, plus the drafts of `tenant_ids` (row-level security checks it too)."""
    s, sort = schema, p.effective_sort
    sql = _Sql(s, trigram)
    rank = sql.text_match(p.query) if p.query else "0::float8"
    sql.filters(p)
    where = " AND ".join(sql.where) or "true"
    columns = (
        f"c.id, c.name, c.category, c.pricing_model, c.runtime_kind, c.tags, c.rating_count,"
        f" c.rating_sum, c.deployment_count, coalesce(c.published_at, c.created_at) AS listed_at,"
        f" {rank} AS rank"
    )
    candidates = f"SELECT {columns} FROM {s}.listing c WHERE {where}"
    if tenant_ids:
        sql.params["tenant_ids"] = list(tenant_ids)
        candidates += (
            f" UNION ALL SELECT {columns} FROM {s}.services c WHERE c.status = 'draft'"
            f" AND c.publisher_id = ANY(%(tenant_ids)s::uuid[]) AND {where}"
        )
    recent = "0::bigint"
    joins = ""
    if sort is Sort.TRENDING:
        recent = "coalesce(r.recent, 0)"
        joins = (
            f" LEFT JOIN (SELECT service_id, sum(deployments)::bigint AS recent"
            f" FROM {s}.deployment_days WHERE day > (now() AT TIME ZONE 'UTC')::date - 7"
            " GROUP BY service_id) r ON r.service_id = s.id"
        )
    keys = _KEYS[sort]
    order = ", ".join(f"{k} DESC" for k, _ in keys) + ", name"
    page_order = ", ".join(f"p.{k} DESC" for k, _ in keys) + ", p.name"
    after = "true"
    if p.cursor is not None:
        values, name = decode_cursor(p.cursor, sort)
        for i, value in enumerate(values):
            sql.params[f"k{i}"] = value
        sql.params["after_name"] = name
        mine = ", ".join(k for k, _ in keys)
        theirs = ", ".join(f"%(k{i})s::{t}" for i, (_, t) in enumerate(keys))
        after = f"(({mine}) < ({theirs}) OR (({mine}) = ({theirs}) AND name > %(after_name)s))"
    sql.params.update(limit=p.limit + 1, prior=PRIOR_WEIGHT, prior_mean=PRIOR_MEAN)
    key_array = ", ".join(k for k, _ in keys)
    statement = f"""
    WITH mean AS ({MEAN.format(s=s)}),
    matched AS MATERIALIZED (
        SELECT s.*, {recent} AS recent, {BAYESIAN} AS bayesian
        FROM ({candidates}) s CROSS JOIN mean{joins}
    ),
    page AS (
        SELECT id, name, rank, bayesian, deployment_count, listed_at, recent,
               json_build_array({key_array}) AS sort_keys
        FROM matched WHERE {after} ORDER BY {order} LIMIT %(limit)s
    ),
    facets AS (
        SELECT 'category' AS facet, category AS value, count(*) AS count
            FROM matched GROUP BY category
        UNION ALL SELECT 'pricing', pricing_model, count(*) FROM matched GROUP BY pricing_model
        UNION ALL SELECT 'runtime', runtime_kind, count(*) FROM matched
            WHERE runtime_kind IS NOT NULL GROUP BY runtime_kind
        UNION ALL (SELECT 'tags', tag, count(*) FROM matched, unnest(tags) AS tag
            GROUP BY tag ORDER BY count(*) DESC, tag LIMIT {TOP_TAGS})
    )
    SELECT
        (SELECT count(*) FROM matched) AS total,
        (SELECT coalesce(json_agg(f ORDER BY f.facet, f.count DESC, f.value), '[]')
            FROM facets f) AS facets,
        (SELECT coalesce(json_agg(json_build_object({SUMMARY}, 'bayesian', p.bayesian,
                'relevance', p.rank, 'sort_keys', p.sort_keys) ORDER BY {page_order}),
                '[]')
            FROM page p JOIN {s}.services s ON s.id = p.id) AS data
    """
    row = conn.execute(statement, sql.params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    data: list[dict[str, Any]] = row["data"]
    next_cursor = None
    if len(data) > p.limit:
        data = data[: p.limit]
        last = data[-1]
        next_cursor = encode_cursor(sort, last["sort_keys"], last["name"])
    for item in data:
        del item["sort_keys"]
    facets: dict[str, list[dict[str, Any]]] = {
        "category": [],
        "pricing": [],
        "runtime": [],
        "tags": [],
    }
    for f in row["facets"]:
        facets[f["facet"]].append({"value": f["value"], "count": f["count"]})
    return SearchResult(data=data, next_cursor=next_cursor, total=row["total"], facets=facets)
