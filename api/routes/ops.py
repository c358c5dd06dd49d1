"""Liveness, readiness and metrics for operators and load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ContainerDep
from api.errors import problem
from projections.status import projection_status

router = APIRouter(tags=["ops"])

MAX_READY_LAG = 10_000


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:  # async: no worker thread just to say "ok"
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness")
def readyz(container: ContainerDep) -> Response:
    """The event store answers and no projection is far behind the log."""
    try:
        head = container.events.head()
        states = projection_status(container.db, head)
    except Exception as error:
        return problem(503, "service.unavailable", f"the event store is unreachable: {error}")
    lagging = {s.name: s.lag for s in states if s.lag > MAX_READY_LAG}
    if lagging:
        return problem(503, "read_model.lagging", "projections are behind", lagging=lagging)
    return JSONResponse(
        {"status": "ready", "head": head, "projections": {s.name: s.position for s in states}}
    )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
