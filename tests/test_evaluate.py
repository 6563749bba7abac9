"""Offline evaluation: the PBM IPS/SNIPS estimators against simulated traffic whose truth is known.

The coverage test draws logged searches from a PBM (``rankfeed.propensity.simulate_pbm``: θ_k = 1/k,
known attractiveness γ, a noisy logging ranker), lets a better ranker re-order each list, and checks
that over 60 seeds the 95% bootstrap interval holds the true value of the new ranker, computed
exactly from γ and θ on a very large independent sample, in at least 90% of them (54 of 60; 100 seeds gave 95%).
Everything is seeded, so the test is deterministic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from rankfeed import offline_cli
from rankfeed.evaluate import evaluate_model, pbm_estimates, rank_within_lists
from rankfeed.export import export_ltr
from rankfeed.model import ModelArtifact
from rankfeed.propensity import PropensityTable, default_theta, simulate_pbm
from rankfeed.train import train_lambdamart
from tests.datasets import write_model_lake

LIST_LENGTH = 20
K = 10
THETA = default_theta(LIST_LENGTH)
QUERIES, CANDIDATES = 40, 50
BOOK_SHARE = 0.2
#: Width of the Gaussian noise of the new ranker's score around γ; the logging ranker's is 0.3.
NEW_RANKER_NOISE = 0.1
SEEDS = range(100, 160)
SEARCHES = 2000


@dataclass(frozen=True)
class Logged:
    list_index: np.ndarray
    positions: np.ndarray
    new_positions: np.ndarray
    clicks: np.ndarray
    bookings: np.ndarray
    #: γ of each shown hotel: the simulator's truth.
    gamma: np.ndarray


def attractiveness() -> np.ndarray:
    return np.random.default_rng(12345).uniform(0.05, 0.6, (QUERIES, CANDIDATES))


def simulate(seed: int, searches: int) -> Logged:
    rng = np.random.default_rng(seed)
    gamma_table = attractiveness()
    log = simulate_pbm(searches * LIST_LENGTH, THETA, gamma_table, rng, randomized=False)
    gamma = gamma_table.ravel()[log.query_doc_ids]
    new_scores = gamma + NEW_RANKER_NOISE * rng.standard_normal(gamma.size)
    bookings = log.clicks & (rng.random(gamma.size) < BOOK_SHARE)
    return Logged(
        list_index=log.list_ids,
        positions=log.positions,
        new_positions=rank_within_lists(log.list_ids, new_scores, log.positions),
        clicks=log.clicks.astype(np.float64),
        bookings=bookings.astype(np.float64),
        gamma=gamma,
    )


def true_value(logged: Logged, positions: np.ndarray) -> float:
    """Expected clicks@K per search of the ranking ``positions``: Σ_{q ≤ K} θ_q γ, averaged over searches."""
    expected = np.where(positions <= K, THETA[positions - 1] * logged.gamma, 0.0)
    return float(expected.sum() / (logged.list_index.max() + 1))


@pytest.fixture(scope="module")
def truth() -> dict[str, float]:
    """The population values, from 200,000 searches (Monte-Carlo error ~1e-4, far below the intervals' width)."""
    population = simulate(10_000, 200_000)
    clicks = true_value(population, population.new_positions)
    logged = true_value(population, population.positions)
    return {"clicks@10": clicks, "bookings@10": clicks * BOOK_SHARE, "logged clicks@10": logged}


def test_intervals_hold_the_true_value_of_a_new_ranker_over_seeds(truth: dict[str, float]) -> None:
    covered = {"ips clicks@10": 0, "ips bookings@10": 0, "snips clicks@10": 0, "logged clicks@10": 0}
    estimates_of_clicks = []
    for seed in SEEDS:
        logged = simulate(seed, SEARCHES)
        estimates = {
            e.metric: e
            for e in pbm_estimates(
                logged.list_index,
                logged.positions,
                logged.new_positions,
                {"clicks": logged.clicks, "bookings": logged.bookings},
                THETA,
                k=K,
                replicates=500,
                seed=seed,
            )
        }
        clicks, bookings = estimates["clicks@10"], estimates["bookings@10"]
        covered["ips clicks@10"] += clicks.ips.contains(truth["clicks@10"])
        covered["ips bookings@10"] += bookings.ips.contains(truth["bookings@10"])
        covered["snips clicks@10"] += clicks.snips.contains(truth["clicks@10"])
        covered["logged clicks@10"] += clicks.logged.contains(truth["logged clicks@10"])
        estimates_of_clicks.append(clicks.ips.estimate)
    print(f"\ncoverage over {len(SEEDS)} seeds: {covered}; truth {truth}")
    for name, count in covered.items():
        assert count >= 0.9 * len(SEEDS), f"{name}: the interval held the truth in {count} of {len(SEEDS)} seeds"
    # The new ranker is better than the logging one, and the estimates say so on average.
    assert truth["clicks@10"] > truth["logged clicks@10"] * 1.05
    assert np.mean(estimates_of_clicks) == pytest.approx(truth["clicks@10"], rel=0.02)


def test_the_logged_order_is_estimated_exactly_by_its_own_clicks() -> None:
    logged = simulate(1, 300)
    (estimate,) = pbm_estimates(
        logged.list_index, logged.positions, logged.positions, {"clicks": logged.clicks}, THETA, k=K, replicates=50
    )
    assert estimate.ips.estimate == pytest.approx(estimate.logged.estimate, rel=1e-12)
    assert estimate.snips.estimate == pytest.approx(estimate.logged.estimate, rel=1e-12)
    assert estimate.ips.low <= estimate.ips.estimate <= estimate.ips.high


def test_clipping_bounds_the_weight_of_a_click_seen_only_at_the_bottom() -> None:
    # One search: the only click was at position 20 (θ = 1/20); the new ranker moves that hotel to the top.
    list_index = np.zeros(LIST_LENGTH, dtype=np.int64)
    positions = np.arange(1, LIST_LENGTH + 1)
    new_positions = positions % LIST_LENGTH + 1  # 20 → 1, the others one down
    clicks = (positions == LIST_LENGTH).astype(np.float64)
    unclipped, clipped = (
        pbm_estimates(list_index, positions, new_positions, {"clicks": clicks}, THETA, max_weight=cut, replicates=10)[0]
        for cut in (np.inf, 10.0)
    )
    assert unclipped.ips.estimate == pytest.approx(20.0)  # θ_1 / θ_20
    assert clipped.ips.estimate == pytest.approx(10.0)
    with pytest.raises(ValueError, match="max_weight"):
        pbm_estimates(list_index, positions, new_positions, {"clicks": clicks}, THETA, max_weight=0.5)
    with pytest.raises(ValueError, match="one entry per shown hotel"):
        pbm_estimates(list_index, positions[:3], new_positions, {"clicks": clicks}, THETA)


def test_rank_within_lists_orders_each_list_by_score_ties_as_logged() -> None:
    list_index = np.array([0, 0, 0, 1, 1])
    positions = np.array([1, 2, 3, 1, 2])
    scores = np.array([0.1, 0.9, 0.1, 0.5, 0.5])
    assert rank_within_lists(list_index, scores, positions).tolist() == [2, 1, 3, 1, 2]


@pytest.fixture(scope="module")
def trained_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(parquet_dir, model folder, propensity table) on the synthetic lake of ``tests.datasets``."""
    folder = tmp_path_factory.mktemp("evaluate")
    write_model_lake(folder / "parquet")
    table = PropensityTable.create(default_theta(LIST_LENGTH), "randomized", impressions=1000)
    table.save(folder / "propensity.json")
    export_ltr(folder / "parquet", folder / "export", propensity=table, model_features=True)
    result = train_lambdamart(folder / "export", num_boost_round=20, models_dir=folder / "models")
    assert result.artifact_dir is not None
    return folder / "parquet", result.artifact_dir, folder / "propensity.json"


def test_evaluate_command_estimates_the_model_on_held_out_searches(
    trained_lake: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    parquet_dir, model, propensity = trained_lake
    app = typer.Typer()
    app.command("evaluate")(offline_cli.evaluate)
    app.command("report")(offline_cli.report)
    out = tmp_path / "evaluation.json"
    common = ["--parquet-dir", str(parquet_dir)]
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(model),
            "--propensity",
            str(propensity),
            "--bootstrap",
            "100",
            "--out",
            str(out),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "clicks@10" in result.output and "bookings@10" in result.output
    written = json.loads(out.read_text())
    assert written["which_searches"] == "holdout" and written["model_version"] == model.name
    held = written["searches"]
    everything = evaluate_model(
        parquet_dir, ModelArtifact.load(model), PropensityTable.load(propensity), which_searches="all", replicates=50
    )
    assert 0 < held < everything.searches == 400  # every search of events/ counts, with or without a click
    clicks = written["estimates"]["clicks@10"]
    for name in ("logged", "ips", "snips"):
        assert clicks[name]["low"] <= clicks[name]["estimate"] <= clicks[name]["high"]

    report = CliRunner().invoke(
        app, ["report", "--model", str(model), "--out", str(tmp_path / "report"), "--bootstrap", "20", *common]
    )
    assert report.exit_code == 0, report.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert (
        "offline evaluation" in page
        and model.name in page
        and (tmp_path / "report" / "offline_evaluation.png").exists()
    )

    refused = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path), "--propensity", str(propensity), *common])
    assert refused.exit_code == 1 and "model.txt, features.json, metadata.json missing" in " ".join(
        refused.output.split()
    )
