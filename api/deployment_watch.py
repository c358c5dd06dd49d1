"""Where the deployments read model stands, learnt once per API app for all its status streams.

Every open `…/deployments:events` stream used to poll the read model's position twice a second
on its own: N browser tabs cost 2N reads a second per process, changes or not. Now one
`DeploymentWatch` per app learns the position and wakes the streams waiting on it; each stream
then reads only its own tenant's changes (`api.routes.deployment_events`).

How it learns: a connection of its own LISTENs on the event store's channel (every append
NOTIFYs it, `infra.eventstore.NOTIFY_CHANNEL`, but for billed calls, which are announced on a
channel of their own and so do not wake it). After a commit it reads the log's head and
then where the read model stands, again after 5, 10, 20 … ms (capped at `CATCH_UP_MAX_S`) until
the read model has reached that head; each move is published to the streams. In embedded mode
"where it stands" is its tracking position; in Kafka mode, whether it has reached the head (as
`?wait_for=` asks), since it tracks partition offsets. Without commits it reads again every
`SAFETY_POLL_S` (a NOTIFY lost while reconnecting costs at most that). Moves reach the streams at
most once per `MIN_GAP_S`: under a steady stream of commits a stream reads no more often than
its own poll used to; after a quiet spell the first change
goes out at once.

The watcher starts with the first stream (`watch_of`, on the app's loop) and stops with the app
(`close_watch`, from its lifespan): its task is cancelled and its connection closed, and streams
still waiting end. A lost connection is logged and retried with a backoff up to `RETRY_MAX_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from eventsourcing import persistence
from fastapi import FastAPI
from prometheus_client import Gauge

from infra.container import Container
from infra.eventstore import NOTIFY_CHANNEL
from projections.consistency import has_reached, log_position

log = logging.getLogger("mcps.deployments.watch")

READ_MODEL = "deployments"
#: Without a commit, how often the watcher reads anyway (a safety net for a lost NOTIFY).
SAFETY_POLL_S = 5.0
#: After a commit, the first wait for the read model to reach it, doubled up to the cap.
CATCH_UP_MIN_S = 0.005
CATCH_UP_MAX_S = 0.5
#: Moves reach the streams at most this often.
MIN_GAP_S = 0.5
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
#: How the watcher's LISTEN connection shows in `pg_stat_activity`.
APPLICATION_NAME = "mcps-deployment-watch"

#: A database gone away, in psycopg's terms or (the log's head, read by the store's recorder)
#: in eventsourcing's.
LOST = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
    OSError,
)

WATCHERS = Gauge("mcps_deployment_watchers", "Running watchers of the deployments read model")
STREAMS = Gauge("mcps_deployment_streams", "Open deployment status streams")


class DeploymentWatch:
    """The deployments read model's position, for the streams of one app (on its loop)."""

    def __init__(self, container: Container) -> None:
        self.container = container
        #: Every event up to it is in the read model's rows; None until the first reading.
        self.position: int | None = None
        self.closed = False
        self._moved = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._target = 0
        self._retry = RETRY_MIN_S

    def start(self) -> None:
        if self._task is None and not self.closed:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="deployment-watch"
            )

    async def close(self) -> None:
        self.closed = True
        self._wake()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def read_position(self) -> int:
        """Where the read model stands, read now (blocking: run it in a thread)."""
        return self._stands(self.container.events.head())

    async def beyond(self, position: int, timeout: float) -> int:
        """The read model's position once it has moved past `position`, or `position` if it
        has not within `timeout` (or the watcher closed)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self.closed and (self.position is None or self.position <= position):
                    await self._moved.wait()
        return max(position, self.position or 0)

    def _wake(self) -> None:
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    def _publish(self, position: int) -> bool:
        if self.position is not None and position <= self.position:
            return False
        self.position = position
        self._wake()
        return True

    async def _run(self) -> None:
        WATCHERS.inc()
        try:
            while True:
                try:
                    await self._follow()
                except LOST as error:
                    log.warning("deployment watch lost its connection: %s; retrying", error)
                except Exception:
                    log.exception("deployment watch failed; retrying")
                await asyncio.sleep(self._retry)
                self._retry = min(self._retry * 2, RETRY_MAX_S)
        finally:
            WATCHERS.dec()

    async def _follow(self) -> None:
        url = self.container.db.target.url()
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, application_name=APPLICATION_NAME
        ) as listener:
            # LISTEN before the first read: a commit after that read queues its NOTIFY.
            await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._target = await asyncio.to_thread(self.container.events.head)
            self._retry = RETRY_MIN_S
            delay = CATCH_UP_MIN_S
            while True:
                at = await asyncio.to_thread(self._stands, self._target)
                if self._publish(at):
                    await asyncio.sleep(MIN_GAP_S)
                if at >= self._target:
                    await _commits(listener, SAFETY_POLL_S)
                    self._target = await asyncio.to_thread(self.container.events.head)
                    delay = CATCH_UP_MIN_S
                else:
                    # Commits queue their NOTIFYs meanwhile; the wait above takes them.
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, CATCH_UP_MAX_S)

    def _stands(self, target: int) -> int:
        """Where the read model stands now (blocking: run in a thread): at `target` once it has
        applied all it handles up to there (in Kafka mode it tracks partition offsets, not log
        positions; a log projector moves past other events lazily), else its position."""
        settings, db = self.container.settings, self.container.db
        known = self.position or 0
        reached = has_reached(
            db, READ_MODEL, target, distributed=settings.distributed,
            prefix=settings.kafka_topic_prefix,
        )  # fmt: skip
        if reached:
            return max(known, target)
        return known if settings.distributed else max(known, log_position(db, READ_MODEL))


async def _commits(listener: psycopg.AsyncConnection[Any], timeout: float) -> None:
    """Until a writer commits (its NOTIFY) or `timeout`; the other queued NOTIFYs are taken
    too, since the next read sees their commits as well."""
    async for _ in listener.notifies(timeout=timeout, stop_after=1):
        pass
    async for _ in listener.notifies(timeout=0.0):
        pass


def watch_of(app: FastAPI) -> DeploymentWatch:
    """The app's one watcher, made and started on first use (on the loop that serves it)."""
    watch: DeploymentWatch | None = getattr(app.state, "deployment_watch", None)
    if watch is None:
        watch = app.state.deployment_watch = DeploymentWatch(app.state.container)
    watch.start()
    return watch


async def close_watch(app: FastAPI) -> None:
    watch: DeploymentWatch | None = getattr(app.state, "deployment_watch", None)
    if watch is not None:
        await watch.close()
