"""Case 2026-11-30-05 (the last click before a quiet period was not labelled until other traffic came): the
gateway writes a heartbeat to every partition of the user-actions topic every ``heartbeat_interval_seconds``,
stamped its clock minus ``heartbeat_margin_seconds``, from the ASGI lifespan's startup to its shutdown.
Against the real broker.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, TopicPartition

from rankfeed import avro
from rankfeed.consumer import committed_reader
from rankfeed.gateway.settings import GatewaySettings
from rankfeed.producer import HEARTBEAT_SESSION
from rankfeed.settings import Topics
from rankfeed.types import Record
from tests.gateway.conftest import gateway_settings, run_gateway, wait_until_ready

INTERVAL_SECONDS = 0.2
MARGIN_SECONDS = 5.0


class TopicReader:
    """Reads every partition of a topic from the start and keeps what each holds."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.consumer: Consumer = committed_reader(bootstrap_servers, "heartbeat-test")
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.partitions = sorted(partitions)
        self.consumer.assign([TopicPartition(topic, partition, 0) for partition in self.partitions])
        self.by_partition: dict[int, list[Record]] = defaultdict(list)

    def read_until(self, done: float, timeout_seconds: float = 30.0) -> None:
        """Poll until every partition holds at least ``done`` records, or the timeout."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if all(len(self.by_partition[partition]) >= done for partition in self.partitions):
                return
            message = self.consumer.poll(0.2)
            if message is not None and not message.error():
                self.by_partition[message.partition()].append(avro.decode(message.value()))

    def close(self) -> None:
        self.consumer.close()


def end_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    reader = TopicReader(bootstrap_servers, topic)
    try:
        return {
            partition: reader.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
            for partition in reader.partitions
        }
    finally:
        reader.close()


def heartbeat_settings(bootstrap_servers: str, topics: Topics) -> GatewaySettings:
    return gateway_settings(
        bootstrap_servers,
        topics,
        heartbeat_interval_seconds=INTERVAL_SECONDS,
        heartbeat_margin_seconds=MARGIN_SECONDS,
    )


def test_2026_11_30_05_heartbeats_reach_every_partition_while_nobody_sends_and_stop_at_shutdown(
    bootstrap_servers: str, topics: Topics
) -> None:
    """2026-11-30-05: with no user traffic at all, every partition gets heartbeats again and again, stamped the
    gateway's clock minus the margin; after the lifespan's shutdown no more arrive."""
    reader = TopicReader(bootstrap_servers, topics.user_actions)
    assert len(reader.partitions) > 1
    try:
        before = datetime.now(UTC)
        with run_gateway(heartbeat_settings(bootstrap_servers, topics)) as running:
            wait_until_ready(running)
            reader.read_until(3)  # three ticks on every partition: they keep coming
            after = datetime.now(UTC)
            metrics = set(running.http.get("/metrics").text.splitlines())
        stopped = end_offsets(bootstrap_servers, topics.user_actions)
    finally:
        reader.close()
    margin = timedelta(seconds=MARGIN_SECONDS)
    for partition in reader.partitions:
        heartbeats = reader.by_partition[partition]
        assert len(heartbeats) >= 3, f"partition {partition} got {len(heartbeats)} heartbeats"
        for record in heartbeats:
            assert (record["action_type"], record["session_id"]) == ("heartbeat", HEARTBEAT_SESSION)
            assert before - margin - timedelta(milliseconds=1) <= record["timestamp"] <= after - margin
            assert record["client_timestamp"] is None
        times = [record["timestamp"] for record in heartbeats]
        assert times == sorted(times) and len(set(times)) == len(times)  # event time moves on, tick after tick
    assert any(line.startswith("rankfeed_gateway_heartbeats_total ") for line in metrics), metrics
    assert "rankfeed_gateway_heartbeat_failures_total 0.0" in metrics

    time.sleep(10 * INTERVAL_SECONDS)  # ten ticks' worth after shutdown
    assert end_offsets(bootstrap_servers, topics.user_actions) == stopped


def test_2026_11_30_05_every_gateway_process_sends_its_own_heartbeats(bootstrap_servers: str, topics: Topics) -> None:
    """2026-11-30-05: no gateway has to be the one: two running side by side both tick every partition."""
    reader = TopicReader(bootstrap_servers, topics.user_actions)
    try:
        with (
            run_gateway(heartbeat_settings(bootstrap_servers, topics)) as first,
            run_gateway(heartbeat_settings(bootstrap_servers, topics)) as second,
        ):
            for running in (first, second):
                wait_until_ready(running)
            reader.read_until(6)
            ticks = [
                float(line.rsplit(" ", 1)[1])
                for running in (first, second)
                for line in running.http.get("/metrics").text.splitlines()
                if line.startswith("rankfeed_gateway_heartbeats_total ")
            ]
    finally:
        reader.close()
    assert len(ticks) == 2 and all(tick >= len(reader.partitions) for tick in ticks), ticks
    assert all(len(reader.by_partition[partition]) >= 6 for partition in reader.partitions)
