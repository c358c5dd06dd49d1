"""Start an MCP server once and ask it who it is and what tools it has.

`initialize` then `tools/list` (every page) over the real transport: stdio for a process
runtime, streamable HTTP for a remote one. Used to fill a released version's tool list.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from domain.marketplace.specs import config_values, render
from infra.mcp.packages import InstallError, PackageInstaller, Progress
from infra.mcp.ssrf import checked_address, pinned_url

INTROSPECT_TIMEOUT_S = 60.0
MAX_PAGES = 50


class IntrospectionError(RuntimeError):
    """The server could not be started or did not answer like an MCP server."""


@dataclass(frozen=True)
class Introspected:
    server_info: dict[str, Any]
    tools: list[dict[str, Any]]


async def _ask(session: ClientSession) -> Introspected:
    init = await session.initialize()
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params = {"cursor": cursor} if cursor else None
        page = await session.list_tools(params=params)  # type: ignore[arg-type]
        tools += [
            {"name": t.name, "description": t.description or "", "input_schema": t.input_schema}
            for t in page.tools
        ]
        cursor = page.next_cursor
        if not cursor:
            break
    info = init.server_info
    return Introspected({"name": info.name, "version": info.version}, tools)


async def over_stdio(command: str, args: list[str], env: dict[str, str], cwd: Path) -> Introspected:
    params = StdioServerParameters(command=command, args=args, env=env, cwd=cwd)
    with open(cwd / "stderr.log", "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            return await _ask(session)


async def over_http(url: str, host: str) -> Introspected:
    """`url` names the checked address; the Host header still names the server."""
    client = create_mcp_http_client(headers={"Host": host})
    async with (
        client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        return await _ask(session)


def introspect(
    runtime: dict[str, Any],
    config_schema: dict[str, Any],
    home: Path,
    *,
    allowed_hosts: list[str] | None = None,
    trusted: bool = False,
    progress: Progress | None = None,
    timeout: float = INTROSPECT_TIMEOUT_S,
) -> Introspected:
    """Blocking: install what the runtime names, start it with default config, ask it.

    A remote URL must resolve to public addresses (or an allowlisted host). A process runs
    only the named package's own executable, unless the caller is `trusted` (an operator):
    a bare command could be anything on this machine.
    """
    say = progress or (lambda _: None)
    kind = runtime["kind"]
    if kind == "remote":
        # Plain http connects to the address checked (no second lookup to rebind); https keeps
        # the name, which its certificate must match.
        address = checked_address(runtime["url"], allowed_hosts or [])
        host = urlsplit(runtime["url"]).netloc.rsplit("@", 1)[-1]
        plain = runtime["url"].startswith("http:")
        url = pinned_url(runtime["url"], address) if plain else runtime["url"]
    elif kind == "process" and not runtime.get("package") and not trusted:
        raise IntrospectionError("only an operator may introspect a command without a package")
    try:
        if kind == "remote":
            return anyio.run(_bounded, timeout, over_http, url, host)
        if kind != "process":
            raise IntrospectionError(f"introspection of {kind} runtimes runs in the deployer")
        command = runtime["command"]
        if runtime.get("package"):
            bin_dir = PackageInstaller(home).ensure(runtime["package"], say)
            command = str(bin_dir / Path(command).name)
            if not Path(command).exists():
                raise IntrospectionError(
                    f"the package has no executable named {Path(command).name}"
                )
        args, env = render(runtime, config_values(config_schema, {}))
        say(f"starting {Path(command).name} to list its tools")
        with tempfile.TemporaryDirectory(prefix="introspect-") as cwd:
            return anyio.run(_bounded, timeout, over_stdio, command, args, env, Path(cwd))
    except IntrospectionError:
        raise
    except InstallError as error:
        raise IntrospectionError(str(error)) from None
    except TimeoutError:
        raise IntrospectionError(f"the server did not answer within {timeout:.0f} s") from None
    except Exception as error:  # the server's failure, whatever its shape, is the caller's
        raise IntrospectionError(f"{type(error).__name__}: {error}") from error


async def _bounded(timeout: float, call: Any, *args: Any) -> Introspected:
    with anyio.fail_after(timeout):
        result: Introspected = await call(*args)
        return result
