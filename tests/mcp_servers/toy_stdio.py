"""A small real stdio MCP server for runtime tests: it reports what its process sees, can grow
its tool list, and can end its own process. Run with `python toy_stdio.py`."""

from __future__ import annotations

import os
import resource
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import Completion, CompletionArgument, CompletionContext, PromptReference

server = MCPServer("toy", version="1.0.0", instructions="A toy for runtime tests.")


@server.tool()
def echo(text: str) -> str:
    """The text, unchanged."""
    return text


@server.tool()
def about() -> dict[str, object]:
    """What the process was given: environment names, home, working directory, limits."""
    return {
        "env": sorted(os.environ),
        "home": os.environ.get("HOME"),
        "cwd": os.getcwd(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "core": resource.getrlimit(resource.RLIMIT_CORE)[0],
        "address_space": resource.getrlimit(resource.RLIMIT_AS)[0],
    }


@server.tool()
async def grow(ctx: Context) -> str:
    """Add a tool named `extra` and tell the client its tool list changed."""
    server.add_tool(lambda: "extra", name="extra", description="Added by grow.")
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool()
async def count(to: int, ctx: Context) -> int:
    """Count up to `to`, reporting each step as progress."""
    for done in range(1, to + 1):
        await ctx.report_progress(done, to, f"{done} of {to}")
    return to


@server.tool()
async def sleep(seconds: float) -> str:
    """Answer after `seconds` (unless the call is cancelled first)."""
    await anyio.sleep(seconds)
    return f"slept {seconds:g} s"


@server.tool()
def exit_now(code: int) -> str:
    """End the process at once with `code`."""
    os._exit(code)


@server.resource("toy://greeting")
def greeting() -> str:
    return "hello from the toy"


@server.prompt()
def haiku(topic: str) -> str:
    """A prompt asking for a haiku."""
    return f"Write a haiku about {topic}."


# The SDK leaves this decorator untyped.
@server.completion()  # type: ignore[untyped-decorator, no-untyped-call]
async def complete(
    ref: object, argument: CompletionArgument, context: CompletionContext | None
) -> Completion | None:
    if isinstance(ref, PromptReference) and argument.name == "topic":
        return Completion(values=[t for t in ("rain", "rivers") if t.startswith(argument.value)])
    return None


if __name__ == "__main__":
    print("toy server starting", file=sys.stderr, flush=True)
    print("warning: only a toy", file=sys.stderr, flush=True)
    server.run("stdio")
