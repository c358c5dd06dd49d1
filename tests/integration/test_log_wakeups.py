"""Followers of the log wake for the events they handle: the store's NOTIFY names the topics a
commit wrote, billed calls are announced on a channel of their own that only their followers
LISTEN on, a log projector sleeps through the others (and one that lingers takes the commits
that come meanwhile in one batch), and read-your-writes still counts a position it has nothing
to apply up to as reached."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.billing.calls import Call
from domain.tenancy.tenants import Tenant
from domain.tenancy.tokens import ApiToken
from domain.tenancy.values import Scope
from infra.container import Container
from infra.eventstore import ANY_TOPIC, concerns, log_follower, wait_for_commits
from projections import consistency
from projections.base import Cursor, Envelope, Projection
from projections.consistency import has_reached
from projections.ledger import LedgerProjection
from tests.integration.usage_support import PRICING, Caller, Target
from tests.support import make_settings, running_container
from workers.projector import IDLE_STEP_S, LogProjector, wait_until

PASSWORD = "Sup3r-secret!"


class TokensSeen(Projection):
    """The positions of issued API tokens, and nothing else."""

    name = "tokens_seen"
    handles = (ApiToken.Issued,)
    ddl = "CREATE TABLE IF NOT EXISTS {s}.seen (position bigint PRIMARY KEY)"

    def apply(self, cur: Cursor, s: str, envelope: Envelope) -> None:
        cur.execute(f"INSERT INTO {s}.seen (position) VALUES (%s)", [envelope.notification_id])


class CountingProjector(LogProjector):
    """Counts its steps: each is a wake-up that read the log."""

    steps = 0

    def _step(self, conn: psycopg.Connection[Any], upto: int | None = None) -> tuple[int, bool]:
        self.steps += 1
        return super()._step(conn, upto)


class LingeringLedger(LedgerProjection):
    linger_s = 0.5


@contextmanager
def following(store: Container, projection: Projection) -> Iterator[CountingProjector]:
    """`projection`'s schema, and a projector following the log into it until the block ends."""
    with store.db.connect_owner() as conn:
        projection.create(conn)
    projector = CountingProjector(store.events, store.db, projection)
    stop = threading.Event()
    thread = threading.Thread(target=projector.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield projector
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Container]:
    with running_container(make_settings(database_url, tmp_path), projectors=False) as c:
        yield c


def test_a_commit_names_the_topics_it_wrote(store: Container) -> None:
    owner = store.tenancy.register_user("olga@example.com", "olga", PASSWORD).user_id
    with log_follower(store.db) as (_, listener):
        store.tenancy.create_team(owner, "acme", "Acme")
        committed = wait_for_commits(listener, timeout=5.0)
        assert get_topic(Tenant.Created) in committed and ANY_TOPIC not in committed
        assert wait_for_commits(listener, timeout=0.05) == frozenset()  # none since

        with psycopg.connect(store.database_url, autocommit=True) as other:
            other.execute("NOTIFY mcps_events")  # a writer that does not say what it wrote
        assert wait_for_commits(listener, timeout=5.0) == {ANY_TOPIC}

    team = frozenset({get_topic(Tenant.Created)})
    assert concerns(team, [get_topic(Tenant.Created)], [])
    assert not concerns(team, [get_topic(ApiToken.Issued)], [])
    assert concerns(team, [], [])  # a follower of every event
    assert not concerns(team, [], [get_topic(Tenant.Created)])  # ... but this one
    assert concerns(frozenset({ANY_TOPIC}), [get_topic(ApiToken.Issued)], [])


def settled(listener: psycopg.Connection[Any]) -> frozenset[str]:
    """The topics of every commit announced to `listener` until none comes for 0.2 s."""
    seen = wait_for_commits(listener, timeout=5.0)
    while more := wait_for_commits(listener, timeout=0.2):
        seen |= more
    return seen


def test_a_billed_call_wakes_only_the_followers_of_billed_calls(store: Container) -> None:
    billed, team = get_topic(Call.Billed), get_topic(Tenant.Created)
    with (
        log_follower(store.db) as (_, everything),
        log_follower(store.db, [billed]) as (_, calls),
        log_follower(store.db, [team]) as (_, teams),
        log_follower(store.db, [], [billed]) as (_, all_but_calls),
    ):
        Caller(store).bill(uuid4(), Target("dep", "svc", PRICING["paid"]), "echo")

        assert wait_for_commits(everything, timeout=5.0) == {billed}
        assert wait_for_commits(calls, timeout=5.0) == {billed}
        # The others are not even woken: nothing reaches their connections.
        assert wait_for_commits(teams, timeout=0.3) == frozenset()
        assert wait_for_commits(all_but_calls, timeout=0.05) == frozenset()

        owner = store.tenancy.register_user("olga@example.com", "olga", PASSWORD).user_id
        store.tenancy.create_team(owner, "acme", "Acme")
        for listener in (everything, calls, teams, all_but_calls):  # the store's channel
            assert team in settled(listener)

        # One commit of both: each channel names its own.
        loud = "tests.loud:Loud"
        store.events.recorder.insert_events(
            [StoredEvent(uuid4(), 1, topic, b"{}") for topic in (billed, loud, billed)]
        )
        assert wait_for_commits(everything, timeout=5.0) == {billed, loud}
        assert wait_for_commits(teams, timeout=5.0) == {loud}


def test_a_projector_sleeps_through_others_events_and_is_reached_all_the_same(
    store: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    projection = TokensSeen()
    # Read-your-writes looks read models up by name: this one is the test's own.
    known = consistency.by_name
    monkeypatch.setattr(
        consistency, "by_name", lambda name: projection if name == projection.name else known(name)
    )
    tenancy = store.tenancy
    with following(store, projection) as projector:
        owner = tenancy.register_user("olga@example.com", "olga", PASSWORD).user_id
        tenancy.create_team(owner, "acme", "Acme")
        with store.db.connect_owner(autocommit=True) as conn:  # applied what there was
            head = store.events.head()
            assert wait_until(lambda: projector.position(conn) >= head, timeout=5.0)
        steps = projector.steps
        started = time.monotonic()
        for i in range(40):  # events it does not handle, one commit each
            tenancy.create_team(owner, f"team-{i}", f"Team {i}")
        elapsed = time.monotonic() - started
        head = store.events.head()

        # Woken by its idle tick at most, not by 40 commits.
        assert projector.steps - steps <= 2 + elapsed / IDLE_STEP_S
        # Nothing it handles up to the head: reached, whatever its position says.
        assert has_reached(store.db, projection.name, head, distributed=False)
        # A position not yet written is not reached.
        assert not has_reached(store.db, projection.name, head + 10, distributed=False)

        issued = tenancy.issue_token("acme", owner, "ci", [Scope.MCP_READ], None)
        assert not has_reached(store.db, projection.name, issued.position + 10, distributed=False)
        assert wait_until(
            lambda: has_reached(store.db, projection.name, issued.position, distributed=False),
            timeout=5.0,
        )
        with store.db.connect_owner() as conn:
            seen = [r["position"] for r in conn.execute("SELECT position FROM tokens_seen.seen")]
        assert seen == [issued.position]
        # Its position moves to the head at its idle tick.
        with store.db.connect_owner(autocommit=True) as conn:
            assert wait_until(lambda: projector.position(conn) >= head, timeout=3 * IDLE_STEP_S)


def test_a_lingering_projector_takes_the_commits_made_meanwhile_in_one_batch(
    store: Container,
) -> None:
    with (
        following(store, LingeringLedger()) as projector,
        store.db.connect_owner(autocommit=True) as conn,
    ):
        head = store.events.head()
        assert wait_until(lambda: projector.position(conn) >= head, timeout=5.0)
        steps = projector.steps
        # Ten commits, a few ms apart: well within the first one's linger.
        positions = [
            store.events.recorder.insert_events(
                [StoredEvent(uuid4(), 1, "tests.loud:Loud", b"{}")]
            )[0]
            for _ in range(10)
        ]
        assert wait_until(lambda: projector.position(conn) >= positions[-1], timeout=5.0)

        assert projector.steps - steps <= 3  # not one step per commit
        chained = conn.execute(
            "SELECT position FROM ledger.chain WHERE position > %s ORDER BY position", [head]
        )
        assert [row["position"] for row in chained] == positions
