"""Persistent MCP sessions to instances, chosen by least outstanding calls, with a breaker.

Each instance gets one session (`infra.mcp.wire`, a lean client: JSON-RPC dicts on pooled
keep-alive aiohttp connections), opened on first use and shared by every concurrent call to
it, never a session per call. A call is one HTTP request on it: when the instance dies mid-call, its
connection drops and the call fails at once rather than at its timeout; a call that times
out is cancelled on the server too. A session the server forgot (404) or cannot be reached
on is dropped, and the next call opens a new one. The instance's GET stream is followed for
list changes.

A breaker per instance stops sending to one that keeps failing: after `FAILURES_TO_OPEN`
consecutive failures it is skipped for `OPEN_SECONDS`; after that one more failure opens it
again at once, and one success closes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from jsonschema import Draft202012Validator

from api.gateway.routing import InstanceRoute, validator_for
from infra.mcp.connect import Target
from infra.mcp.wire import SessionGoneError, WireProtocolError, WireSession, open_wire_session

log = logging.getLogger("mcps.gateway.upstreams")

FAILURES_TO_OPEN = 5
OPEN_SECONDS = 5.0
CONNECT_TIMEOUT_S = 10.0
IDLE_CLOSE_S = 300.0
LISTEN_RETRY_S = 2.0
LIST_CHANGES = frozenset(
    f"notifications/{kind}/list_changed" for kind in ("tools", "resources", "prompts")
)


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
    #: What the server said it offers in its `initialize` answer.
    capabilities: dict[str, Any] | None = None
    last_used: float = field(default_factory=time.monotonic)
    _session: WireSession | None = None
    _opening: asyncio.Future[WireSession] | None = None
    _listener: asyncio.Task[None] | None = None
    _tasks: set[asyncio.Future[Any]] = field(default_factory=set)
    #: Bumped whenever the upstream says its tools, resources or prompts changed.
    revision: int = 0

    async def session(self) -> WireSession:
        if self._session is not None:
            return self._session
        if self._opening is None:
            self._opening = asyncio.get_running_loop().create_future()
            self._background(self._open(self._opening))
        try:
            return await asyncio.shield(self._opening)
        except Exception as error:
            raise UpstreamUnavailableError(_describe(error)) from None

    async def call(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The result of one request to the instance. `TimeoutError` after `timeout` (the
        server is told the request is cancelled); `UpstreamUnavailableError` when no session
        can be had or the server forgot it (nothing was done); `RpcError` when it refused."""
        session = await self.session()
        try:
            async with asyncio.timeout(timeout):
                return await session.request(method, params)
        except SessionGoneError:
            self._drop(session)
            raise UpstreamUnavailableError("the instance forgot the session") from None
        except aiohttp.ClientError as error:
            if isinstance(error, aiohttp.ClientConnectorError):
                self._drop(session)  # the next call opens a new session, or fails to
            raise UpstreamUnavailableError(_describe(error)) from None

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        session, self._session = self._session, None
        if self._listener is not None:
            self._listener.cancel()
        if session is not None:
            await session.close()

    def _drop(self, session: WireSession) -> None:
        if self._session is session:
            self._session = None
            if self._listener is not None:
                self._listener.cancel()
            self._background(session.close())

    async def _open(self, opening: asyncio.Future[WireSession]) -> None:
        try:
            session = await open_wire_session(
                self.target,
                allowed_hosts=self.allowed_hosts,
                timeout=CONNECT_TIMEOUT_S,
                on_message=self._on_message,
            )
            try:
                self.capabilities = dict(session.initialize_result.get("capabilities") or {})
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    await self._load_tools(session)
            except BaseException:
                await session.close()
                raise
            self._session = session
            self._listener = asyncio.create_task(self._listen(session))
            opening.set_result(session)
        except BaseException as error:
            opening.set_exception(error)
            opening.exception()  # retrieved: a caller may not be waiting any more
            log.debug("no session to %s: %s", self.instance_id, _describe(error))
            if isinstance(error, asyncio.CancelledError):
                raise
        finally:
            self._opening = None

    async def _listen(self, session: WireSession) -> None:
        """Follow the instance's GET stream for list changes while the session lives; a
        dropped stream is reopened after a pause."""
        while self._session is session:
            try:
                await session.listen()
            except SessionGoneError:
                self._drop(session)
                return
            except (aiohttp.ClientError, WireProtocolError) as error:
                log.debug("stream of %s ended: %s", self.instance_id, _describe(error))
            await asyncio.sleep(LISTEN_RETRY_S)

    async def _load_tools(self, session: WireSession) -> None:
        tools: dict[str, LiveTool] = {}
        cursor: str | None = None
        while True:
            page = await session.request("tools/list", {"cursor": cursor} if cursor else None)
            for tool in page.get("tools") or []:
                if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                    continue
                schema = tool.get("inputSchema")
                schema = dict(schema) if isinstance(schema, dict) else {"type": "object"}
                annotations = tool.get("annotations")
                tools[tool["name"]] = LiveTool(
                    tool["name"],
                    str(tool.get("description") or ""),
                    schema,
                    validator_for(schema),
                    dict(annotations) if isinstance(annotations, dict) else None,
                )
            cursor = page.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                break
        self.tools = tools

    async def _on_message(self, message: dict[str, Any]) -> None:
        """A notification from the instance: list changes bump the revision (and reload the
        tools). It runs while a response is read, so it must not wait on a request itself."""
        method = message.get("method")
        if method == "notifications/tools/list_changed":
            self._background(self._reload_tools())
        if method in LIST_CHANGES:
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

    def in_flight(self) -> dict[str, int]:
        """Calls in flight per instance, for the instances with any (the autoscaler's load)."""
        return {i: u.outstanding for i, u in self._upstreams.items() if u.outstanding > 0}

    def revision(self, instance_id: str) -> int:
        """How often the instance said its lists changed (0 if no session was ever opened)."""
        upstream = self._upstreams.get(instance_id)
        return upstream.revision if upstream is not None else 0


def _describe(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"[:300]
