"""The process runtime on real MCP servers: `mcp-server-time` from PyPI, installed as the
catalogue template says, and a toy stdio server (`tests/mcp_servers/toy_stdio.py`) that can
exit on request. Each instance is a real bridge process reached over loopback streamable HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import anyio
import mcp_types as types
import pytest
from mcp import ClientSession
from mcp.client.session import IncomingMessage, MessageHandlerFnT
from mcp.client.streamable_http import streamable_http_client

from infra.runtimes.base import InstanceSpec, Observed
from infra.runtimes.process import ProcessRuntime

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
TEMPLATE = json.loads((REPO / "infra/catalog/templates/time.json").read_text())
SERVICE = TEMPLATE["_meta"]["one.mcps/service"]
TOY = REPO / "tests/mcp_servers/toy_stdio.py"
CANARY = "canary-4f1d9e2b-secret"
#: Generous: the machine is small and shared, and each server imports the MCP SDK.
WAIT_S = 60.0


def spec_for(
    name: str, runtime: dict[str, Any], schema: dict[str, Any], config: dict[str, Any]
) -> InstanceSpec:
    return InstanceSpec(
        instance_id=f"{name}-{uuid4().hex[:8]}",
        deployment_id=uuid4(),
        tenant_id=uuid4(),
        deployment_name=name,
        replica=0,
        generation=1,
        version="1.0.0",
        runtime=runtime,
        config_schema=schema,
        config=config,
    )


def time_spec() -> InstanceSpec:
    """The catalogue's time server, with a secret setting passed in its environment."""
    runtime = SERVICE["runtime"] | {"env": {"TIME_TOKEN": "{{config.token}}"}}
    schema = json.loads(json.dumps(SERVICE["config_schema"]))
    schema["properties"]["token"] = {"type": "string", "writeOnly": True}
    return spec_for("time", runtime, schema, {"token": CANARY, "local_timezone": "Asia/Shanghai"})


def toy_spec(**runtime: Any) -> InstanceSpec:
    base = {
        "kind": "process",
        "transport": "stdio",
        "command": sys.executable,
        "args": [str(TOY)],
        "env": {"TOY_GREETING": "{{config.greeting}}"},
    }
    schema = {"type": "object", "properties": {"greeting": {"type": "string", "default": "hi"}}}
    return spec_for("toy", base | runtime, schema, {})


@asynccontextmanager
async def connected(
    endpoint: str, on_message: MessageHandlerFnT | None = None
) -> AsyncIterator[tuple[ClientSession, types.InitializeResult]]:
    async with (
        streamable_http_client(endpoint) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        yield session, await session.initialize()


def through(observed: Observed, talk: Callable[[ClientSession], Awaitable[T]]) -> T:
    """Open an MCP session to the instance, run `talk` on it, return what it returns."""

    async def run() -> T:
        assert observed.endpoint
        with anyio.fail_after(WAIT_S):
            async with connected(observed.endpoint) as (session, _):
                return await talk(session)

    return anyio.run(run)


def eventually(
    runtime: ProcessRuntime, instance_id: str, done: Callable[[Observed], bool]
) -> Observed:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        seen = {o.instance_id: o for o in runtime.observe()}.get(instance_id)
        if seen is not None and done(seen):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"{instance_id} never got there: {seen}")


def ended(runtime: ProcessRuntime, instance_id: str) -> Observed:
    return eventually(runtime, instance_id, lambda o: not o.running and bool(o.reason))


def upstream_pid(observed: Observed) -> int:
    """The bridge's one child, once the server answers through it (so it has been exec'd)."""
    through(observed, lambda session: session.send_ping())
    tasks = Path(f"/proc/{bridge_pid(observed)}/task")
    [child] = [
        int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()
    ]
    return child


def gone(pid: int) -> bool:
    """Whether the process has ended, waiting for it a while: a bridge exits just after it
    has written exit.json, a server just after its bridge."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in "ZX":
            return True
        time.sleep(0.05)
    return False


def bridge_pid(observed: Observed) -> int:
    return int(observed.ref.removeprefix("pid:"))


@pytest.fixture(scope="module")
def home(request: pytest.FixtureRequest) -> Path:
    """A home that persists across runs (pytest's cache), so PyPI is asked once: an installed
    package's virtualenv names its own path, so the store cannot move between runs. Every
    test removes the instances it made."""
    assert request.config.cache is not None
    return request.config.cache.mkdir("mcps-runtime-home")


@pytest.fixture(scope="module")
def runtime(home: Path) -> Iterator[ProcessRuntime]:
    runtime = ProcessRuntime(home)
    yield runtime
    runtime.close()  # its spare bridge


@pytest.fixture(scope="module")
def time_server(runtime: ProcessRuntime) -> Iterator[tuple[InstanceSpec, Observed]]:
    spec = time_spec()
    with pytest.MonkeyPatch.context() as env:
        # The platform's own secrets are in the control plane's environment; none may pass on.
        env.setenv("DATABASE_URL", "postgresql://platform:leaked@db/mcps")
        env.setenv("MCPS_CIPHER_KEY", "platform-cipher-key-leaked")
        observed = runtime.start(spec)
    yield spec, observed
    runtime.remove(spec.instance_id)


@pytest.fixture(scope="module")
def toy(home: Path) -> Iterator[tuple[ProcessRuntime, Observed]]:
    """A toy instance under a runtime that also caps the address space."""
    runtime = ProcessRuntime(home, address_space_mb=4096)
    spec = toy_spec()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DATABASE_URL", "postgresql://platform:leaked@db/mcps")
        observed = runtime.start(spec)
    yield runtime, observed
    runtime.remove(spec.instance_id)


def test_a_started_instance_answers_mcp_through_its_bridge(
    runtime: ProcessRuntime, time_server: tuple[InstanceSpec, Observed]
) -> None:
    spec, observed = time_server
    assert observed.running and observed.endpoint
    assert observed.endpoint.startswith("http://127.0.0.1:")
    state = json.loads((runtime.root / spec.instance_id / "state.json").read_text())
    assert state["endpoint"] == observed.endpoint and state["pid"] == bridge_pid(observed)
    assert state["labels"] == spec.labels() and state["kind"] == "process"

    async def talk(session: ClientSession) -> tuple[list[str], str]:
        tools = await session.list_tools()
        now = await session.call_tool("get_current_time", {"timezone": "Asia/Shanghai"})
        assert not now.is_error
        block = now.content[0]
        assert isinstance(block, types.TextContent)
        return [t.name for t in tools.tools], block.text

    async def first_contact() -> str:
        assert observed.endpoint
        with anyio.fail_after(WAIT_S):  # the install may still run: initialize waits for it
            async with connected(observed.endpoint) as (_, init):
                return init.server_info.name

    assert anyio.run(first_contact) == "mcp-time"
    names, answer = through(observed, talk)
    assert {"get_current_time", "convert_time"} <= set(names)
    assert json.loads(answer)["timezone"] == "Asia/Shanghai"


def test_the_configuration_is_never_written_down(
    runtime: ProcessRuntime, time_server: tuple[InstanceSpec, Observed]
) -> None:
    spec, observed = time_server
    through(observed, lambda session: session.send_ping())
    folder = runtime.root / spec.instance_id
    pid = bridge_pid(observed)
    for where in [
        folder / "state.json",
        folder / "launch.json",
        folder / "output.jsonl",
        folder / "bridge.log",
        Path(f"/proc/{pid}/cmdline"),
        Path(f"/proc/{pid}/environ"),
    ]:
        assert CANARY.encode() not in where.read_bytes(), where
    bridge_env = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"DATABASE_URL" not in bridge_env and b"MCPS_CIPHER_KEY" not in bridge_env
    lines, _ = runtime.read_logs(spec.instance_id, 0)
    assert any("ready: mcp-time" in line.message for line in lines)


def test_a_restarted_runtime_finds_the_running_instances(
    home: Path, time_server: tuple[InstanceSpec, Observed]
) -> None:
    """As the reconciler does after its own kill -9: a new object over the same home."""
    spec, observed = time_server
    again = {o.instance_id: o for o in ProcessRuntime(home).observe()}
    assert again[spec.instance_id] == observed
    assert through(again[spec.instance_id], lambda session: session.send_ping()) is not None


def test_the_server_runs_in_its_own_folder_with_a_minimal_environment_and_limits(
    home: Path, toy: tuple[ProcessRuntime, Observed]
) -> None:
    runtime, observed = toy

    async def talk(session: ClientSession) -> dict[str, Any]:
        result = await session.call_tool("about", {})
        seen: dict[str, Any] = result.structured_content
        return seen

    seen = through(observed, talk)
    work = home / "instances" / observed.instance_id / "work"
    assert seen["home"] == seen["cwd"] == str(work)
    assert "TOY_GREETING" in seen["env"] and "PATH" in seen["env"]
    assert not {"DATABASE_URL", "MCPS_CIPHER_KEY", "PYTHONPATH"} & set(seen["env"])
    assert seen["core"] == 0 and seen["nofile"] <= 1024
    assert seen["address_space"] == 4096 * 1024 * 1024
    lines, _ = runtime.read_logs(observed.instance_id, 0)
    stderr = {(line.level, line.message) for line in lines if line.stream == "stderr"}
    assert {("info", "toy server starting"), ("warning", "warning: only a toy")} <= stderr


def test_the_bridge_passes_on_resources_prompts_completions_progress_and_list_changes(
    toy: tuple[ProcessRuntime, Observed],
) -> None:
    _, observed = toy
    changed = anyio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async def talk() -> None:
        assert observed.endpoint
        with anyio.fail_after(WAIT_S):
            async with connected(observed.endpoint, on_message) as (session, init):
                assert init.server_info.name == "toy"
                assert init.instructions == "A toy for runtime tests."
                assert init.capabilities.prompts and init.capabilities.resources
                read = await session.read_resource("toy://greeting")
                assert isinstance(read.contents[0], types.TextResourceContents)
                assert read.contents[0].text == "hello from the toy"
                prompt = await session.get_prompt("haiku", {"topic": "rain"})
                assert isinstance(prompt.messages[0].content, types.TextContent)
                assert "haiku about rain" in prompt.messages[0].content.text
                topics = await session.complete(
                    types.PromptReference(name="haiku"), {"name": "topic", "value": "ri"}
                )
                assert topics.completion.values == ["rivers"]
                steps: list[tuple[float, float | None]] = []

                async def on_progress(
                    progress: float, total: float | None, message: str | None
                ) -> None:
                    steps.append((progress, total))

                counted = await session.call_tool("count", {"to": 3}, progress_callback=on_progress)
                assert not counted.is_error and steps == [(1, 3), (2, 3), (3, 3)]
                await session.call_tool("grow", {})
                await changed.wait()
                tools = await session.list_tools()
                assert "extra" in {t.name for t in tools.tools}

    anyio.run(talk)


def test_a_server_that_exits_ends_its_instance_with_the_code(runtime: ProcessRuntime) -> None:
    observed = runtime.start(toy_spec())

    async def talk(session: ClientSession) -> None:
        with pytest.raises(Exception):  # noqa: B017 - the connection ends, however it is said
            await session.call_tool("exit_now", {"code": 3})

    through(observed, talk)
    seen = ended(runtime, observed.instance_id)
    assert (seen.exit_code, seen.reason) == (3, "exited with code 3")
    exit_doc = json.loads((runtime.root / observed.instance_id / "exit.json").read_text())
    assert exit_doc["reason"] == "exited with code 3"
    assert gone(bridge_pid(observed))
    runtime.remove(observed.instance_id)


def test_a_killed_server_is_reported_killed(runtime: ProcessRuntime) -> None:
    observed = runtime.start(toy_spec())
    child = upstream_pid(observed)
    os.kill(child, signal.SIGKILL)
    seen = ended(runtime, observed.instance_id)
    assert seen.reason == "killed by SIGKILL" and seen.exit_code == -signal.SIGKILL
    assert (runtime.root / observed.instance_id / "exit.json").exists()
    runtime.remove(observed.instance_id)


def test_a_killed_bridge_is_lost_and_takes_its_server_along(runtime: ProcessRuntime) -> None:
    observed = runtime.start(toy_spec())
    child = upstream_pid(observed)
    os.kill(bridge_pid(observed), signal.SIGKILL)
    seen = ended(runtime, observed.instance_id)
    assert seen.reason == "lost" and seen.endpoint == observed.endpoint
    assert gone(child), "the server outlived its bridge"
    runtime.remove(observed.instance_id)
    assert not (runtime.root / observed.instance_id).exists()


def test_a_stop_right_after_start_is_clean(runtime: ProcessRuntime) -> None:
    spec = toy_spec()
    runtime.start(spec)
    runtime.stop(spec.instance_id)
    seen = ended(runtime, spec.instance_id)
    assert seen.reason == "stopped"
    assert json.loads((runtime.root / spec.instance_id / "exit.json").read_text())["reason"] == (
        "stopped"
    )
    runtime.remove(spec.instance_id)


def children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def early_server(observed: Observed) -> int:
    """The server's pid as soon as the bridge has forked it, and whether the bridge had loaded
    the MCP SDK by then (pydantic's compiled core is mapped once it has)."""
    bridge = bridge_pid(observed)
    deadline = time.monotonic() + WAIT_S
    while not (found := children(bridge)):
        assert time.monotonic() < deadline, "the bridge started no server"
        time.sleep(0.002)
    assert "_pydantic_core" not in Path(f"/proc/{bridge}/maps").read_text(), (
        "the server was started only after the bridge had imported the MCP SDK"
    )
    [server] = found
    return server


@pytest.fixture
def cold(home: Path) -> ProcessRuntime:
    """A runtime without a spare bridge: every bridge starts afresh."""
    return ProcessRuntime(home, spare=False)


def test_the_server_starts_while_the_bridge_loads_with_stop_signals_let_through(
    cold: ProcessRuntime,
) -> None:
    """The bridge's light half starts a server that needs no install before it imports the
    serving half, so their start-ups overlap; the signals it holds back meanwhile are not
    held back in the server."""
    runtime = cold
    observed = runtime.start(toy_spec())
    server = early_server(observed)
    assert through(observed, lambda session: session.send_ping()) is not None
    assert upstream_pid(observed) == server
    status = dict(
        line.split(":\t", 1) for line in Path(f"/proc/{server}/status").read_text().splitlines()
    )
    assert int(status["SigBlk"], 16) == 0
    lines, _ = runtime.read_logs(observed.instance_id, 0)
    assert [line.message for line in lines if line.stream == "system"][:2] == [
        f"starting {Path(sys.executable).name}",
        "ready: toy 1.0.0",
    ]
    runtime.stop(observed.instance_id)
    assert ended(runtime, observed.instance_id).reason == "stopped" and gone(server)
    runtime.remove(observed.instance_id)


def test_a_stop_while_the_bridge_loads_ends_the_server_it_started(
    cold: ProcessRuntime,
) -> None:
    runtime = cold
    observed = runtime.start(toy_spec())
    server = early_server(observed)
    runtime.stop(observed.instance_id)
    assert ended(runtime, observed.instance_id).reason == "stopped"
    assert gone(server), "the server outlived a stop that came while its bridge was loading"
    runtime.remove(observed.instance_id)


def spare_pids() -> set[int]:
    mine = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
                parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue
            if parent == mine and b"--spare" in command:
                found.add(int(entry.name))
    return found


def test_a_spare_bridge_takes_the_next_instance_and_ends_with_its_runtime(home: Path) -> None:
    """A runtime keeps a bridge ready that has imported everything; the next instance takes
    it (its output in its own folder), and a spare ends when its runtime lets it go."""
    runtime = ProcessRuntime(home)
    before = spare_pids()
    assert runtime.spare_ready(timeout=WAIT_S)
    [spare] = spare_pids() - before
    observed = runtime.start(toy_spec())
    assert bridge_pid(observed) == spare
    assert through(observed, lambda session: session.send_ping()) is not None
    lines, _ = runtime.read_logs(observed.instance_id, 0)
    assert "ready: toy 1.0.0" in [line.message for line in lines if line.stream == "system"]
    assert (runtime.root / observed.instance_id / "bridge.log").exists()
    assert runtime.spare_ready(timeout=WAIT_S)  # another one, made at once when asked
    [another] = spare_pids() - before - {spare}
    runtime.close()
    assert gone(another)
    runtime.stop(observed.instance_id)
    assert ended(runtime, observed.instance_id).reason == "stopped" and gone(spare)
    runtime.remove(observed.instance_id)


def test_a_package_that_does_not_exist_fails_its_install_visibly(runtime: ProcessRuntime) -> None:
    package = {"registry": "pypi", "name": "mcps-one-no-such-package-7d3a", "version": "1.0.0"}
    spec = spec_for(
        "missing",
        {"kind": "process", "command": "missing", "package": package, "args": [], "env": {}},
        {},
        {},
    )
    runtime.start(spec)
    seen = ended(runtime, spec.instance_id)
    assert seen.reason.startswith("install failed: ") and seen.exit_code is None
    lines, _ = runtime.read_logs(spec.instance_id, 0)
    messages = [line.message for line in lines if line.stream == "system"]
    assert "installing pypi:mcps-one-no-such-package-7d3a==1.0.0" in messages
    assert messages[-1] == seen.reason
    runtime.remove(spec.instance_id)


def test_log_offsets_give_each_whole_line_once(
    runtime: ProcessRuntime, time_server: tuple[InstanceSpec, Observed]
) -> None:
    spec, observed = time_server
    first, offset = runtime.read_logs(spec.instance_id, 0)
    through(observed, lambda session: session.call_tool("get_current_time", {"timezone": "UTC"}))
    rest, end = runtime.read_logs(spec.instance_id, offset)
    whole, total = runtime.read_logs(spec.instance_id, 0)
    assert first + rest == whole and end == total
    assert runtime.read_logs(spec.instance_id, end) == ([], end)


def test_a_line_still_being_written_is_read_once_it_is_whole(runtime: ProcessRuntime) -> None:
    instance_id = f"being-written-{uuid4().hex[:8]}"
    output = runtime.root / instance_id / "output.jsonl"
    output.parent.mkdir(parents=True)
    output.write_bytes(b'{"at": 1, "stream": "system", "level": "info", ')
    assert runtime.read_logs(instance_id, 0) == ([], 0)
    with open(output, "ab") as log:
        log.write(b'"message": "finished"}\n')
    lines, end = runtime.read_logs(instance_id, 0)
    assert [line.message for line in lines] == ["finished"] and end == output.stat().st_size
    runtime.remove(instance_id)
    assert not output.parent.exists()


def test_stop_is_graceful_and_idempotent_and_remove_forgets(
    runtime: ProcessRuntime, time_server: tuple[InstanceSpec, Observed]
) -> None:
    spec, observed = time_server
    runtime.stop(spec.instance_id)
    seen = ended(runtime, spec.instance_id)
    assert seen.reason == "stopped" and gone(bridge_pid(observed))
    runtime.stop(spec.instance_id)
    assert ended(runtime, spec.instance_id) == seen
    runtime.remove(spec.instance_id)
    runtime.remove(spec.instance_id)
    assert not (runtime.root / spec.instance_id).exists()
    assert spec.instance_id not in {o.instance_id for o in runtime.observe()}
