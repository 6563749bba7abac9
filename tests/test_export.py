"""Export of the LTR Parquet dataset to LightGBM input, read back by LightGBM itself, and training on it.

The dataset is synthetic but shaped exactly like the feedback job's: columns and types come from
``ltr_example.avsc``, files sit in Hive partitions without a ``.parquet`` suffix beside
``_SUCCESS`` markers and a hidden in-progress file, and labels follow the job's rules (examples
down to the deepest click, no-click lists dropped). ``write_ltr_dataset`` is shared with
``test_report``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from rankfeed import offline_cli, schemas
from rankfeed.export import DEFAULT_FEATURES, ExportError, export_ltr
from rankfeed.propensity import PropensityTable, default_theta
from rankfeed.settings import LabelTable
from rankfeed.train import label_gains, ndcg_at, split_groups, train_lambdamart

LIST_LENGTH = 12
#: The first search is at 22:40 UTC so the data spans two days and several hours.
START = datetime(2026, 11, 27, 22, 40, tzinfo=UTC)
_LABELS = LabelTable()


def arrow_type(avro_type: Any) -> pa.DataType:
    """The Arrow type Flink's Parquet sink gives an Avro type (timestamps kept at millisecond precision)."""
    if isinstance(avro_type, list):
        return arrow_type(avro_type[1])
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") == "timestamp-millis":
            return pa.timestamp("ms", tz="UTC")
        if avro_type["type"] == "array":
            return pa.list_(arrow_field(avro_type["items"], "element"))
        if avro_type["type"] == "record":
            return pa.struct([arrow_field(f["type"], f["name"]) for f in avro_type["fields"]])
        return arrow_type(avro_type["type"])
    primitive = {
        "string": pa.string(),
        "int": pa.int32(),
        "long": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
    }
    return primitive[avro_type]


def arrow_field(avro_type: Any, name: str) -> pa.Field:
    nullable = isinstance(avro_type, list) and avro_type[0] == "null"
    return pa.field(name, arrow_type(avro_type), nullable=nullable)


def arrow_schema(record: str) -> pa.Schema:
    """The Arrow schema of an .avsc record, field by field in wire order."""
    return pa.schema([arrow_field(f.avro_type, f.name) for f in schemas.fields(record)])


def write_dataset(table: pa.Table, folder: Path, time_column: str) -> None:
    """``table`` as the feedback job writes a dataset: dt/hr Hive folders, markers and a hidden part file."""
    times = table[time_column].to_pylist()
    partitioned = table.append_column("dt", pa.array([t.strftime("%Y-%m-%d") for t in times]))
    partitioned = partitioned.append_column("hr", pa.array([t.strftime("%H") for t in times]))
    partitioning = ds.partitioning(pa.schema([("dt", pa.string()), ("hr", pa.string())]), flavor="hive")
    ds.write_dataset(
        partitioned,
        folder,
        format="parquet",
        partitioning=partitioning,
        basename_template="part-{i}",
        max_rows_per_file=500,
        max_rows_per_group=500,
    )
    partitions = sorted(path for path in folder.glob("dt=*/hr=*"))
    for partition in partitions:
        (partition / "_SUCCESS").write_bytes(b"")
    # Flink's in-progress file: not Parquet at all, so reading it would fail the test.
    (partitions[-1] / ".part-inprogress-0").write_bytes(b"not parquet yet")


def write_ltr_dataset(
    parquet_dir: Path, searches: int = 400, seed: int = 0, randomized_share: float = 0.25
) -> pa.Table:
    """A synthetic ``ltr_examples`` dataset under ``parquet_dir``; returns its rows (without dt/hr).

    Clicks follow a PBM with θ_k = 1/k and an attractiveness that rises with rating and falls
    with price, so a model has something to learn and the logged order is position-biased.
    """
    rng = np.random.default_rng(seed)
    shape = (searches, LIST_LENGTH)
    price = np.round(rng.lognormal(np.log(150.0), 0.5, shape), 2)
    rating = np.round(rng.triangular(1.0, 4.2, 5.0, shape), 1)
    rating[rng.random(shape) < 0.07] = np.nan
    attractiveness = 0.6 / (1.0 + np.exp(-(1.5 * (np.nan_to_num(rating, nan=3.5) - 3.5) - np.log(price / 150.0))))
    randomized = rng.random(searches) < randomized_share
    score = np.where(randomized[:, None], rng.random(shape), attractiveness + 0.1 * rng.standard_normal(shape))
    order = np.argsort(-score, axis=1)
    price, rating, attractiveness = (np.take_along_axis(a, order, axis=1) for a in (price, rating, attractiveness))
    clicked = rng.random(shape) < default_theta(LIST_LENGTH)[None, :] * attractiveness
    outcome = rng.random(shape)
    kind = np.where(
        ~clicked, "ignore", np.where(outcome < 0.05, "book", np.where(outcome < 0.3, "quick_back", "click"))
    )
    dwell = np.where(kind == "quick_back", rng.uniform(2, 8, shape), rng.uniform(20, 300, shape))
    position = np.tile(np.arange(1, LIST_LENGTH + 1), (searches, 1))
    deepest = np.max(np.where(clicked, position, 0), axis=1)
    kept = position <= deepest[:, None]

    def zscore(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        standardized: np.ndarray[Any, Any] = (values - np.nanmean(values, 1, keepdims=True)) / np.nanstd(
            values, 1, keepdims=True
        )
        return standardized

    def rank_pct(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        ranks = np.argsort(np.argsort(np.nan_to_num(values, nan=np.inf), axis=1), axis=1)
        return np.where(np.isnan(values), np.nan, ranks / (LIST_LENGTH - 1))

    search = np.repeat(np.arange(searches)[:, None], LIST_LENGTH, axis=1)
    # Ids unrelated to time, as UUIDs are: ordering by id is not ordering by time.
    search_name = [f"S{number:05d}" for number in rng.permutation(searches)]
    session = search // 2
    search_time = np.array([START + timedelta(seconds=int(20 * s)) for s in range(searches)], dtype=object)
    session_clicks = np.bincount(session[kept], weights=clicked[kept], minlength=searches)
    columns: dict[str, Any] = {
        "search_id": [search_name[s] for s in search[kept]],
        "hotel_id": [f"H{(s * 7 + p) % 300:05d}" for s, p in zip(search[kept], position[kept], strict=True)],
        "session_id": [f"session-{s}" for s in session[kept]],
        "user_id": [f"U{s % 50:06d}" for s in session[kept]],
        "query": [("Paris", "Zürich", "東京")[s % 3] for s in search[kept]],
        "search_time": search_time[search[kept]].tolist(),
        "label": [getattr(_LABELS, k) for k in kind[kept]],
        "label_kind": kind[kept].tolist(),
        "position": position[kept],
        "price": price[kept],
        "rating": _nullable(rating[kept]),
        "price_zscore": zscore(price)[kept],
        "price_rank_pct": rank_pct(price)[kept],
        "rating_zscore": _nullable(zscore(rating)[kept]),
        "rating_rank_pct": _nullable(rank_pct(rating)[kept]),
        "device": [("web", "mobile")[s % 2] for s in session[kept]],
        "dwell_seconds": _nullable(np.where(kind == "ignore", np.nan, np.round(dwell, 1))[kept]),
        "ranking_randomized": randomized[search[kept]].tolist(),
        "session_searches": np.full(int(kept.sum()), 2),
        "session_clicks": session_clicks[session[kept]].astype(np.int64),
        "ips_weight": np.ones(int(kept.sum())),
        "propensity": [None] * int(kept.sum()),
        "propensity_version": [None] * int(kept.sum()),
    }
    schema = arrow_schema(schemas.LTR_EXAMPLE)
    assert set(columns) == set(schema.names), "the generator must fill exactly the schema's fields"
    table = pa.table({name: pa.array(columns[name], schema.field(name).type) for name in schema.names}, schema=schema)
    write_dataset(table, parquet_dir / "ltr_examples", "search_time")
    return table


def _nullable(values: np.ndarray[Any, Any]) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def _expected_order(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    return sorted(rows, key=lambda row: (row["search_time"], row["search_id"], row["position"]))


def _expected_group_sizes(rows: list[dict[str, Any]]) -> list[int]:
    sizes: list[int] = []
    previous = None
    for row in rows:
        if row["search_id"] == previous:
            sizes[-1] += 1
        else:
            sizes.append(1)
            previous = row["search_id"]
    return sizes


@pytest.fixture(scope="module")
def ltr_parquet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    parquet_dir = tmp_path_factory.mktemp("parquet")
    return parquet_dir, write_ltr_dataset(parquet_dir)


def test_dataset_is_partitioned_like_the_job_writes_it(ltr_parquet: tuple[Path, pa.Table]) -> None:
    parquet_dir, table = ltr_parquet
    partitions = sorted(p.relative_to(parquet_dir / "ltr_examples").as_posix() for p in parquet_dir.glob("*/*/*"))
    assert partitions[0] == "dt=2026-11-27/hr=22" and partitions[-1].startswith("dt=2026-11-28/")
    assert pq.read_schema(next((parquet_dir / "ltr_examples").glob("dt=*/hr=*/part-*"))) == table.schema


def test_export_reads_back_through_lightgbm_with_groups_labels_weights(
    ltr_parquet: tuple[Path, pa.Table], tmp_path: Path
) -> None:
    parquet_dir, table = ltr_parquet
    export = export_ltr(parquet_dir, tmp_path)

    expected = _expected_order(table)
    assert export.rows == table.num_rows == len(expected)  # the hidden and marker files were skipped
    dataset = lgb.Dataset(
        str(export.data_path), params={"header": True, "label_column": "name:relevance", "verbosity": -1}
    ).construct()
    assert dataset.get_feature_name() == list(DEFAULT_FEATURES)
    assert np.asarray(dataset.get_label()).tolist() == [row["label"] + 1 for row in expected]
    assert np.asarray(dataset.get_group()).tolist() == _expected_group_sizes(expected) == list(export.group_sizes)
    assert np.asarray(dataset.get_weight()).tolist() == [row["ips_weight"] for row in expected]

    values = np.loadtxt(export.data_path, delimiter=",", skiprows=1)
    for column, name in enumerate(DEFAULT_FEATURES, start=1):
        want = np.array([np.nan if row[name] is None else row[name] for row in expected])
        np.testing.assert_array_equal(values[:, column], want)
    rows = pq.read_table(export.rows_path)
    assert rows["search_id"].to_pylist() == [row["search_id"] for row in expected]
    assert rows["position"].to_pylist() == [row["position"] for row in expected]


def test_labels_shift_so_quick_back_is_the_lowest_relevance(ltr_parquet: tuple[Path, pa.Table], tmp_path: Path) -> None:
    parquet_dir, _ = ltr_parquet
    export = export_ltr(parquet_dir, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["relevance_by_label_kind"] == {"click": 2, "book": 3, "ignore": 1, "quick_back": 0}
    rows = pq.read_table(export.rows_path).to_pydict()
    for kind, relevance in zip(rows["label_kind"], rows["relevance"], strict=True):
        assert relevance == manifest["relevance_by_label_kind"][kind]
    assert set(export.label_kinds) == {"book", "click", "ignore", "quick_back"}


def test_propensity_table_weights_clicked_examples_and_cuts_at_max_weight(
    ltr_parquet: tuple[Path, pa.Table], tmp_path: Path
) -> None:
    parquet_dir, _ = ltr_parquet
    table = PropensityTable.create(default_theta(8, eta=1.5), "randomized", impressions=1000, max_weight=10.0)
    export = export_ltr(parquet_dir, tmp_path, propensity=table)

    rows = pq.read_table(export.rows_path).to_pydict()
    weights = np.loadtxt(tmp_path / "ltr.csv.weight")
    positions = np.array(rows["position"])
    clicked = np.array(rows["label_kind"]) != "ignore"
    assert weights.size == export.rows
    np.testing.assert_allclose(weights[clicked], table.weights(positions[clicked]))
    assert np.all(weights[~clicked] == 1.0)
    assert weights.max() == 10.0 and np.any(clicked & (positions >= 5))  # (1/5)^-1.5 = 11.2 was cut
    np.testing.assert_allclose(rows["propensity"], table.propensities(positions))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["weight_source"] == f"propensity:{table.version}"
    assert PropensityTable.from_record(manifest["propensity"]) == table


def test_export_without_weights_removes_a_stale_weight_file(ltr_parquet: tuple[Path, pa.Table], tmp_path: Path) -> None:
    parquet_dir, _ = ltr_parquet
    (tmp_path / "ltr.csv.weight").write_text("9\n")
    export = export_ltr(parquet_dir, tmp_path, weight=None)
    assert export.weight_path is None and not (tmp_path / "ltr.csv.weight").exists()


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (["price", "position"], "bias that IPS corrects"),
        (["dwell_seconds"], "label leak"),
        (["session_clicks"], "label leak"),
        (["device"], "not numeric"),
        (["search_time"], "not numeric"),
        (["stars"], "not an ltr_example column"),
        ([], "no features"),
    ],
)
def test_export_refuses_features_that_leak_or_do_not_exist(
    ltr_parquet: tuple[Path, pa.Table], tmp_path: Path, features: list[str], message: str
) -> None:
    with pytest.raises(ExportError, match=message):
        export_ltr(ltr_parquet[0], tmp_path, features=features)


def test_export_refuses_a_weight_column_that_is_not_a_number(
    ltr_parquet: tuple[Path, pa.Table], tmp_path: Path
) -> None:
    with pytest.raises(ExportError, match="not numeric"):
        export_ltr(ltr_parquet[0], tmp_path, weight="label_kind")


def test_export_of_a_missing_dataset_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="ltr_examples"):
        export_ltr(tmp_path / "nothing-here", tmp_path / "out")


def test_ndcg_matches_a_hand_computed_value() -> None:
    # One list: relevance (0, 2, 1) scored in that order. DCG = 3/log2(3) + 1/log2(4); IDCG = 3 + 1/log2(3).
    value, lists = ndcg_at(np.array([3.0, 2.0, 1.0]), np.array([0, 2, 1]), np.array([3]))
    assert lists == 1
    assert value == pytest.approx((3 / np.log2(3) + 0.5) / (3 + 1 / np.log2(3)))
    # A list whose labels are all equal says nothing and is left out.
    uninformative, lists = ndcg_at(np.array([1.0, 2.0]), np.array([1, 1]), np.array([2]))
    assert np.isnan(uninformative) and lists == 0
    assert label_gains(3) == [0.0, 1.0, 3.0, 7.0]


def test_split_keeps_lists_whole_and_holds_out_the_asked_share() -> None:
    sizes = np.array([3, 1, 4, 2, 5, 2, 2, 1, 3, 2])
    train, holdout = split_groups(sizes, holdout_fraction=0.3, seed=1)
    assert np.all(train ^ holdout)
    group = np.repeat(np.arange(sizes.size), sizes)
    held_lists = set(group[holdout].tolist())
    assert len(held_lists) == 3 and held_lists.isdisjoint(group[train].tolist())


def test_training_scores_both_models_on_the_holdout(ltr_parquet: tuple[Path, pa.Table], tmp_path: Path) -> None:
    parquet_dir, _ = ltr_parquet
    table = PropensityTable.create(default_theta(LIST_LENGTH), "randomized", impressions=1000)
    export_ltr(parquet_dir, tmp_path, propensity=table)

    plain = train_lambdamart(tmp_path, holdout_fraction=0.25, seed=3, use_ips=False, num_boost_round=40)
    ips = train_lambdamart(
        tmp_path, holdout_fraction=0.25, seed=3, use_ips=True, num_boost_round=40, model_path=tmp_path / "m.txt"
    )
    for result in (plain, ips):
        assert result.evaluated_lists > 0 and result.holdout_lists + result.train_lists == len(export_groups(tmp_path))
        for value in (result.ndcg_at_10, result.ips_ndcg_at_10, result.logged_order_ndcg_at_10):
            assert 0.0 < value <= 1.0
    assert not ips.uniform_weights and ips.use_ips and not plain.use_ips
    booster = lgb.Booster(model_file=str(tmp_path / "m.txt"))
    assert booster.feature_name() == list(DEFAULT_FEATURES)
    # The weights reached LightGBM: the IPS model is a different model.
    assert ips.feature_importance != plain.feature_importance


def export_groups(export_dir: Path) -> list[int]:
    sizes: list[int] = np.loadtxt(export_dir / "ltr.csv.query", dtype=int).tolist()
    return sizes


def test_uniform_weights_train_the_same_model_as_no_weights(ltr_parquet: tuple[Path, pa.Table], tmp_path: Path) -> None:
    export_ltr(ltr_parquet[0], tmp_path)  # ips_weight is 1.0 everywhere until propensities are estimated
    plain = train_lambdamart(tmp_path, seed=5, use_ips=False, num_boost_round=20)
    ips = train_lambdamart(tmp_path, seed=5, use_ips=True, num_boost_round=20)
    assert ips.uniform_weights
    assert ips.ndcg_at_10 == plain.ndcg_at_10 and ips.feature_importance == plain.feature_importance


def test_training_with_ips_refuses_an_export_without_weights(
    ltr_parquet: tuple[Path, pa.Table], tmp_path: Path
) -> None:
    export_ltr(ltr_parquet[0], tmp_path, weight=None)
    with pytest.raises(ExportError, match="no weight file"):
        train_lambdamart(tmp_path, use_ips=True)


def test_cli_exports_with_a_propensity_file_and_trains(ltr_parquet: tuple[Path, pa.Table], tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("export-ltr")(offline_cli.export_ltr)
    app.command("train")(offline_cli.train)
    table = PropensityTable.create(default_theta(LIST_LENGTH), "em", impressions=10)
    table.save(tmp_path / "propensity.json")
    out = tmp_path / "export"
    runner = CliRunner()

    exported = runner.invoke(
        app,
        [
            "export-ltr",
            "--parquet-dir",
            str(ltr_parquet[0]),
            "--out",
            str(out),
            "--propensity",
            str(tmp_path / "propensity.json"),
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert table.version in exported.output and (out / "ltr.csv.weight").exists()

    trained = runner.invoke(app, ["train", str(out), "--rounds", "10", "--model-dir", str(tmp_path / "models")])
    assert trained.exit_code == 0, trained.output
    assert "NDCG@10" in trained.output
    assert (tmp_path / "models" / "model-ips.txt").exists() and (tmp_path / "models" / "model-plain.txt").exists()

    refused = runner.invoke(
        app, ["export-ltr", "--parquet-dir", str(ltr_parquet[0]), "--out", str(out), "--feature", "position"]
    )
    assert refused.exit_code == 1 and "bias that IPS corrects" in refused.output
