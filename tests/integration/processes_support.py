"""The product's own OS processes for gateway tests: `mcps-server api` and `mcps-server sink`
on a test's event store, the deployer in a thread of the test, and a checker that reads a
sink process's ClickHouse (chDB) folder once the sink has stopped.

Each process gets a home of its own, hence a chDB engine of its own: chDB is one engine per
process and an engine locks its folder, so no two processes may share one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import httpx
import pandas  # noqa: F401 - imported here, on the main thread: see `deployer`
import psycopg

from domain.tenancy.application import IssuedToken
from domain.tenancy.values import Plan, Scope
from infra.container import Container
from tests.integration.deployer_support import DeployWorld
from tests.integration.gateway_support import running
from tests.support import free_port
from workers.deployer import run
from workers.run_deployer import build_reconciler

ROOT = Path(__file__).resolve().parents[2]
START_S = 60.0


@contextmanager
def deployer(world: DeployWorld) -> Iterator[None]:
    """The deployer in a thread of this process, for as long as the block runs.

    Its first log insert into chDB would import pandas (and numpy.ma, which builds
    signatures with `ast.parse`) on that thread, while billing threads build theirs the
    same way; CPython 3.11's AST state is not thread-safe (python/cpython#106905), and once
    two threads race on it every later `ast.parse` of the process fails with "AST
    constructor recursion depth mismatch", the test run's end included. So pandas is
    imported on the main thread, with this module.
    """
    reconciler = build_reconciler(world.container)
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(reconciler, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        reconciler.stop_all()
        reconciler.close()


def deployed(*deployments: tuple[DeployWorld, str, str]) -> None:
    """Deploy each `(world, name, service)`, then wait until every one runs (a deployer runs)."""
    for owner, name, service in deployments:
        owner.deploy(name, service)
    for owner, name, _ in deployments:
        running(owner, name)


def new_team(world: DeployWorld, name: str) -> DeployWorld:
    """A team of its own on PRO under a fresh slug, as a world to deploy in: tenant ids come
    from slugs, and Redis (limits, quotas, FREEMIUM counters) outlives the test's database."""
    tenancy = world.container.tenancy
    slug = f"{name}-{uuid.uuid4().hex[:8]}"
    who = tenancy.register_user(f"{slug}@example.com", f"{slug}-owner", "Sup3r-secret!")
    tenancy.create_team(who.user_id, slug, name.title())
    tenancy.change_plan(slug, Plan.PRO)
    return DeployWorld(world.container, world.home, tenancy.tenant_by_slug(slug), who.user_id)


def calling_token(world: DeployWorld, name: str = "calls") -> IssuedToken:
    """A new API token of the world's team with the `mcp:execute` scope."""
    tenancy = world.container.tenancy
    slug = world.tenant.slug
    return tenancy.issue_token(slug, world.user_id, name, [Scope.MCP_EXECUTE], None)


def product_env(container: Container, home: Path, **settings: str) -> dict[str, str]:
    """A product process's environment: this test's store and settings, its own home.

    No `MCPS_*` of the calling shell leaks in (in particular `MCPS_CIPHER_KEY`: the process
    must seal and unseal as this test's container does, with the default test key), and no
    Kafka: the processes follow the log itself. `REDIS_URL` stays, so limits are shared.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MCPS_") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL")
    }
    return env | {
        "DATABASE_URL": container.database_url,
        "MCPS_HOME": str(home),
        "MCPS_ENVIRONMENT": "test",
        "MCPS_APP_DB_PASSWORD": container.settings.app_db_password.get_secret_value(),
        **settings,
    }


class Process:
    """A child process whose output goes to a log file, quoted when it misbehaves."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", *argv],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        assert self.popen.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> int:
        """SIGTERM, and the exit code once it ended (killed after 30 s)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode


@contextmanager
def api_processes(
    container: Container, home: Path, count: int, **settings: str
) -> Iterator[list[str]]:
    """`count` `mcps-server api` processes on this test's store; yields their base URLs once
    every one answers `/healthz`. They start together (start-up setup takes turns)."""
    with ExitStack() as stack:
        ports = [free_port() for _ in range(count)]
        processes = []
        for i, port in enumerate(ports):
            where = home / f"api-{i}"
            where.mkdir(parents=True, exist_ok=True)
            env = product_env(container, where, PORT=str(port), **settings)
            process = Process(["api"], env, home / f"api-{i}.log")
            stack.callback(process.stop)
            processes.append(process)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for process, url in zip(processes, urls, strict=True):
            _wait_healthy(process, url)
        yield urls


def _wait_healthy(process: Process, url: str) -> None:
    deadline = time.monotonic() + START_S
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.popen.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the API process did not start:\n{process.tail()}")
        time.sleep(0.1)


# --- the usage sink as its own process --------------------------------------------------------


def start_sink(env: dict[str, str], log: Path, batch_size: int) -> Process:
    return Process(["sink", "usage", "--batch-size", str(batch_size)], env, log)


def sink_position(container: Container) -> int:
    """The usage sink's checkpoint; 0 until a sink created its tracking table."""
    with container.db.owner.connection() as conn:
        try:
            row = conn.execute(
                "SELECT position FROM usage.tracking WHERE source = 'log' AND part = 0"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row["position"]) if row else 0


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


_TOTALS = """
import json, sys
from pathlib import Path
from uuid import UUID
from infra.clickhouse import clickhouse_client
from projections.usage_queries import totals
client = clickhouse_client(None, Path(sys.argv[1]))
found = {}
for tenant in sys.argv[3:]:
    count, cost = totals(client, sys.argv[2], UUID(tenant))
    found[tenant] = [count, str(cost)]
count, cost = totals(client, sys.argv[2])
found["all"] = [count, str(cost)]
table = sys.argv[2] + ".calls"
stored = client.query(f"SELECT count() FROM {table}").result_rows[0][0]
ids = [r[0] for r in client.query(f"SELECT toString(call_id) FROM {table} FINAL").result_rows]
print(json.dumps({"totals": found, "stored_rows": int(stored), "call_ids": ids}))
"""


@dataclass(frozen=True)
class SinkTotals:
    #: (count, summed cost) per tenant id, and over all tenants under "all".
    totals: dict[str, tuple[int, Decimal]]
    #: Rows as stored, before FINAL folds the duplicates a re-sent batch left.
    stored_rows: int
    call_ids: set[str]


def sink_totals(env: dict[str, str], database: str, tenants: list[UUID]) -> SinkTotals:
    """What `projections.usage_queries.totals` reads from a stopped sink process's chDB
    folder, per tenant and overall, and the call ids it holds."""
    checked = subprocess.run(
        [sys.executable, "-c", _TOTALS, env["MCPS_HOME"], database, *map(str, tenants)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr.decode()[-3000:]
    found = json.loads(checked.stdout.decode().strip().splitlines()[-1])
    return SinkTotals(
        {k: (int(v[0]), Decimal(v[1])) for k, v in found["totals"].items()},
        found["stored_rows"],
        set(found["call_ids"]),
    )
