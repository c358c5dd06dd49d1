"""Instances run as bridge processes on this machine, each with a folder under `<home>/instances`.

The folders are the runtime's whole memory (see `bridge_files`): a restarted control plane, or
a second `LocalRuntime` over the same home, finds every instance again by scanning them. A
bridge runs in its own session, so it outlives the process that started it; it dies with the
upstream it fronts, and its upstream dies with it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from infra.runtimes.base import InstanceSpec, LogLine, Observed, RuntimeStartError
from infra.runtimes.bridge_files import (
    BRIDGE_LOG,
    EXIT,
    LAUNCH,
    OUTPUT,
    STATE,
    encode_spec,
    instance_dir,
    is_running,
    read_json,
    start_time,
    write_json,
)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.02
MAX_LOG_READ_BYTES = 1024 * 1024
#: What a bridge inherits from the control plane: what the package installers need to find
#: programs and reach their registries. The platform's own settings (database URL, keys) stay
#: here.
BRIDGE_ENV_PREFIXES = ("UV_", "PIP_", "NPM_CONFIG_", "npm_config_")
BRIDGE_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
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
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class _Known:
    """A parsed `state.json` (or `launch.json`), kept while the file's mtime is unchanged."""

    mtime_ns: int
    doc: dict[str, Any]


def bridge_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name in BRIDGE_ENV or name.startswith(BRIDGE_ENV_PREFIXES)
    }


class LocalRuntime:
    """The `Runtime` for bridge-backed instances; subclasses name the upstream `kind`."""

    kind: ClassVar[str]

    def __init__(
        self, home: Path, python: str = sys.executable, *, address_space_mb: int | None = None
    ) -> None:
        self.home = home
        self.python = python
        self.limits = {"address_space_mb": address_space_mb} if address_space_mb else {}
        self.root = home / "instances"
        self._known: dict[Path, _Known] = {}
        # Bridges this object started, reaped as they exit; others were started by an earlier
        # control plane and are reaped by whoever inherited them.
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    # -- Runtime --------------------------------------------------------------------------------

    def start(self, spec: InstanceSpec) -> Observed:
        folder = instance_dir(self.home, spec.instance_id)
        if self._identity(folder) is not None:
            raise RuntimeStartError(f"instance {spec.instance_id} already exists")
        shutil.rmtree(folder, ignore_errors=True)  # a folder nobody can name is a crash's leftover
        folder.mkdir(parents=True)
        with open(folder / BRIDGE_LOG, "ab") as bridge_log:
            child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [self.python, "-m", "infra.runtimes.bridge", str(folder)],
                stdin=subprocess.PIPE,
                stdout=bridge_log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
                env=bridge_env(),
                start_new_session=True,
            )
        self._children[spec.instance_id] = child
        launch = {"labels": spec.labels(), "kind": self.kind, "pid": child.pid}
        write_json(folder / LAUNCH, launch | {"pid_start_time": start_time(child.pid)})
        assert child.stdin
        try:
            child.stdin.write(encode_spec(spec, self.home, self.limits))
            child.stdin.close()
        except BrokenPipeError:
            pass  # it died at once; the wait below says why
        return self._await_start(spec.instance_id, folder, child)

    def observe(self) -> list[Observed]:
        for instance_id, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[instance_id]
        try:
            folders = [Path(entry.path) for entry in os.scandir(self.root) if entry.is_dir()]
        except FileNotFoundError:
            return []
        found = [self._observe_one(folder) for folder in folders]
        return [seen for seen in found if seen is not None]

    def stop(self, instance_id: str) -> None:
        folder = instance_dir(self.home, instance_id)
        doc = self._identity(folder)
        if doc is None:
            return
        pid, started = doc["pid"], doc.get("pid_start_time")
        if is_running(pid, started):
            os.killpg(pid, signal.SIGTERM)
            if not self._wait_gone(instance_id, pid, started, STOP_TIMEOUT_S):
                os.killpg(pid, signal.SIGKILL)
                self._wait_gone(instance_id, pid, started, STOP_TIMEOUT_S)
            if not (folder / EXIT).exists():
                write_json(
                    folder / EXIT, {"exit_code": None, "reason": "stopped", "at": time.time()}
                )
        self._cleanup(instance_id, doc)

    def remove(self, instance_id: str) -> None:
        folder = instance_dir(self.home, instance_id)
        self.stop(instance_id)
        self._children.pop(instance_id, None)
        shutil.rmtree(folder, ignore_errors=True)
        self._known.pop(folder / STATE, None)
        self._known.pop(folder / LAUNCH, None)

    def read_logs(self, instance_id: str, offset: int) -> tuple[list[LogLine], int]:
        try:
            with open(instance_dir(self.home, instance_id) / OUTPUT, "rb") as output:
                output.seek(offset)
                chunk = output.read(MAX_LOG_READ_BYTES)
        except FileNotFoundError:
            return [], offset
        whole = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for next time
        lines = [_log_line(instance_id, raw) for raw in whole.splitlines() if raw]
        return lines, offset + len(whole)

    # -- for subclasses -------------------------------------------------------------------------

    def _cleanup(self, instance_id: str, state: dict[str, Any]) -> None:
        """Called by `stop()` and `remove()` once the bridge is gone, with its `state.json`
        (or `launch.json`); may run more than once per instance, so must be idempotent."""

    # -- internals ------------------------------------------------------------------------------

    def _await_start(
        self, instance_id: str, folder: Path, child: subprocess.Popen[bytes]
    ) -> Observed:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            seen = self._observe_one(folder)
            if seen is not None and (seen.running or seen.reason):
                if seen.running:
                    return seen
                raise RuntimeStartError(seen.reason)
            time.sleep(POLL_S)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        raise RuntimeStartError(f"the bridge did not start within {START_TIMEOUT_S:.0f} s")

    def _wait_gone(self, instance_id: str, pid: int, started: int | None, timeout: float) -> bool:
        child = self._children.get(instance_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                return True
            if child is None and not is_running(pid, started):
                return True
            time.sleep(POLL_S)
        return False

    def _parsed(self, path: Path) -> dict[str, Any] | None:
        """`path` parsed, re-read only when its mtime changed (observe runs every pass)."""
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None
        known = self._known.get(path)
        if known is None or known.mtime_ns != mtime:
            doc = read_json(path)
            if doc is None:
                return None
            known = self._known[path] = _Known(mtime, doc)
        return known.doc

    def _identity(self, folder: Path) -> dict[str, Any] | None:
        """The bridge's own report, else the runtime's note of what it launched."""
        return self._parsed(folder / STATE) or self._parsed(folder / LAUNCH)

    def _observe_one(self, folder: Path) -> Observed | None:
        state = self._parsed(folder / STATE)
        doc = state or self._parsed(folder / LAUNCH)
        if doc is None or doc.get("kind") != self.kind:
            return None
        common: dict[str, Any] = {"ref": f"pid:{doc['pid']}", "endpoint": None, "running": False}
        if state is not None:
            common["endpoint"] = state["endpoint"]
        ended = read_json(folder / EXIT)
        if ended is not None:
            common |= {"exit_code": ended["exit_code"], "reason": ended["reason"]}
        elif is_running(doc["pid"], doc.get("pid_start_time")):
            common["running"] = state is not None
        else:
            common["reason"] = "lost" if state is not None else "failed to start"
        return Observed.from_labels(doc["labels"], **common)


def _log_line(instance_id: str, raw: bytes) -> LogLine:
    doc = json.loads(raw)
    return LogLine(doc["at"], instance_id, doc["stream"], doc["level"], doc["message"])
