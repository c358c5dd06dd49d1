"""`@modelcontextprotocol/server-everything`, the MCP project's reference server, end to end:
published as a service whose process runtime names the npm package at a pinned version,
installed into the package store on first start, deployed, and called through the REST API
and through the native MCP endpoint with the official SDK client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from domain.tenancy.values import Scope
from tests.integration.deployer_support import OWNER, DeployWorld, deploy_world, package_store
from tests.integration.processes_support import calling_token, deployed, deployer
from tests.integration.usage_support import billed_in_store
from tests.support import live_server

#: `npm view @modelcontextprotocol/server-everything version` on 2026-11-21.
VERSION = "2026.8.31"
RUNTIME = {
    "kind": "process",
    "transport": "stdio",
    "command": "mcp-server-everything",
    "package": {
        "registry": "npm",
        "name": "@modelcontextprotocol/server-everything",
        "version": VERSION,
    },
    "args": [],
    "env": {},
}


@dataclass
class Everything:
    world: DeployWorld
    base_url: str
    token: str
    read_token: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def everything(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Everything]:
    home = tmp_path_factory.mktemp("everything")
    with deploy_world(home, package_store(request)) as world, deployer(world):
        market = world.container.marketplace
        listing = {
            "display_name": "Everything",
            "description": "The MCP reference server that exercises every feature.",
            "category": "developer-tools",
            "tags": ["testing", "reference"],
            "pricing": {"model": "FREE", "currency": "USD"},
        }
        market.draft("everything", world.tenant.id, world.tenant.slug, OWNER, listing)
        release = {"changelog": f"upstream {VERSION}", "runtime": RUNTIME, "config_schema": {}}
        market.release("everything", OWNER, VERSION, release)
        market.publish("everything", OWNER)
        deployed((world, "everything", "everything"))  # npm installs it on the first start
        tenancy = world.container.tenancy
        reader = tenancy.issue_token(
            world.tenant.slug, world.user_id, "reads", [Scope.MCP_READ], None
        )
        with live_server(world.container) as base_url:
            yield Everything(world, base_url, calling_token(world).token, reader.token)


def test_its_tools_are_listed_from_the_running_server(everything: Everything) -> None:
    with everything.client(everything.read_token) as http:
        r = http.get("/api/v1/mcp/tools")
    assert r.status_code == 200, r.text
    server = next(s for s in r.json()["servers"] if s["name"] == "everything")
    assert server["tools_source"] == "live" and server["status"] == "running"
    assert server["version"] == VERSION
    methods = {m["name"]: m for m in server["methods"]}
    assert {"echo", "get-sum", "get-structured-content"} <= set(methods)
    assert methods["get-sum"]["input_schema"]["required"] == ["a", "b"]


def test_rest_calls_reach_the_npm_server_and_are_billed(everything: Everything) -> None:
    with everything.client() as http:
        echo = http.post(
            "/api/v1/mcp/everything/call",
            json={"method": "echo", "params": {"message": "héllo 你好"}},
        )
        add = http.post(
            "/api/v1/mcp/everything/call", json={"method": "get-sum", "params": {"a": 2, "b": 40}}
        )
        structured = http.post(
            "/api/v1/mcp/everything/call",
            json={"method": "get-structured-content", "params": {"location": "Chicago"}},
        )
        bad = http.post(
            "/api/v1/mcp/everything/call",
            json={"method": "get-sum", "params": {"a": "two", "b": 3}},
        )
    assert echo.status_code == 200, echo.text
    assert echo.json()["success"] is True
    assert echo.json()["data"]["content"][0]["text"] == "Echo: héllo 你好"
    assert add.status_code == 200, add.text
    assert add.json()["data"]["content"][0]["text"] == "The sum of 2 and 40 is 42."
    assert structured.status_code == 200, structured.text
    assert isinstance(structured.json()["data"]["structuredContent"], dict)
    assert bad.status_code == 422, bad.text
    assert bad.json()["code"] == "gateway.invalid_params" and bad.json()["field"] == "params.a"
    billed = {
        str(e.originator_id): e
        for e in billed_in_store(everything.world.container)
        if e.deployment == "everything"
    }
    for answer in (echo, add, structured):
        event = billed[answer.json()["call_id"]]
        assert (event.status, event.cost, event.version) == ("ok", "0", VERSION)
    assert len(billed) == 3  # the refused call was never sent, so never billed


def test_the_native_endpoint_serves_its_tools_resources_and_prompts(
    everything: Everything,
) -> None:
    url = f"{everything.base_url}/mcp/t/{everything.world.tenant.slug}"
    headers = {"Authorization": f"Bearer {everything.token}"}

    async def scenario() -> None:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert {"everything__echo", "everything__get-sum"} <= set(tools)
            assert tools["everything__get-sum"].input_schema["required"] == ["a", "b"]

            echo = await session.call_tool("everything__echo", {"message": "native"})
            assert not echo.is_error and echo.content[0].text == "Echo: native"
            add = await session.call_tool("everything__get-sum", {"a": 1, "b": 2})
            assert not add.is_error and add.content[0].text == "The sum of 1 and 2 is 3."

            resources = (await session.list_resources()).resources
            ours = [r for r in resources if str(r.uri).startswith("mcps://everything/")]
            assert len(ours) >= 5, [str(r.uri) for r in resources]
            architecture = next(r for r in ours if "architecture.md" in str(r.uri))
            read_back = await session.read_resource(architecture.uri)
            assert read_back.contents[0].text.strip()

            prompts = {p.name: p for p in (await session.list_prompts()).prompts}
            assert {"everything__simple-prompt", "everything__args-prompt"} <= set(prompts)
            got = await session.get_prompt("everything__args-prompt", {"city": "Paris"})
            assert "Paris" in got.messages[0].content.text

    anyio.run(scenario)
