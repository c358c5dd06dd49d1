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
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

from infra.runtimes.base import InstanceSpec
from infra.runtimes.bridge_files import (
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


def main() -> None:
    folder = Path(sys.argv[1])
    spec, home = decode_spec(sys.stdin.buffer.read())
    # From the moment state.json exists a stop may come; it waits until the serving half can
    # stop the upstream properly and write exit.json.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
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
