"""A container image with real MCP servers in it, built on this machine: no registry is reachable.

The image holds a static busybox (a shell, for debugging), this machine's Python interpreter
with its standard library and the shared libraries it loads, and at `/app/venv` the virtualenv
`PackageInstaller` makes for `mcp-server-time`. Nothing is mounted from the host at run time:
the docker runtime never mounts host paths, so the image must carry what it runs.

    ENTRYPOINT /app/venv/bin/python, CMD -m mcp_server_time      (stdio)
    args ["/app/serve_http.py", "8000"]                            (streamable HTTP on :8000/mcp)

The root filesystem is written straight into a tar, imported through the Docker API (podman's
or Docker's alike), and the tar is kept in the cache folder: services started afresh (a new
podman storage) import it again in about a second instead of rebuilding it. The tag is a hash
of everything the tar is made from, so a changed input makes a new image.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from infra.mcp.packages import PackageInstaller

REPOSITORY = "localhost/mcps-test-mcp"
TIME_PACKAGE = {"registry": "pypi", "name": "mcp-server-time", "version": "2026.10.19"}
HTTP_PORT = 8000
BUSYBOX = Path("/bin/busybox")
WEATHER = Path(__file__).parent / "mcp_servers" / "weather_http.py"
#: tests/mcp_servers/weather_http.py listens on 127.0.0.1, which a published port cannot reach.
SERVE_HTTP = b"""\
import sys

import uvicorn

sys.path.insert(0, "/app")
from weather_http import server  # noqa: E402

app = server.streamable_http_app()
uvicorn.run(app, host="0.0.0.0", port=int(sys.argv[1]), log_level="warning")
"""
#: Standard-library folders no MCP server imports; leaving them out halves the image.
STDLIB_SKIP = {
    "site-packages",
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "unittest",
    "pydoc_data",
}
BUILDER_VERSION = "1"


def cache_dir() -> Path:
    return Path(os.environ.get("MCPS_CACHE") or Path.home() / ".cache" / "mcps")


def ensure_test_image(client: docker.DockerClient | None = None, home: Path | None = None) -> str:
    """The image's reference, built and imported on first use (skipped when already there).

    `home` is where `PackageInstaller` keeps mcp-server-time: the tests pass the one the
    process runtime's tests install it in (pytest's cache), so PyPI is asked once for both."""
    client = client or docker.from_env()
    venv = PackageInstaller(home or cache_dir()).ensure(TIME_PACKAGE).parent
    prefix = _interpreter_prefix(venv)
    tag = _tag(prefix, venv)
    reference = f"{REPOSITORY}:{tag}"
    if _has_image(client, reference):
        return reference
    tar = cache_dir() / "images" / f"mcps-test-mcp-{tag}.tar"
    with _locked(tar.with_suffix(".lock")):
        if not tar.exists():
            partial = tar.with_suffix(".partial")
            _write_rootfs(partial, prefix, venv)
            partial.rename(tar)
    if not _has_image(client, reference):
        _import(client, tar, tag)
    return reference


def _has_image(client: docker.DockerClient, reference: str) -> bool:
    try:
        client.images.get(reference)
    except ImageNotFound:
        return False
    return True


def _import(client: docker.DockerClient, tar: Path, tag: str) -> None:
    changes = [
        'ENTRYPOINT ["/app/venv/bin/python"]',
        'CMD ["-m", "mcp_server_time"]',
        "ENV PATH=/app/venv/bin:/bin PYTHONDONTWRITEBYTECODE=1",
        "WORKDIR /app",
    ]
    # podman's compatible API ignores the tag of an import: tag the image afterwards.
    answer = client.api.import_image_from_file(str(tar), repository=REPOSITORY, changes=changes)
    image_id = _imported_id(answer)
    client.images.get(image_id).tag(REPOSITORY, tag)


def _imported_id(answer: str) -> str:
    for line in answer.splitlines():
        if '"status"' in line and "sha256:" in line:
            return "sha256:" + line.split("sha256:", 1)[1][:64]
    raise RuntimeError(f"the image import did not say what it made: {answer[:500]}")


def _interpreter_prefix(venv: Path) -> Path:
    """The installation the virtualenv's interpreter comes from (`home` in pyvenv.cfg)."""
    for line in (venv / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return Path(value.strip()).parent
    raise RuntimeError(f"{venv}/pyvenv.cfg names no home")


def _python_version() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def _tag(prefix: Path, venv: Path) -> str:
    digest = hashlib.sha256()
    for part in (
        BUILDER_VERSION,
        str(prefix),  # the interpreter keeps its path in the image; the virtualenv does not
        sys.version,
        (venv.parent / ".installed").read_text(),
        WEATHER.read_text(),
        SERVE_HTTP.decode(),
        Path(__file__).read_text(),
    ):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:12]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _write_rootfs(tar_path: Path, prefix: Path, venv: Path) -> None:
    stdlib = prefix / "lib" / _python_version()
    interpreter = [prefix / "bin" / _python_version(), *prefix.glob("lib/libpython3*.so.1.0")]
    elves = [*interpreter, *stdlib.glob("lib-dynload/*.so"), *venv.rglob("*.so")]
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for folder in ("tmp", "etc", "app"):
            _add_dir(tar, folder)
        tar.add(BUSYBOX, "bin/busybox")
        _add_symlink(tar, "bin/sh", "busybox")
        for library in sorted(_shared_libraries(elves)):
            # Under the name the loader asks for, with the content of what that name points to.
            tar.add(library.resolve(), str(library).lstrip("/"))
        for path in interpreter:
            tar.add(path, str(path).lstrip("/"))
        for path in _stdlib_files(stdlib):
            tar.add(path, str(path).lstrip("/"), recursive=False)
        tar.add(venv, "app/venv", filter=_without_bytecode_of_other_levels)
        tar.add(WEATHER, "app/weather_http.py")
        _add_bytes(tar, "app/serve_http.py", SERVE_HTTP)
        _add_bytes(tar, "etc/passwd", b"root:x:0:0:root:/tmp:/bin/sh\n")


def _stdlib_files(stdlib: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = [d for d in dirs if not (Path(root) == stdlib and _skipped(d))]
        yield Path(root)
        for name in files:
            if ".opt-" not in name:
                yield Path(root) / name


def _skipped(name: str) -> bool:
    return name in STDLIB_SKIP or name.startswith("config-")


def _without_bytecode_of_other_levels(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if ".opt-" in info.name else info


def _shared_libraries(elves: list[Path]) -> set[Path]:
    """Every library the loader maps for these files, and the loader itself (from `ldd`)."""
    out = subprocess.run(
        ["ldd", *map(str, elves)], capture_output=True, text=True, check=False
    ).stdout
    found: set[Path] = set()
    for line in out.splitlines():
        words = line.split()
        if "=>" in words and len(words) >= 3 and words[2].startswith("/"):
            found.add(Path(words[2]))
        elif words and words[0].startswith("/") and "ld-linux" in words[0]:
            found.add(Path(words[0]))
    # The interpreter's own library is added from the interpreter's tree.
    return {p for p in found if not p.name.startswith("libpython")}


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o1777 if name == "tmp" else 0o755
    tar.addfile(info)


def _add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
