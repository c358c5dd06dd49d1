"""Replay equivalence of the catalogue: rows built live, batch by batch, equal a rebuild.

Hypothesis drives random marketplace command sequences (valid or not: domain errors are
recorded as rejected) through the `Marketplace` application against one real PostgreSQL
database per example, projects them live with `LogProjector.catch_up` at random points (and
rebuilds swapped in at random points, as an operator would run them), then rebuilds the
catalogue with `workers.replay.replay` and compares every catalogue table row by row.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import semver
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from domain.marketplace.application import Acting, Marketplace
from domain.shared.context import bound
from domain.shared.errors import DomainError
from domain.tenancy.values import Role
from infra.container import Container
from projections.base import LOG_SOURCE, read_positions
from projections.catalogue import CatalogueProjection
from tests.integration.catalogue_support import RUNTIMES
from tests.support import dump_read_models, make_settings, running_container, throwaway_database
from workers.projector import LogProjector
from workers.replay import replay

NAMES = ["alpha", "beta", "gamma"]
PUBLISHERS = [(UUID(int=1), "acme"), (UUID(int=2), "zeta")]
OWNER = Acting(role=Role.OWNER)
STRANGER = Acting(role=None)
OPERATOR = Acting(role=None, platform_admin=True)
USERS = [UUID(int=100 + i) for i in range(4)]
DESCRIPTIONS = ["Weather forecasts.", "天气预报和空气质量。", "Git repositories, issues and PRs."]

names = st.sampled_from(NAMES)
users = st.integers(0, len(USERS) - 1)
ratings = st.integers(1, 5)
commands = st.one_of(
    st.tuples(st.just("draft"), names, st.integers(0, 1)),
    st.tuples(st.just("update"), names, st.integers(0, 5)),
    st.tuples(
        st.just("release"), names, st.sampled_from(["patch", "minor", "pre"]), st.integers(0, 2)
    ),
    st.tuples(st.just("yank"), names, st.integers(0, 3)),
    st.tuples(st.just("publish"), names),
    st.tuples(st.just("publish"), names),  # twice as likely: most of the rest needs it
    st.tuples(st.just("deprecate"), names, st.booleans()),
    st.tuples(st.just("unpublish"), names),
    st.tuples(st.just("feature"), names, st.booleans()),
    st.tuples(st.just("introspect"), names),
    st.tuples(st.just("review"), names, users, ratings),
    st.tuples(st.just("review"), names, users, ratings),
    st.tuples(st.just("edit_review"), names, users, ratings),
    st.tuples(st.just("remove_review"), names, users, st.booleans()),
    st.just(("catch_up",)),
    st.just(("replay",)),
)


@dataclass
class Driver:
    """Runs generated commands like a client would; steers them towards changing something."""

    market: Marketplace
    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    step: int = 0

    def run(self, command: tuple[Any, ...]) -> None:
        self.step += 1
        name, *args = command
        try:
            with bound(actor=f"test:{name}", request_id=f"req-{self.step}"):
                getattr(self, f"do_{name}")(*args)
        except DomainError as error:
            self.rejected.append(f"{name}: {error.code}")
        else:
            self.accepted.append(name)

    def do_draft(self, name: str, publisher: int) -> None:
        publisher_id, slug = PUBLISHERS[publisher]
        details = {
            "display_name": name.title(),
            "description": DESCRIPTIONS[self.step % len(DESCRIPTIONS)],
            "category": "data",
            "tags": [name, "mcp"],
        }
        self.market.draft(name, publisher_id, slug, OWNER, details)

    def do_update(self, name: str, variant: int) -> None:
        changes: list[dict[str, Any]] = [
            {"display_name": f"{name.title()} #{self.step}"},
            {"description": DESCRIPTIONS[self.step % len(DESCRIPTIONS)] + f" v{self.step}"},
            {"tags": [f"tag{self.step % 4}", "mcp"]},
            {"category": ["web", "ai", "data"][self.step % 3]},
            {"pricing": {"model": "PAID", "price_per_request": f"0.00{self.step % 9 + 1}"}},
            {"icon_url": f"https://icons.example.com/{self.step}.png"},
        ]
        self.market.update(name, OWNER, changes[variant])

    def do_release(self, name: str, bump: str, runtime: int) -> None:
        """The next version above the highest: a patch, a minor, or a patch's pre-release."""
        highest = self.market.service(name).highest_version
        if highest is None:
            after = semver.Version(1, 0, 0)
        else:
            current = semver.Version.parse(highest)
            after = current.bump_minor() if bump == "minor" else current.bump_patch()
        version = str(after.replace(prerelease="rc.1") if bump == "pre" else after)
        kind = list(RUNTIMES)[runtime]
        self.market.release(
            name, OWNER, version, {"changelog": f"step {self.step}", "runtime": RUNTIMES[kind]}
        )

    def version(self, name: str, index: int) -> str:
        service = self.market.service(name)
        versions = sorted(service.versions)
        return versions[index % len(versions)] if versions else "9.9.9"

    def do_yank(self, name: str, index: int) -> None:
        self.market.yank(name, OWNER, self.version(name, index), f"reason {self.step}")

    def do_publish(self, name: str) -> None:
        self.market.publish(name, OWNER)

    def do_deprecate(self, name: str, with_successor: bool) -> None:
        successor = next((n for n in NAMES if n != name), None) if with_successor else None
        self.market.deprecate(name, OWNER, successor, "superseded")

    def do_unpublish(self, name: str) -> None:
        self.market.unpublish(name, OWNER, "withdrawn")

    def do_feature(self, name: str, featured: bool) -> None:
        self.market.feature(name, OPERATOR, featured)

    def do_introspect(self, name: str) -> None:
        tools = [{"name": f"tool_{self.step}", "description": "", "input_schema": {}}]
        self.market.record_introspection(name, self.version(name, 0), tools, {"step": self.step})

    def do_review(self, name: str, user: int, rating: int) -> None:
        tenant = uuid5(USERS[user], "tenant")
        self.market.post_review(
            name, USERS[user], f"user{user}", tenant, STRANGER, rating, f"{self.step}"
        )

    def do_edit_review(self, name: str, user: int, rating: int) -> None:
        self.market.edit_review(name, USERS[user], rating, f"edited {self.step}")

    def do_remove_review(self, name: str, user: int, by_moderator: bool) -> None:
        remover = UUID(int=999) if by_moderator else USERS[user]
        acting = OPERATOR if by_moderator else STRANGER
        self.market.remove_review(name, USERS[user], remover, acting, "removed")


@contextmanager
def fresh_container() -> Iterator[Container]:
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_database())
        home = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        yield stack.enter_context(running_container(make_settings(url, home), projectors=False))


def catalogue_rows(conn: Any) -> dict[str, list[str]]:
    return {k: v for k, v in dump_read_models(conn).items() if k.startswith("catalogue.")}


#: Services to act on (two listed, one draft) and a review, so that examples are not spent
#: on "not found".
PREAMBLE: list[tuple[Any, ...]] = [
    ("draft", "alpha", 0),
    ("draft", "beta", 1),
    ("draft", "gamma", 0),
    ("release", "alpha", "patch", 0),
    ("release", "beta", "patch", 2),
    ("publish", "alpha"),
    ("publish", "beta"),
    ("review", "alpha", 0, 4),
]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(script=st.lists(commands, min_size=5, max_size=40))
# Always tried: ratings moved out and back in, a version yanked, then a rebuild mid-way.
@example(
    script=[
        ("review", "alpha", 1, 2),
        ("catch_up",),
        ("edit_review", "alpha", 1, 5),
        ("remove_review", "alpha", 0, False),
        ("release", "alpha", "minor", 1),
        ("yank", "alpha", 1),
        ("replay",),
        ("review", "alpha", 0, 3),
        ("unpublish", "alpha"),
        ("catch_up",),
    ]
)
def test_live_catalogue_equals_replay_from_zero(script: list[tuple[Any, ...]]) -> None:
    projection = CatalogueProjection()
    with fresh_container() as container:
        driver = Driver(container.marketplace)
        projector = LogProjector(container.events, container.db, projection, batch_size=5)
        with container.db.connect_owner(autocommit=True) as conn:
            for command in [*PREAMBLE, *script]:
                if command[0] == "catch_up":
                    projector.catch_up(conn)
                elif command[0] == "replay":
                    replay(container.events, container.db, projection)
                else:
                    driver.run(command)
            projector.catch_up(conn)
            head = container.events.head()
            live = catalogue_rows(conn)
            live_position = read_positions(conn, projection.name)[(LOG_SOURCE, 0)]

            assert replay(container.events, container.db, projection).position == head
            rebuilt = catalogue_rows(conn)

    event(f"accepted {len(driver.accepted) // 10 * 10}+ commands")
    for name in set(driver.accepted):
        event(f"accepted {name}")
    assert live_position == head
    assert rebuilt.keys() == live.keys()
    for table in live:
        assert rebuilt[table] == live[table], f"{table} differs after replay"
