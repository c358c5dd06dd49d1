"""Asynchronous tool calls on real parts: `?mode=async` answers 202 with a task, the task runs
through the gateway like a synchronous call and keeps its envelope, and a task left by an API
process that stopped or died is finished by another one, billed once."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from domain.billing.calls import Call
from domain.tenancy.values import Scope
from infra.container import Container
from tests.integration.deployer_support import deploy_world, package_store
from tests.integration.gateway_support import GatewayWorld, gateway_world
from tests.support import live_server

ECHO = {"method": "echo", "params": {"text": "later"}}
ACCEPTED = "domain.tasks.tasks:Task.Accepted"


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[GatewayWorld]:
    home = tmp_path_factory.mktemp("gateway-tasks")
    with deploy_world(home, package_store(request)) as world, gateway_world(world) as g:
        yield g


def finished(http: httpx.Client, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = http.get(f"/api/v1/tasks/{task_id}")
        assert r.status_code == 200, r.text
        task = r.json()
        if task["status"] in ("succeeded", "failed"):
            return task
        assert time.monotonic() < deadline, f"the task never finished: {task}"
        time.sleep(0.01)


def accepted_count(gw: GatewayWorld) -> int:
    with gw.world.container.db.connect_owner() as conn:
        row = conn.execute("SELECT count(*) AS n FROM mcps_events WHERE topic = %s", [ACCEPTED])
        return int(row.fetchone()["n"])


def billed_for(gw: GatewayWorld, task_id: str) -> list[dict[str, Any]]:
    """The `Call.Billed` events of the call a task makes (keyed `task:<id>`)."""
    call_id = Call.create_id(gw.world.tenant.id, f"task:{task_id}")
    return [b for b in gw.billed() if b["originator_id"] == call_id]


def test_an_async_call_answers_202_then_the_sync_envelope_billed_once(gw: GatewayWorld) -> None:
    with gw.client() as http:
        sync = http.post("/api/v1/mcp/toy/call", json=ECHO)
        r = http.post("/api/v1/mcp/toy/call", params={"mode": "async"}, json=ECHO)
        accepted_at = time.monotonic()
        assert r.status_code == 202, r.text
        task_id = r.json()["task_id"]
        assert r.json()["status"] == "running"  # claimed by this process as it was accepted
        assert r.headers["Location"] == f"/api/v1/tasks/{task_id}"
        task = finished(http, task_id)
        took = time.monotonic() - accepted_at
    print(f"\n202 -> succeeded: {took * 1000:.1f} ms")
    assert task["status"] == "succeeded" and task["attempts"] == 1
    assert (task["name"], task["method"], task["problem"]) == ("toy", "echo", None)
    assert task["created_at"] <= task["started_at"] <= task["finished_at"]
    result = task["result"]
    assert set(result) == set(sync.json())  # the synchronous call's envelope, field for field
    assert result["success"] is True and result["error"] is None
    assert result["data"] == sync.json()["data"]
    assert result["request_id"] == r.headers["X-Request-ID"]  # the request that accepted it
    billed = billed_for(gw, task_id)
    assert len(billed) == 1 and str(billed[0]["originator_id"]) == result["call_id"]
    assert billed[0]["status"] == "ok" and billed[0]["actor"].startswith("token:")


def test_a_tool_error_finishes_the_task_failed_with_its_envelope(gw: GatewayWorld) -> None:
    with gw.client() as http:
        r = http.post(
            "/api/v1/mcp/clock/call",
            params={"mode": "async"},
            json={"method": "get_current_time", "params": {"timezone": "Mars/Olympus"}},
        )
        assert r.status_code == 202, r.text
        task = finished(http, r.json()["task_id"])
    assert task["status"] == "failed" and task["problem"] is None
    assert task["result"]["success"] is False
    assert task["result"]["error"]["code"] == "tool_error"
    assert len(billed_for(gw, task["task_id"])) == 1  # the server ran it: billed, once


def test_bad_input_is_refused_at_once_and_makes_no_task(gw: GatewayWorld) -> None:
    before = accepted_count(gw)
    billed = len(gw.billed())
    async_ = {"mode": "async"}
    with gw.client() as http:
        bad_type = http.post(
            "/api/v1/mcp/toy/call", params=async_, json={"method": "echo", "params": {"text": 5}}
        )
        no_tool = http.post("/api/v1/mcp/toy/call", params=async_, json={"method": "nope"})
        no_deployment = http.post("/api/v1/mcp/ghost/call", params=async_, json=ECHO)
        bad_mode = http.post("/api/v1/mcp/toy/call", params={"mode": "later"}, json=ECHO)
    with gw.client(gw.read_token) as reader:
        no_scope = reader.post("/api/v1/mcp/toy/call", params=async_, json=ECHO)
    assert bad_type.status_code == 422, bad_type.text
    assert bad_type.headers["content-type"] == "application/problem+json"
    assert bad_type.json()["code"] == "gateway.invalid_params"
    assert bad_type.json()["field"] == "params.text"
    assert no_tool.status_code == 404 and no_tool.json()["code"] == "gateway.tool_not_found"
    assert no_deployment.status_code == 404
    assert no_deployment.json()["code"] == "deployment.not_found"
    assert bad_mode.status_code == 422 and bad_mode.json()["code"] == "validation_failed"
    assert no_scope.status_code == 403 and no_scope.json()["code"] == "token.scope_required"
    assert accepted_count(gw) == before
    assert len(gw.billed()) == billed


def test_only_the_tenant_sees_its_task(gw: GatewayWorld) -> None:
    tenancy = gw.world.container.tenancy
    tenancy.create_team(gw.world.user_id, "outsiders", "Outsiders")
    outsider = tenancy.issue_token("outsiders", gw.world.user_id, "o", [Scope.MCP_READ], None)
    with gw.client() as http:
        task_id = http.post("/api/v1/mcp/toy/call", params={"mode": "async"}, json=ECHO).json()[
            "task_id"
        ]
        finished(http, task_id)
        unknown = http.get(f"/api/v1/tasks/{uuid4()}")
        garbage = http.get("/api/v1/tasks/not-a-task")
    with gw.client(outsider.token) as other, gw.client(gw.read_token) as reader:
        theirs = other.get(f"/api/v1/tasks/{task_id}")
        ours = reader.get(f"/api/v1/tasks/{task_id}")
    with gw.client("mcps_forged") as stranger:
        anonymous = stranger.get(f"/api/v1/tasks/{task_id}")
    assert theirs.status_code == 404 and theirs.json()["code"] == "task.not_found"
    assert unknown.status_code == 404  # the same answer: nothing says the task exists
    assert unknown.json()["code"] == "task.not_found"
    assert unknown.json()["detail"] == theirs.json()["detail"]
    assert garbage.status_code == 422
    assert ours.status_code == 200 and ours.json()["status"] == "succeeded"  # mcp:read suffices
    assert anonymous.status_code == 401


def test_a_repeated_idempotency_key_answers_the_same_task_billed_once(gw: GatewayWorld) -> None:
    key = {"Idempotency-Key": f"async-{time.time_ns()}"}
    before = accepted_count(gw)
    with gw.client() as http:
        first = http.post("/api/v1/mcp/toy/call", params={"mode": "async"}, json=ECHO, headers=key)
        again = http.post("/api/v1/mcp/toy/call", params={"mode": "async"}, json=ECHO, headers=key)
        task = finished(http, first.json()["task_id"])
        late = http.post("/api/v1/mcp/toy/call", params={"mode": "async"}, json=ECHO, headers=key)
    assert first.status_code == again.status_code == late.status_code == 202
    assert first.json()["task_id"] == again.json()["task_id"] == late.json()["task_id"]
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == late.headers["Idempotent-Replayed"] == "true"
    assert late.json()["status"] == "succeeded"
    assert accepted_count(gw) == before + 1
    assert len(billed_for(gw, task["task_id"])) == 1


# --- tasks that outlive the API process that accepted them --------------------------------


def accept_directly(gw: GatewayWorld, text: str) -> UUID:
    """A task accepted as an API process records it, by a process that then stops at once."""
    token = gw.world.container.tenancy.authenticate_token(gw.token)
    return gw.world.container.tasks.accept(
        gw.world.tenant.id,
        "toy",
        "echo",
        {"text": text},
        token_id=token.token_id,
        user_id=token.created_by,
    ).task_id


def test_a_task_accepted_by_a_process_that_stopped_is_run_by_another(gw: GatewayWorld) -> None:
    task_id = accept_directly(gw, "orphan")
    started = time.monotonic()
    with gw.client() as http:
        task = finished(http, str(task_id))
    print(f"\nunclaimed task picked up and finished in {time.monotonic() - started:.2f} s")
    assert task["status"] == "succeeded" and task["attempts"] == 1
    assert task["result"]["data"]["content"][0]["text"] == "orphan"
    assert len(billed_for(gw, str(task_id))) == 1


def test_a_task_whose_process_died_after_billing_is_finished_billed_once(
    gw: GatewayWorld,
) -> None:
    """The worker claimed the task, made the call (billed), and died before recording the
    answer: once its lease runs out, another process finishes it with the billed answer."""
    task_id = accept_directly(gw, "died")
    claim = gw.world.container.tasks.claim(task_id, "api:dead", lease_seconds=1.0)
    assert claim is not None
    with gw.client() as http:
        dead_call = http.post(
            "/api/v1/mcp/toy/call",
            json={"method": "echo", "params": claim.params},
            headers={"Idempotency-Key": f"task:{task_id}"},  # what the dead worker sent
        )
        assert dead_call.status_code == 200
        held = http.get(f"/api/v1/tasks/{task_id}").json()
        assert held["status"] == "running"
        task = finished(http, str(task_id))
    assert task["status"] == "succeeded" and task["attempts"] == 2
    assert task["result"]["call_id"] == dead_call.json()["call_id"]
    assert task["result"]["data"] == dead_call.json()["data"]
    assert len(billed_for(gw, str(task_id))) == 1


def test_an_api_stopping_gives_its_waiting_task_to_another_process(gw: GatewayWorld) -> None:
    """API process B accepts a task whose call must wait (B's rate limit is tiny) and is
    stopped meanwhile: it gives the task back, and the other process (A) finishes it."""
    container = gw.world.container
    settings = container.settings
    tight = settings.gateway.model_copy(update={"tenant_rate_per_second": 0.05, "tenant_burst": 1})
    slow: Container = dataclasses.replace(
        container, settings=settings.model_copy(update={"gateway": tight})
    )
    headers = {"Authorization": f"Bearer {gw.token}"}
    with live_server(slow) as b_url, httpx.Client(base_url=b_url, headers=headers) as b:
        assert b.post("/api/v1/mcp/toy/call", json=ECHO).status_code == 200  # B's one call
        r = b.post("/api/v1/mcp/toy/call", params={"mode": "async"}, json=ECHO)
        assert r.status_code == 202, r.text
        task_id = r.json()["task_id"]
        deadline = time.monotonic() + 10
        while b.get(f"/api/v1/tasks/{task_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(3)  # B waits 20 s for its rate limit; A has seen B hold the task
    stopped = time.monotonic()
    with gw.client() as http:
        task = finished(http, task_id)
    print(f"\ngiven back at shutdown, finished elsewhere in {time.monotonic() - stopped:.2f} s")
    assert task["status"] == "succeeded" and task["attempts"] == 2
    assert len(billed_for(gw, task_id)) == 1


def test_two_api_processes_looking_for_tasks_run_each_once(gw: GatewayWorld) -> None:
    """Both processes find the same unclaimed tasks at the same moment; the store lets one
    start each."""
    with live_server(gw.world.container):
        ids = [accept_directly(gw, f"both-{i}") for i in range(20)]
        with gw.client() as http:
            tasks = [finished(http, str(task_id)) for task_id in ids]
    assert {t["status"] for t in tasks} == {"succeeded"}
    assert {t["attempts"] for t in tasks} == {1}
    assert all(len(billed_for(gw, str(task_id))) == 1 for task_id in ids)


def listed(http: httpx.Client, params: dict[str, Any], want: set[str]) -> list[dict[str, Any]]:
    """The listing once the read model has caught up with every task in `want`."""
    deadline = time.monotonic() + 10
    while True:
        r = http.get("/api/v1/tasks", params=params)
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()["data"]
        if want <= {row["task_id"] for row in rows}:
            return rows
        assert time.monotonic() < deadline, f"the listing never showed {want}: {rows}"
        time.sleep(0.02)


def test_the_tenant_lists_its_tasks_newest_first_by_status_and_page(gw: GatewayWorld) -> None:
    tenancy = gw.world.container.tenancy
    tenancy.create_team(gw.world.user_id, "listers", "Listers")
    outsider = tenancy.issue_token("listers", gw.world.user_id, "l", [Scope.MCP_READ], None)
    with gw.client() as http:
        ids = [
            http.post("/api/v1/mcp/toy/call", params={"mode": "async"}, json=ECHO).json()["task_id"]
            for _ in range(3)
        ]
        for task_id in ids:
            finished(http, task_id)
        failing = http.post(
            "/api/v1/mcp/clock/call",
            params={"mode": "async"},
            json={"method": "get_current_time", "params": {"timezone": "Mars/Olympus"}},
        ).json()["task_id"]
        finished(http, failing)
        everything = listed(http, {"limit": 200}, {*ids, failing})
        toy_ok = listed(http, {"status": "succeeded", "name": "toy", "limit": 200}, set(ids))
        failed = listed(http, {"status": "failed"}, {failing})
        first = http.get("/api/v1/tasks", params={"limit": 2}).json()
        second = http.get("/api/v1/tasks", params={"limit": 2, "cursor": first["next_cursor"]})
        bad_status = http.get("/api/v1/tasks", params={"status": "done"})
        bad_cursor = http.get("/api/v1/tasks", params={"cursor": "x1"})
        bad_limit = http.get("/api/v1/tasks", params={"limit": 0})
    with gw.client(outsider.token) as other:
        theirs = other.get("/api/v1/tasks", params={"limit": 200})
    # Newest first, the failing call last made so first listed.
    assert everything[0]["task_id"] == failing
    assert [row["task_id"] for row in everything if row["task_id"] in ids] == ids[::-1]
    mine = {row["task_id"]: row for row in everything}
    assert mine[failing]["status"] == "failed" and mine[failing]["method"] == "get_current_time"
    assert all(mine[i]["status"] == "succeeded" and mine[i]["call_id"] for i in ids)
    assert all(mine[i]["attempts"] == 1 and mine[i]["finished_at"] for i in ids)
    assert "result" not in mine[ids[0]] and "params" not in mine[ids[0]]  # sealed: read the task
    assert {row["status"] for row in toy_ok} == {"succeeded"}
    assert {row["name"] for row in toy_ok} == {"toy"}
    assert {row["status"] for row in failed} == {"failed"}
    assert [r["task_id"] for r in first["data"]] == [r["task_id"] for r in everything[:2]]
    assert second.status_code == 200
    assert [r["task_id"] for r in second.json()["data"]] == [r["task_id"] for r in everything[2:4]]
    for bad in (bad_status, bad_cursor, bad_limit):
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["code"] == "validation_failed"
    assert theirs.status_code == 200 and theirs.json()["data"] == []  # another tenant: none


def test_tasks_are_not_listed_to_another_tenant_even_in_raw_sql(gw: GatewayWorld) -> None:
    """Row-level security: the app role scoped to another tenant reads no task rows."""
    with gw.client() as http:
        task_id = http.post("/api/v1/mcp/toy/call", params={"mode": "async"}, json=ECHO).json()[
            "task_id"
        ]
        finished(http, task_id)
        listed(http, {}, {task_id})
    db = gw.world.container.db
    with db.scoped(uuid4(), gw.world.user_id) as conn:
        assert conn.execute("SELECT count(*) AS n FROM tasks.tasks_view").fetchone()["n"] == 0
    with db.scoped(gw.world.tenant.id, gw.world.user_id) as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM tasks.tasks_view WHERE task_id = %s", [UUID(task_id)]
        ).fetchone()
        assert row["n"] == 1
