"""Every read model the system keeps, by name."""

from __future__ import annotations

from infra.database import Database
from projections.audit import AuditProjection
from projections.base import Projection
from projections.catalogue import CatalogueProjection
from projections.deployments import DeploymentsProjection
from projections.directory import DirectoryProjection
from projections.ledger import LedgerProjection
from projections.tasks import TasksProjection


def all_projections() -> list[Projection]:
    return [
        DirectoryProjection(),
        AuditProjection(),
        LedgerProjection(),
        CatalogueProjection(),
        DeploymentsProjection(),
        TasksProjection(),
    ]


def by_name(name: str) -> Projection:
    for projection in all_projections():
        if projection.name == name:
            return projection
    raise KeyError(name)


def create_all(db: Database, projections: list[Projection] | None = None) -> None:
    with db.connect_owner() as conn:
        for projection in projections or all_projections():
            projection.create(conn)
