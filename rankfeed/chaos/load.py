"""A load client that keeps the books: which event_ids it sent, which the gateway acknowledged, what it refused.

It sends simulated sessions (``rankfeed.simulate``) through the real gateway over HTTP, in batches,
at a steady rate. A batch answered 503 or 429, or lost to a connection error, is retried with
exactly the same body, so its event_ids do not change; the gateway acknowledges an event only once
Kafka has it, so every id in ``acked`` must come out of the pipeline exactly once.

One thread sends, in event-time order, and a batch is retried until it is acknowledged before the
next one goes. Several senders would reorder event time among themselves: an event held back by a
retry while another sender moves event time on would arrive behind the watermark and be routed to
the late topic, which is the job working as designed, not a fault to measure.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import orjson

from rankfeed import simulate
from rankfeed.gateway.client import to_json_event
from rankfeed.types import Record

#: Events in one request: small enough that the rate stays smooth, big enough to be a batch.
BATCH_SIZE = 25
#: A batch not acknowledged within this long is given up (its ids count as sent, not acknowledged).
GIVE_UP_SECONDS = 120.0


@dataclass
class LoadStats:
    """What the client saw; times are ``time.monotonic()``."""

    sent: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)
    #: Every action sent, by event_id (the verifier needs action types, searches and impressions).
    actions: dict[str, Record] = field(default_factory=dict)
    #: When each acknowledged id was first acknowledged.
    ack_time: dict[str, float] = field(default_factory=dict)
    #: When each 2xx answer came.
    ack_times: list[float] = field(default_factory=list)
    status_503: int = 0
    status_429: int = 0
    connection_errors: int = 0
    other_errors: list[str] = field(default_factory=list)
    gave_up: int = 0
    last_event_time: datetime | None = None

    def acked_between(self, start: float, end: float) -> int:
        """Events first acknowledged within [start, end)."""
        return sum(1 for at in self.ack_time.values() if start <= at < end)

    def longest_ack_gap(self, start: float, end: float) -> float:
        """The longest stretch within [start, end] without any acknowledgement: what clients felt."""
        times = [start, *(at for at in self.ack_times if start <= at <= end), end]
        return max(b - a for a, b in itertools.pairwise(times))


class LoadClient(threading.Thread):
    """Sends ``rate`` events per second of simulated traffic starting at ``start`` until ``stop()``."""

    def __init__(self, base_url: str, api_key: str, start: datetime, seed: int, rate: float = 200.0) -> None:
        super().__init__(name=f"chaos-load-{seed}", daemon=True)
        self.base_url = base_url
        self.api_key = api_key
        self.rate = rate
        # Sessions are generated lazily, a few hundred at a time, each block after the previous in event time.
        self.start_time = start
        self.seed = seed
        self.stats = LoadStats()
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._lock = threading.Lock()

    def stop(self) -> None:
        """Send no new batch; the one being retried still goes on until acknowledged."""
        self._stopping.set()

    def abandon(self) -> None:
        """Stop retrying too: the batch in flight stays unacknowledged."""
        self._stopping.set()
        self._abandon.set()

    def acked_ids(self) -> set[str]:
        """A copy of the acknowledged ids, safe to take while the client runs."""
        with self._lock:
            return set(self.stats.acked)

    def acked_since(self, start: float) -> int:
        with self._lock:
            return self.stats.acked_between(start, time.monotonic())

    def _traffic(self) -> list[Record]:
        shape = simulate.TrafficShape(
            sessions=400, seed=self.seed, start=self.start_time, duplicate_share=0.02, out_of_order_share=0.05
        )
        actions = simulate.generate(shape)
        self.seed += 1_000_003
        # The next block starts after this one ends, so event time keeps moving forward.
        self.start_time = max(action["timestamp"] for action in actions) + timedelta(seconds=1)
        return actions

    def run(self) -> None:
        headers = {"X-Api-Key": self.api_key, "Content-Type": "application/json"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0) as client:
            paced_from = time.monotonic()
            sent_in_pace = 0
            while not self._stopping.is_set():
                actions = self._traffic()
                for offset in range(0, len(actions), BATCH_SIZE):
                    if self._stopping.is_set():
                        return
                    batch = actions[offset : offset + BATCH_SIZE]
                    due = paced_from + sent_in_pace / self.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        self._stopping.wait(delay)
                    elif delay < -1.0:
                        # Behind after an outage: carry on at the rate from now rather than burst to catch up.
                        paced_from, sent_in_pace = time.monotonic(), 0
                    self._send(client, batch)
                    sent_in_pace += len(batch)

    def _send(self, client: httpx.Client, batch: list[Record]) -> None:
        events = [to_json_event(action) for action in batch]
        body = orjson.dumps(events)
        with self._lock:
            for action in batch:
                self.stats.sent.add(action["event_id"])
                self.stats.actions[action["event_id"]] = action
            self.stats.last_event_time = max(action["timestamp"] for action in batch)
        give_up = time.monotonic() + GIVE_UP_SECONDS
        delay = 0.2
        while time.monotonic() < give_up and not self._abandon.is_set():
            try:
                response = client.post("/v1/actions/batch", content=body)
            except httpx.TransportError:
                with self._lock:
                    self.stats.connection_errors += 1
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if response.is_success:
                acked = response.json().get("event_ids", [])
                now = time.monotonic()
                with self._lock:
                    self.stats.acked.update(acked)
                    for event_id in acked:
                        self.stats.ack_time.setdefault(event_id, now)
                    self.stats.ack_times.append(now)
                    if len(acked) < len(batch):
                        refused = len(batch) - len(acked)
                        self.stats.other_errors.append(f"{refused} events refused: {response.text[:200]}")
                return
            if response.status_code in (429, 503):
                with self._lock:
                    if response.status_code == 503:
                        self.stats.status_503 += 1
                    else:
                        self.stats.status_429 += 1
                retry_after = response.headers.get("retry-after", "")
                time.sleep(min(float(retry_after), 2.0) if retry_after.isdigit() else delay)
                delay = min(delay * 2, 2.0)
                continue
            with self._lock:
                self.stats.other_errors.append(f"{response.status_code}: {response.text[:200]}")
            return
        with self._lock:
            self.stats.gave_up += 1
