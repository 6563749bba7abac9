"""Case 2026-11-30-01 (one device clock 4 min fast sent everybody's actions to the late topic): the event time
the gateway writes is derived and bounded by its own clock; the client's value stays in client_timestamp.

The rule (``rankfeed.gateway.eventtime``): with ``X-Sent-At`` every event moves by receive time − X-Sent-At;
in every case no event time is later than ``server_timestamp`` (a session whose events lie ahead moves back
as a whole, so their order and intervals are kept).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from rankfeed.gateway.eventtime import (
    Adjusted,
    InvalidSentAt,
    derive_event_times,
    parse_sent_at,
)
from rankfeed.settings import Topics
from tests.conftest import ReadTopic
from tests.gateway.conftest import GatewayFactory, RunningGateway, now_ms, wait_until_ready

RECEIVED = 1_795_777_200_000
#: How far the fast device's clock is ahead: the case's 240 s.
AHEAD_MS = 240_000
NDJSON = {"Content-Type": "application/x-ndjson"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def as_ms(moment: datetime) -> int:
    """Epoch milliseconds, exactly (no float on the way)."""
    return (moment - _EPOCH) // _ONE_MS


def iso(epoch_ms: int) -> str:
    """ISO-8601 of an epoch millisecond, exactly."""
    return (_EPOCH + epoch_ms * _ONE_MS).isoformat()


def event(session_id: str, timestamp: int) -> SimpleNamespace:
    return SimpleNamespace(session_id=session_id, timestamp=timestamp, client_timestamp=None)


def fast_device_batch(sent_ms: int) -> list[dict[str, Any]]:
    """User F of the case: a search and a click 5 s later, stamped by a device clock 4 min fast."""
    session = f"session-F-{uuid.uuid4()}"
    common = {"user_id": "user-F", "session_id": session, "search_id": "search-F", "device": "web"}
    return [
        {
            **common,
            "event_id": str(uuid.uuid4()),
            "timestamp": sent_ms + AHEAD_MS,
            "action_type": "search",
            "query": "Nice",
            "impressions": [{"hotel_id": f"K{position}", "position": position} for position in (1, 2, 3)],
        },
        {
            **common,
            "event_id": str(uuid.uuid4()),
            "timestamp": sent_ms + AHEAD_MS + 5000,
            "action_type": "click",
            "hotel_id": "K1",
            "position": 1,
        },
    ]


def correct_clock_batch(sent_ms: int) -> list[dict[str, Any]]:
    """User N of the case: correct clock, a search 20 s ago, a click 15 s ago, a back now."""
    session = f"session-N-{uuid.uuid4()}"
    common = {"user_id": "user-N", "session_id": session, "device": "web"}
    return [
        {
            **common,
            "event_id": str(uuid.uuid4()),
            "timestamp": sent_ms - 20_000,
            "action_type": "search",
            "search_id": "search-N",
            "query": "Lyon",
        },
        {
            **common,
            "event_id": str(uuid.uuid4()),
            "timestamp": sent_ms - 15_000,
            "action_type": "click",
            "search_id": "search-N",
            "hotel_id": "L2",
            "position": 2,
        },
        {**common, "event_id": str(uuid.uuid4()), "timestamp": sent_ms, "action_type": "back"},
    ]


# -- the rule on its own ------------------------------------------------------------------------


def test_2026_11_30_01_an_event_ahead_of_the_receive_time_is_moved_back_to_it() -> None:
    """2026-11-30-01: without X-Sent-At an event 4 min ahead gets the receive time; its original is kept."""
    events = [event("F", RECEIVED + AHEAD_MS)]
    assert derive_event_times(events, RECEIVED, None, clamp=True) == Adjusted(corrected=0, clamped=1)
    assert (events[0].timestamp, events[0].client_timestamp) == (RECEIVED, RECEIVED + AHEAD_MS)


def test_2026_11_30_01_a_session_ahead_moves_back_as_a_whole_and_other_sessions_stay() -> None:
    """2026-11-30-01: the newest event of a session lands on the receive time, the others keep their intervals."""
    events = [event("F", RECEIVED + AHEAD_MS), event("F", RECEIVED + AHEAD_MS + 5000), event("N", RECEIVED - 15_000)]
    assert derive_event_times(events, RECEIVED, None, clamp=True) == Adjusted(corrected=0, clamped=2)
    assert [e.timestamp for e in events] == [RECEIVED - 5000, RECEIVED, RECEIVED - 15_000]
    assert [e.client_timestamp for e in events] == [RECEIVED + AHEAD_MS, RECEIVED + AHEAD_MS + 5000, RECEIVED - 15_000]


def test_2026_11_30_01_x_sent_at_corrects_the_device_clock_exactly() -> None:
    """2026-11-30-01: derived = timestamp + (received − sent): the device's own delays, the gateway's clock."""
    sent_at = RECEIVED + AHEAD_MS - 120  # the device is 240 s fast; the request took 120 ms
    events = [event("F", sent_at - 7000), event("F", sent_at - 2000)]
    assert derive_event_times(events, RECEIVED, sent_at, clamp=True) == Adjusted(corrected=2, clamped=0)
    assert [e.timestamp for e in events] == [RECEIVED - 7000, RECEIVED - 2000]
    assert [e.client_timestamp for e in events] == [sent_at - 7000, sent_at - 2000]


def test_2026_11_30_01_x_sent_at_is_still_bounded_by_the_receive_time() -> None:
    """2026-11-30-01: an event stamped after its own request was sent still ends up no later than receipt."""
    events = [event("F", RECEIVED + 3000)]
    assert derive_event_times(events, RECEIVED, RECEIVED + 1000, clamp=True) == Adjusted(corrected=1, clamped=1)
    assert events[0].timestamp == RECEIVED


def test_2026_11_30_01_without_the_clamp_only_x_sent_at_changes_event_time() -> None:
    """2026-11-30-01: clamp_event_time off (the local simulation stack) keeps a time ahead as the client sent it."""
    events = [event("F", RECEIVED + AHEAD_MS)]
    assert derive_event_times(events, RECEIVED, None, clamp=False) == Adjusted()
    assert events[0].timestamp == events[0].client_timestamp == RECEIVED + AHEAD_MS


def test_2026_11_30_01_x_sent_at_takes_what_timestamp_takes() -> None:
    """2026-11-30-01: X-Sent-At is epoch milliseconds or ISO-8601 with a UTC offset; anything else is refused."""
    assert parse_sent_at(None) is None
    assert parse_sent_at(b"1795777200123") == 1_795_777_200_123
    assert parse_sent_at(b"2026-11-27T10:20:00.123Z") == 1_795_774_800_123
    for bad in (b"", b"yesterday", b"2026-11-27T10:20:00", b"-5", b"1.5e12", "１２".encode()):
        with pytest.raises(InvalidSentAt, match="X-Sent-At must be"):
            parse_sent_at(bad)


# -- through the gateway to Kafka -----------------------------------------------------------------


def test_2026_11_30_01_a_device_4_minutes_fast_cannot_move_event_time_ahead_of_the_gateway(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    """2026-11-30-01: user F (4 min fast) and user N (correct): every event time is at most server_timestamp,
    F's search and click keep their 5 s, N's actions are written as sent, and client_timestamp holds the original."""
    fast = fast_device_batch(now_ms())
    assert gateway.post("/v1/actions/batch", fast).status_code == 202
    correct = correct_clock_batch(now_ms())
    assert gateway.post("/v1/actions/batch", correct).status_code == 202
    records = {record["event_id"]: record for record in read_topic(topics.user_actions, 5, timeout_seconds=30)}
    assert len(records) == 5
    for sent in (*fast, *correct):
        record = records[sent["event_id"]]
        assert record["timestamp"] <= record["server_timestamp"]
        assert as_ms(record["client_timestamp"]) == sent["timestamp"]
    search, click = (records[sent["event_id"]] for sent in fast)
    assert click["timestamp"] == click["server_timestamp"]
    assert as_ms(click["timestamp"]) - as_ms(search["timestamp"]) == 5000
    for sent in correct:
        assert as_ms(records[sent["event_id"]]["timestamp"]) == sent["timestamp"]
    metrics = set(gateway.http.get("/metrics").text.splitlines())
    assert 'rankfeed_gateway_event_time_adjusted_total{adjustment="clamped"} 2.0' in metrics


def test_2026_11_30_01_with_x_sent_at_the_skew_correction_is_applied_exactly(
    gateway: RunningGateway, topics: Topics, read_topic: ReadTopic
) -> None:
    """2026-11-30-01: timestamp = client timestamp + (server_timestamp − X-Sent-At), to the millisecond, on both
    the JSON and the NDJSON batch."""
    device_now = now_ms() + AHEAD_MS
    sent = fast_device_batch(device_now - AHEAD_MS)
    for item in sent:
        item["timestamp"] -= AHEAD_MS + 3000  # 3 s before sending, on the device clock
    sent_at = {"X-Sent-At": str(device_now)}
    assert gateway.post("/v1/actions/batch", sent[:1], headers=sent_at).status_code == 202
    iso_sent_at = {"X-Sent-At": iso(device_now), **NDJSON}
    ndjson = orjson.dumps(sent[1]) + b"\n"
    assert gateway.post("/v1/actions/batch", content=ndjson, headers=iso_sent_at).status_code == 202
    records = {record["event_id"]: record for record in read_topic(topics.user_actions, 2, timeout_seconds=30)}
    for item in sent:
        record = records[item["event_id"]]
        offset = as_ms(record["server_timestamp"]) - device_now
        assert as_ms(record["timestamp"]) == item["timestamp"] + offset
        assert as_ms(record["client_timestamp"]) == item["timestamp"]
    metrics = set(gateway.http.get("/metrics").text.splitlines())
    assert 'rankfeed_gateway_event_time_adjusted_total{adjustment="corrected"} 2.0' in metrics


def test_2026_11_30_01_with_x_sent_at_the_time_window_is_the_clients_own_clock(
    shared_gateway: RunningGateway,
) -> None:
    """2026-11-30-01: a device an hour fast is refused without X-Sent-At, accepted with it (its offset is known),
    and an event stamped well after its own X-Sent-At is refused in those words."""
    hour = 3_600_000
    sent = fast_device_batch(now_ms() + hour - AHEAD_MS)
    assert shared_gateway.post("/v1/actions/batch", sent).status_code == 422
    with_sent_at = shared_gateway.post("/v1/actions/batch", sent, headers={"X-Sent-At": str(now_ms() + hour)})
    assert (with_sent_at.status_code, with_sent_at.json()["accepted"]) == (202, 2)
    after_sending = shared_gateway.post(
        "/v1/actions/batch", sent, headers={"X-Sent-At": str(sent[0]["timestamp"] - 400_000)}
    )
    assert after_sending.status_code == 422
    first = after_sending.json()["errors"][0]
    assert (first["field"], first["problem"]) == ("timestamp", "in_future")
    assert first["message"] == (
        "timestamp is 400 s ahead of X-Sent-At (the client's clock when it sent the request); "
        "at most 300 s of client clock skew is accepted"
    )


def test_2026_11_30_01_a_malformed_x_sent_at_is_400_and_says_what_it_takes(shared_gateway: RunningGateway) -> None:
    """2026-11-30-01: a header the gateway cannot read refuses the request rather than being ignored."""
    response = shared_gateway.post("/v1/actions/batch", correct_clock_batch(now_ms()), headers={"X-Sent-At": "soon"})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["problem"] == "invalid_sent_at"
    assert error["message"].startswith("X-Sent-At must be the client's clock when it sent the request")


def test_2026_11_30_01_the_clamp_can_be_turned_off_for_simulated_traffic(
    start_gateway: GatewayFactory, topics: Topics, read_topic: ReadTopic
) -> None:
    """2026-11-30-01: clamp_event_time=False (the local stack, whose simulated time runs ahead) writes the client's
    time; client_timestamp is still set."""
    running = start_gateway(clamp_event_time=False)
    wait_until_ready(running)
    fast = fast_device_batch(now_ms())
    assert running.post("/v1/actions/batch", fast).status_code == 202
    records = {record["event_id"]: record for record in read_topic(topics.user_actions, 2, timeout_seconds=30)}
    for sent in fast:
        record = records[sent["event_id"]]
        assert as_ms(record["timestamp"]) == as_ms(record["client_timestamp"]) == sent["timestamp"]
