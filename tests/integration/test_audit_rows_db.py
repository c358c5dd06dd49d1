"""In PostgreSQL, the audit rows a replay writes from the stored JSON are the rows the decoded
events give: every event class of `domain` (plain values and awkward ones) plus real commands
go into the log; `workers.replay.replay` builds `audit`, and the reference schema gets the
rows of `audit_row` over the store's decoded events. Both tables must hold the same text."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from domain.tenancy.tokens import ApiToken
from infra.container import Container
from projections.audit import AuditProjection
from projections.base import Envelope
from tests.support import make_settings, running_container
from tests.unit.test_audit_rows import EVENT_CLASSES, SEALED, _fields
from workers.replay import replay

REFERENCE = "audit_reference"


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Container]:
    with running_container(make_settings(database_url, tmp_path), projectors=False) as c:
        yield c


def _states(cls: type) -> list[dict[str, Any]]:
    """A plain state and an awkward one for the class's fields."""
    plain: dict[Any, Any] = {str: "plain", int: 7, bool: True, datetime: datetime.now(UTC)}
    awkward: dict[Any, Any] = {
        str: SEALED,
        int: 2**70,
        bool: False,
        float: 0.1,
        datetime: datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=UTC),
    }
    states = []
    for values in (plain, awkward):
        state = {}
        for name, hint in _fields(cls).items():
            options = [hint, *getattr(hint, "__args__", ())]
            value = next((values[h] for h in options if h in values), None)
            if any(getattr(h, "__name__", "") == "UUID" for h in options):
                value = uuid4()
            if getattr(hint, "__origin__", None) is dict:
                value = {"id": uuid4(), "at": datetime.now(UTC), "n": [1, "ünï \\ \t"]}
            state[name] = value
        state["timestamp"] = datetime.now(UTC)
        if "tenant_id" in state:  # metadata as the base event sets it: a tenant's id as text
            state["tenant_id"] = str(uuid4()) if values is plain else None
        states.append(state)
    return states


def _every_class(container: Container) -> list[StoredEvent]:
    mapper = container.events.mapper
    stored = []
    for cls in EVENT_CLASSES:
        for state in _states(cls):
            event = object.__new__(cls)
            object.__setattr__(
                event, "__dict__", {**state, "originator_id": uuid4(), "originator_version": 1}
            )
            stored.append(mapper.to_stored_event(event))  # type: ignore[arg-type]
    return stored


def _rows(conn: psycopg.Connection[Any], schema: str) -> list[Any]:
    return conn.execute(f"SELECT x::text FROM {schema}.audit_view x ORDER BY position").fetchall()


def test_replayed_rows_equal_the_rows_of_the_decoded_events(store: Container) -> None:
    owner = uuid4()
    tokens = [
        ApiToken(
            token_hash=secrets.token_hex(32),
            tenant=uuid4(),
            name=f"probe {i}",
            scopes=["mcp:read"],
            prefix="mcps_probe",
            expires_at=datetime.now(UTC),
            created_by=owner,
        )
        for i in range(3)
    ]
    store.events.store.save(*tokens)
    store.events.recorder.insert_events(_every_class(store))

    audit = AuditProjection()
    result = replay(store.events, store.db, audit)
    assert result.events > 2 * len(EVENT_CLASSES) - 10

    notifications = store.events.recorder.select_notifications(start=1, limit=10_000)
    decoded = [Envelope(n.id, store.events.decode(n)) for n in notifications]
    with store.db.connect_owner(autocommit=True) as conn:
        audit.create(conn, REFERENCE)
        with conn.transaction(), conn.cursor() as cur:
            audit.load_many(cur, REFERENCE, [e for e in decoded if audit.wants(e.event)])
        replayed, reference = _rows(conn, "audit"), _rows(conn, REFERENCE)
    assert len(reference) == result.events
    assert replayed == reference
