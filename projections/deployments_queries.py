"""Reading deployments: a tenant's list and one deployment with its instances (scoped by
row-level security), and the desired state of every deployment for the deployer (owner)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

Conn = psycopg.Connection[dict[str, Any]]

_PUBLIC = (
    "d.deployment_id AS id, d.name, d.service_name AS service, d.version, d.runtime_kind,"
    " d.status, d.desired, d.replicas, d.generation,"
    " coalesce(d.error, d.last_failure) AS last_error, d.config, d.previous_versions,"
    " d.created_at, d.updated_at, d.autoscaling, d.last_autoscaled,"
    " coalesce((SELECT jsonb_agg(jsonb_build_object("
    "'id', i.instance_id, 'replica', i.replica, 'version', i.version,"
    " 'generation', i.generation, 'health', i.health, 'detail', i.detail,"
    " 'endpoint', i.endpoint, 'started_at', i.started_at,"
    " 'health_changed_at', i.health_changed_at) ORDER BY i.replica, i.started_at)"
    " FROM deployments.instances_view i WHERE i.deployment_id = d.deployment_id), '[]')"
    " AS instances"
)


def deployments_of(
    conn: Conn,
    tenant_id: UUID,
    *,
    status: str | None = None,
    service: str | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[dict[str, Any]]:
    """Live deployments by name; `after` is the last name of the previous page."""
    return conn.execute(
        f"SELECT {_PUBLIC} FROM deployments.deployments_view d"
        " WHERE d.tenant_id = %(tenant)s AND d.desired <> 'deleted'"
        " AND (%(status)s::text IS NULL OR d.status = %(status)s)"
        " AND (%(service)s::text IS NULL OR d.service_name = %(service)s)"
        " AND (%(after)s::text IS NULL OR d.name > %(after)s)"
        " ORDER BY d.name LIMIT %(limit)s",
        {"tenant": tenant_id, "status": status, "service": service, "after": after, "limit": limit},
    ).fetchall()


def deployment_of(conn: Conn, tenant_id: UUID, name: str) -> dict[str, Any] | None:
    return conn.execute(
        f"SELECT {_PUBLIC} FROM deployments.deployments_view d"
        " WHERE d.tenant_id = %s AND d.name = %s AND d.desired <> 'deleted'",
        [tenant_id, name],
    ).fetchone()


def desired_state(conn: Conn) -> list[dict[str, Any]]:
    """For the deployer (as the owner, every tenant): what should run, and what the log says
    runs. Deleted deployments come too while they still have instances to stop."""
    return conn.execute(
        "SELECT d.deployment_id, d.tenant_id, d.name, d.runtime_kind, d.desired, d.replicas,"
        " d.generation, d.version, d.error IS NOT NULL AS failed, d.autoscaling,"
        " d.last_autoscaled,"
        " coalesce((SELECT jsonb_agg(jsonb_build_object('id', i.instance_id,"
        " 'replica', i.replica, 'generation', i.generation, 'version', i.version,"
        " 'health', i.health, 'endpoint', i.endpoint))"
        " FROM deployments.instances_view i WHERE i.deployment_id = d.deployment_id), '[]')"
        " AS instances"
        " FROM deployments.deployments_view d"
        " WHERE d.desired <> 'deleted' OR EXISTS (SELECT 1 FROM deployments.instances_view i"
        " WHERE i.deployment_id = d.deployment_id)"
    ).fetchall()


def deployments_by_id(conn: Conn, tenant_id: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
    """For the status stream: the given deployments, deleted ones too (`desired = 'deleted'`)."""
    return conn.execute(
        f"SELECT {_PUBLIC} FROM deployments.deployments_view d"
        " WHERE d.tenant_id = %s AND d.deployment_id = ANY(%s)",
        [tenant_id, ids],
    ).fetchall()


def deployment_ids(conn: Conn, tenant_id: UUID, name: str | None = None) -> list[UUID]:
    """A tenant's deployments (or the one named), deleted ones too: whose changes a stream
    follows."""
    rows = conn.execute(
        "SELECT deployment_id FROM deployments.deployments_view"
        " WHERE tenant_id = %s AND (%s::text IS NULL OR name = %s)",
        [tenant_id, name, name],
    ).fetchall()
    return [r["deployment_id"] for r in rows]


def changed_between(
    owner: psycopg.Connection[Any], ids: list[UUID], after: int, upto: int
) -> list[tuple[UUID, int]]:
    """Which of these deployments have events in the log after `after` up to `upto`, each
    with its last such position, oldest change first. Reads the event store (as the owner):
    a range of the notification id index, so a poll costs what was written since the last."""
    if not ids or upto <= after:
        return []
    rows = owner.execute(
        "SELECT originator_id, max(notification_id) AS position FROM mcps_events"
        " WHERE notification_id > %s AND notification_id <= %s AND originator_id = ANY(%s)"
        " GROUP BY originator_id ORDER BY position",
        [after, upto, ids],
    ).fetchall()
    return [(r["originator_id"], r["position"]) for r in rows]
