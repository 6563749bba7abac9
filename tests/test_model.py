"""The served model's features: one function for training and serving, joined point in time, and the artifact.

The training path is the export (``export_ltr(model_features=True)``) over the synthetic LTR dataset
and a hotel-features history written as the lake job writes it; the serving path is the re-ranker's
``ModelScorer`` over a real ``FeatureStore`` fed the same updates as Avro messages, exactly as it
applies them from the topic.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rankfeed import avro, schemas
from rankfeed.export import ExportError, export_ltr
from rankfeed.model import FEATURES, ModelArtifact, ModelError, feature_matrix, point_in_time_rows
from rankfeed.propensity import PropensityTable, default_theta
from rankfeed.rerank.features import FeatureStore, feature_key
from rankfeed.rerank.scoring import ModelScorer
from rankfeed.searches import load_logged_searches
from rankfeed.settings import KafkaSettings
from rankfeed.train import train_lambdamart
from tests.datasets import (
    LIST_LENGTH,
    START,
    hotel_feature_updates,
    write_hotel_feature_history,
    write_ltr_dataset,
    write_model_lake,
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table, pa.Table]:
    """(parquet_dir, ltr examples, hotel-features history): see ``tests.datasets.write_model_lake``."""
    parquet_dir = tmp_path_factory.mktemp("lake")
    return parquet_dir, *write_model_lake(parquet_dir)


@pytest.fixture(scope="module")
def exported(lake: tuple[Path, pa.Table, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    table = PropensityTable.create(default_theta(LIST_LENGTH), "randomized", impressions=1000)
    export_ltr(lake[0], out, propensity=table, model_features=True)
    return out


def _store_as_of(history: pa.Table, before_ms: int) -> FeatureStore:
    """A feature store that has applied, in time order, every update of ``history`` before ``before_ms``."""
    store = FeatureStore(KafkaSettings(), "unused")
    for record in sorted(history.to_pylist(), key=lambda record: record["updated_at"]):
        if record["updated_at"].timestamp() * 1000 < before_ms:
            value = avro.encode(record, schemas.HOTEL_FEATURES)
            store.apply(feature_key(record["hotel_id"], record["destination"]), value)
    return store


def test_training_and_serving_build_identical_vectors(lake: tuple[Path, pa.Table, pa.Table], exported: Path) -> None:
    _, _, history = lake
    rows = pq.read_table(exported / "rows.parquet").to_pandas()
    csv = np.loadtxt(exported / "ltr.csv", delimiter=",", skiprows=1, ndmin=2)[:, 1:]
    manifest = json.loads((exported / "manifest.json").read_text())
    assert tuple(manifest["features"]) == FEATURES
    artifact = train_lambdamart(exported, num_boost_round=5).artifact
    scorer = ModelScorer(artifact)
    # What the frontend showed (and would send to the re-ranker): the result lists of events/.
    logged = load_logged_searches(lake[0])
    by_example = {
        (search_id, hotel_id): (price, rating)
        for search_id, hotel_id, price, rating in zip(
            logged.search_ids, logged.hotel_ids, logged.prices, logged.ratings, strict=True
        )
    }
    compared = 0
    # Searches early (few updates yet), in the middle and at the end of the history.
    searches = rows["search_id"].drop_duplicates()
    for search_id in searches.iloc[[0, 1, len(searches) // 2, len(searches) - 1]]:
        in_list = rows.index[rows["search_id"] == search_id]
        search_ms = int(rows.loc[in_list[0], "search_time"].timestamp() * 1000)
        hotel_ids = rows.loc[in_list, "hotel_id"].tolist()
        shown = [by_example[(search_id, hotel_id)] for hotel_id in hotel_ids]
        served, known = scorer.features(
            hotel_ids,
            _store_as_of(history, search_ms),
            positions=rows.loc[in_list, "position"].tolist(),
            prices=[price for price, _ in shown],
            ratings=[rating for _, rating in shown],
        )
        np.testing.assert_array_equal(served, csv[in_list])
        assert any(known)
        compared += len(hotel_ids)
    assert compared > 10
    # The engagement features are really there, not all missing.
    assert np.isfinite(csv[:, FEATURES.index("satisfied_ctr")]).mean() > 0.5


def test_an_example_never_sees_a_feature_update_made_after_its_search(tmp_path: Path) -> None:
    search_ms = int(START.timestamp() * 1000)
    before = hotel_feature_updates(["H1"], START - timedelta(minutes=10), 1, timedelta(minutes=1))
    first = before[0]  # the global row; before[1] is its destination row, which the model does not use
    # Updates at the search's own millisecond and after it: a booking spree the example must not see.
    at_search = dict(first, updated_at=START, books=1000.0, examined_impressions=5000.0)
    after = dict(first, updated_at=START + timedelta(seconds=5), books=2000.0, examined_impressions=6000.0)
    # H2's only update comes one second after the search.
    late = dict(first, hotel_id="H2", updated_at=START + timedelta(seconds=1))
    history = write_hotel_feature_history(tmp_path, [*before, at_search, after, late])

    found = point_in_time_rows(["H1", "H2", "H3"], [search_ms] * 3, history)
    assert found[0] is not None and found[0][0] == first["examined_impressions"] and found[0][2] == first["books"]
    assert found[1] is None and found[2] is None  # H2 only later, H3 never
    times = [search_ms - 1, search_ms, search_ms + 1, search_ms + 5001]
    rows = point_in_time_rows(["H1"] * 4, times, history)
    assert [row[0] if row else None for row in rows] == [first["examined_impressions"]] * 2 + [5000.0, 6000.0]
    assert all(row is not None and row[5] < time for row, time in zip(rows, times, strict=True))


def test_every_exported_example_uses_an_update_from_before_its_search(
    lake: tuple[Path, pa.Table, pa.Table], exported: Path
) -> None:
    rows = pq.read_table(exported / "rows.parquet")
    times = (pa.compute.cast(rows["search_time"], pa.int64())).to_numpy()
    joined = point_in_time_rows(rows["hotel_id"].to_pylist(), times, lake[2])
    assert all(row is None or row[5] < time for row, time in zip(joined, times.tolist(), strict=True))
    assert sum(row is None for row in joined) < len(joined) / 2


def test_feature_matrix_values_and_missing_values() -> None:
    matrix = feature_matrix(
        [1, 2, 3],
        [100.0, None, 50.0],
        [4.5, 3.0, None],
        [(200.0, 30.0, 4.0, 10.0, 500.0, 0), None, (0.0, 0.0, 0.0, 0.0, 3.0, 0)],
    )
    assert matrix.shape == (3, len(FEATURES))
    first = dict(zip(FEATURES, matrix[0], strict=True))
    assert first == {
        "given_position": 1.0,
        "price": 100.0,
        "rating": 4.5,
        "examined_impressions_log": pytest.approx(np.log1p(200.0)),
        "satisfied_ctr": pytest.approx(20.0 / 200.0),
        "book_rate": pytest.approx(4.0 / 200.0),
        "quick_back_rate": pytest.approx(10.0 / 30.0),
    }
    assert np.isnan(matrix[1, 1]) and np.isnan(matrix[1, 3:]).all()  # no price, no row
    assert matrix[2, 3] == 0.0 and np.isnan(matrix[2, 4:]).all()  # a row without an examined impression
    with pytest.raises(ValueError, match="one value per hotel"):
        feature_matrix([1], [1.0, 2.0], [None], [None])


def test_model_export_needs_the_feature_history(tmp_path: Path) -> None:
    write_ltr_dataset(tmp_path, searches=20)
    with pytest.raises(ExportError, match="hotel_features"):
        export_ltr(tmp_path, tmp_path / "out", model_features=True)


def test_artifact_round_trip_and_refusals(exported: Path, tmp_path: Path) -> None:
    result = train_lambdamart(exported, num_boost_round=5, models_dir=tmp_path)
    assert result.artifact_dir is not None
    loaded = ModelArtifact.load(result.artifact_dir)
    assert loaded.version == result.artifact.version and loaded.features == FEATURES
    probe = np.random.default_rng(0).random((4, len(FEATURES)))
    np.testing.assert_array_equal(loaded.score(probe), result.artifact.score(probe))
    metadata = json.loads((result.artifact_dir / "metadata.json").read_text())
    assert metadata["training_data"]["propensity_version"].startswith("randomized-")
    assert set(metadata["metrics"]) >= {"ndcg_at_10", "logged_order_ndcg_at_10"}
    with pytest.raises(ModelError, match="features"):
        loaded.score(probe[:, :3])
    with pytest.raises(ModelError, match="not a model folder"):
        ModelArtifact.load(tmp_path)
    other = ModelArtifact(loaded.booster, ("price", "price_zscore"), loaded.metadata)
    with pytest.raises(ModelError, match="price_zscore"):
        other.check_servable()


def test_a_model_trained_on_some_features_is_served_from_the_full_vector(exported: Path) -> None:
    chosen = ("satisfied_ctr", "given_position")
    artifact = train_lambdamart(exported, num_boost_round=5, features=chosen).artifact
    assert artifact.features == chosen and tuple(artifact.booster.feature_name()) == chosen
    full = np.random.default_rng(1).random((6, len(FEATURES)))
    selected = full[:, [FEATURES.index("satisfied_ctr"), FEATURES.index("given_position")]]
    np.testing.assert_array_equal(artifact.score_served(full), artifact.score(selected))
    with pytest.raises(ExportError, match="not in the export"):
        train_lambdamart(exported, num_boost_round=5, features=("price_zscore",))
