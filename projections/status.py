"""Where each projection stands against the log: position, lag, last update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from infra.database import Database
from projections.base import schema_exists
from projections.registry import all_projections


@dataclass(frozen=True)
class ProjectionState:
    name: str
    position: int
    lag: int
    updated_at: datetime | None
    state: str


def projection_status(db: Database, head: int) -> list[ProjectionState]:
    """For log-following projections the position is a log position; for Kafka ones the
    highest log position applied (the `applied` watermark is per partition)."""
    states = []
    with db.owner.connection() as conn:
        for projection in all_projections():
            if not schema_exists(conn, projection.name):
                states.append(ProjectionState(projection.name, 0, head, None, "missing"))
                continue
            row = conn.execute(
                f"SELECT coalesce(max(position) FILTER (WHERE source = 'log'), 0) AS position,"
                f" max(updated_at) AS updated_at FROM {projection.name}.tracking"
            ).fetchone()
            position = row["position"] if row else 0
            lag = max(head - position, 0)
            states.append(
                ProjectionState(
                    projection.name,
                    position,
                    lag,
                    row["updated_at"] if row else None,
                    "live" if lag == 0 else "catching up",
                )
            )
    return states
