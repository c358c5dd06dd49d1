"""The official MCP Registry's `server.json`, both ways.

Import reads `packages` (pypi, npm, oci) or `remotes` into our runtime spec, and turns the
package's environment variables into a config JSON Schema whose values reach the process
through `{{config.NAME}}` placeholders. Export writes the same shape back, and keeps what the
format has no place for (category, tags, pricing, tools, the full description) under
`_meta["one.mcps/service"]`, so export then import gives back the same service.
"""

from __future__ import annotations

import re
from typing import Any

from domain.marketplace.errors import InvalidServiceError
from domain.marketplace.services import McpService
from domain.marketplace.specs import PLACEHOLDER

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json"
NAMESPACE = "one.mcps"
META_KEY = "one.mcps/service"
REGISTRY_DESCRIPTION_LIMIT = 100


def _fail(message: str, field: str) -> InvalidServiceError:
    return InvalidServiceError(message, field=field)


def local_name(registry_name: str) -> str:
    """`io.github.acme/weather-server` → `weather-server`: the part after the namespace."""
    base = registry_name.rsplit("/", 1)[-1].lower()
    base = re.sub(r"[^a-z0-9-]+", "-", base).strip("-")
    return base[:64].strip("-")


def parse(doc: Any) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """(name, listing details, version, release) from one server.json document."""
    if not isinstance(doc, dict):
        raise _fail("a server.json document is a JSON object", "server.json")
    meta = (doc.get("_meta") or {}).get(META_KEY) or {}
    name = meta.get("name") or local_name(str(doc.get("name") or ""))
    if not name:
        raise _fail("server.json needs a name", "name")
    version = doc.get("version")
    if not isinstance(version, str):
        raise _fail("server.json needs a version", "version")
    repository = doc.get("repository") or {}
    icons = doc.get("icons") or []
    details = {
        "display_name": doc.get("title") or name,
        "description": meta.get("description") or doc.get("description") or "",
        "category": meta.get("category") or "other",
        "tags": meta.get("tags") or [],
        "icon_url": meta.get("icon_url") or (icons[0].get("src") if icons else None),
        "repository_url": repository.get("url") if isinstance(repository, dict) else None,
        "documentation_url": doc.get("websiteUrl"),
        "pricing": meta.get("pricing") or {"model": "FREE"},
    }
    if "runtime" in meta:
        runtime, config_schema = meta["runtime"], meta.get("config_schema") or {}
    else:
        runtime, config_schema = _runtime_of(doc, version)
    release = {
        "changelog": meta.get("changelog") or "",
        "runtime": runtime,
        "config_schema": config_schema,
        "tools": meta.get("tools") or [],
    }
    return name, details, version, release


def _runtime_of(doc: dict[str, Any], version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    packages = doc.get("packages") or []
    remotes = doc.get("remotes") or []
    if packages:
        return _package_runtime(packages[0], version)
    if remotes:
        remote = remotes[0]
        if remote.get("type") != "streamable-http":
            raise _fail("only streamable-http remotes are supported", "remotes.0.type")
        return {"kind": "remote", "url": remote.get("url"), "transport": "streamable-http"}, {}
    raise _fail("server.json needs a package or a remote", "packages")


def _package_runtime(
    package: dict[str, Any], version: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    registry = package.get("registryType")
    identifier = str(package.get("identifier") or "")
    transport = (package.get("transport") or {}).get("type", "stdio")
    if transport not in ("stdio", "streamable-http"):
        raise _fail("only stdio and streamable-http are supported", "packages.0.transport")
    config_schema, env = _config_of(package.get("environmentVariables") or [])
    args = _args_of(package.get("packageArguments") or [])
    runtime: dict[str, Any] = {"transport": transport, "args": args, "env": env}
    if registry in ("pypi", "npm"):
        command = identifier if registry == "pypi" else identifier.rsplit("/", 1)[-1]
        runtime |= {
            "kind": "process",
            "command": command,
            "package": {
                "registry": registry,
                "name": identifier,
                "version": package.get("version") or version,
            },
        }
    elif registry == "oci":
        tagged = ":" in identifier.rsplit("/", 1)[-1] or "@" in identifier
        image = identifier if tagged else f"{identifier}:{package.get('version') or version}"
        runtime |= {"kind": "docker", "image": image}
    else:
        raise _fail("packages of type pypi, npm or oci are supported", "packages.0.registryType")
    return runtime, config_schema


def _config_of(variables: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each environment variable becomes a config property, passed on as `{{config.NAME}}`."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    env: dict[str, str] = {}
    for variable in variables:
        name = variable.get("name")
        if not isinstance(name, str):
            raise _fail("an environment variable needs a name", "environmentVariables")
        if "value" in variable:
            env[name] = str(variable["value"])
            continue
        prop: dict[str, Any] = {"type": "string"}
        if variable.get("description"):
            prop["description"] = variable["description"]
        if variable.get("default") is not None:
            prop["default"] = str(variable["default"])
        if variable.get("isSecret"):
            prop["writeOnly"] = True
        properties[name] = prop
        if variable.get("isRequired"):
            required.append(name)
        env[name] = f"{{{{config.{name}}}}}"
    if not properties:
        return {}, env
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema, env


def _args_of(arguments: list[dict[str, Any]]) -> list[str]:
    args: list[str] = []
    for argument in arguments:
        value = argument.get("value") or argument.get("default")
        if argument.get("type") == "named":
            args.append(str(argument.get("name")))
        if value is not None:
            args.append(str(value))
    return args


def export(service: McpService, version: str | None = None) -> dict[str, Any]:
    """The service at one version (the latest by default) as a registry server.json."""
    version = version or service.latest_version or service.highest_version
    if version is None:
        raise _fail("the service has no released version to export", "version")
    release = service.release_of(version)
    details = service.details
    runtime = release["runtime"]
    doc: dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "name": f"{NAMESPACE}/{service.name}",
        "title": details["display_name"],
        "description": _short(details["description"]) or details["display_name"],
        "version": version,
    }
    if details.get("repository_url"):
        url = details["repository_url"]
        doc["repository"] = {"url": url, "source": "github" if "github.com" in url else "git"}
    if details.get("documentation_url"):
        doc["websiteUrl"] = details["documentation_url"]
    if details.get("icon_url"):
        doc["icons"] = [{"src": details["icon_url"]}]
    if runtime["kind"] == "remote":
        doc["remotes"] = [{"type": "streamable-http", "url": runtime["url"]}]
    else:
        doc["packages"] = [_package_of(runtime, release["config_schema"], version)]
    doc["_meta"] = {
        META_KEY: {
            "name": service.name,
            "description": details["description"],
            "category": details["category"],
            "tags": details["tags"],
            "icon_url": details.get("icon_url"),
            "pricing": details["pricing"],
            "changelog": release["changelog"],
            "runtime": runtime,
            "config_schema": release["config_schema"],
            "tools": release["tools"],
        }
    }
    return doc


def _short(description: str) -> str:
    first = description.strip().splitlines()[0] if description.strip() else ""
    first = first.lstrip("# ").strip()
    if len(first) <= REGISTRY_DESCRIPTION_LIMIT:
        return first
    return first[: REGISTRY_DESCRIPTION_LIMIT - 1].rstrip() + "…"


def _package_of(runtime: dict[str, Any], schema: dict[str, Any], version: str) -> dict[str, Any]:
    if runtime["kind"] == "docker":
        package: dict[str, Any] = {"registryType": "oci", "identifier": runtime["image"]}
    elif runtime.get("package"):
        spec = runtime["package"]
        package = {
            "registryType": spec["registry"],
            "identifier": spec["name"],
            "version": spec["version"],
        }
    else:
        # A bare command has no registry form; the _meta block carries it.
        package = {"registryType": "mcpb", "identifier": runtime["command"], "version": version}
    package["transport"] = {"type": runtime["transport"]}
    if runtime.get("args"):
        package["packageArguments"] = [
            {"type": "positional", "value": arg} for arg in runtime["args"]
        ]
    variables = _variables_of(runtime.get("env") or {}, schema)
    if variables:
        package["environmentVariables"] = variables
    return package


def _variables_of(env: dict[str, str], schema: dict[str, Any]) -> list[dict[str, Any]]:
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    variables: list[dict[str, Any]] = []
    for name, value in env.items():
        if PLACEHOLDER.fullmatch(value.strip()) and PLACEHOLDER.findall(value) == [name]:
            prop = properties.get(name) or {}
            variable: dict[str, Any] = {
                "name": name,
                "isRequired": name in required,
                "isSecret": bool(prop.get("writeOnly") or prop.get("format") == "password"),
            }
            if prop.get("description"):
                variable["description"] = prop["description"]
            if prop.get("default") is not None:
                variable["default"] = str(prop["default"])
            variables.append(variable)
        else:
            variables.append({"name": name, "value": value})
    return variables
