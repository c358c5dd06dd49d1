"""The composition root: settings in, every adapter and application service out, built once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import psycopg

from domain.billing.application import Billing
from domain.deployments.application import Deployments
from domain.marketplace.application import Marketplace
from domain.shared.sealed import Sealer
from domain.tasks.application import Tasks
from domain.tenancy.application import Tenancy
from infra.clickhouse import clickhouse_client
from infra.database import Database, PgTarget
from infra.embedded import start_embedded_postgres
from infra.eventstore import EventStore, build_tenancy, eventsourcing_env, open_event_store
from infra.jwt_tokens import JwtCodec
from infra.load_signal import LoadSignal, build_load_signal
from infra.mailer import Mailer
from infra.runtimes.policy import check_runnable
from infra.settings import Settings


@dataclass
class Container:
    settings: Settings
    database_url: str
    db: Database
    events: EventStore
    tenancy: Tenancy
    marketplace: Marketplace
    deployments: Deployments
    billing: Billing
    mailer: Mailer
    jwt: JwtCodec

    @cached_property
    def clickhouse(self) -> Any:
        """The ClickHouse client (chDB in-process unless CLICKHOUSE_URL), opened on first use."""
        return clickhouse_client(self.settings.clickhouse_url, self.settings.home)

    @cached_property
    def tasks(self) -> Tasks:
        """Asynchronous tool calls (`?mode=async`), on the shared store and group commit."""
        return Tasks(
            eventsourcing_env(self.settings, self.database_url),
            sealer=Sealer(self.settings.cipher_key.get_secret_value()),
            committer=self.events.committer,
            recorder=self.events.recorder,
        )

    @cached_property
    def load_signal(self) -> LoadSignal:
        """Calls in flight per deployment, published by the gateway, read by the autoscaler
        (one instance per process: in embedded mode the two share it)."""
        return build_load_signal(self.settings.redis_url)

    def close(self) -> None:
        if "load_signal" in self.__dict__:
            self.load_signal.close()
        self.billing.close()
        self.tenancy.close()
        self.marketplace.close()
        self.deployments.close()
        self.events.close()
        self.db.close()


def build_container(settings: Settings) -> Container:
    database_url = settings.database_url or start_embedded_postgres(settings.home)
    db = Database(
        PgTarget.parse(database_url),
        settings.app_db_password.get_secret_value(),
        pool_size=settings.postgres_pool_size,
    )
    # Processes starting together would race on the store's DDL and the app role's ALTER
    # ("tuple concurrently updated"), so start-up setup runs one process at a time.
    with psycopg.connect(PgTarget.parse(database_url).url(), autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(hashtext('mcps.setup'))")
        db.open()
        events = open_event_store(settings, database_url)
        tenancy = build_tenancy(settings, events, database_url)
        marketplace = Marketplace(
            eventsourcing_env(settings, database_url),
            committer=events.committer,
            recorder=events.recorder,
        )
        deployments = Deployments(
            eventsourcing_env(settings, database_url),
            sealer=Sealer(settings.cipher_key.get_secret_value()),
            runnable=lambda runtime: check_runnable(runtime, settings.runtime),
            committer=events.committer,
            recorder=events.recorder,
        )
        billing = Billing(
            eventsourcing_env(settings, database_url),
            sealer=Sealer(settings.cipher_key.get_secret_value()),
            committer=events.committer,
            recorder=events.recorder,
        )
    return Container(
        settings=settings,
        database_url=database_url,
        db=db,
        events=events,
        tenancy=tenancy,
        marketplace=marketplace,
        deployments=deployments,
        billing=billing,
        mailer=Mailer(settings.mail, settings.mail_dir),
        jwt=JwtCodec(settings.auth),
    )
