"""The HTTP sender the simulator uses: batches, epoch-ms timestamps, retries that keep event_ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rankfeed.gateway.client import GatewayError, send_actions, to_json_event
from rankfeed.settings import Topics
from rankfeed.simulate import TrafficShape, generate
from rankfeed.types import Record
from tests.conftest import ReadTopic
from tests.gateway.conftest import SERVER_KEY, RunningGateway


def simulated_actions(sessions: int) -> list[Record]:
    """Simulator traffic moved so that its newest action happened a second ago (inside the time window)."""
    actions = generate(TrafficShape(sessions=sessions, seed=5, duplicate_share=0.0, out_of_order_share=0.0))
    shift = datetime.now(UTC) - timedelta(seconds=1) - max(action["timestamp"] for action in actions)
    return [{**action, "timestamp": action["timestamp"] + shift} for action in actions]


def test_records_become_json_events_with_epoch_milliseconds_and_no_nulls() -> None:
    record = {
        "event_id": "123e4567-e89b-42d3-a456-426614174000",
        "timestamp": datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC),
        "query": None,
        "impressions": [{"hotel_id": "H1", "position": 1, "price": None, "rating": 4.0}],
    }
    assert to_json_event(record) == {
        "event_id": "123e4567-e89b-42d3-a456-426614174000",
        "timestamp": 1_795_773_600_123,
        "impressions": [{"hotel_id": "H1", "position": 1, "price": None, "rating": 4.0}],
    }
    assert len(to_json_event({"timestamp": record["timestamp"]})["event_id"]) == 36
    with pytest.raises(ValueError, match="naive datetime"):
        to_json_event({"timestamp": datetime(2026, 11, 27)})


def test_simulated_traffic_arrives_complete(gateway: RunningGateway, topics: Topics, read_topic: ReadTopic) -> None:
    actions = simulated_actions(sessions=6)
    assert send_actions(gateway.base_url, SERVER_KEY, actions, batch_size=7) == len(actions)
    records = read_topic(topics.user_actions, len(actions), timeout_seconds=30)
    assert sorted(record["event_id"] for record in records) == sorted(action["event_id"] for action in actions)


class FlakyTransport(httpx.BaseTransport):
    """Answers the first request with 503 itself, then forwards to the real gateway; keeps every body."""

    def __init__(self) -> None:
        self.real = httpx.HTTPTransport()
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        if len(self.bodies) == 1:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"errors": [], "detail": "try again"})
        return self.real.handle_request(request)


def test_a_503_is_retried_with_the_same_event_ids(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    actions = [{key: value for key, value in action.items() if key != "event_id"} for action in simulated_actions(2)]
    transport = FlakyTransport()
    assert send_actions(gateway.base_url, SERVER_KEY, actions, transport=transport) == len(actions)
    assert len(transport.bodies) == 2 and transport.bodies[0] == transport.bodies[1]
    records = read_topic(topics.user_actions, len(actions), timeout_seconds=30)
    assert len(records) == len(actions)  # the first attempt never reached the gateway: no duplicates


def test_rejected_actions_raise_after_every_batch_was_sent(gateway: RunningGateway) -> None:
    actions = simulated_actions(2)
    broken = dict(actions[1], position=0, action_type="click", hotel_id="H1", search_id="Q1")
    with pytest.raises(GatewayError, match="rejected 1 of") as raised:
        send_actions(gateway.base_url, SERVER_KEY, [actions[0], broken, *actions[2:]], batch_size=2)
    assert raised.value.accepted == len(actions) - 1
    assert raised.value.errors[0]["index"] == 1 and raised.value.errors[0]["problem"] == "below_minimum"


def test_a_bad_key_fails_at_once(gateway: RunningGateway) -> None:
    with pytest.raises(GatewayError, match="answered 401"):
        send_actions(gateway.base_url, "wrong-key-0123456789", simulated_actions(1))
