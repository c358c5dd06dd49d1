"""Group commit on the in-memory recorder: concurrent commands share one insert, and each
caller still gets its own outcome (a conflicting command fails alone)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from domain.shared.application import CommandResult
from domain.shared.errors import ConcurrentChangeError
from domain.tenancy.application import Registration, Tenancy
from domain.tenancy.tenants import Tenant
from infra.group_commit import GroupCommitter
from tests.unit.tenancy.gwt import PASSWORD, new_tenancy

TIMEOUT = 10.0


class GatedRecorder(POPOApplicationRecorder):
    """The in-memory recorder with a gate: while held, the next insert waits at it, so the
    commands that arrive meanwhile queue up behind the committer's leader."""

    def __init__(self) -> None:
        super().__init__()
        self.inserts: list[int] = []  # events per insert attempt, in order
        self.threads: list[int] = []  # the thread that made each insert attempt
        self._open = threading.Event()
        self._open.set()
        self.waiting = threading.Event()

    def hold(self) -> None:
        self.waiting.clear()
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if not self._open.is_set():
            self.waiting.set()
            assert self._open.wait(TIMEOUT), "the gate was never released"
        self.inserts.append(len(stored_events))
        self.threads.append(threading.get_ident())
        return super().insert_events(stored_events, **kwargs)


class Outcome:
    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, Outcome]:
    outcome = Outcome()

    def run() -> None:
        try:
            outcome.value = fn()
        except BaseException as error:
            outcome.error = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def queued(committer: GroupCommitter) -> int:
    # The committer exposes only its totals; its queue length is how we know everyone waits.
    with committer._lock:
        return len(committer._queue)


@pytest.fixture
def recorder() -> GatedRecorder:
    return GatedRecorder()


@pytest.fixture
def committer() -> GroupCommitter:
    return GroupCommitter()


@pytest.fixture
def app(recorder: GatedRecorder, committer: GroupCommitter) -> Tenancy:
    return new_tenancy(committer=committer, recorder=recorder)


def pile_up(
    app: Tenancy,
    recorder: GatedRecorder,
    committer: GroupCommitter,
    commands: list[Callable[[], Any]],
) -> tuple[Outcome, list[Outcome]]:
    """Hold the store under a leader command, queue `commands` behind it, then let go."""
    owner = app.user_by_email("olga@example.com")
    assert owner is not None
    recorder.hold()
    leader_thread, leader = in_thread(lambda: app.create_team(owner.id, "first", "First"))
    assert recorder.waiting.wait(TIMEOUT)
    started = [in_thread(command) for command in commands]
    wait_for(lambda: queued(committer) == len(commands))
    recorder.release()
    for thread in [leader_thread, *(t for t, _ in started)]:
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    return leader, [outcome for _, outcome in started]


def given_a_team(app: Tenancy) -> None:
    owner = app.register_user("olga@example.com", "olga", PASSWORD).user_id
    app.create_team(owner, "acme", "Acme")


def test_commands_queued_behind_a_leader_share_one_insert(
    app: Tenancy, recorder: GatedRecorder, committer: GroupCommitter
) -> None:
    given_a_team(app)
    batches, commands, inserts = committer.batches, committer.commands, len(recorder.inserts)
    n = 24

    leader, outcomes = pile_up(
        app,
        recorder,
        committer,
        [
            (lambda i=i: app.register_user(f"u{i}@example.com", f"user-{i}", PASSWORD))
            for i in range(n)
        ],
    )

    assert leader.error is None
    assert [o.error for o in outcomes] == [None] * n
    # the leader alone, then everyone else in one batch: one insert of every event
    assert committer.batches - batches == 2
    assert committer.commands - commands == n + 1
    assert recorder.inserts[inserts:] == [1, 3 * n]
    # each caller got its own recordings: its own position, pointing at its own events
    registrations: list[Registration] = [o.value for o in outcomes]
    positions = [r.position for r in registrations]
    assert len(set(positions)) == n
    for registration in registrations:
        (last,) = app.recorder.select_notifications(start=registration.position, limit=1)
        assert last.originator_id == registration.tenant_id
        assert last.topic.endswith("Tenant.Created")
        assert app.user(registration.user_id).personal_tenant_id == registration.tenant_id


def test_a_conflicting_command_in_a_shared_batch_fails_alone(
    app: Tenancy, recorder: GatedRecorder, committer: GroupCommitter
) -> None:
    given_a_team(app)
    owner = app.user_by_email("olga@example.com")
    assert owner is not None
    # two requests loaded the team at the same version
    first, second = app.tenant_by_slug("acme"), app.tenant_by_slug("acme")
    version = first.version
    first.rename("Acme One")
    second.rename("Acme Two")
    n = 10
    batches, inserts = committer.batches, len(recorder.inserts)

    commands: list[Callable[[], Any]] = [
        (lambda i=i: app.register_user(f"u{i}@example.com", f"user-{i}", PASSWORD))
        for i in range(n)
    ]
    commands.insert(3, lambda: app.commit(first))
    commands.insert(7, lambda: app.commit(second))
    leader, outcomes = pile_up(app, recorder, committer, commands)

    assert leader.error is None
    renames = {"Acme One": outcomes[3], "Acme Two": outcomes[7]}
    registrations = [o for i, o in enumerate(outcomes) if i not in (3, 7)]
    assert [o.error for o in registrations] == [None] * n
    winners = {name: o for name, o in renames.items() if o.error is None}
    assert len(winners) == 1, renames
    ((winner_name, winner),) = winners.items()
    (loser,) = (o for o in renames.values() if o.error is not None)
    assert isinstance(winner.value, CommandResult)
    assert winner.value.version == version + 1
    assert isinstance(loser.error, ConcurrentChangeError)
    assert loser.error.code == "concurrent_change"
    # still two batches: the shared insert failed as a whole, then went one command at a time
    assert committer.batches - batches == 2
    attempts = recorder.inserts[inserts:]
    assert attempts[:2] == [1, 3 * n + 2]
    assert sorted(attempts[2:]) == [1, 1] + [3] * n
    # the store holds the winner only
    tenant = app.tenant_by_slug("acme")
    assert (tenant.name, tenant.version) == (winner_name, version + 1)
    ids = [n.id for n in app.recorder.select_notifications(start=1, limit=10_000)]
    assert ids == list(range(1, len(ids) + 1))
    renamed = [
        n for n in app.recorder.select_notifications(start=1, limit=10_000) if "Renamed" in n.topic
    ]
    assert len(renamed) == 1


def ten_registrations_behind_a_leader(
    app: Tenancy, recorder: GatedRecorder, committer: GroupCommitter
) -> list[Outcome]:
    """Ten users registering while a leader holds the store; every command succeeds."""
    leader, outcomes = pile_up(
        app,
        recorder,
        committer,
        [
            (lambda i=i: app.register_user(f"u{i}@example.com", f"user-{i}", PASSWORD))
            for i in range(10)
        ],
    )
    assert leader.error is None
    assert [o.error for o in outcomes] == [None] * 10
    return outcomes


def test_a_batch_is_cut_at_max_batch(recorder: GatedRecorder) -> None:
    committer = GroupCommitter(max_batch=4)
    app = new_tenancy(committer=committer, recorder=recorder)
    given_a_team(app)
    batches, inserts = committer.batches, len(recorder.inserts)

    outcomes = ten_registrations_behind_a_leader(app, recorder, committer)

    assert committer.batches - batches == 1 + 3
    assert sorted(recorder.inserts[inserts + 1 :]) == [6, 12, 12]
    assert len({o.value.position for o in outcomes}) == 10


@pytest.mark.parametrize("max_leads", [1, 2, 4])
def test_a_leader_commits_at_most_max_leads_batches_in_a_row(
    recorder: GatedRecorder, max_leads: int
) -> None:
    """Ten commands queued behind a leader, four to a batch: the leader goes on with the next
    batches itself, up to `max_leads`, then hands the lead to a queued caller."""
    committer = GroupCommitter(max_batch=4, max_leads=max_leads)
    app = new_tenancy(committer=committer, recorder=recorder)
    given_a_team(app)
    inserts = len(recorder.inserts)

    ten_registrations_behind_a_leader(app, recorder, committer)

    threads = recorder.threads[inserts:]  # the held insert, then the three batches queued
    assert len(threads) == 4
    runs = [len(list(run)) for _, run in itertools.groupby(threads)]
    assert runs == {1: [1, 1, 1, 1], 2: [2, 2], 4: [4]}[max_leads]


def test_many_threads_at_once_each_get_their_own_outcome(
    app: Tenancy, committer: GroupCommitter
) -> None:
    """No gate: whatever batches form, exactly one command per version of the team wins."""
    given_a_team(app)
    loaded = [app.tenant_by_slug("acme") for _ in range(20)]
    version = loaded[0].version
    for i, tenant in enumerate(loaded):
        tenant.rename(f"Acme {i}")
    barrier = threading.Barrier(40)

    def rename(tenant: Tenant) -> CommandResult:
        barrier.wait(TIMEOUT)
        return app.commit(tenant)

    def register(i: int) -> Registration:
        barrier.wait(TIMEOUT)
        return app.register_user(f"u{i}@example.com", f"user-{i}", PASSWORD)

    started = [in_thread(lambda t=t: rename(t)) for t in loaded]
    started += [in_thread(lambda i=i: register(i)) for i in range(20)]
    for thread, _ in started:
        thread.join(TIMEOUT)
    outcomes = [o for _, o in started]

    renames, registrations = outcomes[:20], outcomes[20:]
    assert [o.error for o in registrations] == [None] * 20
    winners = [o for o in renames if o.error is None]
    losers = [o for o in renames if o.error is not None]
    assert len(winners) == 1
    assert all(isinstance(o.error, ConcurrentChangeError) for o in losers)
    assert app.tenant_by_slug("acme").version == version + 1
    assert committer.commands >= 40
