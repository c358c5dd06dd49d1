"""The docker runtime on a real engine (podman's Docker API here) with real MCP servers inside.

An instance is started through `DockerRuntime`, reached through its bridge over streamable HTTP
like the gateway reaches it, and its container is looked at from the engine and from /proc.
The image is built on this machine (tests/docker_image.py): no registry is reachable.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import anyio
import docker
import pytest
from docker.models.containers import Container
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from infra.runtimes.base import InstanceSpec, Observed, RuntimeStartError
from infra.runtimes.bridge_files import STATE, instance_dir, read_json
from infra.runtimes.docker import DockerRuntime
from infra.runtimes.docker_containers import HOME_LABEL, MANAGED_LABEL, home_key
from tests.docker_image import HTTP_PORT, ensure_test_image

pytestmark = pytest.mark.skipif(
    not os.environ.get("DOCKER_HOST"),
    reason="DOCKER_HOST is not set: no container engine (infra/local/start.sh starts podman's"
    " Docker API and exports it in DIR/env)",
)

CANARY = f"canary-{uuid4().hex}"
SCHEMA = {
    "type": "object",
    "properties": {
        "timezone": {"type": "string", "default": "UTC"},
        "api_key": {"type": "string", "writeOnly": True},
    },
}
TIMEOUT_S = 90.0
_T = TypeVar("_T")


def time_runtime(image: str) -> dict[str, Any]:
    return {
        "kind": "docker",
        "transport": "stdio",
        "image": image,
        "args": ["-m", "mcp_server_time", "--local-timezone", "{{config.timezone}}"],
        "env": {"TIME_API_KEY": "{{config.api_key}}"},
    }


def http_runtime(image: str) -> dict[str, Any]:
    return {
        "kind": "docker",
        "transport": "streamable-http",
        "image": image,
        "port": HTTP_PORT,
        "args": ["/app/serve_http.py", str(HTTP_PORT)],
        "env": {"WEATHER_API_KEY": "{{config.api_key}}"},
    }


def make_spec(runtime: dict[str, Any]) -> InstanceSpec:
    return InstanceSpec(
        instance_id=f"i-{uuid4().hex[:12]}",
        deployment_id=uuid4(),
        tenant_id=uuid4(),
        deployment_name="clock",
        replica=0,
        generation=1,
        version="2026.10.19",
        runtime=runtime,
        config_schema=SCHEMA,
        config={"timezone": "Europe/Paris", "api_key": CANARY},
    )


def eventually(probe: Callable[[], _T | None], what: str, timeout: float = TIMEOUT_S) -> _T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def observed(runtime: DockerRuntime, instance_id: str) -> Observed | None:
    return next((o for o in runtime.observe() if o.instance_id == instance_id), None)


def ended(runtime: DockerRuntime, instance_id: str) -> Observed:
    def probe() -> Observed | None:
        seen = observed(runtime, instance_id)
        return seen if seen is not None and seen.reason else None

    return eventually(probe, f"{instance_id} ends")


def containers_of(engine: docker.DockerClient, instance_id: str) -> list[Container]:
    found: list[Container] = engine.containers.list(
        all=True, filters={"label": f"one.mcps.instance={instance_id}"}
    )
    return found


def first_container(engine: docker.DockerClient, instance_id: str) -> Container | None:
    return next(iter(containers_of(engine, instance_id)), None)


def the_container(engine: docker.DockerClient, instance_id: str) -> Container:
    (container,) = containers_of(engine, instance_id)
    return container


def mount_options(pid: int) -> dict[str, set[str]]:
    """Mount point -> options, as the process sees its mounts (/proc/PID/mountinfo)."""
    found: dict[str, set[str]] = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        found[fields[4]] = set(fields[5].split(","))
    return found


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


async def _talk(endpoint: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with (
        streamable_http_client(endpoint) as (read, write),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        tools = await session.list_tools()
        result = await session.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    return {"server": init.server_info.name, "tools": [t.name for t in tools.tools], "text": text}


def talk(endpoint: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async def bounded() -> dict[str, Any]:
        with anyio.fail_after(TIMEOUT_S):
            return await _talk(endpoint, tool, arguments)

    return anyio.run(bounded)


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def image(engine: docker.DockerClient, request: pytest.FixtureRequest) -> str:
    # mcp-server-time from where the process runtime's tests install it (pytest's cache).
    assert request.config.cache is not None
    return ensure_test_image(engine, request.config.cache.mkdir("mcps-runtime-home"))


@pytest.fixture(scope="module")
def runtime(
    tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient
) -> Iterator[DockerRuntime]:
    runtime = DockerRuntime(tmp_path_factory.mktemp("docker-home"))
    yield runtime
    for seen in runtime.observe():
        runtime.remove(seen.instance_id)
    leftovers = engine.containers.list(
        all=True, filters={"label": f"{HOME_LABEL}={home_key(runtime.home)}"}
    )
    assert leftovers == [], "containers left behind"


@pytest.fixture(scope="module")
def clock(runtime: DockerRuntime, image: str) -> Iterator[tuple[InstanceSpec, Observed]]:
    """One stdio instance, started once for the tests that only look at it."""
    spec = make_spec(time_runtime(image))
    seen = runtime.start(spec)
    yield spec, seen
    runtime.remove(spec.instance_id)


def test_a_stdio_server_in_a_container_answers_through_its_bridge(
    runtime: DockerRuntime, clock: tuple[InstanceSpec, Observed]
) -> None:
    spec, seen = clock
    assert seen.running and seen.endpoint
    state = read_json(instance_dir(runtime.home, spec.instance_id) / STATE)
    assert state is not None and state["endpoint"] == seen.endpoint

    answer = talk(seen.endpoint, "get_current_time", {"timezone": "Asia/Tokyo"})

    assert answer["server"] == "mcp-time"
    assert {"get_current_time", "convert_time"} <= set(answer["tools"])
    now = json.loads(answer["text"])
    assert now["timezone"] == "Asia/Tokyo" and now["datetime"].endswith("+09:00")


def test_the_container_is_labelled_confined_and_offline(
    runtime: DockerRuntime, clock: tuple[InstanceSpec, Observed], engine: docker.DockerClient
) -> None:
    spec, _ = clock
    container = the_container(engine, spec.instance_id)
    assert container.labels == spec.labels() | {
        MANAGED_LABEL: "true",
        HOME_LABEL: home_key(runtime.home),
    }
    assert container.name == f"mcps-{spec.instance_id}"
    observed_ref = eventually(lambda: observed(runtime, spec.instance_id), "observed")
    assert observed_ref.ref == container.id

    host = container.attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["NanoCpus"] == 1_000_000_000
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["PidsLimit"] == 256
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges" in host["SecurityOpt"]
    assert not host.get("CapAdd")

    # What the server's process really has, as the kernel says.
    pid = container.attrs["State"]["Pid"]
    status = proc_status(pid)
    assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == "0000000000000000"
    assert status["NoNewPrivs"] == "1"
    lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    interfaces = [line.split(":")[0].strip() for line in lines]
    assert interfaces == ["lo"]

    mounts = mount_options(pid)
    assert "ro" in mounts["/"] and "rw" in mounts["/tmp"]


def test_a_secret_reaches_the_container_environment_and_nothing_else(
    runtime: DockerRuntime, clock: tuple[InstanceSpec, Observed], engine: docker.DockerClient
) -> None:
    spec, seen = clock
    talk(seen.endpoint or "", "get_current_time", {"timezone": "UTC"})  # some log traffic
    container = the_container(engine, spec.instance_id)

    assert f"TIME_API_KEY={CANARY}" in container.attrs["Config"]["Env"]
    assert CANARY not in json.dumps(container.labels)
    assert CANARY not in (container.name or "")
    folder = instance_dir(runtime.home, spec.instance_id)
    files = [path for path in folder.rglob("*") if path.is_file()]
    assert {"output.jsonl", "bridge.log", "state.json"} <= {path.name for path in files}
    for path in files:
        assert CANARY not in path.read_text(errors="replace"), path.name


def test_a_killed_server_is_reported_exited_with_the_signal(
    runtime: DockerRuntime, image: str, engine: docker.DockerClient
) -> None:
    spec = make_spec(time_runtime(image))
    seen = runtime.start(spec)
    # Answering: its process is the server (before the start it would be runc's init).
    talk(seen.endpoint or "", "get_current_time", {"timezone": "UTC"})
    container = the_container(engine, spec.instance_id)

    os.kill(container.attrs["State"]["Pid"], signal.SIGKILL)

    seen = ended(runtime, spec.instance_id)
    assert not seen.running
    assert (seen.exit_code, seen.reason) == (137, "killed by SIGKILL")
    eventually(lambda: containers_of(engine, spec.instance_id) == [] or None, "removed")
    runtime.remove(spec.instance_id)
    assert observed(runtime, spec.instance_id) is None


def test_stop_ends_the_server_removes_its_container_and_is_idempotent(
    runtime: DockerRuntime, image: str, engine: docker.DockerClient
) -> None:
    spec = make_spec(time_runtime(image))
    seen = runtime.start(spec)
    talk(seen.endpoint or "", "get_current_time", {"timezone": "UTC"})  # up, not just started

    runtime.stop(spec.instance_id)

    after = observed(runtime, spec.instance_id)
    assert after is not None and not after.running and after.reason == "stopped"
    assert containers_of(engine, spec.instance_id) == []
    runtime.stop(spec.instance_id)
    runtime.remove(spec.instance_id)
    runtime.remove(spec.instance_id)
    assert observed(runtime, spec.instance_id) is None
    assert containers_of(engine, spec.instance_id) == []


def test_the_container_of_a_killed_bridge_is_swept(
    runtime: DockerRuntime, image: str, engine: docker.DockerClient
) -> None:
    # A streamable-HTTP server: it does not end with its stdin, so only the sweep removes it.
    lost, gone = make_spec(http_runtime(image)), make_spec(time_runtime(image))
    for spec in (lost, gone):
        runtime.start(spec)
        eventually(partial(first_container, engine, spec.instance_id), "a container")
        state = read_json(instance_dir(runtime.home, spec.instance_id) / STATE)
        assert state is not None
        os.kill(state["pid"], signal.SIGKILL)
    # Its folder gone too, as if removed by a control plane that could not reach the engine.
    shutil.rmtree(instance_dir(runtime.home, gone.instance_id))
    assert containers_of(engine, lost.instance_id), "the container outlived its bridge"

    seen = eventually(lambda: observed(runtime, lost.instance_id), "observed")

    assert not seen.running and seen.reason == "lost"
    assert containers_of(engine, lost.instance_id) == []
    assert containers_of(engine, gone.instance_id) == []
    runtime.remove(lost.instance_id)
    assert observed(runtime, lost.instance_id) is None


def test_a_streamable_http_server_in_a_container_answers_through_its_bridge(
    runtime: DockerRuntime, image: str, engine: docker.DockerClient
) -> None:
    spec = make_spec(http_runtime(image))
    seen = runtime.start(spec)

    answer = talk(seen.endpoint or "", "forecast", {"city": "Lyon", "days": 2})

    assert answer["server"] == "weather-test"
    assert answer["text"] == "Lyon: sunny for 2 day(s)"
    container = the_container(engine, spec.instance_id)
    host = container.attrs["HostConfig"]
    assert host["NetworkMode"] != "none"
    (binding,) = host["PortBindings"][f"{HTTP_PORT}/tcp"]
    assert binding["HostIp"] == "127.0.0.1"
    assert host["ReadonlyRootfs"] is True and "no-new-privileges" in host["SecurityOpt"]
    # The host's loopback services (here: the bridge itself) are out of the container's reach.
    bridge_port = int((seen.endpoint or "").rsplit(":", 1)[1].split("/")[0])
    gateway = container.attrs["NetworkSettings"]["Gateway"]
    for address in (gateway, "127.0.0.1"):
        probe = f"import socket; socket.create_connection(({address!r}, {bridge_port}), 5)"
        # A probe of ours in the container's network namespace (not `docker exec`, whose
        # helper processes outlive the container by minutes under podman).
        pid = container.attrs["State"]["Pid"]
        done = subprocess.run(
            ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        assert done.returncode != 0 and "ConnectionRefusedError" in done.stderr, address
    runtime.stop(spec.instance_id)
    assert containers_of(engine, spec.instance_id) == []
    runtime.remove(spec.instance_id)


def test_a_missing_image_is_a_clear_reason(runtime: DockerRuntime) -> None:
    spec = make_spec(time_runtime("localhost/mcps-missing:1"))
    try:
        runtime.start(spec)
    except RuntimeStartError as error:
        reason = str(error)
    else:
        reason = ended(runtime, spec.instance_id).reason

    assert reason.startswith(
        "image localhost/mcps-missing:1 is not available locally and could not be pulled"
    )
    assert CANARY not in reason
    runtime.remove(spec.instance_id)


def test_a_server_that_exits_at_once_says_its_code_and_its_stderr_is_logged(
    runtime: DockerRuntime, image: str
) -> None:
    crash = time_runtime(image) | {
        "args": ["-c", "import sys; print('no clock today', file=sys.stderr); sys.exit(3)"]
    }
    spec = make_spec(crash)
    try:
        runtime.start(spec)
    except RuntimeStartError as error:
        reason = str(error)
    else:
        reason = ended(runtime, spec.instance_id).reason

    assert reason == "exited with code 3"
    lines, _ = runtime.read_logs(spec.instance_id, 0)
    assert ("stderr", "no clock today") in {(line.stream, line.message) for line in lines}
    runtime.remove(spec.instance_id)
