"""Reading the pipeline's topics the way a downstream reader must: committed transactions only.

The job writes every topic exactly once, in Kafka transactions; a consumer left at the default
``read_uncommitted`` would also see records of aborted attempts (after a failover) and count them
twice. Readers here never commit offsets: each read starts from what it is given.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition


def committed_reader(bootstrap_servers: str, purpose: str, **overrides: Any) -> Consumer:
    """A read_committed consumer in a group of its own (named after ``purpose``) that commits nothing.

    librdkafka wants a group id even when partitions are assigned by hand; a fresh one per reader
    means no reader ever resumes from, or disturbs, another's offsets.
    """
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": f"rankfeed-{purpose}-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
    }
    return Consumer({**config, **overrides})


def read_to_end(consumer: Consumer, topic: str, timeout_seconds: float = 60.0) -> list[Message]:
    """Every message of ``topic`` from its start to its end as it was when called, read with ``consumer``
    (whose ``isolation.level`` decides whether aborted transactions count). Raises ``TimeoutError`` when that
    takes longer than ``timeout_seconds``."""
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    remaining = {p: end for p, end in ends.items() if end > 0}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in remaining])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_seconds
    while remaining:
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not read {topic} to its end in {timeout_seconds:.0f} s: {sorted(remaining)}")
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            messages.append(message)
        # The position also passes transaction markers, which are no messages.
        for position in consumer.position([TopicPartition(topic, p) for p in remaining]):
            if position.offset >= remaining[position.partition]:
                del remaining[position.partition]
    return messages
