"""PostgreSQL connections: the owner's (event store, projectors), the app role's (queries, RLS)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlparse
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

APP_ROLE = "mcps_app"


@dataclass(frozen=True)
class PgTarget:
    dbname: str
    host: str
    port: int
    user: str
    password: str

    @classmethod
    def parse(cls, url: str) -> PgTarget:
        parts = urlparse(url)
        query = parse_qs(parts.query)
        host = parts.hostname or query.get("host", ["/tmp"])[0]  # noqa: S108
        return cls(
            dbname=(parts.path or "/postgres").lstrip("/") or "postgres",
            host=host,
            port=parts.port or int(query.get("port", ["5432"])[0]),
            user=parts.username or "postgres",
            password=parts.password or "",
        )

    def url(self, user: str | None = None, password: str | None = None) -> str:
        user = user or self.user
        password = self.password if password is None else password
        auth = f"{quote(user)}:{quote(password)}@" if password else f"{quote(user)}@"
        if self.host.startswith("/"):
            return f"postgresql://{auth}/{self.dbname}?host={quote(self.host)}&port={self.port}"
        return f"postgresql://{auth}{self.host}:{self.port}/{self.dbname}"

    def eventsourcing_env(self, *, lock_timeout: int, pool_size: int) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_LOCK_TIMEOUT": str(lock_timeout),
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": str(pool_size),
            "POSTGRES_MAX_WAITING": "0",
            "POSTGRES_PRE_PING": "n",  # the library retries a dead connection itself
        }


class Database:
    """Two pools: `owner` writes (store, projections, migrations); `app` reads under RLS."""

    def __init__(self, target: PgTarget, app_password: str, *, pool_size: int = 8) -> None:
        self.target = target
        self.app_password = app_password
        self.owner = ConnectionPool(
            target.url(),
            min_size=1,
            max_size=pool_size,
            kwargs={"row_factory": dict_row, "autocommit": False},
            open=False,
        )
        self.app = ConnectionPool(
            target.url(user=APP_ROLE, password=app_password),
            min_size=1,
            max_size=pool_size * 2,
            kwargs={"row_factory": dict_row},
            open=False,
        )

    def open(self) -> None:
        self.ensure_app_role()
        self.owner.open(wait=True)
        self.app.open(wait=True)

    def close(self) -> None:
        self.app.close()
        self.owner.close()

    def connect_owner(self, **kwargs: Any) -> psycopg.Connection[dict[str, Any]]:
        """A dedicated connection (LISTEN, long transactions), outside the pools."""
        return psycopg.connect(self.target.url(), row_factory=dict_row, **kwargs)

    def ensure_app_role(self) -> None:
        """The API's role owns nothing and bypasses nothing, so RLS applies to it."""
        with psycopg.connect(self.target.url(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]
            ).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(
                    "{} ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD {}"
                ).format(sql.SQL(verb), sql.Identifier(APP_ROLE), sql.Literal(self.app_password))
            )

    @contextmanager
    def scoped(
        self,
        tenant_id: UUID | str | None = None,
        user_id: UUID | str | None = None,
        tenant_ids: Sequence[UUID] | None = None,
    ) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A read transaction as the app role, seeing only the given tenant's and user's rows.

        `tenant_ids` lists every tenant the caller acts for (`app.tenant_ids`, comma-separated),
        for read models that show a caller the rows of all its tenants at once.
        """
        with self.app.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('app.tenant_id', %s, true), set_config('app.user_id', %s, true),"
                " set_config('app.tenant_ids', %s, true)",
                [
                    str(tenant_id or ""),
                    str(user_id or ""),
                    ",".join(str(UUID(str(t))) for t in tenant_ids or ()),
                ],
            )
            yield conn
