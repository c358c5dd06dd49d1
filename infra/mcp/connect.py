"""Opening an MCP client session to a deployed instance: the bridge of a local instance, or a
remote endpoint at the address the SSRF check approved (`pinned_url`), so a name that
re-resolves to an internal address between checks gets nowhere."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from infra.mcp.ssrf import checked_address, pinned_url


@dataclass(frozen=True)
class Target:
    endpoint: str
    #: A remote endpoint: checked against SSRF rules on every connection.
    remote: bool = False


async def open_session(
    stack: AsyncExitStack,
    target: Target,
    *,
    allowed_hosts: list[str],
    timeout: float,
    message_handler: Callable[[Any], Awaitable[None]] | None = None,
) -> ClientSession:
    """An initialised session whose transport lives as long as `stack`."""
    url, headers = target.endpoint, {}
    if target.remote:
        address = checked_address(url, allowed_hosts)
        headers["Host"] = urlsplit(url).netloc.rsplit("@", 1)[-1]
        if url.startswith("http:"):
            url = pinned_url(url, address)
    client = create_mcp_http_client(headers=headers, timeout=httpx2.Timeout(timeout, read=timeout))
    await stack.enter_async_context(client)
    read, write = await stack.enter_async_context(streamable_http_client(url, http_client=client))
    session = await stack.enter_async_context(
        ClientSession(read, write, message_handler=message_handler)
    )
    async with asyncio.timeout(timeout):
        await session.initialize()
    return session
