"""The deployer (`mcps-server deployer`): a level-triggered reconciler.

Each pass compares the desired state of every deployment (the deployments read model) with
what the runtimes hold now (`Runtime.observe`), and acts until they match: start what is
missing, replace what is old (rolling: one new instance at a time, each healthy before an old
one stops), stop what is surplus, and record what it sees as events (instances started,
health transitions, exits). It keeps nothing it could not rebuild: after a `kill -9` a new
deployer observes the same instances, records the ones nobody recorded (adoption), and starts
only what is still missing, so no instance is ever doubled.

One deployer leads at a time (a session-level Postgres advisory lock); others wait for it.

What it records happens for a deployment's tenant, so every event it records carries that
tenant and the actor `system:deployer` (it runs without a request to take them from), and
shows in the tenant's audit log.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from threading import Event
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from eventsourcing.utils import get_topic

from domain.deployments.application import Deployments
from domain.deployments.deployments import Deployment
from domain.deployments.values import Desired, Health
from domain.shared.context import bound
from domain.shared.errors import ConcurrentChangeError, DomainError
from infra.database import Database
from infra.deployment_logs import LogShipper
from infra.eventstore import EVENTS_TABLE, concerns, log_follower, wait_for_commits
from infra.mcp.connect import Target
from infra.runtimes.base import InstanceSpec, Observed, Runtime, RuntimeStartError
from infra.runtimes.policy import check_runnable
from infra.settings import RuntimeSettings
from projections.consistency import wait_for_position
from projections.deployments_queries import desired_state
from workers.autoscaler import Autoscaler
from workers.deployer_health import HealthChecker

log = logging.getLogger("mcps.deployer")

ACTOR = "system:deployer"
LEADER_LOCK = "SELECT pg_try_advisory_lock(hashtext('mcps.deployer')) AS leading"
#: How long a new instance may take to answer its first health check (a first start may
#: install its package), and how long a healthy one may fail checks before it is replaced.
START_GRACE_S = 120.0
UNHEALTHY_GRACE_S = 30.0
BACKOFF_BASE_S, BACKOFF_MAX_S = 1.0, 60.0
BUSY_INTERVAL_S, IDLE_INTERVAL_S = 0.1, 0.25
#: What members (and the scaler) ask of a deployment, as opposed to the instance facts the
#: deployer records itself: once one reaches the read model, a pass follows at once.
ASKED = tuple(
    get_topic(kind)
    for kind in (
        Deployment.Requested,
        Deployment.Recreated,
        Deployment.Scaled,
        Deployment.Reconfigured,
        Deployment.AutoscalingSet,
        Deployment.AutoscalingCleared,
        Deployment.Autoscaled,
        Deployment.Upgraded,
        Deployment.RolledBack,
        Deployment.StartRequested,
        Deployment.StopRequested,
        Deployment.RestartRequested,
        Deployment.Deleted,
    )
)
#: How long a pass waits for the read model to show what was asked (then the interval's
#: pass sees it anyway).
READ_MODEL_WAIT_S = 2.0

T = TypeVar("T")


@dataclass
class Tracked:
    """What this deployer remembers of an instance between passes (rebuilt after a restart)."""

    first_seen: float
    health: str | None = None  # the last health recorded as an event
    unhealthy_since: float | None = None


@dataclass
class PassReport:
    actions: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.actions)


class Reconciler:
    def __init__(
        self,
        deployments: Deployments,
        db: Database,
        runtimes: dict[str, Runtime],
        health: HealthChecker,
        logs: LogShipper | None = None,
        *,
        policy: RuntimeSettings | None = None,
        autoscaler: Autoscaler | None = None,
        clock: Callable[[], float] = time.monotonic,
        distributed: bool = False,
        topic_prefix: str = "mcps",
    ) -> None:
        self.deployments = deployments
        self.db = db
        self.runtimes = runtimes
        self.health = health
        self.logs = logs
        self.autoscaler = autoscaler
        self.clock = clock
        self.policy = policy or RuntimeSettings()
        #: How the deployments read model follows the log (directly, or through Kafka).
        self.distributed, self.topic_prefix = distributed, topic_prefix
        self.tracked: dict[str, Tracked] = {}
        self.crashes: dict[UUID, int] = defaultdict(int)
        self.not_before: dict[UUID, float] = {}
        #: The runtime holding each instance seen (or started) in this pass.
        self.holder: dict[str, Runtime] = {}
        #: Instances started in this pass: probed at once, not from the next pass on.
        self.started: list[Observed] = []
        #: Set when a pass is due before the interval ends (a health verdict turned).
        self.wake = health.changed
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        # Logs ship beside the passes: a slow insert (chDB's first takes seconds) must not
        # hold up the next pass, which may have a health verdict to record.
        self._shipper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deployer-logs")
        self._shipping: Future[None] | None = None

    # --- one pass ---------------------------------------------------------------------------

    def reconcile_once(self) -> PassReport:
        wanted = self._desired()
        report = PassReport()
        if self.autoscaler is not None:
            try:
                report.actions += self.autoscaler.scale(wanted)
            except Exception:  # scaling is a refinement; reconciling must go on
                log.exception("deployer: autoscaler failed")
        self.holder, self.started = {}, []
        observed: list[Observed] = []
        for runtime in self.runtimes.values():
            for seen in runtime.observe():
                self.holder[seen.instance_id] = runtime
                observed.append(seen)
        by_deployment: dict[UUID, list[Observed]] = defaultdict(list)
        for seen in observed:
            by_deployment[seen.deployment_id].append(seen)
        known = {row["deployment_id"] for row in wanted}
        for deployment_id, orphans in by_deployment.items():
            if deployment_id not in known:  # no deployment (yet) in the read model
                for seen in orphans:
                    if not seen.running and seen.reason:
                        self._remove(seen, report, "orphan exited")
        for row in wanted:
            holding = self.runtimes.get(row["runtime_kind"])
            if holding is not None:  # else another deployer, with that runtime, serves it
                self._reconcile(row, by_deployment.get(row["deployment_id"], []), holding, report)
        self.health.watch(
            {
                seen.instance_id: Target(seen.endpoint, self._is_remote(seen))
                for seen in [*observed, *self.started]
                if seen.running and seen.endpoint and seen.instance_id in self.tracked
            }
        )
        if self.logs is not None and (self._shipping is None or self._shipping.done()):
            self._shipping = self._shipper.submit(self._ship, observed, dict(self.holder))
        present = {seen.instance_id for seen in [*observed, *self.started]}
        for instance_id in set(self.tracked) - present:
            del self.tracked[instance_id]
        return report

    def _ship(self, observed: list[Observed], holder: dict[str, Runtime]) -> None:
        assert self.logs is not None
        try:
            self.logs.ship(observed, holder)
        except Exception:  # the next call ships what this one could not
            log.exception("deployer: shipping logs failed")

    def flush_logs(self) -> None:
        """Wait for the logs being shipped (a caller about to read them, or shutting down)."""
        if self._shipping is not None:
            self._shipping.result()

    def follow_asked(self, stop: Event) -> None:
        """Wake the pass loop as soon as what a member asked of a deployment is in the read
        model, instead of at the next interval. A commit of such a request wakes this (the
        store's NOTIFY names the topics written); one indexed look at the new events says
        where it is. Other commits are looked past at most once a second, to keep that look
        short."""
        while not stop.is_set():
            try:
                with log_follower(self.db, ASKED) as (conn, listener):
                    seen, looked = _head(conn), time.monotonic()
                    while not stop.is_set():
                        committed = wait_for_commits(listener, timeout=0.5)
                        if (
                            committed
                            and not concerns(committed, ASKED, ())
                            and time.monotonic() - looked < 1.0
                        ):
                            continue  # others' events (billed calls): nothing asked
                        seen, asked = _asked_since(conn, seen)
                        looked = time.monotonic()
                        if asked is not None:
                            wait_for_position(
                                self.db, "deployments", asked, READ_MODEL_WAIT_S,
                                distributed=self.distributed, prefix=self.topic_prefix,
                            )  # fmt: skip
                            self.wake.set()
            except psycopg.OperationalError as error:
                log.warning("deployer: not following the log (%s); retrying", error)
                stop.wait(1.0)

    def close(self) -> None:
        """End what the reconciler keeps between passes: the health probes' sessions, the
        runtimes' spare bridges and its connection. Instances keep running (`stop_all`
        stops them)."""
        self.health.close()
        for runtime in self.runtimes.values():
            runtime.close()
        if self._conn is not None:
            self._conn.close()

    def stop_all(self) -> None:
        """Stop every instance (the one-process product shutting down), recording each."""
        report = PassReport()
        for runtime in self.runtimes.values():
            for seen in runtime.observe():
                self.holder[seen.instance_id] = runtime
                if seen.running or not seen.reason:
                    self._stop(seen, runtime, report, "stopped")

    def _desired(self) -> list[dict[str, Any]]:
        """From one connection kept open between passes (re-opened if it broke)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.db.connect_owner(autocommit=True)
        try:
            return desired_state(self._conn)
        except psycopg.OperationalError:
            self._conn.close()
            raise

    def _reconcile(
        self, row: dict[str, Any], instances: list[Observed], runtime: Runtime, report: PassReport
    ) -> None:
        deployment_id: UUID = row["deployment_id"]
        recorded = {i["id"]: i for i in row["instances"]}
        live: list[Observed] = []
        for seen in instances:
            if not seen.running and seen.reason:
                self._exited(seen, report)
            else:
                live.append(seen)
        for seen in live:
            tracked = self.tracked.get(seen.instance_id)
            if tracked is None:
                tracked = self.tracked[seen.instance_id] = Tracked(first_seen=self.clock())
                tracked.health = recorded.get(seen.instance_id, {}).get("health")
                if seen.instance_id not in recorded:
                    self._adopt(seen, report)
                    tracked.health = Health.STARTING.value
            if seen.running:
                self._check_health(seen, tracked, runtime, report)
        live = [seen for seen in live if seen.instance_id in self.tracked]
        running = row["desired"] == Desired.RUNNING.value and not row["failed"]
        if not running:
            reason = "deleted" if row["desired"] == Desired.DELETED.value else "stopped"
            for seen in live:
                self._stop(seen, runtime, report, reason)
            return
        current = [
            seen
            for seen in live
            if seen.generation == row["generation"] and seen.version == row["version"]
        ]
        old = [seen for seen in live if seen not in current]
        healthy = [seen for seen in current if self._is_healthy(seen)]
        replicas: int = row["replicas"]
        for seen in self._surplus(current, len(current) - replicas):
            self._stop(seen, runtime, report, "scaled-down")
        if old:
            # Rolling: one new instance at a time, an old one retired for each healthy new one.
            if len(current) < replicas and len(healthy) == len(current):
                self._start(deployment_id, current, runtime, report)
            for seen in self._surplus(old, len(healthy) + len(old) - replicas):
                self._stop(seen, runtime, report, "replaced")
        else:
            for _ in range(replicas - len(current)):
                if not self._start(deployment_id, current, runtime, report):
                    break

    # --- instance facts -----------------------------------------------------------------------

    def _exited(self, seen: Observed, report: PassReport) -> None:
        crash = Deployment.is_crash(seen.reason)
        self._record(
            self.deployments.record_exit, seen.tenant_id, seen.deployment_id, seen.instance_id,
            seen.exit_code, seen.reason,
        )  # fmt: skip
        if crash:
            self._crashed(seen.deployment_id)
        self._remove(seen, report, f"exited ({seen.reason})")

    def _adopt(self, seen: Observed, report: PassReport) -> None:
        """An instance nobody recorded (its deployer died after starting it): record it with
        the version and generation it was started with; the pass then keeps or replaces it."""
        self._record(
            self.deployments.record_started, seen.tenant_id, seen.deployment_id,
            seen.instance_id, seen.replica, seen.ref, seen.endpoint, version=seen.version,
            generation=seen.generation,
        )  # fmt: skip
        report.actions.append(f"adopted {seen.instance_id}")

    def _check_health(
        self, seen: Observed, tracked: Tracked, runtime: Runtime, report: PassReport
    ) -> None:
        verdict = self.health.verdict(seen.instance_id)
        now = self.clock()
        if verdict is not None and verdict.healthy:
            health, detail, tracked.unhealthy_since = Health.HEALTHY, "", None
            self.crashes.pop(seen.deployment_id, None)
        elif tracked.health in (None, Health.STARTING.value) and (
            now - tracked.first_seen < START_GRACE_S
        ):
            health, detail = Health.STARTING, ""
        else:
            health = Health.UNHEALTHY
            detail = verdict.detail if verdict is not None else "no answer since it started"
            tracked.unhealthy_since = tracked.unhealthy_since or now
        if health.value != tracked.health:
            self._record(
                self.deployments.record_health, seen.tenant_id, seen.deployment_id,
                seen.instance_id, health, detail,
            )  # fmt: skip
            tracked.health = health.value
            report.actions.append(f"{seen.instance_id} {health.value}")
        if tracked.unhealthy_since is not None and now - tracked.unhealthy_since > (
            UNHEALTHY_GRACE_S
        ):
            self._stop(seen, runtime, report, f"unhealthy: {detail}")

    def _is_remote(self, seen: Observed) -> bool:
        return self.holder[seen.instance_id].kind == "remote"

    def _is_healthy(self, seen: Observed) -> bool:
        tracked = self.tracked.get(seen.instance_id)
        return tracked is not None and tracked.health == Health.HEALTHY.value

    # --- actions ------------------------------------------------------------------------------

    def _start(
        self, deployment_id: UUID, current: list[Observed], runtime: Runtime, report: PassReport
    ) -> bool:
        """Start one instance of the deployment's current release; False while it backs off."""
        if self.clock() < self.not_before.get(deployment_id, 0.0):
            return False
        deployment = self.deployments.by_id(deployment_id)
        if deployment.desired is not Desired.RUNNING or deployment.error is not None:
            return False  # the read model lags the aggregate; the next pass sees the change
        taken = {seen.replica for seen in current}
        replica = next(n for n in range(1, len(taken) + 2) if n not in taken)
        spec = InstanceSpec(
            instance_id=f"{deployment.name[:40]}-{deployment_id.hex[:8]}-{secrets.token_hex(3)}",
            deployment_id=deployment_id,
            tenant_id=deployment.tenant,
            deployment_name=deployment.name,
            replica=replica,
            generation=deployment.generation,
            version=deployment.version_name,
            runtime=deployment.release["runtime"],
            config_schema=deployment.release["config_schema"],
            config=self.deployments.runtime_config(deployment),
        )
        try:
            check_runnable(spec.runtime, self.policy)
            started = runtime.start(spec)
        except (RuntimeStartError, DomainError) as error:
            self._record(
                self.deployments.record_start_failed, deployment.tenant, deployment_id, replica,
                str(error),
            )  # fmt: skip
            self._crashed(deployment_id)
            report.actions.append(f"{deployment.name}: start failed ({error})")
            return False
        self.tracked[started.instance_id] = Tracked(
            first_seen=self.clock(), health=Health.STARTING.value
        )
        self._record(
            self.deployments.record_started, deployment.tenant, deployment_id,
            started.instance_id, replica, started.ref, started.endpoint,
        )  # fmt: skip
        current.append(started)
        self.started.append(started)
        self.holder[started.instance_id] = runtime
        report.actions.append(f"started {started.instance_id}")
        return True

    def _stop(self, seen: Observed, runtime: Runtime, report: PassReport, reason: str) -> None:
        runtime.stop(seen.instance_id)
        self._record(
            self.deployments.record_exit, seen.tenant_id, seen.deployment_id, seen.instance_id,
            None, reason,
        )  # fmt: skip
        if Deployment.is_crash(reason):
            self._crashed(seen.deployment_id)
        runtime.remove(seen.instance_id)
        self.tracked.pop(seen.instance_id, None)
        report.actions.append(f"stopped {seen.instance_id} ({reason})")

    def _remove(self, seen: Observed, report: PassReport, why: str) -> None:
        self.holder[seen.instance_id].remove(seen.instance_id)
        self.tracked.pop(seen.instance_id, None)
        report.actions.append(f"removed {seen.instance_id}: {why}")

    def _surplus(self, instances: list[Observed], count: int) -> list[Observed]:
        """The `count` to let go first: unhealthy before healthy, then the highest replica."""
        ranked = sorted(instances, key=lambda s: (self._is_healthy(s), -s.replica))
        return ranked[: max(count, 0)]

    def _crashed(self, deployment_id: UUID) -> None:
        """Exponential back-off before the next start: 1 s, 2 s, 4 s … up to a minute."""
        self.crashes[deployment_id] += 1
        delay = min(BACKOFF_BASE_S * 2 ** (self.crashes[deployment_id] - 1), BACKOFF_MAX_S)
        self.not_before[deployment_id] = self.clock() + delay

    def _record(
        self, command: Callable[..., T], tenant_id: UUID, *args: Any, **kwargs: Any
    ) -> T | None:
        """Record what was seen, as the deployer for the deployment's tenant; a concurrent
        change (a member's command) is retried on the fresh aggregate, and a deployment
        deleted meanwhile is simply skipped."""
        with bound(actor=ACTOR, tenant_id=str(tenant_id)):
            for _ in range(5):
                try:
                    return command(*args, **kwargs)
                except ConcurrentChangeError:
                    continue
                except DomainError as error:
                    log.info("not recorded: %s", error)
                    return None
        return None


# --- running it -------------------------------------------------------------------------------


@contextmanager
def leadership(db: Database, stop: Event, poll: float = 1.0) -> Iterator[bool]:
    """Hold the deployer lock for as long as the block runs; yields False if stopped first."""
    with db.connect_owner(autocommit=True) as conn:
        while not stop.is_set():
            row = conn.execute(LEADER_LOCK).fetchone()
            if row is not None and row["leading"]:
                log.info("deployer: leading")
                yield True
                return
            stop.wait(poll)
        yield False


def run(reconciler: Reconciler, stop: Event) -> None:
    """Pass after pass until `stop`: quickly while something changes, calmly otherwise, and
    at once when woken (a health verdict turned, or a member asked for a change)."""
    follower = threading.Thread(
        target=reconciler.follow_asked, args=(stop,), daemon=True, name="deployer-follow"
    )
    follower.start()
    while not stop.is_set():
        reconciler.wake.clear()  # a wake during the pass makes the wait below return at once
        try:
            busy = reconciler.reconcile_once().busy
        except psycopg.OperationalError as error:
            log.warning("deployer: database unavailable (%s); retrying", error)
            busy = False
        except Exception:  # a pass must not kill the deployer; the next one retries
            log.exception("deployer: pass failed")
            busy = False
        reconciler.wake.wait(BUSY_INTERVAL_S if busy or _settling(reconciler) else IDLE_INTERVAL_S)


def _head(conn: psycopg.Connection[dict[str, Any]]) -> int:
    row = conn.execute(f"SELECT max(notification_id) AS head FROM {EVENTS_TABLE}").fetchone()
    return int(row["head"] or 0) if row else 0


def _asked_since(conn: psycopg.Connection[dict[str, Any]], after: int) -> tuple[int, int | None]:
    """The log's head now, and the position of the last request among the events after
    `after` (None when there was none)."""
    row = conn.execute(
        f"SELECT max(notification_id) AS head,"
        f" max(notification_id) FILTER (WHERE topic = ANY(%s)) AS asked"
        f" FROM {EVENTS_TABLE} WHERE notification_id > %s",
        [list(ASKED), after],
    ).fetchone()
    if row is None or row["head"] is None:
        return after, None
    return int(row["head"]), row["asked"]


def _settling(reconciler: Reconciler) -> bool:
    """Instances still starting: pass often so health is recorded soon after it changes."""
    return any(t.health != Health.HEALTHY.value for t in reconciler.tracked.values())
