"""The ClickHouse sink (chDB in process) counts every event once, also after a crash re-send."""

from __future__ import annotations

import uuid
from collections import Counter

from domain.shared.context import bound
from infra.clickhouse import clickhouse_client
from infra.container import Container
from projections.activity import ActivitySink
from projections.events import type_name
from workers.projector import SinkProjector


def _sink(container: Container) -> ActivitySink:
    client = clickhouse_client(None, container.settings.home.parent / "shared-chdb")
    sink = ActivitySink(client, container.db, database=f"t_{uuid.uuid4().hex[:10]}")
    sink.create()
    return sink


def _expected(container: Container) -> Counter[str]:
    notifications = container.events.recorder.select_notifications(start=0, limit=100_000)
    return Counter(type_name(container.events.decode(n)) for n in notifications)


def test_every_event_lands_once_even_when_batches_are_resent(container: Container) -> None:
    with bound(actor="system:test"):
        for i in range(5):
            reg = container.tenancy.register_user(
                f"ch{i}@example.com", f"chuser{i}", "Sup3r-secret!"
            )
            container.tenancy.create_team(reg.user_id, f"chteam{i}", f"Team {i}")
    sink = _sink(container)
    projector = SinkProjector(container.events, sink, batch_size=4)
    projector.catch_up()
    expected = _expected(container)
    assert sink.counts_by_type() == dict(sorted(expected.items()))

    # A crash after the insert but before the checkpoint: every batch is sent again.
    with container.db.owner.connection() as conn:
        conn.execute(f"UPDATE {sink.name}.tracking SET position = 0")
    SinkProjector(container.events, sink, batch_size=4).catch_up()
    assert sink.counts_by_type() == dict(sorted(expected.items()))
    raw = sink.client.query(f"SELECT count() FROM {sink.qualified} FINAL").result_rows[0][0]
    assert raw == sum(expected.values())
