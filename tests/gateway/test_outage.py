"""Kafka goes away and comes back: 503 within the deadline, not ready, then 202 again, and nothing lost.

Stops the shared local broker, so it is marked slow and runs in CI, not in a quick local loop.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from rankfeed.local.stack import Stack
from rankfeed.settings import Topics
from tests.conftest import ReadTopic
from tests.gateway.conftest import SERVER_KEY, GatewayFactory, now_ms, wait_until_ready

DEADLINE_SECONDS = 3.0


def batch(size: int = 5) -> list[dict[str, Any]]:
    session = f"S-{uuid.uuid4()}"
    return [
        {"user_id": "U1", "session_id": session, "timestamp": now_ms(), "action_type": "back", "hotel_id": "H1"}
        for _ in range(size)
    ]


class Sender(threading.Thread):
    """Posts a batch every 50 ms for the whole test and remembers every answer."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.accepted_ids: list[str] = []
        self.slowest_seconds = 0.0

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, headers={"X-Api-Key": SERVER_KEY}, timeout=30) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                response = client.post("/v1/actions/batch", json=batch())
                self.slowest_seconds = max(self.slowest_seconds, time.monotonic() - started)
                self.statuses.append(response.status_code)
                if response.status_code == 202:
                    self.accepted_ids.extend(response.json()["event_ids"])
                time.sleep(0.05)


@pytest.mark.slow
def test_a_broker_outage_gives_503_and_not_ready_then_recovers_without_losing_acknowledged_events(
    stack: Stack, start_gateway: GatewayFactory, topics: Topics, read_topic: ReadTopic
) -> None:
    running = start_gateway(request_deadline_seconds=DEADLINE_SECONDS, health_check_interval_seconds=0.5)
    wait_until_ready(running)
    sender = Sender(running.base_url)
    sender.start()
    time.sleep(1.0)
    stack.broker.stop()
    try:
        started = time.monotonic()
        during = running.post("/v1/actions/batch", batch())
        assert during.status_code == 503, during.text
        assert time.monotonic() - started <= DEADLINE_SECONDS + 1.0
        assert during.headers["retry-after"] == "1"
        assert during.json()["errors"][0]["problem"] in {"kafka_unavailable", "kafka_timeout", "kafka_delivery_failed"}
        readiness = running.http.get("/readyz")
        deadline = time.monotonic() + 15
        while readiness.status_code != 503 and time.monotonic() < deadline:
            time.sleep(0.2)
            readiness = running.http.get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["ready"] is False and "unreachable" in readiness.json()["reason"]
        time.sleep(2.0)  # the sender keeps trying while Kafka is down
    finally:
        stack.broker.start()
    wait_until_ready(running, timeout_seconds=60)
    deadline = time.monotonic() + 60
    after = running.post("/v1/actions/batch", batch())
    while after.status_code != 202 and time.monotonic() < deadline:
        time.sleep(0.5)
        after = running.post("/v1/actions/batch", batch())
    assert after.status_code == 202, after.text
    time.sleep(1.0)
    sender.stop.set()
    sender.join(timeout=30)

    assert set(sender.statuses) <= {202, 503}, sorted(set(sender.statuses))
    assert 503 in sender.statuses and sender.statuses[-1] == 202
    assert sender.slowest_seconds <= DEADLINE_SECONDS + 1.0
    acknowledged = set(sender.accepted_ids) | set(after.json()["event_ids"])
    on_topic = {record["event_id"] for record in read_topic(topics.user_actions, len(acknowledged), timeout_seconds=60)}
    assert acknowledged <= on_topic, f"{len(acknowledged - on_topic)} acknowledged events are missing"
