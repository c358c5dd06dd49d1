"""A stdio MCP server run as a local child process of the bridge.

The child gets its own working directory (`<instance>/work`), a minimal environment (the
platform's own secrets stay in the control plane), resource limits set before `exec`, and
`PR_SET_PDEATHSIG` so it dies with its bridge even when the bridge is killed outright. It leads
its own process group, so stopping it also stops whatever it spawned.

No cgroups: cgroup v2 is not mounted on the machines we run on today (only v1 controllers), so
memory and CPU caps are left to the Docker runtime; the optional address-space limit below is
the one memory bound a process instance can have.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import mcp_types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from domain.marketplace.specs import config_values, render
from infra.mcp.packages import InstallError, PackageInstaller
from infra.runtimes.base import InstanceSpec
from infra.runtimes.bridge_files import INHERITED_ENV, WORK, instance_dir
from infra.runtimes.upstream import LogFn, UpstreamStartError, exit_reason

#: A protocol message is one line; tools/list or a resource read can be large.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_OPEN_FILES = 1024
#: Stop: close stdin and wait, then SIGTERM the group and wait, then SIGKILL it.
STDIN_GRACE_S = 1.5
TERM_GRACE_S = 2.0

_PR_SET_PDEATHSIG = 1
# Loaded here, not in the child: between fork and exec only async-signal-safe work is safe.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


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

    def __init__(self, process: asyncio.subprocess.Process, log: LogFn) -> None:
        self.process = process
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
            if self.process.stdin and not self.process.stdin.is_closing():
                self.process.stdin.close()
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
            while self.process.returncode is None:  # the event loop reaps it a moment later
                await anyio.sleep(0.005)
        self._to_session.close()
        self._exited.set()

    async def pump_stdout(self) -> None:
        assert self.process.stdout
        async with self._to_session:
            while line := await _read_line(self.process.stdout, self.log, "stdout"):
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
        assert self.process.stdin
        async with self._from_session:
            async for item in self._from_session:
                data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                try:
                    self.process.stdin.write(data.encode() + b"\n")
                    await self.process.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    return

    async def pump_stderr(self) -> None:
        assert self.process.stderr
        while line := await _read_line(self.process.stderr, self.log, "stderr"):
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


def child_env(spec_env: dict[str, str], work: Path, bin_dir: Path | None) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    if bin_dir is not None:
        env["PATH"] = os.pathsep.join(filter(None, [str(bin_dir), env.get("PATH")]))
    return env | {"HOME": str(work)} | spec_env


def limits_of(runtime: dict[str, Any]) -> list[tuple[int, tuple[int, int]]]:
    """The rlimits to set in the child. RLIMIT_NPROC is not among them: it counts every
    process of the user, and all instances share the platform's user."""
    _, files_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = (
        MAX_OPEN_FILES if files_hard == resource.RLIM_INFINITY else min(MAX_OPEN_FILES, files_hard)
    )
    limits = [(resource.RLIMIT_CORE, (0, 0)), (resource.RLIMIT_NOFILE, (files, files))]
    # Off unless the operator sets it: V8 and the JVM reserve far more address space than
    # they use, so a cap that suits Python kills Node servers at start.
    address_space_mb = (runtime.get("limits") or {}).get("address_space_mb")
    if address_space_mb:
        size = int(address_space_mb) * 1024 * 1024
        limits.append((resource.RLIMIT_AS, (size, size)))
    return limits


def in_child(parent: int, limits: list[tuple[int, tuple[int, int]]]) -> Callable[[], None]:
    """What runs between fork and exec: die with the bridge, then take the limits."""

    def setup() -> None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the bridge died before prctl took effect
            os._exit(1)
        for which, value in limits:
            resource.setrlimit(which, value)

    return setup


async def command_line(
    spec: InstanceSpec, home: Path, log: LogFn
) -> tuple[str, list[str], dict[str, str], Path | None]:
    """The executable, its args and the spec's env, installing the package it names first.

    Only the named package's own executable runs, as in introspection: a bare command would
    be whatever this machine has under that name.
    """
    runtime = spec.runtime
    command = runtime["command"]
    bin_dir = None
    if runtime.get("package"):
        installer = PackageInstaller(home)
        try:
            bin_dir = await anyio.to_thread.run_sync(
                installer.ensure, runtime["package"], lambda line: log("system", "info", line)
            )
        except InstallError as error:
            raise UpstreamStartError(f"install failed: {error}") from None
        command = str(bin_dir / Path(command).name)
        if not Path(command).exists():
            raise UpstreamStartError(f"the package has no executable named {Path(command).name}")
    args, env = render(runtime, config_values(spec.config_schema, spec.config))
    return command, args, env, bin_dir


@asynccontextmanager
async def open_upstream(
    spec: InstanceSpec, home: Path, log: LogFn
) -> AsyncIterator[ProcessUpstream]:
    """Install (if needed) and start the server; stop it when the context ends."""
    command, args, spec_env, bin_dir = await command_line(spec, home, log)
    work = instance_dir(home, spec.instance_id) / WORK
    work.mkdir(parents=True, exist_ok=True)
    log("system", "info", f"starting {Path(command).name}")
    try:
        process = await asyncio.create_subprocess_exec(
            command,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=work,
            env=child_env(spec_env, work, bin_dir),
            start_new_session=True,
            preexec_fn=in_child(os.getpid(), limits_of(spec.runtime)),
            limit=MAX_MESSAGE_BYTES,
        )
    except OSError as error:
        raise UpstreamStartError(
            f"could not start {Path(command).name}: {error.strerror}"
        ) from None
    upstream = ProcessUpstream(process, log)
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
