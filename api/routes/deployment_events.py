"""Deployments' status followed live: server-sent events from the deployments read model.

`GET …/deployments:events` follows every deployment of a tenant, `GET …/deployments/{name}/events`
one of them. Each change is a `deployment` event whose data is the read model's row, exactly as
`GET …/deployments/{name}` answers it (secrets masked), or a `deleted` event (`{id, name}`)
once a deployment is deleted. An event's `id` is a log position: the read model has applied
every event up to it, so a client that reconnects with `Last-Event-ID` gets every deployment
changed since, and misses nothing. Without `Last-Event-ID` the stream opens with the current
rows (a snapshot, each with the position it was read at). Comment lines keep idle
connections open; the stream ends after `STREAM_MAX_S` (reconnect with the last id).

How changes are found: one watcher per API app learns where the read model stands (its
tracking position in embedded mode; in Kafka mode, whether it has reached the log's head, as
`?wait_for=` does) and wakes the waiting streams when it moves (`api.deployment_watch`: it
LISTENs for the store's commits, so idle streams cost the database nothing). A woken stream
reads which of its tenant's deployments have events in the log between the two positions (one
range of the notification index), then their rows, as its tenant.

A resume from far back gets the current state instead of a diff: when a step spans more than
`RESUME_MAX_BEHIND` log positions (finding the changes reads that whole range of the log's
index, which grows with every tenant's traffic, while the state grows only with the tenant's
deployments) or more than `RESUME_MAX_CHANGED` of the followed deployments changed in it (the
diff would be as large as the state), the stream sends the followed deployments' current
rows, deleted ones included (as `deleted` events), up to `SNAPSHOT_MAX` of them, all with the
step's end as their id. A client that applies events as upserts and deletions ends up where a
diff would have left it; a deployment it never knew of may come as `deleted`. Only a resume
(or a Kafka-mode read model that lagged far behind) takes such a step: a live stream's steps
are what the log gained in a moment.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deployment_watch import STREAMS, DeploymentWatch, watch_of
from api.deps import ContainerDep, PrincipalDep, TenantAccess, tenant_access
from api.errors import PROBLEMS, ProblemError
from api.routes.deployments import public_row
from domain.deployments.errors import DeploymentNotFoundError
from domain.tenancy.values import Role
from infra.container import Container
from projections.deployments_queries import (
    changed_between,
    deployment_ids,
    deployment_of,
    deployments_by_id,
    deployments_of,
)

HEARTBEAT_S = 15.0
STREAM_MAX_S = 30 * 60
SNAPSHOT_MAX = 10_000
#: A step over more log positions than this sends the current state instead of a diff.
RESUME_MAX_BEHIND = 1_000_000
#: As does a step in which more of the followed deployments changed than this.
RESUME_MAX_CHANGED = SNAPSHOT_MAX
#: How long a client waits before it reconnects (the `retry` field).
RETRY_MS = 2000

router = APIRouter(
    prefix="/api/v1/tenants/{slug}/deployments", tags=["deployment-streams"], responses=PROBLEMS
)

SlugPath = Path(min_length=1, max_length=64)
NamePath = Path(min_length=1, max_length=63, description="The deployment's name")
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        pattern=r"^[0-9]{1,18}$",
        description="Resume after this event's `id` (a log position)",
    ),
]
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`deployment` events (data: a `DeploymentPublic`) and `deleted` events"
        " (data: `{id, name}`), each with a log position as its `id`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _sse(event: str, data: dict[str, Any], position: int) -> str:
    return f"event: {event}\nid: {position}\ndata: {json.dumps(data, default=str)}\n\n"


def _event(row: dict[str, Any], position: int) -> str:
    if row["desired"] == "deleted":
        return _sse("deleted", {"id": str(row["id"]), "name": row["name"]}, position)
    return _sse("deployment", public_row(row).model_dump(mode="json"), position)


def _resume_from(container: Container, last_event_id: str | None) -> int | None:
    if last_event_id is None:
        return None
    after = int(last_event_id)
    head = container.events.head()
    if after > head:
        raise ProblemError(
            422,
            "validation_failed",
            f"Last-Event-ID: position {after} is beyond the end of the log ({head})",
            field="Last-Event-ID",
            errors=[{"field": "Last-Event-ID", "message": "beyond the end of the log"}],
        )
    return after


class _Stream:
    """One client's stream: a tenant's deployments, or one of them (`name`)."""

    def __init__(self, container: Container, access: TenantAccess, user_id: UUID, name: str | None):
        self.container = container
        self.tenant_id = access.tenant_id
        self.user_id = user_id
        self.name = name

    def snapshot(self, watch: DeploymentWatch) -> tuple[int, list[str]]:
        """The live rows, for a stream that opens without `Last-Event-ID`."""
        position = watch.read_position()
        with self.container.db.scoped(self.tenant_id, self.user_id) as conn:
            if self.name is None:
                rows = deployments_of(conn, self.tenant_id, limit=SNAPSHOT_MAX)
            else:
                row = deployment_of(conn, self.tenant_id, self.name)
                rows = [] if row is None else [row]
        return position, [_event(row, position) for row in rows]

    def changes(self, after: int, upto: int) -> list[str]:
        """What changed after `after` up to `upto`, oldest change first; the current state if
        that is too much (see the module's docstring)."""
        with self.container.db.scoped(self.tenant_id, self.user_id) as conn:
            ids = deployment_ids(conn, self.tenant_id, self.name)
        if not ids:
            return []
        if upto - after > RESUME_MAX_BEHIND:
            return self.state(ids, upto)
        with self.container.db.owner.connection() as owner:
            changed = changed_between(owner, ids, after, upto)
        if len(changed) > RESUME_MAX_CHANGED:
            return self.state(ids, upto)
        if not changed:
            return []
        with self.container.db.scoped(self.tenant_id, self.user_id) as conn:
            rows = {
                r["id"]: r for r in deployments_by_id(conn, self.tenant_id, [i for i, _ in changed])
            }
        return [_event(rows[i], position) for i, position in changed if i in rows]

    def state(self, ids: list[UUID], position: int) -> list[str]:
        """Every followed deployment's row, deleted ones too, at `position`."""
        with self.container.db.scoped(self.tenant_id, self.user_id) as conn:
            rows = deployments_by_id(conn, self.tenant_id, ids[:SNAPSHOT_MAX])
        rows.sort(key=lambda r: r["name"])
        return [_event(row, position) for row in rows]


def _respond(request: Request, stream: _Stream, after: int | None) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        watch = watch_of(request.app)
        STREAMS.inc()
        try:
            yield f"retry: {RETRY_MS}\n\n"
            if after is None:
                cursor, batch = await run_in_threadpool(stream.snapshot, watch)
                for chunk in batch:
                    yield chunk
            else:
                cursor = after
            started = quiet_since = time.monotonic()
            while not watch.closed and (now := time.monotonic()) - started < STREAM_MAX_S:
                wait = min(HEARTBEAT_S - (now - quiet_since), STREAM_MAX_S - (now - started))
                upto = await watch.beyond(cursor, timeout=max(wait, 0.0))
                batch = []
                if upto > cursor:
                    batch = await run_in_threadpool(stream.changes, cursor, upto)
                    cursor = upto
                for chunk in batch:
                    yield chunk
                now = time.monotonic()
                if batch:
                    quiet_since = now
                elif now - quiet_since >= HEARTBEAT_S:
                    quiet_since = now
                    yield ": keep-alive\n\n"
        finally:
            STREAMS.dec()

    # A proxy must not buffer the stream (nginx honours this header).
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.get(
    ":events",
    summary="Follow a tenant's deployments",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
)
def deployments_events(
    request: Request,
    principal: PrincipalDep,
    container: ContainerDep,
    last_event_id: LastEventId = None,
    slug: str = SlugPath,
) -> StreamingResponse:
    """Server-sent events: every change of a deployment's status, instances or settings."""
    access = tenant_access(container, principal, slug, Role.VIEWER)
    after = _resume_from(container, last_event_id)
    return _respond(request, _Stream(container, access, principal.user_id, None), after)


@router.get(
    "/{name}/events",
    summary="Follow a deployment",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
)
def deployment_events(
    request: Request,
    principal: PrincipalDep,
    container: ContainerDep,
    last_event_id: LastEventId = None,
    slug: str = SlugPath,
    name: str = NamePath,
) -> StreamingResponse:
    """Server-sent events: every change of this deployment, and `deleted` if it is deleted.

    A client resuming with `Last-Event-ID` learns of a deletion it missed: a deleted
    deployment is followed too then (a fresh stream of one is a 404, as reading it is)."""
    access = tenant_access(container, principal, slug, Role.VIEWER)
    after = _resume_from(container, last_event_id)
    with container.db.scoped(access.tenant_id, principal.user_id) as conn:
        if after is None:
            known = deployment_of(conn, access.tenant_id, name) is not None
        else:
            known = bool(deployment_ids(conn, access.tenant_id, name))
    if not known:
        raise DeploymentNotFoundError(f"no deployment named {name!r}")
    return _respond(request, _Stream(container, access, principal.user_id, name), after)
