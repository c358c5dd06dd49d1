"""One local instance: a stdio MCP server behind streamable HTTP on a loopback port.

Run as `python -m infra.runtimes.bridge <instance_dir>` with the instance's spec (configuration
included) as JSON on stdin, so the configuration never touches a file, an argument list or
the environment. The bridge listens on 127.0.0.1 first and says where in `state.json`, then
starts the upstream server (installing its package, which can take a while) and initializes a
session to it; requests that come meanwhile wait. It lives as long as the upstream: when that
exits, the bridge writes `exit.json` and exits too. SIGTERM stops the upstream gracefully
(reason "stopped").

This module is the light half: the MCP SDK takes a second or two to import on a busy machine,
and the runtime's `start()` waits only for `state.json`, so that is written before the serving
half (`bridge_serve`) is imported; connections queue in the listen backlog meanwhile. A process
server whose package is in place (or that names none) is started here too, right after, so its
own start-up (about as long: it imports the SDK as well) overlaps the serving half's import;
its output waits in its pipes until the serving half reads them. Where a package must be
installed first, the serving half installs it and starts the server afterwards.

A spare (`python -m infra.runtimes.bridge --spare <kind>`) imports everything first, says
`ready` on stdout, and then waits for an instance: its folder on the first line of stdin,
the spec after it. The runtime keeps one at hand while it is idle (`LocalRuntime`), so a new
instance need not wait for the imports at all. A spare whose runtime goes away reads the end
of its stdin and exits.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from importlib import import_module
from pathlib import Path

from infra.runtimes.base import InstanceSpec
from infra.runtimes.bridge_files import (
    BRIDGE_LOG,
    OUTPUT,
    STATE,
    InstanceLog,
    decode_spec,
    start_time,
    write_json,
)

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def announce(folder: Path, spec: InstanceSpec) -> socket.socket:
    """Listen on a free loopback port and write `state.json` (never the configuration)."""
    listener = socket.create_server(("127.0.0.1", 0))
    # Accepted connections inherit it. uvicorn on a socket it is handed (with uvloop) leaves
    # Nagle on, and an answer written in pieces then waits for the client's delayed ACK:
    # 40 ms per call (42 ms p50 for a toy echo, 4.9 ms with this).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    port = listener.getsockname()[1]
    pid = os.getpid()
    state = {
        "pid": pid,
        "pid_start_time": start_time(pid),
        "port": port,
        "endpoint": f"http://127.0.0.1:{port}/mcp",
        "started_at": time.time(),
        "labels": spec.labels(),
        "kind": spec.runtime["kind"],
    }
    write_json(folder / STATE, state)
    return listener


SPARE = "--spare"
READY = b"ready\n"


def wait_as_spare(kind: str) -> Path | None:
    """Import what an instance of `kind` needs, say so, and wait for one: its folder, or None
    when the runtime went away. Output goes to the instance's `bridge.log` from then on."""
    from infra.runtimes import bridge_serve, process_launch  # noqa: F401 - loaded ahead

    import_module(bridge_serve.UPSTREAMS[kind])
    os.write(sys.stdout.fileno(), READY)
    line = sys.stdin.buffer.readline()
    if not line.endswith(b"\n"):
        return None
    folder = Path(line[:-1].decode())
    output = os.open(folder / BRIDGE_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
        os.dup2(output, stream.fileno())
    os.close(output)
    return folder


def main() -> None:
    if sys.argv[1] == SPARE:  # a stop signal ends an idle spare at once
        if (spare_for := wait_as_spare(sys.argv[2])) is None:
            return
        folder = spare_for
    else:
        folder = Path(sys.argv[1])
    # From the moment state.json exists a stop may come; it waits until the serving half can
    # stop the upstream properly and write exit.json.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    spec, home = decode_spec(sys.stdin.buffer.read())
    listener = announce(folder, spec)
    log = InstanceLog(folder / OUTPUT)
    launched = None
    if spec.runtime["kind"] == "process":
        from infra.runtimes.process_launch import launch, ready_command_line

        if line := ready_command_line(spec, home):
            launched = launch(spec, home, line, log)
    from infra.runtimes.bridge_serve import run

    run(folder, spec, home, listener, STOP_SIGNALS, log, launched)


if __name__ == "__main__":
    main()
