"""The template library, server.json import/export through the CLI, and introspection of real
MCP servers: a PyPI package installed on first use, and a remote one behind the SSRF guard.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain.marketplace.values import ServiceStatus
from infra.container import Container
from tests.integration.security_world import World, assert_problem, ok
from tests.support import mcp_http_server
from workers.catalog import PLATFORM_PUBLISHER, seed_templates
from workers.cli import app as cli

TEMPLATE_NAMES = {"time", "fetch", "git", "everything", "filesystem"}


def events(container: Container) -> int:
    return container.events.head()


def test_seeding_is_idempotent_and_installable(world: World) -> None:
    market = world.container.marketplace
    first = seed_templates(market)
    assert {s.name for s in first} == TEMPLATE_NAMES
    head = events(world.container)
    again = seed_templates(market)
    assert {s.outcome for s in again} == {"unchanged"}
    assert events(world.container) == head
    for name in TEMPLATE_NAMES:
        service = market.service(name)
        assert service.status is ServiceStatus.PUBLISHED
        assert service.publisher_slug == PLATFORM_PUBLISHER
        release = service.release_of(service.latest_version or "")
        assert release["runtime"]["package"]["registry"] in ("pypi", "npm")
        assert release["tools"], f"{name} lists its tools"


def test_a_template_cannot_be_changed_by_users(world: World) -> None:
    seed_templates(world.container.marketplace)
    r = world.http.patch(
        "/api/v1/services/time", json={"display_name": "Mine"}, headers=world.alice["auth"]
    )
    assert_problem(r, 403, "service.permission_denied")


def test_import_and_export_through_the_cli_round_trip(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", world.container.database_url)
    monkeypatch.setenv("MCPS_HOME", str(tmp_path))
    runner = CliRunner()
    doc = {
        "name": "io.github.acme/forecast",
        "title": "Forecast",
        "description": "Weather forecasts",
        "version": "0.3.0",
        "packages": [
            {
                "registryType": "pypi",
                "identifier": "acme-forecast",
                "version": "0.3.0",
                "transport": {"type": "stdio"},
                "environmentVariables": [{"name": "KEY", "isSecret": True, "isRequired": True}],
            }
        ],
    }
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "forecast.json").write_text(json.dumps(doc))
    broken = {
        "name": "x/broken",
        "version": "1",
        "packages": [{"registryType": "pypi", "identifier": "b"}],
    }
    (folder / "broken.json").write_text(json.dumps(broken))
    result = runner.invoke(
        cli, ["catalog", "import", str(folder), "--publisher", "team-a", "--json"]
    )
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert result.exit_code == 1, result.output  # one document was unusable
    assert {
        "file": str(folder / "broken.json"),
        "error": lines[0]["error"],
        "field": "version",
    } == lines[0]
    assert lines[1]["name"] == "forecast" and lines[1]["outcome"] == "drafted"
    assert_problem(
        world.http.get("/api/v1/services/broken/server.json", headers=world.alice["auth"]), 404
    )
    again = runner.invoke(
        cli, ["catalog", "import", str(folder / "forecast.json"), "--publisher", "team-a"]
    )
    assert again.exit_code == 0 and "unchanged" in again.output
    exported = runner.invoke(cli, ["catalog", "export", "forecast"])
    assert exported.exit_code == 0, exported.output
    out = json.loads(exported.output)
    assert out["packages"][0]["environmentVariables"] == [
        {"name": "KEY", "isRequired": True, "isSecret": True}
    ]
    via_api = ok(world.http.get("/api/v1/services/forecast/server.json"))
    assert via_api == out
    missing = runner.invoke(
        cli, ["catalog", "import", str(tmp_path / "nope.json"), "--publisher", "x"]
    )
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_introspection_installs_a_real_package_and_lists_its_tools(world: World) -> None:
    seed_templates(world.container.marketplace)
    service = world.container.marketplace.service("time")
    version = service.latest_version
    r = world.http.post(
        f"/api/v1/services/time/versions/{version}/introspect", headers=world.ops["auth"]
    )
    found = ok(r)
    assert found["server"]["name"] == "mcp-time"
    assert {t["name"] for t in found["tools"]} == {"get_current_time", "convert_time"}
    r = world.http.post(
        f"/api/v1/services/time/versions/{version}/introspect", headers=world.bob["auth"]
    )
    assert_problem(r, 403)


def test_remote_introspection_refuses_internal_addresses_unless_allowlisted(
    world: World,
) -> None:
    auth = world.alice["auth"]
    ok(
        world.http.post(
            "/api/v1/services",
            headers=auth,
            json={"name": "weather-remote", "publisher": "team-a", "display_name": "Weather"},
        ),
        201,
    )
    with mcp_http_server() as url:
        release = {"version": "1.0.0", "runtime": {"kind": "remote", "url": url}}
        ok(
            world.http.post("/api/v1/services/weather-remote/versions", json=release, headers=auth),
            201,
        )
        path = "/api/v1/services/weather-remote/versions/1.0.0/introspect"
        problem = assert_problem(
            world.http.post(path, headers=auth), 422, "runtime.address_blocked"
        )
        assert "127.0.0.1" in problem["detail"]
        world.container.settings.runtime.allowed_hosts = ["127.0.0.1"]
        try:
            found = ok(world.http.post(path, headers=auth))
        finally:
            world.container.settings.runtime.allowed_hosts = []
    assert found["server"]["name"] == "weather-test"
    tools = {t["name"]: t for t in found["tools"]}
    assert set(tools) == {"forecast", "alerts"}
    assert tools["forecast"]["input_schema"]["required"] == ["city"]
    service = world.container.marketplace.service("weather-remote")
    assert [t["name"] for t in service.release_of("1.0.0")["tools"]] == ["forecast", "alerts"]
