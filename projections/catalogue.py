"""The marketplace catalogue: services, their versions and reviews, as people browse them.

Two tables hold services. `services` has every service, drafts included, under row-level
security: listed (published or deprecated) rows for everyone, drafts only for the publishing
tenant. `listing` copies what search needs of the listed rows only, in the same statement as
every change to `services`, and has no row-level security because everything in it is public.
Search runs on `listing` because PostgreSQL cannot use an index for a condition that is not
leakproof (`@@`, `<%`, `LIKE`) on a table with a row-level security policy: it must apply the
policy first, so every search would read the whole table (measured on 100,000 rows: 47 to 59 ms
instead of 0.4 ms). A caller's own drafts are few; they are searched in `services` (see
`projections.catalogue_search`).

Ratings count visible reviews only: editing, removing and reposting a review move its stars
in and out of the count, the sum and the histogram. `totals` keeps the catalogue-wide count
and sum for the Bayesian average's prior mean, and the `revision`: the log position of the
last event the catalogue applied, which readers compare to know whether a cached answer is
still current.

Deployments count live ones per service and new ones per day, and mark reviews whose
reviewer's tenant runs the service (`projections.catalogue_deployments`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

import psycopg
import semver
from psycopg.types.json import Jsonb

from domain.deployments.deployments import Deployment
from domain.marketplace.reviews import Review
from domain.marketplace.services import McpService
from projections import catalogue_deployments
from projections.base import Cursor, Envelope, Projection
from projections.catalogue_text import document_terms

#: Listed services for everyone; drafts for the tenant that publishes them.
LISTED_OR_OWN = (
    "status <> 'draft'"
    " OR publisher_id = ANY (string_to_array("
    "nullif(current_setting('app.tenant_ids', true), ''), ',')::uuid[])"
    " OR publisher_id = nullif(current_setting('app.tenant_id', true), '')::uuid"
)
#: Rows about a service are visible exactly when the service is (its own policy applies).
OF_VISIBLE_SERVICE = "EXISTS (SELECT 1 FROM {s}.services sv WHERE sv.id = {table}.service_id)"

#: What search reads of a listed service: filters, sort keys and the searched text. The page
#: itself is read from `services` by id, so the listing stays narrow (fewer pages to scan).
LISTING_COLUMNS = (
    "id",
    "name",
    "publisher_slug",
    "category",
    "tags",
    "pricing_model",
    "runtime_kind",
    "featured",
    "rating_count",
    "rating_sum",
    "deployment_count",
    "created_at",
    "published_at",
    "title",
    "document",
)

#: The full-text document: name (A) > display name (B) > tags (C) > description (D).
DOCUMENT = (
    "setweight(to_tsvector('simple', %(doc_a)s), 'A')"
    " || setweight(to_tsvector('simple', %(doc_b)s), 'B')"
    " || setweight(to_tsvector('simple', %(doc_c)s), 'C')"
    " || setweight(to_tsvector('simple', %(doc_d)s), 'D')"
)

#: Trigram index (typos, partial words), created only where the pg_trgm extension exists.
TRIGRAM_DDL = (
    "CREATE INDEX IF NOT EXISTS listing_title_trgm ON {s}.listing USING gin (title gin_trgm_ops)"
)


def search_columns(
    name: str, display_name: str, tags: list[str], description: str
) -> dict[str, str]:
    """What the search reads: the weighted document's parts, and the title for trigrams."""
    return {
        "doc_a": document_terms(name),
        "doc_b": document_terms(display_name),
        "doc_c": document_terms(" ".join(tags)),
        "doc_d": document_terms(description),
        "title": " ".join([name, display_name.lower(), *tags]),
    }


def trigram_available(conn: psycopg.Connection[Any]) -> bool:
    """Is pg_trgm installed in this database? (The embedded server of `up` lacks it.)"""
    row = conn.execute("SELECT 1 AS ok FROM pg_extension WHERE extname = 'pg_trgm'").fetchone()
    return row is not None


class CatalogueProjection(Projection):
    name = "catalogue"
    handles = (
        McpService.Drafted,
        McpService.DetailsUpdated,
        McpService.VersionReleased,
        McpService.ToolsIntrospected,
        McpService.VersionYanked,
        McpService.Published,
        McpService.Deprecated,
        McpService.Unpublished,
        McpService.Featured,
        Review.Posted,
        Review.Edited,
        Review.Removed,
        Review.Reposted,
        Deployment.Requested,
        Deployment.Recreated,
        Deployment.Deleted,
    )
    ddl = """
    CREATE TABLE IF NOT EXISTS {s}.services (
        id uuid PRIMARY KEY,
        name text NOT NULL UNIQUE,
        publisher_id uuid NOT NULL,
        publisher_slug text NOT NULL,
        display_name text NOT NULL,
        description text NOT NULL,
        category text NOT NULL,
        tags text[] NOT NULL,
        icon_url text,
        repository_url text,
        documentation_url text,
        pricing jsonb NOT NULL,
        pricing_model text NOT NULL,
        status text NOT NULL,
        featured boolean NOT NULL DEFAULT false,
        successor text,
        latest_version text,
        runtime_kind text,
        rating_count integer NOT NULL DEFAULT 0,
        rating_sum integer NOT NULL DEFAULT 0,
        rating_histogram integer[] NOT NULL DEFAULT '{{0,0,0,0,0}}',
        deployment_count integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        published_at timestamptz,
        title text NOT NULL,
        document tsvector NOT NULL
    );
    CREATE INDEX IF NOT EXISTS services_drafts ON {s}.services (publisher_id)
        WHERE status = 'draft';
    CREATE TABLE IF NOT EXISTS {s}.listing (
        id uuid NOT NULL,
        name text NOT NULL,
        publisher_slug text NOT NULL,
        category text NOT NULL,
        tags text[] NOT NULL,
        pricing_model text NOT NULL,
        runtime_kind text,
        featured boolean NOT NULL,
        rating_count integer NOT NULL,
        rating_sum integer NOT NULL,
        deployment_count integer NOT NULL,
        created_at timestamptz NOT NULL,
        published_at timestamptz,
        title text NOT NULL,
        document tsvector NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS listing_id ON {s}.listing (id);
    CREATE UNIQUE INDEX IF NOT EXISTS listing_name ON {s}.listing (name);
    CREATE INDEX IF NOT EXISTS listing_document ON {s}.listing USING gin (document);
    CREATE INDEX IF NOT EXISTS listing_category ON {s}.listing (category);
    CREATE INDEX IF NOT EXISTS listing_publisher ON {s}.listing (publisher_slug);
    CREATE TABLE IF NOT EXISTS {s}.versions (
        service_id uuid NOT NULL,
        version text NOT NULL,
        changelog text NOT NULL,
        runtime jsonb NOT NULL,
        runtime_kind text NOT NULL,
        config_schema jsonb NOT NULL,
        tools jsonb NOT NULL,
        server_info jsonb,
        yanked boolean NOT NULL DEFAULT false,
        yank_reason text,
        released_at timestamptz NOT NULL,
        yanked_at timestamptz,
        PRIMARY KEY (service_id, version)
    );
    CREATE TABLE IF NOT EXISTS {s}.reviews (
        id uuid PRIMARY KEY,
        service_id uuid NOT NULL,
        reviewer_id uuid NOT NULL,
        reviewer_tenant_id uuid NOT NULL,
        username text NOT NULL,
        rating smallint NOT NULL,
        comment text NOT NULL,
        status text NOT NULL,
        has_deployed boolean NOT NULL DEFAULT false,
        posted_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX IF NOT EXISTS reviews_newest ON {s}.reviews (service_id, posted_at DESC, id DESC)
        WHERE status = 'visible';
    -- Moderators' marketplace-wide listing, newest first, by cursor (admin_queries.reviews_page).
    CREATE INDEX IF NOT EXISTS reviews_recent ON {s}.reviews (posted_at DESC, id DESC)
        WHERE status = 'visible';
    CREATE TABLE IF NOT EXISTS {s}.totals (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        rating_count bigint NOT NULL DEFAULT 0,
        rating_sum bigint NOT NULL DEFAULT 0,
        revision bigint NOT NULL DEFAULT 0
    );
    INSERT INTO {s}.totals (id) VALUES (true) ON CONFLICT (id) DO NOTHING;
    CREATE TABLE IF NOT EXISTS {s}.deployments (
        deployment_id uuid PRIMARY KEY,
        service_id uuid NOT NULL,
        deployer_tenant_id uuid NOT NULL,
        requested_at timestamptz NOT NULL,
        removed_at timestamptz
    );
    CREATE INDEX IF NOT EXISTS deployments_by_service ON {s}.deployments
        (service_id, deployer_tenant_id);
    CREATE TABLE IF NOT EXISTS {s}.deployment_days (
        service_id uuid NOT NULL,
        day date NOT NULL,
        deployments integer NOT NULL,
        PRIMARY KEY (service_id, day)
    );
    CREATE INDEX IF NOT EXISTS deployment_days_recent ON {s}.deployment_days (day, service_id);
    """
    policies = {
        "services": LISTED_OR_OWN,
        "versions": OF_VISIBLE_SERVICE.replace("{table}", "versions"),
        "reviews": "status = 'visible' AND " + OF_VISIBLE_SERVICE.replace("{table}", "reviews"),
        "deployment_days": OF_VISIBLE_SERVICE.replace("{table}", "deployment_days"),
        "deployments": "false",
    }

    # --- schema --------------------------------------------------------------------------

    def create(self, conn: psycopg.Connection[Any], schema: str | None = None) -> None:
        """The tables, plus pg_trgm and the trigram index where the server has the extension."""
        with conn.transaction():
            available = conn.execute(
                "SELECT 1 AS ok FROM pg_available_extensions WHERE name = 'pg_trgm'"
            ).fetchone()
            if available is not None:
                # Serialised: concurrent CREATE EXTENSION IF NOT EXISTS can still clash.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('mcps.pg_trgm'))")
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        super().create(conn, schema)
        if trigram_available(conn):
            with conn.transaction():
                conn.execute(TRIGRAM_DDL.format(s=schema or self.name))

    # --- applying ------------------------------------------------------------------------

    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        self.apply_many(cur, s, [envelope])

    def apply_many(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        """Each event through its handler, in pipeline mode (a batch's statements travel
        together, but for the few handlers that read); then, once, where the catalogue last
        changed: readers keep answers until that moves."""
        with cur.connection.pipeline():
            for envelope in envelopes:
                self._on(envelope.event, cur, s)
            if envelopes:
                cur.execute(f"UPDATE {s}.totals SET revision = %s", [envelopes[-1].notification_id])

    @singledispatchmethod
    def _on(self, event: object, cur: Cursor, s: str) -> None:
        """Events the catalogue does not show."""

    @_on.register
    def _(self, e: McpService.Drafted, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.services (id, name, publisher_id, publisher_slug, display_name,"
            " description, category, tags, icon_url, repository_url, documentation_url, pricing,"
            " pricing_model, status, created_at, updated_at, title, document) VALUES"
            " (%(id)s, %(name)s, %(publisher_id)s, %(publisher_slug)s, %(display_name)s,"
            " %(description)s, %(category)s, %(tags)s, %(icon_url)s, %(repository_url)s,"
            " %(documentation_url)s, %(pricing)s, %(pricing_model)s, 'draft', %(at)s, %(at)s,"
            f" %(title)s, {DOCUMENT})",
            {
                "id": e.originator_id,
                "name": e.name,
                "publisher_id": e.publisher_id,
                "publisher_slug": e.publisher_slug,
                "display_name": e.display_name,
                "description": e.description,
                "category": e.category,
                "tags": e.tags,
                "icon_url": e.icon_url,
                "repository_url": e.repository_url,
                "documentation_url": e.documentation_url,
                "pricing": Jsonb(e.pricing),
                "pricing_model": e.pricing["model"],
                "at": e.timestamp,
                **search_columns(e.name, e.display_name, e.tags, e.description),
            },
        )

    @_on.register
    def _(self, e: McpService.DetailsUpdated, cur: Cursor, s: str) -> None:
        cur.execute(
            f"SELECT name, display_name, description, tags FROM {s}.services WHERE id = %s",
            [e.originator_id],
        )
        row = cur.fetchone()
        if row is None:
            return
        row.update((k, v) for k, v in e.changes.items() if k in row)
        params: dict[str, Any] = {
            "at": e.timestamp,
            **search_columns(row["name"], row["display_name"], row["tags"], row["description"]),
        }
        assignments = ["updated_at = %(at)s", "title = %(title)s", f"document = {DOCUMENT}"]
        for key, value in e.changes.items():
            if key in _DETAIL_COLUMNS:
                assignments.append(f"{key} = %({key})s")
                params[key] = Jsonb(value) if key == "pricing" else value
                if key == "pricing":
                    assignments.append("pricing_model = %(pricing_model)s")
                    params["pricing_model"] = value["model"]
        _change_service(cur, s, e.originator_id, ", ".join(assignments), params)

    @_on.register
    def _(self, e: McpService.VersionReleased, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.versions (service_id, version, changelog, runtime, runtime_kind,"
            " config_schema, tools, released_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                e.originator_id,
                e.version,
                e.changelog,
                Jsonb(e.runtime),
                e.runtime["kind"],
                Jsonb(e.config_schema),
                Jsonb(e.tools),
                e.timestamp,
            ],
        )
        # The domain releases only versions above every earlier one, so a release is the new
        # default; only a yank needs the precedence worked out (`_refresh_latest`).
        _change_service(
            cur,
            s,
            e.originator_id,
            "latest_version = %(version)s, runtime_kind = %(kind)s, updated_at = %(at)s",
            {"version": e.version, "kind": e.runtime["kind"], "at": e.timestamp},
        )

    @_on.register
    def _(self, e: McpService.ToolsIntrospected, cur: Cursor, s: str) -> None:
        cur.execute(
            f"UPDATE {s}.versions SET tools = %s, server_info = %s"
            " WHERE service_id = %s AND version = %s",
            [Jsonb(e.tools), Jsonb(e.server_info), e.originator_id, e.version],
        )

    @_on.register
    def _(self, e: McpService.VersionYanked, cur: Cursor, s: str) -> None:
        cur.execute(
            f"UPDATE {s}.versions SET yanked = true, yank_reason = %s, yanked_at = %s"
            " WHERE service_id = %s AND version = %s",
            [e.reason, e.timestamp, e.originator_id, e.version],
        )
        _refresh_latest(cur, s, e.originator_id, e.timestamp)

    @_on.register
    def _(self, e: McpService.Published, cur: Cursor, s: str) -> None:
        _change_service(
            cur,
            s,
            e.originator_id,
            "status = 'published', published_at = %(at)s, updated_at = %(at)s",
            {"at": e.timestamp},
        )

    @_on.register
    def _(self, e: McpService.Deprecated, cur: Cursor, s: str) -> None:
        _change_service(
            cur,
            s,
            e.originator_id,
            "status = 'deprecated', successor = %(successor)s, updated_at = %(at)s",
            {"at": e.timestamp, "successor": e.successor},
        )

    @_on.register
    def _(self, e: McpService.Unpublished, cur: Cursor, s: str) -> None:
        _change_service(
            cur,
            s,
            e.originator_id,
            "status = 'draft', featured = false, updated_at = %(at)s",
            {"at": e.timestamp},
        )

    @_on.register
    def _(self, e: McpService.Featured, cur: Cursor, s: str) -> None:
        _change_service(
            cur, s, e.originator_id, "featured = %(featured)s", {"featured": e.featured}
        )

    # --- reviews ---------------------------------------------------------------------------

    @_on.register
    def _(self, e: Review.Posted, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.reviews (id, service_id, reviewer_id, reviewer_tenant_id, username,"
            " rating, comment, status, has_deployed, posted_at, updated_at) VALUES"
            " (%(id)s, %(service)s, %(user)s, %(tenant)s, %(username)s, %(rating)s, %(comment)s,"
            " 'visible', EXISTS (SELECT 1 FROM "
            f"{s}.deployments d WHERE d.service_id = %(service)s"
            " AND d.deployer_tenant_id = %(tenant)s AND d.removed_at IS NULL), %(at)s, %(at)s)",
            {
                "id": e.originator_id,
                "service": e.service_id,
                "user": e.user_id,
                "tenant": e.reviewer_tenant_id,
                "username": e.username,
                "rating": e.rating,
                "comment": e.comment,
                "at": e.timestamp,
            },
        )
        _rate(cur, s, e.service_id, add=e.rating)

    @_on.register
    def _(self, e: Review.Edited, cur: Cursor, s: str) -> None:
        old = _review(cur, s, e.originator_id)
        if old is None:
            return
        cur.execute(
            f"UPDATE {s}.reviews SET rating = %s, comment = %s, updated_at = %s WHERE id = %s",
            [e.rating, e.comment, e.timestamp, e.originator_id],
        )
        if old["status"] == "visible":
            _rate(cur, s, old["service_id"], add=e.rating, remove=old["rating"])

    @_on.register
    def _(self, e: Review.Removed, cur: Cursor, s: str) -> None:
        old = _review(cur, s, e.originator_id)
        if old is None or old["status"] != "visible":
            return
        cur.execute(
            f"UPDATE {s}.reviews SET status = 'removed', updated_at = %s WHERE id = %s",
            [e.timestamp, e.originator_id],
        )
        _rate(cur, s, old["service_id"], remove=old["rating"])

    @_on.register
    def _(self, e: Review.Reposted, cur: Cursor, s: str) -> None:
        old = _review(cur, s, e.originator_id)
        if old is None:
            return
        cur.execute(
            f"UPDATE {s}.reviews SET status = 'visible', rating = %s, comment = %s,"
            " posted_at = %s, updated_at = %s WHERE id = %s",
            [e.rating, e.comment, e.timestamp, e.timestamp, e.originator_id],
        )
        was = old["rating"] if old["status"] == "visible" else None
        _rate(cur, s, old["service_id"], add=e.rating, remove=was)

    # --- deployments -----------------------------------------------------------------------

    @_on.register
    def _(self, e: Deployment.Requested, cur: Cursor, s: str) -> None:
        catalogue_deployments.deployed(
            cur, s, _change_service, e.originator_id, e.service_id, e.tenant, e.timestamp
        )

    @_on.register
    def _(self, e: Deployment.Recreated, cur: Cursor, s: str) -> None:
        catalogue_deployments.deployed(
            cur, s, _change_service, e.originator_id, e.service_id, None, e.timestamp
        )

    @_on.register
    def _(self, e: Deployment.Deleted, cur: Cursor, s: str) -> None:
        catalogue_deployments.removed(cur, s, _change_service, e.originator_id, e.timestamp)


_DETAIL_COLUMNS = frozenset(
    {
        "display_name",
        "description",
        "category",
        "tags",
        "icon_url",
        "repository_url",
        "documentation_url",
        "pricing",
    }
)

_LISTED = ", ".join(LISTING_COLUMNS)
_COPY_TO_LISTING = ", ".join(f"{c} = EXCLUDED.{c}" for c in LISTING_COLUMNS if c != "id")


def _change_service(
    cur: Cursor, s: str, service_id: UUID, assignments: str, params: dict[str, Any]
) -> None:
    """Update a service and, in the same statement, its public copy: a listed row is copied
    into `listing` (inserted or replaced), and a service back in draft leaves it."""
    cur.execute(
        f"WITH changed AS (UPDATE {s}.services SET {assignments} WHERE id = %(id)s RETURNING *),"
        f" unlisted AS (DELETE FROM {s}.listing l USING changed c"
        "  WHERE l.id = c.id AND c.status = 'draft')"
        f" INSERT INTO {s}.listing ({_LISTED}) SELECT {_LISTED} FROM changed"
        " WHERE status <> 'draft'"
        f" ON CONFLICT (id) DO UPDATE SET {_COPY_TO_LISTING}",
        {**params, "id": service_id},
    )


def _refresh_latest(cur: Cursor, s: str, service_id: UUID, at: Any) -> None:
    """The default version is the highest not yanked, by SemVer precedence."""
    cur.execute(
        f"SELECT version, runtime_kind FROM {s}.versions WHERE service_id = %s AND NOT yanked",
        [service_id],
    )
    live = cur.fetchall()
    latest = max(live, key=lambda r: semver.Version.parse(r["version"]), default=None)
    _change_service(
        cur,
        s,
        service_id,
        "latest_version = %(version)s, runtime_kind = %(kind)s, updated_at = %(at)s",
        {
            "version": latest["version"] if latest else None,
            "kind": latest["runtime_kind"] if latest else None,
            "at": at,
        },
    )


def _review(cur: Cursor, s: str, review_id: UUID) -> dict[str, Any] | None:
    cur.execute(f"SELECT service_id, rating, status FROM {s}.reviews WHERE id = %s", [review_id])
    return cur.fetchone()


def _rate(
    cur: Cursor, s: str, service_id: UUID, *, add: int | None = None, remove: int | None = None
) -> None:
    """Move stars into (`add`) and out of (`remove`) a service's rating and the totals."""
    histogram = [0] * 5
    count = total = 0
    if add is not None:
        histogram[add - 1] += 1
        count, total = count + 1, total + add
    if remove is not None:
        histogram[remove - 1] -= 1
        count, total = count - 1, total - remove
    cur.execute(
        f"UPDATE {s}.totals SET rating_count = rating_count + %s, rating_sum = rating_sum + %s",
        [count, total],
    )
    _change_service(
        cur,
        s,
        service_id,
        "rating_count = rating_count + %(count)s, rating_sum = rating_sum + %(sum)s,"
        " rating_histogram = ARRAY(SELECT h + d FROM unnest(rating_histogram, %(delta)s::int[])"
        " WITH ORDINALITY AS x(h, d, i) ORDER BY i)",
        {"count": count, "sum": total, "delta": histogram},
    )
