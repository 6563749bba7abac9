"""Export of the LTR Parquet dataset to LightGBM input, read back by LightGBM itself, and training on it.

The dataset (``tests.datasets.write_ltr_dataset``) is synthetic but shaped exactly like the
feedback job's, and its labels follow the job's rules (examples down to the deepest click,
no-click lists dropped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from rankfeed import offline_cli
from rankfeed.export import DEFAULT_FEATURES, ExportError, export_ltr
from rankfeed.model import ModelArtifact
from rankfeed.propensity import PropensityTable, default_theta
from rankfeed.train import held_out, label_gains, load_export, ndcg_at, split_groups, train_lambdamart
from tests.datasets import LIST_LENGTH, write_ltr_dataset


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


def test_holdout_is_a_function_of_the_search_id_and_keeps_lists_whole(
    ltr_parquet: tuple[Path, pa.Table], tmp_path: Path
) -> None:
    export_ltr(ltr_parquet[0], tmp_path)
    data = load_export(tmp_path)
    train, holdout = split_groups(data, holdout_fraction=0.3, seed=1)
    assert np.all(train ^ holdout)
    held = set(data.search_ids[holdout].tolist())
    assert held.isdisjoint(data.search_ids[train].tolist())
    assert 0.2 < len(held) / data.group_sizes.size < 0.4
    # The same ids, in any order and from any dataset, are held out the same way.
    ids = sorted(set(data.search_ids.tolist()))
    by_id = dict(zip(ids, held_out(ids, 0.3, seed=1), strict=True))
    assert {search_id for search_id, flag in by_id.items() if flag} == held
    assert held_out(ids[::-1], 0.3, seed=1).tolist() == [by_id[search_id] for search_id in ids[::-1]]
    assert held_out(ids, 0.3, seed=2).tolist() != held_out(ids, 0.3, seed=1).tolist()


def test_training_scores_both_models_on_the_holdout(ltr_parquet: tuple[Path, pa.Table], tmp_path: Path) -> None:
    parquet_dir, _ = ltr_parquet
    table = PropensityTable.create(default_theta(LIST_LENGTH), "randomized", impressions=1000)
    export_ltr(parquet_dir, tmp_path, propensity=table)

    plain = train_lambdamart(tmp_path, holdout_fraction=0.25, seed=3, use_ips=False, num_boost_round=40)
    ips = train_lambdamart(
        tmp_path, holdout_fraction=0.25, seed=3, use_ips=True, num_boost_round=40, models_dir=tmp_path / "models"
    )
    for result in (plain, ips):
        assert result.evaluated_lists > 0 and result.holdout_lists + result.train_lists == len(export_groups(tmp_path))
        for value in (result.ndcg_at_10, result.ips_ndcg_at_10, result.logged_order_ndcg_at_10):
            assert 0.0 < value <= 1.0
    assert not ips.uniform_weights and ips.use_ips and not plain.use_ips
    assert ips.artifact_dir is not None and ips.artifact_dir.parent == tmp_path / "models"
    booster = lgb.Booster(model_file=str(ips.artifact_dir / "model.txt"))
    assert booster.feature_name() == list(DEFAULT_FEATURES)
    saved = ModelArtifact.load(ips.artifact_dir)
    assert saved.features == DEFAULT_FEATURES and saved.version == ips.artifact_dir.name
    assert saved.metadata["training_data"]["propensity_version"] == table.version
    assert saved.metadata["metrics"]["ndcg_at_10"] == ips.ndcg_at_10
    assert saved.metadata["training_data"]["search_time_range"][0].startswith("2026-11-27T22:40")
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

    trained = runner.invoke(app, ["train", str(out), "--rounds", "10", "--models", str(tmp_path / "models")])
    assert trained.exit_code == 0, trained.output
    assert "NDCG@10" in trained.output
    saved = sorted(folder.name for folder in (tmp_path / "models").iterdir())
    assert [name.rsplit("-", 2)[0] for name in saved] == ["lambdamart", "lambdamart-ips"]
    assert all((tmp_path / "models" / name / "model.txt").exists() for name in saved)

    refused = runner.invoke(
        app, ["export-ltr", "--parquet-dir", str(ltr_parquet[0]), "--out", str(out), "--feature", "position"]
    )
    assert refused.exit_code == 1 and "bias that IPS corrects" in refused.output
