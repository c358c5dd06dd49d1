"""Starting a process instance's server: its command line, environment, limits and the fork.

Light on purpose (the standard library, the spec renderer and the package store's paths):
the bridge's light half starts the server with it before it imports the MCP SDK, so the
server's own start-up overlaps the bridge's (see `infra.runtimes.bridge`). Where the package
still has to be installed, the serving half installs it and then starts the server here too.

The child gets its own working directory (`<instance>/work`), a minimal environment (the
platform's own secrets stay in the control plane), resource limits set before `exec`, an
empty signal mask (the bridge blocks its stop signals while it starts), and
`PR_SET_PDEATHSIG` so it dies with its bridge even when the bridge is killed outright. It
leads its own process group, so stopping it also stops whatever it spawned.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.marketplace.specs import config_values, render
from infra.mcp.packages import PackageInstaller
from infra.runtimes.base import InstanceSpec
from infra.runtimes.bridge_files import INHERITED_ENV, WORK, instance_dir

#: `log(stream, level, message)`, as `infra.runtimes.upstream.LogFn` (which imports the SDK).
LogFn = Callable[[str, str, str], None]
MAX_OPEN_FILES = 1024

_PR_SET_PDEATHSIG = 1
# Loaded here, not in the child: between fork and exec only async-signal-safe work is safe.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


@dataclass(frozen=True)
class CommandLine:
    """What to run: the executable, its args, the spec's env, and the package's bin folder."""

    command: str
    args: list[str]
    env: dict[str, str]
    bin_dir: Path | None = None

    @property
    def name(self) -> str:
        return Path(self.command).name


def command_line(spec: InstanceSpec, bin_dir: Path | None) -> CommandLine:
    """The spec's command line; a package's own executable (from `bin_dir`) when it names one.

    Only the named package's own executable runs, as in introspection: a bare command would
    be whatever this machine has under that name."""
    runtime = spec.runtime
    command = runtime["command"]
    if bin_dir is not None:
        command = str(bin_dir / Path(command).name)
    args, env = render(runtime, config_values(spec.config_schema, spec.config))
    return CommandLine(command, args, env, bin_dir)


def ready_command_line(spec: InstanceSpec, home: Path) -> CommandLine | None:
    """The command line when nothing needs installing first; None when the package does (or
    lacks the executable: the serving half says so after it looked again)."""
    package = spec.runtime.get("package")
    if not package:
        return command_line(spec, None)
    installer = PackageInstaller(home)
    if not installer.is_installed(package):
        return None
    line = command_line(spec, installer.bin_dir(package))
    return line if Path(line.command).exists() else None


@dataclass(frozen=True)
class Launched:
    """A server started (`process`), or why it could not be (`error`, for the tenant)."""

    process: subprocess.Popen[bytes] | None
    error: str = ""


def launch(spec: InstanceSpec, home: Path, line: CommandLine, log: LogFn) -> Launched:
    """Fork and exec the server with its pipes."""
    work = instance_dir(home, spec.instance_id) / WORK
    work.mkdir(parents=True, exist_ok=True)
    log("system", "info", f"starting {line.name}")
    try:
        return Launched(_popen(spec, line, work))
    except OSError as error:
        return Launched(None, f"could not start {line.name}: {error.strerror}")


def _popen(spec: InstanceSpec, line: CommandLine, work: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - the spec's command, checked by the runtime policy
        [line.command, *line.args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=work,
        env=child_env(line.env, work, line.bin_dir),
        start_new_session=True,
        preexec_fn=in_child(os.getpid(), limits_of(spec.runtime)),
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
    """What runs between fork and exec: die with the bridge, take the limits, and let the
    signals through that the bridge holds back while it starts (a mask survives `exec`)."""

    def setup() -> None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the bridge died before prctl took effect
            os._exit(1)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        for which, value in limits:
            resource.setrlimit(which, value)

    return setup
