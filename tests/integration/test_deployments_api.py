"""Deployment commands and the deployments read model over HTTP, without a deployer running:
who may deploy, what bad input gets (and that it records nothing), secrets never read back,
batch results, upgrade and rollback history, and what the catalogue counts.

The world (tests/integration/security_world.py): Alice owns team-a, Vic is a viewer there,
Bob owns team-b. Alice publishes `dep-time` with versions 1.0.0 and 1.1.0.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.security_world import World, assert_problem, bearer, issue_token, ok

BASE = "/api/v1/tenants/team-a/deployments"
CANARY = "canary-secret-4f1c9e"


def version_body(version: str) -> dict[str, Any]:
    return {
        "version": version,
        "changelog": f"release {version}",
        "runtime": {
            "kind": "process",
            "command": "mcp-server-time",
            "package": {"registry": "pypi", "name": "mcp-server-time", "version": "2026.10.19"},
            "args": ["--local-timezone={{config.timezone}}"],
            "env": {"API_KEY": "{{config.api_key}}"},
        },
        "config_schema": {
            "type": "object",
            "properties": {
                "timezone": {"type": "string", "minLength": 3},
                "api_key": {"type": "string", "writeOnly": True},
            },
            "required": ["timezone"],
        },
        "tools": [{"name": "get_current_time", "input_schema": {"type": "object"}}],
    }


@pytest.fixture(scope="module")
def service(world: World) -> str:
    auth = world.alice["auth"]
    body = {
        "name": "dep-time",
        "publisher": "team-a",
        "display_name": "Dep Time",
        "description": "Time for deployment tests.",
        "category": "productivity",
        "tags": ["time"],
        "pricing": {"model": "FREE"},
    }
    ok(world.http.post("/api/v1/services", json=body, headers=auth), 201)
    for version in ("1.0.0", "1.1.0"):
        r = world.http.post(
            "/api/v1/services/dep-time/versions", json=version_body(version), headers=auth
        )
        ok(r, 201)
    ok(world.http.post("/api/v1/services/dep-time/publish", headers=auth))
    return "dep-time"


def deploy(world: World, name: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "service": "dep-time",
        "version": "1.0.0",
        "config": {"timezone": "Asia/Shanghai", "api_key": CANARY},
        **extra,
    }
    return ok(world.http.post(BASE, json=body, headers=world.alice["auth"]), 201)


def read(world: World, name: str, position: int) -> dict[str, Any]:
    r = world.http.get(f"{BASE}/{name}", params={"wait_for": position}, headers=world.alice["auth"])
    return ok(r)


def test_a_deployment_reads_back_pending_with_its_secret_masked(world: World, service: str) -> None:
    accepted = deploy(world, "clock")
    shown = read(world, "clock", accepted["position"])
    assert shown["status"] == "pending"
    assert shown["desired"] == "running"
    assert (shown["version"], shown["replicas"], shown["ready_replicas"]) == ("1.0.0", 1, 0)
    assert shown["config"] == {"timezone": "Asia/Shanghai", "api_key": "********"}
    assert shown["instances"] == []
    listed = ok(world.http.get(BASE, headers=world.alice["auth"]))
    assert "clock" in [d["name"] for d in listed["data"]]
    # The secret is sealed in the event itself, not only masked on the way out.
    with world.container.db.connect_owner() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM mcps_events WHERE convert_from(state, 'UTF8') LIKE %s",
            [f"%{CANARY}%"],
        ).fetchone()
    assert row is not None and row["n"] == 0


def test_bad_input_gets_a_problem_and_records_nothing(world: World, service: str) -> None:
    before = world.events()
    auth = world.alice["auth"]
    cases = [
        ({"name": "Bad_Name", "service": "dep-time", "config": {"timezone": "UTC"}}, 422, None),
        ({"name": "no-tz", "service": "dep-time", "config": {}}, 422, "deployment.invalid_config"),
        (
            {"name": "short-tz", "service": "dep-time", "config": {"timezone": "U"}},
            422,
            "deployment.invalid_config",
        ),
        (
            {"name": "nul", "service": "dep-time", "config": {"timezone": "UTC\x00"}},
            422,
            "deployment.invalid_config",
        ),
        (
            {"name": "many", "service": "dep-time", "config": {"timezone": "UTC"}, "replicas": 99},
            422,
            "deployment.replica_limit",
        ),
        (
            {"name": "zero", "service": "dep-time", "config": {"timezone": "UTC"}, "replicas": 0},
            422,
            None,
        ),
        ({"name": "ghost", "service": "no-such-service", "config": {}}, 404, None),
        (
            {"name": "old", "service": "dep-time", "version": "9.9.9", "config": {}},
            404,
            None,
        ),
        ({"name": "x", "service": "dep-time", "config": {}, "surprise": 1}, 422, None),
    ]
    for body, status, code in cases:
        problem = assert_problem(world.http.post(BASE, json=body, headers=auth), status, code)
        if code == "deployment.invalid_config":
            assert problem["field"].startswith("config"), problem
    assert world.events() == before


def test_a_bare_command_is_not_run_unless_an_operator_allows_it(world: World) -> None:
    auth = world.alice["auth"]
    body = {
        "name": "dep-bare",
        "publisher": "team-a",
        "display_name": "Bare",
        "description": "A command on our host.",
        "category": "other",
        "tags": [],
        "pricing": {"model": "FREE"},
    }
    ok(world.http.post("/api/v1/services", json=body, headers=auth), 201)
    release = {**version_body("1.0.0"), "runtime": {"kind": "process", "command": "/bin/sh"}}
    ok(world.http.post("/api/v1/services/dep-bare/versions", json=release, headers=auth), 201)
    ok(world.http.post("/api/v1/services/dep-bare/publish", headers=auth))
    before = world.events()
    body = {"name": "shell", "service": "dep-bare", "config": {"timezone": "UTC"}}
    r = world.http.post(BASE, json=body, headers=auth)
    assert assert_problem(r, 422, "runtime.not_allowed")["field"] == "service"
    assert world.events() == before


def test_a_taken_name_is_a_conflict(world: World, service: str) -> None:
    deploy(world, "twice")
    body = {"name": "twice", "service": "dep-time", "config": {"timezone": "UTC"}}
    r = world.http.post(BASE, json=body, headers=world.alice["auth"])
    assert_problem(r, 409, "deployment.name_taken")


def test_who_may_deploy(world: World, service: str) -> None:
    body = {"name": "perm", "service": "dep-time", "config": {"timezone": "UTC"}}
    assert_problem(world.http.post(BASE, json=body, headers=world.vic["auth"]), 403)
    viewer_token = bearer(world.a_token["token"])
    assert_problem(world.http.post(BASE, json=body, headers=viewer_token), 403)
    assert_problem(world.http.post(BASE, json=body, headers=world.bob["auth"]), 404)
    assert_problem(world.http.post(BASE, json=body), 401)
    deploy_token = issue_token(world.api, world.alice, "team-a", ["deploy:write"])
    ok(world.http.post(BASE, json=body, headers=bearer(deploy_token["token"])), 201)
    # Others cannot read it; a viewer can.
    assert_problem(world.http.get(f"{BASE}/perm", headers=world.bob["auth"]), 404)
    assert_problem(world.http.get(BASE, headers=world.bob["auth"]), 404)
    assert ok(world.http.get(BASE, headers=world.vic["auth"]))["data"] is not None
    other = world.http.get("/api/v1/tenants/team-b/deployments", headers=world.bob["auth"])
    assert "perm" not in [d["name"] for d in ok(other)["data"]]


def test_upgrade_roll_back_scale_stop_start(world: World, service: str) -> None:
    deploy(world, "rolling")
    auth = world.alice["auth"]
    ok(world.http.post(f"{BASE}/rolling/upgrade", json={}, headers=auth))
    shown = read(
        world,
        "rolling",
        ok(world.http.post(f"{BASE}/rolling/scale", json={"replicas": 2}, headers=auth))[
            "position"
        ],
    )
    assert (shown["version"], shown["replicas"]) == ("1.1.0", 2)
    assert shown["previous_versions"] == ["1.0.0"]
    assert shown["config"]["api_key"] == "********"  # carried over, still sealed
    r = world.http.post(f"{BASE}/rolling/upgrade", json={"version": "1.1.0"}, headers=auth)
    assert_problem(r, 409, "deployment.invalid_state")
    back = ok(world.http.post(f"{BASE}/rolling/rollback", headers=auth))
    shown = read(world, "rolling", back["position"])
    assert (shown["version"], shown["previous_versions"]) == ("1.0.0", [])
    assert_problem(world.http.post(f"{BASE}/rolling/rollback", headers=auth), 409)
    stopped = ok(world.http.post(f"{BASE}/rolling/stop", headers=auth))
    assert read(world, "rolling", stopped["position"])["status"] == "stopped"
    assert_problem(world.http.post(f"{BASE}/rolling/restart", headers=auth), 409)
    started = ok(world.http.post(f"{BASE}/rolling/start", headers=auth))
    assert read(world, "rolling", started["position"])["status"] == "pending"


def test_reconfigure_keeps_a_masked_secret(world: World, service: str) -> None:
    deploy(world, "reconf")
    auth = world.alice["auth"]
    body = {"config": {"timezone": "Europe/Paris", "api_key": "********"}}
    done = ok(world.http.patch(f"{BASE}/reconf", json=body, headers=auth))
    shown = read(world, "reconf", done["position"])
    assert shown["config"] == {"timezone": "Europe/Paris", "api_key": "********"}
    assert shown["generation"] == 2
    deployment = world.container.deployments.deployment(
        world.container.tenancy.tenant_by_slug("team-a").id, "reconf"
    )
    assert world.container.deployments.runtime_config(deployment)["api_key"] == CANARY


def test_batch_gives_one_result_per_name(world: World, service: str) -> None:
    deploy(world, "batch-a")
    deploy(world, "batch-b")
    body = {"action": "stop", "names": ["batch-a", "missing", "batch-b"]}
    r = ok(world.http.post(f"{BASE}:batch", json=body, headers=world.alice["auth"]))
    assert [(i["name"], i["ok"], i["status"]) for i in r["results"]] == [
        ("batch-a", True, 200),
        ("missing", False, 404),
        ("batch-b", True, 200),
    ]
    assert r["results"][1]["code"] == "deployment.not_found"
    assert (r["succeeded"], r["failed"]) == (2, 1)
    last = r["results"][2]["position"]
    assert read(world, "batch-a", last)["status"] == "stopped"
    assert read(world, "batch-b", last)["status"] == "stopped"
    bad = {"action": "explode", "names": ["batch-a"]}
    assert_problem(world.http.post(f"{BASE}:batch", json=bad, headers=world.alice["auth"]), 422)
    viewer = world.http.post(f"{BASE}:batch", json=body, headers=world.vic["auth"])
    assert_problem(viewer, 403)


def test_delete_then_deploy_again_and_the_catalogue_counts(world: World, service: str) -> None:
    def count(position: int) -> int:
        r = world.http.get("/api/v1/services/dep-time", params={"wait_for": position})
        return int(ok(r)["deployment_count"])

    first = deploy(world, "again")
    before = count(first["position"])
    gone = ok(world.http.delete(f"{BASE}/again", headers=world.alice["auth"]))
    assert count(gone["position"]) == before - 1
    r = world.http.get(f"{BASE}/again", params={"wait_for": gone["position"]})
    assert_problem(r, 401)
    missing = world.http.get(
        f"{BASE}/again", params={"wait_for": gone["position"]}, headers=world.alice["auth"]
    )
    assert_problem(missing, 404, "deployment.not_found")
    again = deploy(world, "again", version="1.1.0")
    assert count(again["position"]) == before
    assert read(world, "again", again["position"])["version"] == "1.1.0"
