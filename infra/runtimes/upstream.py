"""What the bridge asks of the MCP server it fronts, wherever that server runs.

The bridge (`infra.runtimes.bridge`) serves streamable HTTP on a loopback port and forwards to
one upstream stdio server: a local process (`process_upstream`) or a container
(`docker_upstream`). Each upstream module exposes `open_upstream(spec, home, log)`, an async
context manager that starts the server and yields an `Upstream`. Leaving the context stops the
server, also when the bridge is cancelled (SIGTERM), so the stop must be shielded; `wait()` still
answers afterwards, with the code the server ended with. When the server cannot be started at
all, entering the context raises `UpstreamStartError`. Anything the server writes besides the
protocol goes to `log`, never to the read stream.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from infra.runtimes.base import InstanceSpec

#: `log(stream, level, message)`: stream is "stderr" for the server's own output, "stdout" for
#: what it printed there besides the protocol (and log messages it sent over the protocol), and
#: "system" for what the runtime says about it (install progress, exit); level is
#: debug/info/warning/error.
LogFn = Callable[[str, str, str], None]


class UpstreamStartError(RuntimeError):
    """`open_upstream` could not start the server; the message is the exit reason as the tenant
    reads it, e.g. "install failed: <tail of the installer's output>"."""


class Upstream(Protocol):
    """A started stdio MCP server, as the streams `mcp.ClientSession` takes."""

    read: MemoryObjectReceiveStream[SessionMessage | Exception]
    write: MemoryObjectSendStream[SessionMessage]

    async def wait(self) -> tuple[int | None, str]:
        """Block until the server has exited: its exit code and why ("exited with code 1",
        "killed by SIGKILL", ...), in the words of `Observed.reason`."""
        ...

    async def aclose(self) -> None:
        """Stop it: close its stdin, terminate it, kill it after a grace period. Idempotent."""
        ...


class OpenUpstream(Protocol):
    """The signature of every upstream module's `open_upstream`."""

    def __call__(
        self, spec: InstanceSpec, home: Path, log: LogFn
    ) -> AbstractAsyncContextManager[Upstream]: ...


def exit_reason(code: int | None) -> str:
    """How a POSIX exit status reads to a tenant: a negative code is the signal that killed it."""
    if code is None:
        return "lost"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
