"""The directory: users, tenants, members, invitations and API tokens, as the API lists them."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

import psycopg

from domain.tenancy.tenants import Tenant
from domain.tenancy.tokens import ApiToken
from domain.tenancy.users import User
from projections.base import TENANT_POLICY, USER_POLICY, Cursor, Envelope, Projection

MEMBER_POLICY = f"{TENANT_POLICY} OR {USER_POLICY}"


class DirectoryProjection(Projection):
    name = "directory"
    handles = (
        User.Registered,
        User.EmailVerified,
        User.ProfileUpdated,
        Tenant.Created,
        Tenant.Renamed,
        Tenant.PlanChanged,
        Tenant.Suspended,
        Tenant.Reactivated,
        Tenant.MemberAdded,
        Tenant.MemberRoleChanged,
        Tenant.MemberRemoved,
        Tenant.InvitationIssued,
        Tenant.InvitationAccepted,
        Tenant.InvitationRevoked,
        ApiToken.Issued,
        ApiToken.Revoked,
    )
    ddl = """
    CREATE TABLE IF NOT EXISTS {s}.users_view (
        user_id uuid PRIMARY KEY,
        email text NOT NULL,
        username text NOT NULL,
        display_name text NOT NULL,
        email_verified boolean NOT NULL DEFAULT false,
        personal_tenant_id uuid NOT NULL,
        created_at timestamptz NOT NULL
    );
    CREATE TABLE IF NOT EXISTS {s}.tenants_view (
        tenant_id uuid PRIMARY KEY,
        slug text NOT NULL UNIQUE,
        name text NOT NULL,
        kind text NOT NULL,
        plan text NOT NULL DEFAULT 'free',
        status text NOT NULL DEFAULT 'active',
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE TABLE IF NOT EXISTS {s}.members_view (
        tenant_id uuid NOT NULL,
        user_id uuid NOT NULL,
        username text NOT NULL,
        email text NOT NULL,
        role text NOT NULL,
        joined_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, user_id)
    );
    CREATE INDEX IF NOT EXISTS members_by_user ON {s}.members_view (user_id);
    CREATE TABLE IF NOT EXISTS {s}.invitations_view (
        invitation_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        email text NOT NULL,
        role text NOT NULL,
        status text NOT NULL,
        invited_by text NOT NULL,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX IF NOT EXISTS invitations_by_tenant ON {s}.invitations_view (tenant_id);
    CREATE TABLE IF NOT EXISTS {s}.tokens_view (
        token_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        name text NOT NULL,
        prefix text NOT NULL,
        scopes text[] NOT NULL,
        expires_at timestamptz,
        created_by uuid NOT NULL,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz
    );
    CREATE INDEX IF NOT EXISTS tokens_by_tenant ON {s}.tokens_view (tenant_id, created_at);
    """
    policies = {
        "users_view": USER_POLICY,
        "tenants_view": "tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "OR tenant_id IN (SELECT m.tenant_id FROM {s}.members_view m WHERE " + USER_POLICY + ")",
        "members_view": MEMBER_POLICY,
        "invitations_view": TENANT_POLICY,
        "tokens_view": TENANT_POLICY,
    }

    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        self._on(envelope.event, cur, s)

    @singledispatchmethod
    def _on(self, event: object, cur: Cursor, s: str) -> None:
        """Events this read model does not show."""

    @_on.register
    def _(self, e: User.Registered, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.users_view (user_id, email, username, display_name,"
            " personal_tenant_id, created_at) VALUES (%s, %s, %s, %s, %s, %s)",
            [e.originator_id, e.email, e.username, e.username, e.personal_tenant_id, e.timestamp],
        )

    @_on.register
    def _(self, e: User.EmailVerified, cur: Cursor, s: str) -> None:
        cur.execute(
            f"UPDATE {s}.users_view SET email_verified = true WHERE user_id = %s",
            [e.originator_id],
        )

    @_on.register
    def _(self, e: User.ProfileUpdated, cur: Cursor, s: str) -> None:
        cur.execute(
            f"UPDATE {s}.users_view SET display_name = %s WHERE user_id = %s",
            [e.display_name, e.originator_id],
        )

    @_on.register
    def _(self, e: Tenant.Created, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.tenants_view (tenant_id, slug, name, kind, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [e.originator_id, e.slug, e.name, e.kind, e.timestamp, e.timestamp],
        )
        self._add_member(
            cur, s, e.originator_id, e.owner_id, e.owner_username, e.owner_email, "owner", e
        )

    def _add_member(
        self,
        cur: Cursor,
        s: str,
        tenant_id: UUID,
        user_id: UUID,
        username: str,
        email: str,
        role: str,
        e: Any,
    ) -> None:
        cur.execute(
            f"INSERT INTO {s}.members_view (tenant_id, user_id, username, email, role, joined_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [tenant_id, user_id, username, email, role, e.timestamp],
        )

    def _set_tenant(self, cur: Cursor, s: str, e: Any, column: str, value: str) -> None:
        cur.execute(
            f"UPDATE {s}.tenants_view SET {column} = %s, updated_at = %s WHERE tenant_id = %s",
            [value, e.timestamp, e.originator_id],
        )

    @_on.register
    def _(self, e: Tenant.Renamed, cur: Cursor, s: str) -> None:
        self._set_tenant(cur, s, e, "name", e.name)

    @_on.register
    def _(self, e: Tenant.PlanChanged, cur: Cursor, s: str) -> None:
        self._set_tenant(cur, s, e, "plan", e.plan)

    @_on.register
    def _(self, e: Tenant.Suspended, cur: Cursor, s: str) -> None:
        self._set_tenant(cur, s, e, "status", "suspended")

    @_on.register
    def _(self, e: Tenant.Reactivated, cur: Cursor, s: str) -> None:
        self._set_tenant(cur, s, e, "status", "active")

    @_on.register
    def _(self, e: Tenant.MemberAdded, cur: Cursor, s: str) -> None:
        self._add_member(cur, s, e.originator_id, e.user_id, e.username, e.email, e.role, e)

    @_on.register
    def _(self, e: Tenant.MemberRoleChanged, cur: Cursor, s: str) -> None:
        cur.execute(
            f"UPDATE {s}.members_view SET role = %s WHERE tenant_id = %s AND user_id = %s",
            [e.role, e.originator_id, e.user_id],
        )

    @_on.register
    def _(self, e: Tenant.MemberRemoved, cur: Cursor, s: str) -> None:
        cur.execute(
            f"DELETE FROM {s}.members_view WHERE tenant_id = %s AND user_id = %s",
            [e.originator_id, e.user_id],
        )

    @_on.register
    def _(self, e: Tenant.InvitationIssued, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.invitations_view (invitation_id, tenant_id, email, role, status,"
            " invited_by, expires_at, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, 'pending', %s, %s, %s, %s)",
            [
                e.invitation_id,
                e.originator_id,
                e.email,
                e.role,
                e.actor,
                e.expires_at,
                e.timestamp,
                e.timestamp,
            ],
        )

    def _close_invitation(self, cur: Cursor, s: str, e: Any, status: str) -> None:
        cur.execute(
            f"UPDATE {s}.invitations_view SET status = %s, updated_at = %s"
            " WHERE invitation_id = %s",
            [status, e.timestamp, e.invitation_id],
        )

    @_on.register
    def _(self, e: Tenant.InvitationAccepted, cur: Cursor, s: str) -> None:
        self._close_invitation(cur, s, e, "accepted")

    @_on.register
    def _(self, e: Tenant.InvitationRevoked, cur: Cursor, s: str) -> None:
        self._close_invitation(cur, s, e, "revoked")

    @_on.register
    def _(self, e: ApiToken.Issued, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.tokens_view (token_id, tenant_id, name, prefix, scopes, expires_at,"
            " created_by, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                e.originator_id,
                e.tenant,
                e.name,
                e.prefix,
                e.scopes,
                e.expires_at,
                e.created_by,
                e.timestamp,
            ],
        )

    @_on.register
    def _(self, e: ApiToken.Revoked, cur: Cursor, s: str) -> None:
        cur.execute(
            f"UPDATE {s}.tokens_view SET revoked_at = %s WHERE token_id = %s",
            [e.timestamp, e.originator_id],
        )


# --- queries (run on a connection scoped by `Database.scoped`) ------------------------------


def memberships_of(conn: psycopg.Connection[Any], user_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT t.tenant_id, t.slug, t.name, t.kind, m.role"
        " FROM directory.members_view m JOIN directory.tenants_view t USING (tenant_id)"
        " WHERE m.user_id = %s ORDER BY t.kind DESC, t.slug",
        [user_id],
    ).fetchall()


def tenant_row(conn: psycopg.Connection[Any], tenant_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT * FROM directory.tenants_view WHERE tenant_id = %s", [tenant_id]
    ).fetchone()


def members_of(conn: psycopg.Connection[Any], tenant_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM directory.members_view WHERE tenant_id = %s ORDER BY joined_at, username",
        [tenant_id],
    ).fetchall()


def invitations_of(conn: psycopg.Connection[Any], tenant_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM directory.invitations_view WHERE tenant_id = %s ORDER BY created_at DESC",
        [tenant_id],
    ).fetchall()


def tokens_of(conn: psycopg.Connection[Any], tenant_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT token_id AS id, name, prefix, scopes, expires_at, created_by, created_at,"
        " revoked_at FROM directory.tokens_view WHERE tenant_id = %s ORDER BY created_at DESC",
        [tenant_id],
    ).fetchall()
