"""An MCP server in a container, as the bridge's upstream (`runtime.kind == "docker"`).

A stdio server's container is created with stdin open and no network. The bridge attaches to
it through the Docker API before starting it, so no output is lost: one socket carries stdin
one way and, the other way, stdout and stderr multiplexed in frames (an 8-byte header: the
stream, 3 zero bytes, the payload's length, big-endian). stdout is the protocol, one JSON-RPC
message per line; stderr, and stdout lines that are not the protocol, go to the instance log.

A streamable-HTTP server (the runtime spec names its `port`) gets its port published on
127.0.0.1 at a port the engine picks; once that port accepts, the bridge opens an MCP client
transport to `http://127.0.0.1:<published port>/mcp` and relays its streams. Its stdout and
stderr are attached for the log alike.

Either way the attach stream ends when the container's process does: that is how the exit is
noticed; its code is then asked of the engine. Stopping closes stdin (a stdio server exits on
end of input), then asks the engine to stop it (SIGTERM, SIGKILL after a grace period); the
container is removed when the context ends, as the bridge exits.

The Docker SDK blocks, so its calls run in worker threads, each bounded by the client's
timeout. Configuration reaches the container's environment (and args) only; a secret value is
masked in every line this module writes to the log or says in an error.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import mcp_types
from anyio.abc import ByteSendStream, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from docker import DockerClient
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage
from requests.exceptions import RequestException

from domain.marketplace.specs import config_values, secret_fields
from infra.runtimes.base import InstanceSpec
from infra.runtimes.docker_containers import (
    MCP_PATH,
    ContainerError,
    connect,
    create_options,
    ensure_image,
    exit_of,
    published_port,
    remove,
    remove_stale,
)
from infra.runtimes.process_upstream import MAX_MESSAGE_BYTES, level_of
from infra.runtimes.upstream import LogFn, UpstreamStartError

#: How long a streamable-HTTP server may take to accept on its port.
LISTEN_TIMEOUT_S = 60.0
LISTEN_POLL_S = 0.2
#: Stop: close stdin and wait, then the engine's stop (SIGTERM, then SIGKILL after its grace).
STDIN_GRACE_S = 1.5
#: After the attach stream ends, how long the process may take to be seen as exited.
SETTLE_WAIT_S = 10
TERM_GRACE_S = 2
STDOUT, STDERR = 1, 2
_FRAME_HEADER = 8
_T = TypeVar("_T")


class Redactor:
    """Masks the instance's secret configuration values in text meant for a log or a tenant."""

    def __init__(self, spec: InstanceSpec) -> None:
        values = config_values(spec.config_schema, spec.config)
        found = (values.get(name) for name in secret_fields(spec.config_schema))
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({str(v) for v in found if v not in (None, "")}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class ContainerUpstream:
    """The container's MCP channel as the streams `mcp.ClientSession` takes."""

    def __init__(self, container: Container, log: LogFn, *, stdio: bool) -> None:
        self.container = container
        self.log = log
        self.stdio = stdio
        self.read: MemoryObjectReceiveStream[SessionMessage | Exception]
        self.write: MemoryObjectSendStream[SessionMessage]
        self._to_session, self.read = anyio.create_memory_object_stream[
            SessionMessage | Exception
        ]()
        self.write, self._from_session = anyio.create_memory_object_stream[SessionMessage]()
        self._attached: SocketStream | None = None
        self._exited = anyio.Event()
        self._exit: tuple[int | None, str] = (None, "lost")

    async def wait(self) -> tuple[int | None, str]:
        await self._exited.wait()
        return self._exit

    async def aclose(self) -> None:
        """Stop it. The engine, not the attach stream, says when it has ended: when the bridge
        is cancelled, the task reading the stream is cancelled with it."""
        with anyio.CancelScope(shield=True):
            self._from_session.close()
            if self._exited.is_set():
                return
            ended = None
            if self.stdio and self._attached is not None:
                with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    await self._attached.send_eof()
                ended = await _blocking(partial(self._exit_within, STDIN_GRACE_S))
            if ended is None:
                with suppress(DockerException, RequestException):
                    await _blocking(partial(self.container.stop, timeout=TERM_GRACE_S))
                ended = await _blocking(partial(self._exit_within, SETTLE_WAIT_S))
            # Without an answer from the engine, the removal at the end forces it.
            self._conclude(ended or (None, "stopped, but the engine did not confirm the exit"))

    # -- the attach stream ----------------------------------------------------------------------

    async def pump_output(self, attached: SocketStream) -> None:
        """Demultiplex stdout and stderr until the container's process ends, then settle."""
        self._attached = attached
        frames = BufferedByteReceiveStream(attached)
        pending = {STDOUT: bytearray(), STDERR: bytearray()}
        try:
            while True:
                header = await frames.receive_exactly(_FRAME_HEADER)
                size = int.from_bytes(header[4:8], "big")
                payload = await frames.receive_exactly(size) if size else b""
                if header[0] in pending:
                    await self._take(header[0], pending[header[0]], payload)
        except (anyio.IncompleteRead, anyio.EndOfStream):
            pass  # the process ended (or the engine dropped the stream: settled below)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as error:
            self.log("system", "warning", f"the attach stream broke: {error}")
        for stream, rest in pending.items():
            if rest.strip():
                await self._line(stream, bytes(rest))
        self._to_session.close()
        await self._settle()

    async def pump_input(self, attached: ByteSendStream) -> None:
        # `aclose` closes the session's side under the loop: that ends it too.
        with suppress(anyio.ClosedResourceError):
            async for item in self._from_session:
                data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                try:
                    await attached.send(data.encode() + b"\n")
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    return

    async def _take(self, stream: int, pending: bytearray, payload: bytes) -> None:
        pending += payload
        while (end := pending.find(b"\n")) >= 0:
            line = bytes(pending[:end])
            del pending[: end + 1]
            await self._line(stream, line)
        if len(pending) > MAX_MESSAGE_BYTES:
            pending.clear()
            name = "stdout" if stream == STDOUT else "stderr"
            self.log(
                "system", "error", f"dropped a line on {name} longer than {MAX_MESSAGE_BYTES} bytes"
            )

    async def _line(self, stream: int, line: bytes) -> None:
        if stream == STDOUT and self.stdio:
            try:
                message = mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except ValueError:
                pass  # not the protocol: a banner or a stray print, logged below
            else:
                with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    await self._to_session.send(SessionMessage(message))
                return
        text = line.decode(errors="replace").rstrip()
        if text:
            level = "warning" if stream == STDOUT and self.stdio else level_of(text)
            self.log("stdout" if stream == STDOUT else "stderr", level, text)

    async def _settle(self) -> None:
        """Read how the container ended. Had the stream broken with the container still
        running, it could not be talked to any more: it is killed and reported lost."""
        ended = await _blocking(partial(self._exit_within, SETTLE_WAIT_S))
        if ended is None:
            self.log("system", "warning", "the attach stream closed early: killing the container")
            with suppress(DockerException, RequestException):
                await _blocking(self.container.kill)
            await _blocking(partial(self._exit_within, SETTLE_WAIT_S))
            ended = (None, "lost")
        self._conclude(ended)

    def _conclude(self, ended: tuple[int | None, str]) -> None:
        if not self._exited.is_set():
            self._exit = ended
            self._exited.set()

    def _exit_within(self, timeout: float) -> tuple[int | None, str] | None:
        """How it ended, once it has (None if still running after `timeout`). The engine's
        wait, not its state: right after the process ends the state may say running still."""
        try:
            code = self.container.wait(timeout=timeout)["StatusCode"]
            self.container.reload()
        except NotFound:
            return None, "lost"
        except APIError as error:  # before RequestException: an APIError is both
            self.log("system", "warning", f"could not read the container's exit: {error}")
            return None, "lost"
        except RequestException:  # the wait timed out (or the engine is unreachable)
            return None
        return exit_of(self.container.attrs["State"] | {"ExitCode": code})

    # -- streamable HTTP ------------------------------------------------------------------------

    async def until_listening(self, port: int) -> None:
        """Wait until the published port accepts, the container exits, or time runs out."""
        with anyio.move_on_after(LISTEN_TIMEOUT_S):
            while not self._exited.is_set():
                try:
                    connection = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(LISTEN_POLL_S)
                    continue
                await connection.aclose()
                return
        if not self._exited.is_set():
            raise UpstreamStartError(
                f"the server did not listen on its port within {LISTEN_TIMEOUT_S:.0f} s"
            )
        await self.wait()
        raise UpstreamStartError(self._exit[1])

    async def relay_from(self, read: Any) -> None:
        async with self._to_session:
            async for item in read:
                try:
                    await self._to_session.send(item)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return

    async def relay_to(self, write: Any) -> None:
        with suppress(anyio.ClosedResourceError):
            async for item in self._from_session:
                try:
                    await write.send(item)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return


async def _blocking(call: Callable[[], _T]) -> _T:
    return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)


def _create(client: DockerClient, spec: InstanceSpec, home: Path, log: LogFn) -> Container:
    options = create_options(spec, home)
    ensure_image(client, options["image"], lambda line: log("system", "info", line))
    remove_stale(client, options["name"], home)
    try:
        container: Container = client.containers.create(**options)
    except APIError as error:
        raise ContainerError(f"the engine refused the container: {error.explanation}") from None
    return container


def _attach(container: Container, stdin: bool) -> socket.socket:
    """The raw attach socket, owned by the caller (the SDK's wrappers are let go)."""
    params = {"stdin": int(stdin), "stdout": 1, "stderr": 1, "stream": 1}
    wrapped = container.attach_socket(params=params)
    raw = getattr(wrapped, "_sock", None)
    if type(raw) is not socket.socket:  # an SSH or TLS transport: not ours to unwrap
        wrapped.close()
        raise ContainerError("attaching needs DOCKER_HOST as unix:// or plain tcp://")
    own = raw.dup()
    wrapped.close()
    return own


@asynccontextmanager
async def open_upstream(
    spec: InstanceSpec, home: Path, log: LogFn
) -> AsyncIterator[ContainerUpstream]:
    """Create, attach and start the container; stop and remove it when the context ends."""
    redact = Redactor(spec)

    def say(stream: str, level: str, message: str) -> None:
        log(stream, level, redact(message))

    stdio = "port" not in spec.runtime
    try:
        client = await _blocking(connect)
    except ContainerError as error:
        raise UpstreamStartError(str(error)) from None
    container: Container | None = None
    failure: str | None = None
    try:
        try:
            container = await _blocking(partial(_create, client, spec, home, say))
            raw = await _blocking(partial(_attach, container, stdio))
        except (DockerException, RequestException, ContainerError) as error:
            failure = _engine_said(error)
        else:
            upstream = ContainerUpstream(container, say, stdio=stdio)
            attached = await SocketStream.from_socket(raw)
            # A failure to start is raised after the task group, so that it reaches the bridge
            # as itself and not inside an exception group.
            async with attached, anyio.create_task_group() as tasks:
                tasks.start_soon(upstream.pump_output, attached)
                if stdio:
                    tasks.start_soon(upstream.pump_input, attached)
                try:
                    # Leaving the transport ends the MCP session while the server still runs.
                    async with AsyncExitStack() as transport:
                        await _start(container, spec, say)
                        if not stdio:
                            await _connect_http(upstream, container, spec, transport, tasks)
                        yield upstream
                except UpstreamStartError as error:
                    failure = str(error)
                finally:
                    await upstream.aclose()
                tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True), suppress(DockerException, RequestException):
            if container is not None:
                await _blocking(partial(remove, client, container.id))
        client.close()
    if failure is not None:
        raise UpstreamStartError(redact(failure))


def _engine_said(error: Exception) -> str:
    if isinstance(error, ContainerError):
        return str(error)
    if isinstance(error, APIError):
        return f"the container engine failed: {error.explanation}"
    return f"the container engine failed: {error}"


async def _start(container: Container, spec: InstanceSpec, say: LogFn) -> None:
    try:
        await _blocking(container.start)
    except APIError as error:
        raise UpstreamStartError(f"the container did not start: {error.explanation}") from None
    except (DockerException, RequestException) as error:
        raise UpstreamStartError(_engine_said(error)) from None
    say("system", "info", f"started container {container.short_id} ({spec.runtime['image']})")


async def _connect_http(
    upstream: ContainerUpstream,
    container: Container,
    spec: InstanceSpec,
    transport: AsyncExitStack,
    tasks: anyio.abc.TaskGroup,
) -> None:
    """Once the server listens, an MCP client transport to it, relayed to the session."""
    try:
        await _blocking(container.reload)
        port = published_port(container, spec.runtime["port"])
    except (DockerException, RequestException, ContainerError) as error:
        raise UpstreamStartError(_engine_said(error)) from None
    await upstream.until_listening(port)
    url = f"http://127.0.0.1:{port}{MCP_PATH}"
    read, write = await transport.enter_async_context(streamable_http_client(url))
    tasks.start_soon(upstream.relay_from, read)
    tasks.start_soon(upstream.relay_to, write)
