"""Test plumbing on real services: throwaway databases, a live API, an SMTP sink."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from aiosmtpd.controller import Controller

from api.app import create_app
from infra.container import Container, build_container
from infra.database import PgTarget
from infra.settings import AuthSettings, MailSettings, Settings
from projections.registry import all_projections, create_all
from workers.projector import start_log_projectors


def dump_read_models(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """Every read-model row (not the bookkeeping), as sorted JSON per table: for comparing
    live projection with a rebuild. New read models are included without listing them."""
    schemas = [p.name for p in all_projections()]
    tables = conn.execute(
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables"
        " WHERE table_schema = ANY(%s) AND table_name NOT IN ('tracking', 'applied')"
        " ORDER BY 1",
        [schemas],
    ).fetchall()
    return {
        t["name"]: sorted(
            row["r"] for row in conn.execute(f"SELECT to_jsonb(x)::text AS r FROM {t['name']} x")
        )
        for t in tables
    }


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: run the suite with `./run test`, which starts the real services"
        )
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A fresh database on the real server, dropped afterwards."""
    admin_url = require_env("DATABASE_URL")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    target = PgTarget.parse(admin_url)
    try:
        yield PgTarget(name, target.host, target.port, target.user, target.password).url()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass
class MailSink:
    """A real SMTP server on loopback that keeps what it receives."""

    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def last_to(self, address: str, timeout: float = 5.0) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(self.messages):
                if message["To"] == address:
                    return message
            time.sleep(0.02)
        raise AssertionError(f"no mail to {address}")

    @staticmethod
    def code_in(message: Message) -> str:
        body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
        return body.split("paste this code: ")[1].split()[0]


@contextmanager
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def make_settings(
    database_url: str, home: Path, smtp_port: int | None = None, **extra: Any
) -> Settings:
    return Settings(
        environment="test",
        home=home,
        database_url=database_url,
        kafka_bootstrap_servers=None,
        redis_url=None,
        mail=MailSettings(smtp_host="127.0.0.1" if smtp_port else None, smtp_port=smtp_port or 25),
        auth=AuthSettings(platform_admins=["ops@mcps.one"]),
        **extra,
    )


@contextmanager
def running_container(settings: Settings, *, projectors: bool = True) -> Iterator[Container]:
    container = build_container(settings)
    create_all(container.db)
    stop = threading.Event()
    threads = (
        start_log_projectors(container.events, container.db, all_projections(), stop)
        if projectors
        else []
    )
    try:
        yield container
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        container.close()


@contextmanager
def live_server(container: Container, port: int | None = None) -> Iterator[str]:
    """The real ASGI app behind uvicorn on a loopback port (a free one unless given)."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            # As `mcps-server api`: open event streams are cancelled, then the app shuts
            # down (its task runner too) before the test closes the container's pools.
            timeout_graceful_shutdown=3,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Api:
    """A thin httpx wrapper that signs people up and in, for tests that read like stories."""

    def __init__(self, base_url: str, mail: MailSink) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.mail = mail

    def register(self, username: str, password: str = "Sup3r-secret!") -> dict[str, Any]:
        email = f"{username}@example.com"
        r = self.http.post(
            "/api/v1/auth/register",
            json={"email": email, "username": username, "password": password},
        )
        assert r.status_code == 201, r.text
        tokens = self.http.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        ).json()
        return {
            "email": email,
            "username": username,
            "password": password,
            **r.json(),
            **tokens,
            "auth": {"Authorization": f"Bearer {tokens['access_token']}"},
        }


@contextmanager
def mcp_http_server(
    module: str = "tests.mcp_servers.weather_http", port: int | None = None
) -> Iterator[str]:
    """A real MCP server process on a loopback port (a free one unless given); yields its
    streamable-HTTP URL."""
    port = port or free_port()
    process = subprocess.Popen([sys.executable, "-m", module, str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{module} did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)
