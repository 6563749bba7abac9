"""Unit tests for the synthetic traffic generator: contract, determinism, realism, imperfections."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

import fastavro
import fastavro.validation
import pytest

from rankfeed.simulate import (
    MAX_ACTION_GAP_SECONDS,
    MAX_ATTRACTIVENESS,
    MIN_ATTRACTIVENESS,
    SERVER_FIELDS,
    TrafficShape,
    generate,
    hotel_catalogue,
    iter_sessions,
)
from rankfeed.types import Record

USER_ACTION_AVSC = Path(__file__).resolve().parent.parent / "schemas" / "avro" / "user_action.avsc"

#: Clean traffic: no duplicates, no reordering, no late events.
CLEAN: dict[str, Any] = {"duplicate_share": 0.0, "out_of_order_share": 0.0, "late_share": 0.0}


@pytest.fixture(scope="module")
def raw_user_action_schema() -> dict[str, Any]:
    with USER_ACTION_AVSC.open(encoding="utf-8") as schema_file:
        schema: dict[str, Any] = json.load(schema_file)
    return schema


@pytest.fixture(scope="module")
def user_action_schema(raw_user_action_schema: dict[str, Any]) -> Any:
    return fastavro.parse_schema(raw_user_action_schema)


@pytest.fixture(scope="module")
def large_sessions() -> list[list[Record]]:
    """Enough sessions that shares and position effects are well outside sampling noise."""
    return list(iter_sessions(TrafficShape(sessions=3000, seed=11)))


@pytest.fixture(scope="module")
def messy_emission() -> list[Record]:
    """Every imperfection switched on, so contract checks also cover retries and late events."""
    return generate(TrafficShape(sessions=300, seed=3, duplicate_share=0.05, out_of_order_share=0.1, late_share=0.05))


def _actions(sessions: list[list[Record]], action_type: str) -> list[Record]:
    return [record for session in sessions for record in session if record["action_type"] == action_type]


def _in_event_time_order(shape: TrafficShape) -> list[Record]:
    """The clean sessions concatenated, then stably sorted by event time."""
    return sorted(chain.from_iterable(iter_sessions(shape)), key=lambda record: record["timestamp"])


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_output() -> None:
    shape = TrafficShape(sessions=60, late_share=0.05)
    assert generate(shape) == generate(shape)
    assert list(iter_sessions(shape)) == list(iter_sessions(shape))


def test_different_seed_gives_different_output() -> None:
    first = generate(TrafficShape(sessions=60, seed=1))
    second = generate(TrafficShape(sessions=60, seed=2))
    assert first != second
    assert not {record["event_id"] for record in first} & {record["event_id"] for record in second}


def test_emission_settings_do_not_change_clean_sessions() -> None:
    clean = TrafficShape(sessions=40, **CLEAN)
    messy = replace(clean, duplicate_share=0.3, out_of_order_share=0.3, late_share=0.3)
    assert list(iter_sessions(clean)) == list(iter_sessions(messy))


# --- the contract ------------------------------------------------------------------------------


def test_every_record_has_exactly_the_schema_fields(
    messy_emission: list[Record], raw_user_action_schema: dict[str, Any]
) -> None:
    field_names = [field["name"] for field in raw_user_action_schema["fields"]]
    for record in messy_emission:
        assert list(record) == field_names


def test_every_record_validates_against_the_avsc(messy_emission: list[Record], user_action_schema: Any) -> None:
    for record in messy_emission:
        assert fastavro.validation.validate(record, user_action_schema, raise_errors=True)


def test_every_record_round_trips_through_avro(messy_emission: list[Record], user_action_schema: Any) -> None:
    for record in messy_emission:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, user_action_schema, record)
        buffer.seek(0)
        assert fastavro.schemaless_reader(buffer, user_action_schema) == record


def test_client_fields_are_filled_and_server_fields_left_to_the_gateway(
    messy_emission: list[Record], raw_user_action_schema: dict[str, Any]
) -> None:
    (action_type_field,) = [f for f in raw_user_action_schema["fields"] if f["name"] == "action_type"]
    for record in messy_emission:
        assert record["schema_version"] == 1
        assert uuid.UUID(record["event_id"]).version == 4
        assert str(uuid.UUID(record["event_id"])) == record["event_id"]
        assert uuid.UUID(record["session_id"]).version == 4
        assert re.fullmatch(r"U\d{6}", record["user_id"])
        assert record["device"] in {"web", "mobile", "tablet"}
        assert record["action_type"] in action_type_field["symbols"]
        assert all(record[name] is None for name in SERVER_FIELDS)


def test_timestamps_are_utc_with_millisecond_precision(messy_emission: list[Record]) -> None:
    for record in messy_emission:
        timestamp = record["timestamp"]
        assert isinstance(timestamp, datetime)
        assert timestamp.utcoffset() == timedelta(0)
        assert timestamp.microsecond % 1000 == 0


def test_start_in_another_timezone_is_converted_to_utc() -> None:
    paris_noon = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    (first_session,) = iter_sessions(TrafficShape(sessions=1, start=paris_noon))
    assert first_session[0]["timestamp"] == datetime(2026, 6, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert first_session[0]["timestamp"].tzinfo == UTC


def test_all_client_action_types_occur(large_sessions: list[list[Record]]) -> None:
    seen = {record["action_type"] for session in large_sessions for record in session}
    assert seen == {"search", "click", "book", "scroll", "rate", "back"}


# --- realistic content -------------------------------------------------------------------------


def test_result_lists_are_well_formed(large_sessions: list[list[Record]]) -> None:
    shape = TrafficShape()
    searches = _actions(large_sessions, "search")
    unrated = 0
    for search in searches:
        impressions = search["impressions"]
        assert [impression["position"] for impression in impressions] == list(range(1, shape.results_per_search + 1))
        assert len({impression["hotel_id"] for impression in impressions}) == shape.results_per_search
        assert search["query"] in shape.destinations
        assert isinstance(search["ranking_randomized"], bool)
        for impression in impressions:
            assert re.fullmatch(r"H\d{5}", impression["hotel_id"])
            assert 40.0 <= impression["price"] <= 600.0
            assert impression["price"] == round(impression["price"], 2)
            if impression["rating"] is None:
                unrated += 1
            else:
                assert 0.0 <= impression["rating"] <= 5.0
                assert impression["rating"] == round(impression["rating"], 1)
    assert unrated > 0
    assert {search["query"] for search in searches} >= {"東京", "São Paulo"}
    randomized = sum(search["ranking_randomized"] for search in searches) / len(searches)
    assert randomized == pytest.approx(shape.randomized_share, abs=0.015)


def test_scrolls_reach_at_least_the_deepest_click_of_their_search(large_sessions: list[list[Record]]) -> None:
    scrolls = 0
    for session in large_sessions:
        depth_by_search = {r["search_id"]: r["scroll_depth"] for r in session if r["action_type"] == "scroll"}
        scrolls += len(depth_by_search)
        for click in (r for r in session if r["action_type"] == "click"):
            if click["position"] > 5:
                assert depth_by_search[click["search_id"]] >= click["position"]
    assert scrolls > 0


def test_clicks_are_position_biased() -> None:
    """Shuffled lists show every hotel equally often at every position, so only bias can rank clicks."""
    shuffled = TrafficShape(sessions=3000, seed=13, randomized_share=1.0, **CLEAN)
    clicks_by_position = Counter(click["position"] for click in _actions(list(iter_sessions(shuffled)), "click"))
    # With eta = 1 the expected ratios are 5 and 2; the margins keep sampling noise from passing.
    assert clicks_by_position[1] > 2 * clicks_by_position[5]
    assert clicks_by_position[5] > 1.4 * clicks_by_position[10] > 0


def test_production_ranking_puts_attractive_hotels_first(large_sessions: list[list[Record]]) -> None:
    shape = TrafficShape(seed=11)
    attractiveness = {hotel.hotel_id: hotel.attractiveness for hotel in hotel_catalogue(shape)}
    by_position: dict[bool, dict[int, list[float]]] = {True: defaultdict(list), False: defaultdict(list)}
    for search in _actions(large_sessions, "search"):
        for impression in search["impressions"]:
            by_position[search["ranking_randomized"]][impression["position"]].append(
                attractiveness[impression["hotel_id"]]
            )

    def mean_at(randomized: bool, position: int) -> float:
        values = by_position[randomized][position]
        return sum(values) / len(values)

    last = shape.results_per_search
    assert mean_at(False, 1) - mean_at(False, last) > 0.2
    assert abs(mean_at(True, 1) - mean_at(True, last)) < 0.1


@pytest.mark.parametrize(("eta", "expected_ratio"), [(0.0, 1.0), (1.0, 10.0)])
def test_click_rate_on_shuffled_lists_follows_examination(eta: float, expected_ratio: float) -> None:
    """On shuffled lists attractiveness is the same at every position, so CTR@1 / CTR@10 = 10 ** eta."""
    shape = TrafficShape(sessions=4000, seed=5, position_bias_eta=eta, randomized_share=1.0, book_share=0.0, **CLEAN)
    clicks_by_position = Counter(
        record["position"] for session in iter_sessions(shape) for record in session if record["action_type"] == "click"
    )
    assert clicks_by_position[1] / clicks_by_position[10] == pytest.approx(expected_ratio, rel=0.3)


def test_clicks_and_books_reference_impressions_of_their_session(large_sessions: list[list[Record]]) -> None:
    checked = Counter[str]()
    for session in large_sessions:
        impressions_by_search: dict[str, dict[str, Record]] = {}
        for record in session:
            if record["action_type"] == "search":
                impressions_by_search[record["search_id"]] = {i["hotel_id"]: i for i in record["impressions"]}
            elif record["action_type"] in {"click", "book"}:
                # Only searches already seen count: the search must come before the click.
                impression = impressions_by_search[record["search_id"]][record["hotel_id"]]
                assert record["position"] == impression["position"]
                assert record["price"] == impression["price"]
                checked[record["action_type"]] += 1
            elif record["action_type"] in {"back", "rate", "scroll"}:
                assert record["search_id"] in impressions_by_search
                if record["action_type"] != "scroll":
                    assert record["hotel_id"] in impressions_by_search[record["search_id"]]
    assert checked["click"] > 0
    assert checked["book"] > 0


def test_books_follow_a_click_on_the_same_hotel_and_end_the_session(large_sessions: list[list[Record]]) -> None:
    books = clicks = 0
    for session in large_sessions:
        for index, record in enumerate(session):
            clicks += record["action_type"] == "click"
            if record["action_type"] == "book":
                books += 1
                previous = session[index - 1]
                assert previous["action_type"] == "click"
                assert previous["hotel_id"] == record["hotel_id"]
                assert {r["action_type"] for r in session[index + 1 :]} <= {"rate"}
    assert books / clicks == pytest.approx(TrafficShape().book_share, abs=0.015)


def test_quick_backs_follow_clicks_within_seconds(large_sessions: list[list[Record]]) -> None:
    backs = 0
    for session in large_sessions:
        for previous, record in pairwise(session):
            if record["action_type"] == "back":
                backs += 1
                assert previous["action_type"] == "click"
                assert previous["hotel_id"] == record["hotel_id"]
                assert timedelta(seconds=2) <= record["timestamp"] - previous["timestamp"] <= timedelta(seconds=10)
    assert backs > 0
    assert backs / len(_actions(large_sessions, "click")) == pytest.approx(TrafficShape().quick_back_share, abs=0.03)


def test_click_duration_is_client_dwell_and_sometimes_missing(large_sessions: list[list[Record]]) -> None:
    durations = [click["duration"] for click in _actions(large_sessions, "click")]
    assert None in durations
    measured = [duration for duration in durations if duration is not None]
    assert min(measured) >= 1.0
    assert max(measured) <= MAX_ACTION_GAP_SECONDS


def test_ratings_given_are_whole_stars(large_sessions: list[list[Record]]) -> None:
    ratings = {rate["rating"] for rate in _actions(large_sessions, "rate")}
    assert ratings
    assert ratings <= {1.0, 2.0, 3.0, 4.0, 5.0}


# --- sessions and time -------------------------------------------------------------------------


def test_session_timestamps_strictly_increase_without_long_pauses(large_sessions: list[list[Record]]) -> None:
    for session in large_sessions:
        assert session[0]["action_type"] == "search"
        for previous, record in pairwise(session):
            assert previous["timestamp"] < record["timestamp"]
            assert record["timestamp"] - previous["timestamp"] <= timedelta(seconds=MAX_ACTION_GAP_SECONDS)


def test_session_attributes_are_constant_within_a_session(large_sessions: list[list[Record]]) -> None:
    for session in large_sessions:
        assert len({(r["session_id"], r["user_id"], r["device"], r["referrer"]) for r in session}) == 1
    assert len({session[0]["session_id"] for session in large_sessions}) == len(large_sessions)
    referrers = [session[0]["referrer"] for session in large_sessions]
    assert None in referrers
    assert any(referrer is not None for referrer in referrers)


def test_sessions_start_seconds_apart_and_interleave(large_sessions: list[list[Record]]) -> None:
    starts = [session[0]["timestamp"] for session in large_sessions]
    assert starts[0] == TrafficShape().start
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert all(timedelta(seconds=0.5) <= gap <= timedelta(seconds=6) for gap in gaps)
    overlapping = sum(
        session[-1]["timestamp"] > following[0]["timestamp"] for session, following in pairwise(large_sessions)
    )
    assert overlapping / len(gaps) > 0.3


def test_a_returning_users_sessions_are_a_session_gap_apart(large_sessions: list[list[Record]]) -> None:
    gap = timedelta(seconds=TrafficShape().session_gap_seconds)
    spans_by_user: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for session in large_sessions:
        spans_by_user[session[0]["user_id"]].append((session[0]["timestamp"], session[-1]["timestamp"]))
    returning = [spans for spans in spans_by_user.values() if len(spans) > 1]
    assert returning
    for spans in returning:
        for (_, end), (next_start, _) in pairwise(spans):
            assert next_start - end > gap


def test_event_ids_are_unique_in_clean_sessions(large_sessions: list[list[Record]]) -> None:
    event_ids = [record["event_id"] for session in large_sessions for record in session]
    assert len(set(event_ids)) == len(event_ids)


# --- emission order and imperfections ----------------------------------------------------------


def test_with_all_shares_zero_emission_is_clean_sessions_in_time_order() -> None:
    shape = TrafficShape(sessions=300, **CLEAN)
    assert generate(shape) == _in_event_time_order(shape)


def test_duplicates_share_event_id_and_content() -> None:
    shape = TrafficShape(sessions=3000, duplicate_share=0.05, out_of_order_share=0.0)
    emitted = generate(shape)
    clean_count = sum(len(session) for session in iter_sessions(shape))
    copies_by_event_id: dict[str, list[Record]] = defaultdict(list)
    for record in emitted:
        copies_by_event_id[record["event_id"]].append(record)
    assert len(copies_by_event_id) == clean_count
    duplicated = [copies for copies in copies_by_event_id.values() if len(copies) > 1]
    for first, second in duplicated:
        assert first == second
        assert first is not second
    assert all(len(copies) <= 2 for copies in copies_by_event_id.values())
    assert len(emitted) - clean_count == len(duplicated)
    assert len(duplicated) / clean_count == pytest.approx(shape.duplicate_share, abs=0.01)


def test_out_of_order_events_move_one_place_within_seconds() -> None:
    shape = TrafficShape(sessions=1000, out_of_order_share=0.2, duplicate_share=0.0)
    emitted = generate(shape)
    in_order = _in_event_time_order(shape)
    position_in_order = {record["event_id"]: index for index, record in enumerate(in_order)}
    displacements = [position_in_order[record["event_id"]] - index for index, record in enumerate(emitted)]
    assert sorted(r["event_id"] for r in emitted) == sorted(position_in_order)
    assert set(displacements) <= {-1, 0, 1}
    moved = sum(displacement != 0 for displacement in displacements) / len(emitted)
    assert moved == pytest.approx(shape.out_of_order_share, abs=0.04)
    for earlier, later in pairwise(emitted):
        assert earlier["timestamp"] - later["timestamp"] <= timedelta(seconds=5)


def test_without_late_events_disorder_stays_within_seconds() -> None:
    emitted = generate(TrafficShape(sessions=1000, duplicate_share=0.05, out_of_order_share=0.1))
    latest = emitted[0]["timestamp"]
    behind = timedelta(0)
    for record in emitted:
        behind = max(behind, latest - record["timestamp"])
        latest = max(latest, record["timestamp"])
    assert timedelta(0) < behind <= timedelta(seconds=10)


def test_late_events_are_emitted_last() -> None:
    shape = replace(TrafficShape(sessions=1000, **CLEAN), late_share=0.1)
    emitted = generate(shape)
    timestamps = [record["timestamp"] for record in emitted]
    drops = [index for index in range(1, len(timestamps)) if timestamps[index] < timestamps[index - 1]]
    assert len(drops) == 1, "expected on-time events in order, then held-back events in order"
    on_time, late = emitted[: drops[0]], emitted[drops[0] :]
    assert len(late) / len(emitted) == pytest.approx(shape.late_share, abs=0.02)
    assert sorted(r["event_id"] for r in emitted) == sorted(r["event_id"] for r in _in_event_time_order(shape))
    last_on_time = on_time[-1]["timestamp"]
    far_behind = sum(last_on_time - record["timestamp"] > timedelta(minutes=10) for record in late)
    assert far_behind / len(late) > 0.5


# --- shape and catalogue -----------------------------------------------------------------------


def test_generate_is_fast() -> None:
    started = time.perf_counter()
    emitted = generate(TrafficShape(sessions=2000))
    assert len(emitted) > 5000
    assert time.perf_counter() - started < 10.0


def test_catalogue_is_fixed_by_seed_and_size() -> None:
    catalogue = hotel_catalogue(TrafficShape(hotels=50, seed=4))
    assert [hotel.hotel_id for hotel in catalogue[:2]] == ["H00001", "H00002"]
    assert all(MIN_ATTRACTIVENESS <= hotel.attractiveness <= MAX_ATTRACTIVENESS for hotel in catalogue)
    assert catalogue == hotel_catalogue(TrafficShape(hotels=50, seed=4, sessions=9, book_share=0.5))
    assert catalogue != hotel_catalogue(TrafficShape(hotels=50, seed=5))


@pytest.mark.parametrize(
    "overrides",
    [
        {"sessions": -1},
        {"hotels": 10, "results_per_search": 20},
        {"results_per_search": 0},
        {"destinations": ()},
        {"duplicate_share": 1.5},
        {"late_share": -0.1},
        {"quick_back_share": 0.7, "book_share": 0.4},
        {"position_bias_eta": -1.0},
        {"start": datetime(2026, 1, 1)},
        {"session_gap_seconds": 60.0},
    ],
)
def test_impossible_shapes_are_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TrafficShape(**overrides)


def test_small_destinations_borrow_hotels_from_the_whole_catalogue() -> None:
    shape = TrafficShape(sessions=20, hotels=25, results_per_search=20, **CLEAN)
    for search in _actions(list(iter_sessions(shape)), "search"):
        assert len({impression["hotel_id"] for impression in search["impressions"]}) == 20
