"""What a version carries: how to run it (runtime spec), how to configure it, and its tools.

Each check returns the canonical form stored in the `VersionReleased` event, or raises an
`InvalidServiceError` naming the field at fault (dotted path, as the API reports it).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from domain.marketplace.errors import InvalidServiceError
from domain.marketplace.values import check_url
from domain.shared.json_values import contains_nul

IMAGE_PATTERN = re.compile(
    r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*"
    r"(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$"
)
COMMAND_PATTERN = re.compile(r"^[\w./@+-]{1,200}$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
PYPI_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
NPM_NAME = re.compile(r"^(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]{0,213}$")
PINNED_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+-]{0,63}$")
#: `{{config.api_key}}` in args and env is filled from the deployment's configuration.
PLACEHOLDER = re.compile(r"\{\{\s*config\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
MAX_ARGS = 64
MAX_ENV = 64
MAX_TOOLS = 500
MAX_SCHEMA_BYTES = 64 * 1024
MAX_TOOLS_BYTES = 512 * 1024


class RuntimeKind(StrEnum):
    DOCKER = "docker"
    PROCESS = "process"
    REMOTE = "remote"


class Transport(StrEnum):
    STDIO = "stdio"
    STREAMABLE_HTTP = "streamable-http"


class PackageRegistry(StrEnum):
    PYPI = "pypi"
    NPM = "npm"


def _fail(message: str, field: str) -> InvalidServiceError:
    return InvalidServiceError(message, field=field)


def _enum(kind: type[StrEnum], value: Any, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise _fail(f"{field} must be one of: {allowed}", field) from None


def check_runtime(runtime: dict[str, Any], config_schema: dict[str, Any]) -> dict[str, Any]:
    kind = _enum(RuntimeKind, runtime.get("kind"), "runtime.kind")
    default = Transport.STREAMABLE_HTTP if kind is RuntimeKind.REMOTE else Transport.STDIO
    transport = _enum(Transport, runtime.get("transport") or default, "runtime.transport")
    spec: dict[str, Any] = {"kind": kind.value, "transport": transport.value}
    if kind is RuntimeKind.REMOTE:
        if transport is not Transport.STREAMABLE_HTTP:
            raise _fail("a remote runtime speaks streamable-http", "runtime.transport")
        spec["url"] = check_url(runtime.get("url"), "runtime.url")
        if spec["url"] is None:
            raise _fail("a remote runtime needs a url", "runtime.url")
        return spec
    if kind is RuntimeKind.DOCKER:
        image = runtime.get("image")
        if not isinstance(image, str) or not IMAGE_PATTERN.fullmatch(image):
            raise _fail(
                "image must name a tag or a digest, such as mcp/time:1.2 or name@sha256:…",
                "runtime.image",
            )
        spec["image"] = image
        if transport is Transport.STREAMABLE_HTTP:
            port = runtime.get("port")
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise _fail("a streamable-http container needs its port", "runtime.port")
            spec["port"] = port
    else:
        if runtime.get("package") is not None:
            spec["package"] = check_package(runtime["package"])
        command = runtime.get("command")
        if not isinstance(command, str) or not COMMAND_PATTERN.fullmatch(command):
            raise _fail(
                "a process runtime needs a command (no spaces; args go in args)", "runtime.command"
            )
        if "package" in spec and "/" in command:
            raise _fail("with a package, command names one of its executables", "runtime.command")
        spec["command"] = command
    properties = set((config_schema.get("properties") or {}).keys())
    spec["args"] = _check_args(runtime.get("args") or [], properties)
    spec["env"] = _check_env(runtime.get("env") or {}, properties)
    return spec


def check_package(package: Any) -> dict[str, str]:
    """A pinned PyPI distribution or npm package, installed once per version."""
    if not isinstance(package, dict):
        raise _fail("package is {registry, name, version}", "runtime.package")
    registry = _enum(PackageRegistry, package.get("registry"), "runtime.package.registry")
    name = package.get("name")
    pattern = PYPI_NAME if registry is PackageRegistry.PYPI else NPM_NAME
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise _fail(f"not a valid {registry.value} package name", "runtime.package.name")
    version = package.get("version")
    if not isinstance(version, str) or not PINNED_VERSION.fullmatch(version):
        raise _fail("the package must be pinned to one version", "runtime.package.version")
    return {"registry": registry.value, "name": name, "version": version}


def _check_placeholders(value: str, properties: set[str], field: str) -> None:
    for key in PLACEHOLDER.findall(value):
        if key not in properties:
            raise _fail(f"{{{{config.{key}}}}} is not a property of config_schema", field)


def _check_args(args: Any, properties: set[str]) -> list[str]:
    if not isinstance(args, list) or len(args) > MAX_ARGS:
        raise _fail(f"args is a list of at most {MAX_ARGS} strings", "runtime.args")
    for i, arg in enumerate(args):
        if not isinstance(arg, str) or len(arg) > 1000 or "\x00" in arg:
            raise _fail("each arg is a string of at most 1000 characters", f"runtime.args.{i}")
        _check_placeholders(arg, properties, f"runtime.args.{i}")
    return list(args)


def _check_env(env: Any, properties: set[str]) -> dict[str, str]:
    if not isinstance(env, dict) or len(env) > MAX_ENV:
        raise _fail(f"env maps at most {MAX_ENV} names to strings", "runtime.env")
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME_PATTERN.fullmatch(name):
            raise _fail("an environment variable name is letters, digits and _", "runtime.env")
        if not isinstance(value, str) or len(value) > 4000 or "\x00" in value:
            raise _fail(
                "each env value is a string of at most 4000 characters", f"runtime.env.{name}"
            )
        _check_placeholders(value, properties, f"runtime.env.{name}")
    return dict(env)


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode())


def check_json_schema(schema: Any, field: str, *, limit: int = MAX_SCHEMA_BYTES) -> dict[str, Any]:
    """A valid Draft 2020-12 schema describing an object (an empty schema means "anything")."""
    if not isinstance(schema, dict):
        raise _fail("must be a JSON Schema object", field)
    if _size(schema) > limit:
        raise _fail(f"is larger than {limit // 1024} KiB", field)
    if contains_nul(schema):
        raise _fail("must not contain NUL characters", field)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(p) for p in error.path)
        detail = f" (at {where})" if where else ""
        raise _fail(f"is not a valid JSON Schema: {error.message}{detail}", field) from None
    if schema and schema.get("type", "object") != "object":
        raise _fail("must describe an object (type: object)", field)
    return schema


def secret_fields(config_schema: dict[str, Any]) -> list[str]:
    """Top-level properties to seal at rest and never echo: writeOnly or format: password."""
    properties = config_schema.get("properties") or {}
    return sorted(key for key, prop in properties.items() if _is_secret(prop))


def _is_secret(prop: Any) -> bool:
    return isinstance(prop, dict) and (
        prop.get("writeOnly") is True or prop.get("format") == "password"
    )


def check_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list) or len(tools) > MAX_TOOLS:
        raise _fail(f"tools is a list of at most {MAX_TOOLS}", "tools")
    if _size(tools) > MAX_TOOLS_BYTES:
        raise _fail(f"tools are larger than {MAX_TOOLS_BYTES // 1024} KiB", "tools")
    if contains_nul(tools):
        raise _fail("tools must not contain NUL characters", "tools")
    seen: set[str] = set()
    canonical = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _fail("a tool is {name, description, input_schema}", f"tools.{i}")
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME_PATTERN.fullmatch(name):
            raise _fail("a tool name is 1 to 128 of: letters digits _ - .", f"tools.{i}.name")
        if name in seen:
            raise _fail(f"tool {name!r} is listed twice", f"tools.{i}.name")
        seen.add(name)
        description = tool.get("description") or ""
        if not isinstance(description, str) or len(description) > 10_000:
            raise _fail("a description of at most 10000 characters", f"tools.{i}.description")
        schema = tool.get("input_schema")
        if schema is None:
            schema = {"type": "object"}
        schema = check_json_schema(schema, f"tools.{i}.input_schema")
        canonical.append({"name": name, "description": description, "input_schema": schema})
    return canonical


def config_values(config_schema: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The configuration with the schema's defaults filled in for what was not given."""
    properties = config_schema.get("properties") or {}
    values = {
        k: p["default"] for k, p in properties.items() if isinstance(p, dict) and "default" in p
    }
    return values | config


def render(runtime: dict[str, Any], values: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Args and env with every `{{config.NAME}}` replaced; a missing value becomes empty."""

    def fill(text: str) -> str:
        return PLACEHOLDER.sub(lambda m: _as_text(values.get(m.group(1))), text)

    args = [fill(a) for a in runtime.get("args") or []]
    env = {k: fill(v) for k, v in (runtime.get("env") or {}).items()}
    return args, env


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
