"""The pipelined Redis connection on a real Redis: many callers on one connection each get
their own reply, an error reply fails its caller alone, a caller that goes away does not shift
the others' replies, a lost connection fails the calls on it and the next call reconnects."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import redis.asyncio as redis

from infra.redis_pipe import RedisError, RedisPipe, Script
from tests.support import require_env

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pipe(redis_url: str) -> AsyncIterator[RedisPipe]:
    p = RedisPipe(redis_url)
    yield p
    await p.close()


async def test_concurrent_callers_each_get_their_own_reply(pipe: RedisPipe) -> None:
    prefix = f"pipe:{uuid.uuid4()}:"
    values = [f"{prefix}{i}" for i in range(300)]

    replies = await asyncio.gather(*(pipe.execute("ECHO", v) for v in values))

    assert replies == [v.encode() for v in values]
    assert await pipe.execute("INCRBY", prefix + "n", 7) == 7  # integers come back as int


async def test_an_error_reply_fails_its_caller_alone(pipe: RedisPipe) -> None:
    key = f"pipe:{uuid.uuid4()}"
    await pipe.execute("SET", key, "not a number")

    outcomes = await asyncio.gather(
        pipe.execute("ECHO", "before"),
        pipe.execute("INCR", key),
        pipe.execute("ECHO", "after"),
        return_exceptions=True,
    )

    assert outcomes[0] == b"before" and outcomes[2] == b"after"
    assert isinstance(outcomes[1], RedisError)
    assert "not an integer" in str(outcomes[1])


async def test_a_caller_that_goes_away_leaves_the_order_intact(pipe: RedisPipe) -> None:
    slow = asyncio.create_task(pipe.execute("BLPOP", f"pipe:{uuid.uuid4()}", 0.05))
    await asyncio.sleep(0.01)  # sent: its reply is due first
    slow.cancel()

    assert await pipe.execute("ECHO", "mine") == b"mine"


async def test_a_flushed_script_is_loaded_again(pipe: RedisPipe, redis_url: str) -> None:
    script = Script(f"return '{uuid.uuid4()}'")
    first = await pipe.run_script(script, [], [])
    admin = redis.from_url(redis_url)
    try:
        await admin.script_flush()
    finally:
        await admin.aclose()

    assert await pipe.run_script(script, [], []) == first
    assert await pipe.execute("SCRIPT", "EXISTS", script.sha) == [1]


async def test_a_lost_connection_fails_its_calls_and_the_next_call_reconnects(
    pipe: RedisPipe, redis_url: str
) -> None:
    name = f"pipe-{uuid.uuid4().hex[:8]}"
    await pipe.execute("CLIENT", "SETNAME", name)
    admin = redis.from_url(redis_url)
    try:
        waiting = asyncio.create_task(pipe.execute("BLPOP", f"pipe:{uuid.uuid4()}", 10))
        await asyncio.sleep(0.01)
        clients = await admin.client_list()
        (mine,) = [c for c in clients if c.get("name") == name]
        await admin.client_kill_filter(_id=mine["id"])
        with pytest.raises(ConnectionError):
            await waiting
    finally:
        await admin.aclose()

    assert await pipe.execute("ECHO", "again") == b"again"
    assert await pipe.execute("CLIENT", "GETNAME") is None  # a new connection


async def test_the_database_in_the_url_is_selected(redis_url: str) -> None:
    key = f"pipe:{uuid.uuid4()}"
    pipe = RedisPipe(urlsplit(redis_url)._replace(path="/3").geturl())
    admin = redis.from_url(urlsplit(redis_url)._replace(path="/3").geturl())
    try:
        await pipe.execute("SET", key, "in three")
        assert await admin.get(key) == b"in three"
    finally:
        await pipe.close()
        await admin.delete(key)
        await admin.aclose()


async def test_a_unix_socket_url_reaches_the_same_redis(redis_url: str) -> None:
    """`unix:///path?db=N`: the same server and database as over TCP, from any task."""
    key = f"pipe:{uuid.uuid4()}"
    pipe = RedisPipe(f"unix://{require_env('REDIS_SOCKET')}?db=3")
    admin = redis.from_url(urlsplit(redis_url)._replace(path="/3").geturl())
    try:
        replies = await asyncio.gather(*(pipe.execute("INCR", key) for _ in range(50)))
        assert sorted(replies) == list(range(1, 51))
        assert await admin.get(key) == b"50"
        assert b"laddr=/" in await pipe.execute("CLIENT", "INFO")  # a socket path, not an IP
    finally:
        await pipe.close()
        await admin.delete(key)
        await admin.aclose()


def test_only_plain_redis_and_unix_urls_are_taken() -> None:
    with pytest.raises(ValueError, match="only redis:// and unix://"):
        RedisPipe("rediss://example.com:6380/0")
