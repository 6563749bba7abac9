"""``rankfeed rerank --model``: a trained model served over the live features topic and the request's fields."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import lightgbm as lgb
import numpy as np
import orjson
import pytest

from rankfeed.model import FEATURES, ModelArtifact, ModelError, feature_matrix
from rankfeed.rerank.app import RerankApp
from rankfeed.rerank.features import row_from_record
from rankfeed.settings import Topics
from tests.rerank.conftest import FeaturePublisher, RerankerFactory, features_record, rerank_settings
from tests.rerank.test_readme import blocks


def ctr_model(folder: Path) -> Path:
    """A small LambdaMART whose relevance is the satisfied click rate, saved as `rankfeed train` saves one."""
    rng = np.random.default_rng(0)
    lists, size = 200, 10
    examined = rng.integers(50, 500, lists * size).astype(float)
    clicks = np.round(examined * rng.uniform(0.0, 0.3, examined.size))
    rows = [(e, c, 0.0, 0.0, 2 * e, 0) for e, c in zip(examined, clicks, strict=True)]
    positions = np.tile(np.arange(1, size + 1), lists).tolist()
    matrix = feature_matrix(positions, [100.0] * examined.size, [4.0] * examined.size, rows)
    relevance = np.digitize(clicks / examined, [0.1, 0.2])
    dataset = lgb.Dataset(matrix, label=relevance, group=[size] * lists, feature_name=list(FEATURES))
    params = {"objective": "lambdarank", "verbosity": -1, "deterministic": True, "num_threads": 1, "seed": 1}
    booster = lgb.train(params, dataset, num_boost_round=30)
    metadata = {"version": "ctr-test-model", "created_at": datetime.now(UTC).isoformat()}
    return ModelArtifact(booster, FEATURES, metadata).save(folder)


def test_the_model_orders_by_what_it_learnt_from_live_features(
    start_reranker: RerankerFactory, publisher: FeaturePublisher, tmp_path: Path
) -> None:
    folder = ctr_model(tmp_path)
    records = [
        features_record("h-low", examined_impressions=400.0, clicks=8.0),
        features_record("h-high", examined_impressions=400.0, clicks=100.0),
        features_record("h-mid", examined_impressions=400.0, clicks=60.0),
    ]
    publisher.publish(*records)
    reranker = start_reranker(model=folder)
    reranker.wait_until_ready()

    hotel_ids = ["h-low", "h-mid", "h-high", "h-unknown"]
    fields = {"positions": [1, 2, 3, 4], "prices": [100.0, 100.0, None, 80.0], "ratings": [4.0, 4.0, 4.0, None]}
    response = reranker.rerank(hotel_ids, **fields)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "ctr-test-model"
    ranking = [item["hotel_id"] for item in body["ranking"]]
    assert ranking.index("h-high") < ranking.index("h-mid") < ranking.index("h-low")
    assert {item["hotel_id"]: item["known"] for item in body["ranking"]}["h-unknown"] is False

    # The scores are the model's, over the vector the shared feature function builds from the same inputs.
    rows = {record["hotel_id"]: row_from_record(record) for record in records}
    expected = ModelArtifact.load(folder).score_served(
        feature_matrix(fields["positions"], fields["prices"], fields["ratings"], [rows.get(h) for h in hotel_ids])
    )
    served = {item["hotel_id"]: item["score"] for item in body["ranking"]}
    assert [served[hotel_id] for hotel_id in hotel_ids] == pytest.approx(expected.tolist(), abs=0, rel=1e-12)


def test_prices_and_ratings_are_checked(start_reranker: RerankerFactory, tmp_path: Path) -> None:
    reranker = start_reranker(model=ctr_model(tmp_path))
    reranker.wait_until_ready()
    response = reranker.rerank(["a", "b"], prices=[-1, 10], ratings=[7, None, 3])
    assert response.status_code == 422
    problems = {(error["field"], error["index"], error["problem"]) for error in response.json()["errors"]}
    assert problems == {
        ("prices", 0, "wrong_type"),
        ("ratings", None, "length_mismatch"),
        ("ratings", 0, "above_maximum"),
    }


def test_a_model_without_the_served_features_is_refused_at_start(bootstrap_servers: str, tmp_path: Path) -> None:
    booster = lgb.train(
        {"objective": "regression", "verbosity": -1},
        lgb.Dataset(np.random.default_rng(0).random((50, 1)), label=np.arange(50.0), feature_name=["price_zscore"]),
        num_boost_round=2,
    )
    folder = ModelArtifact(booster, ("price_zscore",), {"version": "price-z"}).save(tmp_path)
    with pytest.raises(ModelError, match="--model-features"):
        RerankApp(rerank_settings(bootstrap_servers, Topics(), model=folder))


def test_an_interleaved_answer_names_each_hotels_team_and_is_reproducible(
    start_reranker: RerankerFactory, publisher: FeaturePublisher, tmp_path: Path
) -> None:
    folder = ctr_model(tmp_path)
    hotel_ids = [f"h-{number}" for number in range(10)]
    # The candidate orders by click rate (h-9 best); the control is the given order (h-0 first).
    publisher.publish(
        *(
            features_record(hotel_id, examined_impressions=400.0, clicks=10.0 * n)
            for n, hotel_id in enumerate(hotel_ids)
        )
    )
    reranker = start_reranker(interleave_candidate=folder, experiment="ctr-vs-given")
    reranker.wait_until_ready()

    first = reranker.rerank(hotel_ids, search_id="search-1")
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["experiment"], body["interleaving_id"], body["model"]) == (
        "ctr-vs-given",
        "search-1",
        "ctr-test-model",
    )
    ranking = [item["hotel_id"] for item in body["ranking"]]
    teams = [item["team"] for item in body["ranking"]]
    assert sorted(ranking) == sorted(hotel_ids) and set(teams) == {"control", "candidate"}
    assert abs(teams.count("control") - teams.count("candidate")) <= 1
    # Each team's hotels come in its own ranker's order: the control's by given order, the candidate's by rate.
    control = [h for h, t in zip(ranking, teams, strict=True) if t == "control"]
    candidate_scores = [item["score"] for item in body["ranking"] if item["team"] == "candidate"]
    assert control == sorted(control, key=hotel_ids.index)
    assert candidate_scores == sorted(candidate_scores, reverse=True) and ranking[0] in ("h-0", "h-9")
    # The answer has the shape rankfeed/rerank/README.md shows.
    shown = orjson.loads(blocks("json")[3])
    assert set(shown) == set(body) and set(shown["ranking"][0]) == set(body["ranking"][0])
    # The same search gets the same interleaving; without a search id, a fresh id is answered.
    assert reranker.rerank(hotel_ids, search_id="search-1").json() == body
    other = reranker.rerank(hotel_ids).json()
    assert other["interleaving_id"] not in ("search-1", None)
