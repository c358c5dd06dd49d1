"""What platform operators read across tenants: every tenant, and reviews marketplace-wide.

Row-level security shows the app role one tenant's (or one user's) rows, which is what every
other reader wants. An operator's console must see all of them, so these queries run in
`platform_read`: a read-only transaction on the owner's pool, the same connection the
readiness check reads projection positions with. It is the only way across tenants, and the
API opens it only after `api.routes.admin` has checked that the caller is a platform operator
(a signed-in session whose email is in `auth.platform_admins`, never an API token). Normal
requests keep reading as the app role under row-level security.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from infra.database import Database

#: An operator's page must not hold a connection of the writers' pool for long.
STATEMENT_TIMEOUT = "5s"


class InvalidAdminCursorError(ValueError):
    """The cursor was not made by this listing."""


@contextmanager
def platform_read(db: Database) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A read-only transaction that sees every tenant's rows (operators only; see above)."""
    with db.owner.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
        yield conn


def encode_cursor(at: datetime, row_id: UUID) -> str:
    raw = json.dumps([at.isoformat(), str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = json.loads(raw)
        return datetime.fromisoformat(at), UUID(row_id)
    except (binascii.Error, ValueError, TypeError, AttributeError):
        raise InvalidAdminCursorError("not a cursor from this API") from None


def _like(text: str) -> str:
    """A substring pattern for ILIKE with the user's `%`, `_` and `\\` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page(
    rows: list[dict[str, Any]], limit: int, at: str, row_id: str
) -> tuple[list[dict[str, Any]], str | None]:
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1][at], rows[-1][row_id])


def tenants_page(
    conn: psycopg.Connection[Any],
    *,
    q: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """Tenants, newest first, with their member counts; `q` matches slug or name."""
    where, params = ["true"], {"limit": limit + 1}
    if q:
        where.append("(t.slug ILIKE %(q)s OR t.name ILIKE %(q)s)")
        params["q"] = _like(q)
    if status:
        where.append("t.status = %(status)s")
        params["status"] = status
    if kind:
        where.append("t.kind = %(kind)s")
        params["kind"] = kind
    if cursor is not None:
        created_at, tenant_id = decode_cursor(cursor)
        where.append("(t.created_at, t.tenant_id) < (%(created_at)s, %(tenant_id)s)")
        params.update(created_at=created_at, tenant_id=tenant_id)
    rows = conn.execute(
        "SELECT t.tenant_id, t.slug, t.name, t.kind, t.plan, t.status, t.created_at,"
        " t.updated_at, (SELECT count(*) FROM directory.members_view m"
        "  WHERE m.tenant_id = t.tenant_id) AS member_count"
        f" FROM directory.tenants_view t WHERE {' AND '.join(where)}"
        " ORDER BY t.created_at DESC, t.tenant_id DESC LIMIT %(limit)s",
        params,
    ).fetchall()
    return _page(rows, limit, "created_at", "tenant_id")


def reviews_page(
    conn: psycopg.Connection[Any],
    *,
    service: str | None = None,
    rating: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """Visible reviews of every service, newest first: what a moderator may remove.

    Removed reviews are gone from this list, as from the service's page.
    """
    where, params = ["r.status = 'visible'"], {"limit": limit + 1}
    if service:
        where.append("s.name = %(service)s")
        params["service"] = service
    if rating is not None:
        where.append("r.rating = %(rating)s")
        params["rating"] = rating
    if cursor is not None:
        posted_at, review_id = decode_cursor(cursor)
        where.append("(r.posted_at, r.id) < (%(posted_at)s, %(review_id)s)")
        params.update(posted_at=posted_at, review_id=review_id)
    rows = conn.execute(
        "SELECT r.id, s.name AS service, s.display_name AS service_display_name,"
        " r.reviewer_id, r.username, r.rating, r.comment, r.has_deployed, r.posted_at,"
        " r.updated_at FROM catalogue.reviews r JOIN catalogue.services s ON s.id = r.service_id"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY r.posted_at DESC, r.id DESC LIMIT %(limit)s",
        params,
    ).fetchall()
    return _page(rows, limit, "posted_at", "id")
