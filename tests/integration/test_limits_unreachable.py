"""When Redis (every API process's shared limits) is out of reach, or answers with an error
(here a real Redis out of memory): a call is refused with a 503 before anything is sent, and a
call already made still gets its free-call count, from the usage store."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest

from api.gateway.callers import Caller
from api.gateway.errors import GatewayUnavailableError
from api.gateway.limits import Limits
from domain.tenancy.values import Plan, Role
from tests.support import free_port, make_settings


@pytest.fixture(params=["unreachable", "out of memory"])
def broken_redis(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a Redis that cannot check limits: nobody listens there, or a real Redis
    with a 1-byte memory limit, which answers every write (and so both scripts) with OOM."""
    if request.param == "unreachable":
        yield f"redis://127.0.0.1:{free_port()}/0"
        return
    server = shutil.which("redis-server")
    assert server, "redis-server is installed by infra/local/start.sh"
    options = ["--port", "0", "--save", "", "--appendonly", "no"]
    options += ["--maxmemory", "1", "--maxmemory-policy", "noeviction"]
    with tempfile.TemporaryDirectory(prefix="rl-") as short:  # a socket path has 107 bytes
        sock = Path(short, "redis.sock")
        redis = subprocess.Popen(
            [server, *options, "--unixsocket", str(sock), "--dir", short],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while not sock.exists():
                assert time.monotonic() < deadline and redis.poll() is None, "no redis"
                time.sleep(0.05)
            yield f"unix://{sock}?db=0"
        finally:
            redis.terminate()
            redis.wait(10)


def limits_without_redis(tmp_path: Path, url: str, seed_count: int) -> Limits:
    settings = make_settings("postgresql://unused", tmp_path).model_copy(update={"redis_url": url})

    def from_usage(tenant: UUID, service: UUID, month: datetime) -> int:
        return seed_count

    return Limits(settings, free_calls_seed=from_usage)


def test_a_call_is_refused_with_a_503_when_the_limits_cannot_be_checked(
    tmp_path: Path, broken_redis: str
) -> None:
    limits = limits_without_redis(tmp_path, broken_redis, seed_count=0)
    caller = Caller(
        tenant_id=uuid.uuid4(),
        tenant_slug="acme",
        plan=Plan.PRO,
        role=Role.OWNER,
        user_id=uuid.uuid4(),
        actor="token:x",
        token_id=uuid.uuid4(),
        scopes=frozenset({"mcp:execute"}),
    )

    async def admit() -> None:
        try:
            await limits.admit(caller)
        finally:
            await limits.close()

    with pytest.raises(GatewayUnavailableError) as refused:
        asyncio.run(admit())
    assert refused.value.code == "gateway.unavailable"
    assert refused.value.retry_after == 1.0


def test_a_made_call_is_counted_from_usage_when_the_counter_is_out_of_reach(
    tmp_path: Path, broken_redis: str
) -> None:
    limits = limits_without_redis(tmp_path, broken_redis, seed_count=41)

    async def count() -> int:
        try:
            return await limits.free_calls_counted(uuid.uuid4(), uuid.uuid4())
        finally:
            await limits.close()

    assert asyncio.run(count()) == 42
