"""The embedded PostgreSQL of `./run up`: the pgserver wheel, data kept under MCPS_HOME."""

from __future__ import annotations

import os
from pathlib import Path


def start_embedded_postgres(home: Path) -> str:
    """Start (or join) the server whose data lives in `home/pgdata`; returns its URL."""
    # platformdirs warns without it; the server keeps its socket in the data folder anyway.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(home))
    import pgserver  # imported here: only the embedded mode needs the wheel

    data = home / "pgdata"
    data.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data, cleanup_mode="stop")
    return str(server.get_uri())
