"""The containers of the `docker` runtime: how one is named, labelled, confined and found again.

Shared by the upstream (`docker_upstream`, inside the bridge), which creates the container, and
the runtime (`docker.DockerRuntime`, in the control plane), which removes what a dead bridge
left behind. Both talk to the Docker API at `DOCKER_HOST` (podman's compatible service on our
machines) with the blocking `docker` SDK; async callers run these functions in a worker thread.

Every container is confined the same way: no capabilities, no privilege escalation, a read-only
root with a small tmpfs `/tmp`, CPU, memory and pid limits, and no network at all for a stdio
server. A streamable-HTTP server gets a bridged network with its port published on 127.0.0.1
at a port the engine picks, so replicas of one image never collide and the host's loopback
services stay out of its reach (host networking would share them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from requests.exceptions import RequestException

from domain.marketplace.specs import config_values, render
from infra.runtimes.base import LABEL_PREFIX, InstanceSpec
from infra.runtimes.upstream import exit_reason

MANAGED_LABEL = f"{LABEL_PREFIX}managed"
INSTANCE_LABEL = f"{LABEL_PREFIX}instance"
#: Which control plane (its home folder, hashed) a container belongs to: one runtime never
#: sweeps away another's containers on a shared engine.
HOME_LABEL = f"{LABEL_PREFIX}home"
#: Where a streamable-HTTP image serves MCP; the runtime spec names only the port.
MCP_PATH = "/mcp"
#: Each Docker API call gives up after this long without an answer (worker threads must end).
API_TIMEOUT_S = 60
PULL_TIMEOUT_S = 600
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class ContainerError(RuntimeError):
    """The engine refused or failed; the message is for the tenant (no configuration in it)."""


@dataclass(frozen=True)
class Limits:
    """What one container may use. The operator sets them on the runtime (`runtime["limits"]`
    reaches the bridge with the spec); these are the defaults."""

    cpus: float = 1.0
    memory_mb: int = 512
    pids: int = 256
    tmp_mb: int = 64

    @classmethod
    def of(cls, runtime: dict[str, Any]) -> Limits:
        given = runtime.get("limits") or {}
        fields = ("cpus", "memory_mb", "pids", "tmp_mb")
        return cls(**{name: given[name] for name in fields if given.get(name) is not None})


def connect() -> docker.DockerClient:
    """A client for the engine at `DOCKER_HOST`; raises `ContainerError` when none answers."""
    try:
        client = docker.from_env(timeout=API_TIMEOUT_S)
        client.ping()
    except (DockerException, RequestException) as error:
        raise ContainerError(f"no container engine answers at DOCKER_HOST: {error}") from None
    return client


def home_key(home: Path) -> str:
    return hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]


def container_name(instance_id: str) -> str:
    """`mcps-<instance id>`; an id the engine would refuse gets a readable form plus a hash."""
    safe = _NAME_UNSAFE.sub("-", instance_id)[:100]
    if safe != instance_id:
        safe += "-" + hashlib.sha256(instance_id.encode()).hexdigest()[:8]
    return f"mcps-{safe}"


def labels(spec: InstanceSpec, home: Path) -> dict[str, str]:
    return spec.labels() | {MANAGED_LABEL: "true", HOME_LABEL: home_key(home)}


def create_options(spec: InstanceSpec, home: Path) -> dict[str, Any]:
    """`containers.create` keyword arguments, configuration rendered into the environment."""
    runtime = spec.runtime
    limits = Limits.of(runtime)
    args, env = render(runtime, config_values(spec.config_schema, spec.config))
    options: dict[str, Any] = {
        "image": runtime["image"],
        "command": args or None,
        "name": container_name(spec.instance_id),
        "labels": labels(spec, home),
        "environment": env,
        "detach": True,
        "nano_cpus": int(limits.cpus * 1_000_000_000),
        "mem_limit": limits.memory_mb * 1024 * 1024,
        "memswap_limit": limits.memory_mb * 1024 * 1024,  # no swap on top
        "pids_limit": limits.pids,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={limits.tmp_mb}m"},  # noqa: S108 - in the container
        # The bridge reads the output through the attach stream; a second copy on disk would
        # only grow.
        "log_config": {"type": "none"},
    }
    if "port" in runtime:
        options["ports"] = {f"{runtime['port']}/tcp": ("127.0.0.1", None)}
    else:
        options |= {"stdin_open": True, "network_mode": "none"}
    return options


def ensure_image(client: docker.DockerClient, image: str, say: Callable[[str], None]) -> None:
    """The image is there, or is pulled now; `ContainerError` says why it cannot be had."""
    try:
        client.images.get(image)
        return
    except ImageNotFound:
        pass
    say(f"pulling {image}")
    problem = ""
    puller = docker.from_env(timeout=PULL_TIMEOUT_S)
    try:
        for event in puller.api.pull(image, stream=True, decode=True):
            problem = event.get("error") or problem
    except APIError as error:
        problem = str(error.explanation or error)
    finally:
        puller.close()
    try:
        client.images.get(image)
    except ImageNotFound:
        raise ContainerError(
            f"image {image} is not available locally and could not be pulled"
            f" (is a registry reachable?): {problem or 'the pull made no image'}"
        ) from None


def remove_stale(client: docker.DockerClient, name: str, home: Path) -> None:
    """Remove a container of ours that holds `name` (a leftover of a killed bridge)."""
    try:
        found = client.api.inspect_container(name)
    except NotFound:
        return
    if (found["Config"].get("Labels") or {}).get(HOME_LABEL) != home_key(home):
        raise ContainerError(f"a container named {name} exists and is not this runtime's")
    remove(client, found["Id"])


def remove(client: docker.DockerClient, container_id: str) -> None:
    """Force-remove it (killing it if it runs); gone already is fine."""
    try:
        client.api.remove_container(container_id, force=True)
    except NotFound:
        pass
    except APIError as error:
        # podman answers 500 "no such container" for one removed meanwhile, and 409 while
        # another caller is removing it: either way it is going.
        said = str(error.explanation or "").lower()
        if "no such container" not in said and "removal" not in said:
            raise


@dataclass(frozen=True)
class Listed:
    id: str
    labels: dict[str, str]


def managed(client: docker.DockerClient, home: Path) -> list[Listed]:
    """Every container this runtime made, running or not. From the listing alone: inspecting
    each would fail for one removed in between."""
    wanted = [f"{MANAGED_LABEL}=true", f"{HOME_LABEL}={home_key(home)}"]
    rows = client.api.containers(all=True, filters={"label": wanted})
    return [Listed(row["Id"], row.get("Labels") or {}) for row in rows]


def exit_of(state: dict[str, Any]) -> tuple[int | None, str]:
    """The exit code and reason from a container's `State`. Docker reports a signal as
    128 + its number, and keeps that code; the reason names the signal."""
    code = state.get("ExitCode")
    if state.get("OOMKilled"):
        return code, "killed: out of memory"
    if code is None:
        return None, "lost"
    if 128 < code < 128 + 65:
        return code, exit_reason(128 - code)
    return code, f"exited with code {code}"


def published_port(container: Container, port: int) -> int:
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    raise ContainerError(f"the engine published no host port for container port {port}")
