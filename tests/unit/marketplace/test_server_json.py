"""server.json: the official registry format in, ours out, and the round trip exact."""

from __future__ import annotations

from typing import Any

import pytest

from domain.marketplace import server_json
from domain.marketplace.application import Marketplace
from domain.marketplace.errors import InvalidServiceError
from tests.unit.marketplace.gwt import OWNER, PUBLISHER, new_marketplace, published

REGISTRY_DOC: dict[str, Any] = {
    "$schema": server_json.SCHEMA_URL,
    "name": "io.github.acme/Weather_Server",
    "title": "Weather",
    "description": "Forecasts for agents",
    "version": "1.2.0",
    "repository": {"url": "https://github.com/acme/weather", "source": "github"},
    "websiteUrl": "https://acme.dev/weather",
    "packages": [
        {
            "registryType": "npm",
            "identifier": "@acme/weather-mcp",
            "version": "1.2.0",
            "transport": {"type": "stdio"},
            "packageArguments": [
                {"type": "positional", "value": "serve"},
                {"type": "named", "name": "--units", "value": "metric"},
            ],
            "environmentVariables": [
                {"name": "WEATHER_KEY", "description": "API key", "isRequired": True,
                 "isSecret": True},
                {"name": "LOG_LEVEL", "value": "info"},
            ],
        }
    ],
}  # fmt: skip


def test_import_of_a_registry_document() -> None:
    name, details, version, release = server_json.parse(REGISTRY_DOC)
    assert (name, version) == ("weather-server", "1.2.0")
    assert details["display_name"] == "Weather"
    assert details["repository_url"] == "https://github.com/acme/weather"
    assert release["runtime"] == {
        "kind": "process",
        "transport": "stdio",
        "command": "weather-mcp",
        "package": {"registry": "npm", "name": "@acme/weather-mcp", "version": "1.2.0"},
        "args": ["serve", "--units", "metric"],
        "env": {"WEATHER_KEY": "{{config.WEATHER_KEY}}", "LOG_LEVEL": "info"},
    }
    assert release["config_schema"] == {
        "type": "object",
        "properties": {
            "WEATHER_KEY": {"type": "string", "description": "API key", "writeOnly": True}
        },
        "required": ["WEATHER_KEY"],
    }


def test_imported_documents_pass_the_marketplace_rules() -> None:
    app = new_marketplace()
    name, details, version, release = server_json.parse(REGISTRY_DOC)
    app.draft(name, PUBLISHER, "acme", OWNER, details)
    app.release(name, OWNER, version, release)
    assert app.service(name).latest_version == "1.2.0"


def test_oci_and_remote_documents() -> None:
    oci = {"name": "a/b", "version": "2.0.0",
           "packages": [{"registryType": "oci", "identifier": "acme/b"}]}  # fmt: skip
    assert server_json.parse(oci)[3]["runtime"]["image"] == "acme/b:2.0.0"
    url = "https://r.acme.dev/mcp"
    remote = {
        "name": "a/r",
        "version": "1.0.0",
        "remotes": [{"type": "streamable-http", "url": url}],
    }
    assert server_json.parse(remote)[3]["runtime"]["kind"] == "remote"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "server.json"),
        ({"name": "a/b"}, "version"),
        ({"name": "a/b", "version": "1.0.0"}, "packages"),
        ({"name": "a/b", "version": "1.0.0", "remotes": [{"type": "sse", "url": "https://x"}]},
         "remotes.0.type"),
        ({"name": "a/b", "version": "1.0.0",
          "packages": [{"registryType": "nuget", "identifier": "x"}]},
         "packages.0.registryType"),
    ],
)  # fmt: skip
def test_unusable_documents_point_at_the_field(doc: Any, field: str) -> None:
    with pytest.raises(InvalidServiceError) as caught:
        server_json.parse(doc)
    assert caught.value.field == field


def test_export_then_import_gives_the_same_service() -> None:
    app: Marketplace = new_marketplace()
    published(app)
    service = app.service("time")
    doc = server_json.export(service)
    assert doc["name"] == "one.mcps/time"
    assert doc["packages"][0]["identifier"] == "mcp-server-time"
    assert len(doc["description"]) <= server_json.REGISTRY_DESCRIPTION_LIMIT
    name, details, version, release = server_json.parse(doc)
    assert (name, version) == ("time", "1.0.0")
    assert {k: details[k] for k in service.details} == service.details
    assert release == {k: v for k, v in service.release_of("1.0.0").items() if k != "version"}
