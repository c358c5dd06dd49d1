"""Listing rules: names, tags, links, prices, runtime specs, schemas and tools."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.marketplace.errors import InvalidServiceError
from domain.marketplace.specs import check_json_schema, check_runtime, check_tools, secret_fields
from domain.marketplace.values import check_name, check_pricing, check_tags, check_url


def field_of(call: Any, *args: Any) -> str | None:
    with pytest.raises(InvalidServiceError) as caught:
        call(*args)
    return caught.value.field


@pytest.mark.parametrize("name", ["time", "git", "a", "mcp-server-42", "x" * 64])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "Time", "-git", "git-", "a_b", "x" * 65, "时间", "a b"])
def test_bad_names_point_at_the_name(name: str) -> None:
    assert field_of(check_name, name) == "name"


def test_tags_are_lowercased_deduplicated_and_may_be_chinese() -> None:
    assert check_tags(["Time", "time", "时间", "c++"]) == ["time", "时间", "c++"]
    assert field_of(check_tags, ["ok", "no spaces"]) == "tags.1"
    assert field_of(check_tags, [f"t{i}" for i in range(13)]) == "tags"


@pytest.mark.parametrize(
    "url", ["ftp://x.org/a", "javascript:alert(1)", "https://", "http://a b.com", "x" * 3000]
)
def test_only_http_urls_with_a_host(url: str) -> None:
    assert field_of(check_url, url, "icon_url") == "icon_url"


def test_empty_url_means_none() -> None:
    assert check_url("", "icon_url") is None
    assert check_url("https://mcps.one/i.png", "icon_url") == "https://mcps.one/i.png"


def test_prices_are_exact_decimals_stored_as_strings() -> None:
    paid = check_pricing({"model": "paid", "price_per_request": "0.0025", "currency": "usd"})
    assert paid == {"model": "PAID", "currency": "USD", "price_per_request": "0.0025"}
    freemium = check_pricing(
        {"model": "FREEMIUM", "price_per_request": Decimal("0.01"), "free_calls_per_month": 1000}
    )
    assert freemium["free_calls_per_month"] == 1000
    assert check_pricing({"model": "FREE"}) == {"model": "FREE", "currency": "USD"}


@pytest.mark.parametrize(
    ("pricing", "field"),
    [
        ({"model": "GRATIS"}, "pricing.model"),
        ({"model": "PAID"}, "pricing.price_per_request"),
        ({"model": "PAID", "price_per_request": "-1"}, "pricing.price_per_request"),
        ({"model": "PAID", "price_per_request": "0.00001"}, "pricing.price_per_request"),
        ({"model": "PAID", "price_per_request": 0.1}, "pricing.price_per_request"),
        ({"model": "PAID", "price_per_request": "NaN"}, "pricing.price_per_request"),
        ({"model": "PAID", "price_per_request": "0"}, "pricing.price_per_request"),
        ({"model": "PAID", "price_per_request": "1", "currency": "XXX"}, "pricing.currency"),
        ({"model": "FREEMIUM", "price_per_request": "1"}, "pricing.free_calls_per_month"),
        ({"model": "FREE", "price_per_request": "1"}, "pricing.model"),
        ({"model": "PAID", "price_per_request": "1", "free_calls_per_month": 5},
         "pricing.free_calls_per_month"),
    ],
)  # fmt: skip
def test_bad_prices_point_at_the_field(pricing: dict[str, Any], field: str) -> None:
    assert field_of(check_pricing, pricing) == field


def test_runtime_placeholders_must_name_config_properties() -> None:
    schema = {"type": "object", "properties": {"token": {"type": "string"}}}
    runtime = {"kind": "process", "command": "srv", "env": {"TOKEN": "{{config.token}}"}}
    assert check_runtime(runtime, schema)["env"] == {"TOKEN": "{{config.token}}"}
    runtime["args"] = ["--key={{ config.missing }}"]
    assert field_of(check_runtime, runtime, schema) == "runtime.args.0"


@pytest.mark.parametrize(
    ("runtime", "field"),
    [
        ({"kind": "vm"}, "runtime.kind"),
        ({"kind": "docker", "image": "mcp/time"}, "runtime.image"),
        ({"kind": "docker", "image": "mcp/time:1", "transport": "streamable-http"},
         "runtime.port"),
        ({"kind": "process", "command": "rm -rf /"}, "runtime.command"),
        ({"kind": "process", "command": "x", "package": {"registry": "pypi", "name": "x"}},
         "runtime.package.version"),
        ({"kind": "process", "command": "x",
          "package": {"registry": "cargo", "name": "x", "version": "1"}},
         "runtime.package.registry"),
        ({"kind": "remote", "url": "file:///etc/passwd"}, "runtime.url"),
        ({"kind": "remote", "url": "https://x.org/mcp", "transport": "stdio"},
         "runtime.transport"),
        ({"kind": "process", "command": "x", "env": {"BAD NAME": "1"}}, "runtime.env"),
    ],
)  # fmt: skip
def test_bad_runtimes_point_at_the_field(runtime: dict[str, Any], field: str) -> None:
    assert field_of(check_runtime, runtime, {}) == field


def test_runtime_defaults() -> None:
    assert check_runtime({"kind": "docker", "image": "mcp/time@sha256:" + "a" * 64}, {}) == {
        "kind": "docker",
        "transport": "stdio",
        "image": "mcp/time@sha256:" + "a" * 64,
        "args": [],
        "env": {},
    }
    remote = check_runtime({"kind": "remote", "url": "https://x.org/mcp"}, {})
    assert remote == {"kind": "remote", "transport": "streamable-http", "url": "https://x.org/mcp"}


def test_config_schema_must_be_a_valid_object_schema() -> None:
    assert field_of(check_json_schema, {"type": "nope"}, "config_schema") == "config_schema"
    assert field_of(check_json_schema, {"type": "string"}, "config_schema") == "config_schema"
    assert field_of(check_json_schema, [], "config_schema") == "config_schema"
    big = {"type": "object", "description": "x" * 70_000}
    assert field_of(check_json_schema, big, "config_schema") == "config_schema"
    assert check_json_schema({}, "config_schema") == {}


def test_secret_fields_are_write_only_or_passwords() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "writeOnly": True},
            "b": {"type": "string", "format": "password"},
            "c": {"type": "string"},
        },
    }
    assert secret_fields(schema) == ["a", "b"]


def test_tools_are_named_once_with_object_schemas() -> None:
    tools = check_tools([{"name": "echo"}])
    assert tools == [{"name": "echo", "description": "", "input_schema": {"type": "object"}}]
    assert field_of(check_tools, [{"name": "a"}, {"name": "a"}]) == "tools.1.name"
    assert field_of(check_tools, [{"name": "bad name"}]) == "tools.0.name"
    bad_schema = [{"name": "a", "input_schema": {"type": 5}}]
    assert field_of(check_tools, bad_schema) == "tools.0.input_schema"
