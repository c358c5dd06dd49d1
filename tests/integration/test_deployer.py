"""The deployer on real runtimes and real MCP servers: deploy, call a tool through the MCP SDK,
crash and restart, scale, upgrade and roll back, remote endpoints and SSRF, and a deployer
killed with SIGKILL mid-reconcile that converges without a duplicate instance.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from infra.deployment_logs import query_logs
from infra.mcp.ssrf import BlockedAddressError
from infra.runtimes.base import Observed
from infra.runtimes.process import ProcessRuntime
from infra.settings import RuntimeSettings
from projections.audit import AuditFilter, query_audit
from projections.consistency import wait_for_position
from projections.registry import by_name
from tests.integration.deployer_support import (
    OWNER,
    DeployWorld,
    deploy_world,
    package_store,
    wait_for,
)
from tests.support import live_server, mcp_http_server
from workers.deployer import ACTOR, Reconciler, run
from workers.replay import replay
from workers.run_deployer import build_reconciler


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[DeployWorld]:
    with deploy_world(tmp_path_factory.mktemp("deployer"), package_store(request)) as w:
        yield w


@pytest.fixture(scope="module")
def deployer(world: DeployWorld) -> Iterator[Reconciler]:
    """The deployer in a thread of the test process (it shares chDB with the test)."""
    reconciler = build_reconciler(world.container)
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(reconciler, stop), daemon=True)
    thread.start()
    yield reconciler
    stop.set()
    thread.join(30)
    reconciler.stop_all()
    reconciler.close()


def running(world: DeployWorld, name: str, replicas: int, version: str | None = None) -> Any:
    def ready() -> dict[str, Any] | None:
        view = world.view(name)
        if view is None or view["status"] != "running":
            return None
        healthy = [i for i in view["instances"] if i["health"] == "healthy"]
        versions = {i["version"] for i in view["instances"]}
        if len(view["instances"]) != replicas or len(healthy) != replicas:
            return None
        return view if version is None or versions == {version} else None

    return wait_for(f"{name} running with {replicas} healthy", ready)


def live(deployer: Reconciler, world: DeployWorld, name: str) -> list[Observed]:
    view = world.view(name)
    assert view is not None
    return [
        seen
        for runtime in deployer.runtimes.values()
        for seen in runtime.observe()
        if seen.deployment_id == view["id"] and seen.running
    ]


async def call(endpoint: str, tool: str, arguments: dict[str, Any]) -> Any:
    async with (
        streamable_http_client(endpoint) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await session.call_tool(tool, arguments)


def test_mcp_server_time_runs_as_a_process_and_answers_a_tool_call(
    world: DeployWorld, deployer: Reconciler
) -> None:
    world.deploy("clock", "time", local_timezone="Asia/Shanghai")
    running(world, "clock", 1)
    [instance] = live(deployer, world, "clock")
    assert instance.endpoint is not None
    result = anyio.run(call, instance.endpoint, "get_current_time", {"timezone": "Europe/Paris"})
    assert not result.is_error, result
    assert "Europe/Paris" in result.content[0].text


def upstream_pid(bridge_pid: int) -> int:
    children = Path(f"/proc/{bridge_pid}/task/{bridge_pid}/children").read_text().split()
    assert children, "the bridge has no upstream process"
    return int(children[0])


def test_a_killed_instance_is_restarted_and_its_exit_recorded(
    world: DeployWorld, deployer: Reconciler
) -> None:
    world.deploy("crashy", "toy")
    view = running(world, "crashy", 1)
    [before] = live(deployer, world, "crashy")
    os.kill(upstream_pid(int(before.ref.removeprefix("pid:"))), signal.SIGKILL)
    after = wait_for(
        "a new healthy instance",
        lambda: [
            i for i in (world.view("crashy") or {"instances": []})["instances"]
            if i["id"] != before.instance_id and i["health"] == "healthy"
        ],
    )  # fmt: skip
    assert len(after) == 1
    names = world.event_names(view["id"])
    assert names.count("InstanceExited") == 1 and names.count("InstanceStarted") == 2
    assert "SIGKILL" in (world.view("crashy") or {})["last_error"]
    # Its output and the bridge's notes are kept in ClickHouse, per deployment.
    logs = wait_for(
        "log lines",
        lambda: query_logs(deployer.logs.clickhouse, world.tenant.id, view["id"]),  # type: ignore[union-attr]
    )
    assert {line["instance"] for line in logs} <= {before.instance_id, after[0]["id"]}


def test_scale_one_three_one(world: DeployWorld, deployer: Reconciler) -> None:
    world.deploy("scaled", "toy")
    running(world, "scaled", 1)
    tenant = world.container.tenancy.tenant(world.tenant.id)
    world.container.deployments.scale(tenant, "scaled", 3)
    running(world, "scaled", 3)
    assert sorted(s.replica for s in live(deployer, world, "scaled")) == [1, 2, 3]
    world.container.deployments.scale(tenant, "scaled", 1)
    running(world, "scaled", 1)
    wait_for("two stopped", lambda: len(live(deployer, world, "scaled")) == 1)


def test_upgrade_is_rolling_and_rollback_returns(world: DeployWorld, deployer: Reconciler) -> None:
    world.deploy("rolling", "toy", replicas=2)
    first = running(world, "rolling", 2, "1.1.0")
    tenant = world.container.tenancy.tenant(world.tenant.id)
    world.container.deployments.upgrade(tenant, "rolling", "1.0.0", None)
    running(world, "rolling", 2, "1.0.0")
    world.container.deployments.roll_back(tenant, "rolling")
    view = running(world, "rolling", 2, "1.1.0")
    assert view["previous_versions"] == []
    assert not {i["id"] for i in view["instances"]} & {i["id"] for i in first["instances"]}


def test_stop_start_and_delete(world: DeployWorld, deployer: Reconciler) -> None:
    world.deploy("stoppy", "toy")
    running(world, "stoppy", 1)
    tenant = world.container.tenancy.tenant(world.tenant.id)
    world.container.deployments.stop(tenant, "stoppy")
    wait_for("stopped", lambda: (world.view("stoppy") or {}).get("status") == "stopped")
    assert live(deployer, world, "stoppy") == []
    world.container.deployments.start(tenant, "stoppy")
    running(world, "stoppy", 1)
    view = world.view("stoppy")
    assert view is not None
    world.container.deployments.delete(tenant, "stoppy")
    wait_for(
        "no instances",
        lambda: not [s for r in deployer.runtimes.values() for s in r.observe()
                     if s.deployment_id == view["id"]],
    )  # fmt: skip


def test_instance_facts_show_in_the_tenants_audit_log_and_replay_alike(
    world: DeployWorld, deployer: Reconciler
) -> None:
    """The deployer records for the deployment's tenant, as `system:deployer`: its facts are
    in that tenant's audit log (read as the app role, scoped to the tenant), and a rebuilt
    audit log holds the same rows."""
    world.deploy("audited", "toy")
    view = running(world, "audited", 1)
    head = world.container.events.head()
    db = world.container.db
    assert wait_for_position(db, "audit", head, 60, distributed=False)
    with db.scoped(world.tenant.id, world.user_id) as conn:
        rows = query_audit(conn, AuditFilter(event_type="deployments.Deployment"), 500)
    mine = [r for r in rows if r["aggregate_id"] == view["id"]]
    facts = {(r["event_type"].rsplit(".", 1)[-1], r["actor"]) for r in mine}
    assert {("InstanceStarted", ACTOR), ("InstanceHealthChanged", ACTOR)} <= facts
    healthy = [r for r in mine if r["data"].get("health") == "healthy"]
    assert healthy and all(str(r["tenant_id"]) == str(world.tenant.id) for r in mine)
    with db.scoped(uuid4()) as other:  # another tenant's scope sees none of them
        assert not [
            r for r in query_audit(other, AuditFilter(), 500) if r["aggregate_id"] == view["id"]
        ]

    query = "SELECT * FROM audit.audit_view WHERE position <= %s ORDER BY position"
    with db.connect_owner() as conn:
        before = conn.execute(query, [head]).fetchall()
    replay(world.container.events, db, by_name("audit"))
    with db.connect_owner() as conn:
        assert conn.execute(query, [head]).fetchall() == before


def test_a_remote_endpoint_is_attached_and_ssrf_targets_refused(
    world: DeployWorld, deployer: Reconciler
) -> None:
    market, owner = world.container.marketplace, OWNER
    with mcp_http_server() as url:
        for name, target in (("weather", url), ("metadata", "http://169.254.169.254/mcp")):
            market.draft(name, world.tenant.id, "deployers", owner, remote_details(name))
            release = {"changelog": "first", "runtime": {"kind": "remote", "url": target}}
            market.release(name, owner, "1.0.0", release)
            market.publish(name, owner)
        world.deploy("weather", "weather")
        view = running(world, "weather", 1)
        assert view["instances"][0]["endpoint"] == url  # 127.0.0.1 is allowlisted here
        before = world.container.events.head()
        with pytest.raises(BlockedAddressError, match=r"169\.254\.169\.254"):
            world.deploy("meta", "metadata")
        assert world.container.events.head() == before  # refused before anything is recorded
        # The deployer checks again before each start: here its operator has since dropped
        # 127.0.0.1 from the allowlist, which the request still passed.
        allowed, deployer.policy = deployer.policy, RuntimeSettings(commands=[sys.executable])
        try:
            world.deploy("late", "weather")
            failed = wait_for(
                "the loopback address refused",
                lambda: (world.view("late") or {}).get("last_error"),
            )
        finally:
            deployer.policy = allowed
        assert "127.0.0.1" in failed and "internal address" in failed
        assert live(deployer, world, "late") == []


def remote_details(name: str) -> dict[str, Any]:
    return {
        "display_name": name,
        "description": "remote",
        "category": "other",
        "tags": [],
        "pricing": {"model": "FREE"},
    }


CANARY = "canary-7d3e1f-never-shown"


def test_logs_over_the_api_and_a_secret_shown_nowhere(
    world: DeployWorld, deployer: Reconciler
) -> None:
    world.deploy("chatty", "toy", token=CANARY)
    view = running(world, "chatty", 1)
    [instance] = live(deployer, world, "chatty")
    result = anyio.run(call, instance.endpoint, "about", {})
    assert "TOY_TOKEN" in result.content[0].text  # the server did get its secret
    base = "/api/v1/tenants/deployers/deployments/chatty"
    with live_server(world.container) as url, httpx.Client(base_url=url, timeout=30) as http:
        login = {"email": "ops@example.com", "password": "Sup3r-secret!"}
        token = http.post("/api/v1/auth/login", json=login).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        page = wait_for("log lines", lambda: http.get(f"{base}/logs", headers=auth).json()["data"])
        assert {line["instance"] for line in page} == {instance.instance_id}
        with http.stream("GET", f"{base}/logs", params={"follow": "true"}, headers=auth) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            first = next(line for line in r.iter_lines() if line.startswith("data:"))
        assert json.loads(first.removeprefix("data:"))["instance"] == instance.instance_id
        bad = http.get(f"{base}/logs", params={"level": "loud"}, headers=auth)
        assert bad.status_code == 422
        answers = [http.get(base, headers=auth).text, http.get(f"{base}/logs", headers=auth).text]
    assert all(CANARY not in answer for answer in answers)
    with world.container.db.connect_owner() as conn:
        stored = conn.execute(
            "SELECT count(*) AS n FROM mcps_events WHERE originator_id = %s"
            " AND convert_from(state, 'UTF8') LIKE %s",
            [view["id"], f"%{CANARY}%"],
        ).fetchone()
    assert stored is not None and stored["n"] == 0
    kept = deployer.logs.clickhouse.query(  # type: ignore[union-attr]
        "SELECT count() FROM deployment_logs WHERE position(message, {c:String}) > 0",
        parameters={"c": CANARY},
    ).result_rows
    assert kept == [(0,)]
    folder = world.home / "instances" / instance.instance_id
    for path in folder.iterdir():
        if path.is_file():
            assert CANARY not in path.read_text(errors="replace"), path


# --- a deployer killed mid-reconcile -----------------------------------------------------------


def start_deployer_process(world: DeployWorld) -> subprocess.Popen[bytes]:
    settings = world.container.settings
    env = {
        **os.environ,
        "DATABASE_URL": world.container.database_url,
        "MCPS_HOME": str(world.home),
        "MCPS_RUNTIME__COMMANDS": f'["{sys.executable}"]',
        "MCPS_APP_DB_PASSWORD": settings.app_db_password.get_secret_value(),
        "MCPS_CIPHER_KEY": settings.cipher_key.get_secret_value(),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "deployer"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(world.home / "deployer.log", "ab"),
    )


@pytest.fixture
def own_world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[DeployWorld]:
    """A world no in-process deployer serves: the deployer processes here lead alone."""
    with deploy_world(tmp_path_factory.mktemp("killed"), package_store(request)) as w:
        yield w
        runtime = ProcessRuntime(w.home)
        for seen in runtime.observe():
            runtime.remove(seen.instance_id)


def test_a_deployer_killed_mid_reconcile_converges_without_duplicates(
    own_world: DeployWorld,
) -> None:
    world = own_world
    first = start_deployer_process(world)
    try:
        world.deploy("steady", "toy", replicas=3)
        runtime = ProcessRuntime(world.home)
        # Kill it as soon as the first instance exists: before, while or after recording it.
        wait_for("a first instance", lambda: runtime.observe(), timeout=60)
    finally:
        first.kill()
        first.wait()
    second = start_deployer_process(world)
    try:
        view = running(world, "steady", 3)
        instances = [s for s in runtime.observe() if s.running or not s.reason]
        assert len(instances) == 3, instances
        assert {i["id"] for i in view["instances"]} == {s.instance_id for s in instances}
        names = world.event_names(view["id"])
        assert names.count("InstanceStarted") == 3 + names.count("InstanceExited")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
