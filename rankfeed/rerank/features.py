"""The hotel features the re-ranker scores with: an in-memory copy of the compacted ``hotel-features`` topic.

The topic holds the latest ``HotelFeatures`` record per row and is compacted, so reading it from
the beginning gives the current state of every hotel. :class:`FeatureStore` does that in a
background thread with its own confluent-kafka consumer and then keeps following the topic, so an
update the job publishes reaches the scores a few milliseconds after Kafka has it:

* all partitions are *assigned* at their beginning: no consumer group, no committed offsets, every
  process reads the whole topic (a re-ranker restarting must not skip what it has not got in memory);
* a row is a hotel's global features (``destination`` null) or its features in one destination;
  rows are keyed in memory by ``(hotel_id, destination)`` as the record says;
* a tombstone (null value) deletes the row its Kafka key last carried. The store does not parse
  keys, it only remembers which row each key held, so it works with any key format as long as every
  row has its own key (compaction needs that anyway). :func:`feature_key` is the convention the
  tests and benchmark use: ``hotel_id`` for a global row, ``hotel_id`` + U+001F + ``destination``
  for a destination row;
* the store is ``ready`` once every partition has been read up to the end offset it had at start
  (or librdkafka reported its end, which also covers transaction markers): before that a ranking
  would use a partial, arbitrary subset of the features. It stays ready if the broker goes away
  later, serving the last features it saw; ``last_error`` says so.

Reads (``get``) happen on the event loop while the thread writes; each is a single dict lookup of
an immutable row, atomic under the GIL, so no lock is needed.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from rankfeed import avro, schemas
from rankfeed.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Separates hotel_id from destination in :func:`feature_key`; a control character no id contains.
KEY_SEPARATOR = "\x1f"

#: Messages taken from librdkafka's queue per poll.
_BATCH = 1000
#: Pause before retrying after a Kafka error (a topic without a leader yet, a broker away).
_RETRY_SECONDS = 0.5

#: The decayed counts of a record, all finite and >= 0.
_COUNTS = ("examined_impressions", "clicks", "books", "quick_backs", "impressions")

#: A row's identity in the store: (hotel_id, destination), destination None for the global row.
RowId = tuple[str, str | None]

#: One row as the store keeps it: ``(examined_impressions, clicks, books, quick_backs, impressions,
#: updated_at_ms)``, read with the index constants below. A plain tuple of numbers, because the
#: garbage collector stops tracking those after one pass; a NamedTuple or a slotted class stays
#: tracked, and 120,000 NamedTuple rows made every full collection 35 ms longer than plain tuples
#: did (measured), a pause the p99 would show.
FeatureRow = tuple[float, float, float, float, float, int]
EXAMINED_IMPRESSIONS: Final = 0
CLICKS: Final = 1
BOOKS: Final = 2
QUICK_BACKS: Final = 3
IMPRESSIONS: Final = 4
UPDATED_AT_MS: Final = 5


def row_from_record(record: Mapping[str, Any]) -> FeatureRow:
    """The row of a decoded ``HotelFeatures`` record; refuses counts that are negative or not finite."""
    examined, clicks, books, quick_backs, impressions = counts = [float(record[name]) for name in _COUNTS]
    if not all(math.isfinite(value) and value >= 0 for value in counts):
        shown = dict(zip(_COUNTS, counts, strict=True))
        raise ValueError(f"hotel {record['hotel_id']!r}: counts must be finite and >= 0, got {shown}")
    updated_at = record["updated_at"]
    updated_at_ms = int(updated_at.timestamp() * 1000) if isinstance(updated_at, datetime) else int(updated_at)
    return (examined, clicks, books, quick_backs, impressions, updated_at_ms)


def feature_key(hotel_id: str, destination: str | None = None) -> bytes:
    """The Kafka key of a row by the convention the tests and benchmark use (the store accepts any key)."""
    return (hotel_id if destination is None else f"{hotel_id}{KEY_SEPARATOR}{destination}").encode()


class FeatureStore:
    """Follows the compacted hotel-features topic into memory; ``get`` answers from memory only."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        poll_seconds: float = 0.1,
        fetch_wait_max_ms: int = 100,
        on_caught_up: Callable[[], None] | None = None,
    ) -> None:
        """``on_caught_up`` runs in the store's thread once the topic is loaded, just before ``ready`` turns true."""
        self.topic = topic
        self._kafka = kafka
        self._poll_seconds = poll_seconds
        self._fetch_wait_max_ms = fetch_wait_max_ms
        self._on_caught_up = on_caught_up
        self._rows: dict[RowId, FeatureRow] = {}
        #: Which row each Kafka key last carried, so that its tombstone can delete it.
        self._row_of_key: dict[bytes, RowId] = {}
        self._next_offsets: dict[int, int] = {}
        self._end_offsets: dict[int, int] = {}
        self._caught_up: set[int] = set()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Changes whenever updates are applied: the next offset of each partition, "0:12,1:7,2:30".
        self.version = "empty"
        self.applied = 0
        self.invalid = 0
        self.last_error: str | None = None

    # -- reading -----------------------------------------------------------------------------------

    def get(self, hotel_id: str, destination: str | None = None) -> FeatureRow | None:
        """The hotel's global row (``destination`` None) or its row in ``destination``; None if there is none."""
        return self._rows.get((hotel_id, destination))

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def ready(self) -> bool:
        """True once the topic has been read up to the end offsets it had when the store started."""
        return self._ready.is_set()

    def wait_ready(self, timeout_seconds: float) -> bool:
        return self._ready.wait(timeout_seconds)

    def status(self) -> dict[str, Any]:
        """What ``/readyz`` shows."""
        return {
            "ready": self.ready,
            "topic": self.topic,
            "rows": len(self._rows),
            "features_version": self.version,
            "applied": self.applied,
            "invalid": self.invalid,
            "partitions_caught_up": f"{len(self._caught_up)}/{len(self._end_offsets) or '?'}",
            "last_error": self.last_error,
        }

    # -- writing -----------------------------------------------------------------------------------

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one message of the topic: an update (Avro ``HotelFeatures``) or a tombstone (``value`` None)."""
        if value is None:
            row_id = self._row_of_key.pop(key, None) if key is not None else None
            if row_id is not None:
                self._rows.pop(row_id, None)
            self.applied += 1
            return
        try:
            record = avro.decode(value, schemas.HOTEL_FEATURES)
            row = row_from_record(record)
        except (ValueError, TypeError, LookupError, EOFError, OverflowError) as error:
            self.invalid += 1
            log.warning("skipped an invalid hotel-features message", extra={"key": key, "error": str(error)})
            return
        row_id = (record["hotel_id"], record["destination"])
        if key is not None:
            previous = self._row_of_key.get(key)
            if previous is not None and previous != row_id:
                self._rows.pop(previous, None)  # the key now carries another row: the old one is gone
            self._row_of_key[key] = row_id
        self._rows[row_id] = row
        self.applied += 1

    # -- the background consumer -------------------------------------------------------------------

    def start(self) -> None:
        """Start following the topic in a daemon thread; returns at once (see ``ready``)."""
        if self._thread is not None:
            raise RuntimeError("the feature store was already started")
        self._thread = threading.Thread(target=self._run, name=f"feature-store-{self.topic}", daemon=True)
        self._thread.start()

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stop following the topic and close the consumer; the rows stay readable."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)

    def _consumer_config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self._kafka.bootstrap_servers,
            # librdkafka wants a group id even when partitions are assigned by hand; nothing is committed.
            "group.id": f"rankfeed-rerank-{uuid.uuid4().hex[:12]}",
            "client.id": "rankfeed-rerank",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            # The job writes exactly once, in transactions: never score with an aborted update.
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": self._fetch_wait_max_ms,
            "allow.auto.create.topics": False,
            "error_cb": self._on_error,
        }

    def _on_error(self, error: KafkaError) -> None:
        self.last_error = str(error)
        log.warning("hotel-features consumer error", extra={"error": str(error)})

    def _run(self) -> None:
        consumer = Consumer(self._consumer_config())
        try:
            if not self._start_reading(consumer):
                return
            while not self._stopping.is_set():
                try:
                    self._consume(consumer)
                except KafkaException as error:
                    self.last_error = str(error)
                    log.warning("hotel-features consumer error", extra={"error": str(error)})
                    self._stopping.wait(_RETRY_SECONDS)
        finally:
            consumer.close()

    def _start_reading(self, consumer: Consumer) -> bool:
        """Find the partitions and their end offsets, and assign them from their beginning.

        Retried until it works: at start the broker may be down, the topic missing, or just created
        and without a leader yet. False if the store was stopped first.
        """
        while not self._stopping.is_set():
            try:
                partitions = self._partitions(consumer)
                if partitions:
                    watermarks = {
                        partition: consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=5)
                        for partition in partitions
                    }
            except KafkaException as error:
                self.last_error = f"cannot read the partitions of topic {self.topic!r}: {error}"
            else:
                if partitions:
                    break
            log.warning("waiting for the hotel-features topic", extra={"error": self.last_error})
            self._stopping.wait(_RETRY_SECONDS)
        else:
            return False
        self.last_error = None
        for partition, (low, high) in watermarks.items():
            self._end_offsets[partition] = high
            self._next_offsets[partition] = low
            if high <= low:
                self._caught_up.add(partition)
        consumer.assign([TopicPartition(self.topic, partition, OFFSET_BEGINNING) for partition in watermarks])
        self._update_version()
        self._check_caught_up()
        log.info("following hotel features", extra={"topic": self.topic, "end_offsets": self._end_offsets})
        return True

    def _partitions(self, consumer: Consumer) -> list[int]:
        """The topic's partitions, or none (with ``last_error`` saying why) when it is not available."""
        metadata = consumer.list_topics(self.topic, timeout=5).topics[self.topic]
        if metadata.error is None and metadata.partitions:
            return sorted(metadata.partitions)
        self.last_error = (
            f"topic {self.topic!r} is not available ({metadata.error}); "
            "create it (`rankfeed local up` does) or set topics.hotel_features"
        )
        return []

    def _consume(self, consumer: Consumer) -> None:
        # Wait for one message, then take what is already queued without waiting: consume(n, timeout)
        # alone would hold a lone update back until n messages or the timeout (measured: 50 ms median).
        first: Message | None = consumer.poll(self._poll_seconds)
        if first is None:
            return
        messages: list[Message] = [first, *consumer.consume(_BATCH, 0)]
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._caught_up.add(message.partition())
                else:
                    self.last_error = str(error)
                continue
            self.apply(message.key(), message.value())
            self._next_offsets[message.partition()] = message.offset() + 1
        self._update_version()
        if not self.ready:
            self._check_caught_up()

    def _update_version(self) -> None:
        self.version = ",".join(f"{partition}:{offset}" for partition, offset in sorted(self._next_offsets.items()))

    def _check_caught_up(self) -> None:
        for partition, end in self._end_offsets.items():
            if self._next_offsets.get(partition, 0) >= end:
                self._caught_up.add(partition)
        if len(self._caught_up) == len(self._end_offsets):
            log.info("hotel features caught up", extra={"rows": len(self._rows), "version": self.version})
            if self._on_caught_up is not None:
                self._on_caught_up()
            self._ready.set()
