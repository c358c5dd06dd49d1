"""Kafka clients built from settings, so acks, idempotence and batching are decided once.

The relay is the only producer and each projector is one consumer-group member. Both rely on
Postgres, not Kafka, for their positions: the relay's checkpoint and the projections' tracking
tables are the truth, so consumers never auto-commit and always start where Postgres says.

This is the only module that imports kafka-python; everything else takes its names from here,
including the record-batch classes the relay fills itself (`workers.relay_batches`).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import warnings
from collections.abc import Iterable
from functools import cache
from typing import Any

from infra.settings import Settings


def _import_kafka_python() -> None:
    """kafka-python 3.0 loads each protocol schema with `importlib.resources.open_text`,
    deprecated since Python 3.11, while its modules are being imported; under `-W error` (our
    pytest settings) that import fails. Import the client and every protocol module once, here,
    with only that warning silenced, so that no later import inside kafka-python warns."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "(open|read)_text is deprecated", DeprecationWarning)
        protocol = importlib.import_module("kafka.protocol")
        for module in pkgutil.walk_packages(protocol.__path__, "kafka.protocol."):
            importlib.import_module(module.name)
        importlib.import_module("kafka")


_import_kafka_python()

from kafka import (  # noqa: E402
    ConsumerRebalanceListener,
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    TopicPartition,
)
from kafka.consumer.fetcher import ConsumerRecord  # noqa: E402
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError  # noqa: E402
from kafka.partitioner.default import murmur2  # noqa: E402
from kafka.producer.producer_batch import ProducerBatch  # noqa: E402
from kafka.record import util as record_util  # noqa: E402
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder  # noqa: E402
from kafka.record.memory_records import MemoryRecordsBuilder  # noqa: E402

__all__ = [
    "ConsumerRebalanceListener",
    "ConsumerRecord",
    "DefaultRecordBatch",
    "DefaultRecordBatchBuilder",
    "KafkaAdminClient",
    "KafkaConsumer",
    "KafkaProducer",
    "KafkaTimeoutError",
    "MemoryRecordsBuilder",
    "ProducerBatch",
    "TopicPartition",
    "ensure_topics",
    "make_admin",
    "make_consumer",
    "make_producer",
    "murmur2",
    "topic_name",
]

log = logging.getLogger(__name__)

#: `infra/local/check_kafka.py` verifies that kafka-python 3.0.x obtains a producer id from our
#: Kafka 4 broker, so retries cannot duplicate or reorder a partition's records. Consumers
#: still deduplicate by aggregate version (see projections.base), because a relay that dies
#: between publishing and checkpointing republishes a whole batch in a new producer session.
IDEMPOTENT_PRODUCER = True

#: Big enough that a 5,000-event relay batch for one partition fits in a few produce requests.
PRODUCER_BATCH_BYTES = 1024 * 1024
#: A few milliseconds of linger fills batches under load and costs an idle command ~2 ms.
PRODUCER_LINGER_MS = 2
#: Large fetches keep the projector's per-record cost down when it is catching up.
CONSUMER_PARTITION_FETCH_BYTES = 8 * 1024 * 1024


def bootstrap_servers(settings: Settings) -> str:
    if not settings.kafka_bootstrap_servers:
        raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set: Kafka mode needs a broker")
    _warn_if_slow_crc()
    return settings.kafka_bootstrap_servers


@cache
def _warn_if_slow_crc() -> None:
    """Every v2 record batch is CRC32C-checksummed on produce and on fetch. Without the `crc32c`
    C extension kafka-python does it in pure Python, which measured as about half the relay's
    and the projector's CPU per event (bench/relay_projector.py)."""
    if getattr(record_util, "crc32c_c", None) is None:
        log.warning("kafka-python is using its pure-Python CRC32C; install `crc32c` for speed")


def topic_name(settings: Settings, context: str) -> str:
    """One topic per bounded context: `mcps.tenancy`, `mcps.billing`, ..."""
    return f"{settings.kafka_topic_prefix}.{context}"


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """The relay's producer: every record is on all in-sync replicas before it counts."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "client_id": f"{settings.kafka_topic_prefix}-relay",
        "acks": "all",
        "enable_idempotence": IDEMPOTENT_PRODUCER,
        # Idempotence keeps order with up to 5 requests in flight; without it only 1 does.
        "max_in_flight_requests_per_connection": 5 if IDEMPOTENT_PRODUCER else 1,
        "linger_ms": PRODUCER_LINGER_MS,
        "batch_size": PRODUCER_BATCH_BYTES,
        "max_request_size": 4 * PRODUCER_BATCH_BYTES,
    }
    config.update(overrides)
    return KafkaProducer(**config)


def make_consumer(settings: Settings, group_id: str, **overrides: Any) -> KafkaConsumer:
    """A group member that never commits on its own; positions live in Postgres."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "client_id": group_id,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": max(settings.projection_batch_size, 1000),
        "max_partition_fetch_bytes": CONSUMER_PARTITION_FETCH_BYTES,
        "fetch_max_bytes": 4 * CONSUMER_PARTITION_FETCH_BYTES,
        # A member killed without leaving holds its partitions until its session expires.
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
        # Pattern subscriptions see a new context's topic within this many milliseconds.
        "metadata_max_age_ms": 10_000,
    }
    config.update(overrides)
    return KafkaConsumer(**config)


def make_admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap_servers(settings),
        client_id=f"{settings.kafka_topic_prefix}-admin",
    )


def ensure_topics(admin: KafkaAdminClient, names: Iterable[str], partitions: int) -> None:
    """Create the missing topics with `partitions` partitions and wait until they have leaders.

    Topics are created up front rather than by the broker's auto-create, so the partition
    count is ours and a consumer that subscribes first sees every partition from the start.
    """
    wanted = sorted(set(names))
    missing = [name for name in wanted if name not in set(admin.list_topics())]
    if missing:
        result = admin.create_topics(
            {name: {"num_partitions": partitions} for name in missing}, raise_errors=False
        )
        for topic in result["topics"]:
            code = topic["error_code"]
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"cannot create topic {topic['name']}: error {code}")
        log.info("created Kafka topics %s with %d partitions", missing, partitions)
    admin.wait_for_topics(wanted, timeout_ms=30_000)
