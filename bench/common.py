"""Shared plumbing for the benchmarks: a throwaway store, client loops, percentiles, tables.

Benchmarks print figures; they never assert timings. They need the real services
(`bash infra/local/start.sh DIR && . DIR/env` sets `DATABASE_URL`).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.container import Container
from tests.support import make_settings, running_container, throwaway_database


def require_services() -> None:
    if not os.environ.get("DATABASE_URL"):
        sys.exit(
            "DATABASE_URL is not set: bash infra/local/start.sh /tmp/svc-bench"
            " && . /tmp/svc-bench/env"
        )


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
