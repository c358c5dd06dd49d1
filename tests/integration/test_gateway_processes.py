"""Rate limits and plan quotas hold across API processes: two `mcps-server api` processes share
Redis and PostgreSQL, and calls fired at both at once are admitted as if by one gateway.

The per-token rate is made small (5 calls/s, burst 5) through the processes' settings, the
tenant's rate large, so the token's bucket is the one that refuses. Each process alone sees
more calls than the shared budget (burst + rate x window), so limits kept per process would
let about twice as many through.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import redis

from api.gateway.limits import month_bounds
from domain.billing.plans import limits_of
from domain.tenancy.values import Plan
from infra.ratelimit import PREFIX
from tests.integration.deployer_support import DeployWorld, deploy_world, package_store
from tests.integration.processes_support import (
    api_processes,
    calling_token,
    deployed,
    deployer,
    new_team,
)
from tests.integration.usage_support import billed_in_store
from tests.support import require_env

RATE = 5
BURST = 5
WINDOW_S = 4.0
CLIENTS_PER_PROCESS = 8
SETTINGS = {
    "MCPS_GATEWAY__TOKEN_RATE_PER_SECOND": str(RATE),
    "MCPS_GATEWAY__TOKEN_BURST": str(BURST),
    "MCPS_GATEWAY__TENANT_RATE_PER_SECOND": "10000",
    "MCPS_GATEWAY__TENANT_BURST": "10000",
}
CALL = {"method": "echo", "params": {"text": "limited"}}


@dataclass
class Two:
    team: DeployWorld
    urls: list[str]


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Two]:
    """A team on PRO with a running `toy`, and two API processes on the same Redis."""
    require_env("REDIS_URL")
    home = tmp_path_factory.mktemp("two-apis")
    (home / "world").mkdir()
    with deploy_world(home / "world", package_store(request)) as world, deployer(world):
        team = new_team(world, "limited")
        deployed((team, "toy", "toy"))
        with api_processes(world.container, home, 2, **SETTINGS) as urls:
            # Each process opens its upstream session and learns the tool list first, with a
            # token of its own, so the measured calls find it warm.
            warm = calling_token(team, "warm").token
            for url in urls:
                r = httpx.post(
                    f"{url}/api/v1/mcp/toy/call",
                    json=CALL,
                    headers={"Authorization": f"Bearer {warm}"},
                    timeout=60,
                )
                assert r.status_code == 200, r.text
            yield Two(team, urls)


@dataclass(frozen=True)
class Answer:
    process: int
    status: int
    headers: httpx.Headers
    code: str | None


async def _hammer(urls: list[str], token: str, seconds: float) -> tuple[list[Answer], float]:
    """Clients call through every process until `seconds` pass; the answers and the span from
    the first call sent to the last answer received."""
    headers = {"Authorization": f"Bearer {token}"}
    answers: list[Answer] = []
    started = time.monotonic()
    stop_at = started + seconds

    async def client(http: httpx.AsyncClient, process: int) -> None:
        while time.monotonic() < stop_at:
            r = await http.post("/api/v1/mcp/toy/call", json=CALL)
            code = r.json().get("code") if r.status_code != 200 else None
            answers.append(Answer(process, r.status_code, r.headers, code))

    clients = [httpx.AsyncClient(base_url=url, headers=headers, timeout=60) for url in urls]
    try:
        await asyncio.gather(
            *(client(http, i) for i, http in enumerate(clients) for _ in range(CLIENTS_PER_PROCESS))
        )
    finally:
        for http in clients:
            await http.aclose()
    return answers, time.monotonic() - started


def test_a_tokens_rate_holds_across_two_api_processes(two: Two) -> None:
    token = calling_token(two.team, "rated").token
    answers, span = asyncio.run(_hammer(two.urls, token, WINDOW_S))

    admitted = [a for a in answers if a.status == 200]
    refused = [a for a in answers if a.status == 429]
    assert len(admitted) + len(refused) == len(answers), {a.status for a in answers}
    budget = BURST + RATE * span
    assert len(admitted) <= budget + 1, (len(admitted), span)
    assert len(admitted) > BURST + RATE, (len(admitted), span)  # the bucket refilled
    for process in range(2):
        tried = [a for a in answers if a.process == process]
        # Each process alone saw at least the budget's worth of calls, and refused some:
        # limits kept per process would have let about twice the budget through.
        assert len(tried) >= budget, (process, len(tried), budget)
        assert any(a.status == 429 for a in tried), process
    for a in refused:
        assert a.code == "rate_limited"
        assert int(a.headers["Retry-After"]) >= 1
        assert a.headers["RateLimit-Limit"] == str(BURST)
        assert a.headers["RateLimit-Remaining"] == "0"
        assert 0 <= int(a.headers["RateLimit-Reset"]) <= math.ceil(BURST / RATE)
    assert all(int(a.headers["RateLimit-Remaining"]) < BURST for a in admitted)


def test_the_plans_monthly_quota_holds_across_two_api_processes(two: Two) -> None:
    """Seven calls left this month: of twenty fired at both processes at once, seven pass."""
    limit = limits_of(Plan.PRO).monthly_calls
    assert limit is not None
    start, end = month_bounds(datetime.now(UTC))
    key = f"{PREFIX}quota:{two.team.tenant.id}:{start:%Y-%m}"
    store = redis.Redis.from_url(require_env("REDIS_URL"))
    store.set(key, limit - 7)  # the month's count so far, as the gateway keeps it
    # Four tokens with five calls each: all within their bursts, so only the quota refuses.
    tokens = [calling_token(two.team, f"quota-{i}") for i in range(4)]

    async def fire() -> list[tuple[int, httpx.Response]]:
        clients = [httpx.AsyncClient(base_url=url, timeout=60) for url in two.urls]
        try:
            calls = [
                (
                    i % 2,
                    clients[i % 2].post(
                        "/api/v1/mcp/toy/call",
                        json=CALL,
                        headers={"Authorization": f"Bearer {token.token}"},
                    ),
                )
                for token in tokens
                for i in range(5)
            ]
            answered = await asyncio.gather(*(call for _, call in calls))
            return [(process, r) for (process, _), r in zip(calls, answered, strict=True)]
        finally:
            for http in clients:
                await http.aclose()

    try:
        answers = asyncio.run(fire())
        assert sorted(r.status_code for _, r in answers) == [200] * 7 + [429] * 13
        assert int(store.get(key) or 0) == limit  # refused calls are not counted
        for process, r in answers:
            if r.status_code == 429:
                assert r.json()["code"] == "quota.exceeded", (process, r.text)
                until_reset = end.timestamp() - time.time()
                assert abs(int(r.headers["Retry-After"]) - until_reset) < 120
        assert {p for p, r in answers if r.status_code == 429} == {0, 1}
        token_ids = {str(t.token_id) for t in tokens}
        billed = [e for e in billed_in_store(two.team.container) if e.token_id in token_ids]
        assert len(billed) == 7
    finally:
        store.delete(key)
        store.close()
