"""Health of running instances, over MCP: `initialize` once, then `ping` on an interval.

One asyncio loop in a thread of its own keeps one MCP session per instance (never a new
session per probe), with the lean client the gateway uses (`infra.mcp.wire`): a probe is one
small HTTP request, not the SDK's machinery. A starting instance is probed often, so it is
known healthy as soon as it answers; a healthy one every `interval`. A starting instance's
first probe waits at its bridge until the server is ready (the bridge holds requests that
come early), so it answers the moment the server does. The deployer reads the latest
verdicts each pass (`verdict`) and records only transitions; `changed` is set when an
instance's verdict turns (or comes first), so the deployer passes at once to record it.

A remote endpoint is connected to at the address the SSRF check approved (`pinned_url`), so
a name that re-resolves to an internal address between checks gets nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

from infra.mcp.connect import Target
from infra.mcp.wire import WireSession, open_wire_session

log = logging.getLogger("mcps.deployer.health")

PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    detail: str
    at: float


class HealthChecker:
    def __init__(
        self,
        *,
        interval: float = 5.0,
        starting_interval: float = 0.05,
        allowed_hosts: list[str] | None = None,
    ) -> None:
        self.interval = interval
        self.starting_interval = starting_interval
        self.allowed_hosts = allowed_hosts or []
        self._verdicts: dict[str, Verdict] = {}
        #: Set (from the probing thread) when a verdict turns; the deployer clears it.
        self.changed = threading.Event()
        self._tasks: dict[str, tuple[Target, asyncio.Task[None]]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="health")
        self._thread.start()

    # --- called from the deployer's thread --------------------------------------------------

    def watch(self, targets: dict[str, Target]) -> None:
        """Probe exactly these instances from now on (others are dropped)."""
        asyncio.run_coroutine_threadsafe(self._watch(dict(targets)), self._loop).result(10)

    def verdict(self, instance_id: str) -> Verdict | None:
        """The latest probe's outcome; None until the first probe finished."""
        return self._verdicts.get(instance_id)

    def close(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._watch({}), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # --- on the loop --------------------------------------------------------------------------

    async def _watch(self, targets: dict[str, Target]) -> None:
        dropped = []
        for instance_id in list(self._tasks):
            target, task = self._tasks[instance_id]
            if targets.get(instance_id) != target:
                task.cancel()
                dropped.append(task)
                del self._tasks[instance_id]
                self._verdicts.pop(instance_id, None)
        # Let them close their sessions before anything else (the loop may stop next).
        await asyncio.gather(*dropped, return_exceptions=True)
        for instance_id, target in targets.items():
            if instance_id not in self._tasks:
                task = self._loop.create_task(self._probe(instance_id, target))
                self._tasks[instance_id] = (target, task)

    async def _probe(self, instance_id: str, target: Target) -> None:
        while True:
            session: WireSession | None = None
            try:
                session = await open_wire_session(
                    target,
                    allowed_hosts=self.allowed_hosts,
                    timeout=PROBE_TIMEOUT_S,
                    max_connections=2,
                )
                while True:
                    self._judge(instance_id, Verdict(True, "", time.time()))
                    await asyncio.sleep(self.interval)
                    async with asyncio.timeout(PROBE_TIMEOUT_S):
                        await session.request("ping")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # whatever broke, the instance did not answer
                detail = _describe(error)
                self._judge(instance_id, Verdict(False, detail, time.time()))
                log.debug("instance %s: %s", instance_id, detail)
            finally:
                if session is not None:
                    await session.close()
            await asyncio.sleep(self.starting_interval)

    def _judge(self, instance_id: str, verdict: Verdict) -> None:
        before = self._verdicts.get(instance_id)
        self._verdicts[instance_id] = verdict
        if before is None or before.healthy != verdict.healthy:
            self.changed.set()


def _describe(error: BaseException) -> str:
    """The innermost cause, briefly: task groups wrap the error that matters."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:500]
