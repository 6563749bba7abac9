"""POST /v1/rerank end to end: features produced to a real topic, read by the live store, scored over HTTP."""

from __future__ import annotations

import math
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rankfeed.rerank.scoring import Scorer, ScoringParameters
from tests.rerank.conftest import FeaturePublisher, RerankerFactory, RunningReranker, features_record


def test_hotels_are_ordered_by_score_and_the_scores_are_the_documented_formula(
    publisher: FeaturePublisher, start_reranker: RerankerFactory
) -> None:
    publisher.publish(
        features_record("weak", examined_impressions=2000, clicks=20),  # CTR 1 %: well below the 5 % prior
        features_record("strong", examined_impressions=2000, clicks=600, books=40),  # CTR 30 %, 2 % books
        features_record("average", examined_impressions=2000, clicks=100, books=10),  # exactly the prior rates
    )
    reranker = start_reranker()
    reranker.wait_until_ready()

    response = reranker.rerank(["weak", "average", "unknown", "strong"])

    assert response.status_code == 200, response.text
    ranking = response.json()["ranking"]
    # strong (shown 4th) overtakes everything; weak (shown 1st) falls behind the neutral hotels; the
    # average hotel scores exactly like an unknown one, so the two keep their given order.
    assert [item["hotel_id"] for item in ranking] == ["strong", "average", "unknown", "weak"]
    assert {item["hotel_id"]: item["known"] for item in ranking} == {
        "strong": True,
        "average": True,
        "unknown": False,
        "weak": True,
    }
    scores = {item["hotel_id"]: item["score"] for item in ranking}
    # w = 0.5, α = 50: d(k)^0.5 · lift^0.5 with lift = (ctr + book_rate) / (0.05 + 0.005).
    strong_lift = ((600 + 2.5) / 2050 + (40 + 0.25) / 2050) / 0.055
    assert scores["strong"] == pytest.approx(math.sqrt(1 / math.log2(5) * strong_lift))
    assert scores["average"] == pytest.approx(math.sqrt(1 / math.log2(3)))
    assert scores["unknown"] == pytest.approx(math.sqrt(1 / math.log2(4)))
    assert response.json()["features_version"] == reranker.app.store.version


def test_the_given_positions_and_the_destination_rows_are_used(
    publisher: FeaturePublisher, start_reranker: RerankerFactory
) -> None:
    publisher.publish(
        features_record("beach", examined_impressions=1000, clicks=50),
        features_record("city", examined_impressions=1000, clicks=50),
        # In Paris the city hotel is far more engaging than its global record says.
        features_record("city", destination="paris", examined_impressions=1000, clicks=400),
    )
    reranker = start_reranker()
    reranker.wait_until_ready()

    assert reranker.order(["beach", "city"]) == ["beach", "city"]
    assert reranker.order(["beach", "city"], destination="paris") == ["city", "beach"]
    assert reranker.order(["beach", "city"], destination="rome") == ["beach", "city"]  # no Rome rows: global
    # Shown at positions 21 and 22 (page 2), the two position priors are nearly equal.
    page_two = reranker.rerank(["beach", "city"], positions=[21, 22]).json()["ranking"]
    expected = Scorer(ScoringParameters()).score(22, None) / Scorer(ScoringParameters()).score(21, None)
    assert page_two[1]["score"] / page_two[0]["score"] == pytest.approx(expected)


def test_a_feature_update_changes_the_order_within_a_second(
    publisher: FeaturePublisher, start_reranker: RerankerFactory
) -> None:
    publisher.publish(features_record("first", examined_impressions=500, clicks=25))
    reranker = start_reranker()
    reranker.wait_until_ready()
    assert reranker.order(["first", "second"]) == ["first", "second"]

    started = time.monotonic()
    publisher.publish(features_record("second", examined_impressions=1000, clicks=300))
    while reranker.order(["first", "second"]) != ["second", "first"]:
        assert time.monotonic() - started < 5.0, "the update never reached the ranking"
        time.sleep(0.01)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0, f"the update took {elapsed:.2f} s to change the ranking"


def test_a_tombstone_makes_the_hotel_unknown_again(
    publisher: FeaturePublisher, start_reranker: RerankerFactory
) -> None:
    publisher.publish(
        features_record("gone", examined_impressions=1000, clicks=400),
        features_record("gone", destination="paris", examined_impressions=1000, clicks=400),
    )
    reranker = start_reranker()
    reranker.wait_until_ready()
    assert reranker.order(["other", "gone"]) == ["gone", "other"]

    publisher.tombstone("gone")
    deadline = time.monotonic() + 5
    while reranker.app.store.get("gone") is not None and time.monotonic() < deadline:
        time.sleep(0.01)

    ranking = reranker.rerank(["other", "gone"]).json()["ranking"]
    assert ranking == [
        {"hotel_id": "other", "score": pytest.approx(1.0), "known": False},
        {"hotel_id": "gone", "score": pytest.approx(math.sqrt(1 / math.log2(3))), "known": False},
    ]
    # Only the global row was deleted: the Paris row has its own key and stays.
    assert reranker.order(["other", "gone"], destination="paris") == ["gone", "other"]


def test_unknown_hotels_get_the_position_prior_only_and_keep_their_order(
    shared_reranker: RunningReranker,
) -> None:
    response = shared_reranker.rerank(["c", "a", "b"])

    assert response.status_code == 200
    assert response.json()["ranking"] == [
        {"hotel_id": hotel_id, "score": pytest.approx(math.sqrt(1 / math.log2(position + 1))), "known": False}
        for position, hotel_id in enumerate(["c", "a", "b"], start=1)
    ]


def test_reranking_waits_for_the_features_and_readyz_says_why(start_reranker: RerankerFactory) -> None:
    reranker = start_reranker(topics={"hotel_features": "hotel-features-that-does-not-exist"})

    time.sleep(1.5)  # a first metadata round trip has failed by now
    readiness = reranker.http.get("/readyz")
    response = reranker.rerank(["h1"])

    assert readiness.status_code == 503
    assert readiness.json()["ready"] is False
    assert "topic 'hotel-features-that-does-not-exist' is not available" in readiness.json()["last_error"]
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["errors"][0]["problem"] == "not_ready"


def test_health_and_readiness_of_a_caught_up_reranker(shared_reranker: RunningReranker) -> None:
    health = shared_reranker.http.get("/healthz")
    readiness = shared_reranker.http.get("/readyz")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert readiness.status_code == 200
    assert readiness.json()["ready"] is True
    assert readiness.json()["partitions_caught_up"] == "3/3"


def test_metrics_count_answers_by_status_and_show_the_store(start_reranker: RerankerFactory) -> None:
    reranker = start_reranker(topics={"hotel_features": "hotel-features-that-does-not-exist"})
    reranker.rerank(["h1"])
    reranker.http.post("/v1/rerank", content=b"not json", headers={"content-type": "application/json"})

    samples = [
        sample
        for family in text_string_to_metric_families(reranker.http.get("/metrics").text)
        for sample in family.samples
    ]
    by_status = {s.labels["status"]: s.value for s in samples if s.name == "rankfeed_rerank_requests_total"}
    metrics = {s.name: s for s in samples if s.name.startswith("rankfeed_rerank_") and "status" not in s.labels}

    assert by_status == {"503": 1.0, "400": 1.0}
    assert metrics["rankfeed_rerank_ready"].value == 0.0
    assert metrics["rankfeed_rerank_feature_rows"].value == 0.0
    assert metrics["rankfeed_rerank_feature_updates_applied_total"].value == 0.0
