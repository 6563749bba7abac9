"""When did each event become visible downstream? A read_committed consumer following the clean topic live.

Recovery time is measured with it: from the fault to the first committed output of an event the
gateway acknowledged after the fault was cleared. Output becomes visible only at checkpoints, so
that time includes the job's restart, its catching up and one checkpoint.
"""

from __future__ import annotations

import threading
import time

from rankfeed import avro, schemas
from rankfeed.consumer import committed_reader


class CommitWatcher(threading.Thread):
    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        super().__init__(name="chaos-commit-watcher", daemon=True)
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        #: event_id → ``time.monotonic()`` when it was first read.
        self.first_seen: dict[str, float] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._stopping.set()

    def seen(self, event_ids: set[str]) -> int:
        with self._lock:
            return sum(1 for i in event_ids if i in self.first_seen)

    def first_seen_of(self, event_ids: set[str]) -> float | None:
        with self._lock:
            times = [self.first_seen[i] for i in event_ids if i in self.first_seen]
        return min(times, default=None)

    def run(self) -> None:
        # A broker that is down on purpose is no news: keep librdkafka's connection errors off the console.
        consumer = committed_reader(self.bootstrap_servers, "chaos-watch", log_level=2)
        consumer.subscribe([self.topic])
        try:
            while not self._stopping.is_set():
                messages = consumer.consume(500, 0.5)
                now = time.monotonic()
                for message in messages:
                    if message.error() is not None:
                        continue
                    event_id = str(avro.decode(message.value(), schemas.USER_ACTION)["event_id"])
                    with self._lock:
                        self.first_seen.setdefault(event_id, now)
        finally:
            consumer.close()
