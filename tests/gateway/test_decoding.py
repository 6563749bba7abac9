"""The fast path (msgspec) may only accept what the thorough validator accepts, and must accept the same.

If the fast path accepted an event the validator rejects, an invalid event would reach Kafka; if it
refused a valid one, the request would only be slower. Both are checked on generated events.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankfeed.gateway.decoding import DecodeFailed, TypedDecoder
from rankfeed.gateway.validation import EventValidator
from tests.gateway.strategies import json_values, mutated_events, valid_events

NOW_MS = 1_795_777_200_000
SKEW_MS = 300_000
MAX_AGE_MS = 7 * 24 * 3_600_000

DECODER = TypedDecoder(max_batch_events=500, max_future_skew_ms=SKEW_MS, max_age_ms=MAX_AGE_MS)
VALIDATOR = EventValidator(max_future_skew_ms=SKEW_MS, max_age_ms=MAX_AGE_MS)


def fast(body: bytes) -> Any | None:
    """The struct when the fast path accepts ``body``, else None."""
    try:
        event = DECODER.decode_one(body)
    except DecodeFailed:
        return None
    return event if DECODER.acceptable([event], NOW_MS) else None


def thorough(body: bytes) -> dict[str, Any] | None:
    """The record when the thorough validator accepts ``body``, else None."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    result = VALIDATOR.validate(parsed, 0, NOW_MS)
    return None if isinstance(result, list) else result


def as_record(event: Any) -> dict[str, Any]:
    record: dict[str, Any] = msgspec.to_builtins(event)
    return record


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(valid_events(NOW_MS), mutated_events(NOW_MS), json_values))
def test_the_fast_path_accepts_exactly_what_the_validator_accepts(event: Any) -> None:
    body = json.dumps(event).encode()  # json, not orjson: it also writes integers beyond 64 bits
    fast_event = fast(body)
    record = thorough(body)
    assert (fast_event is None) == (record is None), (fast_event, record)
    if fast_event is not None and record is not None:
        # Same values; the fast path's structs also carry every optional field as null.
        converted = as_record(DECODER.from_record(record))
        assert as_record(fast_event) == converted


@settings(max_examples=100, deadline=None)
@given(st.lists(valid_events(NOW_MS), min_size=1, max_size=20))
def test_a_batch_of_valid_events_takes_the_fast_path(events: list[dict[str, Any]]) -> None:
    decoded = DECODER.decode_many(orjson.dumps(events))
    assert DECODER.acceptable(decoded, NOW_MS)
    assert len(decoded) == len(events)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",  # an empty batch is the slow path's to explain
        orjson.dumps([{"user_id": "u"}] * 501),  # more than max_batch_events
        b'[{"user_id": "u", "session_id": "s", "timestamp": 1, "action_type": "back", "extra": 1}]',
    ],
)
def test_batches_the_fast_path_leaves_to_the_validator(body: bytes) -> None:
    with pytest.raises(DecodeFailed):
        DECODER.decode_many(body)


def test_iso_timestamps_are_converted_by_the_same_function_on_both_paths() -> None:
    body = orjson.dumps(
        {"user_id": "u", "session_id": "s", "timestamp": "2026-11-27T10:20:00.9999999Z", "action_type": "back"}
    )
    fast_event = fast(body)
    record = thorough(body)
    assert fast_event is not None and record is not None
    assert fast_event.timestamp == record["timestamp"] == 1_795_774_800_999
