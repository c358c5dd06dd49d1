"""The scaler: in the leading deployer, replicas follow the calls in flight.

About once a second (`interval_seconds`), for every running deployment with an autoscaling
policy, it reads the load the API processes publish (`infra/load_signal.py`), notes the
replicas that load asks for, and lets `domain.deployments.autoscaling.decide` say whether to
scale. A decision is a `Deployment.Autoscaled` event (actor `system:autoscaler`) that changes
the desired replicas; the reconciler then starts or stops instances as for a manual scale.

What it keeps in memory is only the recent recommendations, for the stabilisation window: a
restarted (or newly leading) scaler starts watching afresh, and so waits a whole window before
it lets replicas go; it never scales down on less evidence. Policies, replicas and the time
of the last decision (the cooldown) come from the read model.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.deployments.application import Deployments
from domain.deployments.autoscaling import Policy, Timing, decide, recommended
from domain.deployments.values import Desired
from domain.shared.context import bound
from domain.shared.errors import ConcurrentChangeError, DomainError
from infra.load_signal import IDLE, LoadSignal
from infra.settings import AutoscalingSettings

log = logging.getLogger("mcps.deployer.autoscaler")

ACTOR = "system:autoscaler"


@dataclass
class Watch:
    """What the scaler saw of one deployment since it began watching it without a gap."""

    since: float
    seen_at: float
    recommendations: deque[tuple[float, int]] = field(default_factory=deque)
    changed_at: float | None = None


class Autoscaler:
    def __init__(
        self,
        deployments: Deployments,
        signal: LoadSignal,
        settings: AutoscalingSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.deployments = deployments
        self.signal = signal
        self.settings = settings
        self.timing = Timing(settings.stabilisation_seconds, settings.cooldown_seconds)
        self.clock = clock
        self.watching: dict[UUID, Watch] = {}
        self._next_at = 0.0

    def scale(self, rows: list[dict[str, Any]]) -> list[str]:
        """One look at the load, at most every `interval_seconds`; `rows` are the deployer's
        desired state. Returns what it decided, for the pass report."""
        now = self.clock()
        if now < self._next_at:
            return []
        self._next_at = now + self.settings.interval_seconds
        scaled = [
            row
            for row in rows
            if row["autoscaling"] and row["desired"] == Desired.RUNNING.value and not row["failed"]
        ]
        for gone in set(self.watching) - {row["deployment_id"] for row in scaled}:
            del self.watching[gone]
        if not scaled:
            return []
        try:
            loads = self.signal.read(row["deployment_id"] for row in scaled)
        except Exception as error:  # no signal, no decision: the next look tries again
            log.warning("autoscaler: no load signal (%s)", error)
            return []
        actions = []
        for row in scaled:
            action = self._look(row, loads.get(row["deployment_id"], IDLE).in_flight, now)
            if action:
                actions.append(action)
        return actions

    def _look(self, row: dict[str, Any], in_flight: float, now: float) -> str | None:
        deployment_id: UUID = row["deployment_id"]
        policy = Policy(**row["autoscaling"])
        watch = self.watching.get(deployment_id)
        gap = 3 * self.settings.interval_seconds + 1.0
        if watch is None or now - watch.seen_at > gap:  # new, or not watched for a while
            watch = self.watching[deployment_id] = Watch(since=now, seen_at=now)
        watch.seen_at = now
        watch.recommendations.append((now, recommended(policy, in_flight)))
        while watch.recommendations[0][0] < now - self.timing.stabilisation_seconds:
            watch.recommendations.popleft()
        last = row["last_autoscaled"]
        changed_at = datetime.fromisoformat(last["at"]).timestamp() if last else None
        if watch.changed_at is not None:
            changed_at = max(changed_at or 0.0, watch.changed_at)
        decision = decide(
            policy,
            row["replicas"],
            list(watch.recommendations),
            watch.since,
            changed_at,
            now,
            self.timing,
        )
        if decision is None:
            return None
        if not self._record(
            row["tenant_id"], deployment_id, decision.to_replicas, in_flight, decision.reason
        ):
            return None
        watch.changed_at = now
        return (
            f"{row['name']}: autoscaled {row['replicas']} -> {decision.to_replicas}"
            f" ({decision.reason}, {in_flight:.2f} in flight)"
        )

    def _record(
        self, tenant_id: UUID, deployment_id: UUID, to_replicas: int, in_flight: float, reason: str
    ) -> bool:
        """The decision as an event of the deployment's tenant (its audit log shows it)."""
        with bound(actor=ACTOR, tenant_id=str(tenant_id)):
            for _ in range(5):
                try:
                    self.deployments.autoscale(deployment_id, to_replicas, in_flight, reason)
                    return True
                except ConcurrentChangeError:
                    continue  # a member's command or an instance fact came first: again
                except DomainError as error:  # deleted, or autoscaling turned off meanwhile
                    log.info("autoscaler: not recorded: %s", error)
                    return False
        return False
