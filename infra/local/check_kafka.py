#!/usr/bin/env python3
"""Smoke-check the local Kafka broker with the project's client (kafka-python).

Run with the venv python after `. DIR/env` (needs KAFKA_BOOTSTRAP_SERVERS):
  - creates a topic with 4 partitions,
  - produces 1,000 keyed messages with acks="all" and the idempotent producer
    (if that fails, prints exactly how and retries with enable_idempotence=False),
  - consumes them back in a consumer group with enable_auto_commit=False via manual
    assign + seek, commits offsets manually, and checks every message arrived.
Prints a one-line verdict; exit code 0 only if all messages came back.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

N = 1000
PARTITIONS = 4


def produce(bootstrap: str, topic: str, idempotent: bool) -> tuple[float, str | None]:
    """Send N keyed messages; returns (messages/s, None) or (0, exact error)."""
    producer = None
    try:
        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="mcps-check-producer",
            acks="all",
            enable_idempotence=idempotent,
            linger_ms=5,
            request_timeout_ms=15000,
        )
        producer.partitions_for(topic)  # fetch metadata first so the rate measures producing only
        t0 = time.perf_counter()
        futures = [
            producer.send(topic, key=f"k{i % 50}".encode(), value=f"v{i}".encode())
            for i in range(N)
        ]
        producer.flush(timeout=30)
        elapsed = time.perf_counter() - t0
        for f in futures:  # surfaces any per-record failure (e.g. broker rejected the batch)
            f.get(timeout=1)
        if idempotent:
            tm = producer._transaction_manager  # confirms a producer id was really obtained
            if tm is None or not tm.has_producer_id():
                return 0.0, "idempotence silently disabled (no producer id obtained)"
        return N / elapsed, None
    except Exception as e:  # report exactly what went wrong
        return 0.0, f"{type(e).__name__}: {e}"
    finally:
        if producer is not None:
            try:
                producer.close(timeout=5)
            except Exception:
                pass


def consume(bootstrap: str, topic: str, group: str) -> tuple[set[str], str | None]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="mcps-check-consumer",
        group_id=group,
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        while len(seen) < N and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    seen.add(r.value.decode())
        # Manual commit through the group coordinator, then read it back.
        consumer.commit()
        committed = sum(consumer.committed(tp) or 0 for tp in tps)
        note = None if committed == N else f"committed offsets sum to {committed}, expected {N}"
        return seen, note
    finally:
        consumer.close(autocommit=False)


def main() -> int:
    logging.basicConfig(level=logging.CRITICAL)  # kafka-python is chatty on retries
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        print("check_kafka: FAIL: KAFKA_BOOTSTRAP_SERVERS is not set (source DIR/env)")
        return 2
    suffix = uuid.uuid4().hex[:8]
    topic = f"mcps-check-{suffix}"

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="mcps-check-admin")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
        admin.wait_for_topics([topic], timeout_ms=15000)
        broker = ".".join(
            map(
                str,
                admin.get_broker_version_data(
                    admin.describe_cluster()["brokers"][0]["broker_id"]
                ).broker_version,
            )
        )
    finally:
        admin.close()

    # Idempotent first; the fallback only exists to report the failure precisely.
    rate, err = produce(bootstrap, topic, idempotent=True)
    mode = "acks=all+idempotent"
    if err is not None:
        print(
            f"check_kafka: idempotent producer FAILED: {err}; retrying with enable_idempotence=False",
            file=sys.stderr,
        )
        rate, err2 = produce(bootstrap, f"{topic}-noidem", idempotent=False)
        mode = f"acks=all (idempotence FAILED: {err})"
        if err2 is not None:
            print(f"check_kafka: FAIL: producing failed: {err2}")
            return 1
        topic = f"{topic}-noidem"

    seen, note = consume(bootstrap, topic, group=f"mcps-check-{suffix}")
    expected = {f"v{i}" for i in range(N)}
    missing = len(expected - seen)
    ok = missing == 0 and note is None
    print(
        f"check_kafka: {'OK' if ok else 'FAIL'}: kafka-python {kafka.__version__} vs broker {broker} "
        f"@ {bootstrap}; produced {N} keyed msgs to {PARTITIONS} partitions with {mode} at {rate:,.0f} msg/s; "
        f"consumed {len(seen & expected)}/{N} via group+assign+seek, enable_auto_commit=False, manual commit"
        + ("" if note is None else f"; {note}")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
