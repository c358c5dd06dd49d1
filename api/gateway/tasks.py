"""Asynchronous tool calls: accept now (202), run in the background, keep the answer as events.

Accepting checks what can be checked at once (the deployment, the tool, the params when an
instance lists its tools, a rate limit on accepting), so bad input is still refused with its
problem. The accepting process then claims the task and runs it through `Gateway.call`, like a
synchronous call (limits, routing, billing), keyed `task:<id>`: an attempt after one that was
billed answers the billed result instead of calling again, so a task is billed once.

Every API process also looks for tasks nobody holds: accepted by a process that stopped before
claiming them, given back at shutdown, or claimed by a process whose lease ran out (it died).
Claiming goes through the store's optimistic concurrency, so one process wins each attempt.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from uuid import UUID, uuid4

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.errors import PROBLEM_BASE, problem_body, status_of
from api.gateway.callers import EXECUTE, Caller
from api.gateway.errors import (
    GatewayUnavailableError,
    InvalidParamsError,
    NotCallableError,
    QuotaExceededError,
    RateLimitedError,
    ToolNotFoundError,
)
from api.gateway.service import Gateway
from domain.billing.calls import Call
from domain.shared.context import actor_var, bound, request_id_var
from domain.shared.errors import DomainError
from domain.tasks.application import AcceptedTask, Claim
from domain.tenancy.errors import TenantNotFoundError, TokenInvalidError
from domain.tenancy.tokens import ApiToken
from infra.task_log import ensure_task_index, unheld_after

log = logging.getLogger("mcps.gateway.tasks")

#: How long a task may wait out rate limits and a deployment with no instance up.
RETRY_WINDOW_SECONDS = 30.0
#: Added to a worker's lease (the call's timeout plus the retry window) for slow saves.
LEASE_MARGIN_SECONDS = 10.0
#: Attempts (claims after a worker died) before a task that was never billed is given up.
MAX_ATTEMPTS = 5
#: How often each process looks for tasks nobody holds.
POLL_SECONDS = 1.0
#: How long an unclaimed task is left to the process that accepted it before others take it.
GRACE_SECONDS = 2.0
#: Tasks one process runs at once; the rest wait (and other processes may take them).
CONCURRENCY = 256
#: At shutdown, how long running tasks may finish before they are cut off and given back.
SHUTDOWN_GRACE_SECONDS = 10.0


class TaskRunner:
    def __init__(
        self, gateway: Gateway, *, poll_seconds: float = POLL_SECONDS, worker: str | None = None
    ) -> None:
        self.gateway = gateway
        self.container = gateway.container
        self.tasks = self.container.tasks
        self.worker = worker or f"api:{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self.lease_seconds = (
            gateway.settings.call_timeout_seconds + RETRY_WINDOW_SECONDS + LEASE_MARGIN_SECONDS
        )
        self.poll_seconds = poll_seconds
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._running: dict[UUID, asyncio.Task[None]] = {}
        #: Running tasks that wait for a slot or a retry: nothing of theirs is under way.
        self._waiting: set[UUID] = set()
        self.shutdown_grace = SHUTDOWN_GRACE_SECONDS
        #: Unfinished tasks this process does not run, and when (loop time) to look again.
        self._watch: dict[UUID, float] = {}
        #: Every task accepted or given back up to this log position is finished, watched or ours.
        self._position = 0
        self._scanner: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start looking for tasks nobody holds (on the serving loop)."""
        if self._scanner is None and not self._closing:
            self._scanner = asyncio.create_task(self._scan_forever(), name="tasks.scanner")

    async def close(self) -> None:
        """Stop looking. Tasks that wait (for a slot, a rate limit or an instance) are given
        back at once; the others may finish for a while, then are cut off and given back."""
        self._closing = True
        if self._scanner is not None:
            self._scanner.cancel()
            await asyncio.gather(self._scanner, return_exceptions=True)
        for task_id, task in list(self._running.items()):
            if task_id in self._waiting:
                task.cancel()
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=self.shutdown_grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # --- accepting ----------------------------------------------------------------------------

    async def accept(
        self,
        caller: Caller,
        name: str,
        tool: str,
        params: dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> AcceptedTask:
        """Check the call, record it as a task, and start running it here (claimed in the same
        write when this process has a slot free, else left for whichever takes it first)."""
        tasks = self.tasks
        if idempotency_key is not None:
            first = await run_in_threadpool(tasks.find, caller.tenant_id, idempotency_key)
            if first is not None:
                return first
        # Its own buckets at the plan's call rate: the call is admitted again when it runs,
        # so the queue cannot outgrow what the plan allows.
        await self.gateway.limits.admit(caller, what="tasks")
        await self._check(caller, name, tool, params)
        actor_var.set(caller.actor)
        worker = None if self._closing or self._slots.locked() else self.worker
        accepted = await run_in_threadpool(
            lambda: tasks.accept(
                caller.tenant_id,
                name,
                tool,
                params,
                token_id=caller.token_id,
                user_id=caller.user_id,
                idempotency_key=idempotency_key,
                worker=worker,
                lease_seconds=self.lease_seconds,
            )
        )
        if not accepted.replayed:
            self._submit(accepted.task_id, caller, accepted.claim)
        return accepted

    async def _check(self, caller: Caller, name: str, tool: str, params: dict[str, Any]) -> None:
        """Refuse now what the call would refuse: an unknown deployment or tool, bad params."""
        route = await self.gateway.route(caller, name)
        if route.pricing is None:
            raise NotCallableError(f"the service of {name!r} is no longer available")
        if route.status not in ("running", "degraded"):
            raise NotCallableError(f"{name!r} is {route.status}; start it to call its tools")
        live = await self.gateway.tools_of(route)
        if live is None:
            return  # no instance answers now: the task waits for one (or fails when it runs)
        found = live.get(tool)
        if found is None:
            raise ToolNotFoundError(f"{name!r} has no tool named {tool!r}")
        errors = sorted(found.validator.iter_errors(params), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            raise InvalidParamsError(
                f"params do not match the input schema of {tool!r}: {first.message}",
                field=".".join(["params", *(str(p) for p in first.absolute_path)]),
                errors=[
                    {
                        "field": ".".join(["params", *(str(p) for p in e.absolute_path)]),
                        "message": e.message,
                    }
                    for e in errors[:20]
                ],
            )

    # --- running ------------------------------------------------------------------------------

    def _submit(self, task_id: UUID, caller: Caller | None, claim: Claim | None = None) -> None:
        if self._closing or task_id in self._running:
            return
        self._watch.pop(task_id, None)
        task = asyncio.create_task(self._run(task_id, caller, claim), name=f"task:{task_id}")
        self._running[task_id] = task
        task.add_done_callback(lambda _: self._running.pop(task_id, None))

    async def _run(self, task_id: UUID, caller: Caller | None, claim: Claim | None) -> None:
        self._waiting.add(task_id)
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:
            if claim is not None:
                await self._release(task_id)
            raise
        finally:
            self._waiting.discard(task_id)
        try:
            if claim is None:
                claim = await self._claim(task_id)
            if claim is not None:  # else finished, or another process holds it
                await self._run_claimed(claim, caller)
        finally:
            self._slots.release()

    async def _claim(self, task_id: UUID) -> Claim | None:
        with bound(actor=f"system:{self.worker}"):
            claiming = asyncio.ensure_future(
                run_in_threadpool(self.tasks.claim, task_id, self.worker, self.lease_seconds)
            )
        try:
            return await asyncio.shield(claiming)
        except asyncio.CancelledError:
            if await claiming is not None:  # claimed as we were stopped: give it back
                await self._release(task_id)
            raise

    async def _run_claimed(self, claim: Claim, caller: Caller | None) -> None:
        """Make the call and record its answer (or give the task back if stopped first)."""
        task_id = claim.id
        request_id_var.set(claim.request_id)
        try:
            answer = await self._answer(claim, caller)
        except asyncio.CancelledError:
            await self._release(task_id)  # another process starts it at once
            raise
        except Exception as failure:  # a bug: answered as the sync call would answer it
            log.exception("task %s failed", task_id, exc_info=failure)
            answer = _refused(500, "internal", "something went wrong on our side; it was logged")
        with bound(actor=f"system:{self.worker}"):
            finishing = asyncio.ensure_future(
                run_in_threadpool(lambda: self.tasks.finish(task_id, self.worker, **answer))
            )
        # Cut off or not, the answer is recorded: the call was made.
        if not await asyncio.shield(finishing):
            log.warning("task %s was taken over before it finished here", task_id)

    async def _release(self, task_id: UUID) -> None:
        with bound(actor=f"system:{self.worker}"):
            await asyncio.shield(run_in_threadpool(self.tasks.release, task_id, self.worker))

    async def _answer(self, claim: Claim, caller: Caller | None) -> dict[str, Any]:
        """The call's outcome as the task's answer: the envelope, or the refusal's problem."""
        key = f"task:{claim.id}"
        try:
            if caller is None:
                caller = await run_in_threadpool(self._caller_of, claim)
            if claim.attempt > MAX_ATTEMPTS and not await self._was_billed(claim, key):
                return _refused(
                    500,
                    "task.abandoned",
                    f"the task was started {MAX_ATTEMPTS} times and never finished",
                )
            outcome = await self._call(caller, claim, key)
        except DomainError as refused:
            return {"succeeded": False, "problem": problem_body(status_of(refused), refused)}
        return {
            "succeeded": outcome.success,
            "call_id": outcome.call_id,
            "result": outcome.body(claim.request_id),
        }

    async def _call(self, caller: Caller, claim: Claim, key: str) -> Any:
        """`Gateway.call`, waiting out rate limits and a deployment with no instance up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_WINDOW_SECONDS
        while True:
            if self._closing:
                raise asyncio.CancelledError  # give it back rather than start a call now
            try:
                return await self.gateway.call(
                    caller, claim.deployment, claim.tool, claim.params, idempotency_key=key
                )
            except (RateLimitedError, GatewayUnavailableError) as busy:
                if isinstance(busy, QuotaExceededError):
                    raise
                wait = _retry_after(busy)
                if loop.time() + wait > deadline:
                    raise
            if self._closing:
                raise asyncio.CancelledError  # give it back rather than wait here
            self._waiting.add(claim.id)
            try:
                await asyncio.sleep(wait)
            finally:
                self._waiting.discard(claim.id)

    async def _was_billed(self, claim: Claim, key: str) -> bool:
        call_id = Call.create_id(claim.tenant_id, key)
        return await run_in_threadpool(self.container.billing.billed, call_id) is not None

    def _caller_of(self, claim: Claim) -> Caller:
        """The caller again, for a task another process accepted: still a member, the token
        still usable, the tenant still active."""
        tenancy = self.container.tenancy
        tenant = tenancy.tenant(claim.tenant_id)
        tenant.require_active()
        role = tenant.role_of(claim.user_id)
        if role is None:
            raise TenantNotFoundError("tenant not found")
        scopes = None
        if claim.token_id is not None:
            token = tenancy.get(
                claim.token_id, ApiToken, lambda: TokenInvalidError("the API token is not valid")
            )
            if not token.is_usable:
                raise TokenInvalidError("the API token is revoked or expired")
            scopes = frozenset(token.scopes)
        caller = Caller(
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            plan=tenant.plan,
            role=role,
            user_id=claim.user_id,
            actor=f"token:{claim.token_id}" if claim.token_id else f"user:{claim.user_id}",
            token_id=claim.token_id,
            scopes=scopes,
        )
        caller.require(EXECUTE)
        return caller

    # --- finding tasks nobody holds -----------------------------------------------------------

    async def _scan_forever(self) -> None:
        indexed = False
        while True:
            try:
                if not indexed:
                    await run_in_threadpool(ensure_task_index, self.container.db)
                    indexed = True
                await self.scan()
            except Exception:  # the store is away for a moment: look again next time
                log.warning("looking for tasks failed", exc_info=True)
            await asyncio.sleep(self.poll_seconds)

    async def scan(self) -> None:
        """Read the tasks accepted or given back since the last look, then run those due
        that nobody holds."""
        db = self.container.db
        loop = asyncio.get_running_loop()
        while True:
            page = await run_in_threadpool(unheld_after, db, self._position)
            for task_id in page.open:
                if task_id not in self._running:
                    self._watch[task_id] = loop.time()  # accepted, or given back: look now
            self._position = page.last
            if page.complete:
                break
        now = loop.time()
        for task_id in [t for t, at in self._watch.items() if at <= now]:
            if task_id in self._running:
                self._watch.pop(task_id, None)
                continue
            at = await run_in_threadpool(self.tasks.claimable_at, task_id)
            if at is None:
                self._watch.pop(task_id, None)
                continue
            wait = (at - datetime.now(UTC)).total_seconds() + GRACE_SECONDS
            if wait <= 0:
                self._submit(task_id, None)
            else:
                self._watch[task_id] = loop.time() + wait


def _retry_after(busy: RateLimitedError | GatewayUnavailableError) -> float:
    if isinstance(busy, GatewayUnavailableError):
        return max(0.1, busy.retry_after)
    return max(0.1, float(busy.headers.get("Retry-After", "1")))


def _refused(status: int, code: str, detail: str) -> dict[str, Any]:
    problem = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    return {"succeeded": False, "problem": problem}


def runner_of(app: FastAPI) -> TaskRunner:
    """The app's one task runner (and gateway), made and started on first use, on the loop
    that serves the app."""
    runner: TaskRunner | None = getattr(app.state, "task_runner", None)
    if runner is None:
        gateway: Gateway | None = getattr(app.state, "gateway", None)
        if gateway is None:
            gateway = app.state.gateway = Gateway(app.state.container)
        runner = app.state.task_runner = TaskRunner(gateway)
        runner.start()
    return runner
