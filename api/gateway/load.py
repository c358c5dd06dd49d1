"""This API process's share of the autoscaler's signal: calls in flight per deployment.

Every `sample_seconds` the publisher counts the calls in flight to each instance (each
upstream's `outstanding`) and adds them up per deployment; every `publish_seconds` it
publishes the average of those samples and their peak (`infra/load_signal.py`), so a burst
that starts and ends between two publications still counts. A deployment whose load went back
to nothing is published once more as idle, then no longer (its entry expires).

It runs on the serving loop beside the gateway, reading only memory there; the publication
itself goes to a worker thread (the store's client is synchronous).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from api.gateway.routing import RouteTable
from api.gateway.upstreams import UpstreamPool
from infra.load_signal import Load, LoadSignal
from infra.settings import AutoscalingSettings

log = logging.getLogger("mcps.gateway.load")


class LoadPublisher:
    def __init__(
        self,
        signal: LoadSignal,
        routes: RouteTable,
        pool: UpstreamPool,
        settings: AutoscalingSettings,
    ) -> None:
        self.signal = signal
        self.routes = routes
        self.pool = pool
        self.settings = settings
        #: Names this process among the publishers (unique even for two apps in one process).
        self.source = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._deployment_of: dict[str, UUID] = {}
        self._sums: dict[UUID, int] = {}
        self._peaks: dict[UUID, int] = {}
        self._samples = 0
        self._busy: set[UUID] = set()  # deployments last published with some load
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """On the running loop (the gateway is made on it)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="load-publisher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # --- counting ---------------------------------------------------------------------------

    def sample(self) -> None:
        """Count the calls in flight now, per deployment."""
        counts: dict[UUID, int] = {}
        busy = self.pool.in_flight()
        if any(instance not in self._deployment_of for instance in busy):
            self._deployment_of = {
                instance.id: route.deployment_id
                for route in self.routes.held()
                for instance in route.instances
            }
        for instance, calls in busy.items():
            deployment_id = self._deployment_of.get(instance)
            if deployment_id is not None:
                counts[deployment_id] = counts.get(deployment_id, 0) + calls
        self._samples += 1
        for deployment_id, calls in counts.items():
            self._sums[deployment_id] = self._sums.get(deployment_id, 0) + calls
            self._peaks[deployment_id] = max(self._peaks.get(deployment_id, 0), calls)

    def take(self) -> dict[UUID, Load]:
        """The loads since the last take, plus an idle entry for each deployment that had
        load then and none now; counting starts again."""
        samples = max(self._samples, 1)
        loads = {d: Load(total / samples, self._peaks[d]) for d, total in self._sums.items()}
        for deployment_id in self._busy - set(loads):
            loads[deployment_id] = Load(0.0, 0)
        self._busy = set(self._sums)
        self._sums, self._peaks, self._samples = {}, {}, 0
        return loads

    # --- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_publication = loop.time() + self.settings.publish_seconds
        while True:
            await asyncio.sleep(self.settings.sample_seconds)
            self.sample()
            if loop.time() < next_publication:
                continue
            next_publication = loop.time() + self.settings.publish_seconds
            loads = self.take()
            if not loads:
                continue
            try:
                await run_in_threadpool(
                    self.signal.publish, self.source, loads, self.settings.signal_ttl_seconds
                )
            except Exception as error:  # the signal is advisory: calls go on without it
                log.warning("load not published: %s", error)
