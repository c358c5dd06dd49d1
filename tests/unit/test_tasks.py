"""Tasks on the in-memory store: accept, claim once, lease, release, finish, seal, tenancy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import IntegrityError

from domain.shared.sealed import Sealer
from domain.tasks.application import Tasks
from domain.tasks.errors import TaskNotFoundError, TaskStateError
from domain.tasks.tasks import Task, TaskStatus

TENANT = uuid4()
USER = uuid4()
TOKEN = uuid4()
CANARY = "canary-secret-51c2"
T0 = datetime.now(UTC) + timedelta(hours=1)  # after every test task was accepted


def accepted(key: str | None = None) -> Task:
    return Task.accept(
        Task.create_id(TENANT, key),
        tenant=TENANT,
        deployment="toy",
        tool="echo",
        params="sealed:v1:x",
        token_id=TOKEN,
        user_id=USER,
        idempotency_key=key,
    )


@pytest.fixture
def tasks() -> Tasks:
    return Tasks(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, sealer=Sealer(AESCipher.create_key(32))
    )


# --- the aggregate ------------------------------------------------------------------------


def test_an_accepted_task_is_pending_and_claimable_at_once() -> None:
    task = accepted()
    assert task.status is TaskStatus.PENDING
    assert task.claimable_at() == task.created_on
    assert [type(e) for e in task.collect_events()] == [Task.Accepted]


def test_starting_claims_the_task_for_the_lease() -> None:
    task = accepted()
    task.start("w1", T0, lease_seconds=60)
    assert task.status is TaskStatus.RUNNING and task.attempts == 1
    assert task.claimable_at() == T0 + timedelta(seconds=60)
    with pytest.raises(TaskStateError):
        task.start("w2", T0 + timedelta(seconds=59), lease_seconds=60)


def test_an_expired_lease_lets_another_worker_start_the_next_attempt() -> None:
    task = accepted()
    task.start("w1", T0, lease_seconds=60)
    task.start("w2", T0 + timedelta(seconds=60), lease_seconds=60)
    started = [e for e in task.collect_events() if isinstance(e, Task.Started)]
    assert [(e.worker, e.attempt) for e in started] == [("w1", 1), ("w2", 2)]
    with pytest.raises(TaskStateError):  # w1 lost it: its answer is not recorded
        task.finish("w1", T0, succeeded=True, call_id=None, result="r", problem=None)


def test_only_the_holder_finishes_and_a_finished_task_stays_finished() -> None:
    task = accepted()
    with pytest.raises(TaskStateError):  # not started
        task.finish("w1", T0, succeeded=True, call_id=None, result="r", problem=None)
    task.start("w1", T0, lease_seconds=60)
    call_id = uuid4()
    task.finish("w1", T0, succeeded=False, call_id=call_id, result="r", problem=None)
    assert task.status is TaskStatus.FAILED and task.call_id == call_id
    assert task.claimable_at() is None
    with pytest.raises(TaskStateError):
        task.start("w2", T0 + timedelta(days=1), lease_seconds=60)
    with pytest.raises(TaskStateError):
        task.finish("w1", T0, succeeded=True, call_id=None, result="r", problem=None)


def test_a_task_finishes_with_a_result_or_a_problem() -> None:
    task = accepted()
    task.start("w1", T0, lease_seconds=60)
    with pytest.raises(ValueError):
        task.finish("w1", T0, succeeded=True, call_id=None, result=None, problem=None)
    with pytest.raises(ValueError):
        task.finish("w1", T0, succeeded=True, call_id=None, result="r", problem="p")


def test_a_released_task_is_pending_again_for_anyone() -> None:
    task = accepted()
    task.start("w1", T0, lease_seconds=600)
    with pytest.raises(TaskStateError):
        task.release("w2")
    task.release("w1")
    assert task.status is TaskStatus.PENDING and task.claimable(T0)
    task.start("w2", T0, lease_seconds=600)
    assert task.attempts == 2


def test_ids_are_random_or_one_per_tenant_and_key() -> None:
    assert Task.create_id(TENANT, None) != Task.create_id(TENANT, None)
    assert Task.create_id(TENANT, "k") == Task.create_id(TENANT, "k")
    assert Task.create_id(TENANT, "k") != Task.create_id(uuid4(), "k")


# --- the application ------------------------------------------------------------------------


def test_a_task_runs_once_claimed_and_keeps_its_answer_sealed(tasks: Tasks) -> None:
    done = tasks.accept(TENANT, "toy", "echo", {"token": CANARY}, token_id=TOKEN, user_id=USER)
    assert done.status is TaskStatus.PENDING and not done.replayed
    claim = tasks.claim(done.task_id, "w1", lease_seconds=60)
    assert claim is not None and claim.params == {"token": CANARY} and claim.attempt == 1
    assert tasks.claim(done.task_id, "w2", lease_seconds=60) is None  # held by w1
    envelope = {"success": True, "data": {"secret": CANARY}}
    assert tasks.finish(done.task_id, "w1", succeeded=True, call_id=uuid4(), result=envelope)
    view = tasks.task(done.task_id, TENANT)
    assert view.status is TaskStatus.SUCCEEDED and view.result == envelope
    assert view.problem is None and view.finished_at is not None and view.attempts == 1
    stored = [n.state.decode() for n in tasks.recorder.select_notifications(start=1, limit=10)]
    assert stored and not any(CANARY in s for s in stored)  # params and answer are sealed


def test_two_workers_claiming_from_the_same_version_one_wins(tasks: Tasks) -> None:
    done = tasks.accept(TENANT, "toy", "echo", {}, token_id=None, user_id=USER)
    first = tasks._load(done.task_id)
    second = tasks._load(done.task_id)
    assert first is not None and second is not None
    first.start("w1", datetime.now(UTC), 60)
    second.start("w2", datetime.now(UTC), 60)
    tasks.save(first)
    with pytest.raises(IntegrityError):
        tasks.save(second)
    assert tasks.finish(done.task_id, "w2", succeeded=True, result={}) is False


def test_a_repeated_key_answers_the_first_task(tasks: Tasks) -> None:
    first = tasks.accept(
        TENANT, "toy", "echo", {}, token_id=TOKEN, user_id=USER, idempotency_key="k"
    )
    again = tasks.accept(
        TENANT, "toy", "echo", {}, token_id=TOKEN, user_id=USER, idempotency_key="k"
    )
    assert again.task_id == first.task_id and again.replayed and again.position is None
    found = tasks.find(TENANT, "k")
    assert found is not None and found.task_id == first.task_id
    assert tasks.find(TENANT, "other") is None


def test_another_tenants_task_is_not_found(tasks: Tasks) -> None:
    done = tasks.accept(TENANT, "toy", "echo", {}, token_id=TOKEN, user_id=USER)
    with pytest.raises(TaskNotFoundError):
        tasks.task(done.task_id, uuid4())
    with pytest.raises(TaskNotFoundError):
        tasks.task(uuid4(), TENANT)


def test_a_refused_call_finishes_failed_with_its_problem(tasks: Tasks) -> None:
    done = tasks.accept(TENANT, "toy", "echo", {}, token_id=TOKEN, user_id=USER)
    assert tasks.claim(done.task_id, "w1", lease_seconds=60) is not None
    problem = {"status": 404, "code": "deployment.not_found"}
    assert tasks.finish(done.task_id, "w1", succeeded=False, problem=problem)
    view = tasks.task(done.task_id, TENANT)
    assert view.status is TaskStatus.FAILED and view.problem == problem and view.result is None
    assert tasks.claimable_at(done.task_id) is None


def test_the_accepting_worker_may_start_the_task_in_the_same_write(tasks: Tasks) -> None:
    done = tasks.accept(
        TENANT,
        "toy",
        "echo",
        {"text": "x"},
        token_id=None,
        user_id=USER,
        worker="w1",
        lease_seconds=60,
    )
    assert done.status is TaskStatus.RUNNING and done.claim is not None
    assert done.claim.params == {"text": "x"} and done.claim.attempt == 1
    assert tasks.claim(done.task_id, "w2", lease_seconds=60) is None
    assert tasks.finish(done.task_id, "w1", succeeded=True, result={"success": True})
    stored = tasks.recorder.select_notifications(start=1, limit=10)
    assert [n.topic.rsplit(".", 1)[-1] for n in stored] == ["Accepted", "Started", "Finished"]
