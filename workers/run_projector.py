"""`python -m workers.run_projector <name>`: one Kafka-fed projector process.

Thin on purpose (R10): settings → container → `KafkaProjector.run` until SIGTERM or SIGINT.
Start more processes with the same name to share the partitions (one consumer group).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from infra.kafka import make_consumer
from infra.settings import Settings
from projections.registry import by_name
from workers.kafka_projector import KafkaProjector
from workers.run_relay import start_container


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m workers.run_projector <projection>")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings()
    container = start_container(settings)
    projector = KafkaProjector(
        container.events,
        container.db,
        by_name(args[0]),
        lambda group_id: make_consumer(settings, group_id),
        settings,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.getLogger("workers.run_projector").info("projector %s started", args[0])
    try:
        projector.run(stop)
    finally:
        container.close()


if __name__ == "__main__":
    main()
