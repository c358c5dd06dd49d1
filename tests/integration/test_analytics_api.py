"""Usage analytics over HTTP: series and summaries from ClickHouse, who may read them, bad input.

One server for the module. Alice's team `acme` and Bob's team `bobco` call `weather`,
published by Carol's team `skyco`; calls are billed through `Billing.bill` as the gateway
does, and the usage sink is caught up before the tests read.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.billing.pricing import CallStatus
from infra.container import Container
from projections.usage import UsageSink
from tests.integration.catalogue_support import publish
from tests.integration.security_world import assert_problem, bearer, issue_token, ok, register
from tests.integration.usage_support import PRICING, Caller, Target
from tests.support import (
    Api,
    MailSink,
    live_server,
    mail_sink,
    make_settings,
    running_container,
    throwaway_database,
)
from workers.projector import SinkProjector

TOOLS = ("forecast", "alerts")


@dataclass
class World:
    api: Api
    container: Container
    alice: dict[str, Any]
    bob: dict[str, Any]
    carol: dict[str, Any]
    ids: dict[str, uuid.UUID]  # tenant ids by slug
    tokens: dict[str, uuid.UUID]  # the token ids that made acme's calls
    calls: dict[str, list[dict[str, Any]]]  # by caller slug: what each call was and cost

    @property
    def http(self) -> httpx.Client:
        return self.api.http


def _team(api: Api, who: dict[str, Any], slug: str) -> uuid.UUID:
    r = api.http.post("/api/v1/tenants", json={"slug": slug, "name": slug}, headers=who["auth"])
    return uuid.UUID(ok(r, 201)["id"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with throwaway_database() as url, mail_sink() as mail:
        settings = make_settings(
            url,
            tmp_path_factory.mktemp("analytics"),
            smtp_port=mail.port,
            clickhouse_database=f"t_analytics_{uuid.uuid4().hex[:12]}",
        )
        with running_container(settings) as container, live_server(container) as base_url:
            api = Api(base_url, mail)
            yield _build(api, mail, container)
            api.http.close()


def _build(api: Api, mail: MailSink, container: Container) -> World:
    alice, bob, carol = (register(api, n) for n in ("alice", "bob", "carol"))
    ids = {
        slug: _team(api, who, slug)
        for who, slug in ((alice, "acme"), (bob, "bobco"), (carol, "skyco"))
    }
    publish(container, "weather", (ids["skyco"], "skyco"), pricing=PRICING["paid"])
    service_id = container.marketplace.service("weather").id
    weather = {
        slug: Target(f"{slug}-weather", "weather", PRICING["paid"], service_id=service_id)
        for slug in ("acme", "bobco")
    }
    other = Target("maps", "maps", PRICING["freemium"])
    tokens = {"ci": uuid.uuid4(), "bot": uuid.uuid4()}
    caller = Caller(container)
    calls: dict[str, list[dict[str, Any]]] = {"acme": [], "bobco": []}
    plan = [  # (caller, target, tool, status, token, duration in ms)
        *[("acme", weather["acme"], "forecast", CallStatus.OK, "ci", 10) for _ in range(6)],
        *[("acme", weather["acme"], "alerts", CallStatus.OK, "bot", 30) for _ in range(3)],
        ("acme", weather["acme"], "forecast", CallStatus.TOOL_ERROR, None, 50),
        ("acme", weather["acme"], "forecast", CallStatus.TIMEOUT, "ci", 3000),
        *[("acme", other, "route", CallStatus.OK, None, 5) for _ in range(5)],
        *[("bobco", weather["bobco"], "forecast", CallStatus.OK, None, 20) for _ in range(4)],
        ("bobco", weather["bobco"], "alerts", CallStatus.UPSTREAM_ERROR, None, 100),
    ]
    for slug, target, tool, status, token, ms in plan:
        token_id = tokens[token] if token else None
        record = caller.bill(
            ids[slug], target, tool, status, token_id=token_id, duration_us=ms * 1000
        )
        calls[slug].append(
            {
                "service": target.service,
                "tool": tool,
                "status": status.value,
                "token": str(token_id) if token_id else "session",
                "deployment": target.deployment,
                "cost": record.charge.cost,
                "currency": record.charge.currency,
                "ms": ms,
            }
        )
    sink = UsageSink(
        container.clickhouse, container.db, database=container.settings.clickhouse_database
    )
    sink.create()
    SinkProjector(container.events, sink).catch_up()
    return World(api, container, alice, bob, carol, ids, tokens, calls)


def _get(world: World, path: str, who: dict[str, Any], **params: Any) -> httpx.Response:
    return world.http.get(path, params=params, headers=who["auth"])


def _points(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for s in body["series"] for p in s["points"]]


# --- a tenant's own analytics ----------------------------------------------------------------


def test_calls_per_hour_for_the_last_day_by_default(world: World) -> None:
    body = ok(_get(world, "/api/v1/tenants/acme/analytics/calls", world.alice))
    assert body["metric"] == "calls" and body["interval"] == "hour" and body["group_by"] is None
    start, end = datetime.fromisoformat(body["from"]), datetime.fromisoformat(body["to"])
    assert end - start == timedelta(hours=24) and end <= datetime.now(UTC)
    [series] = body["series"]
    assert series["group"] is None
    assert sum(p["calls"] for p in series["points"]) == len(world.calls["acme"]) == 16
    assert all(p.keys() == {"t", "calls"} for p in series["points"])
    assert body["summary"]["calls"] == 16
    top = body["summary"]["top_tools"]
    assert (top[0]["service"], top[0]["tool"], top[0]["calls"]) == ("weather", "forecast", 8)
    assert {(t["service"], t["tool"]) for t in top} == {
        ("weather", "forecast"),
        ("weather", "alerts"),
        ("maps", "route"),
    }


def test_group_by_tool_token_deployment_and_service(world: World) -> None:
    acme = world.calls["acme"]
    expected = {
        "tool": Counter(f"{c['service']}/{c['tool']}" for c in acme),
        "token": Counter(c["token"] for c in acme),
        "deployment": Counter(c["deployment"] for c in acme),
        "service": Counter(c["service"] for c in acme),
    }
    for group_by, counts in expected.items():
        body = ok(
            _get(world, "/api/v1/tenants/acme/analytics/calls", world.alice, group_by=group_by)
        )
        got = {s["group"]: sum(p["calls"] for p in s["points"]) for s in body["series"]}
        assert got == dict(counts), group_by
    assert "session" in expected["token"]


def test_latency_percentiles_in_milliseconds(world: World) -> None:
    body = ok(_get(world, "/api/v1/tenants/acme/analytics/latency", world.alice, group_by="tool"))
    routes = next(s for s in body["series"] if s["group"] == "maps/route")
    assert {(p["p50_ms"], p["p95_ms"], p["p99_ms"]) for p in routes["points"]} == {(5, 5, 5)}
    summary = body["summary"]
    assert summary["calls"] == 16
    assert 5 <= summary["p50_ms"] <= 30 and summary["p99_ms"] > 1000  # the timeout
    assert summary.keys() == {"calls", "p50_ms", "p95_ms", "p99_ms", "top_tools"}


def test_errors_count_every_call_that_did_not_end_ok(world: World) -> None:
    body = ok(_get(world, "/api/v1/tenants/acme/analytics/errors", world.alice, interval="day"))
    summary = body["summary"]
    assert (summary["calls"], summary["errors"]) == (16, 2)
    assert (summary["tool_errors"], summary["upstream_errors"], summary["timeouts"]) == (1, 0, 1)
    assert summary["error_rate"] == round(2 / 16, 4)
    assert sum(p["errors"] for p in _points(body)) == 2


def test_cost_is_an_exact_decimal_per_currency(world: World) -> None:
    body = ok(_get(world, "/api/v1/tenants/acme/analytics/cost", world.alice, interval="minute"))
    want: dict[str, Decimal] = {}
    for c in world.calls["acme"]:
        want[c["currency"]] = want.get(c["currency"], Decimal(0)) + c["cost"]
    totals = {t["currency"]: t["cost"] for t in body["summary"]["totals"]}
    assert totals == {k: f"{v:.4f}" for k, v in want.items()}
    assert totals["USD"] == "0.0250"  # 10 charged calls (ok and tool_error) at 0.0025
    assert totals["EUR"] == "0.0200"  # 5 maps calls at 0.0100, the first 3 free
    by_currency: dict[str, Decimal] = {}
    for p in _points(body):
        assert isinstance(p["cost"], str)
        by_currency[p["currency"]] = by_currency.get(p["currency"], Decimal(0)) + Decimal(p["cost"])
    assert by_currency == want
    free = {t["currency"]: t["free_calls"] for t in body["summary"]["totals"]}
    assert free == {"USD": 0, "EUR": 3}


def test_a_range_with_no_calls_has_an_empty_series(world: World) -> None:
    body = ok(
        _get(
            world,
            "/api/v1/tenants/acme/analytics/calls",
            world.alice,
            **{"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"},
        )
    )
    assert body["series"] == [{"group": None, "points": []}]
    assert body["summary"]["calls"] == 0 and body["summary"]["top_tools"] == []


# --- the publisher's view ---------------------------------------------------------------------


def test_a_publisher_sees_its_service_across_tenants_without_naming_them(world: World) -> None:
    weather = [c for calls in world.calls.values() for c in calls if c["service"] == "weather"]
    body = ok(_get(world, "/api/v1/services/weather/analytics/calls", world.carol, group_by="tool"))
    got = {s["group"]: sum(p["calls"] for p in s["points"]) for s in body["series"]}
    assert got == dict(Counter(f"weather/{c['tool']}" for c in weather))
    assert body["summary"]["calls"] == len(weather) == 16
    for metric in ("calls", "latency", "errors", "cost"):
        text = _get(world, f"/api/v1/services/weather/analytics/{metric}", world.carol).text
        secrets = [*map(str, world.ids.values()), *map(str, world.tokens.values())]
        secrets += ["acme-weather", "bobco-weather"]
        assert not [s for s in secrets if s in text], metric
    cost = ok(_get(world, "/api/v1/services/weather/analytics/cost", world.carol))
    assert cost["summary"]["totals"] == [
        {"calls": 16, "free_calls": 0, "cost": "0.0350", "currency": "USD"}
    ]


def test_a_publisher_cannot_group_by_its_callers(world: World) -> None:
    for group_by in ("deployment", "token"):
        r = _get(world, "/api/v1/services/weather/analytics/calls", world.carol, group_by=group_by)
        body = assert_problem(r, 422, "analytics.group_by_not_allowed")
        assert body["field"] == "group_by"


def test_only_the_publishers_members_read_a_service(world: World) -> None:
    r = _get(world, "/api/v1/services/weather/analytics/calls", world.alice)
    assert_problem(r, 403, "service.permission_denied")
    r = _get(world, "/api/v1/services/no-such-service/analytics/calls", world.carol)
    assert_problem(r, 404, "service.not_found")


# --- who may read, and bad input ------------------------------------------------------------


def test_another_tenant_finds_nothing(world: World) -> None:
    r = _get(world, "/api/v1/tenants/acme/analytics/calls", world.bob)
    assert_problem(r, 404, "tenant.not_found")
    r = world.http.get("/api/v1/tenants/acme/analytics/calls")
    assert_problem(r, 401)


def test_tokens_need_a_read_scope(world: World) -> None:
    reader = issue_token(world.api, world.alice, "acme", ["billing:read"])
    caller = issue_token(world.api, world.alice, "acme", ["mcp:execute"])
    other = issue_token(world.api, world.bob, "bobco", ["admin"])
    path = "/api/v1/tenants/acme/analytics/calls"
    assert ok(world.http.get(path, headers=bearer(reader["token"])))["summary"]["calls"] == 16
    assert_problem(
        world.http.get(path, headers=bearer(caller["token"])), 403, "token.scope_required"
    )
    assert_problem(world.http.get(path, headers=bearer(other["token"])), 404, "tenant.not_found")


def test_an_unknown_metric_is_not_found(world: World) -> None:
    for path in ("/api/v1/tenants/acme/analytics/bogus", "/api/v1/services/weather/analytics/x"):
        r = world.http.get(
            path, headers=world.carol["auth"] if "services" in path else world.alice["auth"]
        )
        body = assert_problem(r, 404, "analytics.unknown_metric")
        assert "calls, latency, errors, cost" in body["detail"]
    r = _get(world, "/api/v1/tenants/acme/analytics/" + "x" * 17, world.alice)
    assert assert_problem(r, 422, "validation_failed")["field"] == "metric"


@pytest.mark.parametrize(
    ("path", "params", "code", "field"),
    [
        ("calls", {"interval": "week"}, "validation_failed", "interval"),
        ("calls", {"group_by": "tenant"}, "validation_failed", "group_by"),
        ("calls", {"from": "yesterday"}, "validation_failed", "from"),
        (
            "calls",
            {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            "analytics.invalid_range",
            "to",
        ),
        (
            "calls",
            {"from": "2025-01-01T00:00:00Z", "to": "2026-02-06T00:00:00Z", "interval": "day"},
            "analytics.range_too_large",
            "from",
        ),
        (
            "latency",
            {"from": "2026-01-01T00:00:00Z", "to": "2026-01-08T00:00:00Z", "interval": "minute"},
            "analytics.range_too_large",
            "interval",
        ),
        ("calls", {"from": "2026-01-01T00:00:00"}, "analytics.invalid_range", None),
    ],
)
def test_bad_input_is_a_problem(
    world: World, path: str, params: dict[str, str], code: str, field: str | None
) -> None:
    r = _get(world, f"/api/v1/tenants/acme/analytics/{path}", world.alice, **params)
    body = assert_problem(r, 422, code)
    assert body.get("field") == field
