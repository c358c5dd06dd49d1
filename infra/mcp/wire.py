"""A lean MCP client over streamable HTTP, for the gateway's hot path.

JSON-RPC messages are plain dicts sent on one pooled keep-alive aiohttp session per instance;
an answer is read as `application/json` or from the `text/event-stream` the server opened for
it, whichever the server chose. Nothing is validated into models on the way through: the
gateway forwards what the server said. On this machine the official SDK's client costs
several milliseconds of CPU per call (pydantic, in-memory streams, httpx), and httpx alone
about 2 ms per request against aiohttp's 0.15 ms (`bench/README.md`).

What it keeps from the protocol: the `initialize` handshake and `notifications/initialized`,
the session id and protocol version headers on every request after it, `ping` and unknown
requests from the server answered (with an empty result and method-not-found), notifications
passed to a handler (on a request's stream and on the GET stream, `listen`), and a
`notifications/cancelled` sent when the caller gives up on a request.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from infra.mcp.connect import Target
from infra.mcp.ssrf import checked_address, pinned_url

log = logging.getLogger("mcps.mcp.wire")

PROTOCOL_VERSION = "2025-11-25"
CLIENT_INFO = {"name": "mcps.one-gateway", "version": "0.1.0"}
ACCEPT = "application/json, text/event-stream"
METHOD_NOT_FOUND = -32601
#: Idle connections are let go before uvicorn's 5 s keep-alive ends them from the other side,
#: so a call is not sent down a connection the server is closing.
KEEPALIVE_S = 4.0
#: How long a stream may stay open after its answer before its connection is closed.
FINISH_S = 30.0

OnMessage = Callable[[dict[str, Any]], Awaitable[None]]


class RpcError(Exception):
    """The server answered the request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class SessionGoneError(Exception):
    """The server no longer knows the session (404): nothing was done; open a new one."""


class WireProtocolError(Exception):
    """The server's answer was not a JSON-RPC answer to the request."""


@dataclass(eq=False)
class WireSession:
    url: str
    http: aiohttp.ClientSession
    on_message: OnMessage | None = None
    session_id: str | None = None
    protocol_version: str = PROTOCOL_VERSION
    initialize_result: dict[str, Any] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    def _headers(self) -> dict[str, str]:
        headers = {"accept": ACCEPT, "content-type": "application/json"}
        if self.session_id is not None:
            headers["mcp-session-id"] = self.session_id
            headers["mcp-protocol-version"] = self.protocol_version
        return headers

    async def initialize(self) -> dict[str, Any]:
        result = await self.request(
            "initialize",
            {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO},
        )
        self.initialize_result = result
        self.protocol_version = str(result.get("protocolVersion") or PROTOCOL_VERSION)
        await self.notify("notifications/initialized")
        return result

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The result of one request; `RpcError` when the server answers with an error."""
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            return await self._exchange(message, request_id)
        except asyncio.CancelledError:
            if method != "initialize":  # the protocol forbids cancelling the handshake
                self._spawn(
                    self.notify(
                        "notifications/cancelled",
                        {"requestId": request_id, "reason": "the gateway's caller gave up"},
                    )
                )
            raise

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._post_only(message)

    async def _post_only(self, message: dict[str, Any]) -> None:
        async with self.http.post(
            self.url, data=orjson.dumps(message), headers=self._headers()
        ) as response:
            await response.read()
        if response.status == 404 and self.session_id is not None:
            raise SessionGoneError(self.url)

    async def _exchange(self, message: dict[str, Any], request_id: int) -> dict[str, Any]:
        response = await self.http.post(
            self.url, data=orjson.dumps(message), headers=self._headers()
        )
        finishing = False
        try:
            if response.status == 404 and self.session_id is not None:
                raise SessionGoneError(self.url)
            if response.status >= 400:
                body = (await response.read())[:300].decode(errors="replace")
                raise WireProtocolError(f"HTTP {response.status}: {body}")
            if message["method"] == "initialize":
                self.session_id = response.headers.get("mcp-session-id")
            kind = response.content_type
            if kind == "application/json":
                return _result_of(orjson.loads(await response.read()), request_id)
            if kind == "text/event-stream":
                async for event in _events(response):
                    if event.get("id") == request_id and ("result" in event or "error" in event):
                        # The caller has its answer now; the rest of the stream is read in
                        # the background so that its connection can go back to the pool.
                        self._spawn(_finish(response))
                        finishing = True
                        return _result_of(event, request_id)
                    await self._on_incoming(event)
                raise WireProtocolError("the stream ended without an answer")
            raise WireProtocolError(f"unexpected content type {kind!r}")
        finally:
            if not finishing:
                response.release()  # back to the pool if read to the end, else closed

    async def listen(self) -> None:
        """Follow the server's GET stream, passing its messages on, until it ends. Returns at
        once if the server offers none (405)."""
        async with self.http.get(
            self.url, headers={**self._headers(), "accept": "text/event-stream"}
        ) as response:
            if response.status == 404 and self.session_id is not None:
                raise SessionGoneError(self.url)
            if response.status != 200:
                return
            async for event in _events(response):
                await self._on_incoming(event)

    async def close(self) -> None:
        """End the session on the server (best effort) and the HTTP client."""
        for task in list(self._background):
            task.cancel()
        try:
            if self.session_id is not None:
                timeout = aiohttp.ClientTimeout(total=2.0)
                async with self.http.delete(self.url, headers=self._headers(), timeout=timeout):
                    pass
        except (aiohttp.ClientError, TimeoutError):
            pass
        finally:
            await self.http.close()

    async def _on_incoming(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            return  # an answer to a request of ours that no one waits for any more
        if "id" in message:  # the server asks us something
            answer: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
            if method == "ping":
                answer["result"] = {}
            else:
                answer["error"] = {
                    "code": METHOD_NOT_FOUND,
                    "message": f"{method} is not supported by the gateway",
                }
            self._spawn(self._post_only(answer))
        elif self.on_message is not None:
            await self.on_message(message)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._settle)

    def _settle(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("a message to %s was not delivered: %s", self.url, task.exception())


async def open_wire_session(
    target: Target,
    *,
    allowed_hosts: list[str],
    timeout: float,
    on_message: OnMessage | None = None,
    max_connections: int = 100,
    headers: dict[str, str] | None = None,
) -> WireSession:
    """An initialised session to `target` (a remote one at the address the SSRF check
    approved, so a name that re-resolves elsewhere between checks gets nowhere)."""
    url, headers = target.endpoint, dict(headers or {})
    if target.remote:
        address = checked_address(url, allowed_hosts)
        headers["host"] = urlsplit(url).netloc.rsplit("@", 1)[-1]
        if url.startswith("http:"):
            url = pinned_url(url, address)
    http = aiohttp.ClientSession(
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout),
        connector=aiohttp.TCPConnector(
            limit=max_connections, limit_per_host=max_connections, keepalive_timeout=KEEPALIVE_S
        ),
        trust_env=False,
        auto_decompress=True,
    )
    session = WireSession(url, http, on_message)
    try:
        async with asyncio.timeout(timeout):
            await session.initialize()
    except BaseException:
        await http.close()
        raise
    return session


def _result_of(answer: Any, request_id: int) -> dict[str, Any]:
    if not isinstance(answer, dict) or answer.get("id") != request_id:
        raise WireProtocolError("the answer is not for this request")
    if "error" in answer:
        error = answer["error"] if isinstance(answer["error"], dict) else {}
        raise RpcError(
            int(error.get("code", -32603)), str(error.get("message", "")), error.get("data")
        )
    result = answer.get("result")
    if not isinstance(result, dict):
        raise WireProtocolError("the answer has no result object")
    return result


async def _finish(response: aiohttp.ClientResponse) -> None:
    """Read what is left of an answered stream (servers end it soon after the answer) and
    give its connection back; one that stays open past `FINISH_S` is closed instead."""
    try:
        async with asyncio.timeout(FINISH_S):
            await response.read()
    except (TimeoutError, aiohttp.ClientError):
        response.close()
    else:
        response.release()


async def _events(response: aiohttp.ClientResponse) -> Any:
    """The JSON messages of a server-sent event stream, in order (lines of any length)."""
    data: list[bytes] = []
    pending = b""
    async for chunk in response.content.iter_any():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.removesuffix(b"\r")
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
            elif not line and data:
                payload, data = b"\n".join(data), []
                try:
                    message = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    log.debug("skipped an event that is not JSON: %.200r", payload)
                    continue
                if isinstance(message, dict):
                    yield message
