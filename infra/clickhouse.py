"""ClickHouse: a server at CLICKHOUSE_URL, or the in-process chDB engine (one per process)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import clickhouse_connect

_lock = threading.Lock()
_embedded: dict[str, Any] = {}


def clickhouse_client(url: str | None, home: Path) -> Any:
    """A clickhouse-connect client; chDB allows one engine per process, so it is shared."""
    if url:
        return clickhouse_connect.get_client(dsn=url)
    path = str(home / "chdb")
    with _lock:
        if path not in _embedded:
            Path(path).mkdir(parents=True, exist_ok=True)
            _embedded[path] = clickhouse_connect.get_client(interface="chdb", path=path)
        return _embedded[path]
