"""ClickHouse: a server at CLICKHOUSE_URL, or the in-process chDB engine (one per process)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import clickhouse_connect

_lock = threading.Lock()
_engine: list[Any] = []  # the process's one chDB client, once opened


def clickhouse_client(url: str | None, home: Path) -> Any:
    """A clickhouse-connect client. chDB allows one engine per process: the first caller's
    `home` decides where it keeps its data, and every later caller shares that engine (a
    second path would fail to open), so rows must say whose they are (tenant, deployment)."""
    if url:
        return clickhouse_connect.get_client(dsn=url)
    with _lock:
        if not _engine:
            path = home / "chdb"
            path.mkdir(parents=True, exist_ok=True)
            _engine.append(clickhouse_connect.get_client(interface="chdb", path=str(path)))
        return _engine[0]
