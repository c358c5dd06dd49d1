"""When Redis (every API process's shared limits) is out of reach: a call is refused with a
503 before anything is sent, and a call already made still gets its free-call count, from the
usage store."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest

from api.gateway.callers import Caller
from api.gateway.errors import GatewayUnavailableError
from api.gateway.limits import Limits
from domain.tenancy.values import Plan, Role
from tests.support import free_port, make_settings


def limits_without_redis(tmp_path: Path, seed_count: int) -> Limits:
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings("postgresql://unused", tmp_path).model_copy(
        update={"redis_url": nobody_listens}
    )

    def from_usage(tenant: UUID, service: UUID, month: datetime) -> int:
        return seed_count

    return Limits(settings, free_calls_seed=from_usage)


def test_a_call_is_refused_with_a_503_when_the_limits_cannot_be_checked(tmp_path: Path) -> None:
    limits = limits_without_redis(tmp_path, seed_count=0)
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
    tmp_path: Path,
) -> None:
    limits = limits_without_redis(tmp_path, seed_count=41)

    async def count() -> int:
        try:
            return await limits.free_calls_counted(uuid.uuid4(), uuid.uuid4())
        finally:
            await limits.close()

    assert asyncio.run(count()) == 42
