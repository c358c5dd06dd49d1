"""Persistent MCP sessions to instances, chosen by least outstanding calls, with a breaker.

Each instance gets one `ClientSession`, opened on first use and shared by every concurrent
call to it (never a session per call). The session's transport lives in a task of its own
(the SDK's transports are task-scoped context managers); when it ends, because the instance
died or went away, the calls still waiting on it fail at once rather than at their timeout,
and the next call opens a new session.

A breaker per instance stops sending to one that keeps failing: after `FAILURES_TO_OPEN`
consecutive failures it is skipped for `OPEN_SECONDS`; after that one more failure opens it
again at once, and one success closes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from jsonschema import Draft202012Validator
from mcp import ClientSession

from api.gateway.routing import InstanceRoute, validator_for
from infra.mcp.connect import Target, open_session

log = logging.getLogger("mcps.gateway.upstreams")

FAILURES_TO_OPEN = 5
OPEN_SECONDS = 5.0
CONNECT_TIMEOUT_S = 10.0
IDLE_CLOSE_S = 300.0


class UpstreamUnavailableError(Exception):
    """No session could be had, or it ended while the call waited."""


@dataclass(frozen=True)
class LiveTool:
    name: str
    description: str
    input_schema: dict[str, Any]
    validator: Draft202012Validator
    annotations: dict[str, Any] | None = None


@dataclass
class Breaker:
    failures: int = 0
    open_until: float = 0.0

    def allows(self, now: float) -> bool:
        return now >= self.open_until

    def succeeded(self) -> None:
        self.failures = 0
        self.open_until = 0.0

    def failed(self, now: float) -> None:
        self.failures += 1
        if self.failures >= FAILURES_TO_OPEN:
            self.open_until = now + OPEN_SECONDS


@dataclass(eq=False)
class Upstream:
    instance_id: str
    target: Target
    allowed_hosts: list[str]
    outstanding: int = 0
    breaker: Breaker = field(default_factory=Breaker)
    tools: dict[str, LiveTool] | None = None
    capabilities: types.ServerCapabilities | None = None
    last_used: float = field(default_factory=time.monotonic)
    _session: ClientSession | None = None
    _opening: asyncio.Future[ClientSession] | None = None
    _holder: asyncio.Task[None] | None = None
    _close: asyncio.Event = field(default_factory=asyncio.Event)
    _calls: set[asyncio.Future[Any]] = field(default_factory=set)
    _tasks: set[asyncio.Future[Any]] = field(default_factory=set)
    #: Bumped whenever the upstream says its tools, resources or prompts changed.
    revision: int = 0

    async def session(self) -> ClientSession:
        if self._session is not None:
            return self._session
        if self._opening is None:
            self._close = asyncio.Event()
            self._opening = asyncio.get_running_loop().create_future()
            self._holder = asyncio.create_task(self._hold(self._opening))
        try:
            return await asyncio.shield(self._opening)
        except Exception as error:
            raise UpstreamUnavailableError(_describe(error)) from None

    async def request(self, coro_factory: Any, timeout: float) -> Any:
        """Run `coro_factory(session)`; fails at once if the session ends meanwhile."""
        session = await self.session()
        call = asyncio.ensure_future(coro_factory(session))
        self._calls.add(call)
        try:
            done, _ = await asyncio.wait((call,), timeout=timeout)
        finally:
            self._calls.discard(call)
        if not done:
            call.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s")
        if call.cancelled():
            raise UpstreamUnavailableError("the instance went away during the call")
        return call.result()

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._close.set()
        if self._holder is not None:
            self._holder.cancel()

    async def _hold(self, opening: asyncio.Future[ClientSession]) -> None:
        try:
            async with AsyncExitStack() as stack:
                session = await open_session(
                    stack,
                    self.target,
                    allowed_hosts=self.allowed_hosts,
                    timeout=CONNECT_TIMEOUT_S,
                    message_handler=self._on_message,
                )
                init = session.initialize_result
                self.capabilities = init.capabilities if init is not None else None
                await self._load_tools(session)
                self._session = session
                opening.set_result(session)
                await self._close.wait()
        except BaseException as error:
            if not opening.done():
                opening.set_exception(error)
                opening.exception()
            log.debug("session to %s ended: %s", self.instance_id, _describe(error))
            if isinstance(error, asyncio.CancelledError):
                raise
        finally:
            self._session = None
            self._opening = None
            for call in list(self._calls):
                call.cancel()

    async def _load_tools(self, session: ClientSession) -> None:
        tools: dict[str, LiveTool] = {}
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            for tool in page.tools:
                schema = dict(tool.input_schema or {"type": "object"})
                tools[tool.name] = LiveTool(
                    tool.name,
                    tool.description or "",
                    schema,
                    validator_for(schema),
                    tool.annotations.model_dump(exclude_none=True) if tool.annotations else None,
                )
            cursor = page.next_cursor
            if not cursor:
                break
        self.tools = tools

    async def _on_message(self, message: Any) -> None:
        """Runs in the session's receive loop: it must not wait on a request itself."""
        if isinstance(message, Exception):
            log.debug("transport of %s failed: %s", self.instance_id, _describe(message))
            self._close.set()  # in-flight calls fail now; the next call opens a new session
            return
        if isinstance(message, types.ToolListChangedNotification):
            self._background(self._reload_tools())
        if isinstance(
            message,
            types.ToolListChangedNotification
            | types.ResourceListChangedNotification
            | types.PromptListChangedNotification,
        ):
            self.revision += 1

    async def _reload_tools(self) -> None:
        if self._session is None:
            return
        try:
            await self._load_tools(self._session)
            self.revision += 1
        except Exception as error:  # keep the old list; the next change retries
            log.debug("tools of %s not reloaded: %s", self.instance_id, _describe(error))


class UpstreamPool:
    """Every instance this API process talks to, by instance id."""

    def __init__(self, allowed_hosts: list[str]) -> None:
        self.allowed_hosts = allowed_hosts
        self._upstreams: dict[str, Upstream] = {}

    def get(self, instance: InstanceRoute) -> Upstream:
        upstream = self._upstreams.get(instance.id)
        if upstream is None or upstream.target != instance.target:
            if upstream is not None:
                upstream._background(upstream.close())
            upstream = Upstream(instance.id, instance.target, self.allowed_hosts)
            self._upstreams[instance.id] = upstream
        return upstream

    def pick(self, instances: list[InstanceRoute]) -> Upstream | None:
        """The healthy instance with the fewest calls in flight whose breaker lets calls through."""
        now = time.monotonic()
        best: Upstream | None = None
        for instance in instances:
            upstream = self.get(instance)
            if not upstream.breaker.allows(now):
                continue
            if best is None or upstream.outstanding < best.outstanding:
                best = upstream
        return best

    async def retire(self, live_ids: set[str]) -> None:
        """Close sessions to instances no longer routed to, and idle ones (the route table
        calls this after each read, never the hot path)."""
        now = time.monotonic()
        for instance_id, upstream in list(self._upstreams.items()):
            idle = upstream.outstanding == 0 and now - upstream.last_used > IDLE_CLOSE_S
            if instance_id not in live_ids or idle:
                del self._upstreams[instance_id]
                await upstream.close()

    async def close(self) -> None:
        await self.retire(set())

    def revision(self, instance_id: str) -> int:
        """How often the instance said its lists changed (0 if no session was ever opened)."""
        upstream = self._upstreams.get(instance_id)
        return upstream.revision if upstream is not None else 0


def _describe(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"[:300]
