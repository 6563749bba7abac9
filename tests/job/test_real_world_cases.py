"""The real-world cases of ../shared/cases that the labeller owns, end to end on the real broker and cluster.

One pipeline run carries every case's sessions (each under its own ids). Each test names its case:
2026-11-30-03 (a list reported twice), 2026-11-30-04 (one session id, two users),
2026-11-30-07 (a repeated click on one hotel), 2026-11-30-08 (an example's dwell from an earlier click).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from rankfeed import pipeline, schemas
from rankfeed.local.stack import Stack
from rankfeed.producer import make_producer, produce_actions, send_heartbeats
from rankfeed.settings import JobSettings
from rankfeed.types import Record
from tests.conftest import ReadTopic
from tests.job.test_feedback_semantics import BASE, act, submit


def _list(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {"hotel_id": f"{prefix}{i}", "position": i, "price": 100.0 * i, "rating": 1.0 + i} for i in range(1, count + 1)
    ]


def _search(session: str, seconds: float, search_id: str, prefix: str, user: str | None = None) -> Record:
    fields: dict[str, Any] = {"search_id": search_id, "query": prefix, "impressions": _list(prefix, 4)}
    if user is not None:
        fields["user_id"] = user
    return act(session, seconds, "search", **fields)


def _click(session: str, seconds: float, search_id: str, hotel: str, position: int, **fields: Any) -> Record:
    return act(session, seconds, "click", search_id=search_id, hotel_id=hotel, position=position, **fields)


def cases() -> dict[str, list[Record]]:
    return {
        # 2026-11-30-03: the same list reported twice (a search, then its impressions again), and a control.
        "listed-twice": [
            _search("listed-twice", 0, "s-twice", "D"),
            act("listed-twice", 1, "impression", search_id="s-twice", impressions=_list("D", 4)),
            _click("listed-twice", 10, "s-twice", "D2", 2),
            act("listed-twice", 40, "back"),
        ],
        "listed-once": [
            _search("listed-once", 0, "s-once", "C"),
            _click("listed-once", 10, "s-once", "C2", 2),
            act("listed-once", 40, "back"),
        ],
        # 2026-11-30-04: two users send session id "undefined".
        "undefined": [
            _search("undefined", 0, "s-A", "A", user="user-A"),
            _click("undefined", 12, "s-A", "A1", 1, user_id="user-A"),
            _search("undefined", 20, "s-B", "B", user="user-B"),
            _click("undefined", 25, "s-B", "B3", 3, user_id="user-B"),
            act("undefined", 200, "back", user_id="user-B"),
        ],
        # 2026-11-30-07: the same hotel clicked again a second later, then a back.
        "reclicked": [
            _search("reclicked", 0, "s-re", "T"),
            _click("reclicked", 10, "s-re", "T2", 2),
            _click("reclicked", 11, "s-re", "T2", 2),
            act("reclicked", 100, "back"),
        ],
        # 2026-11-30-08: three clicks on one hotel, the last one the session's last action.
        "last-click": [
            _search("last-click", 0, "s-last", "H"),
            _click("last-click", 175.020, "s-last", "H1", 1),
            _click("last-click", 178.022, "s-last", "H1", 1),
            _click("last-click", 181.024, "s-last", "H1", 1),
        ],
    }


@pytest.fixture(scope="module")
def outcome(
    stack: Stack, bootstrap_servers: str, read_topic: ReadTopic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, list[Record]]]:
    job_ids, topics = submit(stack, bootstrap_servers, tmp_path_factory.mktemp("cases"), JobSettings())
    try:
        producer = make_producer(bootstrap_servers)
        sent = [action for actions in cases().values() for action in actions]
        produce_actions(producer, topics.user_actions, sent)
        send_heartbeats(producer, topics.user_actions, BASE + timedelta(hours=2))
        result = {
            "summaries": read_topic(topics.session_summaries, 6, schema=schemas.SESSION_SUMMARY),
            "feedback": read_topic(topics.feedback_events, 9, schema=schemas.FEEDBACK_EVENT, timeout_seconds=30),
            "ltr": read_topic(topics.ltr_examples, 11, schema=schemas.LTR_EXAMPLE, timeout_seconds=30),
            # D1..D4, C1..C4, A1..A4, B1..B4, T1..T4, H1..H4: each overall and for its destination.
            "features": read_topic(topics.hotel_features, 48, schema=schemas.HOTEL_FEATURES, timeout_seconds=120),
        }
    finally:
        pipeline.cancel(stack.flink, job_ids)
    yield result


def _examples(outcome: dict[str, list[Record]], search_id: str) -> dict[str, Record]:
    return {r["hotel_id"]: r for r in outcome["ltr"] if r["search_id"] == search_id}


def _feedback(outcome: dict[str, list[Record]], search_id: str) -> list[tuple[str, str, float | None]]:
    rows = sorted((r for r in outcome["feedback"] if r["search_id"] == search_id), key=lambda r: r["event_time"])
    return [(r["hotel_id"], r["kind"], r["dwell_seconds"]) for r in rows]


def _features(outcome: dict[str, list[Record]], hotel: str) -> Record:
    latest = {(r["hotel_id"], r["destination"]): r for r in outcome["features"]}
    return latest[(hotel, None)]


def test_2026_11_30_03_a_list_reported_twice_counts_once(outcome: dict[str, list[Record]]) -> None:
    twice, once = _examples(outcome, "s-twice"), _examples(outcome, "s-once")
    assert sorted(twice) == ["D1", "D2"] and sorted(once) == ["C1", "C2"]
    for position in (1, 2):
        reported_twice, control = twice[f"D{position}"], once[f"C{position}"]
        for field in ("price_zscore", "price_rank_pct", "rating_zscore", "rating_rank_pct", "label_kind"):
            assert reported_twice[field] == control[field], (field, reported_twice, control)
    assert twice["D2"]["price_rank_pct"] == pytest.approx(1 / 3), "rank over the 4 distinct prices, not 8"
    d2 = _features(outcome, "D2")
    assert d2["impressions"] == pytest.approx(1, rel=1e-3) and d2["clicks"] == pytest.approx(1, rel=1e-3)


def test_2026_11_30_04_two_users_with_one_session_id_are_two_sessions(outcome: dict[str, list[Record]]) -> None:
    summaries = sorted((s for s in outcome["summaries"] if s["session_id"] == "undefined"), key=lambda s: s["user_id"])
    assert [(s["user_id"], s["actions"], s["quick_backs"]) for s in summaries] == [("user-A", 2, 0), ("user-B", 3, 0)]
    # User A never came back to a list: a click whose dwell is unknown, not a quick-back.
    assert _feedback(outcome, "s-A") == [("A1", "click", None)]
    assert {r["user_id"] for r in _examples(outcome, "s-B").values()} == {"user-B"}
    assert _examples(outcome, "s-B")["B3"]["dwell_seconds"] == 175.0
    assert _features(outcome, "A1")["quick_backs"] == 0


def test_2026_11_30_07_a_repeated_click_on_one_hotel_is_not_a_quick_back(outcome: dict[str, list[Record]]) -> None:
    # The second click's back comes after T: it is decided at click + T, its dwell known only to the example.
    assert _feedback(outcome, "s-re") == [("T2", "click", 1.0), ("T2", "click", None)]
    example = _examples(outcome, "s-re")["T2"]
    assert (example["label_kind"], example["label"], example["dwell_seconds"]) == ("click", 1, 89.0)
    assert _features(outcome, "T2")["quick_backs"] == 0


def test_2026_11_30_08_an_example_carries_the_dwell_of_the_hotels_last_click(outcome: dict[str, list[Record]]) -> None:
    example = _examples(outcome, "s-last")["H1"]
    assert example["label_kind"] == "click"
    assert example["dwell_seconds"] is None, "the last click had no next action"
