"""Producing user actions to Kafka: the one place librdkafka settings for writers are chosen."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from rankfeed import avro, schemas
from rankfeed.types import Record

#: Durable, ordered, deduplicated by the broker on retry: what "acknowledged" must mean.
DURABLE_PRODUCER = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 5,
}


class ProduceError(RuntimeError):
    """Kafka did not acknowledge every record."""


def make_producer(bootstrap_servers: str, **overrides: Any) -> Producer:
    return Producer({"bootstrap.servers": bootstrap_servers, **DURABLE_PRODUCER, **overrides})


def produce_actions(
    producer: Producer,
    topic: str,
    actions: Iterable[Record],
    on_progress: Callable[[int], None] | None = None,
    flush_timeout_seconds: float = 60.0,
) -> int:
    """Encode and produce ``actions`` keyed by session_id; return how many Kafka acknowledged."""
    acknowledged = 0
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        nonlocal acknowledged
        if error is None:
            acknowledged += 1
        else:
            failures.append(str(error))

    sent = 0
    for action in actions:
        payload = avro.encode(action)
        while True:
            try:
                producer.produce(topic, payload, key=action["session_id"].encode(), on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        sent += 1
        producer.poll(0)
        if on_progress is not None:
            on_progress(sent)
    remaining = producer.flush(flush_timeout_seconds)
    if failures or remaining:
        raise ProduceError(f"{len(failures)} failed and {remaining} unacknowledged of {sent}: {failures[:3]}")
    return acknowledged


HEARTBEAT_SESSION = "__heartbeat__"


def heartbeat(at: datetime, partition: int) -> Record:
    """An event-time tick for one partition: it moves the job's watermark, the job then drops it."""
    record: Record = schemas.default_record(schemas.USER_ACTION)
    record.update(
        event_id=f"heartbeat-{partition}-{int(at.timestamp() * 1000)}",
        schema_version=1,
        user_id=HEARTBEAT_SESSION,
        session_id=HEARTBEAT_SESSION,
        timestamp=at,
        action_type="heartbeat",
    )
    return record


def send_heartbeats(producer: Producer, topic: str, at: datetime, timeout_seconds: float = 30.0) -> int:
    """One heartbeat on every partition of ``topic``, so the watermark (a minimum over partitions) reaches ``at``.

    Without them a quiet partition holds event time back until the source marks it idle, and
    sessions at the end of a replay never close. Returns the number of partitions ticked.
    """
    partitions = producer.list_topics(topic, timeout=timeout_seconds).topics[topic].partitions
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(str(error))

    for partition in partitions:
        producer.produce(topic, avro.encode(heartbeat(at, partition)), partition=partition, on_delivery=delivered)
    remaining = producer.flush(timeout_seconds)
    if failures or remaining:
        raise ProduceError(f"heartbeats not acknowledged: {failures[:3]}, {remaining} pending")
    return len(partitions)
