"""Reading the pipeline's topics the way a downstream reader must: committed transactions only.

The job writes every topic exactly once, in Kafka transactions; a consumer left at the default
``read_uncommitted`` would also see records of aborted attempts (after a failover) and count them
twice. Readers here never commit offsets: each read starts from what it is given.
"""

from __future__ import annotations

import uuid
from typing import Any

from confluent_kafka import Consumer


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
