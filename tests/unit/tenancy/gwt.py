"""Given/when/then for tenancy on the in-memory store: fixtures' helpers, no services.

`then` is always a list of domain events: `aggregate.collect_events()` for an aggregate, or
what a `Tenancy` command recorded (read back from the notification log) for the application.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.cipher import AESCipher

from domain.shared.aggregate import deterministic_id
from domain.shared.sealed import Sealer
from domain.tenancy.application import Tenancy, digest
from domain.tenancy.tenants import Tenant
from domain.tenancy.values import Role

E = TypeVar("E")

PASSWORD = "Corr3ct-horse"


class FakeHasher:
    """A deterministic stand-in for argon2: fine for pure domain tests, never for production."""

    def hash(self, password: str) -> str:
        return "fakehash$" + hashlib.sha256(password.encode()).hexdigest()

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == self.hash(password)


def new_tenancy(**kwargs: Any) -> Tenancy:
    return Tenancy(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        hasher=FakeHasher(),
        sealer=Sealer(AESCipher.create_key(32)),
        **kwargs,
    )


def names(events: Sequence[Any]) -> list[str]:
    return [type(e).__qualname__ for e in events]


def one(events: Sequence[Any], cls: type[E]) -> E:
    found = [e for e in events if type(e) is cls]
    assert len(found) == 1, f"expected one {cls.__qualname__}, got {names(events)}"
    return found[0]


def head(app: Tenancy) -> int:
    return app.recorder.max_notification_id() or 0


def recorded_since(app: Tenancy, position: int) -> list[Any]:
    notifications = app.recorder.select_notifications(
        start=position, limit=10_000, inclusive_of_start=False
    )
    return [app.mapper.to_domain_event(n) for n in notifications]


def stored_states(app: Tenancy) -> list[bytes]:
    return [n.state for n in app.recorder.select_notifications(start=1, limit=10_000)]


@contextmanager
def recording(app: Tenancy) -> Iterator[list[Any]]:
    """`with recording(app) as then:` collects the events the block stored, even if it raised."""
    start = head(app)
    recorded: list[Any] = []
    try:
        yield recorded
    finally:
        recorded.extend(recorded_since(app, start))


@dataclass(frozen=True)
class Team:
    """A team tenant 'acme' with one member per role, all registered users."""

    slug: str
    tenant_id: UUID
    ids: dict[str, UUID]

    def __getitem__(self, who: str) -> UUID:
        return self.ids[who]


def register(app: Tenancy, username: str) -> UUID:
    return app.register_user(f"{username}@example.com", username, PASSWORD).user_id


def join(app: Tenancy, slug: str, by: UUID, username: str, role: Role) -> UUID:
    existing = app.user_by_email(f"{username}@example.com")
    user_id = existing.id if existing is not None else register(app, username)
    invitation = app.invite_member(slug, by, f"{username}@example.com", role)
    app.accept_invitation(invitation.token, user_id)
    return user_id


def make_team(app: Tenancy, slug: str = "acme", **members: Role) -> Team:
    owner = register(app, "olga")
    app.create_team(owner, slug, "Acme Inc")
    ids = {"owner": owner}
    for username, role in members.items():
        ids[username] = join(app, slug, owner, username, role)
    return Team(slug, Tenant.create_id(slug), ids)


def team_aggregate(**members: Role) -> tuple[Tenant, dict[str, UUID]]:
    """A Tenant aggregate (no store) owned by 'owner', with the given members; events collected."""
    ids = {"owner": deterministic_id("test-user", "owner")}
    tenant = Tenant(
        slug="acme",
        name="Acme Inc",
        kind="team",
        owner_id=ids["owner"],
        owner_username="owner",
        owner_email="owner@example.com",
    )
    for username, role in members.items():
        ids[username] = deterministic_id("test-user", username)
        invitation_id = deterministic_id("test-invitation", username)
        email = f"{username}@example.com"
        tenant.invite(ids["owner"], email, role, digest(username), invitation_id)
        tenant.accept_invitation(invitation_id, digest(username), ids[username], username, email)
    tenant.collect_events()
    return tenant, ids
