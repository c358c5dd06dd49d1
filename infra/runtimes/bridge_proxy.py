"""The MCP server the bridge serves: every request forwarded to the one upstream session.

It introduces itself with the upstream's own server info and capabilities, and offers only
what the upstream offers. Resource subscriptions and logging levels are per client, but the
upstream session is shared by every client of the bridge, so those two are not offered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp import ClientSession
from mcp.client.session import IncomingMessage
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from pydantic import BaseModel

from infra.runtimes.upstream import LogFn

R = TypeVar("R", bound=BaseModel)

#: Bridge sessions that may hear of list changes; the oldest is forgotten past this many.
MAX_LISTENERS = 1024
NOTIFY_TIMEOUT_S = 1.0
LIST_CHANGES = (
    types.ToolListChangedNotification,
    types.ResourceListChangedNotification,
    types.PromptListChangedNotification,
)
#: An upstream's log levels, as the instance log spells them.
LOG_LEVELS = {"debug": "debug", "info": "info", "notice": "info", "warning": "warning"}


class Listeners:
    """Bridge sessions that finished their handshake, to pass the upstream's list changes to.

    A session is remembered when its client says `notifications/initialized` (the first
    message that carries its session id) and forgotten when a notification to it fails.
    """

    def __init__(self, log: LogFn) -> None:
        self.log = log
        self.sessions: OrderedDict[str, ServerSession] = OrderedDict()

    async def remember(self, ctx: ServerRequestContext[Any], _: types.NotificationParams) -> None:
        session_id = ctx.request.headers.get("mcp-session-id") if ctx.request else None
        if session_id:
            self.sessions[session_id] = ctx.session
            while len(self.sessions) > MAX_LISTENERS:
                self.sessions.popitem(last=False)

    async def on_upstream(self, message: IncomingMessage) -> None:
        """The upstream session's `message_handler`."""
        if isinstance(message, Exception):
            self.log("system", "warning", f"unreadable message from the server: {message}")
        elif isinstance(message, LIST_CHANGES):
            for session_id, session in list(self.sessions.items()):
                # One client that does not read must not hold up the upstream session.
                with anyio.move_on_after(NOTIFY_TIMEOUT_S) as dropped:
                    try:
                        await session.send_notification(message)
                    except Exception:  # the session is gone, whatever the transport says
                        dropped.cancel()
                if dropped.cancel_called:
                    self.sessions.pop(session_id, None)

    async def on_upstream_log(self, params: types.LoggingMessageNotificationParams) -> None:
        """Log messages the server sends over the protocol go to the instance log."""
        data = params.data if isinstance(params.data, str) else repr(params.data)
        message = f"{params.logger}: {data}" if params.logger else data
        self.log("stdout", LOG_LEVELS.get(params.level, "error"), message)


class ProxyServer(Server[Any]):
    """A low-level server whose handlers forward to `upstream`, shaped by its `initialize`."""

    def __init__(
        self, upstream: ClientSession, init: types.InitializeResult, listeners: Listeners
    ) -> None:
        self.upstream = upstream
        caps = init.capabilities
        handlers: dict[str, Any] = {"on_ping": self._forward(types.PingRequest, types.EmptyResult)}
        if caps.tools:
            handlers["on_list_tools"] = self._forward(types.ListToolsRequest, types.ListToolsResult)
            handlers["on_call_tool"] = self._call_tool
        if caps.resources:
            handlers["on_list_resources"] = self._forward(
                types.ListResourcesRequest, types.ListResourcesResult
            )
            handlers["on_list_resource_templates"] = self._forward(
                types.ListResourceTemplatesRequest, types.ListResourceTemplatesResult
            )
            handlers["on_read_resource"] = self._forward(
                types.ReadResourceRequest, types.ReadResourceResult
            )
        if caps.prompts:
            handlers["on_list_prompts"] = self._forward(
                types.ListPromptsRequest, types.ListPromptsResult
            )
            handlers["on_get_prompt"] = self._forward(types.GetPromptRequest, types.GetPromptResult)
        if caps.completions:
            handlers["on_completion"] = self._forward(types.CompleteRequest, types.CompleteResult)
        info = init.server_info
        super().__init__(
            info.name,
            version=info.version,
            title=info.title,
            description=info.description,
            website_url=info.website_url,
            icons=info.icons,
            instructions=init.instructions,
            **handlers,
        )
        self.changes = NotificationOptions(
            prompts_changed=bool(caps.prompts and caps.prompts.list_changed),
            resources_changed=bool(caps.resources and caps.resources.list_changed),
            tools_changed=bool(caps.tools and caps.tools.list_changed),
        )
        self.add_notification_handler(
            "notifications/initialized", types.NotificationParams, listeners.remember
        )

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        """What `initialize` answers: the upstream's list-changed flags unless told otherwise."""
        return super().create_initialization_options(
            notification_options or self.changes, experimental_capabilities, extensions
        )

    def _forward(
        self, request: type[types.Request[Any, Any]], result: type[R]
    ) -> Callable[[ServerRequestContext[Any], Any], Awaitable[R]]:
        async def forward(_: ServerRequestContext[Any], params: Any) -> R:
            return await self.upstream.send_request(request(params=params), result)

        return forward

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        """A tool call, with the upstream's progress passed on to the caller who asked for it."""

        async def relay(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        return await self.upstream.send_request(
            types.CallToolRequest(params=params), types.CallToolResult, progress_callback=relay
        )
