"""Position-bias estimators against a simulated PBM whose θ_k = (1/k)^η and attractiveness are known."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from rankfeed import avro, schemas
from rankfeed.propensity import (
    DEFAULT_ETA,
    DEFAULT_MAX_WEIGHT,
    DEFAULT_PRIOR_STRENGTH,
    FloatArray,
    PropensityTable,
    RandomizedEstimator,
    bootstrap_randomized,
    default_theta,
    em_position_bias,
    from_randomized,
    ips_weights,
    simulate_pbm,
    stream_version,
)
from rankfeed.settings import JobSettings

POSITIONS = 10
ETA = 1.0
TRUE_THETA = default_theta(POSITIONS, ETA)
#: The acceptance bound of the issue: θ_1..θ_10 within 0.02 after a million impressions.
TOLERANCE = 0.02


def _attractiveness(rng: np.random.Generator, queries: int = 50, candidates: int = 20) -> FloatArray:
    return rng.uniform(0.05, 0.6, size=(queries, candidates))


def test_randomized_lists_recover_theta_within_tolerance() -> None:
    rng = np.random.default_rng(11)
    started = time.perf_counter()
    log = simulate_pbm(1_000_000, TRUE_THETA, _attractiveness(rng), rng, randomized=True)
    theta = from_randomized(log.positions, log.clicks, max_position=POSITIONS)
    elapsed = time.perf_counter() - started

    assert log.positions.size == 1_000_000
    assert theta[0] == 1.0
    assert np.max(np.abs(theta - TRUE_THETA)) < TOLERANCE, np.round(theta - TRUE_THETA, 4)
    assert elapsed < 5.0


def test_em_recovers_theta_from_ranked_traffic_where_click_ratios_do_not() -> None:
    rng = np.random.default_rng(12)
    attractiveness = _attractiveness(rng)
    log = simulate_pbm(1_000_000, TRUE_THETA, attractiveness, rng, randomized=False, ranker_noise=0.1)
    started = time.perf_counter()
    result = em_position_bias(log.query_doc_ids, log.positions, log.clicks, max_position=POSITIONS)
    elapsed = time.perf_counter() - started

    # On ranked traffic the plain click-rate ratio mixes relevance into θ: the case EM exists for.
    naive = from_randomized(log.positions, log.clicks, prior_strength=0, max_position=POSITIONS)
    assert np.max(np.abs(naive - TRUE_THETA)) > TOLERANCE
    assert result.converged and result.theta[0] == 1.0
    assert np.max(np.abs(result.theta - TRUE_THETA)) < TOLERANCE, np.round(result.theta - TRUE_THETA, 4)
    assert elapsed < 5.0

    # The relevance estimates are the pairs' attractiveness (θ_1 = 1 here, so no rescaling).
    truth = attractiveness.ravel()[result.pair_ids]
    shown = np.bincount(np.searchsorted(result.pair_ids, log.query_doc_ids), minlength=result.pair_ids.size)
    frequent = shown >= 1000
    assert frequent.sum() > 100
    assert np.mean(np.abs(result.relevance[frequent] - truth[frequent])) < 0.04
    assert np.corrcoef(result.relevance, truth)[0, 1] > 0.8


def test_ranked_simulation_puts_attractive_hotels_on_top() -> None:
    rng = np.random.default_rng(13)
    attractiveness = _attractiveness(rng)
    log = simulate_pbm(100_000, TRUE_THETA, attractiveness, rng, randomized=False, ranker_noise=0.1)
    shown_gamma = attractiveness.ravel()[log.query_doc_ids]
    assert shown_gamma[log.positions == 1].mean() > shown_gamma[log.positions == POSITIONS].mean() + 0.1
    assert np.array_equal(np.bincount(log.positions)[1:], np.full(POSITIONS, 10_000))


def test_prior_keeps_thin_estimates_near_the_default_shape() -> None:
    rng = np.random.default_rng(14)
    log = simulate_pbm(200, default_theta(POSITIONS, eta=2.0), _attractiveness(rng), rng)
    shrunk = from_randomized(log.positions, log.clicks, prior_strength=1000, max_position=POSITIONS)
    raw = from_randomized(log.positions, log.clicks, prior_strength=0, max_position=POSITIONS)
    assert np.max(np.abs(shrunk - TRUE_THETA)) < 0.05
    assert np.max(np.abs(raw - TRUE_THETA)) > 0.1
    no_clicks = from_randomized([1, 2, 3], [0, 0, 0], max_position=5)
    np.testing.assert_array_equal(no_clicks, default_theta(5))


def test_streaming_estimator_without_decay_equals_the_one_shot_estimate() -> None:
    rng = np.random.default_rng(15)
    log = simulate_pbm(100_000, TRUE_THETA, _attractiveness(rng), rng)
    estimator = RandomizedEstimator(POSITIONS)
    np.testing.assert_array_equal(estimator.theta(), TRUE_THETA)  # the prior's shape before data
    for positions, clicks in zip(np.array_split(log.positions, 7), np.array_split(log.clicks, 7), strict=True):
        estimator.update(positions, clicks)
    np.testing.assert_allclose(estimator.theta(), from_randomized(log.positions, log.clicks, max_position=POSITIONS))
    assert estimator.impressions_seen == 100_000


def test_decay_follows_a_change_of_position_bias() -> None:
    rng = np.random.default_rng(16)
    attractiveness = _attractiveness(rng)
    steep = default_theta(POSITIONS, eta=2.0)
    forgetting = RandomizedEstimator(POSITIONS, decay=0.7)
    remembering = RandomizedEstimator(POSITIONS, decay=1.0)
    for theta in (TRUE_THETA, steep):
        for _ in range(15):
            log = simulate_pbm(50_000, theta, attractiveness, rng)
            forgetting.update(log.positions, log.clicks)
            remembering.update(log.positions, log.clicks)
    assert np.max(np.abs(forgetting.theta() - steep)) < 0.03
    assert np.max(np.abs(remembering.theta() - steep)) > 0.1
    # 30 batches of 5,000 impressions per position, each batch decayed by 0.7 per later update.
    np.testing.assert_allclose(forgetting.impressions, 5_000 * (1 - 0.7**30) / (1 - 0.7))
    np.testing.assert_allclose(remembering.impressions, 30 * 5_000)


def test_bootstrap_band_brackets_the_estimate_and_mostly_the_truth() -> None:
    rng = np.random.default_rng(17)
    log = simulate_pbm(200_000, TRUE_THETA, _attractiveness(rng), rng)
    estimate = from_randomized(log.positions, log.clicks, max_position=POSITIONS)
    draws = bootstrap_randomized(log.positions, log.clicks, log.list_ids, POSITIONS, 200, rng)
    low, high = np.quantile(draws, [0.05, 0.95], axis=0)
    assert draws.shape == (200, POSITIONS)
    assert np.all(low[1:] < estimate[1:]) and np.all(estimate[1:] < high[1:]) and np.all(high - low < 0.05)
    assert np.mean((low <= TRUE_THETA) & (high >= TRUE_THETA)) >= 0.7


def test_ips_weights_invert_theta_and_are_cut() -> None:
    theta = [1.0, 0.5, 0.25, 0.05]
    weights = ips_weights([1, 2, 3, 4, 9], theta, max_weight=10.0)
    np.testing.assert_array_equal(weights, [1.0, 2.0, 4.0, 10.0, 10.0])  # 1/0.05 = 20 is cut; 9 uses θ_4
    with pytest.raises(ValueError, match="1-based"):
        ips_weights([0, 1], theta, max_weight=10.0)
    with pytest.raises(ValueError, match="max_weight"):
        ips_weights([1], theta, max_weight=0.5)


def test_propensity_table_round_trips_and_weights_like_ips_weights(tmp_path: Path) -> None:
    when = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    table = PropensityTable.create(default_theta(20), "randomized", impressions=5000, max_weight=8.0, created_at=when)
    assert table.version.startswith("randomized-20261127T120000Z-")
    positions = np.arange(1, 26)
    np.testing.assert_array_equal(table.weights(positions), ips_weights(positions, table.theta, 8.0))
    assert table.weights(positions).max() == 8.0

    table.save(tmp_path / "new-folder" / "propensity.json")
    assert PropensityTable.load(tmp_path / "new-folder" / "propensity.json") == table
    assert PropensityTable.from_json(table.to_json()).to_record() == table.to_record()

    same = PropensityTable.create(default_theta(20), "randomized", impressions=1, max_weight=8.0)
    other = PropensityTable.create(default_theta(20, eta=0.5), "randomized", impressions=1, max_weight=8.0)
    assert same.version.rsplit("-", 1)[1] == table.version.rsplit("-", 1)[1] != other.version.rsplit("-", 1)[1]


def test_propensity_table_refuses_what_would_give_bad_weights(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="> 0"):
        PropensityTable.create([1.0, 0.0], "em", impressions=1)
    with pytest.raises(ValueError, match="max_weight"):
        PropensityTable.create([1.0, 0.5], "em", impressions=1, max_weight=0.9)
    with pytest.raises(ValueError, match="lacks"):
        PropensityTable.from_record({"theta": [1.0]})
    with pytest.raises(FileNotFoundError, match="rankfeed propensity"):
        PropensityTable.load(tmp_path / "missing.json")


def test_a_published_record_becomes_a_table_that_keeps_its_version(tmp_path: Path) -> None:
    when = datetime(2026, 11, 27, 13, 59, 59, 999000, tzinfo=UTC)
    theta = [1.0, 0.5, 0.3333333333333333, 0.25]
    record = {
        "method": "randomized",
        "version": stream_version("randomized", when, theta, 10.0),
        "estimated_at": when,
        "theta": theta,
        "lower": [1.0, 0.45, 0.3, 0.2],
        "upper": [1.0, 0.55, 0.37, 0.3],
        "impressions": [1000.5, 1000.0, 999.0, 998.0],
        "clicks": [300.0, 150.0, 100.0, 75.0],
        "max_weight": 10.0,
    }
    # Through the wire format the job writes, as `rankfeed propensity --from-topic` reads it.
    decoded = avro.decode(avro.encode(record, schemas.POSITION_PROPENSITIES), schemas.POSITION_PROPENSITIES)
    table = PropensityTable.from_published(decoded)
    assert table.version == record["version"]
    assert table.version.startswith("randomized-20261127T135959Z-") and len(table.version.rsplit("-", 1)[1]) == 12
    assert (table.theta, table.method, table.max_weight, table.impressions) == (tuple(theta), "randomized", 10.0, 3997)
    assert table.created_at == when
    table.save(tmp_path / "propensity.json")
    assert PropensityTable.load(tmp_path / "propensity.json") == table
    # The hash covers θ and the cut, not the time: equal content, equal hash.
    later = stream_version("randomized", when.replace(hour=15), theta, 10.0)
    assert later.rsplit("-", 1)[1] == table.version.rsplit("-", 1)[1]
    assert stream_version("randomized", when, theta, 8.0).rsplit("-", 1)[1] != table.version.rsplit("-", 1)[1]
    with pytest.raises(ValueError, match="randomized or em"):
        PropensityTable.from_published({**decoded, "method": "default"})


def test_stream_settings_default_to_the_offline_constants() -> None:
    settings = JobSettings()
    assert settings.propensity_prior_strength == DEFAULT_PRIOR_STRENGTH
    assert settings.propensity_max_weight == DEFAULT_MAX_WEIGHT
    assert settings.position_bias_eta == DEFAULT_ETA
