"""Reading one service from the catalogue: detail, versions, reviews; and the categories.

Run on a connection scoped by `Database.scoped`: row-level security hides other tenants'
drafts (and everything about them), so a name that is not visible reads as missing.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
import semver

from domain.marketplace.values import Category

#: The prior mean of the Bayesian average: the catalogue's mean rating (see catalogue_search).
#: `totals` has one row, but every catalogue event updates it: after a replay its file holds
#: hundreds of empty pages that a scan reads (0.15-2 ms); the key finds the row at once.
MEAN = """
    SELECT CASE WHEN rating_count > 0 THEN rating_sum::float8 / rating_count
                ELSE %(prior_mean)s::float8 END AS m
    FROM {s}.totals WHERE id
"""
BAYESIAN = "((%(prior)s * mean.m + s.rating_sum) / (%(prior)s + s.rating_count))::float8"

#: A service as the API shows it (`api.schemas_catalogue.ServiceSummary`), built here so
#: that a search page goes out as the database wrote it. Alias `s` for `services`, with
#: `mean` (above) joined for the Bayesian average. Prices stay decimal strings.
SUMMARY = f"""
    'name', s.name, 'display_name', s.display_name, 'description', s.description,
    'category', s.category, 'tags', s.tags, 'icon_url', s.icon_url,
    'repository_url', s.repository_url, 'documentation_url', s.documentation_url,
    'pricing', json_build_object(
        'model', s.pricing->>'model',
        'price_per_request', s.pricing->>'price_per_request',
        'free_calls_per_month', (s.pricing->>'free_calls_per_month')::bigint,
        'currency', s.pricing->>'currency'),
    'status', s.status, 'featured', s.featured, 'successor', s.successor,
    'publisher', json_build_object('slug', s.publisher_slug),
    'latest_version', s.latest_version, 'runtime_kind', s.runtime_kind,
    'rating', json_build_object(
        'average', s.rating_sum::float8 / nullif(s.rating_count, 0),
        'bayesian', {BAYESIAN},
        'count', s.rating_count,
        'histogram', json_build_object(
            '1', s.rating_histogram[1], '2', s.rating_histogram[2],
            '3', s.rating_histogram[3], '4', s.rating_histogram[4],
            '5', s.rating_histogram[5])),
    'deployment_count', s.deployment_count,
    'created_at', s.created_at, 'updated_at', s.updated_at, 'published_at', s.published_at
"""

_VERSION = """
    'version', v.version, 'changelog', v.changelog, 'runtime', v.runtime,
    'config_schema', v.config_schema, 'tools', v.tools, 'yanked', v.yanked,
    'yank_reason', v.yank_reason, 'released_at', v.released_at, 'yanked_at', v.yanked_at
"""


class InvalidReviewCursorError(ValueError):
    """The cursor was not made by the reviews listing."""


def service_detail(
    conn: psycopg.Connection[Any],
    name: str,
    *,
    prior: int,
    prior_mean: float,
    schema: str = "catalogue",
) -> dict[str, Any] | None:
    """The service with its latest version, or None when it does not exist for the caller."""
    s = schema
    row = conn.execute(
        f"WITH mean AS ({MEAN.format(s=s)})"
        f" SELECT s.id, json_build_object({SUMMARY},"
        "  'latest_release', (SELECT json_build_object("
        f"{_VERSION}) FROM {s}.versions v"
        "   WHERE v.service_id = s.id AND v.version = s.latest_version)) AS service"
        f" FROM {s}.services s CROSS JOIN mean WHERE s.name = %(name)s",
        {"name": name, "prior": prior, "prior_mean": prior_mean},
    ).fetchone()
    if row is None:
        return None
    service: dict[str, Any] = row["service"]
    service["id"] = row["id"]
    return service


def versions_of(
    conn: psycopg.Connection[Any], service_id: UUID, *, schema: str = "catalogue"
) -> list[dict[str, Any]]:
    """Every released version, yanked ones too, newest (highest precedence) first."""
    rows = conn.execute(
        f"SELECT json_build_object({_VERSION}) AS v FROM {schema}.versions v"
        " WHERE v.service_id = %s",
        [service_id],
    ).fetchall()
    versions = [r["v"] for r in rows]
    versions.sort(key=lambda v: semver.Version.parse(v["version"]), reverse=True)
    return versions


def reviews_of(
    conn: psycopg.Connection[Any],
    service_id: UUID,
    *,
    cursor: str | None,
    limit: int,
    schema: str = "catalogue",
) -> tuple[list[dict[str, Any]], str | None]:
    """Visible reviews, newest first, a page at a time; and the cursor of the next page."""
    after, params = "", {"service": service_id, "limit": limit + 1}
    if cursor is not None:
        posted_at, review_id = decode_review_cursor(cursor)
        after = " AND (posted_at, id) < (%(posted_at)s, %(review_id)s)"
        params.update(posted_at=posted_at, review_id=review_id)
    rows = conn.execute(
        "SELECT id, username, rating, comment, has_deployed, posted_at, updated_at"
        f" FROM {schema}.reviews WHERE service_id = %(service)s AND status = 'visible'{after}"
        " ORDER BY posted_at DESC, id DESC LIMIT %(limit)s",
        params,
    ).fetchall()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_review_cursor(rows[-1]["posted_at"], rows[-1]["id"])


def encode_review_cursor(posted_at: datetime, review_id: UUID) -> str:
    raw = json.dumps([posted_at.isoformat(), str(review_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_review_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        posted_at, review_id = json.loads(raw)
        return datetime.fromisoformat(posted_at), UUID(review_id)
    except (binascii.Error, ValueError, TypeError, AttributeError):
        raise InvalidReviewCursorError("not a cursor from this API") from None


def category_counts(
    conn: psycopg.Connection[Any], *, schema: str = "catalogue"
) -> list[dict[str, Any]]:
    """Every category of the taxonomy with its number of listed services (zero included)."""
    rows = conn.execute(
        f"SELECT category, count(*) AS count FROM {schema}.listing GROUP BY category"
    ).fetchall()
    counts = {r["category"]: r["count"] for r in rows}
    return [{"category": c.value, "count": counts.get(c.value, 0)} for c in Category]


def drafting_publishers(
    conn: psycopg.Connection[Any], tenant_ids: list[UUID], *, schema: str = "catalogue"
) -> list[UUID]:
    """Which of these tenants have drafts (row-level security shows only the caller's)."""
    if not tenant_ids:
        return []
    rows = conn.execute(
        f"SELECT DISTINCT publisher_id FROM {schema}.services"
        " WHERE status = 'draft' AND publisher_id = ANY(%s)",
        [tenant_ids],
    ).fetchall()
    return sorted(r["publisher_id"] for r in rows)


def catalogue_revision(conn: psycopg.Connection[Any], *, schema: str = "catalogue") -> int:
    """The log position of the last event the catalogue applied (0 when it has none)."""
    row = conn.execute(f"SELECT revision FROM {schema}.totals WHERE id").fetchone()
    return int(row["revision"]) if row else 0
