"""The REST tool-call API on real parts: deployed MCP servers (the toy stdio server and
`mcp-server-time` behind their bridges), the deployer, Postgres for billing, and the API
behind uvicorn. Every call that reaches a server is billed exactly once; a call refused
before it is sent is not billed at all."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from typing import Any

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from domain.tenancy.values import Scope
from projections.usage import UsageSink
from tests.integration.deployer_support import deploy_world, package_store
from tests.integration.gateway_support import (
    FREE_CALLS,
    PAID_PRICE,
    GatewayWorld,
    gateway_world,
    running,
)
from tests.support import free_port, live_server
from workers.projector import SinkProjector


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[GatewayWorld]:
    home = tmp_path_factory.mktemp("gateway")
    with deploy_world(home, package_store(request)) as world, gateway_world(world) as g:
        yield g


def test_a_call_answers_with_the_envelope_and_is_billed_once(gw: GatewayWorld) -> None:
    with gw.client() as http:
        r = http.post("/api/v1/mcp/toy/call", json={"method": "echo", "params": {"text": "héllo"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["error"] is None
    assert body["data"]["content"][0]["text"] == "héllo"
    assert body["duration_ms"] > 0 and body["request_id"] == r.headers["X-Request-ID"]
    assert int(r.headers["RateLimit-Remaining"]) >= 0
    billed = gw.billed(tool="echo", deployment="toy")
    assert [b["status"] for b in billed] == ["ok"]
    assert str(billed[0]["originator_id"]) == body["call_id"]
    assert billed[0]["cost"] == "0" and billed[0]["tenant_id"] == str(gw.world.tenant.id)
    assert billed[0]["response"] is None  # no idempotency key: the answer is not kept


def test_mcp_server_time_answers_through_the_gateway(gw: GatewayWorld) -> None:
    with gw.client() as http:
        r = http.post(
            "/api/v1/mcp/clock/call",
            json={"method": "get_current_time", "params": {"timezone": "Asia/Shanghai"}},
        )
    assert r.status_code == 200, r.text
    text = r.json()["data"]["content"][0]["text"]
    assert json.loads(text)["timezone"] == "Asia/Shanghai"


def test_the_tool_list_comes_from_the_running_servers(gw: GatewayWorld) -> None:
    with gw.client(gw.read_token) as http:
        r = http.get("/api/v1/mcp/tools")
        status = http.get("/api/v1/mcp/tools/toy/status")
    assert r.status_code == 200, r.text
    servers = {s["name"]: s for s in r.json()["servers"]}
    assert set(servers) >= {"toy", "toy-plus", "clock"}
    toy = servers["toy"]
    assert toy["tools_source"] == "live" and toy["status"] == "running"
    echo = next(m for m in toy["methods"] if m["name"] == "echo")
    assert echo["input_schema"]["properties"]["text"]["type"] == "string"
    assert "get_current_time" in {m["name"] for m in servers["clock"]["methods"]}
    assert status.status_code == 200 and status.json()["healthy_instances"] == 1


def test_params_that_break_the_schema_are_refused_before_the_call(gw: GatewayWorld) -> None:
    before = len(gw.billed())
    with gw.client() as http:
        bad_type = http.post("/api/v1/mcp/toy/call", json={"method": "echo", "params": {"text": 5}})
        missing = http.post("/api/v1/mcp/toy/call", json={"method": "echo", "params": {}})
        no_tool = http.post("/api/v1/mcp/toy/call", json={"method": "nope", "params": {}})
        no_deployment = http.post("/api/v1/mcp/ghost/call", json={"method": "echo"})
        extra_field = http.post("/api/v1/mcp/toy/call", json={"method": "echo", "x": 1})
        not_json = http.post(
            "/api/v1/mcp/toy/call", content=b"{", headers={"Content-Type": "application/json"}
        )
    assert bad_type.status_code == 422, bad_type.text
    problem = bad_type.json()
    assert bad_type.headers["content-type"] == "application/problem+json"
    assert problem["code"] == "gateway.invalid_params" and problem["field"] == "params.text"
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "params"
    assert no_tool.status_code == 404 and no_tool.json()["code"] == "gateway.tool_not_found"
    assert no_deployment.status_code == 404
    assert no_deployment.json()["code"] == "deployment.not_found"
    assert extra_field.status_code == 422 and extra_field.json()["code"] == "validation_failed"
    assert not_json.status_code == 400
    assert len(gw.billed()) == before  # nothing was sent, nothing billed


def test_calls_the_hot_path_does_not_read_get_the_routes_own_answers(gw: GatewayWorld) -> None:
    """`api.gateway.early` serves calls before FastAPI, and hands on what it cannot read
    exactly as the route would: those get the route's validation answers."""
    body = {"method": "echo", "params": {"text": "x"}}
    before = len(gw.billed())
    with gw.client() as http:
        long_key = http.post(
            "/api/v1/mcp/toy/call", json=body, headers={"Idempotency-Key": "k" * 201}
        )
        long_tenant = http.post(
            "/api/v1/mcp/toy/call", json=body, headers={"X-MCPS-Tenant": "t" * 65}
        )
        as_text = http.post(
            "/api/v1/mcp/toy/call",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "text/plain"},
        )
        empty = http.post(
            "/api/v1/mcp/toy/call", content=b"", headers={"Content-Type": "application/json"}
        )
        chunked = http.post(
            "/api/v1/mcp/toy/call",
            content=iter([b'{"method": "echo", "params": {"text": "', b"x" * 1_100_000, b'"}}']),
            headers={"Content-Type": "application/json"},
        )
        sync = http.post("/api/v1/mcp/toy/call?mode=sync", json=body)
    for refused in (long_key, long_tenant, as_text, empty):
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "validation_failed"
    assert "idempotency-key" in long_key.json()["field"].lower()
    assert chunked.status_code == 413, chunked.text
    assert chunked.headers["content-type"] == "application/problem+json"
    assert sync.status_code == 200 and sync.json()["success"] is True
    assert len(gw.billed()) == before + 1  # only the `?mode=sync` call reached the server


def test_who_may_call(gw: GatewayWorld) -> None:
    body = {"method": "echo", "params": {"text": "x"}}
    with gw.client(gw.read_token) as reader, gw.client("mcps_nope") as stranger:
        assert reader.post("/api/v1/mcp/toy/call", json=body).json()["code"] == (
            "token.scope_required"
        )
        assert stranger.post("/api/v1/mcp/toy/call", json=body).status_code == 401
    with gw.client() as http:
        anonymous = http.post("/api/v1/mcp/toy/call", json=body, headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_a_repeated_idempotency_key_answers_the_first_result_billed_once(
    gw: GatewayWorld,
) -> None:
    body = {"method": "echo", "params": {"text": "once"}}
    key = {"Idempotency-Key": f"key-{time.time_ns()}"}
    with gw.client() as http:
        first = http.post("/api/v1/mcp/toy/call", json=body, headers=key)
        again = http.post("/api/v1/mcp/toy/call", json=body, headers=key)
        bad_key = http.post("/api/v1/mcp/toy/call", json=body, headers={"Idempotency-Key": "a b"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["call_id"] == first.json()["call_id"]
    assert again.json()["data"] == first.json()["data"]
    billed = gw.billed(idempotency_key=key["Idempotency-Key"])
    assert len(billed) == 1 and billed[0]["response"].startswith("sealed:v1:")
    assert bad_key.status_code == 422


def test_freemium_calls_are_free_then_priced(gw: GatewayWorld) -> None:
    with gw.client() as http:
        for i in range(FREE_CALLS + 2):
            r = http.post(
                "/api/v1/mcp/toy-plus/call", json={"method": "echo", "params": {"text": str(i)}}
            )
            assert r.status_code == 200, r.text
    billed = gw.billed(deployment="toy-plus", tool="echo")
    costs = [Decimal(b["cost"]) for b in billed]
    assert costs == [Decimal(0)] * FREE_CALLS + [PAID_PRICE, PAID_PRICE]
    assert [b["free"] for b in billed] == [True] * FREE_CALLS + [False, False]
    assert {b["unit_price"] for b in billed} == {str(PAID_PRICE)}


def test_a_batch_runs_every_call_and_answers_in_order(gw: GatewayWorld) -> None:
    calls = [{"name": "toy", "method": "echo", "params": {"text": f"b{i}"}} for i in range(5)] + [
        {"name": "toy", "method": "nope", "params": {}},
        {"name": "ghost", "method": "x"},
    ]
    with gw.client() as http:
        r = http.post("/api/v1/mcp/batch", json={"calls": calls})
        too_many = http.post("/api/v1/mcp/batch", json={"calls": calls * 20})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [200] * 5 + [404, 404]
    assert [x["result"]["data"]["content"][0]["text"] for x in results[:5]] == [
        f"b{i}" for i in range(5)
    ]
    assert results[5]["problem"]["code"] == "gateway.tool_not_found"
    assert too_many.status_code == 422


def test_an_instance_killed_mid_call_gives_a_clean_error_billed_once(gw: GatewayWorld) -> None:
    before = len(gw.billed(deployment="toy"))
    with gw.client() as http:
        r = http.post("/api/v1/mcp/toy/call", json={"method": "exit_now", "params": {"code": 3}})
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == "gateway.upstream_failed"
    billed = gw.billed(deployment="toy", tool="exit_now")
    assert len(billed) == 1 and billed[0]["status"] == "upstream_error"
    assert billed[0]["cost"] == "0"
    assert len(gw.billed(deployment="toy")) == before + 1
    # The deployer restarts it; calls work again once it is healthy.
    running(gw.world, "toy")

    def answers() -> bool:
        with gw.client() as http:
            again = http.post(
                "/api/v1/mcp/toy/call", json={"method": "echo", "params": {"text": "back"}}
            )
        return again.status_code == 200

    deadline = time.monotonic() + 60
    while not answers():
        assert time.monotonic() < deadline, "the toy never answered again"
        time.sleep(0.2)


def test_a_revoked_token_stops_working_within_a_second(gw: GatewayWorld) -> None:
    tenancy = gw.world.container.tenancy
    slug = gw.world.tenant.slug
    issued = tenancy.issue_token(slug, gw.world.user_id, "short", [Scope.MCP_EXECUTE], None)
    body = {"method": "echo", "params": {"text": "x"}}
    with gw.client(issued.token) as http:
        assert http.post("/api/v1/mcp/toy/call", json=body).status_code == 200
        tenancy.revoke_token(slug, gw.world.user_id, issued.token_id)
        revoked_at = time.monotonic()
        while http.post("/api/v1/mcp/toy/call", json=body).status_code == 200:
            assert time.monotonic() - revoked_at < 1.0, "still accepted a second after revoking"
        refused = http.post("/api/v1/mcp/toy/call", json=body)
    assert refused.status_code == 401 and refused.json()["code"] == "auth.token_invalid"


# --- the native MCP endpoint, with the official SDK as the client --------------------------


async def _collect(notes: list[str], message: object) -> None:
    method = getattr(message, "method", None)
    if isinstance(method, str):
        notes.append(method)


def test_an_mcp_client_uses_the_tenant_endpoint_across_an_api_restart(gw: GatewayWorld) -> None:
    """Tools of every deployment under one endpoint; the session outlives the API process
    that made it (a new app, no shared memory, same address)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp/t/{gw.world.tenant.slug}"
    headers = {"Authorization": f"Bearer {gw.token}"}
    container = gw.world.container

    async def scenario() -> None:
        notes: list[str] = []
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write, message_handler=partial(_collect, notes)) as session,
        ):
            init = await session.initialize()
            assert init.server_info.name == "mcps.one"
            names = {t.name for t in (await session.list_tools()).tools}
            assert {"toy__echo", "clock__get_current_time", "toy-plus__echo"} <= names
            result = await session.call_tool("toy__echo", {"text": "native"})
            assert not result.is_error and result.content[0].text == "native"
            with pytest.raises(MCPError) as refused:
                await session.call_tool("toy__echo", {"text": 1})
            assert refused.value.error.code == -32602  # invalid params, never sent upstream
            resources = (await session.list_resources()).resources
            greeting = next(r for r in resources if str(r.uri).startswith("mcps://toy/"))
            read_back = await session.read_resource(greeting.uri)
            assert read_back.contents[0].text == "hello from the toy"
            stop_first.set()
            await anyio.to_thread.run_sync(restarted.wait, 30)
            again = await session.call_tool("toy__echo", {"text": "after restart"})
            assert not again.is_error and again.content[0].text == "after restart"

    stop_first = threading.Event()
    restarted = threading.Event()
    with live_server(container, port):
        outcome: list[BaseException | None] = []
        runner = threading.Thread(target=lambda: outcome.append(_run(scenario)))
        runner.start()
        assert stop_first.wait(60), outcome
    with live_server(container, port):  # a new app: nothing of the first survives
        restarted.set()
        runner.join(60)
    assert outcome == [None], outcome
    actors = {b["actor"] for b in gw.billed(deployment="toy", tool="echo")}
    assert any(a.startswith("token:") for a in actors)  # billed to the token, like REST calls


def test_mcp_clients_hear_when_deployments_come_and_go(gw: GatewayWorld) -> None:
    url = f"{gw.base_url}/mcp/t/{gw.world.tenant.slug}"
    headers = {"Authorization": f"Bearer {gw.token}"}

    async def scenario() -> set[str]:
        notes: list[str] = []
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write, message_handler=partial(_collect, notes)) as session,
        ):
            await session.initialize()
            await anyio.sleep(0.5)  # the GET stream is open
            await anyio.to_thread.run_sync(lambda: gw.world.deploy("toy-two", "toy"))
            names: set[str] = set()
            with anyio.fail_after(60):  # as a client does: re-list on each notification
                while "toy-two__echo" not in names:
                    while "notifications/tools/list_changed" not in notes:
                        await anyio.sleep(0.1)
                    notes.remove("notifications/tools/list_changed")
                    names = {t.name for t in (await session.list_tools()).tools}
        return names

    names = _run(scenario)  # an exception if no notification brought the new tools in 60 s
    assert isinstance(names, set) and "toy-two__echo" in names


def test_the_mcp_endpoint_refuses_strangers_and_forged_sessions(gw: GatewayWorld) -> None:
    url = f"/mcp/t/{gw.world.tenant.slug}"
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    with gw.client() as http:
        forged = http.post(url, json=ping, headers={"Mcp-Session-Id": "a.b.c.d"})
        garbage = http.post(url, content=b"{", headers={"Content-Type": "application/json"})
        unknown = http.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "nope"})
        other_tenant = http.post("/mcp/t/someone-else", json=ping)
    with gw.client("mcps_forged") as stranger:
        refused = stranger.post(url, json=ping)
    assert forged.status_code == 404
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == -32700
    assert unknown.json()["error"]["code"] == -32601
    assert other_tenant.status_code == 404
    assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers


def test_a_client_cancelling_a_call_stops_it_here_and_upstream(gw: GatewayWorld) -> None:
    url = f"/mcp/t/{gw.world.tenant.slug}"
    hello = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {}},
    }
    call = {
        "jsonrpc": "2.0",
        "id": "slow-1",
        "method": "tools/call",
        "params": {"name": "toy__sleep", "arguments": {"seconds": 60}},
    }
    with gw.client() as http:
        session = {"Mcp-Session-Id": http.post(url, json=hello).headers["Mcp-Session-Id"]}
        answer: dict[str, Any] = {}

        def slow_call() -> None:
            answer["reply"] = http.post(url, json=call, headers=session)

        caller = threading.Thread(target=slow_call)
        started = time.monotonic()
        caller.start()
        wait_for_outstanding = time.monotonic() + 10
        while (
            http.get("/api/v1/mcp/tools/toy/status").json()["instances"][0]["outstanding_calls"]
            == 0
        ):
            assert time.monotonic() < wait_for_outstanding, "the call never reached the toy"
            time.sleep(0.05)
        cancel = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": "slow-1", "reason": "changed my mind"},
        }
        assert http.post(url, json=cancel, headers=session).status_code == 202
        caller.join(15)
        assert time.monotonic() - started < 10
        reply = answer["reply"].json()
        assert reply["id"] == "slow-1" and reply["error"]["data"]["code"] == "gateway.cancelled"
        status = http.get("/api/v1/mcp/tools/toy/status").json()
        assert status["instances"][0]["outstanding_calls"] == 0
        # The session goes on working after a cancellation.
        quick = {**call, "id": "quick", "params": {"name": "toy__echo", "arguments": {"text": "x"}}}
        assert http.post(url, json=quick, headers=session).json()["result"]["isError"] is False
    assert gw.billed(tool="sleep") == []  # stopped before it answered: not billed


def _run(scenario: Any) -> Any:
    try:
        return anyio.run(scenario)
    except BaseException as error:  # the test thread reports it
        return error


def test_history_lists_the_tenants_calls_newest_first(gw: GatewayWorld) -> None:
    container = gw.world.container
    sink = UsageSink(container.clickhouse, container.db, container.settings.clickhouse_database)
    sink.create()
    with gw.client() as http:
        http.post("/api/v1/mcp/toy/call", json={"method": "echo", "params": {"text": "last"}})
        SinkProjector(container.events, sink).catch_up()
        page = http.get("/api/v1/mcp/history", params={"limit": 2, "tool": "echo"})
        failed = http.get("/api/v1/mcp/history", params={"status": "upstream_error"})
        bad = http.get("/api/v1/mcp/history", params={"status": "weird"})
    assert page.status_code == 200, page.text
    calls = page.json()["calls"]
    assert len(calls) == 2 and all(c["tool"] == "echo" for c in calls)
    assert calls[0]["occurred_at"] >= calls[1]["occurred_at"]
    assert page.json()["next_cursor"]
    failures = failed.json()["calls"]
    assert "exit_now" in {c["tool"] for c in failures}
    assert {c["status"] for c in failures} == {"upstream_error"}
    assert bad.status_code == 422
