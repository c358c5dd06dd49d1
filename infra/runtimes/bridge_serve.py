"""The bridge's serving half: uvicorn on the announced socket, the upstream, and the proxy
between them (see `infra.runtimes.bridge` for the whole story)."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import uvicorn
from mcp import ClientSession
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import Implementation, InitializeResult
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.runtimes.base import InstanceSpec
from infra.runtimes.bridge_files import EXIT, write_json
from infra.runtimes.bridge_proxy import Listeners, ProxyServer
from infra.runtimes.upstream import LogFn, OpenUpstream, Upstream, UpstreamStartError

if TYPE_CHECKING:
    from infra.runtimes.process_launch import Launched

#: How long a request waits for the upstream to be ready before it is told to come back.
READY_WAIT_S = 30.0
INITIALIZE_TIMEOUT_S = 60.0
#: Only loopback names: a web page must not reach the bridge by rebinding a DNS name to it.
LOOPBACK = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1:*", "localhost:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*"],
)
CLIENT_INFO = Implementation(name="mcps.one-bridge", version="1")
UPSTREAMS = {
    "process": "infra.runtimes.process_upstream",
    "docker": "infra.runtimes.docker_upstream",
}


class Gate:
    """The ASGI app uvicorn serves: holds requests until the proxy is ready, then passes them on."""

    def __init__(self) -> None:
        self.settled = anyio.Event()
        self.app: ASGIApp | None = None
        self.refusal = "the server is still starting"

    def open(self, app: ASGIApp) -> None:
        self.app = app
        self.settled.set()

    def close(self, refusal: str) -> None:
        self.app, self.refusal = None, refusal
        self.settled.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/mcp":
            await Response(status_code=404)(scope, receive, send)
            return
        with anyio.move_on_after(READY_WAIT_S):
            await self.settled.wait()
        if self.app is None:
            error = {"code": -32000, "message": self.refusal}
            body = {"jsonrpc": "2.0", "id": None, "error": error}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BridgeServer(uvicorn.Server):
    """uvicorn without its signal handlers: SIGTERM is the bridge's, to stop the upstream first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class InstanceLogHandler(logging.Handler):
    """The bridge's own warnings (uvicorn's, the SDK's) go to the instance log as "system"."""

    def __init__(self, log: LogFn) -> None:
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        level = "error" if record.levelno >= logging.ERROR else "warning"
        self.log("system", level, record.getMessage())


async def serve(
    upstream: Upstream, gate: Gate, listeners: Listeners, log: LogFn
) -> tuple[int | None, str]:
    """Proxy to an upstream until it exits; its exit code and why."""
    async with ClientSession(
        upstream.read,
        upstream.write,
        message_handler=listeners.on_upstream,
        logging_callback=listeners.on_upstream_log,
        client_info=CLIENT_INFO,
    ) as session:
        try:
            with anyio.fail_after(INITIALIZE_TIMEOUT_S):
                init: InitializeResult = await session.initialize()
        except Exception as error:  # whatever the shape, the upstream did not start
            with anyio.move_on_after(2):
                return await upstream.wait()  # it died: say how
            if isinstance(error, TimeoutError):
                return None, f"did not answer initialize within {INITIALIZE_TIMEOUT_S:.0f} s"
            return None, f"initialize failed: {error}"
        log("system", "info", f"ready: {init.server_info.name} {init.server_info.version}")
        # Answers on an event stream per request, not as plain JSON (cheaper): a request's
        # progress and log notifications travel on its stream, and plain JSON drops them.
        manager = StreamableHTTPSessionManager(
            ProxyServer(session, init, listeners), security_settings=LOOPBACK
        )
        async with manager.run():
            gate.open(manager.handle_request)
            try:
                return await upstream.wait()
            finally:
                gate.close("the server has exited")


async def supervise(
    spec: InstanceSpec,
    home: Path,
    gate: Gate,
    signals: AsyncIterator[int],
    log: LogFn,
    launched: Launched | None = None,
) -> tuple[int | None, str]:
    """Start the upstream (or take over the one the light half `launched`) and proxy to it
    until it exits or a signal says stop."""
    opened: list[Upstream] = []
    outcome: tuple[int | None, str] = (None, "stopped")

    async def run() -> None:
        nonlocal outcome
        try:
            module = import_module(UPSTREAMS[spec.runtime["kind"]])
            open_upstream: OpenUpstream = module.open_upstream
            if launched is not None:
                open_upstream = partial(module.open_upstream, launched=launched)
            async with open_upstream(spec, home, log) as upstream:
                opened.append(upstream)
                outcome = await serve(upstream, gate, Listeners(log), log)
        except UpstreamStartError as error:
            outcome = (None, str(error))
        except Exception as error:  # a bug of ours: still say so in exit.json, not just die
            logging.getLogger(__name__).exception("the bridge failed")
            outcome = (None, f"bridge failed: {type(error).__name__}: {error}")
        tasks.cancel_scope.cancel()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run)
        async for _ in signals:
            tasks.cancel_scope.cancel()
            break
    if outcome[1] == "stopped" and opened:
        outcome = ((await opened[0].wait())[0], "stopped")
    return outcome


def run(
    folder: Path,
    spec: InstanceSpec,
    home: Path,
    listener: socket.socket,
    stop_signals: set[signal.Signals],
    log: LogFn,
    launched: Launched | None = None,
) -> None:
    """Serve on `listener` until the upstream exits or one of `stop_signals` (blocked by the
    caller since it announced the instance) arrives."""
    anyio.run(_run, folder, spec, home, listener, stop_signals, log, launched)


async def _run(
    folder: Path,
    spec: InstanceSpec,
    home: Path,
    listener: socket.socket,
    stop_signals: set[signal.Signals],
    log: LogFn,
    launched: Launched | None,
) -> None:
    with anyio.open_signal_receiver(*stop_signals) as signals:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)  # one that came meanwhile lands
        await _serve(folder, spec, home, listener, signals, log, launched)


async def _serve(
    folder: Path,
    spec: InstanceSpec,
    home: Path,
    listener: socket.socket,
    signals: AsyncIterator[int],
    log: LogFn,
    launched: Launched | None,
) -> None:
    logging.getLogger().addHandler(InstanceLogHandler(log))
    gate = Gate()
    config = uvicorn.Config(
        gate,
        lifespan="off",
        ws="none",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    http = BridgeServer(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(http.serve, [listener])
        exit_code, reason = await supervise(spec, home, gate, signals, log, launched)
        log("system", "info" if reason == "stopped" or exit_code == 0 else "error", reason)
        write_json(folder / EXIT, {"exit_code": exit_code, "reason": reason, "at": time.time()})
        http.should_exit = True
