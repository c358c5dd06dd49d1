"""The relay's own record batches are what kafka-python would have produced, byte for byte.

The relay partitions and encodes records itself (workers/relay_batches.py); these tests pin
that to kafka-python's default partitioner and record-batch builder, so that a key still lands
in the partition `send()` would choose, and a batch still reads back the same, after any
kafka-python upgrade.
"""

from __future__ import annotations

import random
import uuid

import pytest

from infra.kafka import DefaultRecordBatch, MemoryRecordsBuilder, murmur2
from workers.relay_batches import (
    BATCH_HEADER_BYTES,
    BatchPublisher,
    EncodedRecords,
    OutgoingRecord,
    encode_record,
    murmur2_many,
    partition_indexes,
)

TIMESTAMP_MS = 1_790_000_000_123


def records(count: int, seed: int = 7) -> list[OutgoingRecord]:
    rng = random.Random(seed)
    return [
        OutgoingRecord(
            "t.tenancy",
            str(uuid.UUID(int=rng.getrandbits(128))).encode(),
            rng.randbytes(rng.choice([0, 1, 200, 565, 20_000])),
            (
                ("topic", b"domain.tenancy.tokens:ApiToken.Issued"),
                ("version", str(rng.randint(1, 10**6)).encode()),
                ("position", str(i + 1).encode()),
            ),
        )
        for i in range(count)
    ]


def test_murmur2_matches_kafka_python_for_every_key_length() -> None:
    rng = random.Random(1)
    keys = [rng.randbytes(n) for n in range(0, 70) for _ in range(5)]
    keys += [str(uuid.uuid4()).encode() for _ in range(500)]
    rng.shuffle(keys)
    assert murmur2_many(keys) == [murmur2(k) for k in keys]


def test_keys_land_in_the_partition_the_default_partitioner_picks() -> None:
    keys = [str(uuid.uuid4()).encode() for _ in range(2000)]
    for partitions in (1, 4, 7, 12):
        expected = [(murmur2(k) & 0x7FFFFFFF) % partitions for k in keys]
        assert partition_indexes(keys, partitions) == expected


@pytest.mark.parametrize("producer_id", [-1, 4711])
def test_a_batch_is_byte_identical_to_kafka_pythons(producer_id: int) -> None:
    sample = records(300)
    ours = EncodedRecords(
        b"".join(encode_record(i, r.key, r.value, r.headers) for i, r in enumerate(sample)),
        len(sample),
        TIMESTAMP_MS,
        0,
        1 << 24,
    )
    theirs = MemoryRecordsBuilder(2, 0, 1 << 24)
    for r in sample:
        assert theirs.append(TIMESTAMP_MS, r.key, r.value, list(r.headers)) is not None
    for built in (ours, theirs):
        if producer_id != -1:
            built.set_producer_state(producer_id, 3, 1000, False)
        built.close()
    assert ours.next_offset() == theirs.next_offset() == len(sample)
    assert bytes(ours.buffer()) == bytes(theirs.buffer())
    batch = DefaultRecordBatch(bytes(ours.buffer()))
    batch.validate_crc()
    read = [(r.offset, r.key, r.value, r.headers) for r in batch]
    assert read == [(i, r.key, r.value, list(r.headers)) for i, r in enumerate(sample)]


def test_a_partition_is_cut_into_batches_no_bigger_than_batch_size() -> None:
    publisher = BatchPublisher.__new__(BatchPublisher)  # no broker needed to encode
    publisher._batch_size, publisher._compression = 64 * 1024, 0
    sample = records(400, seed=3)
    chunks = publisher._encode(sample, list(range(len(sample))), TIMESTAMP_MS)
    assert len(chunks) > 1
    seen: list[bytes] = []
    for built, last in chunks:
        built.close()
        assert len(built.buffer()) <= publisher._batch_size or built.next_offset() == 1
        read = list(DefaultRecordBatch(bytes(built.buffer())))
        assert [r.offset for r in read] == list(range(len(read)))
        seen += [r.key for r in read]
        assert seen[-1] == sample[last].key
    assert seen == [r.key for r in sample]
    assert BATCH_HEADER_BYTES == 61
