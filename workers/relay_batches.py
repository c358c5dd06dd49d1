"""The relay's produce path: whole record batches per partition, not one `send()` per record.

kafka-python's `KafkaProducer.send()` is generic and per record: a pure-Python murmur2 of the
key (~13 µs here), a record encoder with type checks, size checks, and a future whose callback
runs again on acknowledgement. Under cProfile that was 87 % of the relay, capping it near
kafka-python's own produce rate. The relay publishes thousands of records of one shape at a
time, so it does those steps once per batch instead:

* partition: murmur2 over all the batch's keys at once with numpy, bit for bit the hash and
  modulo of kafka-python's default partitioner, so a key lands where `send()` would put it;
* encode: records written straight into v2 record-batch bytes, byte for byte what
  kafka-python's `DefaultRecordBatchBuilder` writes (tests/unit/test_relay_batches.py);
* produce: one `ProducerBatch` per partition (cut at the producer's `batch_size`) appended to
  the producer's accumulator, in order. kafka-python's sender thread then treats it as its
  own: producer id and sequence numbers (idempotence), acks, retries, CRC.

A batch carries one future, read once the producer has flushed. This relies on the
accumulator's internals (`_accumulator`, `_sender`) of the kafka-python version that
requirements/main.txt pins; the unit tests fail loudly if an upgrade changes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from time import time
from typing import Any, NamedTuple

import numpy as np

from infra.kafka import (
    DefaultRecordBatchBuilder,
    KafkaProducer,
    KafkaTimeoutError,
    MemoryRecordsBuilder,
    ProducerBatch,
    TopicPartition,
)

#: Record batch format v2, the only one a Kafka 4 broker takes.
MAGIC = 2
#: Bytes of a v2 batch header; records follow it.
BATCH_HEADER_BYTES = DefaultRecordBatchBuilder.HEADER_STRUCT.size

_SEED = 0x9747B28C
_M = np.uint32(0x5BD1E995)


class OutgoingRecord(NamedTuple):
    topic: str
    key: bytes
    value: bytes
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Acked:
    """Where a partition's last record of the published batch landed."""

    index: int  # of the record in the published sequence
    offset: int


# --- partitioning ---------------------------------------------------------------------------


def murmur2_many(keys: Sequence[bytes]) -> list[int]:
    """kafka-python's `murmur2(key)` for every key, computed column-wise per key length."""
    by_length: defaultdict[int, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        by_length[len(key)].append(i)
    hashes = [0] * len(keys)
    for length, indexes in by_length.items():
        values = _murmur2_same_length([keys[i] for i in indexes], length)
        for i, value in zip(indexes, values.tolist(), strict=True):
            hashes[i] = value
    return hashes


def _murmur2_same_length(keys: list[bytes], length: int) -> Any:
    data = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), length)
    words = length // 4
    h = np.full(len(keys), (_SEED ^ length) & 0xFFFFFFFF, dtype=np.uint32)
    if words:
        blocks = np.ascontiguousarray(data[:, : words * 4]).view("<u4")
        for column in range(words):
            k = blocks[:, column] * _M
            k ^= k >> np.uint32(24)
            k *= _M
            h *= _M
            h ^= k
    tail = length % 4
    if tail:
        for byte in range(tail - 1, -1, -1):
            h ^= data[:, words * 4 + byte].astype(np.uint32) << np.uint32(8 * byte)
        h *= _M
    h ^= h >> np.uint32(13)
    h *= _M
    h ^= h >> np.uint32(15)
    return h


def partition_indexes(keys: Sequence[bytes], partitions: int) -> list[int]:
    """The default partitioner's choice: `(murmur2(key) & 0x7fffffff) % partitions`."""
    return [(h & 0x7FFFFFFF) % partitions for h in murmur2_many(keys)]


# --- encoding -------------------------------------------------------------------------------


def _zigzag_varint(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


#: Varints of 0..16383 (every length and offset delta of a typical batch), looked up not built.
_VARINTS = [_zigzag_varint(i) for i in range(1 << 14)]


def _varint(value: int) -> bytes:
    return _VARINTS[value] if value < len(_VARINTS) else _zigzag_varint(value)


_header_keys: dict[str, bytes] = {}


def encode_record(offset_delta: int, key: bytes, value: bytes, headers: Sequence[Any]) -> bytes:
    """One v2 record, length-prefixed; timestamp delta 0 (a batch shares one timestamp)."""
    parts = [b"\x00\x00", _varint(offset_delta), _varint(len(key)), key]
    parts += (_varint(len(value)), value, _varint(len(headers)))
    for name, header in headers:
        encoded = _header_keys.get(name)
        if encoded is None:
            raw = name.encode()
            encoded = _header_keys[name] = _varint(len(raw)) + raw
        parts += (encoded, _varint(len(header)), header)
    body = b"".join(parts)
    return _varint(len(body)) + body


class _EncodedBatchBuilder(DefaultRecordBatchBuilder):  # type: ignore[misc]
    """kafka-python's v2 batch builder holding records encoded by `encode_record`."""

    __slots__ = ()

    def fill(self, records: bytes, count: int, timestamp_ms: int) -> None:
        self._buffer += records
        self._num_records = count
        self._last_offset = count - 1
        self._first_timestamp = self._max_timestamp = timestamp_ms


class EncodedRecords(MemoryRecordsBuilder):  # type: ignore[misc]
    """What a `ProducerBatch` holds: kafka-python's records builder, already filled.

    The sender sets the producer id and sequence on it and builds (CRC, compression) on drain.
    """

    __slots__ = ()

    def __init__(
        self, records: bytes, count: int, timestamp_ms: int, compression: int, batch_size: int
    ) -> None:
        super().__init__(MAGIC, compression, batch_size)
        builder = _EncodedBatchBuilder(MAGIC, compression, False, -1, -1, -1, batch_size)
        builder.fill(records, count, timestamp_ms)
        self._builder = builder
        self.skip(count)  # the next offset is the record count, as after `count` appends


# --- producing ------------------------------------------------------------------------------


class BatchPublisher:
    """Publishes a sequence of records through a `KafkaProducer`, one future per batch."""

    def __init__(self, producer: KafkaProducer) -> None:
        self.producer = producer
        accumulator = producer._accumulator
        if accumulator.config["message_version"] != MAGIC:
            raise RuntimeError("the relay's record batches need a broker on message format v2")
        self._accumulator = accumulator
        self._batch_size = int(producer.config["batch_size"])
        self._compression = int(producer.config["compression_attrs"])

    def publish(
        self, records: Sequence[OutgoingRecord], timeout: float
    ) -> dict[tuple[str, int], Acked]:
        """Send every record, wait for every ack; (topic, partition) → its last record.

        Raises if any batch failed or timed out; then nothing can be assumed published.
        """
        by_partition = self._partition(records)
        batches: list[tuple[ProducerBatch, int]] = []
        timestamp_ms = int(time() * 1000)
        for tp, indexes in by_partition.items():
            for chunk, last in self._encode(records, indexes, timestamp_ms):
                batches.append((self._enqueue(tp, chunk), last))
        self.producer._sender.wakeup()
        self.producer.flush(timeout=timeout)
        acked: dict[tuple[str, int], Acked] = {}
        for batch, last in batches:
            offset = _last_offset(batch)
            acked[(batch.topic_partition.topic, batch.topic_partition.partition)] = Acked(
                last, offset
            )
        return acked

    def _partition(self, records: Sequence[OutgoingRecord]) -> dict[TopicPartition, list[int]]:
        """Record indexes per partition, in publishing order."""
        by_topic: defaultdict[str, list[int]] = defaultdict(list)
        for i, record in enumerate(records):
            by_topic[record.topic].append(i)
        by_partition: defaultdict[TopicPartition, list[int]] = defaultdict(list)
        for topic, indexes in by_topic.items():
            partitions = sorted(self.producer.partitions_for(topic))
            chosen = partition_indexes([records[i].key for i in indexes], len(partitions))
            for i, p in zip(indexes, chosen, strict=True):
                by_partition[TopicPartition(topic, partitions[p])].append(i)
        return by_partition

    def _encode(
        self, records: Sequence[OutgoingRecord], indexes: list[int], timestamp_ms: int
    ) -> list[tuple[EncodedRecords, int]]:
        """The partition's records as batches of at most `batch_size` bytes, in order."""
        room = self._batch_size - BATCH_HEADER_BYTES
        chunks: list[tuple[EncodedRecords, int]] = []
        parts: list[bytes] = []
        size, previous = 0, -1
        for i in indexes:
            record = records[i]
            encoded = encode_record(len(parts), record.key, record.value, record.headers)
            if parts and size + len(encoded) > room:
                chunks.append((self._records(parts, timestamp_ms), previous))
                encoded = encode_record(0, record.key, record.value, record.headers)
                parts, size = [], 0
            parts.append(encoded)
            size += len(encoded)
            previous = i
        if parts:
            chunks.append((self._records(parts, timestamp_ms), previous))
        return chunks

    def _records(self, parts: list[bytes], timestamp_ms: int) -> EncodedRecords:
        return EncodedRecords(
            b"".join(parts), len(parts), timestamp_ms, self._compression, self._batch_size
        )

    def _enqueue(self, tp: TopicPartition, records: EncodedRecords) -> ProducerBatch:
        """Append a full batch behind the partition's others, as `send()` appends records."""
        accumulator = self._accumulator
        batch = ProducerBatch(tp, records)
        with accumulator._tp_lock(tp):
            if accumulator._closed:
                raise RuntimeError("the producer is closed")
            accumulator._batches[tp].append(batch)
            accumulator._incomplete.add(batch)
        return batch


def _last_offset(batch: ProducerBatch) -> int:
    """The offset Kafka gave the batch's last record; raises unless the batch was acked."""
    future = batch.produce_future
    if not future.is_done:
        # Also the fate of a batch the sender split after MESSAGE_TOO_LARGE: its halves
        # complete, this future never does, and the relay republishes from its checkpoint.
        raise KafkaTimeoutError(f"no acknowledgement for {batch.topic_partition}")
    if future.failed():
        raise future.exception
    base_offset, _, record_errors = future.value
    if record_errors is not None:
        raise record_errors(0)
    return int(base_offset) + batch.record_count - 1
