"""Autoscaling on real parts: the toy MCP server deployed as processes by the real deployer,
calls held in flight through the REST gateway, the load signal in Redis, the scaler's
decisions as events, and `mcps-server api` processes as the second source of load.

Timings are short (a 2 s stabilisation window, 1 s cooldown, a 3 s signal TTL); publication
and the scaler's look stay at the product's 1 s, so the figures printed are what a user sees.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from domain.tenancy.values import Plan, Scope
from infra.load_signal import RedisLoadSignal
from infra.settings import AutoscalingSettings, RuntimeSettings
from tests.integration.deployer_support import (
    OWNER,
    TIME,
    DeployWorld,
    toy_release,
    wait_for,
)
from tests.integration.gateway_support import running
from tests.support import (
    free_port,
    live_server,
    make_settings,
    require_env,
    running_container,
    throwaway_database,
)
from workers.deployer import run
from workers.run_deployer import build_reconciler

ROOT = Path(__file__).resolve().parents[2]
WINDOW_S, COOLDOWN_S, TTL_S = 2.0, 1.0, 3.0
TIMING = AutoscalingSettings(
    stabilisation_seconds=WINDOW_S, cooldown_seconds=COOLDOWN_S, signal_ttl_seconds=TTL_S
)
POLICY = {"min_replicas": 1, "max_replicas": 3, "target_in_flight": 1}


@dataclass
class World:
    deploy: DeployWorld
    api: str
    calls: str  # an mcp:execute token
    deployer: str  # a deploy:write token
    reader: str  # an mcp:read token (no deploy:write)

    def http(self, token: str, base_url: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=base_url or self.api,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    @property
    def base(self) -> str:
        return f"/api/v1/tenants/{self.deploy.tenant.slug}/deployments"

    def autoscaled(self, deployment_id: UUID) -> list[dict[str, Any]]:
        """Every `Deployment.Autoscaled` of the deployment, decoded, oldest first."""
        apps = self.deploy.container.deployments
        return [
            {k: getattr(e, k) for k in ("from_replicas", "to_replicas", "in_flight", "reason")}
            | {"actor": e.actor, "at": e.timestamp.timestamp()}
            for e in apps.events.get(deployment_id)  # type: ignore[attr-defined]
            if type(e).__name__ == "Autoscaled"
        ]


@pytest.fixture(scope="module", params=["redis", "in-process"])
def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[World]:
    """A PRO team (a fresh slug: Redis outlives the database) with the toy published, the
    deployer in a thread, and the API in-process; the signal in Redis, or in-process as in
    the embedded `up` mode (the deployer and the API share the container's)."""
    home = tmp_path_factory.mktemp("autoscaling")
    policy = RuntimeSettings(commands=[sys.executable], allowed_hosts=["127.0.0.1"])
    redis_url = require_env("REDIS_URL") if request.param == "redis" else None
    with throwaway_database() as url:
        settings = make_settings(url, home, runtime=policy, autoscaling=TIMING).model_copy(
            update={"redis_url": redis_url}
        )
        with running_container(settings) as container:
            tenancy = container.tenancy
            slug = f"scalers-{uuid.uuid4().hex[:8]}"
            who = tenancy.register_user(f"{slug}@example.com", f"{slug}-o", "Sup3r-secret!")
            tenancy.create_team(who.user_id, slug, "Scalers")
            tenancy.change_plan(slug, Plan.PRO)
            tenant = tenancy.tenant_by_slug(slug)
            listing = {k: TIME[k] for k in ("description", "category", "tags", "pricing")}
            market = container.marketplace
            market.draft("toy", tenant.id, slug, OWNER, {"display_name": "Toy", **listing})
            market.release("toy", OWNER, "1.0.0", toy_release("1.0.0"))
            market.publish("toy", OWNER)

            def token(name: str, scope: Scope) -> str:
                return tenancy.issue_token(slug, who.user_id, name, [scope], None).token

            reconciler = build_reconciler(container)
            stop = threading.Event()
            thread = threading.Thread(target=run, args=(reconciler, stop), daemon=True)
            thread.start()
            try:
                with live_server(container) as api:
                    yield World(
                        DeployWorld(container, home, tenant, who.user_id),
                        api,
                        token("calls", Scope.MCP_EXECUTE),
                        token("deploys", Scope.DEPLOY_WRITE),
                        token("reads", Scope.MCP_READ),
                    )
            finally:
                stop.set()
                thread.join(30)
                reconciler.stop_all()
                reconciler.close()


def _deployed(world: World, name: str) -> UUID:
    """The toy deployed under `name` and running (once per module)."""
    if world.deploy.view(name) is None:
        world.deploy.deploy(name, "toy")
    view = running(world.deploy, name)
    return UUID(str(view["id"]))


def _wanted(world: World, name: str, replicas: int) -> bool:
    view = world.deploy.view(name)
    return view is not None and view["replicas"] == replicas


def _set_policy(world: World, name: str, **overrides: Any) -> httpx.Response:
    with world.http(world.deployer) as http:
        return http.put(f"{world.base}/{name}/autoscaling", json=POLICY | overrides)


def _hold(
    base_url: str, token: str, name: str, seconds: float, count: int
) -> list[threading.Thread]:
    """`count` calls of the toy's `sleep` through the REST gateway, each in its own thread."""

    def call() -> None:
        try:
            with httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as http:
                http.post(
                    f"/api/v1/mcp/{name}/call",
                    json={"method": "sleep", "params": {"seconds": seconds}},
                )
        except httpx.HTTPError:
            pass  # the API process was killed under it

    threads = [threading.Thread(target=call, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _healthy(world: World, name: str, replicas: int) -> dict[str, Any] | None:
    view = world.deploy.view(name)
    if view is None or view["replicas"] != replicas:
        return None
    healthy = [i for i in view["instances"] if i["health"] == "healthy"]
    return view if len(healthy) == replicas == len(view["instances"]) else None


# --- the API ------------------------------------------------------------------------------------


def test_bad_policies_get_a_problem_and_record_nothing(world: World) -> None:
    before = world.deploy.event_names(_deployed(world, "toy-api"))
    cases = [
        ("toy-api", {"min_replicas": 3, "max_replicas": 2}, 422, "deployment.invalid_autoscaling"),
        ("toy-api", {"max_replicas": 6}, 422, "deployment.replica_limit"),  # PRO allows 5
        ("toy-api", {"min_replicas": 0}, 422, "deployment.invalid_autoscaling"),
        ("toy-api", {"target_in_flight": 0}, 422, "validation_failed"),
        ("toy-api", {"max_replicas": "lots"}, 422, "validation_failed"),
        ("toy-api", {"surprise": 1}, 422, "validation_failed"),
        ("no-such", {}, 404, "deployment.not_found"),
    ]
    for name, overrides, status, code in cases:
        r = _set_policy(world, name, **overrides)
        assert r.status_code == status, (overrides, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == code, (overrides, r.json())
    with world.http(world.reader) as http:  # no deploy:write
        r = http.put(f"{world.base}/toy-api/autoscaling", json=POLICY)
        assert r.status_code == 403, r.text
        r = http.delete(f"{world.base}/toy-api/autoscaling")
        assert r.status_code == 403, r.text
    with world.http(world.deployer) as http:
        assert http.delete(f"{world.base}/no-such/autoscaling").status_code == 404
    assert world.deploy.event_names(_id(world, "toy-api")) == before


def test_a_policy_reads_back_brings_replicas_within_bounds_and_clears(world: World) -> None:
    _deployed(world, "toy-api")
    r = _set_policy(world, "toy-api", min_replicas=2, max_replicas=2, target_in_flight=0.5)
    assert r.status_code == 200, r.text
    with world.http(world.deployer) as http:
        shown = http.get(f"{world.base}/toy-api", params={"wait_for": r.json()["position"]}).json()
    assert shown["autoscaling"] == {"min_replicas": 2, "max_replicas": 2, "target_in_flight": 0.5}
    assert shown["replicas"] == 2  # raised to the policy's minimum at once
    assert shown["last_autoscaled"] is None
    wait_for("2 healthy", lambda: _healthy(world, "toy-api", 2))
    with world.http(world.deployer) as http:
        done = http.delete(f"{world.base}/toy-api/autoscaling")
        assert done.status_code == 200, done.text
        again = http.delete(f"{world.base}/toy-api/autoscaling")  # idempotent
        assert again.status_code == 200, again.text
        shown = http.get(
            f"{world.base}/toy-api", params={"wait_for": again.json()["position"]}
        ).json()
    assert shown["autoscaling"] is None and shown["replicas"] == 2
    names = [n for n in world.deploy.event_names(_id(world, "toy-api")) if "Instance" not in n]
    assert names[-3:] == ["AutoscalingSet", "Scaled", "AutoscalingCleared"]


def _id(world: World, name: str) -> UUID:
    view = world.deploy.view(name)
    assert view is not None
    return UUID(str(view["id"]))


# --- scaling on load -----------------------------------------------------------------------------


def test_calls_in_flight_scale_up_at_once_and_back_down_after_the_window(world: World) -> None:
    deployment_id = _deployed(world, "toy-load")
    assert _set_policy(world, "toy-load").status_code == 200
    started, started_wall = time.monotonic(), time.time()
    calls = _hold(world.api, world.calls, "toy-load", seconds=8.0, count=3)
    wait_for("3 replicas wanted", lambda: _wanted(world, "toy-load", 3), 30)
    wanted_at = time.monotonic() - started
    wait_for("3 healthy", lambda: _healthy(world, "toy-load", 3), 60)
    healthy_at = time.monotonic() - started
    ups = world.autoscaled(deployment_id)
    assert ups and all(u["reason"] == "load-rose" for u in ups), ups
    assert ups[-1]["to_replicas"] == 3 and ups[-1]["in_flight"] > 1.0
    assert {u["actor"] for u in ups} == {"system:autoscaler"}
    for thread in calls:
        thread.join(30)
    ended, ended_wall = time.monotonic(), time.time()
    wait_for("back to 1", lambda: _healthy(world, "toy-load", 1), 30)
    down_at = time.monotonic() - ended
    # Down to 1, in one step or two: a publication that caught the calls ending averages
    # somewhere between (e.g. 1.4 in flight asks for 2), and the window keeps the most it saw.
    down = world.autoscaled(deployment_id)[len(ups) :]
    steps = [(d["from_replicas"], d["to_replicas"], d["reason"]) for d in down]
    assert steps in ([(3, 1, "load-fell")], [(3, 2, "load-fell"), (2, 1, "load-fell")]), steps
    # not before the load had stayed low for the whole window
    assert down_at >= WINDOW_S, down_at
    view = world.deploy.view("toy-load")
    assert view is not None and view["last_autoscaled"]["to_replicas"] == 1
    kind = type(world.deploy.container.load_signal).__name__
    print(
        f"\nautoscaling ({kind}): load -> decided {ups[0]['at'] - started_wall:.2f} s"
        f" (to {[u['to_replicas'] for u in ups]}, in flight {[u['in_flight'] for u in ups]}),"
        f" 3 wanted in the read model {wanted_at:.2f} s, 3 healthy {healthy_at:.2f} s;"
        f" calls ended -> decided {down[0]['at'] - ended_wall:.2f} s,"
        f" back to 1 instance {down_at:.2f} s (window {WINDOW_S:g} s)"
    )


# --- two API processes ---------------------------------------------------------------------------


class ApiProcess:
    """`mcps-server api` on this test's store and Redis, with a home of its own."""

    def __init__(self, world: World, home: Path) -> None:
        container = world.deploy.container
        self.port = free_port()
        home.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MCPS_") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL")
        }
        env |= {
            "DATABASE_URL": container.database_url,
            "MCPS_HOME": str(home),
            "MCPS_ENVIRONMENT": "test",
            "MCPS_APP_DB_PASSWORD": container.settings.app_db_password.get_secret_value(),
            "PORT": str(self.port),
            "MCPS_AUTOSCALING__SIGNAL_TTL_SECONDS": str(TTL_S),
        }
        self.log = home / "api.log"
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "workers.cli", "api"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the API did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@contextmanager
def api_processes(world: World, count: int) -> Iterator[list[ApiProcess]]:
    with ExitStack() as stack:
        processes = []
        for i in range(count):
            process = ApiProcess(world, world.deploy.home / f"api-{i}")
            stack.callback(process.stop)
            processes.append(process)
        for process in processes:
            process.wait_ready()
        yield processes


def test_two_api_processes_are_summed_and_a_dead_ones_calls_stop_counting(world: World) -> None:
    signal_in = world.deploy.container.load_signal
    if not isinstance(signal_in, RedisLoadSignal):
        pytest.skip("several API processes share the signal through Redis only")
    deployment_id = _deployed(world, "toy-two")
    assert _set_policy(world, "toy-two").status_code == 200
    with api_processes(world, 2) as (first, second):
        # two calls on one, one on the other: only their sum asks for three replicas
        _hold(first.url, world.calls, "toy-two", seconds=30.0, count=2)
        _hold(second.url, world.calls, "toy-two", seconds=30.0, count=1)

        def both_count() -> bool:
            load = signal_in.read([deployment_id])[deployment_id]
            return load.sources == 2 and load.in_flight >= 2.99

        wait_for("both processes' calls in the signal", both_count, 15)
        wait_for("3 replicas wanted", lambda: _wanted(world, "toy-two", 3), 15)
        first.kill9()  # its two calls go on upstream, but nobody reports them any more
        killed = time.monotonic()

        def only_the_second() -> bool:
            load = signal_in.read([deployment_id])[deployment_id]
            return load.sources == 1 and 0.99 <= load.in_flight <= 1.01

        wait_for("the dead process's calls expire", only_the_second, TTL_S + 5)
        expired_after = time.monotonic() - killed
        assert expired_after <= TTL_S + 1.5, expired_after
        wait_for("back to 1", lambda: _healthy(world, "toy-two", 1), 30)
        down_after = time.monotonic() - killed
    decisions = [(d["to_replicas"], d["reason"]) for d in world.autoscaled(deployment_id)]
    assert decisions[-1] == (1, "load-fell") and (3, "load-rose") in decisions, decisions
    print(
        f"\nautoscaling: a killed API process's calls stopped counting after"
        f" {expired_after:.2f} s (TTL {TTL_S:g} s); back to 1 instance after {down_after:.2f} s"
    )
