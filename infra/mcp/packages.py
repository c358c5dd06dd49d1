"""Installs the package a process runtime names, once per version, into `$MCPS_HOME/packages`.

A PyPI distribution gets its own virtualenv (uv, or the standard library's venv and pip
where uv is missing); an npm package its own `--prefix`. A finished install is marked by a
`.installed` file, written last, so a crash mid-install is simply redone. Concurrent
installers of one package wait on a file lock instead of racing.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

INSTALL_TIMEOUT_S = 600
Progress = Callable[[str], None]


class InstallError(RuntimeError):
    """The package manager failed; the message carries the tail of its output."""


def _quiet(_: str) -> None:
    pass


def _slot(name: str, version: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{name}-{version}").strip("_")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class PackageInstaller:
    def __init__(self, home: Path) -> None:
        # The real path: a venv writes its own location into its scripts, so a store reached
        # through a symlink (a test home sharing a cache) must not bake in the link.
        self.root = (home / "packages").resolve()

    def location(self, package: dict[str, str]) -> Path:
        return self.root / package["registry"] / _slot(package["name"], package["version"])

    def bin_dir(self, package: dict[str, str]) -> Path:
        where = self.location(package)
        return where / ("venv/bin" if package["registry"] == "pypi" else "node_modules/.bin")

    def is_installed(self, package: dict[str, str]) -> bool:
        return (self.location(package) / ".installed").exists()

    def ensure(self, package: dict[str, str], progress: Progress = _quiet) -> Path:
        """The package's bin directory, installing it first if needed."""
        where = self.location(package)
        with _locked(where.with_suffix(".lock")):
            if not self.is_installed(package):
                shutil.rmtree(where, ignore_errors=True)
                where.mkdir(parents=True)
                progress(
                    f"installing {package['registry']}:{package['name']}=={package['version']}"
                )
                if package["registry"] == "pypi":
                    self._pip(where, package, progress)
                else:
                    self._npm(where, package, progress)
                (where / ".installed").write_text(package["version"])
                progress("installed")
        return self.bin_dir(package)

    def _pip(self, where: Path, package: dict[str, str], progress: Progress) -> None:
        venv = where / "venv"
        requirement = f"{package['name']}=={package['version']}"
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if uv:
            self._run([uv, "venv", "-q", "--python", sys.executable, str(venv)], progress)
            self._run(
                [uv, "pip", "install", "--python", str(venv / "bin/python"), requirement], progress
            )
        else:
            self._run([sys.executable, "-m", "venv", str(venv)], progress)
            self._run(
                [str(venv / "bin/python"), "-m", "pip", "install", "-q", requirement], progress
            )

    def _npm(self, where: Path, package: dict[str, str], progress: Progress) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise InstallError("npm is not installed on this machine")
        spec = f"{package['name']}@{package['version']}"
        self._run(
            [
                npm,
                "install",
                "--prefix",
                str(where),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                spec,
            ],
            progress,
        )

    def _run(self, argv: list[str], progress: Progress) -> None:
        env = {**os.environ, "NO_COLOR": "1", "UV_NO_PROGRESS": "1"}
        try:
            done = subprocess.run(  # noqa: S603 - argv list; names passed the domain patterns
                argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=env
            )
        except subprocess.TimeoutExpired:
            raise InstallError(
                f"{Path(argv[0]).name} took longer than {INSTALL_TIMEOUT_S} s"
            ) from None
        for line in (done.stdout + done.stderr).splitlines()[-20:]:
            if line.strip():
                progress(line.strip())
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise InstallError(f"{Path(argv[0]).name} failed: " + " | ".join(tail))
