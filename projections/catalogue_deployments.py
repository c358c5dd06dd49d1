"""What deployments mean to the catalogue: each service's count of live deployments, new
deployments per day (for "trending"), and the "has deployed it" badge on reviews.

`deployments` remembers which tenant deployed which service (private: its policy shows no
rows to anyone), so a deletion can take the right service's count down and a review can ask
whether its reviewer's tenant runs the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from projections.base import Cursor

ChangeService = Any  # projections.catalogue._change_service (passed in: no import cycle)


def deployed(
    cur: Cursor,
    s: str,
    change: ChangeService,
    deployment_id: UUID,
    service_id: UUID,
    tenant_id: UUID | None,
    at: datetime,
) -> None:
    """A deployment was requested (`tenant_id`), or a deleted name deployed again (None: the
    row knows its tenant)."""
    if tenant_id is not None:
        cur.execute(
            f"INSERT INTO {s}.deployments (deployment_id, service_id, deployer_tenant_id,"
            " requested_at) VALUES (%s, %s, %s, %s) RETURNING deployer_tenant_id",
            [deployment_id, service_id, tenant_id, at],
        )
    else:
        cur.execute(
            f"UPDATE {s}.deployments SET service_id = %s, requested_at = %s, removed_at = NULL"
            " WHERE deployment_id = %s RETURNING deployer_tenant_id",
            [service_id, at, deployment_id],
        )
    row = cur.fetchone()
    if row is None:
        return
    cur.execute(
        f"INSERT INTO {s}.deployment_days (service_id, day, deployments)"
        " VALUES (%s, (%s AT TIME ZONE 'UTC')::date, 1) ON CONFLICT (service_id, day)"
        f" DO UPDATE SET deployments = {s}.deployment_days.deployments + 1",
        [service_id, at],
    )
    change(cur, s, service_id, "deployment_count = deployment_count + 1", {})
    _badge(cur, s, service_id, row["deployer_tenant_id"])


def removed(cur: Cursor, s: str, change: ChangeService, deployment_id: UUID, at: datetime) -> None:
    cur.execute(
        f"UPDATE {s}.deployments SET removed_at = %s"
        " WHERE deployment_id = %s AND removed_at IS NULL"
        " RETURNING service_id, deployer_tenant_id",
        [at, deployment_id],
    )
    row = cur.fetchone()
    if row is None:
        return
    change(cur, s, row["service_id"], "deployment_count = deployment_count - 1", {})
    _badge(cur, s, row["service_id"], row["deployer_tenant_id"])


def _badge(cur: Cursor, s: str, service_id: UUID, tenant_id: UUID) -> None:
    cur.execute(
        f"UPDATE {s}.reviews r SET has_deployed = EXISTS (SELECT 1 FROM {s}.deployments d"
        " WHERE d.service_id = r.service_id AND d.deployer_tenant_id = r.reviewer_tenant_id"
        " AND d.removed_at IS NULL) WHERE r.service_id = %s AND r.reviewer_tenant_id = %s",
        [service_id, tenant_id],
    )
