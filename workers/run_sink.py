"""Running the ClickHouse sinks: each follows the event log and inserts its rows in batches.

`mcps-server sink <name>` runs one as its own process (the distributed stack); `up` runs
them all in threads. Several processes may run the same sink: each batch is checkpointed
after its insert and the tables deduplicate, so overlapping work is wasted, never counted.
"""

from __future__ import annotations

import logging
import threading

from infra.container import Container
from projections.activity import ActivitySink
from projections.clickhouse_sink import ClickHouseSink
from projections.usage import UsageSink
from workers.projector import SinkProjector

log = logging.getLogger("mcps.sink")

SINKS: dict[str, type[ClickHouseSink]] = {sink.name: sink for sink in (ActivitySink, UsageSink)}


def build_sink(container: Container, name: str) -> ClickHouseSink:
    """The named sink on the installation's ClickHouse database, its tables created."""
    sink = SINKS[name](
        container.clickhouse, container.db, database=container.settings.clickhouse_database
    )
    sink.create()
    return sink


def run_sink(
    container: Container, name: str, stop: threading.Event, batch_size: int = 5000
) -> None:
    """Follow the log with one sink until `stop` is set."""
    projector = SinkProjector(container.events, build_sink(container, name), batch_size)
    log.info("sink %s follows the log from position %d", name, projector.sink.position())
    projector.run(stop)


def start_sinks(container: Container, stop: threading.Event) -> list[threading.Thread]:
    """Every sink in a thread of this process (embedded mode)."""
    threads = []
    for name in SINKS:
        projector = SinkProjector(container.events, build_sink(container, name))
        thread = threading.Thread(
            target=projector.run, args=(stop,), daemon=True, name=f"sink-{name}"
        )
        thread.start()
        threads.append(thread)
    return threads
