"""The embedded log projector on PostgreSQL: it reads position, head, events and applied
versions in one statement and applies them in one pipelined transaction. Under writers in four
stores committing long batches, two projectors following the same read model together apply
every event of the log exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.tenancy.tokens import ApiToken
from infra.container import Container
from infra.eventstore import build_tenancy, open_event_store
from projections.base import LOG_SOURCE, Cursor, Envelope, Projection
from projections.ledger import LedgerProjection, verify
from tests.support import make_settings, running_container
from workers.projector import LogProjector, read_after, wait_until

PASSWORD = "Sup3r-secret!"
TIMEOUT = 60.0


class SeenProjection(Projection):
    """Every event's position, once: a duplicate or a skipped event shows at once."""

    name = "seen_probe"
    ddl = "CREATE TABLE IF NOT EXISTS {s}.seen (position bigint PRIMARY KEY)"

    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        cur.execute(f"INSERT INTO {s}.seen (position) VALUES (%s)", [envelope.notification_id])


class FailingOnce(SeenProjection):
    def __init__(self) -> None:
        self.failed = False

    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        super().apply(cur, s, envelope)
        if not self.failed:
            self.failed = True
            raise RuntimeError("the read model's database hiccuped")


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Container]:
    with running_container(make_settings(database_url, tmp_path), projectors=False) as c:
        yield c


def log_ids(conn: psycopg.Connection[Any]) -> list[int]:
    return [r["notification_id"] for r in conn.execute("SELECT notification_id FROM mcps_events")]


def seen(conn: psycopg.Connection[Any]) -> list[int]:
    return [r["position"] for r in conn.execute("SELECT position FROM seen_probe.seen")]


def new_tokens(owner: Any, tenant: Any, n: int) -> list[ApiToken]:
    return [
        ApiToken(
            token_hash=f"{time.monotonic_ns()}-{i}",
            tenant=tenant,
            name="probe",
            scopes=["mcp:read"],
            prefix="mcps_probe",
            expires_at=None,
            created_by=owner,
        )
        for i in range(n)
    ]


def test_two_followers_apply_every_event_once_under_long_concurrent_batches(
    store: Container,
) -> None:
    tenancy = store.tenancy
    owner = tenancy.register_user("olga@example.com", "olga", PASSWORD).user_id
    tenant = tenancy.tenant_by_slug("olga").id
    with store.db.connect_owner(autocommit=True) as conn:
        SeenProjection().create(conn)
    stores = [open_event_store(store.settings, store.database_url) for _ in range(4)]
    apps = [build_tenancy(store.settings, s, store.database_url) for s in stores]
    for app in apps:
        app.committer = None  # fifty events per transaction, four stores at once
    stop, following = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def write(app: Any) -> None:
        while not stop.is_set():
            try:
                app.commit(*new_tokens(owner, tenant, 50))
            except BaseException as error:
                errors.append(error)
                return

    projectors = [LogProjector(store.events, store.db, SeenProjection()) for _ in range(2)]
    followers = [threading.Thread(target=p.run, args=(following,)) for p in projectors]
    writers = [threading.Thread(target=write, args=(app,)) for app in apps for _ in range(2)]
    try:
        for thread in [*followers, *writers]:
            thread.start()
        time.sleep(3)
        stop.set()
        for thread in writers:
            thread.join(TIMEOUT)
        with store.db.connect_owner(autocommit=True) as conn:
            head = store.events.head()
            assert wait_until(lambda: projectors[0].position(conn) >= head, TIMEOUT)
            assert not errors, errors
            assert len(log_ids(conn)) > 400
            assert sorted(seen(conn)) == sorted(log_ids(conn))
    finally:
        following.set()
        for thread in followers:
            thread.join(TIMEOUT)
        for app, events in zip(apps, stores, strict=True):
            app.close()
            events.close()


def test_a_failed_batch_rolls_back_and_is_applied_again(store: Container) -> None:
    tenancy = store.tenancy
    tenancy.register_user("olga@example.com", "olga", PASSWORD)
    projection = FailingOnce()
    with store.db.connect_owner(autocommit=True) as conn:
        projection.create(conn)
        projector = LogProjector(store.events, store.db, projection)

        with pytest.raises(RuntimeError):
            projector.catch_up(conn)
        assert projector.position(conn) == 0
        assert seen(conn) == []

        projector.catch_up(conn)
        assert projector.position(conn) == store.events.head()
        assert sorted(seen(conn)) == sorted(log_ids(conn))


def test_the_ledger_turns_a_redelivered_batch_away_by_position(store: Container) -> None:
    """The ledger keeps no applied versions (`tracks_versions = False`): its chain, keyed by
    log position, is what makes a batch applied twice leave it as it was."""
    tenancy = store.tenancy
    owner = tenancy.register_user("olga@example.com", "olga", PASSWORD).user_id
    tenancy.create_team(owner, "acme", "Acme")
    ledger = LedgerProjection()
    with store.db.connect_owner(autocommit=True) as conn:
        LogProjector(store.events, store.db, ledger).catch_up(conn)
        chain = conn.execute("SELECT position, hash FROM ledger.chain ORDER BY 1").fetchall()
        batch = read_after(store.events, 0, 1000, [])
        assert batch is not None
        envelopes, end = batch

        ledger.apply_batch(conn, envelopes, {(LOG_SOURCE, 0): end})

        assert conn.execute("SELECT position, hash FROM ledger.chain ORDER BY 1").fetchall() == (
            chain
        )
        assert [r["position"] for r in chain] == log_ids(conn)
        assert conn.execute("SELECT count(*) AS n FROM ledger.applied").fetchone() == {"n": 0}
        assert verify(conn) == (len(chain), None)
