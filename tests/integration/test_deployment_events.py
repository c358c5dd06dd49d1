"""Deployments' status as server-sent events, on a live server over real Postgres: a deploy,
a stop and a delete arrive on the tenant's stream and on the deployment's own, each as the
read model's row with a log position for its id; a reconnect with `Last-Event-ID` gets what
changed since (the current state when that is too much); other tenants' streams and bad ids
are refused. Every stream of a server waits on its one watcher (one LISTEN connection), which
outlives a lost connection and goes with the server.

The world (tests/integration/security_world.py): Alice owns team-a, Vic is a viewer there,
Bob owns team-b. No deployer runs, so a deployment stays `pending` until it is stopped.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import psycopg
import pytest

from api.deployment_watch import APPLICATION_NAME
from api.routes import deployment_events
from tests.integration.security_world import World, assert_problem, ok
from tests.integration.test_deployments_api import version_body
from tests.support import live_server

BASE = "/api/v1/tenants/team-a/deployments"
SECRET = "stream-secret-9a7b"


@pytest.fixture(scope="module")
def service(world: World) -> str:
    auth = world.alice["auth"]
    body = {
        "name": "ev-time",
        "publisher": "team-a",
        "display_name": "Events Time",
        "description": "Time for the status stream tests.",
        "category": "productivity",
        "tags": ["time"],
        "pricing": {"model": "FREE"},
    }
    ok(world.http.post("/api/v1/services", json=body, headers=auth), 201)
    ok(
        world.http.post(
            "/api/v1/services/ev-time/versions", json=version_body("1.0.0"), headers=auth
        ),
        201,
    )
    ok(world.http.post("/api/v1/services/ev-time/publish", headers=auth))
    return "ev-time"


class Events:
    """An SSE stream read in a thread: events (type, id, data) queue up as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.raw: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        event: dict[str, Any] = {}
        try:
            for line in self.response.iter_lines():
                self.raw.append(line)
                if line == "":
                    if "data" in event:
                        self.queue.put(event)
                    event = {}
                elif not line.startswith(":"):
                    field, _, value = line.partition(":")
                    event[field] = value.removeprefix(" ")
        except httpx.HTTPError:
            pass  # closed by the test

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        event = self.queue.get(timeout=timeout)
        return {
            "event": event.get("event"),
            "id": int(event["id"]),
            "data": json.loads(event["data"]),
        }

    def until(self, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every event up to and including the first that satisfies `predicate`."""
        seen = []
        while True:
            seen.append(self.next(timeout))
            if predicate(seen[-1]):
                return seen


@contextmanager
def stream(
    world: World, path: str, headers: dict[str, str], base_url: str | None = None
) -> Iterator[Events]:
    with (
        httpx.Client(base_url=base_url or str(world.http.base_url), timeout=30) as http,
        http.stream("GET", path, headers=headers) as r,
    ):
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        yield Events(r)


def deploy(world: World, name: str) -> dict[str, Any]:
    body = {"name": name, "service": "ev-time", "config": {"timezone": "UTC", "api_key": SECRET}}
    return ok(world.http.post(BASE, json=body, headers=world.alice["auth"]), 201)


def named(name: str, status: str | None = None, event: str = "deployment") -> Any:
    def match(e: dict[str, Any]) -> bool:
        data = e["data"]
        return (
            e["event"] == event
            and data["name"] == name
            and (status is None or data.get("status") == status)
        )

    return match


def test_a_deploy_stop_and_delete_arrive_in_order_on_the_tenant_stream(
    world: World, service: str
) -> None:
    auth = world.alice["auth"]
    with stream(world, f"{BASE}:events", auth) as events:
        accepted = deploy(world, "ticker")
        pending = events.until(named("ticker", "pending"))[-1]
        assert pending["id"] >= accepted["position"]
        assert pending["data"]["desired"] == "running"
        assert pending["data"]["config"] == {"timezone": "UTC", "api_key": "********"}
        # The same shape as reading the deployment.
        read = ok(world.http.get(f"{BASE}/ticker", headers=auth))
        assert pending["data"].keys() == read.keys()
        stopped = ok(world.http.post(f"{BASE}/ticker/stop", headers=auth))
        after_stop = events.until(named("ticker", "stopped"))[-1]
        assert after_stop["id"] >= stopped["position"] > pending["id"]
        assert after_stop["data"]["desired"] == "stopped"
        deleted = ok(world.http.delete(f"{BASE}/ticker", headers=auth))
        gone = events.until(named("ticker", event="deleted"))[-1]
        assert gone["id"] >= deleted["position"]
        assert gone["data"] == {"id": pending["data"]["id"], "name": "ticker"}
    assert all(SECRET not in line for line in events.raw)


def test_a_new_stream_opens_with_the_current_rows(world: World, service: str) -> None:
    accepted = deploy(world, "snap")
    ok(
        world.http.get(
            f"{BASE}/snap", params={"wait_for": accepted["position"]}, headers=world.alice["auth"]
        )
    )
    # Vic, a viewer, may follow too.
    with stream(world, f"{BASE}/snap/events", world.vic["auth"]) as events:
        first = events.next()
    assert first["event"] == "deployment"
    assert (first["data"]["name"], first["data"]["status"]) == ("snap", "pending")
    assert first["id"] >= accepted["position"]


def test_a_reconnect_with_last_event_id_gets_what_changed_meanwhile(
    world: World, service: str
) -> None:
    auth = world.alice["auth"]
    accepted = deploy(world, "resumer")
    with stream(world, f"{BASE}/resumer/events", auth) as events:
        last = events.until(lambda e: e["id"] >= accepted["position"])[-1]
    # Changes while no one listens: the deployment is stopped, and another one deployed.
    ok(world.http.post(f"{BASE}/resumer/stop", headers=auth))
    other = deploy(world, "bystander")
    headers = {**auth, "Last-Event-ID": str(last["id"])}
    with stream(world, f"{BASE}/resumer/events", headers) as events:
        resumed = events.next()
        assert (resumed["event"], resumed["data"]["status"]) == ("deployment", "stopped")
        assert resumed["id"] > last["id"]
    # The tenant's stream resumed from the same id brings both, the older change first.
    with stream(world, f"{BASE}:events", headers) as events:
        seen = events.until(named("bystander"))
    names = [e["data"]["name"] for e in seen]
    assert set(names) == {"resumer", "bystander"}  # only what changed: no snapshot
    assert names.index("resumer") < names.index("bystander")
    assert seen[-1]["id"] >= other["position"]
    assert [e["id"] for e in seen] == sorted(e["id"] for e in seen)


def test_a_deployment_deleted_while_no_one_listened_says_so_on_resume(
    world: World, service: str
) -> None:
    auth = world.alice["auth"]
    accepted = deploy(world, "goner")
    with stream(world, f"{BASE}/goner/events", auth) as events:
        last = events.until(lambda e: e["id"] >= accepted["position"])[-1]
    ok(world.http.delete(f"{BASE}/goner", headers=auth))
    headers = {**auth, "Last-Event-ID": str(last["id"])}
    with stream(world, f"{BASE}/goner/events", headers) as events:
        gone = events.until(named("goner", event="deleted"))[-1]
    assert gone["id"] > last["id"] and set(gone["data"]) == {"id", "name"}
    # A fresh stream of a deleted deployment is a 404, as reading it is.
    assert_problem(world.http.get(f"{BASE}/goner/events", headers=auth), 404)


def test_other_tenants_and_bad_ids_are_refused(world: World, service: str) -> None:
    deploy(world, "private")
    bob = world.bob["auth"]
    assert_problem(world.http.get(f"{BASE}:events", headers=bob), 404)
    assert_problem(world.http.get(f"{BASE}/private/events", headers=bob), 404)
    assert_problem(world.http.get(f"{BASE}:events"), 401)
    auth = world.alice["auth"]
    assert_problem(
        world.http.get(f"{BASE}/nothing-here/events", headers=auth), 404, "deployment.not_found"
    )
    for bad in ("abc", "-1", "1.5", "99999999999999"):
        r = world.http.get(f"{BASE}:events", headers={**auth, "Last-Event-ID": bad})
        assert_problem(r, 422, "validation_failed")
    # Bob's own stream shows nothing of team-a.
    with stream(world, "/api/v1/tenants/team-b/deployments:events", bob) as events:
        deploy(world, "unseen")
        with pytest.raises(queue.Empty):
            events.next(timeout=2.0)


def watchers(world: World) -> int:
    """The watchers' LISTEN connections to the world's database (one per serving app)."""
    with psycopg.connect(world.container.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            [APPLICATION_NAME],
        ).fetchone()
    assert row is not None
    return int(row[0])


def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def metric(world: World, name: str) -> float:
    for line in world.http.get("/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def test_streams_share_one_watcher_and_each_gets_a_change(world: World, service: str) -> None:
    alice, vic = world.alice["auth"], world.vic["auth"]
    with (
        stream(world, f"{BASE}:events", alice) as first,
        stream(world, f"{BASE}:events", vic) as second,
        stream(world, "/api/v1/tenants/team-b/deployments:events", world.bob["auth"]),
    ):
        accepted = deploy(world, "shared")
        for events in (first, second):
            seen = events.until(named("shared", "pending"))[-1]
            assert seen["id"] >= accepted["position"]
        # Three streams of two tenants, one watcher: one LISTEN connection for them all.
        assert watchers(world) == 1
        assert metric(world, "mcps_deployment_watchers") == 1
        assert metric(world, "mcps_deployment_streams") >= 3
        # And the next change reaches both again.
        stopped = ok(world.http.post(f"{BASE}/shared/stop", headers=alice))
        for events in (first, second):
            assert events.until(named("shared", "stopped"))[-1]["id"] >= stopped["position"]


def test_the_watcher_outlives_a_lost_connection(
    world: World, service: str, caplog: pytest.LogCaptureFixture
) -> None:
    auth = world.alice["auth"]
    with stream(world, f"{BASE}:events", auth) as events:
        until(lambda: watchers(world) == 1)
        with psycopg.connect(world.container.database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                [APPLICATION_NAME],
            )
        accepted = deploy(world, "survivor")
        seen = events.until(named("survivor", "pending"))[-1]
        assert seen["id"] >= accepted["position"]
    until(lambda: watchers(world) == 1)  # it connected again
    assert any("lost its connection" in r.getMessage() for r in caplog.records), caplog.text


@pytest.mark.parametrize("bound", ["RESUME_MAX_BEHIND", "RESUME_MAX_CHANGED"])
def test_a_resume_from_too_far_back_gets_the_current_state(
    world: World, service: str, bound: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = world.alice["auth"]
    still, kept, gone = (f"{what}-{bound[11:].lower()}" for what in ("still", "kept", "gone"))
    deploy(world, still)
    deploy(world, kept)
    accepted = deploy(world, gone)
    with stream(world, f"{BASE}/{gone}/events", auth) as events:
        last = events.until(lambda e: e["id"] >= accepted["position"])[-1]
    ok(world.http.post(f"{BASE}/{kept}/stop", headers=auth))
    ok(world.http.delete(f"{BASE}/{gone}", headers=auth))
    # Two deployments changed since `last`: over a bound of one (or of no log position).
    monkeypatch.setattr(deployment_events, bound, 0 if bound == "RESUME_MAX_BEHIND" else 1)
    headers = {**auth, "Last-Event-ID": str(last["id"])}
    with stream(world, f"{BASE}:events", headers) as events:
        seen: dict[str, dict[str, Any]] = {}

        def all_three(e: dict[str, Any]) -> bool:
            seen[e["data"]["name"]] = e
            return {still, kept, gone} <= seen.keys()

        events.until(all_three)
    # The state: the unchanged deployment too (a diff would not hold it), all at one position.
    assert (seen[still]["event"], seen[still]["data"]["status"]) == ("deployment", "pending")
    assert (seen[kept]["event"], seen[kept]["data"]["status"]) == ("deployment", "stopped")
    assert seen[gone]["event"] == "deleted"
    assert len({e["id"] for e in seen.values()}) == 1 and seen[gone]["id"] > last["id"]
    # The deployment's own stream says it is deleted, as a diff would.
    with stream(world, f"{BASE}/{gone}/events", headers) as events:
        assert events.until(named(gone, event="deleted"))[-1]["id"] > last["id"]


def test_a_server_stops_with_streams_open(world: World, service: str) -> None:
    before = watchers(world)
    auth = world.alice["auth"]
    with live_server(world.container) as base_url, ExitStack() as streams:
        opened = [
            streams.enter_context(stream(world, f"{BASE}:events", auth, base_url)) for _ in range(3)
        ]
        until(lambda: watchers(world) == before + 1)
        accepted = deploy(world, "last-one")
        for events in opened:
            assert events.until(named("last-one", "pending"))[-1]["id"] >= accepted["position"]
        # The server stops (`live_server` leaves) while the streams are still open.
        left_open = streams.pop_all()
    for events in opened:
        events.reader.join(timeout=15)
        assert not events.reader.is_alive()  # the server ended them
    left_open.close()
    until(lambda: watchers(world) == before)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/healthz", timeout=5)
