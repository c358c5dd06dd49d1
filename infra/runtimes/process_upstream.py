"""A stdio MCP server run as a local child process of the bridge.

The child is started by `process_launch` (its environment, limits and process group are
described there), usually by the bridge's light half before the serving half is imported;
this module takes over its pipes. Where a package must be installed first, it installs it
and starts the child itself.

No cgroups: cgroup v2 is not mounted on the machines we run on today (only v1 controllers), so
memory and CPU caps are left to the Docker runtime; the optional address-space limit is the
one memory bound a process instance can have.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path

import anyio
import mcp_types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from infra.mcp.packages import InstallError, PackageInstaller
from infra.runtimes.base import InstanceSpec
from infra.runtimes.process_launch import Launched, command_line, launch
from infra.runtimes.upstream import LogFn, UpstreamStartError, exit_reason

#: A protocol message is one line; tools/list or a resource read can be large.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
#: Stop: close stdin and wait, then SIGTERM the group and wait, then SIGKILL it.
STDIN_GRACE_S = 1.5
TERM_GRACE_S = 2.0


def level_of(line: str) -> str:
    """A server's stderr has no levels; guess one from the words it uses."""
    lowered = line.lower()
    if any(word in lowered for word in ("error", "exception", "traceback", "fatal", "critical")):
        return "error"
    if "warn" in lowered:
        return "warning"
    return "info"


class ProcessUpstream:
    """The child's stdin and stdout as the streams `mcp.ClientSession` takes."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        pipes: tuple[asyncio.StreamWriter, asyncio.StreamReader, asyncio.StreamReader],
        log: LogFn,
    ) -> None:
        self.process = process
        self.stdin, self.stdout, self.stderr = pipes
        self.log = log
        self.read: MemoryObjectReceiveStream[SessionMessage | Exception]
        self.write: MemoryObjectSendStream[SessionMessage]
        self._to_session, self.read = anyio.create_memory_object_stream[
            SessionMessage | Exception
        ]()
        self.write, self._from_session = anyio.create_memory_object_stream[SessionMessage]()
        self._exited = anyio.Event()

    async def wait(self) -> tuple[int | None, str]:
        await self._exited.wait()
        return self.process.returncode, exit_reason(self.process.returncode)

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            if not self.stdin.is_closing():
                self.stdin.close()
            for grace, then in ((STDIN_GRACE_S, signal.SIGTERM), (TERM_GRACE_S, signal.SIGKILL)):
                with anyio.move_on_after(grace):
                    await self._exited.wait()
                if self._exited.is_set():
                    break
                self._signal_group(then)
            await self._exited.wait()
            # Whatever the server left behind in its group goes with it.
            self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def watch_exit(self) -> None:
        """Set `_exited` once the child has exited (not once its pipes close: a grandchild may
        hold them open). Shielded: `aclose` waits on it while the bridge is being cancelled."""
        with anyio.CancelScope(shield=True):
            with suppress(ProcessLookupError):  # already exited and reaped
                pidfd = os.pidfd_open(self.process.pid)
                try:
                    await anyio.wait_readable(pidfd)
                finally:
                    os.close(pidfd)
            while self.process.poll() is None:  # reaps it
                await anyio.sleep(0.005)
        self._to_session.close()
        self._exited.set()

    async def pump_stdout(self) -> None:
        async with self._to_session:
            while line := await _read_line(self.stdout, self.log, "stdout"):
                try:
                    message = mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except ValueError:
                    # Not the protocol: a banner or a stray print. Logged, never forwarded.
                    text = line.decode(errors="replace").rstrip()
                    self.log("stdout", "warning", text)
                    continue
                with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    await self._to_session.send(SessionMessage(message))

    async def pump_stdin(self) -> None:
        async with self._from_session:
            async for item in self._from_session:
                data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                try:
                    self.stdin.write(data.encode() + b"\n")
                    await self.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    return

    async def pump_stderr(self) -> None:
        while line := await _read_line(self.stderr, self.log, "stderr"):
            text = line.decode(errors="replace").rstrip()
            if text:
                self.log("stderr", level_of(text), text)


async def _read_line(stream: asyncio.StreamReader, log: LogFn, name: str) -> bytes:
    """The next line, or b"" at the end; a line longer than the buffer is dropped and said so."""
    while True:
        try:
            return await stream.readline()
        except ValueError:
            log(
                "system", "error", f"dropped a line on {name} longer than {MAX_MESSAGE_BYTES} bytes"
            )


async def adopt(
    process: subprocess.Popen[bytes],
) -> tuple[asyncio.StreamWriter, asyncio.StreamReader, asyncio.StreamReader]:
    """The child's pipes as asyncio streams (what `create_subprocess_exec` would have made)."""
    assert process.stdin and process.stdout and process.stderr
    loop = asyncio.get_running_loop()
    readers = []
    for pipe in (process.stdout, process.stderr):
        reader = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES, loop=loop)
        await loop.connect_read_pipe(partial(asyncio.StreamReaderProtocol, reader), pipe)
        readers.append(reader)
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.streams.FlowControlMixin(loop), process.stdin
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return writer, readers[0], readers[1]


async def install_and_launch(spec: InstanceSpec, home: Path, log: LogFn) -> Launched:
    """Install the package the runtime names (progress to the log), then start the server."""
    bin_dir = None
    if package := spec.runtime.get("package"):
        installer = PackageInstaller(home)
        try:
            bin_dir = await anyio.to_thread.run_sync(
                installer.ensure, package, lambda line: log("system", "info", line)
            )
        except InstallError as error:
            raise UpstreamStartError(f"install failed: {error}") from None
    line = command_line(spec, bin_dir)
    if bin_dir is not None and not Path(line.command).exists():
        raise UpstreamStartError(f"the package has no executable named {line.name}")
    return launch(spec, home, line, log)


@asynccontextmanager
async def open_upstream(
    spec: InstanceSpec, home: Path, log: LogFn, *, launched: Launched | None = None
) -> AsyncIterator[ProcessUpstream]:
    """Start the server (installing its package first if need be), unless the bridge's light
    half has `launched` it already; stop it when the context ends."""
    if launched is None:
        launched = await install_and_launch(spec, home, log)
    if launched.process is None:
        raise UpstreamStartError(launched.error)
    process = launched.process
    try:
        upstream = ProcessUpstream(process, await adopt(process), log)
    except BaseException:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    async with anyio.create_task_group() as tasks:
        for pump in (
            upstream.watch_exit,
            upstream.pump_stdout,
            upstream.pump_stdin,
            upstream.pump_stderr,
        ):
            tasks.start_soon(pump)
        try:
            yield upstream
        finally:
            await upstream.aclose()
            tasks.cancel_scope.cancel()
