"""The event store as the rest of the system sees it: the shared recorder, mapper and apps."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from domain.billing.calls import Call
from domain.shared.application import BaseApplication
from domain.shared.sealed import Sealer
from domain.tenancy.application import Tenancy
from infra.database import Database, PgTarget
from infra.group_commit import GroupCommitter
from infra.passwords import Argon2Hasher
from infra.recorder import OneTripRecorder, topic_channel
from infra.settings import Settings
from infra.transcoder import OrjsonTranscoder

EVENTS_TABLE = "mcps_events"
NOTIFY_CHANNEL = "mcps_events"
#: In a NOTIFY's topics: the commit wrote events of topics it did not list.
ANY_TOPIC = "*"
#: Announced on channels of their own, not `NOTIFY_CHANNEL`: the gateway commits a billed
#: call hundreds of times a second, and only the followers that handle them should wake.
QUIET_TOPICS = (get_topic(Call.Billed),)


class StoreRecorder(OneTripRecorder):
    """The store's recorder: billed calls announced on a channel of their own."""

    quiet_topics = QUIET_TOPICS


@dataclass
class EventStore:
    """One recorder and one mapper for every application: one totally ordered log."""

    store: BaseApplication
    committer: GroupCommitter

    @property
    def recorder(self) -> Any:
        return self.store.recorder

    @property
    def mapper(self) -> Mapper[UUID]:
        return self.store.mapper

    def decode(self, notification: Notification) -> Any:
        return self.mapper.to_domain_event(notification)

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def close(self) -> None:
        self.recorder.close()
        self.store.close()


def eventsourcing_env(settings: Settings, database_url: str) -> dict[str, str]:
    target = PgTarget.parse(database_url)
    env = target.eventsourcing_env(
        lock_timeout=settings.postgres_lock_timeout_seconds, pool_size=settings.postgres_pool_size
    )
    env["APPLICATION_RECORDER_TOPIC"] = get_topic(StoreRecorder)
    env["TRANSCODER_TOPIC"] = get_topic(OrjsonTranscoder)
    # The library looks up `<APP NAME>_CIPHER_KEY` first, and the store is named `mcps`: our
    # own setting MCPS_CIPHER_KEY (the key that seals secret fields) would otherwise switch on
    # whole-store encryption by accident, and a store written without it would stop reading.
    env["MCPS_CIPHER_KEY"] = ""
    env["MCPS_CIPHER_TOPIC"] = ""
    return env


def open_event_store(settings: Settings, database_url: str) -> EventStore:
    store = BaseApplication(eventsourcing_env(settings, database_url))
    return EventStore(store=store, committer=GroupCommitter())


def build_tenancy(settings: Settings, events: EventStore, database_url: str) -> Tenancy:
    return Tenancy(
        eventsourcing_env(settings, database_url),
        hasher=Argon2Hasher(),
        sealer=Sealer(settings.cipher_key.get_secret_value()),
        committer=events.committer,
        recorder=events.recorder,
    )


Connection = psycopg.Connection[dict[str, Any]]


@contextmanager
def log_follower(
    db: Database, topics: Sequence[str] = (), skipped: Sequence[str] = ()
) -> Iterator[tuple[Connection, Connection]]:
    """A working connection and one LISTENing for the store's commits, for a follower of
    `topics` (all when empty) but `skipped`: on the store's channel, and on the channel of
    each quiet topic it follows."""
    with db.connect_owner(autocommit=True) as conn, db.connect_owner(autocommit=True) as listener:
        for channel in listened_channels(topics, skipped):
            listener.execute(SQL("LISTEN {}").format(Identifier(channel)))
        yield conn, listener


def listened_channels(topics: Sequence[str] = (), skipped: Sequence[str] = ()) -> list[str]:
    """The channels a follower of `topics` (all when empty) but `skipped` LISTENs on."""
    quiet = [t for t in QUIET_TOPICS if concerns(frozenset([t]), topics, skipped)]
    return [NOTIFY_CHANNEL, *(topic_channel(NOTIFY_CHANNEL, topic) for topic in quiet)]


def wait_for_commits(listener: Connection, timeout: float) -> frozenset[str]:
    """Block until a writer commits (its NOTIFY), then swallow the other queued NOTIFYs too:
    their commits came before the next read of the log, so that one read sees them all.

    Returns the topics of the events those commits wrote, as the store's insert names them
    in its NOTIFY (`ANY_TOPIC` for a commit that did not say); empty when `timeout` passed
    without a commit.
    """
    notifies = [*listener.notifies(timeout=timeout, stop_after=1)]
    notifies += listener.notifies(timeout=0.0)
    return frozenset(
        topic for n in notifies for topic in (n.payload.split(" ") if n.payload else (ANY_TOPIC,))
    )


def concerns(committed: frozenset[str], topics: Sequence[str], skipped: Sequence[str]) -> bool:
    """Whether commits of `committed` topics wrote an event for a follower of `topics` (all
    when empty) but not `skipped`."""
    if ANY_TOPIC in committed:
        return True
    if topics:
        return not committed.isdisjoint(topics)
    return not committed.issubset(skipped)
