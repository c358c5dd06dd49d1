"""Instances run as bridge processes on this machine, each with a folder under `<home>/instances`.

The folders are the runtime's whole memory (see `bridge_files`): a restarted control plane, or
a second `LocalRuntime` over the same home, finds every instance again by scanning them. A
bridge runs in its own session, so it outlives the process that started it; it dies with the
upstream it fronts, and its upstream dies with it.

While idle, the runtime keeps one spare bridge at hand (`spare=True`): a bridge process that
has imported the MCP SDK already and waits for an instance (see `infra.runtimes.bridge`). A
start takes it if it says it is ready, and otherwise starts a bridge afresh; a new spare is
made only once no instance has started (and the runtime has existed) for `SPARE_AFTER_S`,
so its imports do not compete for the CPU with the instances just started. A spare holds
nothing: when the runtime's process ends, the spare reads the end of its stdin and exits.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from infra.runtimes.base import InstanceSpec, LogLine, Observed, RuntimeStartError
from infra.runtimes.bridge_files import (
    BRIDGE_LOG,
    EXIT,
    INHERITED_ENV,
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

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
#: How long after the last start a spare bridge is made, and after a spare died unused.
SPARE_AFTER_S, SPARE_RETRY_S = 2.0, 60.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.02
MAX_LOG_READ_BYTES = 1024 * 1024
#: What a bridge inherits from the control plane: what the package installers need to find
#: programs and reach their registries, and where the container engine is (`DOCKER_HOST`,
#: `DOCKER_CERT_PATH`, ...). The platform's own settings (database URL, keys) stay here.
BRIDGE_ENV_PREFIXES = ("UV_", "PIP_", "NPM_CONFIG_", "npm_config_", "DOCKER_")
BRIDGE_ENV = (*INHERITED_ENV, "HOME", "TMPDIR")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class _Known:
    """A parsed `state.json` (or `launch.json`) and what it says while its bridge runs; kept
    while the file's mtime is unchanged, so a pass over unchanged instances parses nothing."""

    mtime_ns: int
    doc: dict[str, Any]
    #: Not running, no reason yet: a bridge still starting (`launch.json` only).
    base: Observed
    running: Observed


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
        self,
        home: Path,
        python: str = sys.executable,
        *,
        address_space_mb: int | None = None,
        spare: bool = True,
    ) -> None:
        self.home = home
        self.python = python
        self.limits = {"address_space_mb": address_space_mb} if address_space_mb else {}
        self.root = home / "instances"
        self._known: dict[str, _Known] = {}
        # Bridges this object started, reaped as they exit; others were started by an earlier
        # control plane and are reaped by whoever inherited them.
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self.keeps_spare = spare
        self._spare: subprocess.Popen[bytes] | None = None
        self._spare_ready = False
        # Not at once either: a runtime made to look at instances once needs none, and a
        # deployer's first instances start before a spare could be ready anyway.
        self._spare_after = time.monotonic() + SPARE_AFTER_S

    # -- Runtime --------------------------------------------------------------------------------

    def start(self, spec: InstanceSpec) -> Observed:
        folder = instance_dir(self.home, spec.instance_id)
        if self._identity(str(folder)) is not None:
            raise RuntimeStartError(f"instance {spec.instance_id} already exists")
        shutil.rmtree(folder, ignore_errors=True)  # a folder nobody can name is a crash's leftover
        folder.mkdir(parents=True)
        self._spare_after = time.monotonic() + SPARE_AFTER_S
        child = self._take_spare(folder)
        if child is None:
            with open(folder / BRIDGE_LOG, "ab") as bridge_log:
                child = self._bridge([str(folder)], stdout=bridge_log)
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
        self._keep_spare()
        for instance_id, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[instance_id]
        try:
            folders = [entry.path for entry in os.scandir(self.root) if entry.is_dir()]
        except FileNotFoundError:
            return []
        found = [self._observe_one(folder) for folder in folders]
        return [seen for seen in found if seen is not None]

    def stop(self, instance_id: str) -> None:
        folder = instance_dir(self.home, instance_id)
        known = self._identity(str(folder))
        if known is None:
            return
        pid, started = known.doc["pid"], known.doc.get("pid_start_time")
        if is_running(pid, started):
            os.killpg(pid, signal.SIGTERM)
            if not self._wait_gone(instance_id, pid, started, STOP_TIMEOUT_S):
                os.killpg(pid, signal.SIGKILL)
                self._wait_gone(instance_id, pid, started, STOP_TIMEOUT_S)
            if not (folder / EXIT).exists():
                write_json(
                    folder / EXIT, {"exit_code": None, "reason": "stopped", "at": time.time()}
                )
        self._cleanup(instance_id, known.doc)

    def remove(self, instance_id: str) -> None:
        folder = instance_dir(self.home, instance_id)
        self.stop(instance_id)
        self._children.pop(instance_id, None)
        shutil.rmtree(folder, ignore_errors=True)
        self._known.pop(str(folder / STATE), None)
        self._known.pop(str(folder / LAUNCH), None)

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

    def _bridge(self, args: list[str], **io: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [self.python, "-m", "infra.runtimes.bridge", *args],
            stdin=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            env=bridge_env(),
            start_new_session=True,
            **io,
        )

    def spare_ready(self, timeout: float = 0.0) -> bool:
        """Make a spare bridge now if there is none, and wait up to `timeout` for it to be
        ready (a deployer starting up, so its first instance finds one)."""
        self._keep_spare(now=True)
        return self._said_ready(timeout)

    def close(self) -> None:
        """End the spare bridge (instances are left running: they outlive the runtime)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            assert spare.stdin
            spare.stdin.close()  # it reads the end of its input and exits
            try:
                spare.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                spare.kill()
                spare.wait()

    def _keep_spare(self, *, now: bool = False) -> None:
        """Make a spare bridge if there is none and no instance started lately."""
        if not self.keeps_spare or (time.monotonic() < self._spare_after and not now):
            return
        if self._spare is not None and self._spare.poll() is None:
            return
        if self._spare is not None:  # it died unused: say so, and try again later
            logger.warning("a spare bridge exited with %s", self._spare.returncode)
            self._spare, self._spare_after = None, time.monotonic() + SPARE_RETRY_S
            return
        self._spare = self._bridge(["--spare", self.kind], stdout=subprocess.PIPE)
        self._spare_ready = False

    def _said_ready(self, timeout: float) -> bool:
        """Whether the spare has said it is ready (waiting up to `timeout` for it to)."""
        spare = self._spare
        if spare is None or spare.poll() is not None:
            return False
        if not self._spare_ready:
            assert spare.stdout
            if not select.select([spare.stdout], [], [], timeout)[0]:
                return False  # still importing
            # Anything else (a traceback, the end) means it broke: it exits, and the next
            # `observe()` says so.
            self._spare_ready = os.read(spare.stdout.fileno(), 64) == b"ready\n"
        return self._spare_ready

    def _take_spare(self, folder: Path) -> subprocess.Popen[bytes] | None:
        """The spare bridge, handed `folder`, if it has said it is ready; else None (one
        still importing is kept for a later start)."""
        spare = self._spare
        if spare is None or not self._said_ready(0):
            return None
        self._spare = None
        assert spare.stdin and spare.stdout
        spare.stdout.close()
        try:
            spare.stdin.write(f"{folder}\n".encode())
        except BrokenPipeError:
            return None
        return spare

    def _await_start(
        self, instance_id: str, folder: Path, child: subprocess.Popen[bytes]
    ) -> Observed:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            seen = self._observe_one(str(folder))
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

    def _parsed(self, path: str) -> _Known | None:
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None
        known = self._known.get(path)
        if known is None or known.mtime_ns != mtime:
            doc = read_json(Path(path))
            if doc is None:
                return None
            base = Observed.from_labels(
                doc["labels"], ref=f"pid:{doc['pid']}", endpoint=doc.get("endpoint"), running=False
            )
            running = replace(base, running="endpoint" in doc)
            known = self._known[path] = _Known(mtime, doc, base, running)
        return known

    def _identity(self, folder: str) -> _Known | None:
        """The bridge's own report, else the runtime's note of what it launched."""
        return self._parsed(os.path.join(folder, STATE)) or self._parsed(
            os.path.join(folder, LAUNCH)
        )

    def _observe_one(self, folder: str) -> Observed | None:
        """Every pass, for every instance: plain string paths and no exceptions on the common
        path, so 1,000 instances cost a few milliseconds."""
        known = self._identity(folder)
        if known is None or known.doc.get("kind") != self.kind:
            return None
        exit_file = os.path.join(folder, EXIT)
        if os.access(exit_file, os.F_OK):
            ended = read_json(Path(exit_file)) or {}
            return replace(known.base, exit_code=ended.get("exit_code"), reason=ended["reason"])
        if is_running(known.doc["pid"], known.doc.get("pid_start_time")):
            return known.running
        said_where = "endpoint" in known.doc  # it wrote state.json before it vanished
        return replace(known.base, reason="lost" if said_where else "failed to start")


def _log_line(instance_id: str, raw: bytes) -> LogLine:
    doc = json.loads(raw)
    return LogLine(doc["at"], instance_id, doc["stream"], doc["level"], doc["message"])
