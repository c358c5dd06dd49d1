"""The gateway's lean MCP client against a real SDK server that answers on event streams, and
the upstream session around it: forgotten sessions are reopened, answers are not mixed up."""

from __future__ import annotations

import asyncio

import pytest

from api.gateway.upstreams import Upstream, UpstreamUnavailableError
from infra.mcp.connect import Target
from infra.mcp.wire import RpcError, SessionGoneError, open_wire_session
from tests.support import free_port, mcp_http_server

WEATHER = "tests.mcp_servers.weather_http"


def test_calls_answered_on_event_streams_reach_their_callers() -> None:
    async def scenario(url: str) -> None:
        session = await open_wire_session(Target(url), allowed_hosts=[], timeout=10)
        try:
            assert session.session_id
            assert session.initialize_result["serverInfo"]["name"] == "weather-test"
            tools = await session.request("tools/list")
            assert {t["name"] for t in tools["tools"]} == {"forecast", "alerts"}

            cities = [f"city-{n}" for n in range(40)]
            answers = await asyncio.gather(
                *(
                    session.request(
                        "tools/call", {"name": "forecast", "arguments": {"city": c, "days": 2}}
                    )
                    for c in cities
                )
            )
            texts = [a["content"][0]["text"] for a in answers]
            assert texts == [f"{c}: sunny for 2 day(s)" for c in cities]

            with pytest.raises(RpcError) as refused:
                await session.request("no/such/method")
            assert refused.value.code == -32601
        finally:
            await session.close()

    with mcp_http_server(WEATHER) as url:
        asyncio.run(scenario(url))


def test_a_session_the_server_forgot_is_reopened_by_the_next_call() -> None:
    port = free_port()

    async def first(upstream: Upstream) -> str | None:
        await upstream.call("tools/call", {"name": "alerts", "arguments": {"region": "a"}}, 10)
        return (await upstream.session()).session_id

    async def scenario() -> None:
        with mcp_http_server(WEATHER, port) as url:
            upstream = Upstream("i-1", Target(url), [])
            first_id = await first(upstream)
        with mcp_http_server(WEATHER, port):  # a new process: it has never heard of that session
            await asyncio.sleep(0.1)  # the loop hears the old connections close
            old = await upstream.session()
            with pytest.raises(SessionGoneError):
                await old.request("ping")
            with pytest.raises(UpstreamUnavailableError, match="forgot"):
                await upstream.call("ping", {}, 10)
            answer = await upstream.call(
                "tools/call", {"name": "alerts", "arguments": {"region": "b"}}, 10
            )
            assert answer["content"][0]["text"] == "no alerts in b"
            assert (await upstream.session()).session_id not in (None, first_id)
            await upstream.close()

    asyncio.run(scenario())
