"""What the gateway needs to route a tenant's calls: each live deployment with its service's
pricing, its version's declared tools, and its instances. Read as the tenant (row-level
security), so a tenant's routing table cannot hold another tenant's deployment."""

from __future__ import annotations

from typing import Any

import psycopg

Conn = psycopg.Connection[dict[str, Any]]


def routing_rows(conn: Conn) -> list[dict[str, Any]]:
    """The scoped tenant's live deployments (the connection's `app.tenant_id` decides)."""
    return conn.execute(
        "SELECT d.deployment_id, d.name, d.service_id, d.service_name, d.version, d.status,"
        " d.runtime_kind, s.pricing, coalesce(v.tools, '[]') AS tools,"
        " coalesce((SELECT jsonb_agg(jsonb_build_object('id', i.instance_id,"
        " 'endpoint', i.endpoint, 'health', i.health) ORDER BY i.replica)"
        " FROM deployments.instances_view i WHERE i.deployment_id = d.deployment_id), '[]')"
        " AS instances"
        " FROM deployments.deployments_view d"
        " LEFT JOIN catalogue.services s ON s.id = d.service_id"
        " LEFT JOIN catalogue.versions v ON v.service_id = d.service_id AND v.version = d.version"
        " WHERE d.desired <> 'deleted'"
        " ORDER BY d.name"
    ).fetchall()
