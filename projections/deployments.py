"""Deployments as their tenant sees them, and as the deployer reads desired state.

`deployments_view` has one row per deployment (deleted ones stay, with `desired = 'deleted'`,
so a name deployed again reuses its row), its configuration masked: secret values never reach
a read model. `instances_view` has the instances the deployer reported and that have not
exited. `status` is derived by the same rule as the aggregate's (`derive_status`) each time
a fact it depends on changes.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.deployments.config import masked
from domain.deployments.deployments import Deployment
from domain.deployments.values import Desired, Health, derive_status
from projections.base import TENANT_POLICY, Cursor, Envelope, Projection

#: The columns a release sets (on request, recreate, upgrade and rollback).
_RELEASE = (
    "version = %(version)s, runtime = %(runtime)s, runtime_kind = %(kind)s,"
    " config_schema = %(schema)s, config = %(config)s"
)


def _release(
    version: str, runtime: dict[str, Any], schema: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    return {
        "version": version,
        "runtime": Jsonb(runtime),
        "kind": runtime["kind"],
        "schema": Jsonb(schema),
        "config": Jsonb(masked(schema, config)),
    }


class DeploymentsProjection(Projection):
    name = "deployments"
    handles = (
        Deployment.Requested,
        Deployment.Recreated,
        Deployment.Scaled,
        Deployment.AutoscalingSet,
        Deployment.AutoscalingCleared,
        Deployment.Autoscaled,
        Deployment.Reconfigured,
        Deployment.Upgraded,
        Deployment.RolledBack,
        Deployment.StartRequested,
        Deployment.StopRequested,
        Deployment.RestartRequested,
        Deployment.Deleted,
        Deployment.Failed,
        Deployment.InstanceStartFailed,
        Deployment.InstanceStarted,
        Deployment.InstanceHealthChanged,
        Deployment.InstanceExited,
    )
    ddl = """
    CREATE TABLE IF NOT EXISTS {s}.deployments_view (
        deployment_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        name text NOT NULL,
        service_id uuid NOT NULL,
        service_name text NOT NULL,
        version text NOT NULL,
        runtime jsonb NOT NULL,
        runtime_kind text NOT NULL,
        config_schema jsonb NOT NULL,
        config jsonb NOT NULL,
        replicas integer NOT NULL,
        desired text NOT NULL,
        generation integer NOT NULL,
        status text NOT NULL,
        error text,
        last_failure text,
        ever_healthy boolean NOT NULL DEFAULT false,
        previous_versions text[] NOT NULL DEFAULT '{{}}',
        requested_by uuid NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        UNIQUE (tenant_id, name)
    );
    CREATE INDEX IF NOT EXISTS deployments_live ON {s}.deployments_view (desired)
        WHERE desired <> 'deleted';
    -- Autoscaling: the policy (null when off) and the scaler's last decision.
    ALTER TABLE {s}.deployments_view ADD COLUMN IF NOT EXISTS autoscaling jsonb;
    ALTER TABLE {s}.deployments_view ADD COLUMN IF NOT EXISTS last_autoscaled jsonb;
    CREATE TABLE IF NOT EXISTS {s}.instances_view (
        instance_id text PRIMARY KEY,
        deployment_id uuid NOT NULL,
        tenant_id uuid NOT NULL,
        replica integer NOT NULL,
        version text NOT NULL,
        generation integer NOT NULL,
        runtime_ref text NOT NULL,
        endpoint text,
        health text NOT NULL,
        detail text NOT NULL DEFAULT '',
        started_at timestamptz NOT NULL,
        health_changed_at timestamptz NOT NULL
    );
    CREATE INDEX IF NOT EXISTS instances_by_deployment ON {s}.instances_view (deployment_id);
    """
    policies = {"deployments_view": TENANT_POLICY, "instances_view": TENANT_POLICY}

    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        self._on(envelope.event, cur, s)

    @singledispatchmethod
    def _on(self, event: object, cur: Cursor, s: str) -> None:
        """Events this read model does not show."""

    @_on.register
    def _(self, e: Deployment.Requested, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.deployments_view (deployment_id, tenant_id, name, service_id,"
            " service_name, version, runtime, runtime_kind, config_schema, config, replicas,"
            " desired, generation, status, requested_by, created_at, updated_at) VALUES"
            " (%(id)s, %(tenant)s, %(name)s, %(service_id)s, %(service)s, %(version)s,"
            " %(runtime)s, %(kind)s, %(schema)s, %(config)s, %(replicas)s, 'running', 1,"
            " 'pending', %(by)s, %(at)s, %(at)s)",
            {
                "id": e.originator_id,
                "tenant": e.tenant,
                "name": e.name,
                "service_id": e.service_id,
                "service": e.service_name,
                "replicas": e.replicas,
                "by": e.requested_by,
                "at": e.timestamp,
                **_release(e.version, e.runtime, e.config_schema, e.config),
            },
        )

    @_on.register
    def _(self, e: Deployment.Recreated, cur: Cursor, s: str) -> None:
        cur.execute(f"DELETE FROM {s}.instances_view WHERE deployment_id = %s", [e.originator_id])
        self._change(
            cur,
            s,
            e,
            "service_id = %(service_id)s, service_name = %(service)s, replicas = %(replicas)s,"
            " desired = 'running', generation = 1, error = NULL, ever_healthy = false,"
            " previous_versions = '{}', requested_by = %(by)s, created_at = %(at)s,"
            " autoscaling = NULL, last_autoscaled = NULL, " + _RELEASE,
            {
                "service_id": e.service_id,
                "service": e.service_name,
                "replicas": e.replicas,
                "by": e.requested_by,
                **_release(e.version, e.runtime, e.config_schema, e.config),
            },
        )

    @_on.register
    def _(self, e: Deployment.Scaled, cur: Cursor, s: str) -> None:
        self._change(cur, s, e, "replicas = %(replicas)s", {"replicas": e.replicas})

    @_on.register
    def _(self, e: Deployment.AutoscalingSet, cur: Cursor, s: str) -> None:
        policy = {
            "min_replicas": e.min_replicas,
            "max_replicas": e.max_replicas,
            "target_in_flight": e.target_in_flight,
        }
        self._change(cur, s, e, "autoscaling = %(policy)s", {"policy": Jsonb(policy)})

    @_on.register
    def _(self, e: Deployment.AutoscalingCleared, cur: Cursor, s: str) -> None:
        self._change(cur, s, e, "autoscaling = NULL", {})

    @_on.register
    def _(self, e: Deployment.Autoscaled, cur: Cursor, s: str) -> None:
        decision = {
            "from_replicas": e.from_replicas,
            "to_replicas": e.to_replicas,
            "in_flight": e.in_flight,
            "reason": e.reason,
            "at": e.timestamp.isoformat(),
        }
        self._change(
            cur,
            s,
            e,
            "replicas = %(replicas)s, last_autoscaled = %(decision)s",
            {"replicas": e.to_replicas, "decision": Jsonb(decision)},
        )

    @_on.register
    def _(self, e: Deployment.Reconfigured, cur: Cursor, s: str) -> None:
        cur.execute(
            f"SELECT config_schema FROM {s}.deployments_view WHERE deployment_id = %s",
            [e.originator_id],
        )
        row = cur.fetchone()
        if row is not None:
            config = Jsonb(masked(row["config_schema"], e.config))
            self._change(
                cur, s, e, "config = %(config)s, generation = generation + 1", {"config": config}
            )

    @_on.register
    def _(self, e: Deployment.Upgraded, cur: Cursor, s: str) -> None:
        self._change(
            cur,
            s,
            e,
            "previous_versions = previous_versions || %(from)s::text, generation = generation + 1,"
            " error = NULL, " + _RELEASE,
            {"from": e.from_version, **_release(e.version, e.runtime, e.config_schema, e.config)},
        )

    @_on.register
    def _(self, e: Deployment.RolledBack, cur: Cursor, s: str) -> None:
        self._change(
            cur,
            s,
            e,
            "previous_versions = previous_versions[1:cardinality(previous_versions) - 1],"
            " generation = generation + 1, error = NULL, " + _RELEASE,
            _release(e.version, e.runtime, e.config_schema, e.config),
        )

    @_on.register
    def _(self, e: Deployment.StartRequested, cur: Cursor, s: str) -> None:
        self._change(cur, s, e, "desired = 'running', error = NULL", {})

    @_on.register
    def _(self, e: Deployment.StopRequested, cur: Cursor, s: str) -> None:
        self._change(cur, s, e, "desired = 'stopped'", {})

    @_on.register
    def _(self, e: Deployment.RestartRequested, cur: Cursor, s: str) -> None:
        self._change(
            cur, s, e, "generation = %(generation)s, error = NULL", {"generation": e.generation}
        )

    @_on.register
    def _(self, e: Deployment.Deleted, cur: Cursor, s: str) -> None:
        self._change(cur, s, e, "desired = 'deleted'", {})

    @_on.register
    def _(self, e: Deployment.Failed, cur: Cursor, s: str) -> None:
        self._change(cur, s, e, "error = %(error)s", {"error": e.error})

    # --- instance facts -----------------------------------------------------------------

    @_on.register
    def _(self, e: Deployment.InstanceStarted, cur: Cursor, s: str) -> None:
        cur.execute(
            f"INSERT INTO {s}.instances_view (instance_id, deployment_id, tenant_id, replica,"
            " version, generation, runtime_ref, endpoint, health, started_at, health_changed_at)"
            f" SELECT %(id)s, %(deployment)s, tenant_id, %(replica)s, %(version)s,"
            " %(generation)s, %(ref)s, %(endpoint)s, %(health)s, %(at)s, %(at)s"
            f" FROM {s}.deployments_view WHERE deployment_id = %(deployment)s",
            {
                "id": e.instance_id,
                "deployment": e.originator_id,
                "replica": e.replica,
                "version": e.version,
                "generation": e.generation,
                "ref": e.runtime_ref,
                "endpoint": e.endpoint,
                "health": Health.STARTING.value,
                "at": e.timestamp,
            },
        )
        self._change(cur, s, e, "", {})

    @_on.register
    def _(self, e: Deployment.InstanceHealthChanged, cur: Cursor, s: str) -> None:
        cur.execute(
            f"UPDATE {s}.instances_view SET health = %s, detail = %s, health_changed_at = %s"
            " WHERE instance_id = %s",
            [e.health, e.detail, e.timestamp, e.instance_id],
        )
        healthy = "ever_healthy = true" if e.health == Health.HEALTHY.value else ""
        self._change(cur, s, e, healthy, {})

    @_on.register
    def _(self, e: Deployment.InstanceExited, cur: Cursor, s: str) -> None:
        cur.execute(f"DELETE FROM {s}.instances_view WHERE instance_id = %s", [e.instance_id])
        if Deployment.is_crash(e.reason):
            self._change(cur, s, e, "last_failure = %(reason)s", {"reason": e.reason})
        else:
            self._change(cur, s, e, "", {})

    @_on.register
    def _(self, e: Deployment.InstanceStartFailed, cur: Cursor, s: str) -> None:
        self._change(cur, s, e, "last_failure = %(reason)s", {"reason": e.reason})

    # --- helpers -------------------------------------------------------------------------

    def _change(
        self,
        cur: Cursor,
        s: str,
        e: Any,
        assignments: str,
        params: dict[str, Any],
    ) -> None:
        """Apply the assignments, then derive the status again from the row and instances."""
        sets = ", ".join(part for part in (assignments, "updated_at = %(at)s") if part)
        cur.execute(
            f"UPDATE {s}.deployments_view SET {sets} WHERE deployment_id = %(id)s"
            " RETURNING desired, error, replicas, ever_healthy",
            {**params, "id": e.originator_id, "at": e.timestamp},
        )
        row = cur.fetchone()
        if row is not None:
            self._derive(cur, s, e.originator_id, row)

    def _derive(self, cur: Cursor, s: str, deployment_id: UUID, row: dict[str, Any]) -> None:
        cur.execute(
            f"SELECT health FROM {s}.instances_view WHERE deployment_id = %s", [deployment_id]
        )
        healths = [r["health"] for r in cur.fetchall()]
        status = derive_status(
            Desired(row["desired"]),
            row["error"] is not None,
            row["replicas"],
            healths,
            row["ever_healthy"],
        )
        cur.execute(
            f"UPDATE {s}.deployments_view SET status = %s WHERE deployment_id = %s",
            [status.value, deployment_id],
        )
