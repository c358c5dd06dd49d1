"""Shared plumbing for the benchmarks: a throwaway store, client loops, percentiles, tables.

Benchmarks print figures; they never assert timings. They need the real services
(`bash infra/local/start.sh DIR && . DIR/env` sets `DATABASE_URL`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from infra.container import Container
from infra.database import PgTarget
from projections.registry import all_projections
from tests.support import make_settings, running_container, throwaway_database


def require_services() -> None:
    if not os.environ.get("DATABASE_URL"):
        sys.exit(
            "DATABASE_URL is not set: bash infra/local/start.sh /tmp/svc-bench"
            " && . /tmp/svc-bench/env"
        )


def over_unix_sockets() -> bool:
    """Point `DATABASE_URL` and `REDIS_URL` (for this process and the ones it starts) at the
    Unix sockets of the services `start.sh` runs on this host, as one would for services on
    the same host: loopback TCP costs every round trip a trip through the TCP stack on both
    sides. False (and nothing changed) where the services have no sockets."""
    pg_dir, redis_socket = os.environ.get("PGHOST_SOCKET_DIR"), os.environ.get("REDIS_SOCKET")
    if not (pg_dir and redis_socket and os.environ.get("REDIS_URL")):
        return False
    os.environ["DATABASE_URL"] = replace(
        PgTarget.parse(os.environ["DATABASE_URL"]), host=pg_dir
    ).url()
    db = urlsplit(os.environ["REDIS_URL"]).path.lstrip("/") or "0"
    os.environ["REDIS_URL"] = f"unix://{redis_socket}?db={db}"
    return True


@contextmanager
def bench_container(*, projectors: bool = False) -> Iterator[Container]:
    """A container on a fresh database of the real server, dropped afterwards."""
    require_services()
    with (
        throwaway_database() as url,
        tempfile.TemporaryDirectory(prefix="mcps-bench-") as home,
        running_container(make_settings(url, Path(home)), projectors=projectors) as container,
    ):
        yield container


#: Gateway limits out of a benchmark's way (it measures the path, not the refusals).
UNLIMITED_GATEWAY = {
    "MCPS_GATEWAY__TENANT_RATE_PER_SECOND": "1000000",
    "MCPS_GATEWAY__TENANT_BURST": "1000000",
    "MCPS_GATEWAY__TOKEN_RATE_PER_SECOND": "1000000",
    "MCPS_GATEWAY__TOKEN_BURST": "1000000",
}


def product_env(
    database_url: str, home: Path, extra_env: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a product process started by a benchmark: embedded mode (no Kafka),
    test settings, and `extra_env` on top."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MCPS_HOME": str(home),
        "MCPS_ENVIRONMENT": "test",
        **(extra_env or {}),
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env


def projector_processes(database_url: str, home: Path) -> list[subprocess.Popen[bytes]]:
    """`mcps-server project <name>` for every read model, each its own process following the
    log (as in distributed mode), so that their work is not the caller's."""
    env = product_env(database_url, home)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "project", projection.name],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for projection in all_projections()
    ]


def api_process(
    database_url: str, home: Path, port: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`mcps-server api` as its own process (as in production), once it answers `/healthz`;
    embedded mode (no Kafka), test settings, and `extra_env` on top."""
    env = product_env(database_url, home, {"PORT": str(port), **(extra_env or {})})
    api = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "api"], env=env, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                return api
        except httpx.HTTPError:
            pass
        if api.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the API process did not start")
        time.sleep(0.2)


@dataclass(frozen=True)
class Owner:
    """A registered user with their personal tenant, and a signed-in access token."""

    user_id: Any
    slug: str
    email: str
    access_token: str


def seed_owner(container: Container, username: str = "benchowner") -> Owner:
    """One argon2 hash at registration and one at login; nothing measured depends on it."""
    email = f"{username}@example.com"
    password = "Sup3r-secret!"  # noqa: S105
    registration = container.tenancy.register_user(email, username, password)
    login = container.tenancy.login(email, password)
    return Owner(
        user_id=registration.user_id,
        slug=username,
        email=email,
        access_token=container.jwt.issue(login.user_id, login.session_id),
    )


@dataclass
class RunResult:
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    @property
    def ops(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def run_clients(
    clients: int,
    seconds: float,
    make_op: Callable[[int], Callable[[], Any]],
    *,
    warmup: float = 0.5,
) -> RunResult:
    """`clients` threads call their op in a closed loop; only the measured window counts.

    `make_op(i)` runs in thread i before the start barrier (open connections, clients there).
    """
    barrier = threading.Barrier(clients + 1)
    lock = threading.Lock()
    result = RunResult(clients, seconds)
    window: dict[str, float] = {}

    def worker(i: int) -> None:
        op = make_op(i)
        barrier.wait()
        local: list[float] = []
        errors = 0
        first: str | None = None
        start, end = window["start"], window["end"]
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            try:
                op()
            except Exception as error:  # a benchmark counts failures; it does not stop on them
                errors += 1
                first = first or f"{type(error).__name__}: {error}"
                continue
            t1 = time.perf_counter()
            if t0 >= start and t1 <= end:
                local.append(t1 - t0)
        closer = getattr(op, "close", None)
        if closer is not None:
            closer()
        with lock:
            result.latencies.extend(local)
            result.errors += errors
            result.first_error = result.first_error or first

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    window["start"] = now + warmup
    window["end"] = now + warmup + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    return result


def median(values: Sequence[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n else c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# --- CPU accounting -------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by this process, the PostgreSQL server and the Kafka broker
    (None for a server on another host, or whose /proc entry is not readable)."""

    process: float
    postgres: float | None
    kafka: float | None


@dataclass(frozen=True)
class CpuPerEvent:
    """Microseconds of CPU per event, by where they were spent."""

    python: float
    postgres: float | None
    kafka: float | None

    def ceiling(self, cores: int = 2) -> float:
        """The rate this CPU cost allows on `cores` otherwise idle cores: this process's
        Python runs on one core at a time (the GIL), the servers on the others."""
        servers = (self.postgres or 0.0) + (self.kafka or 0.0)
        return min(1e6 / self.python, cores * 1e6 / (self.python + servers))


def cpu_sample(conn: Any) -> CpuSample:
    """Wall-clock rates swing with what else runs on a shared box; CPU seconds per event do
    not, so benchmarks print both. A server's figure is its main process's own and reaped
    children's time (`cutime`, `cstime`) plus that of every live child, read from /proc; the
    broker is found by the pid file `infra/local/start.sh` writes."""
    return CpuSample(time.process_time(), _postgres_cpu(conn), _kafka_cpu())


def cpu_per_event(before: CpuSample, after: CpuSample, events: int) -> CpuPerEvent:
    def per_event(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else (b - a) / events * 1e6

    return CpuPerEvent(
        (after.process - before.process) / events * 1e6,
        per_event(before.postgres, after.postgres),
        per_event(before.kafka, after.kafka),
    )


def _kafka_cpu() -> float | None:
    services = os.environ.get("MCPS_SERVICES_DIR")
    try:
        pid = int(Path(services or "", "kafka", "kafka.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return tree_cpu(pid)


def _postgres_cpu(conn: Any) -> float | None:
    try:
        row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
        backend = int(row["pid"] if isinstance(row, dict) else row[0])
    except (ValueError, TypeError):
        return None
    stat = _stat(backend)
    return tree_cpu(int(stat[1])) if stat else None  # the backend's parent: the postmaster


def tree_cpu(pid: int) -> float | None:
    _wait_for_reaping(pid)
    own = _stat(pid)
    if not own:
        return None
    ticks = sum(int(own[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            stat = _stat(int(entry.name))
            if len(stat) > 12 and stat[1] == str(pid):
                ticks += int(stat[11]) + int(stat[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _wait_for_reaping(pid: int, timeout: float = 2.0) -> None:
    """A child that has just exited (a closed connection's backend) shows no CPU until its
    parent reaps it and adds it to `cutime`: wait for the zombies to go."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        zombies = [
            entry
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and (stat := _stat(int(entry.name)))
            and stat[0] == "Z" and stat[1] == str(pid)
        ]  # fmt: skip
        if not zombies:
            return
        time.sleep(0.05)


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]; [] if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rindex(")") + 2 :].split()
