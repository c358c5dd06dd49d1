"""The relay's hand-built record batches on the real broker: placement, order, offsets.

`workers.relay_batches` bypasses `KafkaProducer.send()`; these tests read back what it
published with a plain consumer. Each key must sit in the partition kafka-python's default
partitioner picks, each partition must hold its records in publishing order (several
batches per partition in flight at once), and the acknowledged offsets must be those of
each partition's last record.
"""

from __future__ import annotations

import os
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator

import pytest

from infra.kafka import (
    KafkaConsumer,
    TopicPartition,
    ensure_topics,
    make_admin,
    make_producer,
    murmur2,
)
from infra.settings import Settings
from workers.relay_batches import BatchPublisher, OutgoingRecord

pytestmark = pytest.mark.kafka

PARTITIONS = 4


@pytest.fixture
def settings() -> Iterator[Settings]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        pytest.fail("KAFKA_BOOTSTRAP_SERVERS is not set: start the services first", pytrace=False)
    settings = Settings(
        environment="test",
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_prefix=f"rb{uuid.uuid4().hex[:10]}",
        kafka_partitions=PARTITIONS,
    )
    yield settings
    admin = make_admin(settings)
    try:
        prefix = f"{settings.kafka_topic_prefix}."
        topics = [t for t in admin.list_topics() if t.startswith(prefix)]
        if topics:
            admin.delete_topics(topics, raise_errors=False)
    finally:
        admin.close()


def read_back(settings: Settings, topic: str) -> dict[int, list[tuple[int, bytes, bytes]]]:
    """Every record of `topic`: partition → [(offset, key, position header)]."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: dict[int, list[tuple[int, bytes, bytes]]] = defaultdict(list)
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for tp, records in consumer.poll(timeout_ms=500).items():
                found[tp.partition] += [
                    (r.offset, r.key, dict(r.headers)["position"]) for r in records
                ]
        return found
    finally:
        consumer.close()


def test_published_batches_read_back_where_and_as_kafka_python_would_put_them(
    settings: Settings,
) -> None:
    topic = f"{settings.kafka_topic_prefix}.tenancy"
    admin = make_admin(settings)
    try:
        ensure_topics(admin, [topic], PARTITIONS)
    finally:
        admin.close()
    rng = random.Random(5)
    aggregates = [str(uuid.uuid4()).encode() for _ in range(300)]
    # Small batches: many per partition, several in flight at once, order still kept.
    producer = make_producer(settings, batch_size=16 * 1024)
    try:
        publisher = BatchPublisher(producer)
        published: list[OutgoingRecord] = []
        for _ in range(2):  # twice, so offsets continue across publishes
            records = [
                OutgoingRecord(
                    topic,
                    rng.choice(aggregates),
                    rng.randbytes(rng.randint(0, 2000)),
                    (("position", str(len(published) + i + 1).encode()),),
                )
                for i in range(3000)
            ]
            acked = publisher.publish(records, timeout=60)
            published += records
    finally:
        producer.close()

    found = read_back(settings, topic)
    expected: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    for record in published:
        partition = (murmur2(record.key) & 0x7FFFFFFF) % PARTITIONS
        expected[partition].append((record.key, record.headers[0][1]))
    assert {p: [(k, pos) for _, k, pos in rows] for p, rows in found.items()} == expected
    for (acked_topic, partition), ack in acked.items():
        assert acked_topic == topic
        last_offset, last_key, last_position = found[partition][-1]
        assert ack.offset == last_offset
        assert (records[ack.index].key, records[ack.index].headers[0][1]) == (
            last_key,
            last_position,
        )
