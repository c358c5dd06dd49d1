"""10,000 tool calls through the REST gateway are billed exactly once each, and the usage in
ClickHouse adds up to the money in the event store: after the usage sink process is killed
with SIGKILL while the calls stream in, and again after a replay from the start of the log.

Everything is a real process of the product: the toy stdio server behind its bridge (the
deployer in this process runs it), `mcps-server api` (its own process, Redis limits raised so
none refuses), and `mcps-server sink usage` (its own process, its own chDB folder, which a
checker process reads once the sink has stopped). Two teams call a FREEMIUM deployment each,
so each pays for all but its free calls, and a call billed to the wrong team shows in the sums.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.tenancy.application import IssuedToken
from projections.usage import UsageSink
from projections.usage_queries import totals
from tests.integration.deployer_support import DeployWorld, deploy_world, package_store
from tests.integration.gateway_support import FREE_CALLS, PAID_PRICE, publish_freemium_toy
from tests.integration.processes_support import (
    api_processes,
    calling_token,
    deployed,
    deployer,
    new_team,
    product_env,
    sink_position,
    sink_totals,
    start_sink,
    wait_until,
)
from tests.integration.usage_support import billed_in_store
from tests.support import require_env
from workers.projector import SinkProjector

CALLS = 10_000
#: Batch requests of 25 calls, four at once: at most 100 calls in flight in the API process.
#: More would exhaust the rate limiter's Redis connection pool (100 connections) and answer
#: whole batches with a 500 (`test_concurrent_batches_beyond_the_redis_pool_...` below).
BATCH = 25
IN_FLIGHT = 4
UNLIMITED = {
    f"MCPS_GATEWAY__{name}": "1000000"
    for name in ("TOKEN_RATE_PER_SECOND", "TOKEN_BURST", "TENANT_RATE_PER_SECOND", "TENANT_BURST")
}


@dataclass
class Team:
    world: DeployWorld
    token: IssuedToken

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.world.tenant.id


@dataclass
class Stack:
    world: DeployWorld
    base_url: str
    home: Path

    def teams(self, *names: str) -> list[Team]:
        """New teams, each with a running `toy-plus` (FREEMIUM) and a calling token."""
        teams = [new_team(self.world, name) for name in names]
        deployed(*((t, "toy-plus", "toy-plus") for t in teams))
        return [Team(t, calling_token(t)) for t in teams]


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """The FREEMIUM toy published, the deployer running, and one API process (Redis limits,
    raised out of the way)."""
    require_env("REDIS_URL")
    home = tmp_path_factory.mktemp("durability")
    (home / "world").mkdir()
    with deploy_world(home / "world", package_store(request)) as world:
        publish_freemium_toy(world)
        with (
            deployer(world),
            api_processes(world.container, home, 1, **UNLIMITED) as (base_url,),
        ):
            yield Stack(world, base_url, home)


@pytest.fixture(scope="module")
def pair(stack: Stack) -> list[Team]:
    return stack.teams("alphas", "betas")


def _batch(base_url: str, team: Team, first: int, size: int = BATCH) -> list[dict[str, Any]]:
    calls = [
        {"name": "toy-plus", "method": "echo", "params": {"text": f"c{first + i}"}}
        for i in range(size)
    ]
    headers = {"Authorization": f"Bearer {team.token.token}"}
    r = httpx.post(
        f"{base_url}/api/v1/mcp/batch", json={"calls": calls}, headers=headers, timeout=300
    )
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ten_thousand_calls_bill_once_through_a_sink_kill_and_a_replay(stack: Stack) -> None:
    teams = stack.teams("payers", "spenders")
    started = time.monotonic()
    container = stack.world.container
    tenants = [t.tenant_id for t in teams]
    before = container.events.head()
    billed_before = {e.originator_id for e in billed_in_store(container)}
    database = f"t_usage_{uuid.uuid4().hex[:12]}"
    sink_env = product_env(container, stack.home / "sink", MCPS_CLICKHOUSE_DATABASE=database)
    sink_log = stack.home / "sink.log"

    with ExitStack() as cleanup, ThreadPoolExecutor(IN_FLIGHT) as pool:
        first_sink = start_sink(sink_env, sink_log, batch_size=500)
        cleanup.callback(first_sink.stop)
        batches: list[Future[list[dict[str, Any]]]] = [
            pool.submit(_batch, stack.base_url, teams[n % len(teams)], n * BATCH)
            for n in range(CALLS // BATCH)
        ]
        # The sink is killed mid-stream: it has projected some of the calls, more come.
        wait_until(
            "the first sink's progress", lambda: sink_position(container) >= before + 1500, 600
        )
        first_sink.kill9()  # no flush, no checkpoint, no goodbye
        killed_at = sink_position(container)
        assert sum(b.done() for b in batches) < len(batches) // 2, "calls ended too soon"
        wait_until(
            "calls billed while no sink runs",
            lambda: container.events.head() >= killed_at + 1000,
            timeout=600,
        )
        second_sink = start_sink(sink_env, sink_log, batch_size=500)
        cleanup.callback(second_sink.stop)
        results = [r for b in batches for r in b.result()]
        calls_took = time.monotonic() - started

        failed = [r for r in results if r["status"] != 200 or not r["result"]["success"]]
        assert len(results) == CALLS and not failed, failed[:3]
        head = container.events.head()
        wait_until("the second sink to catch up", lambda: sink_position(container) >= head, 300)
        assert second_sink.stop() == 0, second_sink.tail()

    # The store: exactly one `Call.Billed` per call, each tenant paying past its free calls.
    billed = [e for e in billed_in_store(container) if e.originator_id not in billed_before]
    called = {r["result"]["call_id"] for r in results}
    assert len(billed) == CALLS
    assert {str(e.originator_id) for e in billed} == called
    paid = (CALLS // len(teams) - FREE_CALLS) * PAID_PRICE
    assert _sum(billed) == (CALLS, len(teams) * paid)
    # Per tenant, the store and ClickHouse must agree on whatever the events say; that each
    # event names its caller's tenant is `test_concurrent_calls_of_two_teams_...` below.
    store = {str(t): _sum([e for e in billed if e.tenant_id == str(t)]) for t in tenants}
    assert sum(count for count, _ in store.values()) == CALLS
    # Calls other tests of this module made count in the totals over all tenants.
    store["all"] = _sum(billed_in_store(container))
    called |= {str(i) for i in billed_before}

    # ClickHouse, as the killed and restarted sink left it.
    found = sink_totals(sink_env, database, tenants)
    assert found.totals == store
    assert found.call_ids == called
    assert found.stored_rows >= len(called)  # more if the kill left a batch to send again

    # A replay from the start of the log into a fresh ClickHouse database: the same.
    with container.db.owner.connection() as conn:
        conn.execute("UPDATE usage.tracking SET position = 0")
    replayed = UsageSink(container.clickhouse, container.db, database=f"{database}_replay")
    replayed.create()
    SinkProjector(container.events, replayed, batch_size=1000).catch_up()
    again = {str(t): totals(replayed.client, replayed.database, t) for t in tenants}
    again["all"] = totals(replayed.client, replayed.database)
    assert again == store
    ids = replayed.client.query(f"SELECT toString(call_id) FROM {replayed.qualified} FINAL")
    assert {row[0] for row in ids.result_rows} == called
    assert sink_position(container) >= head
    print(
        f"\n{CALLS} calls in {calls_took:.1f} s ({CALLS / calls_took:.0f}/s);"
        f" sink killed at {killed_at - before} of {head - before} positions;"
        f" {found.stored_rows} rows stored; whole test {time.monotonic() - started:.1f} s"
    )


def test_concurrent_calls_of_two_teams_are_billed_each_to_its_own(
    stack: Stack, pair: list[Team]
) -> None:
    """Calls that finish together are billed together (group commit); each event still
    carries its own caller's tenant, token and actor, and each team pays for its own calls."""
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        batches = [
            (team, pool.submit(_batch, stack.base_url, team, n * BATCH))
            for n in range(4)
            for team in pair
        ]
    billed = {str(e.originator_id): e for e in billed_in_store(stack.world.container)}
    wrong = []
    for team, batch in batches:
        for result in batch.result():
            assert result["status"] == 200, result
            event = billed[result["result"]["call_id"]]
            facts = (event.tenant_id, event.token_id, event.actor)
            token_id = team.token.token_id
            if facts != (str(team.tenant_id), str(token_id), f"token:{token_id}"):
                wrong.append(facts)
    assert not wrong, (
        f"{len(wrong)} of {8 * BATCH} calls billed to another caller, e.g. {wrong[:2]}"
    )
    for team in pair:
        mine = [e for e in billed.values() if e.tenant_id == str(team.tenant_id)]
        assert _sum(mine) == (4 * BATCH, (4 * BATCH - FREE_CALLS) * PAID_PRICE)


def test_concurrent_batches_beyond_the_redis_pool_are_answered_per_call(
    stack: Stack, pair: list[Team]
) -> None:
    """Eight batches of 100 at once (a tool the server lacks: refused after admission, so
    nothing is sent or billed); every call gets its own answer, never a 500 for a batch."""
    calls = [{"name": "toy-plus", "method": "no_such_tool", "params": {}}] * 100
    headers = {"Authorization": f"Bearer {pair[0].token.token}"}

    async def round_of(http: httpx.AsyncClient) -> list[httpx.Response]:
        return await asyncio.gather(
            *(http.post("/api/v1/mcp/batch", json={"calls": calls}) for _ in range(8))
        )

    async def rounds() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(
            base_url=stack.base_url, headers=headers, timeout=120, limits=limits
        ) as http:
            answered = []
            for _ in range(3):
                answered += await round_of(http)
            return answered

    answered = asyncio.run(rounds())
    assert [r.status_code for r in answered] == [200] * len(answered), next(
        r.text for r in answered if r.status_code != 200
    )
    statuses = {x["status"] for r in answered for x in r.json()["results"]}
    assert statuses == {404}


def _sum(events: list[Any]) -> tuple[int, Decimal]:
    return len(events), sum((Decimal(e.cost) for e in events), Decimal(0))
