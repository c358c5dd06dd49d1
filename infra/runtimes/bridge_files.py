"""The folder a local instance keeps: what the bridge writes and the runtime reads back.

`<home>/instances/<instance_id>/` holds
- `launch.json`: the runtime's note of what it started (labels, kind, bridge pid), so an
  instance whose bridge died before saying anything can still be named;
- `state.json`: the bridge's own report once it listens (pid, port, endpoint, labels, kind);
- `exit.json`: why it ended (`exit_code`, `reason`), written once, last;
- `output.jsonl`: the instance's log, one JSON object per line;
- `bridge.log`: the bridge's own stdout and stderr (tracebacks, if it crashes);
- `work/`: the server's working directory and `$HOME`.

None of them holds the instance's configuration: it reaches the bridge on stdin only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from uuid import UUID

from infra.runtimes.base import InstanceSpec

LAUNCH = "launch.json"
STATE = "state.json"
EXIT = "exit.json"
OUTPUT = "output.jsonl"
BRIDGE_LOG = "bridge.log"
WORK = "work"
#: Variables an instance's processes may inherit (the bridge from the control plane, the
#: server from the bridge): where to find programs and how to reach the network (CA bundles,
#: proxies). Everything else a server gets comes from its runtime spec.
INHERITED_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
#: A longer message is cut, so one runaway line cannot make a log unreadable.
MAX_MESSAGE_CHARS = 8000


def instance_dir(home: Path, instance_id: str) -> Path:
    return home / "instances" / instance_id


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomically: a reader sees the old file or the whole new one, never a part."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(doc))
    partial.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    return doc


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None if it is gone or a zombie.

    A pid alone may have been reused by another process; the pair (pid, start time) is unique.
    """
    try:  # os-level calls: this runs for every instance on every pass
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        try:
            fields = os.read(fd, 4096).rsplit(b")", 1)[1].split()
        finally:
            os.close(fd)
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    # After the command name: state is field 3 of stat(5), starttime field 22.
    return None if fields[0] in (b"Z", b"X") else int(fields[19])


def is_running(pid: int, started: int | None) -> bool:
    return started is not None and start_time(pid) == started


def encode_spec(spec: InstanceSpec, home: Path, limits: dict[str, Any]) -> bytes:
    """What the runtime writes on the bridge's stdin: the spec, configuration included.

    The operator's `limits` ride in the runtime spec (`runtime["limits"]`), where the upstream
    reads them; a published spec never carries that key (`check_runtime` drops it)."""
    doc = asdict(spec) | {"home": str(home)}
    doc["runtime"] = {**spec.runtime, "limits": limits}
    return json.dumps(doc, default=str).encode()


def decode_spec(data: bytes) -> tuple[InstanceSpec, Path]:
    doc = json.loads(data)
    home = Path(doc.pop("home"))
    doc["deployment_id"], doc["tenant_id"] = UUID(doc["deployment_id"]), UUID(doc["tenant_id"])
    return InstanceSpec(**doc), home


class InstanceLog:
    """Appends `{at, stream, level, message}` lines to `output.jsonl`.

    One `write` per line on an O_APPEND file, so a reader never sees half a line; a lock,
    because the package installer reports progress from a worker thread.
    """

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.lock = threading.Lock()

    def __call__(self, stream: str, level: str, message: str) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + " …(cut)"
        line = json.dumps({"at": time.time(), "stream": stream, "level": level, "message": message})
        with self.lock:
            os.write(self.fd, line.encode() + b"\n")
