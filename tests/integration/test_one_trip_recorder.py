"""The event store's one-round-trip recorder on PostgreSQL: the library's table-lock semantics
(no gaps for a tailing reader, a bounded lock wait, conflicts as IntegrityError) kept, and
each command of a shared batch still gets its own outcome."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from domain.shared.application import CommandResult
from domain.shared.errors import ConcurrentChangeError
from domain.tenancy.application import Tenancy
from domain.tenancy.tokens import ApiToken
from infra.container import Container
from infra.eventstore import build_tenancy, open_event_store
from infra.group_commit import GroupCommitter
from infra.recorder import OneTripRecorder
from tests.support import make_settings, running_container

PASSWORD = "Sup3r-secret!"
TIMEOUT = 30.0
TOPIC = "tests.integration:Probe"


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Container]:
    with running_container(make_settings(database_url, tmp_path), projectors=False) as c:
        yield c


def stored(originator_id: uuid.UUID, version: int = 1) -> StoredEvent:
    return StoredEvent(originator_id, version, TOPIC, b"\x00\\\"{},'state")


def ids_in_log(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT notification_id FROM mcps_events ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def test_every_application_writes_through_the_one_trip_recorder(store: Container) -> None:
    recorder = store.events.recorder
    assert isinstance(recorder, OneTripRecorder)
    assert store.tenancy.recorder is recorder
    recorder.insert_events([stored(uuid.uuid4())])
    (cursor,) = recorder._idle  # the writer it keeps, checked the way tests may
    # durable before the command answers: the writer commits synchronously
    assert cursor.execute("SHOW synchronous_commit").fetchone() == ("on",)


def test_events_round_trip_byte_for_byte_in_order(store: Container) -> None:
    recorder = store.events.recorder
    events = [stored(uuid.uuid4(), version) for version in (1, 2, 3)]

    ids = recorder.insert_events(events)

    assert ids == sorted(ids) and len(ids) == 3
    read = recorder.select_notifications(start=ids[0], limit=10)
    assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in read] == [
        (i, e.originator_id, e.originator_version, e.topic, e.state)
        for i, e in zip(ids, events, strict=True)
    ]


def test_a_duplicate_version_fails_the_whole_insert_with_integrity_error(store: Container) -> None:
    recorder = store.events.recorder
    taken = uuid.uuid4()
    recorder.insert_events([stored(taken)])
    before = ids_in_log(store.database_url)

    with pytest.raises(IntegrityError):
        recorder.insert_events([stored(uuid.uuid4()), stored(taken)])

    assert ids_in_log(store.database_url) == before  # nothing of the failed batch is stored


def test_the_wait_for_the_table_lock_is_bounded(store: Container) -> None:
    with psycopg.connect(store.database_url) as holder:
        holder.execute("LOCK TABLE mcps_events IN EXCLUSIVE MODE")
        with psycopg.connect(store.database_url, autocommit=True) as writer:
            started = time.monotonic()
            with pytest.raises(psycopg.errors.LockNotAvailable):
                writer.execute(
                    "SELECT * FROM mcps_events_insert(%s, %s, %s, %s, %s)",
                    [[uuid.uuid4()], [1], [TOPIC], [b"x"], "200ms"],
                )
            assert time.monotonic() - started < 5


def test_a_lost_writer_connection_is_replaced(store: Container) -> None:
    recorder = store.events.recorder
    recorder.insert_events([stored(uuid.uuid4())])
    (cursor,) = recorder._idle
    with psycopg.connect(store.database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [cursor.connection.info.backend_pid])

    ids = recorder.insert_events([stored(uuid.uuid4())])

    assert len(ids) == 1
    # the library's error type, as its own recorder raises it
    with pytest.raises(OperationalError), recorder._writing() as writing:
        writing.execute("SELECT pg_terminate_backend(pg_backend_pid())")


# --- group commit on PostgreSQL -------------------------------------------------------------


def queued(committer: GroupCommitter) -> int:
    with committer._lock:
        return len(committer._queue)


def in_threads(fns: list[Callable[[], Any]]) -> tuple[list[threading.Thread], list[Any]]:
    outcomes: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        try:
            outcomes[i] = fns[i]()
        except Exception as error:
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(fns))]
    for thread in threads:
        thread.start()
    return threads, outcomes


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_conflicting_commands_in_one_batch_each_get_their_own_outcome(store: Container) -> None:
    tenancy, committer = store.tenancy, store.events.committer
    owner = tenancy.register_user("olga@example.com", "olga", PASSWORD).user_id
    tenancy.create_team(owner, "acme", "Acme")
    first, second = tenancy.tenant_by_slug("acme"), tenancy.tenant_by_slug("acme")
    version = first.version
    first.rename("Acme One")
    second.rename("Acme Two")
    batches = committer.batches

    with psycopg.connect(store.database_url) as holder:
        # The table lock held elsewhere stops the leader's insert inside the server, so the
        # commands started meanwhile all queue behind it and go in the next batch together.
        holder.execute("LOCK TABLE mcps_events IN EXCLUSIVE MODE")
        leader, leader_outcome = in_threads([lambda: tenancy.create_team(owner, "lead", "Lead")])
        wait_for(lambda: queued(committer) == 0 and committer._leading)
        commands: list[Callable[[], Any]] = [
            (lambda i=i: tenancy.register_user(f"u{i}@example.com", f"user-{i}", PASSWORD))
            for i in range(6)
        ]
        commands[2:2] = [lambda: tenancy.commit(first), lambda: tenancy.commit(second)]
        threads, outcomes = in_threads(commands)
        wait_for(lambda: queued(committer) == len(commands))
        holder.rollback()
    for thread in [*leader, *threads]:
        thread.join(TIMEOUT)

    assert not isinstance(leader_outcome[0], Exception)
    renames, registrations = outcomes[2:4], outcomes[:2] + outcomes[4:]
    assert not any(isinstance(o, Exception) for o in registrations), registrations
    winners = [o for o in renames if isinstance(o, CommandResult)]
    assert len(winners) == 1, renames
    assert winners[0].version == version + 1
    assert [type(o) for o in renames if o not in winners] == [ConcurrentChangeError]
    # the leader alone, then every queued command in one shared (then split) batch
    assert committer.batches - batches == 2
    assert tenancy.tenant_by_slug("acme").version == version + 1


def test_a_tailing_reader_sees_every_event_under_eight_writers(store: Container) -> None:
    tenancy = store.tenancy
    owner = tenancy.register_user("olga@example.com", "olga", PASSWORD).user_id
    tenancy.create_team(owner, "acme", "Acme")
    tenant_id = tenancy.tenant_by_slug("olga").id
    # four stores, as four processes would have, each with its own writers and committer
    stores = [open_event_store(store.settings, store.database_url) for _ in range(3)]
    apps = [tenancy] + [build_tenancy(store.settings, s, store.database_url) for s in stores]
    stop, written = threading.Event(), threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def write(app: Tenancy) -> None:
        while not stop.is_set():
            token = ApiToken(
                token_hash=uuid.uuid4().hex,
                tenant=tenant_id,
                name="probe",
                scopes=["mcp:read"],
                prefix="mcps_probe",
                expires_at=None,
                created_by=owner,
            )
            # ...and two renames from the same version, so that transactions roll back too
            first, second = app.tenant_by_slug("acme"), app.tenant_by_slug("acme")
            first.rename("Acme One")
            second.rename("Acme Two")
            try:
                for aggregate in (token, first, second):
                    with contextlib.suppress(ConcurrentChangeError):
                        app.commit(aggregate)
                # a long batch: without the table lock, concurrent ones would interleave ids
                app.recorder.insert_events([stored(uuid.uuid4()) for _ in range(50)])
            except BaseException as error:
                errors.append(error)
                return

    def tail() -> None:
        after = 0
        while True:
            done = written.is_set()
            for n in tenancy.recorder.select_notifications(
                start=after, limit=500, inclusive_of_start=False
            ):
                seen.append(n.id)
                after = n.id
            if done:
                return

    writers = [threading.Thread(target=write, args=(app,)) for app in apps for _ in range(2)]
    reader = threading.Thread(target=tail)
    try:
        for thread in [*writers, reader]:
            thread.start()
        time.sleep(3)
        stop.set()
        for thread in writers:
            thread.join(TIMEOUT)
        written.set()
        reader.join(TIMEOUT)
    finally:
        for app, events in zip(apps[1:], stores, strict=True):
            app.close()
            events.close()

    assert not errors, errors
    assert len(seen) > 100
    assert seen == ids_in_log(store.database_url)  # nothing passed over, nothing twice
