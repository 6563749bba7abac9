"""The HTML report and the impressions it estimates θ from, on simulated events and synthetic LTR examples.

``events/`` is written from ``rankfeed.simulate`` sessions (the clean stream the job stores, with
their true position bias), ``ltr_examples/`` by ``tests.datasets.write_ltr_dataset``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from rankfeed import offline_cli, schemas, simulate
from rankfeed.propensity import PropensityTable, default_theta
from rankfeed.report import REPORT_FILE, estimate_propensity, load_impressions, write_report
from rankfeed.types import Record
from tests.datasets import arrow_schema, write_dataset, write_ltr_dataset

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_events(parquet_dir: Path, shape: simulate.TrafficShape) -> list[Record]:
    """The simulated sessions' actions as the job's ``events/`` dataset; returns the actions."""
    actions = [action for session in simulate.iter_sessions(shape) for action in session]
    write_dataset(
        pa.Table.from_pylist(actions, schema=arrow_schema(schemas.USER_ACTION)), parquet_dir / "events", "timestamp"
    )
    return actions


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Record]]:
    parquet_dir = tmp_path_factory.mktemp("parquet")
    shape = simulate.TrafficShape(sessions=4000, seed=3, randomized_share=0.5, position_bias_eta=1.0)
    actions = write_events(parquet_dir, shape)
    write_ltr_dataset(parquet_dir, searches=300)
    return parquet_dir, actions


def test_impressions_from_events_are_every_shown_result_with_its_clicks(datasets: tuple[Path, list[Record]]) -> None:
    parquet_dir, actions = datasets
    impressions = load_impressions(parquet_dir)

    searches = [a for a in actions if a["action_type"] == "search"]
    clicked = {(a["search_id"], a["hotel_id"]) for a in actions if a["action_type"] == "click"}
    shown = [
        (s["search_id"], i["hotel_id"], i["position"], s["ranking_randomized"])
        for s in searches
        for i in s["impressions"]
    ]
    assert impressions.source == "events"
    assert impressions.positions.size == len(shown)
    assert int(impressions.clicks.sum()) == sum((search, hotel) in clicked for search, hotel, _, _ in shown) > 0
    assert int(impressions.randomized.sum()) == sum(randomized for *_, randomized in shown)
    assert sorted(impressions.positions.tolist()) == sorted(position for _, _, position, _ in shown)
    assert np.unique(impressions.list_ids).size == len(searches)


def test_a_replayed_search_is_one_result_list_and_a_search_without_id_none(tmp_path: Path) -> None:
    actions = [a for session in simulate.iter_sessions(simulate.TrafficShape(sessions=20, seed=8)) for a in session]
    searches = [a for a in actions if a["action_type"] == "search"]
    replays = [{**s, "event_id": f"replay-{n}-{s['event_id']}"} for n in range(3) for s in searches]
    orphan = {**searches[0], "event_id": "orphan", "search_id": None}
    table = pa.Table.from_pylist([*actions, *replays, orphan], schema=arrow_schema(schemas.USER_ACTION))
    write_dataset(table, tmp_path / "events", "timestamp")

    impressions = load_impressions(tmp_path)
    assert impressions.positions.size == sum(len(s["impressions"]) for s in searches)
    assert np.unique(impressions.list_ids).size == len(searches)


def test_theta_from_simulated_events_follows_the_simulated_bias(datasets: tuple[Path, list[Record]]) -> None:
    table = estimate_propensity(load_impressions(datasets[0]), "randomized")
    # About 60k randomized impressions: a loose bound, but a wrong click join would miss it by far.
    assert np.max(np.abs(np.asarray(table.theta[:10]) - default_theta(10))) < 0.08


def test_report_writes_every_plot_and_the_page_shows_them(datasets: tuple[Path, list[Record]], tmp_path: Path) -> None:
    report = write_report(datasets[0], tmp_path, bootstrap_replicates=50)

    assert set(report.plots) == {"ctr_by_position", "theta", "label_mix", "dwell", "quick_back_by_position"}
    for path in report.plots.values():
        assert path.parent == tmp_path and path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 10_000
    page = report.index_path.read_text(encoding="utf-8")
    assert report.index_path == tmp_path / REPORT_FILE
    assert set(re.findall(r'<img src="([^"]+)"', page)) == {path.name for path in report.plots.values()}
    assert report.impressions_source == "events" and 'class="warn"' not in page
    assert report.propensity is not None and report.propensity.method == "randomized"
    assert PropensityTable.load(tmp_path / "propensity.json") == report.propensity
    assert report.propensity.version in page


def test_report_without_events_estimates_from_ltr_examples_and_says_it_is_biased(tmp_path: Path) -> None:
    parquet_dir = tmp_path / "parquet"
    write_ltr_dataset(parquet_dir, searches=200, seed=4)
    report = write_report(parquet_dir, tmp_path / "report", bootstrap_replicates=20)

    page = report.index_path.read_text(encoding="utf-8")
    assert report.impressions_source == "ltr_examples"
    assert "biased" in page and all((tmp_path / "report" / p.name).exists() for p in report.plots.values())


def test_cli_writes_the_report_and_a_propensity_table(datasets: tuple[Path, list[Record]], tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("report")(offline_cli.report)
    app.command("propensity")(offline_cli.estimate_propensity)
    runner = CliRunner()
    parquet = ["--parquet-dir", str(datasets[0])]

    reported = runner.invoke(app, ["report", *parquet, "--out", str(tmp_path / "r"), "--bootstrap", "10"])
    assert reported.exit_code == 0, reported.output
    assert (tmp_path / "r" / REPORT_FILE).exists()

    estimated = runner.invoke(app, ["propensity", *parquet, "--out", str(tmp_path / "p.json"), "--method", "em"])
    assert estimated.exit_code == 0, estimated.output
    assert PropensityTable.load(tmp_path / "p.json").method == "em"

    missing = runner.invoke(app, ["report", "--parquet-dir", str(tmp_path / "none"), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "no dataset folder" in missing.output
