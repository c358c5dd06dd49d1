"""`python -m workers.run_relay`: the relay as its own process, configured by the environment.

Thin on purpose (R10): settings → container → producer → `Relay.run` until SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

import psycopg
from eventsourcing.persistence import PersistenceError

from infra.container import Container, build_container
from infra.kafka import make_producer
from infra.settings import Settings
from workers.relay import Relay

log = logging.getLogger("workers.run_relay")


def start_container(settings: Settings, attempts: int = 5) -> Container:
    """Build the container, retrying briefly: processes starting together race on the
    store's idempotent DDL (`CREATE OR REPLACE FUNCTION`, `ALTER ROLE`), and Postgres
    answers the loser with "tuple concurrently updated" instead of waiting."""
    for attempt in range(1, attempts + 1):
        try:
            return build_container(settings)
        except (PersistenceError, psycopg.Error) as error:
            if attempt == attempts:
                raise
            log.warning("start-up attempt %d failed (%s); retrying", attempt, error)
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings()
    container = start_container(settings)
    producer = make_producer(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("relay started (topics %s.*)", settings.kafka_topic_prefix)
    try:
        Relay(container.events, container.db, producer, settings).run(stop)
    finally:
        producer.close()
        container.close()


if __name__ == "__main__":
    main()
