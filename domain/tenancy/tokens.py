"""An API token: opaque to its holder, known to us only by its hash, scoped to one tenant."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import BaseAggregate, deterministic_id, utcnow


class ApiToken(BaseAggregate):
    class Issued(BaseAggregate.Created):
        token_hash: str
        tenant: UUID
        name: str
        scopes: list[str]
        prefix: str
        expires_at: datetime | None
        created_by: UUID

    class Revoked(BaseAggregate.Event):
        by: str

    @staticmethod
    def create_id(token_hash: str, *_: object, **__: object) -> UUID:
        return deterministic_id("api-token", token_hash)

    @event(Issued)
    def __init__(
        self,
        token_hash: str,
        tenant: UUID,
        name: str,
        scopes: list[str],
        prefix: str,
        expires_at: datetime | None,
        created_by: UUID,
    ) -> None:
        self.tenant = tenant
        self.name = name
        self.scopes = scopes
        self.prefix = prefix
        self.expires_at = expires_at
        self.created_by = created_by
        self.revoked = False

    @property
    def is_usable(self) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > utcnow())

    def revoke(self, by: str) -> None:
        if not self.revoked:
            self._revoke(by=by)

    @event(Revoked)
    def _revoke(self, by: str) -> None:
        self.revoked = True
