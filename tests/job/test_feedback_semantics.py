"""The feedback job's semantics, end to end on the real broker and cluster, against hand-computed outputs.

One job run carries every scripted session (each under its own session_id), so the suite pays
for one submission. Defaults: quick-back threshold T = 10 s, session gap 30 min, no extra
lateness beyond the 5 s watermark delay, no-click searches dropped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from rankfeed import avro, pipeline, schemas
from rankfeed.local.stack import Stack
from rankfeed.pipeline import PipelineJob
from rankfeed.producer import make_producer, produce_actions, send_heartbeats
from rankfeed.propensity import PropensityTable
from rankfeed.settings import JobSettings, Topics
from rankfeed.types import Record
from tests.conftest import ReadTopic

BASE = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
POISON = b"\x00\x01 definitely not a UserAction"
#: The propensity table of the second run: positions past the fifth take θ_5.
THETA = (1.0, 0.5, 0.25, 0.2, 0.1)


def act(session: str, seconds: float, action_type: str, **fields: Any) -> Record:
    record: Record = schemas.default_record(schemas.USER_ACTION)
    record.update(
        event_id=f"{session}-{action_type}-{seconds}-{uuid.uuid4().hex[:6]}",
        schema_version=1,
        user_id=f"user-{session}",
        session_id=session,
        timestamp=BASE + timedelta(seconds=seconds),
        action_type=action_type,
        device="mobile",
    )
    record.update(fields)
    return record


def shown(count: int) -> list[dict[str, Any]]:
    return [
        {"hotel_id": f"H{i}", "position": i, "price": 100.0 + 10 * i, "rating": None if i == 3 else 3.0}
        for i in range(1, count + 1)
    ]


def search(session: str, seconds: float, search_id: str, count: int = 5) -> Record:
    return act(session, seconds, "search", search_id=search_id, query="Paris", impressions=shown(count))


def click(session: str, seconds: float, search_id: str, position: int, **fields: Any) -> Record:
    return act(session, seconds, "click", search_id=search_id, hotel_id=f"H{position}", position=position, **fields)


def scenarios() -> dict[str, list[Record]]:
    """Each session's actions in the order they are sent (not always event-time order)."""
    duplicate_click = click("dup", 10, "dup-q", 2)
    out_of_order_back = act("ooo", 14, "back")
    return {
        "qb-below-T": [search("qb-below-T", 0, "q1"), click("qb-below-T", 10, "q1", 2), act("qb-below-T", 19, "back")],
        "qb-at-T": [search("qb-at-T", 0, "q2"), click("qb-at-T", 10, "q2", 2), act("qb-at-T", 20, "back")],
        "qb-above-T": [search("qb-above-T", 0, "q3"), click("qb-above-T", 10, "q3", 2), act("qb-above-T", 21, "back")],
        "book": [
            search("book", 0, "q4"),
            click("book", 10, "q4", 3, duration=42.5),
            act("book", 60, "book", search_id="q4", hotel_id="H3", position=3),
        ],
        "reclick": [
            search("reclick", 0, "q5"),
            click("reclick", 10, "q5", 1),
            act("reclick", 13, "back"),
            click("reclick", 20, "q5", 1),
            search("reclick", 100, "q5b"),
        ],
        "skips": [
            search("skips", 0, "q6", count=10),
            click("skips", 10, "q6", 4),
            act("skips", 200, "rate", rating=4.0),
        ],
        "scroll": [
            search("scroll", 0, "q7", count=10),
            act("scroll", 5, "scroll", search_id="q7", scroll_depth=7),
            click("scroll", 10, "q7", 2),
            act("scroll", 100, "scroll", search_id="q7", scroll_depth=3),
        ],
        "noclick": [search("noclick", 0, "q8")],
        "dup": [search("dup", 0, "dup-q"), duplicate_click, dict(duplicate_click), act("dup", 40, "back")],
        "ooo": [search("ooo", 0, "ooo-q"), out_of_order_back, click("ooo", 10, "ooo-q", 1)],
        "gap": [search("gap", 0, "g1"), act("gap", 31 * 60, "search", search_id="g2", query="Rome")],
    }


@pytest.fixture(scope="module")
def outcome(
    stack: Stack,
    bootstrap_servers: str,
    read_topic: ReadTopic,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, list[Record]]]:
    yield from _run(stack, bootstrap_servers, read_topic, tmp_path_factory.mktemp("feedback"), JobSettings())


def submit(
    stack: Stack, bootstrap: str, folder: Path, base: JobSettings, jobs: Iterable[PipelineJob] = pipeline.PIPELINE
) -> tuple[dict[str, str], Topics]:
    """Submit ``jobs`` (the whole pipeline by default) with ``base`` settings on fresh topics; returns their ids
    and the topics."""
    from rankfeed.local.broker import create_topics
    from rankfeed.settings import KafkaSettings

    suffix = uuid.uuid4().hex[:8]
    topics = Topics().with_suffix(suffix)
    create_topics(bootstrap, topics)
    settings = base.model_copy(
        update={
            "kafka": KafkaSettings(bootstrap_servers=bootstrap),
            "topics": topics,
            "consumer_group": f"test-{suffix}",
            "transactional_id_prefix": f"test-{suffix}",
            "parquet_dir": folder / "parquet",
            "labelling_checkpoint_interval_seconds": 1,
            "checkpoint_interval_seconds": 2,
            "lake_checkpoint_interval_seconds": 2,
            "source_idle_timeout_seconds": 5,
        }
    )
    config = folder / "job.yaml"
    config.write_text(json.dumps(settings.model_dump(mode="json")))
    return pipeline.submit(stack.flink, config, jobs), topics


def _run(
    stack: Stack,
    bootstrap: str,
    read_topic: ReadTopic,
    folder: Path,
    base: JobSettings,
) -> Iterator[dict[str, list[Record]]]:
    job_ids, topics = submit(stack, bootstrap, folder, base)
    try:
        producer = make_producer(bootstrap)
        sessions = scenarios()
        sent = [action for actions in sessions.values() for action in actions]
        produce_actions(producer, topics.user_actions, sent)
        _produce_raw(producer, topics.user_actions, POISON)
        send_heartbeats(producer, topics.user_actions, BASE + timedelta(hours=2))
        # Wait until the watermark has closed the sessions, then send an action far behind it.
        summaries = read_topic(topics.session_summaries, 12, schema=schemas.SESSION_SUMMARY)
        late = act("late", 30, "click", search_id="late-q", hotel_id="H1", position=1)
        produce_actions(producer, topics.user_actions, [late])
        outcome = {
            "sent": sent,
            "late_sent": [late],
            "summaries": summaries,
            "feedback": read_topic(topics.feedback_events, 12, schema=schemas.FEEDBACK_EVENT, timeout_seconds=30),
            "ltr": read_topic(
                topics.ltr_examples,
                24 if base.no_click_policy == "drop" else 30,
                schema=schemas.LTR_EXAMPLE,
                timeout_seconds=30,
            ),
            "clean": read_topic(topics.user_actions_clean, len(sent) - 1, timeout_seconds=30),
            "late": read_topic(topics.late, 1, schema=schemas.REJECTED_ACTION, timeout_seconds=60),
            "dlq": read_topic(topics.dlq, 1, schema=schemas.REJECTED_ACTION, timeout_seconds=30),
            # H1..H10, each overall and for the one destination (Paris).
            # The features job runs beside the labelling job, a few seconds behind it (its own checkpoints).
            "features": read_topic(topics.hotel_features, 20, schema=schemas.HOTEL_FEATURES, timeout_seconds=120),
        }
    finally:
        pipeline.cancel(stack.flink, job_ids)
    yield outcome


def _produce_raw(producer: Producer, topic: str, value: bytes) -> None:
    producer.produce(topic, value, key=b"poison")
    assert producer.flush(30) == 0


def _feedback(outcome: dict[str, list[Record]], session: str) -> list[tuple[str, int, float | None]]:
    rows = sorted((r for r in outcome["feedback"] if r["session_id"] == session), key=lambda r: r["event_time"])
    return [(r["kind"], r["label"], r["dwell_seconds"]) for r in rows]


def _ltr(outcome: dict[str, list[Record]], session: str) -> list[tuple[str, int, str, int]]:
    rows = sorted(
        (r for r in outcome["ltr"] if r["session_id"] == session), key=lambda r: (r["search_id"], r["position"])
    )
    return [(r["hotel_id"], r["position"], r["label_kind"], r["label"]) for r in rows]


def test_quick_back_is_strictly_below_the_threshold(outcome: dict[str, list[Record]]) -> None:
    assert _feedback(outcome, "qb-below-T") == [("quick_back", -1, 9.0)]
    # Exactly at T is not a quick-back: the label is a click with its dwell.
    assert _feedback(outcome, "qb-at-T") == [("click", 1, 10.0)]
    # Past T the click is decided when the watermark passes click + T, before its dwell is known.
    assert _feedback(outcome, "qb-above-T") == [("click", 1, None)]
    assert _ltr(outcome, "qb-below-T") == [("H1", 1, "ignore", 0), ("H2", 2, "quick_back", -1)]
    assert _ltr(outcome, "qb-above-T") == [("H1", 1, "ignore", 0), ("H2", 2, "click", 1)]
    dwell = [r["dwell_seconds"] for r in outcome["ltr"] if r["session_id"] == "qb-above-T" and r["hotel_id"] == "H2"]
    assert dwell == [11.0], "the LTR example carries the dwell measured later"


def test_book_after_click_upgrades_the_example(outcome: dict[str, list[Record]]) -> None:
    assert _feedback(outcome, "book") == [("click", 1, None), ("book", 2, None)]
    click_row = next(r for r in outcome["feedback"] if r["session_id"] == "book" and r["kind"] == "click")
    assert click_row["client_duration"] == 42.5
    assert _ltr(outcome, "book") == [("H1", 1, "ignore", 0), ("H2", 2, "ignore", 0), ("H3", 3, "book", 2)]


def test_reclick_after_quick_back_is_a_click(outcome: dict[str, list[Record]]) -> None:
    assert _feedback(outcome, "reclick") == [("quick_back", -1, 3.0), ("click", 1, None)]
    # The second search (q5b) had no click and is dropped under the default policy.
    assert _ltr(outcome, "reclick") == [("H1", 1, "click", 1)]


def test_skips_above_are_ignores_and_below_unexamined(outcome: dict[str, list[Record]]) -> None:
    assert _ltr(outcome, "skips") == [
        ("H1", 1, "ignore", 0),
        ("H2", 2, "ignore", 0),
        ("H3", 3, "ignore", 0),
        ("H4", 4, "click", 1),
    ]
    rows = {r["hotel_id"]: r for r in outcome["ltr"] if r["session_id"] == "skips"}
    # Prices 110..200 in the list of ten: mean 155, population std 10·sqrt(99/12).
    std = 10 * (99 / 12) ** 0.5
    assert rows["H1"]["price_zscore"] == pytest.approx((110 - 155) / std)
    assert rows["H4"]["price_rank_pct"] == pytest.approx(3 / 9)
    assert rows["H3"]["rating_zscore"] is None, "a missing rating stays missing"
    assert rows["H1"]["rating_zscore"] == 0.0, "all known ratings equal"
    assert {r["ips_weight"] for r in rows.values()} == {1.0}


def test_scroll_depth_extends_examination(outcome: dict[str, list[Record]]) -> None:
    expected = [("H1", 1, "ignore", 0), ("H2", 2, "click", 1)] + [(f"H{p}", p, "ignore", 0) for p in range(3, 8)]
    assert _ltr(outcome, "scroll") == expected


def test_no_click_search_is_dropped_by_default(outcome: dict[str, list[Record]]) -> None:
    assert _ltr(outcome, "noclick") == []
    summary = next(s for s in outcome["summaries"] if s["session_id"] == "noclick")
    assert (summary["searches"], summary["clicks"], summary["actions"]) == (1, 0, 1)


def test_duplicates_are_dropped_and_order_is_restored(outcome: dict[str, list[Record]]) -> None:
    assert _feedback(outcome, "dup") == [("click", 1, None)]
    dup_events = [r for r in outcome["clean"] if r["session_id"] == "dup"]
    assert len(dup_events) == 3, "search, click (once), back"
    # The back was sent before its click, within the watermark delay: still a quick-back.
    assert _feedback(outcome, "ooo") == [("quick_back", -1, 4.0)]


def test_clean_events_are_every_distinct_action_exactly_once(outcome: dict[str, list[Record]]) -> None:
    expected = {r["event_id"] for r in outcome["sent"]}
    received = [r["event_id"] for r in outcome["clean"]]
    assert sorted(received) == sorted(expected)


def test_sessions_split_by_the_gap(outcome: dict[str, list[Record]]) -> None:
    gap = sorted((s for s in outcome["summaries"] if s["session_id"] == "gap"), key=lambda s: s["session_start"])
    assert [(s["actions"], s["searches"]) for s in gap] == [(1, 1), (1, 1)]
    book = next(s for s in outcome["summaries"] if s["session_id"] == "book")
    assert (book["clicks"], book["books"], book["quick_backs"], book["duration_seconds"]) == (1, 1, 0, 60.0)
    assert book["device"] == "mobile" and book["user_id"] == "user-book"
    reclick = next(s for s in outcome["summaries"] if s["session_id"] == "reclick")
    assert reclick["quick_backs"] == 1 and reclick["searches"] == 2


def test_late_and_poison_go_to_their_topics(outcome: dict[str, list[Record]]) -> None:
    [late] = outcome["late"]
    assert late["event_id"] == outcome["late_sent"][0]["event_id"]
    assert "is not after the watermark" in late["reason"]
    assert avro.decode(late["raw_value"]) == outcome["late_sent"][0]
    [poison] = outcome["dlq"]
    assert poison["raw_value"] == POISON
    assert "not a UserAction" in poison["reason"]
    assert poison["source_partition"] is not None and poison["source_offset"] is not None
    assert all(r["session_id"] != "late" for r in outcome["clean"])


@pytest.fixture(scope="module")
def outcome_top_k(
    stack: Stack, bootstrap_servers: str, read_topic: ReadTopic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, list[Record]]]:
    folder = tmp_path_factory.mktemp("top-k")
    table = PropensityTable.create(THETA, method="randomized", impressions=1000, max_weight=8.0)
    table.save(folder / "propensity.json")
    settings = JobSettings(no_click_policy="top_k", no_click_top_k=3, propensity_table=folder / "propensity.json")
    yield from _run(stack, bootstrap_servers, read_topic, folder, settings)


def test_no_click_search_labels_top_k_as_ignore_under_that_policy(outcome_top_k: dict[str, list[Record]]) -> None:
    assert _ltr(outcome_top_k, "noclick") == [("H1", 1, "ignore", 0), ("H2", 2, "ignore", 0), ("H3", 3, "ignore", 0)]
    # Searches with clicks are labelled as before.
    assert _ltr(outcome_top_k, "skips")[-1] == ("H4", 4, "click", 1)


def test_hotel_features_count_exposures_examinations_and_clicks(outcome: dict[str, list[Record]]) -> None:
    searches_showing_h4 = sum(
        1 for a in outcome["sent"] if a["impressions"] and any(i["hotel_id"] == "H4" for i in a["impressions"])
    )
    latest = {(r["hotel_id"], r["destination"]): r for r in outcome["features"]}
    assert {destination for _, destination in latest} == {None, "Paris"}
    for destination in (None, "Paris"):
        h4 = latest[("H4", destination)]
        # Decay over minutes with a 7-day half-life is below 0.1 %.
        assert h4["impressions"] == pytest.approx(searches_showing_h4, rel=1e-3)
        assert h4["examined_impressions"] == pytest.approx(2, rel=1e-3), "examined in 'skips' and 'scroll'"
        assert h4["clicks"] == pytest.approx(1, rel=1e-3) and h4["books"] == 0
        # Debiased by θ_4 = 1/4 per impression (η = 1): clicks over examination-weighted impressions.
        assert h4["debiased_ctr"] == pytest.approx(1 / (searches_showing_h4 / 4), rel=1e-3)
    h3 = latest[("H3", None)]
    assert h3["books"] == pytest.approx(1, rel=1e-3) and h3["mean_dwell_seconds"] == pytest.approx(50.0)


def test_hotel_features_are_debiased_with_the_propensity_table_when_given(
    outcome_top_k: dict[str, list[Record]],
) -> None:
    searches_showing_h4 = sum(
        1 for a in outcome_top_k["sent"] if a["impressions"] and any(i["hotel_id"] == "H4" for i in a["impressions"])
    )
    h4 = {(r["hotel_id"], r["destination"]): r for r in outcome_top_k["features"]}[("H4", None)]
    # The table's θ_4 = 0.2 instead of the default curve's 1/4: the same θ as the LTR examples' weights.
    assert h4["debiased_ctr"] == pytest.approx(1 / (searches_showing_h4 * THETA[3]), rel=1e-3)


def test_examples_carry_the_propensity_table_they_were_weighted_with(
    outcome_top_k: dict[str, list[Record]], outcome: dict[str, list[Record]]
) -> None:
    rows = {(r["session_id"], r["hotel_id"]): r for r in outcome_top_k["ltr"]}
    versions = {r["propensity_version"] for r in outcome_top_k["ltr"]}
    assert len(versions) == 1 and next(iter(versions)).startswith("randomized-")
    # Clicked examples: 1/θ_k; ignores keep weight 1 but still record θ_k.
    assert (rows[("skips", "H4")]["propensity"], rows[("skips", "H4")]["ips_weight"]) == (0.2, 5.0)
    assert (rows[("skips", "H1")]["propensity"], rows[("skips", "H1")]["ips_weight"]) == (1.0, 1.0)
    assert rows[("scroll", "H2")]["ips_weight"] == 2.0
    assert rows[("book", "H3")]["ips_weight"] == 4.0, "a book is weighted like its click"
    # Past the table's end the last θ applies.
    assert rows[("scroll", "H7")]["propensity"] == 0.1
    assert all(r["ips_weight"] == 1.0 and r["propensity"] is None for r in outcome["ltr"]), "no table: no weights"
