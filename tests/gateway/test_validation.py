"""Every validation rule with a failing example and its exact error; valid events of each action type.

Pure functions, no broker: the rules come from the .avsc attributes and the two small tables in
``rankfeed.gateway.validation``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rankfeed.gateway import validation
from rankfeed.gateway.validation import EventValidator, Problem, validate_all

NOW = datetime(2026, 11, 27, 10, 40, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
SKEW_MS = 300_000
MAX_AGE_MS = 7 * 24 * 3_600_000
EVENT_ID = "123e4567-e89b-42d3-a456-426614174000"


@pytest.fixture(scope="module")
def validator() -> EventValidator:
    return EventValidator(max_future_skew_ms=SKEW_MS, max_age_ms=MAX_AGE_MS)


def click(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": EVENT_ID,
        "user_id": "U1",
        "session_id": "S1",
        "timestamp": NOW_MS,
        "action_type": "click",
        "search_id": "Q1",
        "hotel_id": "H1",
        "position": 3,
        "price": 120.5,
    }
    event.update(changes)
    return {name: value for name, value in event.items() if value is not DROP}


DROP: Any = object()


def problems(validator: EventValidator, event: Any) -> list[tuple[str | None, str, str]]:
    result = validator.validate(event, 0, NOW_MS)
    assert isinstance(result, list), f"expected problems, the event was accepted: {result}"
    return [(problem.field, problem.problem, problem.message) for problem in result]


def only_problem(validator: EventValidator, event: Any) -> tuple[str | None, str, str]:
    found = problems(validator, event)
    assert len(found) == 1, found
    return found[0]


SEARCH_IMPRESSIONS = [
    {"hotel_id": "H1", "position": 1, "price": 99.0, "rating": 4.5},
    {"hotel_id": "H2", "position": 2},
]


@pytest.mark.parametrize(
    "event",
    [
        click(),
        click(action_type="book", position=None, price=None),
        click(action_type="search", hotel_id=DROP, position=DROP, price=DROP, query="Paris"),
        click(action_type="search", hotel_id=DROP, position=DROP, price=DROP, impressions=SEARCH_IMPRESSIONS),
        click(action_type="impression", hotel_id=DROP, position=DROP, price=DROP, impressions=SEARCH_IMPRESSIONS),
        click(action_type="rate", rating=4.0),
        click(action_type="scroll", hotel_id=DROP, scroll_depth=12),
        click(action_type="back"),
    ],
    ids=["click", "book", "search-query", "search-impressions", "impression", "rate", "scroll", "back"],
)
def test_a_valid_event_of_each_action_type_is_completed_into_an_avro_ready_record(
    validator: EventValidator, event: dict[str, Any]
) -> None:
    record = validator.validate(dict(event), 0, NOW_MS)
    assert isinstance(record, dict), record
    assert record["schema_version"] == 1  # the contract's default, filled in
    assert {name: record[name] for name in event} == event


def test_iso_timestamps_become_epoch_milliseconds(validator: EventValidator) -> None:
    record = validator.validate(click(timestamp="2026-11-27T11:40:00.123+01:00"), 0, NOW_MS)
    assert isinstance(record, dict)
    assert record["timestamp"] == NOW_MS + 123


def test_a_client_event_id_is_kept_and_a_missing_or_null_one_is_allowed(validator: EventValidator) -> None:
    kept = validator.validate(click(), 0, NOW_MS)
    assert isinstance(kept, dict) and kept["event_id"] == EVENT_ID
    for event in (click(event_id=DROP), click(event_id=None)):
        record = validator.validate(event, 0, NOW_MS)
        assert isinstance(record, dict) and record.get("event_id") is None


def test_unknown_fields_are_rejected_not_dropped(validator: EventValidator) -> None:
    assert only_problem(validator, click(hotelId="H1")) == (
        "hotelId",
        "unknown_field",
        "hotelId is not a field of the user_action contract; unknown fields are rejected, not dropped: "
        "remove it or add it to schemas/avro/user_action.avsc first",
    )


def test_gateway_fields_may_only_be_null(validator: EventValidator) -> None:
    assert only_problem(validator, click(client_country="US")) == (
        "client_country",
        "server_field",
        "client_country is set by the gateway; leave it out of the request",
    )
    assert isinstance(validator.validate(click(server_timestamp=None, ingest_id=None), 0, NOW_MS), dict)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"user_id": DROP}, ("user_id", "missing_field", "user_id is required")),
        ({"timestamp": DROP}, ("timestamp", "missing_field", "timestamp is required")),
        ({"user_id": None}, ("user_id", "wrong_type", "user_id must not be null")),
        ({"session_id": 7}, ("session_id", "wrong_type", "session_id must be a string, got a number")),
        ({"position": "3"}, ("position", "wrong_type", "position must be an integer, got a string")),
        ({"position": 3.0}, ("position", "wrong_type", "position must be an integer, got a number")),
        ({"position": True}, ("position", "wrong_type", "position must be an integer, got a boolean")),
        ({"price": "120"}, ("price", "wrong_type", "price must be a number, got a string")),
        (
            {"ranking_randomized": 1},
            ("ranking_randomized", "wrong_type", "ranking_randomized must be true or false, got a number"),
        ),
        ({"impressions": {}}, ("impressions", "wrong_type", "impressions must be an array, got an object")),
        (
            {"action_type": "purchase"},
            (
                "action_type",
                "not_allowed",
                "action_type must be one of search, impression, click, book, scroll, rate, back; got 'purchase'",
            ),
        ),
        (
            {"action_type": "heartbeat"},
            (
                "action_type",
                "not_allowed",
                "heartbeat is an internal event-time tick written by producers of the pipeline, never by clients",
            ),
        ),
        ({"position": 0}, ("position", "below_minimum", "position must be at least 1, got 0")),
        (
            {"position": 2**31},
            ("position", "out_of_range", "position must be at most 2147483647 (the largest Avro int), got 2147483648"),
        ),
        ({"price": -0.01}, ("price", "below_minimum", "price must be at least 0, got -0.01")),
        ({"rating": 5.5}, ("rating", "above_maximum", "rating must be between 0 and 5, got 5.5")),
        ({"rating": -1}, ("rating", "below_minimum", "rating must be between 0 and 5, got -1")),
        ({"duration": -2.5}, ("duration", "below_minimum", "duration must be at least 0, got -2.5")),
        ({"scroll_depth": -1}, ("scroll_depth", "below_minimum", "scroll_depth must be at least 0, got -1")),
        ({"schema_version": 0}, ("schema_version", "below_minimum", "schema_version must be at least 1, got 0")),
        ({"hotel_id": ""}, ("hotel_id", "too_short", "hotel_id must have at least 1 character")),
        ({"user_id": "u" * 129}, ("user_id", "too_long", "user_id must have at most 128 characters, got 129")),
        ({"query": "q" * 513}, ("query", "too_long", "query must have at most 512 characters, got 513")),
        ({"referrer": "r" * 2049}, ("referrer", "too_long", "referrer must have at most 2048 characters, got 2049")),
        ({"device": "d" * 33}, ("device", "too_long", "device must have at most 32 characters, got 33")),
        (
            {"event_id": "not-a-uuid"},
            (
                "event_id",
                "invalid_format",
                "event_id must be a UUID in canonical form, e.g. 123e4567-e89b-42d3-a456-426614174000",
            ),
        ),
        (
            {"timestamp": "2026-11-27T10:40:00"},
            (
                "timestamp",
                "invalid_format",
                "timestamp must be ISO-8601 with a UTC offset, e.g. 2026-11-27T10:50:00.123Z; "
                "got '2026-11-27T10:40:00'",
            ),
        ),
        (
            {"timestamp": "yesterday"},
            (
                "timestamp",
                "invalid_format",
                "timestamp must be ISO-8601 with a UTC offset, e.g. 2026-11-27T10:50:00.123Z; got 'yesterday'",
            ),
        ),
        (
            {"timestamp": 1.5},
            (
                "timestamp",
                "wrong_type",
                "timestamp must be epoch milliseconds (an integer) or an ISO-8601 string, got a number",
            ),
        ),
        (
            {"timestamp": NOW_MS + SKEW_MS + 1000},
            (
                "timestamp",
                "in_future",
                "timestamp is 301 s ahead of the gateway clock; at most 300 s of client clock skew is accepted",
            ),
        ),
        (
            {"timestamp": NOW_MS - MAX_AGE_MS - 1},
            (
                "timestamp",
                "too_old",
                "timestamp is older than 168 h, the topic's retention; such events would be deleted at once",
            ),
        ),
        ({"hotel_id": DROP}, ("hotel_id", "required_for_action", "a click action needs hotel_id")),
        (
            {"action_type": "book", "search_id": None},
            ("search_id", "required_for_action", "a book action needs search_id"),
        ),
        (
            {"action_type": "search", "hotel_id": DROP},
            ("query|impressions", "required_for_action", "a search action needs query or impressions"),
        ),
        (
            {"action_type": "search", "impressions": []},
            ("query|impressions", "required_for_action", "a search action needs query or impressions"),
        ),
        (
            {"action_type": "impression"},
            ("impressions", "required_for_action", "an impression action needs impressions"),
        ),
        ({"action_type": "rate"}, ("rating", "required_for_action", "a rate action needs rating")),
        ({"action_type": "scroll"}, ("scroll_depth", "required_for_action", "a scroll action needs scroll_depth")),
    ],
)
def test_each_rule_refuses_with_an_exact_error(
    validator: EventValidator, changes: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    assert only_problem(validator, click(**changes)) == expected


def test_the_time_window_bounds_are_inclusive(validator: EventValidator) -> None:
    for moment in (NOW_MS + SKEW_MS, NOW_MS - MAX_AGE_MS):
        assert isinstance(validator.validate(click(timestamp=moment), 0, NOW_MS), dict)


@pytest.mark.parametrize(
    ("impressions", "expected"),
    [
        (
            [{"hotel_id": "H1", "position": 0}],
            [("impressions[0].position", "below_minimum", "impressions[0].position must be at least 1, got 0")],
        ),
        (
            [{"hotel_id": "H1", "position": 1}, {"hotel_id": "H2", "position": 1}],
            [
                (
                    "impressions[1].position",
                    "duplicate",
                    "impressions[1].position 1 was used before; each position may appear once",
                )
            ],
        ),
        (
            [{"position": 1}],
            [("impressions[0].hotel_id", "missing_field", "impressions[0].hotel_id is required")],
        ),
        (
            [{"hotel_id": "H1", "position": 1, "rating": 9}],
            [("impressions[0].rating", "above_maximum", "impressions[0].rating must be between 0 and 5, got 9")],
        ),
        (
            [{"hotel_id": "H1", "position": 1, "price": -5}],
            [("impressions[0].price", "below_minimum", "impressions[0].price must be at least 0, got -5")],
        ),
        (
            [{"hotel_id": "H1", "position": 1, "rank": 1}],
            [
                (
                    "impressions[0].rank",
                    "unknown_field",
                    "impressions[0].rank is not a field of the user_action contract; unknown fields are rejected, "
                    "not dropped: remove it or add it to schemas/avro/user_action.avsc first",
                )
            ],
        ),
        (["H1"], [("impressions[0]", "wrong_type", "impressions[0] must be an Impression object, got a string")]),
        (
            [{"hotel_id": f"H{n}", "position": n} for n in range(1, 202)],
            [("impressions", "too_many_items", "impressions must have at most 200 items, got 201")],
        ),
    ],
    ids=["position", "duplicate", "missing", "rating", "price", "unknown", "not-object", "too-many"],
)
def test_impressions_rules(
    validator: EventValidator, impressions: list[Any], expected: list[tuple[str, str, str]]
) -> None:
    event = click(action_type="impression", hotel_id=DROP, impressions=impressions)
    assert problems(validator, event) == expected


def test_every_problem_of_an_event_is_reported_not_only_the_first(validator: EventValidator) -> None:
    found = problems(validator, click(user_id="", position=0, rating=7, color="red", hotel_id=DROP))
    assert [(field, problem) for field, problem, _ in found] == [
        ("user_id", "too_short"),
        ("position", "below_minimum"),
        ("rating", "above_maximum"),
        ("color", "unknown_field"),
        ("hotel_id", "required_for_action"),
    ]


def test_something_other_than_an_object_is_refused(validator: EventValidator) -> None:
    assert validator.validate(["click"], 4, NOW_MS) == [
        Problem(4, None, "not_an_object", "an event must be a JSON object, got an array")
    ]


def test_validate_all_keeps_request_indexes(validator: EventValidator) -> None:
    records, found = validate_all(validator, enumerate([click(), click(position=0), click()]), NOW_MS)
    assert len(records) == 2
    assert [(problem.index, problem.field) for problem in found] == [(1, "position")]


def test_the_action_table_must_cover_every_symbol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(validation.ACTION_REQUIREMENTS, "back")
    with pytest.raises(ValueError, match="add the new action type to one of them"):
        validation._check_action_requirements()


def test_an_invalid_event_is_left_exactly_as_received(validator: EventValidator) -> None:
    event = click(timestamp="2026-11-27T11:40:00.123+01:00", position=0, schema_version=DROP)
    received = dict(event)
    assert problems(validator, event)
    assert event == received  # no timestamp converted, no default filled
